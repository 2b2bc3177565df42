#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/io/text.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

namespace {

// A positive figure in the file's unit (`scale` SI units each), at most `max_si` SI units
// (nest/core/limits.hpp): 1e30 GB of memory or a 1e300 s latency is a typo, not a machine.
double bounded_positive(const JsonObject& o, const std::string& key, double scale, double max_si) {
  const double x = o.positive_number(key);
  if (x * scale > max_si) {
    std::ostringstream ss;
    ss << "must be at most " << max_si / scale << " (got " << x << ")";
    o.fail(key, ss.str());
  }
  return x * scale;
}
double bounded_non_negative(const JsonObject& o, const std::string& key, double scale, double max_si) {
  return o.number_in(key, 0, max_si / scale) * scale;
}

std::string stem_of(const std::string& spec, const std::string& path) {
  return path == spec ? std::filesystem::path(spec).stem().string() : spec;
}

// presets/calibration/generations.json: the end-to-end sustained fraction, one per generation.
void read_generation(const JsonObject& gpu, GpuSpec& g) {
  const std::string path = presets_dir() + "/calibration/generations.json";
  const Json j = read_json_file(path);
  const JsonObject all(j, path);
  if (!all.has(g.generation)) {
    std::string known;
    for (const auto& [k, v] : j.items())
      if (v.is_object()) known += (known.empty() ? "" : ", ") + k;
    gpu.fail("generation", "'" + g.generation + "' has no fitted constant in " + path + " (known: " + known +
                               "); give \"sustained\" in the GPU description instead");
  }
  const JsonObject e = all.object(g.generation);
  g.sustained = e.number_in("sustained", 0.05, 1);
  g.sustained_source = e.string_or("source", path);
}

double memory_of(const JsonObject& o) {
  int given = 0;
  double bytes = 0;
  if (o.has("memory_MiB")) {
    bytes = bounded_positive(o, "memory_MiB", kMiB, limits::kMaxGpuMemoryBytes);
    ++given;
  }
  if (o.has("memory_GiB")) {
    bytes = bounded_positive(o, "memory_GiB", kGiB, limits::kMaxGpuMemoryBytes);
    ++given;
  }
  if (o.has("memory_GB")) {
    bytes = bounded_positive(o, "memory_GB", kGB, limits::kMaxGpuMemoryBytes);
    ++given;
  }
  if (given != 1)
    o.fail("memory_MiB", "give the device memory once: memory_MiB (what nvidia-smi reports), memory_GiB or memory_GB");
  return bytes;
}

GpuOperators::Attention attention_from_object(const JsonObject& a) {
  GpuOperators::Attention k;
  k.kernel = a.string("kernel");
  k.fwd = a.number_in("fwd", 1e-3, 1);
  k.bwd = a.number_in("bwd", 1e-3, 1);
  k.half_span = bounded_non_negative(a, "half_span", 1, limits::kMaxSeqLen);
  // The backward ramps up on its own span where it was measured apart; else the forward's.
  k.half_span_bwd = a.has("half_span_bwd") ? bounded_non_negative(a, "half_span_bwd", 1, limits::kMaxSeqLen) : k.half_span;
  k.causal_fwd = a.number_in("causal_fwd", 1e-3, 1);
  k.causal_bwd = a.number_in("causal_bwd", 1e-3, 1);
  k.source = a.string_or("source", "");
  return k;
}

GpuOperators operators_from_object(const JsonObject& o, const GpuSpec& g) {
  GpuOperators ops;
  const JsonObject gemm = o.object("gemm");
  for (int p = 0; p < kernels::kPrecisions; ++p) {
    const auto prec = static_cast<kernels::Precision>(p);
    const char* key = to_string(prec);
    if (!g.supports(prec)) {
      if (gemm.has(key)) gemm.fail(key, "given, but peak_TFLOPs has no figure for it");
      continue;
    }
    if (!gemm.has(key)) gemm.fail(key, "missing: peak_TFLOPs lists this format, so its GEMM curve is needed");
    const JsonObject c = gemm.object(key);
    ops.gemm[p].eta_max = c.number_in("eta_max", 1e-3, 1);
    ops.gemm[p].half_dim = bounded_non_negative(c, "half_dim", 1, limits::kMaxWidth);
  }
  ops.gemm_source = gemm.string_or("source", "");
  const int fused = static_cast<int>(AttentionKernel::Fused), flash2 = static_cast<int>(AttentionKernel::Flash2);
  ops.attention[fused] = attention_from_object(o.object("attention"));
  ops.attention[flash2] = o.has("attention_flash2") ? attention_from_object(o.object("attention_flash2")) : ops.attention[fused];
  const JsonObject m = o.object("memory");
  ops.memory_efficiency = m.number_in("efficiency", 1e-3, 1);
  ops.memory_source = m.string_or("source", "");
  if (o.has("kernel_launch")) {
    const JsonObject k = o.object("kernel_launch");
    ops.kernel_launch = k.number_in("us", 0, 1e3) * kMicro;
    ops.kernel_launch_source = k.string_or("source", "");
  }
  return ops;
}

GpuSpec gpu_from_object(const JsonObject& o, const std::string& name) {
  GpuSpec g;
  g.name = o.string_or("name", name);
  g.source = o.source();
  g.memory_bytes = memory_of(o);
  const JsonObject peaks = o.object("peak_TFLOPs");
  for (const auto& item : peaks.raw().items()) {
    const kernels::Precision p = parse_precision(item.key(), peaks.field_path(item.key()));
    g.peak_flops[static_cast<int>(p)] = bounded_positive(peaks, item.key(), kTera, limits::kMaxPeakFlops);
  }
  if (!g.supports(kernels::Precision::Bf16)) peaks.fail("bf16", "missing: every GPU needs its dense bf16 peak");
  g.hbm_bandwidth = bounded_positive(o, "hbm_GBps", kGB, limits::kMaxBandwidth);
  g.host_link_bandwidth = o.has("host_link_GBps") ? bounded_positive(o, "host_link_GBps", kGB, limits::kMaxBandwidth) : 0;
  g.sm_count = static_cast<int>(o.has("sm_count") ? o.integer_in("sm_count", 1, limits::kMaxWidth) : 0);
  if (o.has("kernel_labels")) {
    const Json& labels = o.raw().at("kernel_labels");
    if (!labels.is_array()) o.fail("kernel_labels", "must be an array of strings");
    for (const auto& l : labels) {
      if (!l.is_string()) o.fail("kernel_labels", "must be an array of strings");
      g.kernel_labels.push_back(l.get<std::string>());
    }
  }
  g.ops = operators_from_object(o.object("operators"), g);
  if (o.has("tdp_W")) {
    g.tdp_watts = bounded_positive(o, "tdp_W", 1, limits::kMaxGpuPowerWatts);
    g.tdp_source = o.string_or("tdp_source", "");
  }
  if (o.has("power_limit_W"))
    set_gpu_power_limit(g, bounded_positive(o, "power_limit_W", 1, limits::kMaxGpuPowerWatts), o.field_path("power_limit_W"));
  g.generation = o.string("generation");
  if (o.has("sustained")) {
    g.sustained = o.number_in("sustained", 0.05, 1);
    g.sustained_source = o.field_path("sustained");
  } else {
    read_generation(o, g);
  }
  return g;
}

}  // namespace

