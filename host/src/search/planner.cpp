#include "nest/search/planner.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <unistd.h>

#include <omp.h>

#include "nest/core/parallel_errors.hpp"
#include "nest/core/error.hpp"
#include "nest/cost/placement.hpp"
#include "nest/cost/schedule.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/text.hpp"
#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/kernels/dp/general.hpp"
#include "nest/kernels/dp/interleaved.hpp"
#include "nest/kernels/dp/uniform_tables.hpp"
#include "nest/search/backend.hpp"

namespace nest {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int virtual_of(const Parallelism& p) { return p.schedule == Schedule::Interleaved ? p.virtual_stages : 1; }

// Ties: the K best are the K smallest (value, slice index), the one rule whatever the thread
// count or backend (docs/solver.md §8). To keep it whatever order slices finish in, a slice whose
// value could equal the K-th best is never pruned: the lower bound prunes only when strictly
// above the K-th value, a plan enters when at most equal to it, and the DP prunes splits only
// above the K-th value plus kTieSlack (its own objective may differ from the evaluator's value in
// the last digits; the exactness tests hold them within 1e-9).
constexpr double kTieSlack = 1e-6;
double dp_bound(double kth) { return std::isfinite(kth) ? kth * (1 + kTieSlack) : kth; }

SliceResult evaluate_one(const SliceCosts& sc, const std::vector<int>& blocks) {
  SliceResult r;
  const SplitEval ev = evaluate_split(sc, layout_stages(blocks, sc.ctx.v));
  for (const StageEval& st : ev.stages)
    if (st.memory > sc.ctx.memory_capacity) return r;
  r.feasible = true;
  r.value = ev.step_time;
  r.dp_value = ev.step_time;
  r.blocks_per_stage = blocks;
  return r;
}

// A DP's split, valued by the evaluator (which must find it feasible: the DP checked memory
// with the same formulas).
SliceResult valued_split(const SliceCosts& sc, const std::vector<int>& blocks, double dp_objective, long long cells,
                         const char* which) {
  SliceResult e = evaluate_one(sc, blocks);
  if (!e.feasible) throw_runtime(std::string(which) + " DP returned a split the evaluator finds out of memory");
  e.dp_value = dp_objective;
  e.cells = cells;
  e.solved = true;
  return e;
}

// The split the uniform DP found for `in`, checked and valued by the evaluator.
SliceResult finish_uniform(const SliceCosts& sc, const kernels::dp::UniformSliceInput& in, const kernels::dp::UniformResult& r,
                           const std::vector<int>& units) {
  SliceResult out;
  out.solved = true;
  out.cells = r.checks;
  if (r.status != 1) return out;
  std::vector<int> blocks(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) blocks[i] = units[i] * sc.ctx.v;
  blocks.front() -= in.first_lack;
  blocks.back() -= in.last_lack;
  return valued_split(sc, blocks, r.objective, r.checks, "uniform");
}

// The better of two results: feasible first, then the smaller value; cells add up.
void keep_better(SliceResult& best, const SliceResult& r) {
  const long long cells = best.cells + r.cells;
  if (r.feasible && (!best.feasible || r.value < best.value)) best = r;
  best.cells = cells;
  best.solved = best.solved || r.solved;
}

// Interleaved peak moments of an edge position as (total passes, edge-chunk passes).
int edge_moments(const kernels::SliceContext& c, int i, int edge_chunk, double edge_bytes, int (*out)[2]) {
  const auto front = interleaved_edge_front(c.p, c.v, c.m, i, edge_chunk, edge_bytes < 0 ? -1 : 1, c.torch_order, c.extra_warmup);
  if (front.size() > static_cast<std::size_t>(kernels::dp::kMaxMoments))
    throw_runtime("interleaved schedule with more peak moments than the DP supports");
  for (std::size_t x = 0; x < front.size(); ++x) {
    out[x][0] = front[x].first;
    out[x][1] = front[x].second;
  }
  return static_cast<int>(front.size());
}

// The uniform DP's input without the edge positions' peak moments, which only its memory caps
// read (uniform_lower_bound does without them): choices pruned by that bound skip the
// schedule's replay.
kernels::dp::UniformSliceInput uniform_input_costs(const SliceCosts& sc, int L, std::pair<int, int> lack) {
  kernels::dp::UniformSliceInput in;
  in.emb = sc.layers.front().cost;
  in.block = sc.layers[1].cost;
  in.head = sc.layers.back().cost;
  in.ctx = sc.ctx;
  in.blocks = L;
  in.first_lack = lack.first;
  in.last_lack = lack.second;
  return in;
}

void add_edge_moments(kernels::dp::UniformSliceInput& in) {
  const kernels::SliceContext& c = in.ctx;
  if (c.v > 1) {
    // The edge chunk's bytes beyond its blocks' (uniform_memory): the sign picks the front.
    in.n_first = edge_moments(c, 0, 0, kernels::dp::uniform_edge_act_bytes(in, true), in.first_moments);
    in.n_last = edge_moments(c, c.p - 1, c.v - 1, kernels::dp::uniform_edge_act_bytes(in, false), in.last_moments);
  }
}

}  // namespace

kernels::dp::UniformSliceInput uniform_input(const SliceCosts& sc, int L, std::pair<int, int> lack) {
  kernels::dp::UniformSliceInput in = uniform_input_costs(sc, L, lack);
  add_edge_moments(in);
  return in;
}

