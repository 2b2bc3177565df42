// The rank map of a plan (CSV): which GPU runs which tensor / context / expert / data /
// pipeline coordinate and which layers. The frameworks' launch scripts are
// Framework::launch() (nest/framework/framework.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "nest/plan/plan_json.hpp"

namespace nest {

struct ExportInput {
  PlanFile file;
  std::int64_t gpus_per_node = 8;  // level-0 domain size of the plan's cluster
};

std::string export_rankmap(const ExportInput& in);

}  // namespace nest