const char* to_string(AttentionKernel k) {
  switch (k) {
    case AttentionKernel::Fused:
      return "fused";
    case AttentionKernel::Flash2:
      return "flash2";
    case AttentionKernel::Auto:
      return "auto";
  }
  return "auto";
}

AttentionKernel parse_attention_kernel(const std::string& s, const std::string& where) {
  for (const AttentionKernel k : {AttentionKernel::Fused, AttentionKernel::Flash2, AttentionKernel::Auto})
    if (s == to_string(k)) return k;
  throw_bad_input(where, "'" + s + "' is not one of auto, fused, flash2");
}

double GpuSpec::compute_power_fraction() const {
  if (tdp_watts <= 0 || power_limit_watts <= 0 || power_limit_watts >= tdp_watts) return 1;
  return std::cbrt(power_limit_watts / tdp_watts);
}

kernels::GpuModel GpuSpec::compute_model(kernels::Precision precision, AttentionKernel attention) const {
  kernels::GpuModel m;
  const int p = static_cast<int>(precision);
  const double clock = compute_power_fraction();
  m.precision = precision;
  m.linear = {peak_flops[p] * clock, ops.gemm[p].eta_max, ops.gemm[p].half_dim};
  m.bf16 = {peak_flops[0] * clock, ops.gemm[0].eta_max, ops.gemm[0].half_dim};
  const GpuOperators::Attention& a = ops.attention[attention == AttentionKernel::Flash2 ? 1 : 0];
  m.attention_fwd = a.fwd;
  m.attention_bwd = a.bwd;
  m.attention_half_span = a.half_span;
  m.attention_half_span_bwd = a.half_span_bwd;
  m.attention_causal_fwd = a.causal_fwd;
  m.attention_causal_bwd = a.causal_bwd;
  m.hbm_bandwidth = hbm_bandwidth;
  m.memory_efficiency = ops.memory_efficiency;
  m.kernel_launch = ops.kernel_launch;
  m.sustained = sustained;
  return m;
}

