// A batch of general-DP slices (general.hpp: heterogeneous layer sequences under 1F1B), written
// once for every backend: the host lays each slice's tables into the batch's arrays, and one
// thread per slice (a CPU thread, a GPU thread, or the grid emulator's loop) collects its
// candidate stage times and tails, solves it and rebuilds its split with the same NEST_HD code.
// Which results go back is the same selection as the uniform batch's (batch_sorted_order of
// the objectives, the first top_k feasible ones); the layout, launch shape and thread are
// thread_batch.hpp's.
#pragma once

#include <vector>

#include "nest/kernels/dp/general.hpp"
#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/dp/thread_batch.hpp"

namespace nest::kernels::dp {

// One slice of a batch: its sizes and scalars, and where its tables lie in the batch's arrays.
struct GeneralSliceInput {
  int p = 1, N = 0, levels = 1;  // stages, nodes (embedding, blocks, head), network levels
  double c = 0;                  // m - 1
  double capacity = 0;           // bytes per GPU
  double s_lb = 0;               // a lower bound on the sum of stage times: every node's fwd + bwd
  // Doubles from `tables`: base_time, tail, static_mem, act (W*W each, W = N+1), then send
  // (levels*W), then position_bytes (p). Ints from `ints`: boundary_level (p), then inflight (p).
  long long tables = 0, ints = 0;
};

NEST_HD_INLINE int general_width(const GeneralSliceInput& in) { return in.N + 1; }
NEST_HD_INLINE long long general_table_doubles(const GeneralSliceInput& in) {
  const long long W = general_width(in);
  return 4 * W * W + static_cast<long long>(in.levels) * W + in.p;
}
NEST_HD_INLINE long long general_table_ints(const GeneralSliceInput& in) { return 2LL * in.p; }

// The GeneralSlice over a slice's tables in the batch's arrays.
NEST_HD_INLINE GeneralSlice general_view(const GeneralSliceInput& in, const double* d, const int* i) {
  const long long WW = static_cast<long long>(general_width(in)) * general_width(in);
  const double* t = d + in.tables;
  GeneralSlice g;
  g.p = in.p;
  g.N = in.N;
  g.c = in.c;
  g.base_time = t;
  g.tail = t + WW;
  g.static_mem = t + 2 * WW;
  g.act = t + 3 * WW;
  g.send = t + 4 * WW;
  g.position_bytes = t + 4 * WW + static_cast<long long>(in.levels) * general_width(in);
  g.boundary_level = i + in.ints;
  g.inflight = i + in.ints + in.p;
  g.capacity = in.capacity;
  return g;
}

// Workspace per slice: doubles for the candidates (stage times, then tails: at most p W W
// each) and f (p W); ints for arg (p W).
NEST_HD_INLINE long long general_workspace_doubles(const GeneralSliceInput& in) {
  const long long W = general_width(in);
  return 2LL * in.p * W * W + static_cast<long long>(in.p) * W;
}
NEST_HD_INLINE long long general_workspace_ints(const GeneralSliceInput& in) {
  return static_cast<long long>(in.p) * general_width(in);
}

struct GeneralResult {
  int status = 0;  // 1 solved, 0 nothing fits (or nothing beats the bound)
  double objective = 0, B = 0, R = 0;
  long long cells = 0;  // DP cells visited
};

// One slice, start to end: the candidates (every stage time and tail some position allows in
// memory), sorted and distinct; the search over (B, R); the table of the optimum rebuilt and its
// split read back as the first node of each stage (starts, p entries).
NEST_HD_INLINE GeneralResult general_solve_slice(const GeneralSliceInput& in, const double* d, const int* i, double bound,
                                                 double* wd, int* wi, int* starts) {
  const GeneralSlice g = general_view(in, d, i);
  const int p = in.p, N = in.N;
  const long long WW = static_cast<long long>(general_width(in)) * general_width(in);
  double* Bc = wd;
  double* Rc = wd + p * WW;
  double* f = wd + 2 * p * WW;
  int nB = 0, nR = 0;
  for (int x = 0; x < p; ++x) {
    int a_lo, a_hi, j_lo, j_hi;
    general_ranges(g, x, a_lo, a_hi, j_lo, j_hi);
    for (int a = a_lo; a <= a_hi; ++a)
      for (int j = max_of(a + 1, j_lo); j <= j_hi; ++j) {
        if (x == p - 1 && j != N) continue;
        const int k = gidx(g, a, j);
        if (g.static_mem[k] + g.inflight[x] * g.act[k] + general_position_bytes(g, x) > g.capacity) continue;
        Bc[nB++] = general_stage_time(g, x, a, j);
        Rc[nR++] = g.tail[k];
      }
  }
  GeneralResult r;
  if (nB == 0) return r;
  nB = sort_unique(Bc, nB);
  nR = sort_unique(Rc, nR);
  const GeneralSolution sol = solve_general(g, Bc, nB, Rc, nR, in.s_lb, bound, f, wi);
  r.cells = sol.cells;
  if (!sol.feasible) return r;
  general_dp(g, sol.B, sol.R, f, wi, nullptr);
  general_split(g, wi, starts);
  r.status = 1;
  r.objective = sol.objective;
  r.B = sol.B;
  r.R = sol.R;
  return r;
}

// The thread of slice `item_x(t)` (thread_batch_grid(n)): its solve, its split, its sort key.
NEST_HD_INLINE void general_solve_thread(const ThreadIndex& t, const GeneralSliceInput* in, const double* d, const int* i,
                                         const ThreadOffsets* off, int n, const double* bound, double* wd, int* wi, int* split,
                                         GeneralResult* out, double* keys, int* index) {
  thread_batch_solve(
      t, n,
      [&](int s) { return general_solve_slice(in[s], d, i, bound[s], wd + off[s].d, wi + off[s].i, split + off[s].answer); }, out,
      keys, index);
}

}  // namespace nest::kernels::dp
