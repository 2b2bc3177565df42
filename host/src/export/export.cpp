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
  std::int64_t size[5];
  size[static_cast<int>(Dim::TP)] = p.tp;
  size[static_cast<int>(Dim::CP)] = p.cp;
  size[static_cast<int>(Dim::EP)] = p.ep;
  size[static_cast<int>(Dim::DP)] = p.dp / p.ep;
  size[static_cast<int>(Dim::PP)] = p.pp;
  std::ostringstream out;
  out << "global_rank,node,local_gpu,tp,cp,ep,dp,pp,stage_layers\n";
  for (long r = 0; r < p.gpus(); ++r) {
    std::int64_t coord[5] = {};
    std::int64_t rest = r;
    for (Dim d : plan.order.dims) {
      coord[static_cast<int>(d)] = rest % size[static_cast<int>(d)];
      rest /= size[static_cast<int>(d)];
    }
    // The dense data-parallel index runs over (ep, dp) with ep the faster-moving.
    const std::int64_t dp_index = coord[static_cast<int>(Dim::DP)] * p.ep + coord[static_cast<int>(Dim::EP)];
    const auto& stage = layout[static_cast<std::size_t>(coord[static_cast<int>(Dim::PP)])];
    std::string layers;
    for (const auto& [a, b] : stage.chunks) {
      if (!layers.empty()) layers.push_back(';');
      layers.append(std::to_string(a - 1)).append("..").append(std::to_string(b - 1));
    }
    out << r << "," << r / in.gpus_per_node << "," << r % in.gpus_per_node << "," << coord[static_cast<int>(Dim::TP)] << ","
        << coord[static_cast<int>(Dim::CP)] << "," << coord[static_cast<int>(Dim::EP)] << "," << dp_index << ","
        << coord[static_cast<int>(Dim::PP)] << "," << layers << "\n";
  }
  return out.str();
}

}  // namespace nest
