// What the network costs a plan (`--explain-network` on evaluate and plan): for each group that
// communicates, the outermost network level it spans, the bytes each GPU moves and the time the
// step waits for it; the busiest level; and what each level twice as fast would buy, by
// evaluating the plan again on that cluster (docs/visuals.md §4.1).
#pragma once

#include <string>
#include <vector>

#include "nest/cost/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct NetworkGroupCost {
  std::string group;         // TP, CP, EP, DP, PP
  long size = 0;             // members (PP: stages)
  std::string level;         // the outermost level its members span
  double bytes_per_gpu = 0;  // per step, averaged over the pipeline stages' GPUs
  double exposed_s = 0;      // per step: what the step waits for (Prediction::breakdown)
};

struct LevelSpeedup {
  std::string level;
  double step_time_s = 0;  // the plan's step with this level's bandwidths doubled
};

struct NetworkExplanation {
  double step_time_s = 0;
  std::vector<NetworkGroupCost> groups;  // the groups with more than one member
  std::string busiest_level;             // the level whose groups' exposed time is largest ("" if none waits)
  std::vector<LevelSpeedup> twice_as_fast;
};

NetworkExplanation explain_network(const Problem& problem, const Plan& plan, const Prediction& pr);
std::string network_text(const NetworkExplanation& n);
Json network_json(const NetworkExplanation& n);

}  // namespace nest
