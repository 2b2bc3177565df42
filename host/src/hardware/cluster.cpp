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

kernels::Network Cluster::network() const {
  kernels::Network n;
  n.num_levels = static_cast<int>(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) {
    n.level[l].bandwidth = levels[l].bandwidth;
    n.level[l].latency = levels[l].latency;
  }
  return n;
}

}  // namespace nest
