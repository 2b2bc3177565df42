// What the network costs a plan (`--explain-network` on evaluate and plan): for each group that
// communicates, the outermost network level it spans, the bytes each GPU moves and the time the
// step waits for it (on a topology also the physical link its groups load most); the busiest
// level; and what each level twice as fast would buy, by evaluating the plan again on that
// cluster (docs/visuals.md §4.1).
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/group_embedding.hpp"
#include "nest/io/json.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct NetworkGroupCost {
  std::string group;         // TP, CP, EP, DP, PP
  long size = 0;             // members (PP: stages)
  std::string level;         // the outermost level its members span
  double bytes_per_gpu = 0;  // per step, averaged over the pipeline stages' GPUs
  double exposed_s = 0;      // per step: what the step waits for (Prediction::breakdown)
  // On a topology: the link of the graph its groups load most, all of them at once on the plan's
  // physical GPUs (hardware/group_embedding.hpp), over its capacity ("" on a hierarchy, or where
  // the groups are not uniform on the graph).
  LinkLoad busiest;
  // On a topology, groups of this kind that are not uniform on the graph (a rank map's uneven
  // groups): priced by their busiest domain (docs/cost-model.md §5), their links not traced.
  bool uneven = false;
};

struct LevelSpeedup {
  std::string level;
  double step_time_s = 0;  // the plan's step with this level's bandwidths doubled
};

struct NetworkExplanation {
  double step_time_s = 0;
  std::vector<NetworkGroupCost> groups;  // the groups with more than one member
  std::string busiest_level;             // the level whose groups' exposed time is largest ("" if none waits)
  // On a topology: the link every group above loads most when all run at once, level by level
  // (a data-parallel sync while pipeline sends cross the same uplinks), which the level figures
  // leave out.
  LinkLoad busiest_all_at_once;
  std::vector<LevelSpeedup> twice_as_fast;
};

// `gpu_of_rank`: the physical GPU of each rank when a rank map placed them (pr.placement is then
// its placement, and the what-ifs keep it); null: the rank order's (Topology::job_gpus).
NetworkExplanation explain_network(const Problem& problem, const Plan& plan, const Prediction& pr,
                                   const std::vector<std::int64_t>* gpu_of_rank = nullptr);
std::string network_text(const NetworkExplanation& n);
Json network_json(const NetworkExplanation& n);

// What the plan's placement costs (`--explain-placement` on evaluate): the same parallelism,
// split and switches evaluated under every rank order the framework runs (the placement of each
// group on the network levels follows from the order), the plan's own against the best and the
// worst. Orders that give the same groups and boundary levels give the same time and are listed
// once, by their first order.
struct OrderCost {
  std::string order;
  double step_time = 0;
};
struct PlacementComparison {
  std::string plan_order;
  double plan_step_time = 0;
  std::vector<OrderCost> orders;  // feasible ones, fastest first (ties in all_rank_orders' order)
  int infeasible = 0;             // orders the framework refuses or under which a GPU overflows
};
PlacementComparison compare_rank_orders(const Problem& problem, const Plan& plan, const Prediction& pr);
std::string placement_text(const PlacementComparison& c);
Json placement_json(const PlacementComparison& c);

}  // namespace nest
