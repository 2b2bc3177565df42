// The figures of a plan (and of two plans, and of a sweep), as SVG documents: the step's
// pipeline schedule, where the step time goes, each stage's time per microbatch, each stage's
// memory per GPU against the device's capacity; two plans side by side; a Pareto front.
// Every number drawn is the evaluator's (PlanPieces, StepSchedule). docs/visuals.md §2.
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/report/trace.hpp"

namespace nest {

// Panels, each a standalone SVG document.
std::string schedule_svg(const Problem& problem, const PlanPieces& pieces, const StepSchedule& schedule);
std::string breakdown_svg(const Problem& problem, const Prediction& prediction);
std::string stage_time_svg(const Problem& problem, const PlanPieces& pieces);
std::string memory_svg(const Problem& problem, const Prediction& prediction);

// All four panels in one SVG (nest plan / evaluate --svg).
std::string plan_svg(const Problem& problem, const PlanPieces& pieces, const StepSchedule& schedule);

// Two plans side by side (nest compare --svg): their step breakdowns on one scale and their
// stages' memory per GPU. `names` label A and B.
std::string compare_svg(const Problem& problem_a, const Prediction& a, const Problem& problem_b, const Prediction& b,
                        const std::string& name_a, const std::string& name_b);

// A Pareto front (nest sweep will draw its points with it): every point, the non-dominated ones
// joined and labelled.
struct ParetoPoint {
  double x = 0, y = 0;
  std::string label;
};
struct ParetoChart {
  std::string title, x_label, y_label;
  bool minimize_x = true, minimize_y = true;  // which way is better on each axis
  bool log_x = false, log_y = false;
  std::vector<ParetoPoint> points;
};
// Indices of the non-dominated points, sorted by x.
std::vector<std::size_t> pareto_front(const std::vector<ParetoPoint>& points, bool minimize_x, bool minimize_y);
std::string pareto_svg(const ParetoChart& chart);

}  // namespace nest