namespace {

SliceResult solve_uniform_slice(const SliceCosts& sc, int L, std::pair<int, int> lack, double bound, bool* shape_ok) {
  kernels::dp::UniformSliceInput in = uniform_input_costs(sc, L, lack);
  *shape_ok = true;
  if (kernels::dp::uniform_lower_bound(in) >= bound) {  // no split of this choice beats the bound
    SliceResult none;
    none.solved = true;
    return none;
  }
  add_edge_moments(in);
  std::vector<int> k(static_cast<std::size_t>(in.ctx.p));
  const kernels::dp::UniformResult r = kernels::cpu::solve_uniform_input(in, bound, k.data());
  *shape_ok = r.status != 2;
  SliceResult out = finish_uniform(sc, in, r, k);
  out.cells += kernels::dp::uniform_cells(kernels::dp::uniform_units(in));
  return out;
}

}  // namespace

void append_general_input(const SliceCosts& sc, kernels::dp::GeneralBatch& batch) {
  const kernels::SliceContext& c = sc.ctx;
  kernels::dp::GeneralSliceInput in;
  in.p = c.p;
  in.N = static_cast<int>(sc.layers.size());
  // One send per network level and cut, for the levels some boundary crosses.
  in.levels = std::max(1, c.net.num_levels);
  in.c = c.m - 1.0;
  in.capacity = c.memory_capacity;
  in.tables = static_cast<long long>(batch.d.size());
  in.ints = static_cast<long long>(batch.i.size());
  const int N = in.N, W = N + 1, p = in.p;
  const std::size_t WW = static_cast<std::size_t>(W) * static_cast<std::size_t>(W);
  batch.d.resize(batch.d.size() + static_cast<std::size_t>(kernels::dp::general_table_doubles(in)), 0.0);
  batch.i.resize(batch.i.size() + static_cast<std::size_t>(kernels::dp::general_table_ints(in)), 0);
  double* base = batch.d.data() + in.tables;
  double *tail = base + WW, *smem = base + 2 * WW, *act = base + 3 * WW, *send = base + 4 * WW;
  int* boundary_level = batch.i.data() + in.ints;
  int* inflight = boundary_level + p;
  std::vector<char> filled(static_cast<std::size_t>(in.levels), 0);
  double* position_bytes = send + static_cast<std::size_t>(in.levels) * W;
  for (int i = 0; i < p; ++i) {
    inflight[i] = kernels::inflight_microbatches_1f1b(p, c.m, i, c.extra_warmup);
    position_bytes[i] = kernels::pipeline_runtime_bytes(c, i, inflight[i]) * (1 + c.allocator_overhead);
  }
  for (int i = 0; i + 1 < p; ++i) {
    const int l = kernels::pp_boundary_level(c.pp, i);
    boundary_level[i] = l;
    if (filled[static_cast<std::size_t>(l)]) continue;
    filled[static_cast<std::size_t>(l)] = 1;
    for (int j = 1; j < N; ++j)
      send[static_cast<std::size_t>(l * W + j)] = kernels::send_time(c.net, l, sc.layers[static_cast<std::size_t>(j - 1)].cost);
  }
  for (const auto& l : sc.layers) in.s_lb += l.cost.fwd + l.cost.bwd;
  for (int a = 0; a < N; ++a) {
    kernels::StageSums s;
    for (int j = a + 1; j <= N; ++j) {
      kernels::accumulate(s, sc.layers[static_cast<std::size_t>(j - 1)].cost);
      const std::size_t x = static_cast<std::size_t>(a * W + j);
      base[x] = s.fwd + s.bwd;
      tail[x] = kernels::stage_tail(c, s, a == 0);  // a stage from layer 0 is the first
      smem[x] = kernels::stage_memory(c, s, 0);
      act[x] = s.act_bytes * (1 + c.allocator_overhead);  // in-flight activations, with the allocator's reserve
    }
  }
  batch.inputs.push_back(in);
}

namespace {

// The split general_solve_slice found for `sc` (stage starts), checked and valued by the evaluator.
SliceResult finish_general(const SliceCosts& sc, const kernels::dp::GeneralResult& r, const std::vector<int>& starts) {
  SliceResult out;
  out.solved = true;
  out.cells = r.cells;
  if (r.status != 1) return out;
  const int p = static_cast<int>(starts.size()), N = static_cast<int>(sc.layers.size());
  std::vector<int> blocks(static_cast<std::size_t>(p));
  for (int i = 0; i < p; ++i) {
    const int a = starts[static_cast<std::size_t>(i)];
    const int j = i + 1 < p ? starts[static_cast<std::size_t>(i + 1)] : N;
    blocks[static_cast<std::size_t>(i)] = (j - a) - (i == 0 ? 1 : 0) - (i == p - 1 ? 1 : 0);
  }
  return valued_split(sc, blocks, r.objective, r.cells, "general");
}

// The split the interleaved DP found for one choice of lacking edge chunks, valued by the
// evaluator.
SliceResult finish_interleaved(const SliceCosts& sc, std::pair<int, int> lack, const kernels::dp::InterleavedResult& r,
                               const std::vector<int>& units) {
  SliceResult out;
  out.solved = true;
  out.cells = r.cells;
  if (r.status != 1) return out;
  std::vector<int> blocks(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) blocks[i] = units[i] * sc.ctx.v;
  blocks.front() -= lack.first;
  blocks.back() -= lack.second;
  return valued_split(sc, blocks, r.objective, r.cells, "interleaved");
}

}  // namespace

SliceResult solve_slice_general(const SliceCosts& sc, double bound) {
  // The serial path: the one slice's batch, solved here by the body every backend runs.
  kernels::dp::GeneralBatch batch;
  append_general_input(sc, batch);
  std::vector<int> starts(static_cast<std::size_t>(batch.inputs.front().p));
  return finish_general(sc, kernels::cpu::solve_general_input(batch, 0, bound, starts.data()), starts);
}

