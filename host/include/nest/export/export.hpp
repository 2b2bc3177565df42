// The rank map of a plan (CSV): which GPU runs which tensor / context / expert / data /
// pipeline coordinate and which layers. The frameworks' launch scripts are
// Framework::launch() (nest/framework/framework.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/plan/plan_json.hpp"

namespace nest {

struct ExportInput {
  PlanFile file;
  std::int64_t gpus_per_node = 8;  // GPUs of a node of the plan's cluster
  // The physical GPU (global index) of each rank on a topology with GPUs out (Topology::job_gpus);
  // empty: rank r is GPU r.
  std::vector<std::int64_t> physical_gpus;
};

std::string export_rankmap(const ExportInput& in);

}  // namespace nest
