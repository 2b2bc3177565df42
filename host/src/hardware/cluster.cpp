#include "nest/hardware/cluster.hpp"

#include <filesystem>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"

namespace nest {

namespace {

std::string stem_of(const std::string& spec, const std::string& path) {
  return path == spec ? std::filesystem::path(spec).stem().string() : spec;
}

GpuSpec gpu_from_object(const JsonObject& o, const std::string& name) {
  GpuSpec g;
  g.name = o.string_or("name", name);
  g.source = o.source();
  g.memory_bytes = o.positive_number("memory_GB") * kGB;
  g.peak_bf16_flops = o.positive_number("peak_bf16_TFLOPs") * kTera;
  g.peak_fp8_flops = o.has("peak_fp8_TFLOPs") ? o.non_negative_number("peak_fp8_TFLOPs") * kTera : 0;
  g.hbm_bandwidth = o.positive_number("hbm_GBps") * kGB;
  if (o.has("efficiency")) {
    const JsonObject e = o.object("efficiency");
    g.gemm_efficiency = e.number_in("gemm", 1e-3, 1);
    g.gemm_half_dim = e.non_negative_number("gemm_half_dim");
    g.attention_efficiency = e.number_in("attention", 1e-3, 1);
    g.memory_efficiency = e.number_in("memory", 1e-3, 1);
    g.efficiency_source = e.string_or("source", "");
  }
  return g;
}

}  // namespace

kernels::GpuModel GpuSpec::compute_model() const {
  kernels::GpuModel m;
  m.peak_flops = peak_bf16_flops;
  m.hbm_bandwidth = hbm_bandwidth;
  m.gemm_efficiency = gemm_efficiency;
  m.gemm_half_dim = gemm_half_dim;
  m.attention_efficiency = attention_efficiency;
  m.memory_efficiency = memory_efficiency;
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

Cluster read_cluster(const std::string& path, const std::string& name) {
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  Cluster c;
  c.name = o.string_or("name", name);
  c.source = path;
  if (!o.has("gpu")) o.fail("gpu", "missing (a GPU preset name or an object)");
  if (o.raw().at("gpu").is_string()) {
    c.gpu = load_gpu(o.string("gpu"));
  } else {
    c.gpu = gpu_from_object(o.object("gpu"), c.name + "-gpu");
  }
  c.memory_bytes = o.has("memory_GB") ? o.positive_number("memory_GB") * kGB : c.gpu.memory_bytes;
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
      nl.size = l.positive_integer("size");
    } else {
      nl.size = 0;
    }
    nl.bandwidth = l.positive_number("bandwidth_GBps") * kGB;
    nl.latency = l.non_negative_number("latency_s");
    nl.p2p_bandwidth = l.has("p2p_bandwidth_GBps") ? l.positive_number("p2p_bandwidth_GBps") * kGB : 0;
    c.levels.push_back(nl);
  }
  return c;
}

Cluster load_cluster(const std::string& spec) {
  const std::string path = resolve_preset(PresetKind::Cluster, spec);
  return read_cluster(path, stem_of(spec, path));
}

std::vector<std::int64_t> Cluster::domain_sizes(std::int64_t gpus) const {
  if (gpus <= 0) throw_bad_input("--gpus", "must be a positive integer");
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

void apply_cost_model(const Json& cost_model, const std::string& source, Cluster& cluster) {
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
    for (std::size_t l = lo; l < hi && l < cluster.levels.size(); ++l) {
      cluster.levels[l].bandwidth = pl.positive_number("bandwidth_GBps") * kGB;
      cluster.levels[l].latency = pl.non_negative_number("latency_s");
      cluster.levels[l].p2p_bandwidth = pl.has("p2p_bandwidth_GBps") ? pl.positive_number("p2p_bandwidth_GBps") * kGB : 0;
    }
  }
  if (cm.has("gpu")) {
    const JsonObject g = cm.object("gpu");
    GpuSpec& gpu = cluster.gpu;
    gpu.peak_bf16_flops = g.positive_number("peak_bf16_TFLOPs") * kTera;
    gpu.hbm_bandwidth = g.positive_number("hbm_GBps") * kGB;
    gpu.gemm_efficiency = g.number_in("gemm_efficiency", 1e-3, 1);
    gpu.gemm_half_dim = g.non_negative_number("gemm_half_dim");
    gpu.memory_efficiency = g.number_in("memory_efficiency", 1e-3, 1);
    if (g.has("attention_efficiency")) gpu.attention_efficiency = g.number_in("attention_efficiency", 1e-3, 1);
    gpu.efficiency_source = "measured: " + source;
  }
  cluster.name += "+profile";
}

kernels::Network Cluster::network() const {
  kernels::Network n;
  n.num_levels = static_cast<int>(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) {
    n.level[l].bandwidth = levels[l].bandwidth;
    n.level[l].latency = levels[l].latency;
    n.level[l].p2p_bandwidth = levels[l].p2p_bandwidth;
  }
  return n;
}

}  // namespace nest
