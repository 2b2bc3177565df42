#include "nest/evaluate/evaluator.hpp"

#include <cstdio>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/framework/framework.hpp"

namespace nest {

namespace {

std::string gb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / kGiB);
  return buf;
}

std::string layer_range(int first_id, int last_id, int num_blocks) {
  auto name = [&](int id) {
    if (id < 0) return std::string("embedding");
    if (id >= num_blocks) return std::string("head");
    return "block " + std::to_string(id);
  };
  return first_id == last_id ? name(first_id) : name(first_id) + " .. " + name(last_id);
}

}  // namespace

std::vector<std::string> check_pipeline(const Parallelism& p, const std::vector<int>& blocks_per_stage, int L, bool torch_order) {
  std::vector<std::string> out;
  auto add = [&](const std::string& s) { out.push_back(s); };
  if (p.pp > L) add("pp " + std::to_string(p.pp) + " exceeds the " + std::to_string(L) + " blocks");
  const int v = p.schedule == Schedule::Interleaved ? p.virtual_stages : 1;
  if (p.schedule == Schedule::OneFOneB && p.virtual_stages != 1) add("virtual stages > 1 need the interleaved schedule");
  if (p.schedule == Schedule::Interleaved) {
    if (p.pp < 2) add("the interleaved schedule needs pp >= 2");
    if (p.virtual_stages < 2)
      add("the interleaved schedule needs at least 2 virtual stages");
    else if (p.num_microbatches < p.pp)
      // PyTorch runs fewer, with forwards waiting on the last stage: a longer bubble than
      // pipeline_time's form, which holds from pp microbatches up (tests/report/test_trace.cpp).
      add("the interleaved schedule needs at least pp " + std::to_string(p.pp) + " microbatches (has " +
          std::to_string(p.num_microbatches) + ")");
    else if (!torch_order && p.num_microbatches % p.pp != 0)
      add("the interleaved schedule in Megatron-LM's order needs the number of microbatches (" +
          std::to_string(p.num_microbatches) + ") to be a multiple of pp " + std::to_string(p.pp));
  }
  if (static_cast<int>(blocks_per_stage.size()) != p.pp) {
    add("layers per stage lists " + std::to_string(blocks_per_stage.size()) + " stages, pp is " + std::to_string(p.pp));
  } else {
    int sum = 0;
    for (int i = 0; i < p.pp; ++i) {
      const int n = blocks_per_stage[static_cast<std::size_t>(i)];
      sum += n;
      const bool edge = i == 0 || i == p.pp - 1;
      if (n < 0 || (!edge && n < 1)) add("stage " + std::to_string(i) + " has no layers");
      const int lack = edge_chunk_deficit(n, v, edge);
      if (v > 1 && (lack < 0 || n + lack < v))
        add("stage " + std::to_string(i) + ": " + std::to_string(n) + " blocks do not split into " + std::to_string(v) +
            " non-empty virtual stages" + (edge ? " (the embedding's or head's chunk may hold fewer, down to none)" : ""));
    }
    if (sum != L) add("layers per stage sum to " + std::to_string(sum) + ", the model has " + std::to_string(L) + " blocks");
  }
  return out;
}

