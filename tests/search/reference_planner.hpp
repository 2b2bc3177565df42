// An exhaustive planner written apart from the code it checks: the planner's DP, its slice
// enumeration (placement deduplication, the overlap-switch dominance rule), its lower bounds and
// top-K, and the evaluator (host/src/evaluate/split.cpp, kernels/include/nest/kernels/stage.hpp,
// collectives.hpp, pp_boundaries.hpp, host/src/cost/schedule.cpp).
//
// It enumerates the declared space (docs/solver.md §1) as a plain cross product, every layer split
// of every plan, and values each split from the documented formulas, in its own code:
//   - stage sums by looping over each stage's nodes (docs/cost-model.md §8);
//   - the level each pipeline boundary crosses by enumerating every pair of ranks (§5);
//   - in-flight activations by replaying Megatron's 1F1B / interleaved schedule event by event (§7);
//   - ring, tree and NVLS all-reduce, reduce-scatter, all-gather and send/recv from the table in §4;
//   - data-parallel sync, its overlap, the optimizer tail, memory and
//     T = S/v + (m - 1/v) B + (the fill and flush chains' sends) + max r.
// What it shares with the planner is only its input: the per-layer costs of a slice (the operator
// model, LayerCost), the placement's group shapes and network levels (SliceContext), and the
// source's declared candidates and validity checks (CostSource).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "nest/search/cost_source.hpp"
#include "nest/search/search_space.hpp"

namespace nest::test::reference {

using kernels::GroupShape;
using kernels::Network;

// ---- Collectives (docs/cost-model.md §4) ----------------------------------------------------

inline double members_product(const GroupShape& g) {
  double n = 1;
  for (int l = 0; l < g.num_levels; ++l) n *= g.members[l];
  return n;
}

// Per level: the bandwidth term on S_l = S / prod_{j<l} m_j and the latency steps; the slowest
// level's bandwidth term plus every crossed level's latency. `bw_factor(m)` gives the
// collective's volume factor for m members and `steps(m, above)` its latency steps at a level
// whose domains the group occupies `above` of (the product of the members of the levels above):
// a ring through the whole group crosses the level m - 1 times inside each of them (NCCL's
// tuning model, src/graph/tuning.cc), a tree once per level of its depth.
inline double hierarchical(const Network& net, const GroupShape& g, double S, const std::function<double(double)>& bw_factor,
                           const std::function<double(double, double)>& steps) {
  double slowest = 0, latency = 0, S_l = S;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    double above = 1;
    for (int k = l + 1; k < g.num_levels; ++k) above *= g.members[k];
    if (m > 1) {
      slowest = std::max(slowest, bw_factor(m) * S_l / net.level[l].bandwidth);
      latency += steps(m, above) * net.level[l].latency;
    }
    S_l /= m;
  }
  return slowest + latency;
}

inline double ring_all_reduce(const Network& net, const GroupShape& g, double S) {
  if (members_product(g) <= 1 || S <= 0) return 0;
  return hierarchical(
      net, g, S, [](double m) { return 2 * (m - 1) / m; }, [](double m, double above) { return 2 * (m - 1) * above; });
}

inline double tree_all_reduce(const Network& net, const GroupShape& g, double S) {
  return hierarchical(
      net, g, S, [](double) { return 2.0; }, [](double m, double) { return 2 * std::ceil(std::log2(m)); });
}

inline double nvls_all_reduce(const Network& net, const GroupShape& g, double S) {
  std::vector<int> spanned;
  for (int l = 0; l < g.num_levels; ++l)
    if (g.members[l] > 1) spanned.push_back(l);
  if (spanned.size() != 1 || net.level[spanned[0]].nvls_bandwidth <= 0) return HUGE_VAL;
  const double n = g.members[spanned[0]];
  return 2 * (n - 1) / n * S / net.level[spanned[0]].nvls_bandwidth + 2 * net.level[spanned[0]].latency;
}

