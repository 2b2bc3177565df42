// A planning problem: what is trained (model, sequence length, global batch), where (cluster,
// GPU count) and with which framework settings.
#pragma once

#include <cstdint>
#include <string>

#include "nest/hardware/cluster.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

struct TrainingOptions {
  kernels::TrainingSettings settings;
  bool overlap_grad_reduce = true;   // Megatron --overlap-grad-reduce
  bool overlap_param_gather = true;  // Megatron --overlap-param-gather
  // CUDA context, cuBLAS workspaces, NCCL buffers and allocator slack per GPU
  // (docs/cost-model.md §5).
  double framework_overhead_bytes = 2e9;
};

struct Problem {
  ModelConfig model;
  Cluster cluster;
  std::int64_t gpus = 0;
  std::int64_t global_batch = 0;
  std::int64_t seq_len = 0;
  TrainingOptions options;
  std::string profile;  // the profile whose measurements replaced the cluster's and GPU's figures
};

}  // namespace nest
