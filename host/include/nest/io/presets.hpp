// Shipped presets live in presets/{models,gpus,clusters,topologies}/<name>.json. A spec given on the
// command line is a file path when such a file exists, otherwise a preset name.
#pragma once

#include <string>
#include <vector>

namespace nest {

enum class PresetKind { Model, Gpu, Cluster, Topology };

// The presets folder: $NEST_PRESETS_DIR, else the source tree's presets/ (compiled in), else
// <binary>/../share/nest/presets.
std::string presets_dir();
std::vector<std::string> list_presets(PresetKind kind);
// Returns the path of the file `spec` names; a bad input error listing the presets otherwise.
std::string resolve_preset(PresetKind kind, const std::string& spec);
const char* preset_kind_name(PresetKind kind);

}  // namespace nest