// NCCL's tuner: the fastest algorithm.
inline double all_reduce(const Network& net, const GroupShape& g, double S) {
  if (members_product(g) <= 1 || S <= 0) return 0;
  return std::min({ring_all_reduce(net, g, S), tree_all_reduce(net, g, S), nvls_all_reduce(net, g, S)});
}

inline double reduce_scatter(const Network& net, const GroupShape& g, double S) {
  if (members_product(g) <= 1 || S <= 0) return 0;
  return hierarchical(
      net, g, S, [](double m) { return (m - 1) / m; }, [](double m, double above) { return (m - 1) * above; });
}

inline double all_gather(const Network& net, const GroupShape& g, double S) { return reduce_scatter(net, g, S); }

inline double send_recv(const Network& net, int level, double S) {
  if (S <= 0) return 0;
  const kernels::LinkLevel& l = net.level[level];
  return S / (l.p2p_bandwidth > 0 ? l.p2p_bandwidth : l.bandwidth) + l.latency;
}

// ---- Placement of pipeline stages (docs/cost-model.md §5), by enumerating ranks ----------------

struct RankGrid {
  long long gpus = 1;
  long long pp_stride = 1;  // product of the sizes of the dimensions before pp in the order
  int stages = 1;
  std::vector<long long> domain;  // cumulative GPUs per level-l domain; the last holds the job
};

inline RankGrid rank_grid(const Cluster& cluster, const Parallelism& par, const RankOrder& order) {
  RankGrid g;
  g.gpus = par.gpus();
  g.stages = par.pp;
  for (Dim d : order.dims) {
    if (d == Dim::PP) break;
    // ep inside dp; without an EP dimension when ep does not divide dp (EP over TP ranks)
    const bool ep_in_dp = par.dp % par.ep == 0;
    g.pp_stride *= d == Dim::TP   ? par.tp
                   : d == Dim::CP ? par.cp
                   : d == Dim::EP ? (ep_in_dp ? par.ep : 1)
                                  : (ep_in_dp ? par.dp / par.ep : par.dp);
  }
  long long below = 1;
  for (const auto& level : cluster.levels) {
    if (level.size == 0 || below * level.size >= g.gpus) break;
    below *= level.size;
    g.domain.push_back(below);
  }
  g.domain.push_back(g.gpus);
  return g;
}

// The lowest level whose domains hold both ranks of every pair (r in stage `from`, its peer with
// the same other coordinates in stage `to`).
inline int boundary_level(const RankGrid& g, int from, int to) {
  int worst = 0;
  for (long long r = 0; r < g.gpus; ++r) {
    if ((r / g.pp_stride) % g.stages != from) continue;
    const long long peer = r + (to - from) * g.pp_stride;
    int l = 0;
    while (r / g.domain[static_cast<std::size_t>(l)] != peer / g.domain[static_cast<std::size_t>(l)]) ++l;
    worst = std::max(worst, l);
  }
  return worst;
}

// ---- Schedules (docs/cost-model.md §7): Megatron's order, replayed -----------------------------

// Peak of sum_c live_c * chunk_bytes_c on stage i over the whole step: forwards add their
// chunk's activations, backwards free them. Megatron-LM (megatron/core/pipeline_parallel/
// schedules.py: warm-up counts and get_model_chunk_id), or with `torch` PyTorch's
// ScheduleInterleaved1F1B (torch/distributed/pipelining/schedules.py: _get_warmup_ops with
// microbatches_per_round = m // max(1, m // p); forward_stage_index, backward_stage_index).
// `extra`: warm-up forwards beyond the schedule's own (Megatron-Core's EP overlap runs one more,
// schedules.py:939-943; without pipelining microbatch k+1's forward runs beside k's backward,
// combined_1f1b.py:34-60).
inline double peak_activation_bytes(int p, int v, int m, int i, const std::array<double, 32>& chunk_bytes, bool torch = false,
                                    int extra = 0) {
  const int total = m * v;
  const int per_round = torch ? m / std::max(1, m / p) : p;
  int warmup = v == 1  ? std::min(p - i - 1 + extra, m)
               : torch ? std::min((v - 1) * per_round + 2 * ((p - 1) - i), total)
                       : std::min(2 * (p - i - 1) + (v - 1) * p + extra, total);
  auto chunk_of = [&](int k, bool forward) {
    const int c = (k / per_round) % v;
    return forward ? c : v - 1 - c;
  };
  double now = 0, peak = 0;
  auto forward = [&](int k) {
    now += chunk_bytes[static_cast<std::size_t>(chunk_of(k, true))];
    peak = std::max(peak, now);
  };
  auto backward = [&](int k) { now -= chunk_bytes[static_cast<std::size_t>(chunk_of(k, false))]; };
  int f = 0, b = 0;
  for (; f < warmup; ++f) forward(f);
  while (f < total) {
    forward(f++);
    backward(b++);
  }
  return peak;
}

