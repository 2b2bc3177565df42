// nest plan --explain: why each dimension of the best plan has its value. For every dimension
// (tp, pp, cp, ep, dp, the HSDP shard group, microbatch, ZeRO stage, recomputation, schedule and virtual stages,
// sequence parallelism, precision, the overlap and offload switches, the rank order) the exact
// search runs again on the same space restricted to every other value of that dimension (all
// other dimensions free), and reports the best plan it finds and what it loses, or that no
// other value fits or exists. docs/visuals.md §4.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/search/planner.hpp"

namespace nest {

struct DimensionExplanation {
  std::string dimension;  // "tp", "schedule", "rank order", ...
  std::string value;      // the winner's value
  enum class Outcome { Loses, NothingFits, NoOtherValue } outcome = Outcome::NoOtherValue;
  Plan plan;  // Loses: the best plan with another value
  Prediction prediction;
  std::string other_value;  // Loses: its value of the dimension
  double loss = 0;          // Loses: its step time / the winner's - 1
  std::string closest;      // NothingFits: the closest plan and what it lacks, when known
  long long slices = 0;     // slices of the restricted space
  double seconds = 0;       // the restricted search's time
};

// `options` is the search that found `winner` (its space and method); progress(k, n, dimension)
// is called before each restricted search.
std::vector<DimensionExplanation> explain_plan(const CostSource& source, const PlannerOptions& options, const Plan& winner,
                                               const Prediction& winner_prediction,
                                               const std::function<void(int, int, const std::string&)>& progress = {});

std::string format_explanation(const std::vector<DimensionExplanation>& dims, const Prediction& winner);
Json explanation_json(const std::vector<DimensionExplanation>& dims);

}  // namespace nest
