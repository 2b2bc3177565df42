// Human-readable tables for a terminal.
#pragma once

#include <string>

#include "nest/cost/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

std::string describe_parallelism(const Parallelism& p);
std::string format_duration(double seconds);
std::string format_prediction(const Problem& problem, const Plan& plan, const Prediction& pr);

}  // namespace nest
