// A batch of uniform slices on the CUDA backend, written once for the device and for the CPU's
// grid emulator (grid.hpp): where each slice's workspace lies in the batch's arrays, the launch
// shapes, the two kernels' per-thread bodies (launch 1: one table cell of one slice per thread;
// launch 2: one slice per thread, its DP walk and its split), the order the device sorts the
// slices in, and which results the host takes back. kernels/cuda/uniform_dp.cu launches the
// bodies; tests/kernels/test_grid_emulator.cpp runs them through emulate_grid() and compares with
// the CPU backend, so indexing, offsets, split reconstruction and top-K selection are tested on
// machines without a GPU.
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/dp/uniform_tables.hpp"
#include "nest/kernels/grid.hpp"

namespace nest::kernels::dp {

struct SliceOffsets {
  long long d = 0, i = 0, ll = 0, split = 0;  // offsets into the batch's workspace arrays
};

struct UniformBatchLayout {
  std::vector<SliceOffsets> offsets;                     // one per slice
  long long doubles = 0, ints = 0, lls = 0, splits = 0;  // array lengths
  int max_cells = 0;                                     // the widest slice's table cells
  long long cells = 0;                                   // table cells of the whole batch
};

// Slices laid out one after the other in each array, in batch order.
inline UniformBatchLayout uniform_batch_layout(const UniformSliceInput* in, int n) {
  UniformBatchLayout l;
  l.offsets.resize(static_cast<std::size_t>(n));
  for (int x = 0; x < n; ++x) {
    const UniformSliceInput& s = in[x];
    l.offsets[static_cast<std::size_t>(x)] = {l.doubles, l.ints, l.lls, l.splits};
    l.doubles += uniform_workspace_doubles(s);
    l.ints += uniform_workspace_ints(s);
    l.lls += uniform_workspace_lls(s);
    l.splits += s.ctx.p;
    const int cells = uniform_cells(uniform_units(s));
    l.max_cells = max_of(l.max_cells, cells);
    l.cells += cells;
  }
  return l;
}

inline constexpr unsigned kUniformThreadsPerBlock = 128;

// Launch 1: x over the widest slice's cells, y over the slices.
inline GridShape uniform_fill_grid(const UniformBatchLayout& l, int n) {
  return grid_over(l.max_cells, kUniformThreadsPerBlock, n);
}

// Launch 2: one thread per slice.
inline GridShape uniform_solve_grid(int n) { return grid_over(n, kUniformThreadsPerBlock); }

// Launch 1's thread: one cell of one slice's tables (threads past the slice's cells return).
NEST_HD_INLINE void uniform_fill_thread(const ThreadIndex& t, const UniformSliceInput* in, const SliceOffsets* off, double* wd) {
  const int slice = static_cast<int>(t.block.y);
  const UniformSliceInput& s = in[slice];
  const int cells = uniform_cells(uniform_units(s));
  const int cell = item_x(t);
  if (cell >= cells) return;
  double* base = wd + off[slice].d;
  uniform_cell(s, cell, base, base + cells);
}

// Launch 2's thread: one slice's DP walk and split; its sort key (infeasible slices last, failed
// shape checks just before them, so the host finds both where it looks).
NEST_HD_INLINE void uniform_solve_thread(const ThreadIndex& t, const UniformSliceInput* in, const SliceOffsets* off, int n,
                                         const double* bound, double* wd, int* wi, long long* wl, int* split, UniformResult* out,
                                         double* keys, int* index) {
  const int slice = item_x(t);
  if (slice >= n) return;
  UniformWorkspace ws{wd + off[slice].d, wi + off[slice].i, wl + off[slice].ll};
  const UniformResult r = uniform_solve_after_cells(in[slice], ws, bound[slice], split + off[slice].split);
  out[slice] = r;
  keys[slice] = result_key(r.status, r.objective);
  index[slice] = slice;
}

// The slices whose results the host takes back, in sorted order: the first top_k solved ones
// and every one whose shape check failed (status 2: the CPU solves those).
inline std::vector<int> uniform_taken(const std::vector<UniformResult>& results, const std::vector<int>& sorted, int top_k) {
  std::vector<int> out;
  int taken = 0;
  for (int s : sorted) {
    const UniformResult& r = results[static_cast<std::size_t>(s)];
    const bool solved = r.status == 1;
    if (!(solved && taken < top_k) && r.status != 2) continue;
    if (solved) ++taken;
    out.push_back(s);
  }
  return out;
}

}  // namespace nest::kernels::dp