bool append_interleaved_input(const SliceCosts& sc, int L, std::pair<int, int> lack, kernels::dp::InterleavedBatch& batch) {
  const kernels::SliceContext& ctx = sc.ctx;
  const int p = ctx.p, v = ctx.v, fl = lack.first, ll = lack.second;
  const int N = static_cast<int>(sc.layers.size());
  if (N != L + 2) throw_runtime("interleaved DP: slice costs are not the embedding, the blocks and the head");
  if ((L + fl + ll) % v != 0) throw_runtime("interleaved DP: the lacking edge blocks leave chunks unequal");
  kernels::dp::InterleavedSlice x;
  x.p = p;
  x.K = (L + fl + ll) / v;
  x.v = v;
  x.c = ctx.m - 1.0 / v;
  x.w = kernels::fill_flush_transit(ctx, sc.layers.front().cost);
  x.first_min = std::max(1, fl);
  x.last_min = std::max(1, ll);
  if (x.K < kernels::dp::interleaved_min_after(x, 0)) return false;  // some stage would hold too few units
  const int K = x.K;
  // Unit u of the rounds (0 .. v K - 1): the embedding (node 0) stands in for the first fl
  // units (the blocks the first chunk lacks), the head (node L + 1) for the last ll; the others
  // are blocks, node u + 1 - fl. A stand-in counts once, at its first unit (`counts`).
  auto node = [&](int u) { return u < fl ? 0 : (u >= v * K - ll ? L + 1 : u + 1 - fl); };
  auto counts = [&](int u) { return (u >= fl || u == 0) && (u < v * K - ll || u == v * K - ll); };
  // The tables go straight into the batch's arrays (interleaved_batch.hpp: time, tail; fits).
  kernels::dp::InterleavedSliceInput in = kernels::dp::interleaved_input(x);
  in.tables = static_cast<long long>(batch.d.size());
  in.ints = static_cast<long long>(batch.i.size());
  const std::size_t slots = static_cast<std::size_t>(kernels::dp::islots(x));
  batch.d.resize(batch.d.size() + 2 * slots, 0.0);
  batch.i.resize(batch.i.size() + slots, 0);
  double* time = batch.d.data() + in.tables;
  double* tail = time + slots;
  int* fits = batch.i.data() + in.ints;
  const int wrap_level = kernels::pp_boundary_level(ctx.pp, p - 1);
  std::vector<double> chunk_act(static_cast<std::size_t>(v)), act(static_cast<std::size_t>(v));
  for (int i = 0; i < p; ++i) {
    const auto& moments = interleaved_peak_moments(p, v, ctx.m, i, ctx.torch_order, ctx.extra_warmup);
    const double runtime = kernels::pipeline_runtime_bytes(
        ctx, i, kernels::interleaved_inflight_passes(p, v, ctx.m, i, ctx.torch_order, ctx.extra_warmup));
    const int out_level = kernels::pp_boundary_level(ctx.pp, i);  // boundary i; i = p-1: the wrap
    const int in_level = i > 0 ? kernels::pp_boundary_level(ctx.pp, i - 1) : wrap_level;
    int s_lo, s_hi;
    kernels::dp::interleaved_ranges(x, i, s_lo, s_hi);
    for (int s = s_lo; s <= s_hi; ++s) {
      kernels::StageSums sums;
      std::fill(chunk_act.begin(), chunk_act.end(), 0.0);
      // The embedding joins chunk 0 of stage 0 when it stands for no block.
      if (i == 0 && fl == 0) {
        kernels::accumulate(sums, sc.layers.front().cost);
        chunk_act[0] += sc.layers.front().cost.act_bytes;
      }
      // Receives: each chunk's backward send of the cut before its first node (not the
      // embedding's chunk), across the boundary from the stage before it (the wrap for stage 0).
      double recv = 0;
      for (int k = 0; k < v; ++k) {
        if (k == 0 && i == 0) continue;
        const int first = node(k * K + s);
        recv += kernels::send_time(ctx.net, k > 0 && i == 0 ? wrap_level : in_level,
                                   sc.layers[static_cast<std::size_t>(first - 1)].cost);
      }
      const int c_hi = kernels::dp::interleaved_max_units(x, i, s);
      for (int c = 1; c <= c_hi; ++c) {
        for (int k = 0; k < v; ++k) {
          const int u = k * K + s + c - 1;
          if (!counts(u)) continue;
          const kernels::LayerCost& lc = sc.layers[static_cast<std::size_t>(node(u))].cost;
          kernels::accumulate(sums, lc);
          chunk_act[static_cast<std::size_t>(k)] += lc.act_bytes;
        }
        if (i == p - 1 && c != c_hi) continue;  // the last stage ends at unit K
        if (c < kernels::dp::interleaved_min_units(x, i)) continue;
        kernels::StageSums st = sums;
        act = chunk_act;              // no allocation: the same size every cell
        if (i == p - 1 && ll == 0) {  // the head joins the last chunk
          kernels::accumulate(st, sc.layers.back().cost);
          act[static_cast<std::size_t>(v - 1)] += sc.layers.back().cost.act_bytes;
        }
        // Sends: each chunk's forward send of the cut after its last node (not the head's chunk),
        // across boundary i.
        double p2p = recv;
        for (int k = 0; k < v; ++k) {
          if (k == v - 1 && i == p - 1) continue;
          p2p += kernels::send_time(ctx.net, out_level, sc.layers[static_cast<std::size_t>(node(k * K + s + c - 1))].cost);
        }
        double inflight = 0;
        for (const std::vector<int>& live : moments) {
          double b = 0;
          for (int k = 0; k < v; ++k) b += live[static_cast<std::size_t>(k)] * act[static_cast<std::size_t>(k)];
          inflight = std::max(inflight, b);
        }
        const std::size_t slot = static_cast<std::size_t>(kernels::dp::islot(x, i, s, c));
        time[slot] = kernels::stage_time(st, p2p);
        tail[slot] = kernels::stage_tail(ctx, st, i == 0);
        fits[slot] = kernels::stage_memory(ctx, st, inflight + runtime) <= ctx.memory_capacity ? 1 : 0;
      }
    }
  }
  batch.inputs.push_back(in);
  return true;
}

