// What the batches solved one thread per input share (general_batch.hpp, interleaved_batch.hpp):
// where each input's workspace and per-stage answer (stage starts, units per stage: p entries)
// lie in the batch's arrays, the launch shape, and the thread that solves its input and writes
// its result and sort key. Written once for every backend.
#pragma once

#include <cstddef>
#include <vector>

#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/grid.hpp"

namespace nest::kernels::dp {

// Where one input's workspace (doubles, ints) and answer start in the batch's workspace arrays.
struct ThreadOffsets {
  long long d = 0, i = 0, answer = 0;
};

struct ThreadBatchLayout {
  std::vector<ThreadOffsets> offsets;
  long long doubles = 0, ints = 0, answers = 0;  // the arrays' sizes
};

// The inputs' workspaces one after another, each of `doubles(input)` and `ints(input)`
// elements, and `input.p` answer entries each.
template <class Input, class Doubles, class Ints>
ThreadBatchLayout thread_batch_layout(const Input* in, int n, Doubles doubles, Ints ints) {
  ThreadBatchLayout l;
  l.offsets.resize(static_cast<std::size_t>(n > 0 ? n : 0));
  for (int x = 0; x < n; ++x) {
    l.offsets[static_cast<std::size_t>(x)] = {l.doubles, l.ints, l.answers};
    l.doubles += doubles(in[x]);
    l.ints += ints(in[x]);
    l.answers += in[x].p;
  }
  return l;
}

// Threads per block of both kernels (not tuned on a device).
inline constexpr unsigned kThreadBatchThreadsPerBlock = 64;

// One thread per input.
inline GridShape thread_batch_grid(int n) { return grid_over(n, kThreadBatchThreadsPerBlock); }

// The thread of input `item_x(t)`: solve(s) is its result, written with its sort key and index.
template <class Result, class Solve>
NEST_HD_INLINE void thread_batch_solve(const ThreadIndex& t, int n, const Solve& solve, Result* out, double* keys, int* index) {
  const int s = item_x(t);
  if (s >= n) return;
  const Result r = solve(s);
  out[s] = r;
  keys[s] = result_key(r.status, r.objective);
  index[s] = s;
}

}  // namespace nest::kernels::dp