// ---- Step-end collectives beside the last (first) round of passes, simulated ------------------

// A collective of time c beside the passes of one microbatch round (docs/cost-model.md §6),
// replayed chunk by chunk: the round runs the stage's v chunks in turn (the model's last first
// for a backward), g passes of `pass / v` each; chunk j's share c / v is ready at the end of its
// last pass of the round, streamed out during that pass when `streams`, and the shares go out
// one after another. Returns how long after the round the last share is done. Megatron's round
// has p microbatches, PyTorch's m / max(1, m / p), never more than m. One chunk per stage: the
// round is the last microbatch and its buckets stream.
inline double waited_after_round(double c, double pass, int p, int v, int m, bool torch, bool streams) {
  int g = torch ? m / std::max(1, m / p) : p;
  g = std::min(g, m);
  if (v == 1) {
    g = 1;
    streams = true;
  }
  const double chunk_pass = pass / v, share = c / v;
  double done = 0;
  for (int j = 0; j < v; ++j) {
    const double ready_end = (j + 1) * g * chunk_pass;
    const double ready_start = streams ? ready_end - chunk_pass : ready_end;
    done = std::max(streams ? ready_end : 0.0, std::max(done, ready_start) + share);
  }
  return std::max(0.0, done - v * g * chunk_pass);
}

// Megatron-LM's buckets on the first stage of a one-chunk pipeline, replayed bucket by bucket:
// the last backward pass fills bucket j's gradients by (j + 1) pass / K, a bucket's reduction
// (an equal share c / K of the collective) starts once it is full and the previous one is done.
// Returns how long after the pass the last one is done.
inline double waited_after_buckets(double c, double pass, int buckets) {
  double done = 0;
  for (int j = 0; j < buckets; ++j) done = std::max(done, (j + 1) * pass / buckets) + c / buckets;
  return std::max(0.0, done - pass);
}

// The parameter all-gather of those buckets before the first forward pass: the first is gathered
// before anything runs; bucket j's forward share starts when its gather is done and the previous
// share has run, and dispatches the gather of bucket j + 1. Returns how much longer than the pass
// the forward takes.
inline double waited_before_buckets(double c, double pass, int buckets) {
  double gathered = c / buckets, compute_end = 0;
  for (int j = 0; j < buckets; ++j) {
    const double start = std::max(compute_end, gathered);
    gathered = start + c / buckets;
    compute_end = start + pass / buckets;
  }
  return std::max(0.0, compute_end - pass);
}

// ---- One split ---------------------------------------------------------------------------------

struct SplitValue {
  bool feasible = false;
  double step_time = 0;
};

// The level each boundary crosses: levels[i] from stage i to stage i+1, levels[p-1] the wrap from
// the last stage to the first (interleaved).
inline std::vector<int> boundary_levels(const Cluster& cluster, const Plan& plan) {
  const RankGrid grid = rank_grid(cluster, plan.par, plan.order);
  std::vector<int> levels;
  for (int i = 0; i < plan.par.pp; ++i) levels.push_back(boundary_level(grid, i, (i + 1) % plan.par.pp));
  return levels;
}

