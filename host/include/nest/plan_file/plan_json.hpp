// The plan file (schema "nest.plan/1", see DESIGN.md's interface contract and docs/plan-schema.md):
// written by `nest plan` and `nest evaluate --json`, read by `nest evaluate --plan` and
// `nest export`.
#pragma once

#include <optional>
#include <string>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

inline constexpr const char* kPlanSchema = "nest.plan/1";

// What a plan file names besides the plan: enough to rebuild the problem.
struct PlanFile {
  std::string model_spec, cluster_spec, profile_spec;
  Outages outages;
  std::int64_t gpus = 0, global_batch = 0, seq_len = 0;
  TrainingOptions options;
  Plan plan;
};

Json plan_to_json(const Problem& problem, const std::string& model_spec, const std::string& cluster_spec, const Plan& plan,
                  const Prediction& prediction);
Json options_to_json(const TrainingOptions& o);
// The outages of a plan's problem as the plan file's `unavailable_nodes`, `unavailable_gpus`,
// `lost_switch` and `gpu_power_limit_W` (each written only when set).
void write_outages(const Outages& out, Json& j);
void options_from_json(const JsonObject& o, TrainingOptions& out);
PlanFile read_plan_file(const std::string& path);

}  // namespace nest
