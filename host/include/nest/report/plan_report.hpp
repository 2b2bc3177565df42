// The report of `nest plan`: the plan, why it wins, the alternatives, the search statistics.
#pragma once

#include <string>

#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/search/planner.hpp"

namespace nest {

struct PlanComparison {
  std::string text;  // one paragraph: what the winner saves against the runner-up
};

// Components (breakdown) where `a` and `b` differ most, as a sentence.
std::string explain_difference(const Prediction& a, const Prediction& b);
// The bottleneck of a plan: its largest time component and its tightest memory.
std::string explain_bottleneck(const Prediction& p, double capacity);
Json search_stats_json(const SearchStats& s);

}  // namespace nest
