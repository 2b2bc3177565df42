// The report of `nest plan`: the plan, why it wins, the alternatives, the search statistics.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/search/planner.hpp"

namespace nest {

struct PlanComparison {
  std::string text;  // one paragraph: what the winner saves against the runner-up
};

// The parts of a step's critical path (breakdown_s) and of a GPU's memory, in the order and with
// the names every report uses (the text, nest compare, the figures).
std::vector<std::pair<const char*, double>> breakdown_parts(const Breakdown& b);
std::vector<std::pair<const char*, double>> memory_parts(const MemoryBreakdown& m);

// Components (breakdown) where `a` and `b` differ most, as a sentence.
std::string explain_difference(const Prediction& a, const Prediction& b);
// The bottleneck of a plan: its largest time component and its tightest memory.
std::string explain_bottleneck(const Prediction& p, double capacity);
Json search_stats_json(const SearchStats& s);

}  // namespace nest