std::vector<std::string> check_plan(const Problem& problem, const Plan& plan) {
  std::vector<std::string> out;
  const Parallelism& p = plan.par;
  const ModelConfig& m = problem.model;
  auto add = [&](const std::string& s) { out.push_back(s); };
  if (p.tp < 1 || p.pp < 1 || p.dp < 1 || p.cp < 1 || p.ep < 1 || p.microbatch < 1 || p.etp < 0) {
    add("every parallel degree and the microbatch must be at least 1 (etp: 0 for tp)");
    return out;
  }
  const long used = p.gpus();
  if (used > problem.gpus)
    add("tp*cp*pp*dp = " + std::to_string(used) + " GPUs, more than the " + std::to_string(problem.gpus) + " available");
  else {
    try {
      (void)problem.cluster.domain_sizes(used);
    } catch (const Error& e) {
      add(std::string("placement: ") + e.what());
    }
  }
  // Offload, whatever the framework: the host link carries it, host memory runs the optimizer.
  if ((p.offload_optimizer || p.offload_activations) && problem.cluster.gpu.host_link_bandwidth <= 0)
    add("offload needs the GPU's host link bandwidth (host_link_GBps in the GPU preset)");
  if (p.offload_optimizer && problem.cluster.host_memory_bandwidth <= 0)
    add("optimizer offload needs the host memory bandwidth (host_memory_GBps_per_gpu in the cluster)");
  if (m.heads % p.tp != 0)
    add("tp " + std::to_string(p.tp) + " does not divide the " + std::to_string(m.heads) + " attention heads");
  if (m.kv_heads % p.tp != 0)
    add("tp " + std::to_string(p.tp) + " does not divide the " + std::to_string(m.kv_heads) + " key/value heads");
  if (m.ffn % p.tp != 0) add("tp " + std::to_string(p.tp) + " does not divide the MLP size " + std::to_string(m.ffn));
  if (m.is_moe() && m.moe_ffn % p.tp != 0)
    add("tp " + std::to_string(p.tp) + " does not divide the expert MLP size " + std::to_string(m.moe_ffn));
  if (p.ep > 1 && !m.is_moe()) add("ep " + std::to_string(p.ep) + " > 1 but the model has no experts");
  if (m.is_moe() && m.experts % p.ep != 0)
    add("ep " + std::to_string(p.ep) + " does not divide the " + std::to_string(m.experts) + " experts");
  // Expert parallelism lies inside the data-parallel ranks, or, with expert TP folded on
  // Megatron's expert grid, over tp x cp x dp / etp ranks (parallel_state.py:873-895).
  if (p.dp % p.ep != 0 && !(p.folded() && (static_cast<long>(p.tp) * p.cp * p.dp) % (static_cast<long>(p.etp) * p.ep) == 0 &&
                            on_expert_grid(plan.order)))
    add("ep " + std::to_string(p.ep) + " does not divide dp " + std::to_string(p.dp) +
        " (only with expert TP folded (etp < tp) on Megatron's expert grid, where etp x ep divides tp x cp x dp, may it span "
        "tensor- or context-parallel ranks)");
  if (p.folded()) {
    if (!m.is_moe())
      add("etp " + std::to_string(p.etp) + " differs from tp " + std::to_string(p.tp) + " but the model has no experts");
    if (p.tp % p.etp != 0)
      add("etp " + std::to_string(p.etp) + " must divide tp " + std::to_string(p.tp) +
          " (expert TP folds the inner etp ranks of each TP group; its other ranks join the expert data-parallel group)");
  }
  if (p.cp > 1 && problem.seq_len % (2 * p.cp) != 0)
    add("cp " + std::to_string(p.cp) + ": the sequence length " + std::to_string(problem.seq_len) +
        " must split into 2*cp equal chunks (load-balanced causal attention)");
  if (p.zero < 0 || p.zero > 3) add("zero must be 0, 1, 2 or 3");
  if (p.dp_shard < 0 || (p.dp_shard > 0 && (p.dp_shard >= p.dp || p.dp % p.dp_shard != 0)))
    add("dp_shard " + std::to_string(p.dp_shard) + " must be 0 (no HSDP) or a divisor of dp " + std::to_string(p.dp) +
        " smaller than it");
  else if (p.dp_shard > 0 && p.ep > 1 && (p.dp % p.ep != 0 || p.dp_shard % p.ep != 0))
    add("dp_shard " + std::to_string(p.dp_shard) + " must hold whole expert-parallel groups: a multiple of ep " +
        std::to_string(p.ep) + " (with ep dividing dp " + std::to_string(p.dp) + ")");
  if (!problem.cluster.gpu.supports(p.precision))
    add(std::string(to_string(p.precision)) + ": " + problem.cluster.gpu.name + " has no tensor cores for it");
  const Framework& fw = framework(problem.options.framework);
  for (const std::string& why : fw.unsupported(problem, p, plan.order)) add(std::string(fw.name()) + ": " + why);
  const long per_step = static_cast<long>(p.dp) * p.microbatch;
  if (problem.global_batch % per_step != 0)
    add("global batch " + std::to_string(problem.global_batch) +
        " is not a multiple of dp*microbatch = " + std::to_string(per_step));
  else if (p.num_microbatches != problem.global_batch / per_step)
    add("num_microbatches " + std::to_string(p.num_microbatches) +
        " does not match global batch / (dp*microbatch) = " + std::to_string(problem.global_batch / per_step));
  for (const std::string& why : check_pipeline(p, plan.blocks_per_stage, static_cast<int>(m.layers),
                                               framework(problem.options.framework).torch_pipeline_schedule()))
    add(why);
  // Without an explicit layout (--pipeline-layout off: Megatron-LM before core_v0.13.0) an edge
  // chunk is one block short at most (the account-for switches).
  const int v = p.schedule == Schedule::Interleaved ? p.virtual_stages : 1;
  if (!problem.options.pipeline_layout && v > 1 && static_cast<int>(plan.blocks_per_stage.size()) == p.pp)
    for (const int i : {0, p.pp - 1}) {
      const int lack = edge_chunk_deficit(plan.blocks_per_stage[static_cast<std::size_t>(i)], v, true);
      if (lack > 1)
        add("stage " + std::to_string(i) + ": its edge chunk is " + std::to_string(lack) +
            " blocks short, which needs an explicit pipeline layout (Megatron-LM's --pipeline-model-parallel-layout, "
            "core_v0.13.0 on); with --pipeline-layout off it may be one short at most");
      if (p.pp == 1) break;
    }
  return out;
}