GpuSpec read_gpu(const std::string& path, const std::string& name) {
  const Json j = read_json_file(path);
  return gpu_from_object(JsonObject(j, path), name);
}

GpuSpec load_gpu(const std::string& spec) {
  const std::string path = resolve_preset(PresetKind::Gpu, spec);
  return read_gpu(path, stem_of(spec, path));
}

double read_bandwidth_GBps(const JsonObject& o, const std::string& key) {
  return bounded_positive(o, key, kGB, limits::kMaxBandwidth);
}

double read_latency_s(const JsonObject& o, const std::string& key) {
  return bounded_non_negative(o, key, 1, limits::kMaxLatency);
}

void read_level_figures(const JsonObject& l, NetworkLevel& nl) {
  nl.bandwidth = read_bandwidth_GBps(l, "bandwidth_GBps");
  nl.latency = read_latency_s(l, "latency_s");
  nl.p2p_bandwidth = l.has("p2p_bandwidth_GBps") ? read_bandwidth_GBps(l, "p2p_bandwidth_GBps") : 0;
  nl.nvls_bandwidth = l.has("nvls_bandwidth_GBps") ? read_bandwidth_GBps(l, "nvls_bandwidth_GBps") : 0;
  nl.alltoall_bandwidth = l.has("alltoall_bandwidth_GBps") ? read_bandwidth_GBps(l, "alltoall_bandwidth_GBps") : 0;
}

void read_host_gpus(const JsonObject& o, NetworkLevel& level) {
  if (level.size <= 0) o.fail("host_gpus", "needs the level's own size (the domain the hosts make up)");
  level.host_gpus = o.integer_in("host_gpus", 1, level.size);
  if (level.size % level.host_gpus != 0)
    o.fail("host_gpus",
           "must divide the domain's " + std::to_string(level.size) + " GPUs (got " + std::to_string(level.host_gpus) + ")");
}

ClusterSetting parse_cluster_setting(const std::string& text, const std::string& flag) {
  const JsonSetting s = parse_json_setting(text, flag, "networks.0.tiers.spine.oversubscription=2");
  return {s.path, s.value, s.flag};
}

