// One thread per layer: layer_cost() from transformer.hpp, compiled for the device.
#include "check.cuh"
#include "nest/kernels/cuda/device.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void layer_costs_kernel(const LayerDims* dims, int n, ParallelShape shape, GpuModel gpu, TrainingSettings settings,
                                   CommContext comm, LayerCostDetail* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = layer_cost(dims[i], shape, gpu, settings, comm);
}

}  // namespace

void layer_costs_on_device(const LayerDims* dims, int n, const ParallelShape& shape, const GpuModel& gpu,
                           const TrainingSettings& settings, const CommContext& comm, LayerCostDetail* out) {
  if (n <= 0) return;
  LayerDims* d_dims = nullptr;
  LayerCostDetail* d_out = nullptr;
  NEST_CUDA_CHECK(cudaMalloc(&d_dims, sizeof(LayerDims) * n));
  NEST_CUDA_CHECK(cudaMalloc(&d_out, sizeof(LayerCostDetail) * n));
  NEST_CUDA_CHECK(cudaMemcpy(d_dims, dims, sizeof(LayerDims) * n, cudaMemcpyHostToDevice));
  const int threads = 128;
  layer_costs_kernel<<<(n + threads - 1) / threads, threads>>>(d_dims, n, shape, gpu, settings, comm, d_out);
  NEST_CUDA_CHECK(cudaGetLastError());
  NEST_CUDA_CHECK(cudaMemcpy(out, d_out, sizeof(LayerCostDetail) * n, cudaMemcpyDeviceToHost));
  NEST_CUDA_CHECK(cudaFree(d_dims));
  NEST_CUDA_CHECK(cudaFree(d_out));
}

}  // namespace nest::kernels::cuda
