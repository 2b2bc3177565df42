// Human-readable tables for a terminal.
#pragma once

#include <string>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

std::string format_prediction(const Problem& problem, const Plan& plan, const Prediction& pr);

}  // namespace nest