// Per stage, per microbatch unless said otherwise.
struct StageTotals {
  double time = 0, fwd = 0, bwd = 0;
  double weights = 0, grads = 0, optimizer = 0, work = 0;  // bytes
  double buffered = 0;      // bytes of the model state in the framework's flat buffers (no allocator reserve)
  double kept_outputs = 0;  // bytes per microbatch, kept all step
  double dp_reduce = 0, edp_reduce = 0, dp_gather = 0, edp_gather = 0;  // bytes per step
  double optimizer_time = 0;                                            // s per step
  std::array<double, 32> chunk_act{};                                   // bytes per in-flight microbatch
};

// `plan.blocks_per_stage` for p = plan.par.pp stages, `costs` the slice's per-node costs (node 0
// the embedding, 1..L the blocks, L+1 the head), `levels` from boundary_levels.
inline SplitValue evaluate(const Plan& plan, const SliceCosts& costs, const std::vector<int>& levels) {
  const Parallelism& par = plan.par;
  const kernels::SliceContext& ctx = costs.ctx;
  const int p = par.pp, v = par.schedule == Schedule::Interleaved ? par.virtual_stages : 1, m = par.num_microbatches;
  const int L = static_cast<int>(costs.layers.size()) - 2;
  if (v > 32) return {};
  // Model chunk x = k p + i (stage i's k-th chunk) holds blocks_per_stage[i] / v blocks; the
  // embedding joins chunk 0, the head the last chunk. A stage whose blocks are d short of a
  // multiple of v (0 < d < v) is short in its embedding chunk (x = 0) or its head chunk
  // (x = p v - 1), which holds d fewer, down to none.
  auto chunk_blocks = [&](int x) {
    const int n = plan.blocks_per_stage[static_cast<std::size_t>(x % p)];
    if (n % v == 0) return n / v;
    if (x % p != 0 && x % p != p - 1) return -1;
    const int d = v - n % v, per = (n + d) / v;
    if (per < d) return -1;
    return per - (x == 0 || x == p * v - 1 ? d : 0);
  };
  std::vector<StageTotals> st(static_cast<std::size_t>(p));
  double chains = 0;  // the fill and flush chains' sends beyond what their stages pay
  int next = 1;
  for (int x = 0; x < p * v; ++x) {
    StageTotals& s = st[static_cast<std::size_t>(x % p)];
    const int first = x == 0 ? 0 : next;
    if (chunk_blocks(x) < 0) return {};
    next += chunk_blocks(x);
    const int last = x == p * v - 1 ? L + 1 : next - 1;
    for (int n = first; n <= last; ++n) {
      const kernels::LayerCost& c = costs.layers[static_cast<std::size_t>(n)].cost;
      s.fwd += c.fwd;
      s.bwd += c.bwd;
      s.weights += c.weight_bytes;
      s.grads += c.grad_bytes;
      s.optimizer += c.optimizer_bytes;
      s.buffered += c.buffered_bytes;
      s.work = std::max(s.work, c.work_bytes);
      s.kept_outputs += c.kept_output_bytes;
      s.dp_reduce += c.dp_reduce_bytes;
      s.edp_reduce += c.edp_reduce_bytes;
      s.dp_gather += c.dp_gather_bytes;
      s.edp_gather += c.edp_gather_bytes;
      s.optimizer_time += c.optimizer_time;
      s.chunk_act[static_cast<std::size_t>(x / p)] += c.act_bytes;
    }
    // The send after chunk x (its last node's output forward, the gradient back): both the
    // sending and the receiving stage spend it, at the level the pair of stages crosses.
    if (x + 1 < p * v) {
      const kernels::LayerCost& out = costs.layers[static_cast<std::size_t>(last)].cost;
      // Overlapped with compute (send_hide > 0), the stage waits for what the compute does not
      // cover and is slowed by the send's share of the SMs while it runs.
      const double whole = send_recv(ctx.net, levels[static_cast<std::size_t>(x % p)], out.send_bytes) + out.send_gather;
      const double hidden = std::min(whole, out.send_hide);
      const double send = whole - hidden + out.send_sm * hidden;
      s.time += send;
      st[static_cast<std::size_t>((x + 1) % p)].time += send;
      // The first microbatch's forward and the last one's backward cross this boundary with
      // nothing beside them: there the send costs its whole time.
      chains += 2 * (whole - send);
    }
  }
  if (next != L + 1) return {};
  double S = 0, B = 0, max_tail = 0;
  for (int i = 0; i < p; ++i) {
    StageTotals& s = st[static_cast<std::size_t>(i)];
    s.time += s.fwd + s.bwd;
    S += s.time;
    B = std::max(B, s.time);
    auto reduce_time = [&](double dense, double expert) {
      if (ctx.zero_stage == 0)
        return ring_all_reduce(ctx.net, ctx.dp_group, dense) + ring_all_reduce(ctx.net, ctx.edp_group, expert);
      return reduce_scatter(ctx.net, ctx.shard_group, dense) +
             all_reduce(ctx.net, ctx.replicate_group, dense / members_product(ctx.shard_group)) +
             reduce_scatter(ctx.net, ctx.edp_group, expert) +
             all_reduce(ctx.net, ctx.replicate_group, expert / members_product(ctx.edp_group));
    };
    auto gather_time = [&](double dense, double expert) {
      return all_gather(ctx.net, ctx.shard_group, dense) + all_gather(ctx.net, ctx.edp_group, expert);
    };
    // Megatron-LM buckets the first stage's buffers (one chunk per stage), dense and expert
    // apart; every bucket is a collective of its own over its share of its buffer, with its own
    // latency (a buffer's parameters are gathered in the same buckets).
    auto buckets_of = [&](double bytes) {
      if (i != 0 || v != 1 || ctx.grad_bucket_bytes <= 0 || bytes <= 0) return 0;
      return static_cast<int>(std::clamp(std::ceil(bytes / ctx.grad_bucket_bytes - 1e-9), 1.0, 536870912.0));
    };
    const int dense_buckets = buckets_of(s.dp_reduce), expert_buckets = buckets_of(s.edp_reduce);
    const int buckets = dense_buckets + expert_buckets;
    double reduce = 0, gather = 0;
    if (buckets == 0) {
      reduce = reduce_time(s.dp_reduce, s.edp_reduce);
      gather = gather_time(s.dp_gather, s.edp_gather);
    } else {
      const int kd = std::max(1, dense_buckets), ke = std::max(1, expert_buckets);
      reduce = kd * reduce_time(s.dp_reduce / kd, 0) + ke * reduce_time(0, s.edp_reduce / ke);
      gather = kd * gather_time(s.dp_gather / kd, 0) + ke * gather_time(0, s.edp_gather / ke);
    }
    // An overlapped collective hides behind the stage's last backward round (first forward
    // round), a Megatron chunk's reduction starting only after its pass, and slows the compute
    // by the SMs it takes while hidden.
    const double f = ctx.comm_sm_fraction;
    const bool torch = ctx.torch_order != 0;
    const double reduce_waited =
        buckets > 0 ? waited_after_buckets(reduce, s.bwd, buckets) : waited_after_round(reduce, s.bwd, p, v, m, torch, torch);
    const double gather_waited =
        buckets > 0 ? waited_before_buckets(gather, s.fwd, buckets) : waited_after_round(gather, s.fwd, p, v, m, torch, true);
    const double reduce_exposed = ctx.overlap_grad_reduce ? reduce_waited + f * (reduce - reduce_waited) : reduce;
    const double gather_exposed = ctx.overlap_param_gather ? gather_waited + f * (gather - gather_waited) : gather;
    max_tail = std::max(max_tail, reduce_exposed + gather_exposed + s.optimizer_time);
    double act = peak_activation_bytes(p, v, m, i, s.chunk_act, ctx.torch_order != 0, ctx.extra_warmup);
    // PyTorch pipelining's receive buffers (docs/cost-model.md §7), counted chunk by chunk: a
    // chunk at model position k p + i receives activations unless it is the model's first and
    // gradients unless it is the last, m buffers each; beyond the passes in flight at the peak
    // (this schedule's own count, unit bytes per chunk), every activation buffer is idle and has
    // left an input gradient.
    // The runtime also holds each sent output until its microbatch's backward: a chunk sends
    // unless it is the model's last, one output per pass in flight.
    if ((ctx.receive_buffer_bytes > 0 || ctx.output_buffer_bytes > 0) && p > 1) {
      std::array<double, 32> one{};
      for (int k = 0; k < v; ++k) one[static_cast<std::size_t>(k)] = 1;
      const double passes = peak_activation_bytes(p, v, m, i, one, ctx.torch_order != 0, ctx.extra_warmup);
      int takes_act = 0, takes_grad = 0;
      for (int k = 0; k < v; ++k) {
        takes_act += k * p + i > 0 ? 1 : 0;
        takes_grad += k * p + i < p * v - 1 ? 1 : 0;
      }
      act += ctx.receive_buffer_bytes * (2 * std::max(0.0, m * takes_act - passes) + m * takes_grad);
      act += ctx.output_buffer_bytes * std::min(static_cast<double>(m * takes_grad), passes);
    }
    // Gradients freed before each forward (torchtitan) and a step of one microbatch: they and
    // the activations are never alive at once; the peak is whichever side is larger.
    // Outputs the pipeline runtime keeps until the step ends: every microbatch's.
    const double passes = act + m * s.kept_outputs + s.work;
    const double live = ctx.grads_apart ? std::max(s.grads, passes) : s.grads + passes;
    // The model state a framework keeps in flat buffers takes no allocator reserve.
    const double pooled = s.weights + s.optimizer + live - s.buffered;
    const double memory = pooled * (1 + ctx.allocator_overhead) + s.buffered + ctx.other_bytes;
    if (memory > ctx.memory_capacity) return {};
  }
  return {true, S / v + (m - 1.0 / v) * B + chains + max_tail};
}

