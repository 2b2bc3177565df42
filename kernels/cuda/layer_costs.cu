// One thread per layer: layer_cost() from transformer.hpp, compiled for the device.
#include "batch.cuh"
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
  DeviceBuffers buf;
  auto* d_dims = buf.add<LayerDims>(static_cast<std::size_t>(n));
  auto* d_out = buf.add<LayerCostDetail>(static_cast<std::size_t>(n));
  to_device(d_dims, dims, static_cast<std::size_t>(n));
  const int threads = 128;
  layer_costs_kernel<<<(n + threads - 1) / threads, threads, 0, batch_stream()>>>(d_dims, n, shape, gpu, settings, comm, d_out);
  NEST_CUDA_CHECK(cudaGetLastError());
  to_host(out, d_out, static_cast<std::size_t>(n));
}

}  // namespace nest::kernels::cuda