SliceResult solve_slice_interleaved(const SliceCosts& sc, int L, std::pair<int, int> lack, double bound) {
  // The serial path: the one input's batch, solved here by the body every backend runs.
  SliceResult out;
  out.solved = true;
  kernels::dp::InterleavedBatch batch;
  if (!append_interleaved_input(sc, L, lack, batch)) return out;
  std::vector<int> units(static_cast<std::size_t>(sc.ctx.p));
  return finish_interleaved(sc, lack, kernels::cpu::solve_interleaved_input(batch, 0, bound, units.data()), units);
}

SliceResult solve_slice_dp(const CostSource& source, const SliceSpec& spec, double bound) {
  return solve_slice_dp(source, spec, source.slice_costs(spec.par, spec.order), bound);
}

SliceResult solve_slice_dp(const CostSource& source, const SliceSpec& spec, const SliceCosts& sc, double bound) {
  const int L = source.num_blocks();
  const int p = spec.par.pp, v = virtual_of(spec.par);
  if (p == 1) {
    SliceResult r = evaluate_one(sc, {L});
    r.solved = true;
    return r;
  }
  if (v == 1 && !source.uniform_blocks()) return solve_slice_general(sc, bound);
  // One DP per choice of lacking edge chunks (one choice under 1F1B), the best kept; each prunes
  // against the best so far as well as the caller's bound. Identical blocks: the uniform DP, and
  // where its shape checks fail the interleaved DP (1F1B: the general DP, over every choice at
  // once); differing blocks: the interleaved DP.
  SliceResult best;
  best.solved = true;
  for (const std::pair<int, int>& lack : edge_deficit_choices(L, v, source.max_edge_lack())) {
    const double b = best.feasible ? std::min(bound, dp_bound(best.value)) : bound;
    if (!source.uniform_blocks()) {
      keep_better(best, solve_slice_interleaved(sc, L, lack, b));
      continue;
    }
    bool shape_ok = true;
    SliceResult r = solve_uniform_slice(sc, L, lack, b, &shape_ok);
    if (!shape_ok) {
      if (v == 1) return solve_slice_general(sc, bound);
      r = solve_slice_interleaved(sc, L, lack, b);
    }
    keep_better(best, r);
  }
  return best;
}

SliceResult solve_slice_exhaustive(const CostSource& source, const SliceSpec& spec, long long* splits) {
  return solve_slice_exhaustive(source, spec, source.slice_costs(spec.par, spec.order), splits);
}

SliceResult solve_slice_exhaustive(const CostSource& source, const SliceSpec& spec, const SliceCosts& sc, long long* splits) {
  SliceResult best;
  best.solved = true;
  for_each_split(source.num_blocks(), spec.par.pp, virtual_of(spec.par), source.max_edge_lack(),
                 [&](const std::vector<int>& blocks) {
                   ++*splits;
                   const SliceResult r = evaluate_one(sc, blocks);
                   if (r.feasible && (!best.feasible || r.value < best.value)) best = r;
                 });
  best.solved = true;
  return best;
}

namespace {

class TopK {
 public:
  explicit TopK(int k) : k_(std::max(1, k)) {}
  // The K-th best value so far (+inf until K plans are in).
  double bound() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(items_.size()) < k_ ? kInf : items_.back().value;
  }
  void offer(const RankedPlan& r) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.push_back(r);
    std::sort(items_.begin(), items_.end(), [](const RankedPlan& a, const RankedPlan& b) {
      return a.value != b.value ? a.value < b.value : a.slice_index < b.slice_index;
    });
    if (static_cast<int>(items_.size()) > k_) items_.pop_back();
  }
  std::vector<RankedPlan> items() const { return items_; }

 private:
  int k_;
  mutable std::mutex mu_;
  std::vector<RankedPlan> items_;
};

class Progress {
 public:
  Progress(bool on, std::string label)
      : on_(on && isatty(2)), label_(label.empty() ? "searching" : std::move(label)), start_(std::chrono::steady_clock::now()) {}
  void update(long long done, long long total, double best) {
    if (!on_) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (t - last_ < 0.2 && done != total) return;
    last_ = t;
    // total < 0: the space is searched in parts and its size is known at the last one
    const std::string of = total >= 0 ? "/" + std::to_string(total) : "";
    std::fprintf(stderr, "\r%s: %lld%s slices  best %s  %.1f s ", label_.c_str(), done, of.c_str(),
                 std::isfinite(best) ? format_duration(best).c_str() : "-", t);
    std::fflush(stderr);
  }
  ~Progress() {
    if (on_) std::fprintf(stderr, "\r%*s\r", static_cast<int>(label_.size()) + 80, "");
  }

 private:
  bool on_;
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  double last_ = -1;
};

}  // namespace