inline SplitValue evaluate(const Cluster& cluster, const Plan& plan, const SliceCosts& costs) {
  return evaluate(plan, costs, boundary_levels(cluster, plan));
}

// ---- Every split --------------------------------------------------------------------------------

// Blocks per stage: the split rules of docs/solver.md §1 (1F1B: middle stages at least one block,
// the edge stages may hold only the embedding or the head; interleaved: every stage a positive
// multiple of v blocks, an edge stage also d blocks short of one, 0 < d <= its blocks per
// chunk, d <= max_lack (the source's max_edge_lack; -1: any): its edge chunk holds the rest,
// down to none), whether the blocks are identical or not.
inline void for_every_split(int L, int p, int v, int max_lack, const std::function<void(const std::vector<int>&)>& f) {
  auto allowed = [&](int i, int n) {
    const bool edge = i == 0 || i == p - 1;
    if (v == 1) return n >= (edge ? 0 : 1);
    if (n >= v && n % v == 0) return true;
    // An edge stage of c blocks per chunk whose edge chunk holds c - d of them, 0 < d <= c.
    for (int d = 1; d < v && (max_lack < 0 || d <= max_lack); ++d)
      if (edge && (n + d) % v == 0 && (n + d) / v >= d) return true;
    return false;
  };
  std::vector<int> split(static_cast<std::size_t>(p), 0);
  std::function<void(int, int)> place = [&](int i, int left) {
    if (i == p - 1) {
      if (allowed(i, left)) {
        split[static_cast<std::size_t>(i)] = left;
        f(split);
      }
      return;
    }
    for (int n = 0; n <= left; ++n)
      if (allowed(i, n)) {
        split[static_cast<std::size_t>(i)] = n;
        place(i + 1, left - n);
      }
  };
  place(0, L);
}