Prediction make_prediction(const Problem& problem, const StepFlops* flops, const Plan& plan, const SliceCosts& sc,
                           const std::vector<StageLayout>& layout, const SplitEval& ev) {
  const Parallelism& par = plan.par;
  Prediction pr;
  pr.evaluated = true;
  pr.gpus_used = par.gpus();
  pr.placement = sc.placement;
  pr.step_time = ev.step_time;
  pr.bottleneck_stage = ev.bottleneck;
  pr.tail_stage = ev.tail_stage;
  const int L = static_cast<int>(layout.empty() ? 0 : layout.back().chunks.back().second - 1);
  const double m = par.num_microbatches;
  for (std::size_t i = 0; i < ev.stages.size(); ++i) {
    const StageEval& st = ev.stages[i];
    StageReport r;
    r.index = static_cast<int>(i);
    for (const auto& [a, b] : layout[i].chunks) r.chunks.emplace_back(a - 1, b - 1);
    r.first_layer = r.chunks.front().first;
    r.last_layer = r.chunks.back().second;
    r.blocks = layout[i].blocks;
    r.devices = pr.gpus_used / par.pp;
    r.time = st.time;
    r.compute = st.compute;
    r.tp = st.tp;
    r.cp = st.cp;
    r.ep = st.ep;
    r.dp_microbatch = st.dp_microbatch;
    r.offload = st.offload;
    r.pp = st.p2p;
    r.tail = st.tail;
    r.sync_exposed = st.sync_exposed;
    r.optimizer = st.sums.optimizer_time;
    r.memory.params = st.sums.weight_bytes;
    // What is alive at the stage's peak: with the gradients apart (stage.hpp), either the
    // activations (the backward's start) or the gradients (the optimizer step).
    r.memory.grads = kernels::grads_at_peak(sc.ctx, st.sums, st.inflight_act);
    r.memory.optimizer = st.sums.optimizer_bytes;
    const bool grads_win = sc.ctx.grads_apart && r.memory.grads > 0;
    r.memory.activations = grads_win ? 0 : st.inflight_act + kernels::kept_outputs(sc.ctx, st.sums);
    r.memory.working_set = grads_win ? 0 : st.sums.work_bytes;
    if (r.memory.working_set > 0) r.working_set_layer = st.work_node - 1;  // node 0 is the embedding, id -1
    r.memory.grads_apart = sc.ctx.grads_apart != 0;
    r.memory.buffered = st.sums.buffered_bytes;
    // The rest: the caching allocator's reserve over all of the above, the CUDA context and NCCL buffers.
    r.memory.other =
        st.memory - (r.memory.params + r.memory.grads + r.memory.optimizer + r.memory.activations + r.memory.working_set);
    pr.stages.push_back(r);
    if (st.memory > sc.ctx.memory_capacity) {
      pr.violations.push_back("stage " + std::to_string(i) + " (" + layer_range(r.first_layer, r.last_layer, L) + ") needs " +
                              gb(st.memory) + " per GPU, " + gb(st.memory - sc.ctx.memory_capacity) + " more than the " +
                              gb(sc.ctx.memory_capacity) + " available");
    }
  }
  // Breakdown along the critical path: m microbatches at the bottleneck stage's pace, the
  // pipeline's fill and drain (bubble), then the slowest stage's exposed sync and optimizer.
  const StageReport& b = pr.stages[static_cast<std::size_t>(ev.bottleneck)];
  const StageReport& t = pr.stages[static_cast<std::size_t>(ev.tail_stage)];
  pr.breakdown.compute = m * (b.compute + b.offload);
  pr.breakdown.tp = m * b.tp;
  pr.breakdown.cp = m * b.cp;
  pr.breakdown.ep = m * b.ep;
  pr.breakdown.pp = m * b.pp;
  pr.breakdown.bubble = ev.pipeline_time - m * ev.max_time;
  pr.breakdown.bubble_sends = ev.fill_flush;
  pr.breakdown.dp = m * b.dp_microbatch + t.sync_exposed;
  pr.breakdown.optimizer = t.optimizer;

  const double seconds = pr.step_time;
  pr.tokens_per_s = static_cast<double>(problem.global_batch) * static_cast<double>(problem.seq_len) / seconds;
  const double gpus = static_cast<double>(pr.gpus_used);
  if (flops) {
    pr.model_tflops_per_gpu = flops->model / seconds / gpus / kTera;
    pr.hardware_tflops_per_gpu = flops->hardware / seconds / gpus / kTera;
    pr.mfu = flops->model / seconds / gpus / problem.cluster.gpu.peak_bf16_flops();
  }
  pr.feasible = pr.violations.empty();
  return pr;
}

Prediction evaluate_plan(const Problem& problem, const Plan& plan) { return evaluate_plan(problem, plan, nullptr); }

Prediction evaluate_plan(const Problem& problem, const Plan& plan, const Placement* placement) {
  Prediction pr;
  pr.violations = check_plan(problem, plan);
  pr.gpus_used = plan.par.gpus();
  if (!pr.violations.empty()) return pr;
  const LayerGraph graph = build_layer_graph(problem.model, plan.par.pp > 1);
  const SliceCosts sc = placement ? build_slice_costs(problem, graph, plan.par, *placement)
                                  : build_slice_costs(problem, graph, plan.par, plan.order);
  const int v = plan.par.schedule == Schedule::Interleaved ? plan.par.virtual_stages : 1;
  const std::vector<StageLayout> layout = layout_stages(plan.blocks_per_stage, v);
  const SplitEval ev = evaluate_split(sc, layout);
  const StepFlops flops = step_flops(problem, graph, plan.par);
  return make_prediction(problem, &flops, plan, sc, layout, ev);
}

}  // namespace nest
