// Builds a UniformSlice (uniform.hpp) from the three distinct layer costs of a slice with
// identical blocks: the embedding, a block and the head. Written once for the CPU and the GPU.
#pragma once

#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/dp/uniform.hpp"
#include "nest/kernels/stage.hpp"

namespace nest::kernels::dp {

inline constexpr int kMaxMoments = 32;

struct UniformSliceInput {
  LayerCost emb, block, head;
  SliceContext ctx;
  int blocks = 0;  // L
  // Interleaved schedule: 1 when the embedding's chunk (chunk 0 at position 0) or the head's
  // (chunk v-1 at position p-1) holds one block fewer than the stage's other chunks (plan.hpp,
  // edge_chunk_deficit); blocks + first_lack + last_lack is then a multiple of v.
  int first_lack = 0, last_lack = 0;
  // Interleaved schedule: the peak moments of positions 0 and p-1 as (passes in flight,
  // passes of the edge chunk: chunk 0 at position 0, chunk v-1 at position p-1), from
  // host/src/cost/schedule.cpp. Unused for 1F1B.
  int n_first = 0, n_last = 0;
  int first_moments[kMaxMoments][2] = {};
  int last_moments[kMaxMoments][2] = {};
};

// Scratch space a UniformSlice points into; sized by uniform_workspace_doubles/ints.
struct UniformWorkspace {
  double* d = nullptr;
  int* i = nullptr;
  long long* ll = nullptr;
};

NEST_HD_INLINE int uniform_units(const UniformSliceInput& in) { return (in.blocks + in.first_lack + in.last_lack) / in.ctx.v; }

// Blocks the class's stage holds with k units: k v, less the lacking block of its edge chunk.
NEST_HD_INLINE int uniform_stage_blocks(const UniformSliceInput& in, int cls, int k) {
  const int lack = cls == kFirst ? in.first_lack : (cls == kLast ? in.last_lack : 0);
  return k * in.ctx.v - lack;
}

// At most this many send groups among the middle positions: one per unordered pair of the
// levels a boundary can cross, and never more than the p - 2 positions.
NEST_HD_INLINE int uniform_max_groups(const UniformSliceInput& in) {
  const int n = max_of(1, in.ctx.pp.num_levels);
  return min_of(max_of(in.ctx.p - 2, 0), min_of(n * (n + 1) / 2, kMaxSendGroups));
}

// Workspace: doubles work[3][K+1], tail[3][K+1], B candidates [(2 + groups)(K+1)], R
// candidates [3(K+1)]; ints: caps by position, groups by position, sorted caps; long longs:
// prefix sums.
NEST_HD_INLINE int uniform_workspace_doubles(const UniformSliceInput& in) {
  return (6 + 2 + uniform_max_groups(in) + 3) * (uniform_units(in) + 1);
}
NEST_HD_INLINE int uniform_workspace_ints(const UniformSliceInput& in) { return 3 * in.ctx.p; }
NEST_HD_INLINE int uniform_workspace_lls(const UniformSliceInput& in) { return in.ctx.p + 1; }

// n copies of a layer's cost: additive fields times n, the working set unchanged (it is a max).
NEST_HD_INLINE StageSums scaled_sums(const LayerCost& c, int n) {
  StageSums s;
  if (n <= 0) return s;
  const double x = n;
  s.fwd = c.fwd * x;
  s.bwd = c.bwd * x;
  s.weight_bytes = c.weight_bytes * x;
  s.grad_bytes = c.grad_bytes * x;
  s.optimizer_bytes = c.optimizer_bytes * x;
  s.act_bytes = c.act_bytes * x;
  s.work_bytes = c.work_bytes;
  s.kept_output_bytes = c.kept_output_bytes * x;
  s.buffered_bytes = c.buffered_bytes * x;
  s.dp_reduce_bytes = c.dp_reduce_bytes * x;
  s.edp_reduce_bytes = c.edp_reduce_bytes * x;
  s.dp_gather_bytes = c.dp_gather_bytes * x;
  s.edp_gather_bytes = c.edp_gather_bytes * x;
  s.optimizer_time = c.optimizer_time * x;
  return s;
}

// Sums of a class's stage with k units, in closed form so that every table cell is computed
// on its own (one GPU thread per cell) with the same rounding on every backend.
NEST_HD_INLINE StageSums uniform_sums(const UniformSliceInput& in, int cls, int k) {
  StageSums s = scaled_sums(in.block, uniform_stage_blocks(in, cls, k));
  if (cls == kFirst) accumulate(s, in.emb);
  if (cls == kLast) accumulate(s, in.head);
  return s;
}

// A lower bound on the objective (const_term + c B + R) of every split of the input, from what
// every split holds: the work of all its layers (S / v less the sends, fill and flush, which are
// at least 0) and a bottleneck no faster than either edge stage at its least units (work is
// non-decreasing in k, sends at least 0), tails at least 0. An infinite bound when the least
// units do not fit in K. With the interleaved schedule an edge chunk lacking a blocks makes its
// stage hold at least a units, so long lacks are pruned here before their tables are built.
NEST_HD_INLINE double uniform_lower_bound(const UniformSliceInput& in) {
  const SliceContext& c = in.ctx;
  const int min_edge = c.v == 1 ? 0 : 1;
  const int kf = max_of(min_edge, in.first_lack), kl = max_of(min_edge, in.last_lack);
  if (kf + kl + max_of(c.p - 2, 0) > uniform_units(in)) return 1e300;
  const double work = (in.emb.fwd + in.emb.bwd + in.head.fwd + in.head.bwd + in.blocks * (in.block.fwd + in.block.bwd)) / c.v;
  const double edge = max_of(stage_work(uniform_sums(in, kFirst, kf)), stage_work(uniform_sums(in, kLast, kl)));
  return work + (c.m - 1.0 / c.v) * edge;
}

// One send of a block's output (or gradient) across the level boundary b crosses.
NEST_HD_INLINE double uniform_boundary_send(const UniformSliceInput& in, int b) {
  return send_time(in.ctx.net, pp_boundary_level(in.ctx.pp, b), in.block);
}

// Sends per microbatch of position i: its forward sends cross boundary i (the wrap from the last
// position), its backward sends the boundary before it (the wrap from the first).
NEST_HD_INLINE double uniform_sends(const UniformSliceInput& in, int i, double forward_send, double backward_send) {
  const SliceContext& c = in.ctx;
  return forward_sends(c.p, c.v, i) * forward_send + backward_sends(c.p, c.v, i) * backward_send;
}
NEST_HD_INLINE double uniform_sends(const UniformSliceInput& in, int i) {
  return uniform_sends(in, i, uniform_boundary_send(in, i), uniform_boundary_send(in, pp_backward_boundary(in.ctx.p, i)));
}

// Activations of the edge chunk beyond its k blocks: the embedding's (the head's), less the
// block it lacks, if any (negative when that block's are larger).
NEST_HD_INLINE double uniform_edge_act_bytes(const UniformSliceInput& in, bool first) {
  return first ? in.emb.act_bytes - in.first_lack * in.block.act_bytes : in.head.act_bytes - in.last_lack * in.block.act_bytes;
}

// Peak memory of position i holding k units (class by position).
NEST_HD_INLINE double uniform_memory(const UniformSliceInput& in, int i, int k, const StageSums& s) {
  const SliceContext& c = in.ctx;
  const double chunk_blocks_act = k * in.block.act_bytes;  // one chunk holds k blocks
  // Passes in flight at the peak: their activations, then what the pipeline runtime holds beside
  // them (stage.hpp; added in the evaluator's order, split.cpp).
  const int passes = c.v == 1 ? inflight_microbatches_1f1b(c.p, c.m, i, c.extra_warmup)
                              : interleaved_inflight_passes(c.p, c.v, c.m, i, c.torch_order, c.extra_warmup);
  double inflight = 0;
  if (c.v == 1) {
    inflight = passes * s.act_bytes;
  } else if (i == 0 || i == c.p - 1) {
    const int n = i == 0 ? in.n_first : in.n_last;
    const double edge = uniform_edge_act_bytes(in, i == 0);
    double peak = 0;
    for (int x = 0; x < n; ++x) {
      const int* mo = i == 0 ? in.first_moments[x] : in.last_moments[x];
      const double b = mo[0] * chunk_blocks_act + mo[1] * edge;
      peak = b > peak ? b : peak;
    }
    inflight = peak;
  } else {
    inflight = passes * chunk_blocks_act;
  }
  inflight += pipeline_runtime_bytes(c, i, passes);
  return stage_memory(c, s, inflight);
}

struct UniformBuild {
  UniformSlice slice;
  const double* Bc = nullptr;
  const double* Rc = nullptr;
  int nB = 0, nR = 0;
  bool shape_ok = true;  // times non-decreasing, tails unimodal (checked)
  bool any_fit = false;  // every position can hold its minimum
};

NEST_HD_INLINE int uniform_cells(int K) { return 3 * (K + 1); }

// One table cell: class cls (first, middle, last) holding k units. A stage's time is its work
// plus its position's sends (stage_time), added where the position is known.
NEST_HD_INLINE void uniform_cell(const UniformSliceInput& in, int cell, double* work_arr, double* tail_arr) {
  const SliceContext& c = in.ctx;
  const int K = uniform_units(in);
  const int cls = cell / (K + 1), k = cell % (K + 1);
  if (cls == kMiddle && c.p == 2) {
    work_arr[cell] = 0;
    tail_arr[cell] = 0;
    return;
  }
  const StageSums sums = uniform_sums(in, cls, k);
  work_arr[cell] = stage_work(sums);
  tail_arr[cell] = stage_tail(c, sums, cls == kFirst);
}

NEST_HD_INLINE void uniform_fill_cells(const UniformSliceInput& in, UniformWorkspace ws) {
  const int K = uniform_units(in);
  for (int cell = 0; cell < uniform_cells(K); ++cell) uniform_cell(in, cell, ws.d, ws.d + uniform_cells(K));
}

// Everything after the cells: sends, bounds, shape checks, memory caps per position, sorted
// candidates. Needs p >= 2 and the cells filled.
NEST_HD_INLINE UniformBuild uniform_finish(const UniformSliceInput& in, UniformWorkspace ws) {
  UniformBuild out;
  UniformSlice& s = out.slice;
  const SliceContext& c = in.ctx;
  const int p = c.p, K = uniform_units(in);
  s.p = p;
  s.K = K;
  s.c = c.m - 1.0 / c.v;
  // Interleaved: every stage at least one unit, an edge stage at least as many as its edge
  // chunk lacks (that chunk keeps no fewer than none).
  const int min_units_edge = c.v == 1 ? 0 : 1;
  s.kmin[kFirst] = max_of(min_units_edge, in.first_lack);
  s.kmin[kLast] = max_of(min_units_edge, in.last_lack);
  s.kmin[kMiddle] = 1;
  double* work_arr = ws.d;
  double* tail_arr = ws.d + 3 * (K + 1);
  double* cand = ws.d + 6 * (K + 1);  // B candidates then R candidates
  // Sends of every position, each boundary at its own level; the middle positions grouped by
  // value. Their sum, like S, is the same for every split (docs/solver.md §3).
  int* by_pos = ws.i;
  int* group_of = ws.i + p;
  int* sorted = ws.i + 2 * p;
  long long* prefix = ws.ll;
  s.n_mid = p - 2;
  const int max_groups = uniform_max_groups(in);
  const double wrap_send = uniform_boundary_send(in, p - 1);
  double fwd = uniform_boundary_send(in, 0);
  s.send_first = uniform_sends(in, 0, fwd, wrap_send);
  double sends = s.send_first;
  int group_size[kMaxSendGroups] = {};
  for (int i = 1; i <= p - 2; ++i) {
    const double bwd = fwd;
    fwd = uniform_boundary_send(in, i);
    const double d = uniform_sends(in, i, fwd, bwd);
    sends += d;
    int g = 0;
    while (g < s.n_groups && s.mid_send[g] != d) ++g;
    if (g == s.n_groups) {
      if (g == max_groups) {  // cannot happen: d depends on a pair of levels only
        out.shape_ok = false;
        return out;
      }
      s.mid_send[s.n_groups++] = d;
    }
    group_of[i - 1] = g;
    ++group_size[g];
  }
  s.send_last = uniform_sends(in, p - 1, wrap_send, fwd);
  sends += s.send_last;
  // S is the same for every split (docs/solver.md §3): every block and every send once; so are
  // the fill and flush chains' sends (every boundary tensor is a block's output's size).
  s.const_term = (in.emb.fwd + in.emb.bwd + in.head.fwd + in.head.bwd + in.blocks * (in.block.fwd + in.block.bwd) + sends) / c.v +
                 fill_flush_transit(c, in.block);
  // Every other position needs at least its minimum, which bounds each class from above.
  s.kmax[kFirst] = K - s.kmin[kLast] - (p - 2) * s.kmin[kMiddle];
  s.kmax[kLast] = K - s.kmin[kFirst] - (p - 2) * s.kmin[kMiddle];
  s.kmax[kMiddle] = K - s.kmin[kFirst] - s.kmin[kLast] - (p - 3) * s.kmin[kMiddle];
  for (int x = 0; x < 3; ++x) {
    s.work[x] = work_arr + x * (K + 1);
    s.tail[x] = tail_arr + x * (K + 1);
    int argmin = s.kmin[x];
    for (int k = s.kmin[x] + 1; k <= s.kmax[x]; ++k)
      if (s.tail[x][k] < s.tail[x][argmin]) argmin = k;
    s.tail_argmin[x] = argmin;
  }
  // Shape checks the interval argument relies on (work + a constant is as monotone as work).
  for (int x = 0; x < 3; ++x) {
    if (x == kMiddle && p == 2) continue;
    for (int k = s.kmin[x]; k < s.kmax[x]; ++k) {
      if (s.work[x][k + 1] < s.work[x][k]) out.shape_ok = false;
      const bool left = k < s.tail_argmin[x];
      if (left && s.tail[x][k + 1] > s.tail[x][k]) out.shape_ok = false;
      if (!left && s.tail[x][k + 1] < s.tail[x][k]) out.shape_ok = false;
    }
  }
  // Memory caps per position: the largest k whose peak memory fits (monotone in k).
  auto cap_at = [&](int i, int cls) {
    int lo = s.kmin[cls], hi = s.kmax[cls], r = lo - 1;
    while (lo <= hi) {
      const int mid = lo + (hi - lo) / 2;
      if (uniform_memory(in, i, mid, uniform_sums(in, cls, mid)) <= c.memory_capacity) {
        r = mid;
        lo = mid + 1;
      } else
        hi = mid - 1;
    }
    return r;
  };
  s.cap_first = cap_at(0, kFirst);
  s.cap_last = cap_at(p - 1, kLast);
  for (int i = 1; i <= p - 2; ++i) by_pos[i - 1] = cap_at(i, kMiddle);
  // Caps sorted by group, ascending inside each group (insertion sort: nearly sorted already).
  s.group_start[0] = 0;
  for (int g = 0; g < s.n_groups; ++g) s.group_start[g + 1] = s.group_start[g] + group_size[g];
  int fill[kMaxSendGroups];
  for (int g = 0; g < s.n_groups; ++g) fill[g] = s.group_start[g];
  for (int i = 0; i < s.n_mid; ++i) sorted[fill[group_of[i]]++] = by_pos[i];
  for (int g = 0; g < s.n_groups; ++g)
    for (int i = s.group_start[g] + 1; i < s.group_start[g + 1]; ++i) {
      const int v = sorted[i];
      int j = i - 1;
      while (j >= s.group_start[g] && sorted[j] > v) {
        sorted[j + 1] = sorted[j];
        --j;
      }
      sorted[j + 1] = v;
    }
  prefix[0] = 0;
  for (int i = 0; i < s.n_mid; ++i) prefix[i + 1] = prefix[i] + sorted[i];
  s.mid_caps = sorted;
  s.mid_caps_by_position = by_pos;
  s.mid_group_by_position = group_of;
  s.mid_prefix = prefix;
  int mid_min = K + 1, mid_max = -1;  // over all middle positions
  for (int g = 0; g < s.n_groups; ++g) {
    mid_min = min_of(mid_min, sorted[s.group_start[g]]);
    mid_max = max_of(mid_max, sorted[s.group_start[g + 1] - 1]);
  }
  out.any_fit = s.cap_first >= s.kmin[kFirst] && s.cap_last >= s.kmin[kLast] && (s.n_mid == 0 || mid_min >= 1);
  // Candidates: the time of every position class (every send group for the middle) and the tail
  // of every class, at every k memory allows somewhere.
  int nB = 0, nR = 0;
  double* Bc = cand;
  double* Rc = cand + (2 + max_groups) * (K + 1);
  auto add_times = [&](int x, double send, int cap) {
    const int top = min_of(cap, s.kmax[x]);
    for (int k = s.kmin[x]; k <= top; ++k) Bc[nB++] = s.work[x][k] + send;
  };
  add_times(kFirst, s.send_first, s.cap_first);
  add_times(kLast, s.send_last, s.cap_last);
  for (int g = 0; g < s.n_groups; ++g) add_times(kMiddle, s.mid_send[g], sorted[s.group_start[g + 1] - 1]);
  for (int x = 0; x < 3; ++x) {
    if (x == kMiddle && p == 2) continue;
    const int cap = x == kFirst ? s.cap_first : (x == kLast ? s.cap_last : mid_max);
    const int top = min_of(cap, s.kmax[x]);
    for (int k = s.kmin[x]; k <= top; ++k) Rc[nR++] = s.tail[x][k];
  }
  out.nB = sort_unique(Bc, nB);
  out.nR = sort_unique(Rc, nR);
  out.Bc = Bc;
  out.Rc = Rc;
  return out;
}

NEST_HD_INLINE UniformBuild build_uniform(const UniformSliceInput& in, UniformWorkspace ws) {
  uniform_fill_cells(in, ws);
  return uniform_finish(in, ws);
}

// The whole per-slice solve after the cells: what both backends run for a slice.
struct UniformResult {
  int status = 0;  // 0 infeasible (or pruned), 1 solved, 2 shape check failed (use the general DP)
  double objective = 0, B = 0, R = 0;
  long long checks = 0;
};

NEST_HD_INLINE UniformResult uniform_solve_after_cells(const UniformSliceInput& in, UniformWorkspace ws, double bound,
                                                       int* split) {
  UniformResult r;
  const UniformBuild b = uniform_finish(in, ws);
  if (!b.shape_ok) {
    r.status = 2;
    return r;
  }
  if (!b.any_fit || b.nB == 0 || b.nR == 0) return r;
  const UniformSolution sol = solve_uniform(b.slice, b.Bc, b.nB, b.Rc, b.nR, bound);
  r.checks = sol.checks;
  if (!sol.feasible) return r;
  if (!uniform_split(b.slice, sol.B, sol.R, split)) return r;
  r.status = 1;
  r.objective = sol.objective;
  r.B = sol.B;
  r.R = sol.R;
  return r;
}

}  // namespace nest::kernels::dp
