// Interleaved DP on the GPU: one thread per input runs interleaved_solve_slice (candidates,
// sort, search over (R, B), units) on the input's tables, which the host laid out in the batch's
// arrays (dp/interleaved_batch.hpp); CUB sorts the objectives within each search's segment for its best K. The thread body is
// the NEST_HD function the CPU backend and the grid emulator run; the parts, copies and
// selection are batch.cuh's solve_tabled_batch.
#include <string>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/interleaved_batch.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void interleaved_solve_kernel(const dp::InterleavedSliceInput* in, const double* d, const int* i,
                                         const dp::ThreadOffsets* off, int n, const double* bound, double* wd, int* wi,
                                         int* units, dp::InterleavedResult* out, double* keys, int* index) {
  dp::interleaved_solve_thread(this_thread(), in, d, i, off, n, bound, wd, wi, units, out, keys, index);
}

struct InterleavedKind {
  using Input = dp::InterleavedSliceInput;
  using Result = dp::InterleavedResult;
  using Found = dp::InterleavedFound;
  static long long table_doubles(const Input& s) { return dp::interleaved_table_doubles(s); }
  static long long table_ints(const Input& s) { return dp::interleaved_table_ints(s); }
  static long long workspace_doubles(const Input& s) { return dp::interleaved_workspace_doubles(s); }
  static long long workspace_ints(const Input& s) { return dp::interleaved_workspace_ints(s); }
  static std::vector<int>& answer(Found& f) { return f.units; }
  static void launch(int n, const Input* in, const double* d, const int* i, const dp::ThreadOffsets* off, const double* bound,
                     double* wd, int* wi, int* answer, Result* out, double* keys, int* index) {
    const GridShape grid = dp::thread_batch_grid(n);
    interleaved_solve_kernel<<<as_dim3(grid.grid), as_dim3(grid.block), 0, batch_stream()>>>(in, d, i, off, n, bound, wd, wi,
                                                                                             answer, out, keys, index);
  }
};

}  // namespace

std::vector<dp::InterleavedFound> solve_interleaved_batch(const dp::InterleavedBatch& batch, const dp::Segments& seg,
                                                          std::size_t memory_limit, UniformBatchStats* stats) {
  return solve_tabled_batch<InterleavedKind>(batch, seg, memory_limit, stats);
}

}  // namespace nest::kernels::cuda