SearchResult search_plans(const CostSource& source, const PlannerOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  SearchResult res;
  const bool cached = opt.space_cache && !opt.space_key.empty() && !opt.space.keep;
  const BackendChoice backend = opt.method == SearchMethod::Dp ? choose_backend(opt.backend) : BackendChoice{};
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  // The space with its lower-bound batch (for the DP): neither reads a link speed, so a sweep's
  // points that differ only in those share both, and when the space is cached the bounds of
  // every point that shares it, made in one backend call.
  const auto enumerate = [&] {
    if (opt.method != SearchMethod::Dp) return enumerate_slices(source, opt.space, opt.threads);
    // A space of more than one part is not held (SearchSpace::in_parts): a search of it takes it
    // a part at a time, as one without a cache does.
    SliceEnumeration whole(source, opt.space, opt.threads);
    SearchSpace s = whole.next(opt.slices_per_part, opt.combos_per_block);
    if (!whole.done()) {
      SearchSpace marker;
      marker.in_parts = true;
      return marker;
    }
    s.bounds = source.bound_batch(s, threads);
    if (cached && opt.space_points) {
      std::vector<kernels::dp::BoundPointTables> tables;
      for (SpacePoint& p : opt.space_points(s)) {
        s.point_ids.push_back(p.id);
        tables.push_back(std::move(p.tables));
      }
      if (!tables.empty())
        s.point_bounds = make_dp_backend(backend, threads, static_cast<std::size_t>(opt.gpu_memory_limit))
                             ->lower_bounds(*s.bounds, tables, nullptr);
    }
    return s;
  };
  res.stats.method = opt.method == SearchMethod::Dp ? "dp" : "exhaustive";
  res.stats.backend = backend.name;
  res.stats.backend_note = backend.note;
  res.stats.device = backend.device;
  res.stats.threads = threads;
  TopK top(opt.top_k);
  Progress progress(opt.progress, opt.progress_label);
  std::atomic<long long> cells{0}, solved{0}, splits{0}, done{0};
  std::optional<Closest> closest;
  ParallelErrors errors;
  std::unique_ptr<kernels::dp::DpBackend> own_backend;
  kernels::dp::DpBackend* dp = opt.dp_backend;
  if (opt.method == SearchMethod::Dp && !dp) {
    own_backend = make_dp_backend(backend, threads, static_cast<std::size_t>(opt.gpu_memory_limit));
    dp = own_backend.get();
  }
  // Searches one part of the space: its slices are the space's slices base .. base + size, so
  // that plans keep their place in the whole space's order (ties go to the earlier slice) and
  // the result does not depend on where the parts end.
  auto search_part = [&](const SearchSpace& space, std::size_t base, long long total) {
    const std::vector<SliceSpec>& specs = space.slices;
    auto costs_of = [&](const SliceSpec& s) {
      return source.slice_costs(s.par, space.placements[static_cast<std::size_t>(s.placement)]);
    };
    const long long n = static_cast<long long>(specs.size());
    if (opt.method == SearchMethod::Exhaustive) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (long long i = 0; i < n; ++i)
        errors.run([&] {
          long long local_splits = 0;
          const SliceSpec& spec = specs[static_cast<std::size_t>(i)];
          const SliceResult r = solve_slice_exhaustive(source, spec, costs_of(spec), &local_splits);
          splits += local_splits;
          ++solved;
          if (r.feasible) {
            RankedPlan rp;
            rp.plan.par = specs[static_cast<std::size_t>(i)].par;
            rp.plan.order = specs[static_cast<std::size_t>(i)].order;
            rp.plan.blocks_per_stage = r.blocks_per_stage;
            rp.value = rp.dp_value = r.value;
            rp.slice_index = base + static_cast<std::size_t>(i);
            top.offer(rp);
          }
          if (omp_get_thread_num() == 0)
            progress.update(++done, total, top.bound());
          else
            ++done;
        });
      errors.rethrow();
    } else {
      // Lower bounds first, then solve in increasing order of bound until the K-th best beats
      // every remaining bound.
      // Every slice's bound: made with the space for this point (several points per call), or
      // here on the backend (one job per distinct set of layer costs).
      const kernels::dp::SliceBounds* made = nullptr;
      for (std::size_t k = 0; k < space.point_ids.size(); ++k)
        if (space.point_ids[k] == opt.point) made = &space.point_bounds[k];
      std::vector<kernels::dp::SliceBounds> own;
      std::vector<unsigned char> relaxed;  // BoundBatch::relaxed
      if (made) relaxed = space.bounds->relaxed;
      if (!made) {
        std::optional<kernels::dp::BoundBatch> batch;  // a space made by a search without one (none in nest's own uses)
        const kernels::dp::BoundBatch& inputs = space.bounds ? *space.bounds : batch.emplace(source.bound_batch(space, threads));
        relaxed = inputs.relaxed;
        kernels::dp::BackendStats bound_stats;
        own = dp->lower_bounds(inputs, {source.bound_point_tables(space)}, &bound_stats);
        res.stats.gpu_seconds += bound_stats.device_seconds;
        made = &own.front();
      }
      const kernels::dp::SliceBounds& bounds = *made;
      const std::vector<double>& lb = bounds.bound;
      // Whether slice i's bound can still beat the K-th best `bound`; a relaxed bound that can is
      // made exact first (the slice's own summary: a few microseconds, for the few slices taken).
      auto can_beat = [&](std::size_t i, double bound) {
        if (lb[i] > bound) return false;
        if (relaxed.empty() || !relaxed[i]) return true;
        const Placement& placement = space.placements[static_cast<std::size_t>(specs[i].placement)];
        const SliceSummary sum = source.slice_summary(specs[i].par, placement);
        bool hopeless = false;
        const kernels::CommContext comm = comm_context(sum.ctx.net, placement);
        const double exact = kernels::dp::slice_lower_bound(sum, kernels::dp::slice_bound_input(sum.ctx, 0), &comm, &hopeless);
        return !hopeless && exact <= bound;
      };
      // Slices are taken in increasing order of bound, ties in slice order, a chunk at a time; the
      // search usually stops after a few chunks, so each chunk is selected in linear time
      // (nth_element) instead of sorting all of them. The bound sits beside its slice so that the
      // selection reads memory in order (through an index it was a tenth of a sweep point).
      struct Ranked {
        double bound;
        std::size_t slice;
        bool operator<(const Ranked& o) const { return bound != o.bound ? bound < o.bound : slice < o.slice; }
      };
      std::vector<Ranked> order;
      for (std::size_t i = 0; i < specs.size(); ++i)
        if (!bounds.hopeless[i]) order.push_back({lb[i], i});
      auto offer = [&](std::size_t i, const SliceResult& r) {
        if (r.feasible && r.value <= top.bound()) {
          RankedPlan rp;
          rp.plan.par = specs[i].par;
          rp.plan.order = specs[i].order;
          rp.plan.blocks_per_stage = r.blocks_per_stage;
          rp.value = r.value;
          rp.dp_value = r.dp_value;
          rp.slice_index = base + i;
          top.offer(rp);
        }
      };
      // Slices the backend takes: pipelines of identical blocks (uniform DP), 1F1B pipelines of
      // any layer sequence (general DP), pp = 1 (one split, valued) and, on a device, interleaved
      // stacks of differing blocks (the interleaved DP, its tables built here from host schedule
      // code).
      auto uniform_kind = [&](std::size_t i) { return source.uniform_blocks() && specs[i].par.pp >= 2; };
      auto general_kind = [&](std::size_t i) {
        return !source.uniform_blocks() && specs[i].par.pp >= 2 && virtual_of(specs[i].par) == 1;
      };
      auto single_kind = [&](std::size_t i) { return specs[i].par.pp == 1; };
      // Interleaved stacks of differing blocks go to the backend on a device; on the CPU threads
      // they are solved slice by slice (solve_slice_dp: the same body through the same one-input
      // batch), each choice of lacking edge chunks pruning against the tightest bound and no table
      // copied into a shared batch: DeepSeek-V3 on 2,048 H100s took 10.8 s batched, 8.6 s so.
      auto interleaved_kind = [&](std::size_t i) {
        return backend.cuda && !source.uniform_blocks() && specs[i].par.pp >= 2 && virtual_of(specs[i].par) > 1;
      };
      auto to_backend = [&](std::size_t i) {
        return uniform_kind(i) || general_kind(i) || single_kind(i) || interleaved_kind(i);
      };
      // Solves the slices order[from, to) the backend takes whose bound can still beat the K-th
      // best: a batch of inputs, then the best input of each slice offered.
      auto solve_batch = [&](std::size_t from, std::size_t to) {
        const double bound = top.bound();
        std::vector<std::size_t> slice_of;
        std::vector<std::pair<int, int>> lacks;
        std::vector<std::size_t> uniform_slices, general_slices, single_slices, interleaved_slices;
        for (std::size_t x = from; x < to; ++x) {
          const std::size_t i = order[x].slice;
          if (!to_backend(i) || !can_beat(i, bound)) continue;
          (interleaved_kind(i) ? interleaved_slices
           : general_kind(i)   ? general_slices
           : single_kind(i)    ? single_slices
                               : uniform_slices)
              .push_back(i);
        }
        // Each kind's inputs in slice order: a backend returns the K best of its inputs with ties
        // in input order (sort.hpp), and the search breaks ties by slice index (TopK), so of
        // equal values the earlier slice must come first whatever its lower bound.
        for (std::vector<std::size_t>* v : {&uniform_slices, &general_slices, &single_slices, &interleaved_slices})
          std::sort(v->begin(), v->end());
        for (const std::size_t i : uniform_slices)
          for (const auto& lack : edge_deficit_choices(source.num_blocks(), virtual_of(specs[i].par), source.max_edge_lack())) {
            slice_of.push_back(i);
            lacks.push_back(lack);
          }
        // The slices' costs on the CPU threads (the backend's inputs are built from them).
        auto costs_in_parallel = [&](const std::vector<std::size_t>& slices) {
          std::vector<SliceCosts> out(slices.size());
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) if (slices.size() >= 8)
          for (std::size_t x = 0; x < slices.size(); ++x) errors.run([&] { out[x] = costs_of(specs[slices[x]]); });
          errors.rethrow();
          return out;
        };
        if (!single_slices.empty()) {
          const std::vector<SliceCosts> costs = costs_in_parallel(single_slices);
          std::vector<kernels::dp::SingleStageInput> inputs(single_slices.size());
          for (std::size_t x = 0; x < single_slices.size(); ++x) {
            inputs[x].ctx = costs[x].ctx;
            for (const auto& l : costs[x].layers) kernels::accumulate(inputs[x].sums, l.cost);  // the evaluator's order
          }
          kernels::dp::BackendStats bs;
          const auto found =
              dp->solve_single_stage(inputs, kernels::dp::Segments::one(inputs.size(), dp_bound(bound), opt.top_k), &bs);
          res.stats.gpu_seconds += bs.device_seconds;
          solved += static_cast<long long>(single_slices.size());
          for (const auto& f : found) {
            const std::size_t i = single_slices[static_cast<std::size_t>(f.input)];
            offer(i, valued_split(costs_of(specs[i]), {source.num_blocks()}, f.result.objective, 0, "single-stage"));
          }
        }
        if (!general_slices.empty()) {
          kernels::dp::GeneralBatch batch;
          for (const SliceCosts& sc : costs_in_parallel(general_slices)) append_general_input(sc, batch);
          kernels::dp::BackendStats bs;
          const auto found =
              dp->solve_general(batch, kernels::dp::Segments::one(batch.inputs.size(), dp_bound(bound), opt.top_k), &bs);
          cells += bs.cells;
          res.stats.gpu_seconds += bs.device_seconds;
          solved += static_cast<long long>(general_slices.size());
          for (const auto& f : found) {
            const std::size_t i = general_slices[static_cast<std::size_t>(f.input)];
            offer(i, finish_general(costs_of(specs[i]), f.result, f.starts));
          }
        }
        if (!interleaved_slices.empty()) {
          // One input per slice and choice of lacking edge chunks, built on the CPU threads into
          // per-slice batches, then laid end to end.
          std::vector<kernels::dp::InterleavedBatch> per(interleaved_slices.size());
          std::vector<std::vector<std::pair<int, int>>> per_lacks(interleaved_slices.size());
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) if (interleaved_slices.size() >= 8)
          for (std::size_t x = 0; x < interleaved_slices.size(); ++x)
            errors.run([&] {
              const std::size_t i = interleaved_slices[x];
              const SliceCosts sc = costs_of(specs[i]);
              for (const auto& lack : edge_deficit_choices(source.num_blocks(), virtual_of(specs[i].par), source.max_edge_lack()))
                if (append_interleaved_input(sc, source.num_blocks(), lack, per[x])) per_lacks[x].push_back(lack);
            });
          errors.rethrow();
          kernels::dp::InterleavedBatch batch;
          std::vector<std::size_t> input_slice;
          std::vector<std::pair<int, int>> input_lack;
          int per_slice = 1;
          for (std::size_t x = 0; x < per.size(); ++x) {
            kernels::dp::append_batch(batch, per[x]);
            for (const auto& lack : per_lacks[x]) {
              input_slice.push_back(interleaved_slices[x]);
              input_lack.push_back(lack);
            }
            per_slice = std::max(per_slice, static_cast<int>(per_lacks[x].size()));
          }
          solved += static_cast<long long>(interleaved_slices.size());
          if (!batch.inputs.empty()) {
            kernels::dp::BackendStats bs;
            // A slice has at most per_slice inputs, so the per_slice K best hold the K best slices.
            const auto found = dp->solve_interleaved(
                batch, kernels::dp::Segments::one(batch.inputs.size(), dp_bound(bound), per_slice * opt.top_k), &bs);
            cells += bs.cells;
            res.stats.gpu_seconds += bs.device_seconds;
            std::map<std::size_t, SliceResult> best_of;
            for (const auto& f : found) {
              const std::size_t x = static_cast<std::size_t>(f.input), i = input_slice[x];
              keep_better(best_of[i], finish_interleaved(costs_of(specs[i]), input_lack[x], f.result, f.units));
            }
            for (const auto& [i, r] : best_of) offer(i, r);
          }
        }
        if (slice_of.empty()) return;
        // One compact cost table per slice (the embedding, a block and the head), shared by its
        // one or two inputs, which are adjacent.
        std::vector<std::size_t> distinct, table_of(slice_of.size());
        for (std::size_t x = 0; x < slice_of.size(); ++x) {
          if (x == 0 || slice_of[x] != slice_of[x - 1]) distinct.push_back(slice_of[x]);
          table_of[x] = distinct.size() - 1;
        }
        std::vector<SliceCosts> tables(distinct.size());
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (tables.size() >= 64)
        for (std::size_t d = 0; d < distinct.size(); ++d)
          errors.run([&] {
            const SliceSpec& s = specs[distinct[d]];
            tables[d] = source.uniform_slice_costs(s.par, space.placements[static_cast<std::size_t>(s.placement)]);
          });
        errors.rethrow();
        std::vector<kernels::dp::UniformSliceInput> inputs(slice_of.size());
        std::vector<char> beatable(slice_of.size());
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) if (inputs.size() >= 64)
        for (std::size_t x = 0; x < slice_of.size(); ++x)
          errors.run([&] {
            inputs[x] = uniform_input_costs(tables[table_of[x]], source.num_blocks(), lacks[x]);
            beatable[x] = kernels::dp::uniform_lower_bound(inputs[x]) < dp_bound(bound);
            if (beatable[x]) add_edge_moments(inputs[x]);
          });
        errors.rethrow();
        // Choices of lacking edge chunks whose lower bound cannot beat the K-th best are dropped
        // before their tables are built (long lacks force a large edge stage): exact, and on
        // llama3-70b most of the interleaved inputs.
        {
          std::size_t kept = 0;
          for (std::size_t x = 0; x < slice_of.size(); ++x)
            if (beatable[x]) {
              slice_of[kept] = slice_of[x];
              lacks[kept] = lacks[x];
              inputs[kept] = inputs[x];
              ++kept;
            }
          slice_of.resize(kept);
          lacks.resize(kept);
          inputs.resize(kept);
        }
        if (slice_of.empty()) return;
        kernels::dp::BackendStats bs;
        // A slice has one input per choice of lacking edge chunks (edge_deficit_choices, at most
        // v), so the n K best inputs hold the K best slices, n the most inputs of a slice.
        int per_slice = 1;
        for (std::size_t x = 0, run = 1; x < slice_of.size(); ++x) {
          run = x > 0 && slice_of[x] == slice_of[x - 1] ? run + 1 : 1;
          per_slice = std::max(per_slice, static_cast<int>(run));
        }
        const auto found =
            dp->solve_uniform(inputs, kernels::dp::Segments::one(inputs.size(), dp_bound(bound), per_slice * opt.top_k), &bs);
        cells += bs.cells;
        res.stats.gpu_seconds += bs.device_seconds;
        std::map<std::size_t, SliceResult> best_of;        // slice -> its best input's result
        for (std::size_t x = 0; x < slice_of.size(); ++x)  // a slice's inputs are adjacent
          if (x == 0 || slice_of[x] != slice_of[x - 1]) ++solved;
        for (const auto& f : found) {
          const std::size_t x = static_cast<std::size_t>(f.input), i = slice_of[x];
          const SliceCosts sc = costs_of(specs[i]);
          // status 2: the shape check failed; solve_slice_dp knows the fallback (general DP for
          // 1F1B, enumeration for interleaved).
          const SliceResult r = f.result.status == 2 ? solve_slice_dp(source, specs[i], sc, dp_bound(top.bound()))
                                                     : finish_uniform(sc, inputs[x], f.result, f.units);
          keep_better(best_of[i], r);
        }
        for (const auto& [i, r] : best_of) offer(i, r);
      };
      // In batches of the backend's size, each against the K-th best value so far: a GPU wants
      // thousands of slices per launch, CPU threads a few each so that the bound keeps tightening.
      auto solve_on_backend = [&](std::size_t from, std::size_t to) {
        const std::size_t size = static_cast<std::size_t>(std::max(1, dp->batch_size()));
        while (from < to) {
          std::size_t next = from, taken = 0;
          const double bound = top.bound();
          while (next < to && taken < size) {
            if (to_backend(order[next].slice) && order[next].bound <= bound) ++taken;
            ++next;
          }
          solve_batch(from, next);
          from = next;
        }
      };
      const std::size_t chunk = static_cast<std::size_t>(backend.cuda ? 8192 : std::max(256, 32 * threads));
      for (std::size_t start = 0; start < order.size(); start += chunk) {
        // Slices whose bound exceeds the K-th best can never be taken (it only falls), and they
        // all sort after every slice kept, so dropping them leaves every chunk as it was; without
        // this each chunk's nth_element ran over the whole rest of the space (7% of a sweep).
        if (start > 0) {
          const double now = top.bound();
          const auto rest = order.begin() + static_cast<std::ptrdiff_t>(start);
          order.erase(std::partition(rest, order.end(), [now](const Ranked& r) { return r.bound <= now; }), order.end());
          if (start >= order.size()) break;
        }
        const std::size_t end = std::min(order.size(), start + chunk);
        const auto first = order.begin() + static_cast<std::ptrdiff_t>(start);
        const auto last = order.begin() + static_cast<std::ptrdiff_t>(end);
        if (end < order.size()) std::nth_element(first, last, order.end());
        std::sort(first, last);
        if (order[start].bound > top.bound()) break;
        auto solve = [&](std::size_t x) {
          errors.run([&] {
            const std::size_t i = order[x].slice;
            if (to_backend(i)) return;
            const double bound = top.bound();
            if (!can_beat(i, bound)) return;
            const SliceResult r = solve_slice_dp(source, specs[i], costs_of(specs[i]), dp_bound(bound));
            cells += r.cells;
            if (r.solved) ++solved;
            offer(i, r);
          });
        };
        // The first K slices (the best bounds) first, on their own: they give the bound that
        // prunes the rest; then the backend's batch and, on the CPU threads, the slices it does
        // not take (a team only when two or more are left: on a busy machine a team can cost a
        // scheduler time slice, the barrier waiting for a preempted thread).
        std::size_t from = start;
        if (top.bound() == kInf) {
          from = std::min(end, start + static_cast<std::size_t>(std::max(1, opt.top_k)));
          solve_on_backend(start, from);
          for (std::size_t x = start; x < from; ++x) solve(x);
          errors.rethrow();
        }
        solve_on_backend(from, end);
        const double bound = top.bound();
        std::size_t live = 0;
        for (std::size_t x = from; x < end; ++x) live += !to_backend(order[x].slice) && order[x].bound <= bound ? 1 : 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (live >= 2)
        for (std::size_t x = from; x < end; ++x) solve(x);
        errors.rethrow();
        progress.update(static_cast<long long>(base) + static_cast<long long>(end) + (n - static_cast<long long>(order.size())),
                        total, top.bound());
      }
    }
    if (top.items().empty() && !specs.empty()) {
      // Nothing fits: report the slice whose fullest GPU overflows least under its even split.
      Closest best;
      bool have = false;
      for (const SliceSpec& s : specs) {
        const int v = virtual_of(s.par);
        Plan plan;
        plan.par = s.par;
        plan.order = s.order;
        plan.blocks_per_stage = even_split(source.num_blocks(), s.par.pp, v);
        if (!check_pipeline(plan.par, plan.blocks_per_stage, source.num_blocks(), source.torch_pipeline_schedule()).empty())
          continue;
        const SliceCosts sc = costs_of(s);
        const SplitEval ev = evaluate_split(sc, layout_stages(plan.blocks_per_stage, v));
        // the fullest stage decides; keep the plan whose fullest stage is least over
        double worst = -kInf;
        int worst_stage = 0;
        for (std::size_t i = 0; i < ev.stages.size(); ++i) {
          const double over = ev.stages[i].memory - sc.ctx.memory_capacity;
          if (over > worst) {
            worst = over;
            worst_stage = static_cast<int>(i);
          }
        }
        if (!have || worst < best.overflow_bytes) {
          best.plan = plan;
          best.overflow_bytes = worst;
          best.stage = worst_stage;
          have = true;
        }
      }
      if (have && (!closest || best.overflow_bytes < closest->overflow_bytes)) closest = best;
    }
  };

  // A part at a time (SliceEnumeration): a space of up to PlannerOptions::slices_per_part slices
  // is one part, a larger one is searched in parts of about that size (a slice with its bound
  // holds about 360 bytes), the K-th best carried from part to part.
  const auto search_in_parts = [&] {
    SliceEnumeration parts(source, opt.space, opt.threads);
    std::size_t base = 0;
    while (!parts.done()) {
      SearchSpace part = parts.next(opt.slices_per_part, opt.combos_per_block);
      if (part.slices.empty()) continue;  // the last combinations held none
      part.bounds = source.bound_batch(part, threads);
      const long long total = static_cast<long long>(base + part.slices.size());
      search_part(part, base, parts.done() ? total : -1);
      base += part.slices.size();
    }
    res.stats.slices = static_cast<long long>(base);
  };
  if (opt.method == SearchMethod::Dp && !cached) {
    search_in_parts();
  } else {
    const std::shared_ptr<const SearchSpace> space_ptr =
        cached ? opt.space_cache->get(opt.space_key, enumerate) : std::make_shared<const SearchSpace>(enumerate());
    if (space_ptr->in_parts) {
      search_in_parts();
    } else {
      res.stats.slices = static_cast<long long>(space_ptr->slices.size());
      search_part(*space_ptr, 0, res.stats.slices);
    }
  }
  res.top = top.items();
  res.stats.cells = cells;
  res.stats.slices_solved = solved;
  res.stats.splits = splits;
  res.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (res.top.empty() && closest) res.closest = *closest;
  return res;
}

}  // namespace nest
