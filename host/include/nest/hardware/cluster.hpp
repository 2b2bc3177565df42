// GPUs and clusters. A GPU preset gives memory, dense peaks, HBM bandwidth and the named
// efficiency parameters of the compute model; a cluster is a GPU type plus hierarchical
// network levels (group size, per-GPU bandwidth, latency), innermost first.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/kernels/transformer.hpp"

namespace nest {

// Which fused attention kernel a run's software calls (docs/cost-model.md §3.2). Auto: the
// framework's (Framework::attention_kernel).
enum class AttentionKernel : int { Fused = 0, Flash2 = 1, Auto = 2 };
const char* to_string(AttentionKernel k);
AttentionKernel parse_attention_kernel(const std::string& s, const std::string& where);

// The operator model's measured parameters for one GPU (docs/cost-model.md §3): a GEMM curve
// per number format, the fused attention kernels, elementwise bandwidth, launch overhead.
struct GpuOperators {
  struct Curve {
    double eta_max = 0.8, half_dim = 128;
  };
  // One fused attention kernel: efficiencies at long key spans, the spans at which half of them
  // is reached, the factors a causal mask costs (docs/cost-model.md §3.2).
  struct Attention {
    std::string kernel = "flash-attention";
    double fwd = 0.5, bwd = 0.4, half_span = 0, half_span_bwd = 0;
    double causal_fwd = 1, causal_bwd = 1;
    std::string source;
  };
  Curve gemm[4];  // by kernels::Precision
  std::string gemm_source;
  // By AttentionKernel: the GPU's best fused kernel (cuDNN / FlashAttention-3 / -4, what
  // Transformer Engine and PyTorch >= 2.9 run) and FlashAttention-2 (PyTorch <= 2.8's SDPA, the
  // flash-attn 2 package); a preset without a separate FlashAttention-2 measurement gives one.
  Attention attention[2];
  double memory_efficiency = 0.8;
  std::string memory_source;
  double kernel_launch = 0;  // s
  std::string kernel_launch_source;
};

struct GpuSpec {
  std::string name, source;
  std::string generation;                  // "ampere", "hopper", "blackwell", "cdna3", ... (one fitted constant each)
  double memory_bytes = 0;                 // what the device reports (nvidia-smi / rocm-smi total)
  double peak_flops[4] = {};               // dense FLOP/s by kernels::Precision; 0: no tensor cores for it
  double hbm_bandwidth = 0;                // bytes/s (datasheet)
  double host_link_bandwidth = 0;          // bytes/s per direction to host memory (PCIe, NVLink-C2C); 0: unknown
  int sm_count = 0;                        // streaming multiprocessors (compute units): what a communication kernel shares
  std::vector<std::string> kernel_labels;  // names of this GPU in presets/calibration/kernel-benchmarks.csv
  GpuOperators ops;
  double sustained = 1;  // the generation's end-to-end fraction (presets/calibration/generations.json)
  std::string sustained_source;
  // Board power (W) at which the operator figures above hold (the datasheet TDP the kernels were
  // measured at; 0: not stated) and the cap the part runs under (0: that TDP).
  double tdp_watts = 0;
  double power_limit_watts = 0;
  std::string tdp_source;

  double peak_bf16_flops() const { return peak_flops[0]; }
  // Tensor-core throughput under the power cap as a fraction of that at the TDP (1 without a
  // cap below it): docs/cost-model.md §3.6. Scales the GEMM and attention peaks, not HBM.
  double compute_power_fraction() const;
  bool supports(kernels::Precision p) const { return peak_flops[static_cast<int>(p)] > 0; }
  // The operator model for a run whose blocks' linear layers use `precision` (it must be supported).
  kernels::GpuModel compute_model(kernels::Precision precision = kernels::Precision::Bf16,
                                  AttentionKernel attention = AttentionKernel::Fused) const;
};

struct NetworkLevel {
  std::string name;
  std::int64_t size = 0;          // members per group at this level (GPUs at level 0); 0: all the rest
  double bandwidth = 0;           // bytes/s per GPU, one direction
  double latency = 0;             // s
  double p2p_bandwidth = 0;       // bytes/s of one send/recv stream (0: bandwidth)
  double nvls_bandwidth = 0;      // bytes/s all-reduce bus bandwidth with NVLink SHARP inside one domain (0: none)
  double alltoall_bandwidth = 0;  // bytes/s per GPU of all-to-all traffic (0: bandwidth)
  // bytes/s of one GPU's rail at this level while the other GPUs of its node leave the level idle
  // (0: bandwidth, which is each GPU's share with every GPU of the node on the level, as a
  // training step runs); levels above the first only (levels_for_group_alone).
  double lone_bandwidth = 0;
  // GPUs per host (one operating system, one torchrun, what a scheduler allocates) inside a
  // level-0 domain that spans several hosts (an NVL72 rack: trays of 4); 0: the domain is one
  // host. A job may then take part of each domain, in whole hosts (docs/inputs.md §8).
  std::int64_t host_gpus = 0;
};

class Topology;

struct Cluster {
  std::string name, source;
  GpuSpec gpu;
  double memory_bytes = 0;           // per GPU (the GPU's, or the cluster's override)
  double host_memory_bandwidth = 0;  // bytes/s of host memory per GPU (CPU-side optimizer steps); 0: unknown
  std::vector<NetworkLevel> levels;
  // GPUs the cluster has (a topology's usable GPUs, nodes out excluded); 0: as many as the
  // levels hold (a hierarchy's top level is unbounded).
  std::int64_t max_gpus = 0;
  // The graph the levels were derived from, for a topology file (null for a hierarchy): where a
  // job's ranks physically are and which links its groups share (hardware/topology.hpp).
  std::shared_ptr<const Topology> topology;

