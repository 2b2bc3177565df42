// Hand-off of a plan to the training framework: Megatron-LM (megatron-core) arguments, the
// torchtitan TOML parallelism sections, and a rank map (CSV) of which GPU runs what.
#pragma once

#include <cstdint>
#include <string>

#include "nest/plan/plan_json.hpp"

namespace nest {

struct ExportInput {
  PlanFile file;
  std::int64_t gpus_per_node = 8;  // level-0 domain size of the plan's cluster
};

std::string export_megatron(const ExportInput& in);
std::string export_torchtitan(const ExportInput& in);
std::string export_rankmap(const ExportInput& in);

// Megatron-Core's --pipeline-model-parallel-layout string for a split: virtual stages in
// model order separated by '|', 'E' the embedding, 't' a transformer layer, 'L' the loss head.
std::string megatron_pipeline_layout(const Plan& plan);

}  // namespace nest