struct PlanValue {
  Plan plan;  // the best split
  double value = 0;
};

inline std::optional<PlanValue> best_split(const CostSource& source, const Plan& shape, const SliceCosts& costs) {
  std::optional<PlanValue> best;
  const int v = shape.par.schedule == Schedule::Interleaved ? shape.par.virtual_stages : 1;
  Plan plan = shape;
  const std::vector<int> levels = boundary_levels(source.cluster(), shape);
  for_every_split(source.num_blocks(), shape.par.pp, v, source.max_edge_lack(), [&](const std::vector<int>& split) {
    plan.blocks_per_stage = split;
    const SplitValue r = evaluate(plan, costs, levels);
    if (r.feasible && (!best || r.step_time < best->value)) best = PlanValue{plan, r.step_time};
  });
  return best;
}

// ---- The declared space as a cross product ----------------------------------------------------

inline std::string key(const Parallelism& p, const RankOrder& order, bool with_switches) {
  std::ostringstream k;
  k << p.tp << '/' << p.cp << '/' << p.pp << '/' << p.dp << '/' << p.ep << '/' << p.expert_tp() << '/' << p.dp_shard << '/'
    << p.microbatch << '/' << p.num_microbatches << '/' << p.zero << '/' << to_string(p.recompute) << p.recompute_modules << '/'
    << p.sp << '/' << to_string(p.schedule) << '/' << p.virtual_stages << '/' << to_string(p.precision) << '/'
    << p.offload_optimizer << p.offload_activations << '/' << p.offload_layers;
  if (with_switches)
    k << '/' << p.overlap_grad_reduce << p.overlap_param_gather << p.tp_comm_overlap << p.ep_comm_overlap << '/' << order.str();
  return k.str();
}

