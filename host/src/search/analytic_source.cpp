#include <algorithm>

#include "nest/evaluate/evaluator.hpp"
#include "nest/framework/framework.hpp"
#include "nest/search/bound_batch.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/search_space.hpp"

namespace nest {

AnalyticCostSource::AnalyticCostSource(Problem problem)
    : problem_(std::move(problem)),
      flat_(build_layer_graph(problem_.model, false)),
      pipelined_(build_layer_graph(problem_.model, true)),
      uniform_(flat_.homogeneous_blocks()) {
  if (uniform_ && pipelined_.nodes.size() >= 3) {
    // Each node costed on its own (no repeats): the same layer_cost calls as the whole graph's
    // first three distinct nodes, so the same numbers.
    pipelined_ends_.nodes = {pipelined_.nodes.front(), pipelined_.nodes[1], pipelined_.nodes.back()};
    pipelined_ends_.repeats = {0, 0, 0};
  }
}

std::vector<std::string> AnalyticCostSource::check(const Plan& plan) const { return check_plan(problem_, plan); }

std::vector<int> AnalyticCostSource::tp_candidates() const {
  const ModelConfig& m = problem_.model;
  std::vector<int> out;
  for (std::int64_t t = 1; t <= problem_.gpus && t <= m.heads; ++t) {
    if (m.heads % t || m.kv_heads % t || m.ffn % t || (m.is_moe() && m.moe_ffn % t)) continue;
    out.push_back(static_cast<int>(t));
  }
  return out;
}

std::vector<int> AnalyticCostSource::cp_candidates(const std::vector<int>& asked) const {
  // A degree the model admits: at most the GPUs, the sequence split into 2 cp equal chunks
  // (load-balanced causal attention, check_plan).
  auto admits = [&](int c) { return c == 1 || (c > 1 && c <= problem_.gpus && problem_.seq_len % (2 * c) == 0); };
  std::vector<int> out;
  if (!asked.empty()) {
    for (int c : asked)
      if (admits(c)) out.push_back(c);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }
  // Default range: powers of two up to 32 (--cp names any other degree).
  for (int c = 1; c <= 32; c *= 2)
    if (admits(c)) out.push_back(c);
  return out;
}

namespace {

// Expert-parallel degrees over `ranks` ranks: the divisors of the expert count that divide them.
std::vector<int> expert_degrees(const ModelConfig& m, std::int64_t ranks) {
  if (!m.is_moe()) return {1};
  std::vector<int> out;
  for (std::int64_t e = 1; e <= ranks && e <= m.experts; ++e)
    if (ranks % e == 0 && m.experts % e == 0) out.push_back(static_cast<int>(e));
  return out;
}

}  // namespace

std::vector<int> AnalyticCostSource::ep_candidates(int dp) const { return expert_degrees(problem_.model, dp); }

std::vector<int> AnalyticCostSource::folded_ep_candidates(int tp, int cp, int dp, int etp) const {
  return expert_degrees(problem_.model, static_cast<std::int64_t>(tp) * cp * dp / etp);  // etp divides tp
}

std::vector<int> AnalyticCostSource::etp_candidates(int tp) const {
  // Parallel folding (Megatron-Core): every divisor of tp for MoE models, where the framework has
  // an expert TP degree of its own.
  if (!problem_.model.is_moe() || !framework(problem_.options.framework).has_expert_tp()) return {tp};
  std::vector<int> out;
  for (int e = 1; e <= tp; ++e)
    if (tp % e == 0) out.push_back(e);
  return out;
}

std::vector<int> CostSource::microbatch_candidates(int dp) const {
  std::vector<int> out;
  if (dp <= 0 || global_batch() % dp != 0) return out;
  const std::int64_t per_replica = global_batch() / dp;
  for (std::int64_t b = 1; b <= per_replica && b <= (1 << 20); ++b)
    if (per_replica % b == 0) out.push_back(static_cast<int>(b));
  return out;
}

std::vector<int> AnalyticCostSource::zero_candidates() const { return framework(problem_.options.framework).zero_stages(); }

// Every non-empty set of the modules that do something in the model, where the framework takes a
// list (Megatron-Core's --recompute-modules); with FlashAttention core_attn only alone: the fused
// kernel keeps its inputs and softmax statistics only (4 bytes per head and token), and Megatron
// itself warns that recomputing it is not needed (transformer_config.py:1804-1810). moe recomputes
// the whole MoE layer, moe_act and shared_experts inside it: a set with moe and either is the set
// without them (the same cost), so it is not tried.
std::vector<int> AnalyticCostSource::recompute_module_candidates() const {
  if (!framework(problem_.options.framework).has_recompute_modules()) return {kernels::kRecomputeCoreAttn};
  const int relevant = recompute_modules_of(problem_.model);
  std::vector<int> out;
  for (int set = 1; set < (1 << kernels::kRecomputeModuleCount); ++set) {
    if ((set & relevant) != set) continue;
    if (problem_.options.flash_attention && (set & kernels::kRecomputeCoreAttn) && set != kernels::kRecomputeCoreAttn) continue;
    if ((set & kernels::kRecomputeMoe) && (set & (kernels::kRecomputeMoeAct | kernels::kRecomputeSharedExperts))) continue;
    out.push_back(set);
  }
  return out;
}

std::vector<bool> AnalyticCostSource::offload_candidates(bool optimizer) const {
  const Framework& fw = framework(problem_.options.framework);
  const bool has = optimizer ? fw.has_optimizer_offload() : fw.has_activation_offload();
  const bool links = problem_.cluster.gpu.host_link_bandwidth > 0 && (!optimizer || problem_.cluster.host_memory_bandwidth > 0);
  return has && links ? std::vector<bool>{false, true} : std::vector<bool>{false};
}

// Where some blocks can offload and the rest not: eighths of the L - 1 blocks that may
// (Megatron keeps the last block's), rounded up. More offloading blocks never save time and
// never cost memory, so the fastest plan offloads the fewest that fit; the search finds them to
// within an eighth (docs/solver.md §1).
std::vector<int> AnalyticCostSource::offload_layer_candidates() const {
  const int L = static_cast<int>(problem_.model.layers);
  if (!framework(problem_.options.framework).has_partial_activation_offload() || L < 2) return {0};
  std::vector<int> out;
  for (int j = 1; j <= 8; ++j) {
    const int k = (j * (L - 1) + 7) / 8;
    if (out.empty() || out.back() != k) out.push_back(k);
  }
  return out;
}

std::vector<int> AnalyticCostSource::dp_shard_candidates(int dp, int ep) const {
  // With expert parallelism the shard group holds whole EP groups (torchtitan's efsdp = dp_shard
  // cp tp / ep ranks shard the experts): multiples of ep.
  std::vector<int> out = {0};
  if (!framework(problem_.options.framework).has_hsdp() || ep < 1 || dp % ep != 0) return out;
  for (int k = std::max(2, ep); k < dp; k += ep)
    if (dp % k == 0) out.push_back(k);
  return out;
}

std::vector<RankOrder> AnalyticCostSource::rank_orders() const { return framework(problem_.options.framework).rank_orders(); }

bool AnalyticCostSource::torch_pipeline_schedule() const {
  return framework(problem_.options.framework).torch_pipeline_schedule();
}

bool AnalyticCostSource::runs_layout(const Parallelism& par, const RankOrder& order) const {
  return problem_.cluster.gpu.supports(par.precision) && framework(problem_.options.framework).runs_layout(problem_, par, order);
}

bool AnalyticCostSource::runs_switches(const Parallelism& par) const {
  return framework(problem_.options.framework).runs_switches(problem_, par);
}

bool AnalyticCostSource::tp_overlap_takes_memory(const Parallelism& par) const {
  return framework(problem_.options.framework).tp_overlap_bytes(problem_, par) > 0;
}

bool AnalyticCostSource::grad_overlap_can_be_slower(const Parallelism& par) const {
  // Buckets are cut only on a one-chunk first stage (stage.hpp: gradient_buckets), and only
  // where some group reduces.
  const bool reduces = static_cast<long long>(par.dp) * par.cp > 1 || par.edp() > 1;
  return reduces && par.virtual_stages <= 1 && framework(problem_.options.framework).buckets_gradients(par);
}

SliceCosts AnalyticCostSource::slice_costs(const Parallelism& par, const Placement& placement) const {
  return build_slice_costs(problem_, par.pp > 1 ? pipelined_ : flat_, par, placement);
}

SliceCosts AnalyticCostSource::uniform_slice_costs(const Parallelism& par, const Placement& placement) const {
  if (par.pp < 2 || pipelined_ends_.nodes.empty()) return slice_costs(par, placement);
  return build_slice_costs(problem_, pipelined_ends_, par, placement);
}

SliceSummary AnalyticCostSource::slice_summary(const Parallelism& par, const Placement& placement) const {
  return summarize_slice(problem_, par.pp > 1 ? pipelined_ : flat_, par, placement);
}

kernels::dp::BoundBatch AnalyticCostSource::bound_batch(const SearchSpace& space, int threads) const {
  kernels::dp::BoundBatch b;
  // Graph 0 the flat one (pp = 1), graph 1 the pipelined one (the head keeps a tied embedding).
  for (const LayerGraph* g : {&flat_, &pipelined_}) {
    b.graphs.push_back({static_cast<int>(b.dims.size()), static_cast<int>(g->nodes.size())});
    for (std::size_t i = 0; i < g->nodes.size(); ++i) {
      b.dims.push_back(g->nodes[i].dims);
      b.repeats.push_back(g->repeats[i] ? 1 : 0);
    }
  }
  const Framework& fw = framework(problem_.options.framework);
  b.relaxed.assign(space.slices.size(), 0);
  add_bound_slices(b, space.slices.size(), threads, [&](std::size_t i, SliceBoundItem& it) {
    const SliceSpec& spec = space.slices[i];
    const Parallelism& par = spec.par;
    // What summarize_slice reads, in the same calls: the framework's settings, the shape, the
    // context; the layers are costed by the backend from the job.
    it.settings = fw.settings(problem_, par);
    it.job.shape = parallel_shape(problem_, par);
    it.job.graph = par.pp > 1 ? 1 : 0;
    it.job.gpu = static_cast<int>(par.precision);
    it.job.comm = spec.placement;
    it.input = kernels::dp::slice_bound_input(
        slice_context(problem_, par, space.placements[static_cast<std::size_t>(spec.placement)], it.settings), 0);
    // The step-end buckets are the context's, not the layers': the slices with and without the
    // gradient overlap (which sets them) share one job.
    it.settings.grad_bucket_params = 0;
    // Its twin's job (usually the previous slice's, found again by the builder's table); its own
    // memory (the context above).
    if (spec.tp_overlap_twin) {
      it.settings.tp_comm_overlap = 1;
      b.relaxed[i] = 1;
    }
  });
  return b;
}

kernels::dp::BoundPointTables AnalyticCostSource::bound_point_tables(const SearchSpace& space) const {
  kernels::dp::BoundPointTables t;
  // One GPU model per precision the space uses (indexed by the precision's value).
  t.gpus.resize(static_cast<std::size_t>(kernels::kPrecisions));
  std::vector<char> used(static_cast<std::size_t>(kernels::kPrecisions), 0);
  for (const SliceSpec& s : space.slices) used[static_cast<std::size_t>(s.par.precision)] = 1;
  for (int p = 0; p < kernels::kPrecisions; ++p)
    if (used[static_cast<std::size_t>(p)])
      t.gpus[static_cast<std::size_t>(p)] =
          problem_.cluster.gpu.compute_model(static_cast<Precision>(p), attention_kernel_of(problem_));
  // One communication context per placement, on this point's network.
  const kernels::Network net = problem_.cluster.network();
  for (const Placement& pl : space.placements) t.comms.push_back(comm_context(net, pl));
  return t;
}

Prediction AnalyticCostSource::predict(const Plan& plan) const { return evaluate_plan(problem_, plan); }

}  // namespace nest
