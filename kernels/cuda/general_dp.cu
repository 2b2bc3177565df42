// General DP on the GPU: one thread per slice runs general_solve_slice (candidates, sort,
// search over (B, R), split) on the slice's tables, which the host laid out in the batch's
// arrays (dp/general_batch.hpp); CUB sorts the objectives within each search's segment for its best K. The thread body is the
// NEST_HD function the CPU backend and the grid emulator run; the parts, copies and selection
// are batch.cuh's solve_tabled_batch.
#include <string>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/general_batch.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void general_solve_kernel(const dp::GeneralSliceInput* in, const double* d, const int* i, const dp::ThreadOffsets* off,
                                     int n, const double* bound, double* wd, int* wi, int* split, dp::GeneralResult* out,
                                     double* keys, int* index) {
  dp::general_solve_thread(this_thread(), in, d, i, off, n, bound, wd, wi, split, out, keys, index);
}

struct GeneralKind {
  using Input = dp::GeneralSliceInput;
  using Result = dp::GeneralResult;
  using Found = dp::GeneralFound;
  static long long table_doubles(const Input& s) { return dp::general_table_doubles(s); }
  static long long table_ints(const Input& s) { return dp::general_table_ints(s); }
  static long long workspace_doubles(const Input& s) { return dp::general_workspace_doubles(s); }
  static long long workspace_ints(const Input& s) { return dp::general_workspace_ints(s); }
  static std::vector<int>& answer(Found& f) { return f.starts; }
  static void launch(int n, const Input* in, const double* d, const int* i, const dp::ThreadOffsets* off, const double* bound,
                     double* wd, int* wi, int* answer, Result* out, double* keys, int* index) {
    const GridShape grid = dp::thread_batch_grid(n);
    general_solve_kernel<<<as_dim3(grid.grid), as_dim3(grid.block), 0, batch_stream()>>>(in, d, i, off, n, bound, wd, wi, answer,
                                                                                         out, keys, index);
  }
};

}  // namespace

std::vector<dp::GeneralFound> solve_general_batch(const dp::GeneralBatch& batch, const dp::Segments& seg,
                                                  std::size_t memory_limit, UniformBatchStats* stats) {
  return solve_tabled_batch<GeneralKind>(batch, seg, memory_limit, stats);
}

}  // namespace nest::kernels::cuda