struct Result {
  std::map<std::string, PlanValue> best_of;  // key(par, order, true) -> its best split, feasible plans only
  std::set<std::string> declared;            // key(par, order, true) of every plan of the space
  long long plans = 0;                       // every (degrees, switches, order) of the space
  long long rejected = 0;                    // refused by the source's check
  long long ep_over_tp = 0;                  // feasible plans whose ep does not divide dp (EP over TP or CP ranks)
  long long ep_overlapped = 0;               // feasible plans with the MoE all-to-all overlap
};

inline bool permits(const std::vector<bool>& wanted, bool x) {
  return wanted.empty() || std::find(wanted.begin(), wanted.end(), x) != wanted.end();
}

template <class T>
std::vector<T> allowed(const std::vector<T>& candidates, const std::vector<T>& wanted) {
  std::vector<T> out;
  for (const T& x : candidates)
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), x) != wanted.end()) out.push_back(x);
  return out;
}

inline Result search(const CostSource& source, const SearchOptions& o) {
  Result res;
  const long long N = source.gpus();
  const int L = source.num_blocks();
  std::vector<RankOrder> orders = o.orders.empty() ? all_rank_orders() : o.orders;
  if (const auto framework_orders = source.rank_orders(); !framework_orders.empty()) orders = allowed(orders, framework_orders);
  std::vector<int> every_pp, every_v;
  for (int x = 1; x <= L; ++x) every_pp.push_back(x);
  for (int x = 2; x <= L; ++x) every_v.push_back(x);
  const std::vector<Precision> precisions = o.precision.empty() ? std::vector<Precision>{Precision::Bf16} : o.precision;
  for (int tp : allowed(source.tp_candidates(), o.tp))
    for (int cp : source.cp_candidates(o.cp))
      for (int pp : allowed(every_pp, o.pp)) {
        const long long mp = static_cast<long long>(tp) * cp * pp;
        for (long long dp = 1; dp * mp <= N; ++dp) {
          if (!o.allow_idle && dp * mp != N) continue;
          if (dp > source.global_batch()) continue;
          const int d = static_cast<int>(dp);
          for (int etp : o.etp.empty() ? std::vector<int>{tp} : allowed(source.etp_candidates(tp), o.etp))
            for (int ep : allowed(etp == tp ? source.ep_candidates(d) : source.folded_ep_candidates(tp, cp, d, etp), o.ep))
              for (int shard : allowed(source.dp_shard_candidates(d, ep), o.dp_shard))
                for (int mb : allowed(source.microbatch_candidates(d), o.microbatch)) {
                  const int m = source.microbatches(d, mb);
                  if (m == 0) continue;
                  std::vector<int> vs;
                  if (o.schedule.empty() || std::count(o.schedule.begin(), o.schedule.end(), Schedule::OneFOneB)) vs.push_back(1);
                  if (o.schedule.empty() || std::count(o.schedule.begin(), o.schedule.end(), Schedule::Interleaved))
                    for (int v : allowed(every_v, o.virtual_stages)) vs.push_back(v);
                  for (int zero : allowed(source.zero_candidates(), o.zero))
                    for (Recompute rc : allowed(source.recompute_candidates(), o.recompute))
                      for (int modules : rc == Recompute::Selective
                                             ? allowed(source.recompute_module_candidates(), o.recompute_modules)
                                             : std::vector<int>{kernels::kRecomputeCoreAttn})
                        for (bool sp : allowed(source.sp_candidates(tp), o.sp))
                          for (int v : vs)
                            for (Precision prec : precisions)
                              for (bool off_opt : allowed(source.offload_candidates(true), o.offload_optimizer))
                                for (bool off_act : allowed(source.offload_candidates(false), o.offload_activations))
                                  for (int off_layers :
                                       off_act&& pp == 1 ? source.offload_layer_candidates() : std::vector<int>{0})
                                    for (int bits = 0; bits < 16; ++bits)
                                      for (const RankOrder& order : orders) {
                                        Plan plan;
                                        Parallelism& par = plan.par;
                                        par.tp = tp;
                                        par.cp = cp;
                                        par.pp = pp;
                                        par.dp = d;
                                        par.ep = ep;
                                        par.etp = etp == tp ? 0 : etp;
                                        par.dp_shard = shard;
                                        par.microbatch = mb;
                                        par.num_microbatches = m;
                                        par.zero = zero;
                                        par.recompute = rc;
                                        par.recompute_modules = modules;
                                        par.sp = sp;
                                        par.schedule = v == 1 ? Schedule::OneFOneB : Schedule::Interleaved;
                                        par.virtual_stages = v;
                                        par.precision = prec;
                                        par.offload_optimizer = off_opt;
                                        par.offload_activations = off_act;
                                        par.offload_layers = off_layers;
                                        par.overlap_grad_reduce = bits & 1;
                                        par.overlap_param_gather = bits & 2;
                                        par.tp_comm_overlap = bits & 4;
                                        par.ep_comm_overlap = bits & 8;
                                        plan.order = order;
                                        if (!permits(o.overlap_grad_reduce, par.overlap_grad_reduce) ||
                                            !permits(o.overlap_param_gather, par.overlap_param_gather) ||
                                            !permits(o.tp_comm_overlap, par.tp_comm_overlap) ||
                                            !permits(o.ep_comm_overlap, par.ep_comm_overlap) || !source.runs(par, order))
                                          continue;
                                        ++res.plans;
                                        res.declared.insert(key(par, order, true));
                                        // The source's validity rules, on the even split where there is one
                                        // (the split rules are the reference's own).
                                        plan.blocks_per_stage = even_split(L, pp, v);
                                        if (L % (pp * v) == 0 && !source.check(plan).empty()) {
                                          ++res.rejected;
                                          continue;
                                        }
                                        const SliceCosts costs = source.slice_costs(par, order);
                                        if (auto best = best_split(source, plan, costs)) {
                                          if (!source.check(best->plan).empty()) {
                                            ++res.rejected;
                                            continue;
                                          }
                                          res.best_of.emplace(key(par, order, true), *best);
                                          res.ep_over_tp += par.dp % par.ep != 0;
                                          res.ep_overlapped += par.ep_comm_overlap;
                                        }
                                      }
                }
        }
      }
  return res;
}

}  // namespace nest::test::reference
