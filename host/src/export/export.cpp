#include "nest/export/export.hpp"

#include <sstream>

#include "nest/evaluate/split.hpp"

namespace nest {

namespace {

int total_blocks(const Plan& p) {
  int n = 0;
  for (int b : p.blocks_per_stage) n += b;
  return n;
}

int virtual_of(const Plan& p) { return p.par.schedule == Schedule::Interleaved ? p.par.virtual_stages : 1; }

// Middle stages equal, first and last free: what Megatron's first/last-stage flags express.
bool middle_even(const Plan& p) {
  const auto& b = p.blocks_per_stage;
  for (std::size_t i = 2; i + 1 < b.size(); ++i)
    if (b[i] != b[1]) return false;
  return true;
}

}  // namespace

std::string megatron_pipeline_layout(const Plan& plan) {
  const int v = virtual_of(plan);
  const auto layout = layout_stages(plan.blocks_per_stage, v);
  const int L = total_blocks(plan);
  std::string s;
  for (int k = 0; k < v; ++k) {
    for (std::size_t i = 0; i < layout.size(); ++i) {
      if (!s.empty()) s += "|";
      const auto [first, last] = layout[i].chunks[static_cast<std::size_t>(k)];
      for (int n = first; n <= last; ++n) s += n == 0 ? "E" : (n == L + 1 ? "L" : "t");
    }
  }
  return s;
}

std::string export_megatron(const ExportInput& in) {
  const Plan& plan = in.file.plan;
  const Parallelism& p = plan.par;
  const int L = total_blocks(plan), v = virtual_of(plan);
  std::ostringstream out;
  std::ostringstream note;
  out << "# Megatron-LM (megatron-core) arguments for " << in.file.model_spec << " on " << p.gpus() << " GPUs, from nest\n";
  std::vector<std::string> args;
  auto arg = [&](const std::string& a) { args.push_back(a); };
  arg("--tensor-model-parallel-size " + std::to_string(p.tp));
  arg("--pipeline-model-parallel-size " + std::to_string(p.pp));
  if (p.cp > 1) arg("--context-parallel-size " + std::to_string(p.cp));
  if (p.ep > 1) arg("--expert-model-parallel-size " + std::to_string(p.ep));
  if (p.sp && p.tp > 1) arg("--sequence-parallel");
  arg("--num-layers " + std::to_string(L));
  if (p.pp > 1) {
    const bool even = [&] {
      for (int b : plan.blocks_per_stage)
        if (b != plan.blocks_per_stage.front()) return false;
      return true;
    }();
    if (even) {
      if (v > 1) arg("--num-layers-per-virtual-pipeline-stage " + std::to_string(L / (p.pp * v)));
    } else if (middle_even(plan) && (plan.blocks_per_stage.size() <= 2 || plan.blocks_per_stage[1] % v == 0)) {
      arg("--decoder-first-pipeline-num-layers " + std::to_string(plan.blocks_per_stage.front()));
      arg("--decoder-last-pipeline-num-layers " + std::to_string(plan.blocks_per_stage.back()));
      if (v > 1 && p.pp > 2)
        arg("--num-layers-per-virtual-pipeline-stage " + std::to_string(plan.blocks_per_stage[1] / v));
      else if (v > 1)
        arg("--num-virtual-stages-per-pipeline-rank " + std::to_string(v));
    } else {
      // Stages of differing sizes in the middle: only the explicit layout expresses them.
      arg("--pipeline-model-parallel-layout \"" + megatron_pipeline_layout(plan) + "\"");
      note << "# uneven middle stages need megatron-core's --pipeline-model-parallel-layout (newer releases)\n";
    }
  }
  arg("--micro-batch-size " + std::to_string(p.microbatch));
  arg("--global-batch-size " + std::to_string(in.file.global_batch));
  arg("--seq-length " + std::to_string(in.file.seq_len));
  switch (p.recompute) {
    case Recompute::None:
      break;
    case Recompute::Selective:
      arg("--recompute-granularity selective");
      break;
    case Recompute::Full:
      arg("--recompute-granularity full");
      arg("--recompute-method uniform");
      arg("--recompute-num-layers 1");
      break;
  }
  if (p.zero == 1) arg("--use-distributed-optimizer");
  if (p.zero == 2)
    note << "# ZeRO-2 has no Megatron-LM flag: --use-distributed-optimizer shards the optimizer state (ZeRO-1) only\n";
  if (p.zero == 2) arg("--use-distributed-optimizer");
  if (p.zero == 3) {
    arg("--use-torch-fsdp2");
    note << "# ZeRO-3 maps to megatron-core's PyTorch FSDP2 integration (--use-torch-fsdp2)\n";
  }
  if (p.overlap_grad_reduce) arg("--overlap-grad-reduce");
  if (p.overlap_param_gather) arg("--overlap-param-gather");
  if (p.tp_comm_overlap && p.tp > 1) arg("--tp-comm-overlap");
  if (!in.file.options.flash_attention)
    note << "# the plan assumed the classic attention kernel (no --use-flash-attn)\n";
  else
    arg("--use-flash-attn");
  if (!(plan.order == RankOrder{}))
    out << "# rank order " << plan.order.str() << ": pass it as the order of megatron-core's "
        << "parallel_state.initialize_model_parallel (default tp-cp-ep-dp-pp)\n";
  out << note.str();
  for (std::size_t i = 0; i < args.size(); ++i) out << args[i] << (i + 1 < args.size() ? " \\\n" : "\n");
  return out.str();
}

std::string export_torchtitan(const ExportInput& in) {
  const Plan& plan = in.file.plan;
  const Parallelism& p = plan.par;
  const int v = virtual_of(plan);
  std::ostringstream out;
  out << "# torchtitan job config sections for " << in.file.model_spec << " on " << p.gpus() << " GPUs, from nest\n";
  if (p.zero == 1 || p.zero == 2)
    out << "# ZeRO-" << p.zero << " has no torchtitan equivalent: FSDP (data_parallel_shard_degree) shards more (ZeRO-3)\n";
  out << "[parallelism]\n";
  const bool shard = p.zero >= 1;
  out << "data_parallel_replicate_degree = " << (shard ? 1 : p.dp) << "\n";
  out << "data_parallel_shard_degree = " << (shard ? p.dp : 1) << "\n";
  out << "tensor_parallel_degree = " << p.tp << "\n";
  out << "context_parallel_degree = " << p.cp << "\n";
  out << "pipeline_parallel_degree = " << p.pp << "\n";
  if (p.ep > 1) out << "expert_parallel_degree = " << p.ep << "\n";
  if (p.pp > 1) {
    out << "pipeline_parallel_schedule = \"" << (v > 1 ? "Interleaved1F1B" : "1F1B") << "\"\n";
    out << "pipeline_parallel_microbatch_size = " << p.microbatch << "\n";
    // Split points: the first transformer layer of every (virtual) stage but the first.
    const auto layout = layout_stages(plan.blocks_per_stage, v);
    out << "pipeline_parallel_split_points = [";
    bool first = true;
    for (int k = 0; k < v; ++k)
      for (std::size_t i = 0; i < layout.size(); ++i) {
        if (k == 0 && i == 0) continue;
        const int start = layout[i].chunks[static_cast<std::size_t>(k)].first;  // node index, block = node - 1
        out << (first ? "" : ", ") << "\"layers." << (start - 1) << "\"";
        first = false;
      }
    out << "]\n";
  }
  out << "enable_async_tensor_parallel = " << (p.tp_comm_overlap && p.tp > 1 ? "true" : "false") << "\n";
  out << "\n[training]\n";
  out << "global_batch_size = " << in.file.global_batch << "\n";
  out << "local_batch_size = " << static_cast<long long>(p.microbatch) * p.num_microbatches << "\n";
  out << "seq_len = " << in.file.seq_len << "\n";
  out << "\n[activation_checkpoint]\n";
  out << "mode = \"" << (p.recompute == Recompute::Full ? "full" : (p.recompute == Recompute::Selective ? "selective" : "none"))
      << "\"\n";
  return out.str();
}

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
