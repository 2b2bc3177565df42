#include "nest/io/presets.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "nest/core/error.hpp"

namespace fs = std::filesystem;

namespace nest {

namespace {

const char* subdir(PresetKind kind) {
  switch (kind) {
    case PresetKind::Model:
      return "models";
    case PresetKind::Gpu:
      return "gpus";
    case PresetKind::Cluster:
      return "clusters";
    case PresetKind::Topology:
      return "topologies";
  }
  return "";
}

}  // namespace

const char* preset_kind_name(PresetKind kind) {
  switch (kind) {
    case PresetKind::Model:
      return "model";
    case PresetKind::Gpu:
      return "GPU";
    case PresetKind::Cluster:
      return "cluster";
    case PresetKind::Topology:
      return "topology";
  }
  return "";
}

std::string presets_dir() {
  if (const char* env = std::getenv("NEST_PRESETS_DIR"); env && *env) return env;
#ifdef NEST_SOURCE_PRESETS_DIR
  if (fs::is_directory(NEST_SOURCE_PRESETS_DIR)) return NEST_SOURCE_PRESETS_DIR;
#endif
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "nest" / "presets";
    if (fs::is_directory(installed)) return installed.string();
  }
  throw_runtime("cannot find the presets folder; set NEST_PRESETS_DIR");
}

std::vector<std::string> list_presets(PresetKind kind) {
  std::vector<std::string> names;
  const fs::path dir = fs::path(presets_dir()) / subdir(kind);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string resolve_preset(PresetKind kind, const std::string& spec) {
  if (spec.empty()) throw_bad_input(std::string("--") + (kind == PresetKind::Gpu ? "gpu" : preset_kind_name(kind)), "empty name");
  // "topology:NAME" names a topology preset where a cluster is expected, for the names both
  // folders hold (gb200-nvl72).
  static const std::string kTopologyPrefix = "topology:";
  if (kind == PresetKind::Cluster && spec.starts_with(kTopologyPrefix))
    return resolve_preset(PresetKind::Topology, spec.substr(kTopologyPrefix.size()));
  std::error_code ec;
  if (fs::is_regular_file(spec, ec)) return spec;
  if (fs::is_directory(spec, ec)) throw_bad_input(spec, "is a directory, not a JSON file");
  const bool looks_like_path = spec.find('/') != std::string::npos || spec.ends_with(".json");
  if (looks_like_path) throw_bad_input(spec, "no such file");
  const fs::path p = fs::path(presets_dir()) / subdir(kind) / (spec + ".json");
  if (fs::is_regular_file(p, ec)) return p.string();
  // A cluster may be given as a topology (docs/inputs.md §8): cluster presets first, then topologies.
  if (kind == PresetKind::Cluster) {
    const fs::path t = fs::path(presets_dir()) / subdir(PresetKind::Topology) / (spec + ".json");
    if (fs::is_regular_file(t, ec)) return t.string();
  }
  std::string known;
  for (const auto& n : list_presets(kind)) known += (known.empty() ? "" : ", ") + n;
  if (kind == PresetKind::Cluster) {
    known += "; topologies: ";
    bool first = true;
    for (const auto& n : list_presets(PresetKind::Topology)) {
      known += (first ? "" : ", ") + n;
      first = false;
    }
  }
  throw_bad_input(spec, std::string("unknown ") + preset_kind_name(kind) + " preset and no such file (presets: " + known + ")");
}

}  // namespace nest
