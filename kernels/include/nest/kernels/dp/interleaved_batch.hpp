// A batch of interleaved-DP inputs (interleaved.hpp: interleaved splits of any block sequence,
// one input per slice and choice of lacking edge chunks), written once for every backend: the
// host lays each input's tables into the batch's arrays, and one thread per input (a CPU thread,
// a GPU thread, or the grid emulator's loop) collects its candidate stage times and tails,
// solves it and reads back its units per stage with the same NEST_HD code. Which results go back
// is the general batch's selection (batch_sorted_order of the objectives, the first top_k
// solved ones); the layout, launch shape and thread are thread_batch.hpp's.
#pragma once

#include <vector>

#include "nest/kernels/dp/interleaved.hpp"
#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/dp/thread_batch.hpp"

namespace nest::kernels::dp {

// One input of a batch: its sizes and scalars, and where its tables lie in the batch's arrays.
struct InterleavedSliceInput {
  int p = 2, K = 2;                 // stages, units per round
  int first_min = 1, last_min = 1;  // least units of the edge stages (InterleavedSlice)
  double v = 2, c = 0, w = 0;       // virtual stages, m - 1/v, fill and flush chains
  // Doubles from `tables`: time, then tail (islots each). Ints from `ints`: fits (islots).
  long long tables = 0, ints = 0;
};

// The input of a slice's shape (its tables' offsets left to the caller), and the shape back: the
// two field lists side by side.
NEST_HD_INLINE InterleavedSliceInput interleaved_input(const InterleavedSlice& x) {
  InterleavedSliceInput in;
  in.p = x.p;
  in.K = x.K;
  in.first_min = x.first_min;
  in.last_min = x.last_min;
  in.v = x.v;
  in.c = x.c;
  in.w = x.w;
  return in;
}
NEST_HD_INLINE InterleavedSlice interleaved_shape(const InterleavedSliceInput& in) {
  InterleavedSlice x;
  x.p = in.p;
  x.K = in.K;
  x.first_min = in.first_min;
  x.last_min = in.last_min;
  x.v = in.v;
  x.c = in.c;
  x.w = in.w;
  return x;
}
NEST_HD_INLINE long long interleaved_table_doubles(const InterleavedSliceInput& in) {
  return 2LL * islots(interleaved_shape(in));
}
NEST_HD_INLINE long long interleaved_table_ints(const InterleavedSliceInput& in) { return islots(interleaved_shape(in)); }

// The InterleavedSlice over an input's tables in the batch's arrays.
NEST_HD_INLINE InterleavedSlice interleaved_view(const InterleavedSliceInput& in, const double* d, const int* i) {
  InterleavedSlice x = interleaved_shape(in);
  const long long n = islots(x);
  x.time = d + in.tables;
  x.tail = d + in.tables + n;
  x.fits = i + in.ints;
  return x;
}

// Workspace per input: doubles for the candidates (stage times, then tails: islots each) and f,
// g ((p + 1) (K + 1) each); ints for arg ((p + 1) (K + 1)).
NEST_HD_INLINE long long interleaved_dp_width(const InterleavedSliceInput& in) {
  return static_cast<long long>(in.p + 1) * (in.K + 1);
}
NEST_HD_INLINE long long interleaved_workspace_doubles(const InterleavedSliceInput& in) {
  return 2LL * islots(interleaved_shape(in)) + 2 * interleaved_dp_width(in);
}
NEST_HD_INLINE long long interleaved_workspace_ints(const InterleavedSliceInput& in) { return interleaved_dp_width(in); }

struct InterleavedResult {
  int status = 0;  // 1 solved, 0 nothing fits (or nothing beats the bound)
  double objective = 0;
  long long cells = 0;  // DP cells visited
};

// One input, start to end: the candidates (every time and tail of a stage that fits), sorted and
// distinct; the least S with no caps; the search over (R, B); the best split as units per stage
// (units, p entries).
NEST_HD_INLINE InterleavedResult interleaved_solve_slice(const InterleavedSliceInput& in, const double* d, const int* i,
                                                         double bound, double* wd, int* wi, int* units) {
  const InterleavedSlice x = interleaved_view(in, d, i);
  const long long n = islots(x);
  double* Bc = wd;
  double* Rc = wd + n;
  double* f = wd + 2 * n;
  double* g = f + interleaved_dp_width(in);
  int nB = 0, nR = 0;
  for (int st = 0; st < x.p; ++st) {
    int s_lo, s_hi;
    interleaved_ranges(x, st, s_lo, s_hi);
    for (int s = s_lo; s <= s_hi; ++s) {
      const int c_hi = interleaved_max_units(x, st, s);
      for (int c = st == x.p - 1 ? c_hi : interleaved_min_units(x, st); c <= c_hi; ++c) {
        const int slot = islot(x, st, s, c);
        if (!x.fits[slot]) continue;
        Bc[nB++] = x.time[slot];
        Rc[nR++] = x.tail[slot];
      }
    }
  }
  InterleavedResult r;
  if (nB == 0) return r;
  nB = sort_unique(Bc, nB);
  nR = sort_unique(Rc, nR);
  const double s_lb = interleaved_least_sum(x, kInfinity, kInfinity, f, wi, &r.cells);
  if (s_lb >= kInfinity) return r;
  const InterleavedSolution sol = solve_interleaved(x, Bc, nB, Rc, nR, s_lb, bound, f, g, wi, units);
  r.cells += sol.cells;
  if (!sol.feasible) return r;
  r.status = 1;
  r.objective = sol.objective;
  return r;
}

// The thread of input `item_x(t)` (thread_batch_grid(n)): its solve, its units, its sort key.
NEST_HD_INLINE void interleaved_solve_thread(const ThreadIndex& t, const InterleavedSliceInput* in, const double* d, const int* i,
                                             const ThreadOffsets* off, int n, const double* bound, double* wd, int* wi,
                                             int* units, InterleavedResult* out, double* keys, int* index) {
  thread_batch_solve(
      t, n,
      [&](int s) { return interleaved_solve_slice(in[s], d, i, bound[s], wd + off[s].d, wi + off[s].i, units + off[s].answer); },
      out, keys, index);
}

}  // namespace nest::kernels::dp
