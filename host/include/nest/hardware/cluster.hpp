// GPUs and clusters. A GPU preset gives memory, dense peaks, HBM bandwidth and the named
// efficiency parameters of the compute model; a cluster is a GPU type plus hierarchical
// network levels (group size, per-GPU bandwidth, latency), innermost first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/kernels/transformer.hpp"

namespace nest {

struct GpuSpec {
  std::string name, source;
  double memory_bytes = 0;
  double peak_bf16_flops = 0;
  double peak_fp8_flops = 0;  // 0: no FP8 tensor cores
  double hbm_bandwidth = 0;   // bytes/s
  // Efficiency parameters (docs/cost-model.md §3, fitted in §8).
  double gemm_efficiency = 0.8;
  double gemm_half_dim = 0;
  double attention_efficiency = 0.5;
  double memory_efficiency = 0.8;
  std::string efficiency_source;

  kernels::GpuModel compute_model() const;
};

struct NetworkLevel {
  std::string name;
  std::int64_t size = 0;     // members per group at this level (GPUs at level 0); 0: all the rest
  double bandwidth = 0;      // bytes/s per GPU, one direction
  double latency = 0;        // s
  double p2p_bandwidth = 0;  // bytes/s of one send/recv stream (0: bandwidth)
};

struct Cluster {
  std::string name, source;
  GpuSpec gpu;
  double memory_bytes = 0;  // per GPU (the GPU's, or the cluster's override)
  std::vector<NetworkLevel> levels;

  // Cumulative GPUs per level-l domain for a job of `gpus` GPUs, capped at `gpus`; levels
  // above the one that holds the whole job are dropped. Bad input if the cluster is smaller.
  std::vector<std::int64_t> domain_sizes(std::int64_t gpus) const;
  kernels::Network network() const;
};

// Replaces the cluster's link bandwidths and latencies, and the GPU's peak, HBM bandwidth and
// efficiency parameters, by a profile's measured `cost_model` block (docs/profile-schema.md):
// its "node" level sets the cluster's level 0, its "network" level every level above.
void apply_cost_model(const Json& cost_model, const std::string& source, Cluster& cluster);

GpuSpec read_gpu(const std::string& path, const std::string& name);
GpuSpec load_gpu(const std::string& spec);
Cluster read_cluster(const std::string& path, const std::string& name);
Cluster load_cluster(const std::string& spec);

}  // namespace nest