  // Cumulative GPUs per level-l domain for a job of `gpus` GPUs, capped at `gpus`; levels
  // above the one that holds the whole job are dropped. Bad input if the cluster is smaller.
  std::vector<std::int64_t> domain_sizes(std::int64_t gpus) const;
  kernels::Network network() const;
};

// The cost model's network of a list of levels (Cluster::network; a group's own figures on a
// topology, hardware/group_embedding.hpp).
kernels::Network network_of(const std::vector<NetworkLevel>& levels);

// The levels as one group with `gpus_per_node` GPUs in each node sees them when it runs alone, as
// nccl-tests runs it. Above the node a level's `bandwidth` is each GPU's share with every GPU of
// the node on the level at once (g of them: the first level's size), so the node moves
// g x bandwidth; a group that uses k < g of its GPUs shares that, each GPU at most at its rail's
// lone rate: min(max(lone_bandwidth, bandwidth), bandwidth x g / k) (docs/cost-model.md §4, "A
// rail alone"; a lone rate below the level's own, as a what-if that raises the level's figure
// leaves it, counts as the level's own). Levels without a lone figure, and every level of a
// group that fills its nodes, keep theirs.
std::vector<NetworkLevel> levels_for_group_alone(const std::vector<NetworkLevel>& levels, std::int64_t gpus_per_node);

// A board power cap in watts, 1 .. limits::kMaxGpuPowerWatts (bad input at `where` otherwise).
double checked_power_limit(double watts, const std::string& where);

// Runs the GPU under a board power cap of `watts` (GpuSpec::compute_power_fraction). Bad input
// at `where` when the cap is out of range or the GPU states no tdp_W to scale from.
void set_gpu_power_limit(GpuSpec& gpu, double watts, const std::string& where);

// Replaces the cluster's link bandwidths and latencies, and the GPU's peak, HBM bandwidth and
// efficiency parameters, by a profile's measured `cost_model` block (docs/profile-schema.md):
// its "node" level sets the cluster's level 0, its "network" level every level above.
// A network level measured on fewer GPUs per host than the cluster's nodes hold sets the level's
// lone rate and caps its own figure (docs/cost-model.md §4, "A rail alone"), and says so in
// `notes`.
void apply_cost_model(const Json& cost_model, const std::string& source, Cluster& cluster,
                      std::vector<std::string>* notes = nullptr);

// A level's figures from its JSON object (bandwidth_GBps, latency_s and the optional
// p2p_/nvls_/alltoall_bandwidth_GBps): one reader for cluster levels and topology fabrics.
void read_level_figures(const JsonObject& o, NetworkLevel& level);
// A level-0 domain's `host_gpus` (NetworkLevel::host_gpus), read after its size: it must divide it.
void read_host_gpus(const JsonObject& o, NetworkLevel& level);
// A bandwidth field in GB/s (bytes/s returned), positive and at most limits::kMaxBandwidth.
double read_bandwidth_GBps(const JsonObject& o, const std::string& key);
// A latency field in seconds, 0 .. limits::kMaxLatency.
double read_latency_s(const JsonObject& o, const std::string& key);

GpuSpec read_gpu(const std::string& path, const std::string& name);
GpuSpec load_gpu(const std::string& spec);
// A field of a cluster or topology file set before the file is read (--cluster-set PATH=VALUE,
// nest sweep's cluster.PATH axes; docs/inputs.md §8), so that the file's own reader checks it.
// A field of a cluster or topology file set before it is read (--cluster-set PATH=VALUE; the
// form is io/json.hpp's JsonSetting, applied by apply_json_settings).
struct ClusterSetting : JsonSetting {
  ClusterSetting(std::string field, std::string text, std::string option = "--cluster-set")
      : JsonSetting{std::move(field), std::move(text), std::move(option)} {}
};

// "PATH=VALUE" (bad input naming `flag` otherwise).
ClusterSetting parse_cluster_setting(const std::string& text, const std::string& flag);

// What is out of a topology (docs/inputs.md §8): nodes, GPUs inside nodes (global indices), and
// one switch of the tier named `lost_switch` in that tier's first domain.
// What is out of a cluster, or held back, when it is loaded: nodes, GPUs and a switch out
// (topologies only), the board power cap every GPU runs under (any cluster), and the fields set
// in its file (any cluster).
struct Outages {
  std::vector<std::int64_t> nodes, gpus;
  std::string lost_switch;
  double gpu_power_limit = 0;              // W, --gpu-power-limit (0: the cluster's or the GPU's own)
  std::int64_t job_gpus = 0;               // the job's GPUs when known: a lost switch it does not reach costs nothing
  std::vector<ClusterSetting> settings{};  // fields of the file set before it is read
  bool empty() const { return nodes.empty() && gpus.empty() && lost_switch.empty(); }  // nothing out
};

// A cluster file or a topology file (docs/inputs.md §8), with the outages (topologies only)
// taken out before the levels are derived and the power cap applied to its GPUs.
Cluster load_cluster(const std::string& spec, const Outages& out = {});
// The cluster file at `path` under `name`, with the outages' settings and outages as load_cluster
// takes them (no power cap).
Cluster read_cluster(const std::string& path, const std::string& name, const Outages& out = {});

}  // namespace nest
