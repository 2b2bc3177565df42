#include "nest/export/export.hpp"

#include <sstream>

#include "nest/evaluate/split.hpp"

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

}  // namespace nest
