// pp = 1 slices on the GPU: one thread per slice values its single split (single_stage_thread,
// the NEST_HD body the CPU backend and the grid emulator run); CUB sorts the objectives for the
// best K.
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>

#include "check.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/single_stage.hpp"
#include "nest/kernels/dp/sort.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void single_stage_kernel(const dp::SingleStageInput* in, int n, double bound, dp::SingleStageResult* out, double* keys,
                                    int* index) {
  dp::single_stage_thread(this_thread(), in, n, bound, out, keys, index);
}

template <class T>
struct DeviceArray {
  T* p = nullptr;
  explicit DeviceArray(std::size_t n) {
    if (n > 0) NEST_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  }
  ~DeviceArray() {
    if (p) cudaFree(p);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

}  // namespace

std::vector<dp::SingleStageFound> solve_single_stage_batch(const std::vector<dp::SingleStageInput>& inputs, double bound,
                                                           int top_k, UniformBatchStats* stats) {
  std::vector<dp::SingleStageFound> best;
  const int n = static_cast<int>(inputs.size());
  if (n == 0) return best;
  DeviceArray<dp::SingleStageInput> d_in(static_cast<std::size_t>(n));
  DeviceArray<dp::SingleStageResult> d_out(static_cast<std::size_t>(n));
  DeviceArray<double> d_keys(static_cast<std::size_t>(n)), d_keys_sorted(static_cast<std::size_t>(n));
  DeviceArray<int> d_idx(static_cast<std::size_t>(n)), d_idx_sorted(static_cast<std::size_t>(n));
  NEST_CUDA_CHECK(cudaMemcpy(d_in.p, inputs.data(), sizeof(dp::SingleStageInput) * n, cudaMemcpyHostToDevice));
  cudaEvent_t t0, t1;
  NEST_CUDA_CHECK(cudaEventCreate(&t0));
  NEST_CUDA_CHECK(cudaEventCreate(&t1));
  NEST_CUDA_CHECK(cudaEventRecord(t0));
  const GridShape g = dp::single_stage_grid(n);
  single_stage_kernel<<<dim3(g.grid.x, g.grid.y, g.grid.z), dim3(g.block.x, g.block.y, g.block.z)>>>(d_in.p, n, bound, d_out.p,
                                                                                                     d_keys.p, d_idx.p);
  NEST_CUDA_CHECK(cudaGetLastError());
  std::size_t scratch = 0;
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, scratch, d_keys.p, d_keys_sorted.p, d_idx.p, d_idx_sorted.p, n));
  DeviceArray<unsigned char> d_scratch(scratch);
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(d_scratch.p, scratch, d_keys.p, d_keys_sorted.p, d_idx.p, d_idx_sorted.p, n));
  NEST_CUDA_CHECK(cudaEventRecord(t1));
  NEST_CUDA_CHECK(cudaEventSynchronize(t1));
  float ms = 0;
  NEST_CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
  NEST_CUDA_CHECK(cudaEventDestroy(t0));
  NEST_CUDA_CHECK(cudaEventDestroy(t1));
  if (stats) {
    stats->kernel_seconds += ms / 1e3;
    ++stats->launches;
  }
  std::vector<dp::SingleStageResult> results(static_cast<std::size_t>(n));
  std::vector<int> idx(static_cast<std::size_t>(n));
  NEST_CUDA_CHECK(cudaMemcpy(results.data(), d_out.p, sizeof(dp::SingleStageResult) * n, cudaMemcpyDeviceToHost));
  NEST_CUDA_CHECK(cudaMemcpy(idx.data(), d_idx_sorted.p, sizeof(int) * n, cudaMemcpyDeviceToHost));
  for (const int s : dp::first_solved(results, idx, top_k)) best.push_back({s, results[static_cast<std::size_t>(s)]});
  return best;
}

}  // namespace nest::kernels::cuda
