// A CUDA launch shape and a thread's place in it, for kernel bodies written as NEST_HD functions
// of their grid coordinates: on the device the __global__ wrapper passes this_thread(); on the
// CPU emulate_grid() calls the same body for every block and thread of the same shape, so the
// bodies' indexing runs in the tests of a machine without a GPU.
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct GridShape {
  Dim3 grid, block;  // blocks per grid, threads per block
};

struct ThreadIndex {
  Dim3 block, thread;        // blockIdx, threadIdx
  Dim3 block_dim, grid_dim;  // blockDim, gridDim
};

// Blocks of `threads` threads along x covering `n` items (no block for n <= 0), and `rows` blocks
// along y (one per slice or design point where a launch has them).
inline GridShape grid_over(int n, unsigned threads, int rows = 1) {
  const unsigned items = n > 0 ? static_cast<unsigned>(n) : 0u;
  return {{(items + threads - 1) / threads, rows > 0 ? static_cast<unsigned>(rows) : 0u, 1}, {threads, 1, 1}};
}

// The item along x that thread `t` takes in a grid_over grid (past the last item for the tail of
// the last block: the body returns there).
NEST_HD_INLINE int item_x(const ThreadIndex& t) { return static_cast<int>(t.block.x * t.block_dim.x + t.thread.x); }

#if defined(__CUDACC__)
__device__ __forceinline__ ThreadIndex this_thread() {
  return ThreadIndex{{blockIdx.x, blockIdx.y, blockIdx.z},
                     {threadIdx.x, threadIdx.y, threadIdx.z},
                     {blockDim.x, blockDim.y, blockDim.z},
                     {gridDim.x, gridDim.y, gridDim.z}};
}
#endif

// Runs body(ThreadIndex) for every thread of every block, blocks and threads in x-fastest order.
// Faithful for kernels whose threads neither share memory nor synchronise (each writes its own
// outputs), which is what the uniform DP's kernels are.
template <class Body>
void emulate_grid(const GridShape& shape, Body&& body) {
  ThreadIndex t;
  t.block_dim = shape.block;
  t.grid_dim = shape.grid;
  for (t.block.z = 0; t.block.z < shape.grid.z; ++t.block.z)
    for (t.block.y = 0; t.block.y < shape.grid.y; ++t.block.y)
      for (t.block.x = 0; t.block.x < shape.grid.x; ++t.block.x)
        for (t.thread.z = 0; t.thread.z < shape.block.z; ++t.thread.z)
          for (t.thread.y = 0; t.thread.y < shape.block.y; ++t.thread.y)
            for (t.thread.x = 0; t.thread.x < shape.block.x; ++t.thread.x) body(static_cast<const ThreadIndex&>(t));
}

}  // namespace nest::kernels