namespace {

// The fields a cluster file and a topology file share: name, GPU, memory override, host memory.
Cluster read_cluster_hardware(const JsonObject& o, const std::string& path, const std::string& name) {
  Cluster c;
  c.name = o.string_or("name", name);
  c.source = path;
  if (!o.has("gpu")) o.fail("gpu", "missing (a GPU preset name or an object)");
  if (o.raw().at("gpu").is_string()) {
    c.gpu = load_gpu(o.string("gpu"));
  } else {
    c.gpu = gpu_from_object(o.object("gpu"), c.name + "-gpu");
  }
  c.memory_bytes = o.has("memory_MiB") || o.has("memory_GiB") || o.has("memory_GB") ? memory_of(o) : c.gpu.memory_bytes;
  if (o.has("gpu_power_limit_W"))
    set_gpu_power_limit(c.gpu, bounded_positive(o, "gpu_power_limit_W", 1, limits::kMaxGpuPowerWatts),
                        o.field_path("gpu_power_limit_W"));
  c.host_memory_bandwidth =
      o.has("host_memory_GBps_per_gpu") ? bounded_positive(o, "host_memory_GBps_per_gpu", kGB, limits::kMaxBandwidth) : 0;
  return c;
}

Cluster read_cluster_file(const std::string& path, const std::string& name, const Outages& outages) {
  Json j = read_json_file(path);
  apply_json_settings(j, {outages.settings.begin(), outages.settings.end()}, path);
  // Errors in a set field name the settings beside the file.
  std::string where = path;
  for (std::size_t i = 0; i < outages.settings.size(); ++i) {
    const ClusterSetting& s = outages.settings[i];
    // --cluster-set P=V, --vary cluster.P=V, or a plan file's field
    where += (i ? ", " : " with ") + s.flag + (s.flag.rfind("--vary ", 0) == 0 ? "=" : " " + s.path + "=") + s.value;
  }
  const JsonObject o(j, where);
  Cluster c = read_cluster_hardware(o, path, name);
  if (!outages.lost_switch.empty() && !is_topology_json(j))
    throw_bad_input("--lost-switch", path + " is a hierarchical cluster, which states no switches; describe it as a topology");
  if (!outages.gpus.empty() && !is_topology_json(j))
    throw_bad_input("--unavailable-gpus", path +
                                              " is a hierarchical cluster, which has no GPUs to take out; write its topology "
                                              "with `nest topology --from-cluster` and plan on that");
  if (is_topology_json(j)) {
    TopologySpec spec = read_topology_spec(o);
    spec.unavailable_nodes.insert(spec.unavailable_nodes.end(), outages.nodes.begin(), outages.nodes.end());
    spec.unavailable_gpus.insert(spec.unavailable_gpus.end(), outages.gpus.begin(), outages.gpus.end());
    if (!outages.lost_switch.empty()) set_lost_switch(spec, outages.lost_switch, "--lost-switch");
    spec.job_gpus = outages.job_gpus;
    c.topology = std::make_shared<const Topology>(std::move(spec));
    apply_topology(*c.topology, c);
    return c;
  }
  if (!outages.nodes.empty())
    throw_bad_input("--unavailable-nodes",
                    path +
                        " is a hierarchical cluster, which has no nodes to take out; write its topology with "
                        "`nest topology --from-cluster` and plan on that");
  const auto levels = o.objects("levels");
  if (levels.empty()) o.fail("levels", "must list at least one network level");
  if (levels.size() > static_cast<std::size_t>(kernels::kMaxLevels))
    o.fail("levels", "at most " + std::to_string(kernels::kMaxLevels) + " levels are supported");
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const JsonObject& l = levels[i];
    NetworkLevel nl;
    nl.name = l.string_or("name", "level" + std::to_string(i));
    const bool last = i + 1 == levels.size();
    if (!last || l.has("size")) {
      nl.size = l.integer_in("size", 1, limits::kMaxGpus);
    } else {
      nl.size = 0;
    }
    read_level_figures(l, nl);
    if (l.has("lone_bandwidth_GBps")) {
      if (i == 0)
        l.fail("lone_bandwidth_GBps",
               "the first level is the node's own fabric; a rail's lone rate belongs to the levels above it");
      nl.lone_bandwidth = read_bandwidth_GBps(l, "lone_bandwidth_GBps");
    }
    if (l.has("host_gpus")) {
      if (i != 0) l.fail("host_gpus", "only the first level's domains hold hosts");
      read_host_gpus(l, nl);
    }
    c.levels.push_back(nl);
  }
  return c;
}

}  // namespace

Cluster read_cluster(const std::string& path, const std::string& name, const Outages& out) {
  return read_cluster_file(path, name, out);
}

Cluster load_cluster(const std::string& spec, const Outages& out) {
  const std::string path = resolve_preset(PresetKind::Cluster, spec);
  Cluster c = read_cluster_file(path, stem_of(spec, path), out);
  if (out.gpu_power_limit != 0) set_gpu_power_limit(c.gpu, out.gpu_power_limit, "--gpu-power-limit");
  return c;
}

