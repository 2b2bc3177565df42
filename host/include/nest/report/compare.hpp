// nest compare: two plans side by side: what differs between them (problem, degrees, knobs,
// layer split, rank order), and where their step time and memory go differently, from the
// evaluator's breakdowns. docs/visuals.md §5.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct ComparedPlan {
  std::string name;  // how the report calls it (its file)
  const Problem* problem = nullptr;
  const Plan* plan = nullptr;
  const Prediction* prediction = nullptr;
};

// The fields that differ, as (field, A's value, B's value).
std::vector<std::tuple<std::string, std::string, std::string>> plan_differences(const ComparedPlan& a, const ComparedPlan& b);

std::string format_comparison(const ComparedPlan& a, const ComparedPlan& b);
Json comparison_json(const ComparedPlan& a, const ComparedPlan& b);

}  // namespace nest
