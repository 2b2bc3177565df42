// The rank map of a plan (CSV): which GPU runs which tensor / context / expert / data /
// pipeline coordinate and which layers. The frameworks' launch scripts are
// Framework::launch() (nest/framework/framework.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/plan_file/plan_json.hpp"

namespace nest {

struct ExportInput {
  PlanFile file;
  std::int64_t gpus_per_node = 8;  // GPUs of a node of the plan's cluster
  // The physical GPU (global index) of each rank on a topology with GPUs out (Topology::job_gpus);
  // empty: rank r is GPU r.
  std::vector<std::int64_t> physical_gpus;
};

std::string export_rankmap(const ExportInput& in);

// A rank map CSV as export_rankmap writes it (docs/frameworks.md §6.4; only global_rank, node and
// local_gpu are read): the global GPU index (node x gpus_per_node + local_gpu) of each of the
// `ranks` ranks. Bad input naming the file and line for a missing, repeated or out-of-range rank,
// a GPU given twice, or a malformed row.
std::vector<std::int64_t> read_rank_map(const std::string& path, std::int64_t ranks, std::int64_t gpus_per_node);

}  // namespace nest