std::vector<std::int64_t> Cluster::domain_sizes(std::int64_t gpus) const {
  if (gpus <= 0) throw_bad_input("--gpus", "must be a positive integer");
  if (max_gpus > 0 && gpus > max_gpus)
    throw_bad_input("--gpus", std::to_string(gpus) + " GPUs exceed the " + std::to_string(max_gpus) + " usable GPUs of " + name);
  std::vector<std::int64_t> c;
  std::int64_t below = 1;  // GPUs per domain of the level below
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const bool unbounded = levels[l].size == 0;
    if (unbounded || below * levels[l].size >= gpus) {
      c.push_back(gpus);  // a partly filled top domain is fine; placement.hpp says how it is charged
      return c;
    }
    below *= levels[l].size;
    c.push_back(below);
  }
  throw_bad_input("--gpus", std::to_string(gpus) + " GPUs exceed the " + std::to_string(below) + " GPUs of cluster " + name);
}

double checked_power_limit(double watts, const std::string& where) {
  if (!(watts > 0) || watts > limits::kMaxGpuPowerWatts)
    throw_bad_input(where, "must be a power in watts from 1 to " + std::to_string(static_cast<int>(limits::kMaxGpuPowerWatts)));
  return watts;
}

void set_gpu_power_limit(GpuSpec& gpu, double watts, const std::string& where) {
  checked_power_limit(watts, where);
  if (gpu.tdp_watts <= 0)
    throw_bad_input(where,
                    "GPU " + gpu.name +
                        " does not state its tdp_W (the power its operator figures hold at), so a power limit cannot be priced");
  gpu.power_limit_watts = watts;
}

