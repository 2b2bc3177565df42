#include "nest/export/export.hpp"

#include <sstream>
#include <unordered_set>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/evaluate/split.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

int virtual_of(const Plan& p) { return p.par.schedule == Schedule::Interleaved ? p.par.virtual_stages : 1; }

}  // namespace

std::string export_rankmap(const ExportInput& in) {
  const Plan& plan = in.file.plan;
  const Parallelism& p = plan.par;
  const int v = virtual_of(plan);
  const auto layout = layout_stages(plan.blocks_per_stage, v);
  const std::array<std::int64_t, 5> size = dense_grid_sizes(p);
  // Folded expert TP on Megatron's expert grid: a rank's expert-parallel index is taken from its
  // index among its stage's tp cp dp ranks, split innermost first as etp, ep, edp
  // (megatron/core/parallel_state.py:887-895; cost/placement.hpp).
  const bool expert_grid = p.folded() && on_expert_grid(plan.order);
  std::int64_t tp_stride = 1;
  for (Dim d : plan.order.dims) {
    if (d == Dim::TP) break;
    tp_stride *= size[static_cast<std::size_t>(d)];
  }
  std::ostringstream out;
  out << "global_rank,node,local_gpu,tp,cp,ep,dp,pp,stage_layers\n";
  for (long r = 0; r < p.gpus(); ++r) {
    const std::array<std::int64_t, 5> coord = rank_coordinates(plan.order, size, r);
    // The dense data-parallel index runs over (ep, dp) with ep the faster-moving.
    const std::int64_t dp_index =
        coord[static_cast<int>(Dim::DP)] * size[static_cast<int>(Dim::EP)] + coord[static_cast<int>(Dim::EP)];
    const std::int64_t ep_index = expert_grid ? ((r / tp_stride) % (static_cast<std::int64_t>(p.tp) * p.cp * p.dp)) / p.etp % p.ep
                                              : coord[static_cast<int>(Dim::EP)];
    const auto& stage = layout[static_cast<std::size_t>(coord[static_cast<int>(Dim::PP)])];
    std::string layers;
    for (const auto& [a, b] : stage.chunks) {
      if (!layers.empty()) layers.push_back(';');
      layers.append(std::to_string(a - 1)).append("..").append(std::to_string(b - 1));
    }
    const std::int64_t gpu = in.physical_gpus.empty() ? r : in.physical_gpus[static_cast<std::size_t>(r)];
    out << r << "," << gpu / in.gpus_per_node << "," << gpu % in.gpus_per_node << "," << coord[static_cast<int>(Dim::TP)] << ","
        << coord[static_cast<int>(Dim::CP)] << "," << ep_index << "," << dp_index << "," << coord[static_cast<int>(Dim::PP)]
        << "," << layers << "\n";
  }
  return out.str();
}

std::vector<std::int64_t> read_rank_map(const std::string& path, std::int64_t ranks, std::int64_t gpus_per_node) {
  std::istringstream in(read_text_file(path));
  std::string line;
  std::int64_t n = 0;
  auto fail = [&](const std::string& what) { throw_bad_input(path, "line " + std::to_string(n) + ": " + what); };
  if (!std::getline(in, line) || line.rfind("global_rank,node,local_gpu", 0) != 0) {
    n = 1;
    fail("the header must start global_rank,node,local_gpu (nest export --to rankmap writes it)");
  }
  n = 1;
  std::vector<std::int64_t> gpu(static_cast<std::size_t>(ranks), -1);
  std::unordered_set<std::int64_t> used;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line == "\r") continue;
    std::int64_t v[3];
    const std::vector<std::string> cells = split_csv_line(line);
    if (cells.size() < 3) fail("needs global_rank,node,local_gpu");
    for (std::size_t k = 0; k < 3; ++k) {
      const std::optional<std::int64_t> x = parse_index(cells[k]);
      if (!x) fail("'" + cells[k] + "' is not a non-negative integer");
      v[k] = *x;
    }
    if (v[0] >= ranks) fail("rank " + std::to_string(v[0]) + " is not a rank of the plan's " + std::to_string(ranks));
    if (v[1] >= limits::kMaxGpus) fail("node " + std::to_string(v[1]) + " does not exist");
    if (v[2] >= gpus_per_node)
      fail("local_gpu " + std::to_string(v[2]) + ": a node has GPUs 0 to " + std::to_string(gpus_per_node - 1));
    if (gpu[static_cast<std::size_t>(v[0])] >= 0) fail("rank " + std::to_string(v[0]) + " is listed twice");
    const std::int64_t g = v[1] * gpus_per_node + v[2];
    if (!used.insert(g).second) fail("node " + std::to_string(v[1]) + " GPU " + std::to_string(v[2]) + " runs two ranks");
    gpu[static_cast<std::size_t>(v[0])] = g;
  }
  for (std::int64_t r = 0; r < ranks; ++r)
    if (gpu[static_cast<std::size_t>(r)] < 0) throw_bad_input(path, "rank " + std::to_string(r) + " is missing");
  return gpu;
}

}  // namespace nest