void apply_cost_model(const Json& cost_model, const std::string& source, Cluster& cluster, std::vector<std::string>* notes) {
  const JsonObject cm(cost_model, source, "cost_model");
  const auto levels = cm.objects("levels");
  if (levels.empty() && !cm.has("gpu")) cm.fail("levels", "the profile has neither a fitted network level nor GPU figures");
  // A profile measures two kinds of group: ranks sharing a host ("node", the cluster's level 0)
  // and ranks on different hosts ("network", every level above); unmeasured levels keep the
  // cluster's figures.
  for (const JsonObject& pl : levels) {
    const std::string name = pl.string("name");
    std::size_t lo = 0, hi = 0;
    if (name == "node") {
      lo = 0;
      hi = 1;
    } else if (name == "network") {
      lo = 1;
      hi = cluster.levels.size();
    } else {
      pl.fail("name", "'" + name + "' is not node or network");
    }
    const double fitted = bounded_positive(pl, "bandwidth_GBps", kGB, limits::kMaxBandwidth);
    const double lone =
        pl.has("lone_bandwidth_GBps") ? bounded_positive(pl, "lone_bandwidth_GBps", kGB, limits::kMaxBandwidth) : 0;
    const std::int64_t per_node = pl.has("gpus_per_node") ? pl.integer_in("gpus_per_node", 1, limits::kMaxGpus) : 0;
    // The profile counts GPUs per host (by host name): an NVL72 rack's hosts are its trays.
    const NetworkLevel& first = cluster.levels.front();
    const std::int64_t node = first.host_gpus > 0 ? first.host_gpus : first.size;
    // Network groups that kept fewer of a host's GPUs on the network than the cluster's nodes
    // hold measured what those rails reach on their own (docs/cost-model.md §4, "A rail alone"),
    // not each rail's share with the whole node on it: that becomes the lone rate, and the
    // cluster's own figure stays, capped at it.
    const bool partial = name == "network" && per_node > 0 && node > 0 && per_node < node;
    if (partial && notes)
      notes->push_back(
          format_text("its network groups kept %lld of each host's %lld GPUs on the network, so its %.3g GB/s is "
                      "what those rails reach alone; the planner keeps %s's figure with every GPU of a host on the "
                      "network, capped at it (profile whole hosts to measure that)",
                      static_cast<long long>(per_node), static_cast<long long>(node), fitted / kGB, cluster.name.c_str()));
    for (std::size_t l = lo; l < hi && l < cluster.levels.size(); ++l) {
      NetworkLevel& level = cluster.levels[l];
      if (partial) {
        level.bandwidth = std::min(level.bandwidth, fitted);
        level.lone_bandwidth = std::max(fitted, lone);
      } else {
        level.bandwidth = fitted;
        // The preset's lone rail rate belongs to the preset's figure, not to the measured one.
        level.lone_bandwidth = lone;
      }
      level.latency = bounded_non_negative(pl, "latency_s", 1, limits::kMaxLatency);
      level.p2p_bandwidth =
          pl.has("p2p_bandwidth_GBps") ? bounded_positive(pl, "p2p_bandwidth_GBps", kGB, limits::kMaxBandwidth) : 0;
    }
  }
  if (cm.has("gpu")) {
    // Measured operators replace the preset's bf16 GEMM curve and elementwise bandwidth. The
    // profile states its efficiencies against its own reference peak (the best GEMM it timed,
    // or --peak-tflops); they are restated against the GPU's datasheet peak, which stays, so
    // that MFU keeps its definition (model FLOPs over the datasheet peak) with or without one.
    // Its attention figure is the unfused core's batched GEMMs (docs/profile-schema.md §2): it
    // says nothing of the fused kernels (FlashAttention, cuDNN) whose curves the GPU keeps; on an
    // H200 those ran at 1.6x it (docs/cost-model.md §3.2). The classic kernel prices its score
    // GEMMs on the bf16 curve, which the profile does set.
    const JsonObject g = cm.object("gpu");
    GpuSpec& gpu = cluster.gpu;
    const std::string measured = "measured: " + source;
    const double reference = bounded_positive(g, "peak_bf16_TFLOPs", kTera, limits::kMaxPeakFlops);
    const double datasheet = gpu.peak_bf16_flops();
    const double eta = g.number_in("gemm_efficiency", 1e-3, 1) * reference / datasheet;
    if (eta > 1)
      g.fail("peak_bf16_TFLOPs", "its GEMMs ran above the " + std::to_string(datasheet / kTera) + " TFLOP/s datasheet peak of " +
                                     gpu.name + ": a profile of another GPU?");
    gpu.hbm_bandwidth = bounded_positive(g, "hbm_GBps", kGB, limits::kMaxBandwidth);
    gpu.ops.gemm[0].eta_max = eta;
    gpu.ops.gemm[0].half_dim = bounded_non_negative(g, "gemm_half_dim", 1, limits::kMaxWidth);
    gpu.ops.memory_efficiency = g.number_in("memory_efficiency", 1e-3, 1);
    gpu.ops.gemm_source = gpu.ops.memory_source = measured;
    if (g.has("attention_efficiency")) (void)g.number_in("attention_efficiency", 1e-3, 1);  // checked, not applied
  }
  cluster.name += "+profile";
}

kernels::Network Cluster::network() const { return network_of(levels); }

kernels::Network network_of(const std::vector<NetworkLevel>& levels) {
  kernels::Network n;
  n.num_levels = static_cast<int>(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) {
    n.level[l].bandwidth = levels[l].bandwidth;
    n.level[l].latency = levels[l].latency;
    n.level[l].p2p_bandwidth = levels[l].p2p_bandwidth;
    n.level[l].nvls_bandwidth = levels[l].nvls_bandwidth;
    n.level[l].alltoall_bandwidth = levels[l].alltoall_bandwidth;
  }
  return n;
}

std::vector<NetworkLevel> levels_for_group_alone(const std::vector<NetworkLevel>& levels, std::int64_t gpus_per_node) {
  std::vector<NetworkLevel> out = levels;
  if (levels.empty() || levels.front().size <= 0 || gpus_per_node <= 0 || gpus_per_node >= levels.front().size) return out;
  const double share = static_cast<double>(levels.front().size) / static_cast<double>(gpus_per_node);
  for (std::size_t l = 1; l < out.size(); ++l)
    // A lone rate below the level's own (a what-if that raised the level's figure) is the level's own.
    if (out[l].lone_bandwidth > 0)
      out[l].bandwidth = std::min(std::max(out[l].lone_bandwidth, out[l].bandwidth), out[l].bandwidth * share);
  return out;
}

}  // namespace nest
