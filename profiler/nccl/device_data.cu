// Device side of the harness hooks (see device_data.hpp).
#include <cstdint>

#include "device_data.hpp"
#include "nest/profiler/collective_data.hpp"
#include "nest/profiler/operand_data.hpp"

namespace nest::profiler::device {

namespace {

constexpr int kThreads = 256;

unsigned grid_for(std::size_t n) {
  const std::size_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 8 ? (blocks == 0 ? 1 : blocks) : 65535 * 8);
}

__global__ void fill_input_kernel(void* buf, bool bf16, std::size_t n, int rank, int ranks) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float v = input_value(rank, ranks, i);
    if (bf16)
      static_cast<std::uint16_t*>(buf)[i] = float_to_bf16(v);
    else
      static_cast<float*>(buf)[i] = v;
  }
}

__global__ void fill_operand_kernel(std::uint16_t* buf, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    buf[i] = float_to_bf16(operand_value(seed, i));
}

__global__ void fill_poison_kernel(void* buf, bool bf16, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    if (bf16)
      static_cast<std::uint16_t*>(buf)[i] = 0xFFFFu;
    else
      static_cast<std::uint32_t*>(buf)[i] = 0x7FC00000u;  // NaN
  }
}

__global__ void count_wrong_kernel(const void* buf, bool bf16, kernels::Collective c, int rank, int n, std::size_t count,
                                   std::size_t recv, unsigned long long* d_count) {
  unsigned long long wrong = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < recv;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float got = bf16 ? bf16_to_float(static_cast<const std::uint16_t*>(buf)[i]) : static_cast<const float*>(buf)[i];
    wrong += value_wrong(got, expected_value(c, rank, n, count, i)) ? 1 : 0;
  }
  if (wrong) atomicAdd(d_count, wrong);
}

__global__ void copy_kernel(int4* dst, const int4* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

}  // namespace

void fill_input(void* buf, bool bf16, std::size_t n, int rank, int ranks, cudaStream_t stream) {
  fill_input_kernel<<<grid_for(n), kThreads, 0, stream>>>(buf, bf16, n, rank, ranks);
}

void fill_operand_bf16(void* buf, std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  fill_operand_kernel<<<grid_for(n), kThreads, 0, stream>>>(static_cast<std::uint16_t*>(buf), n, seed);
}

void fill_poison(void* buf, bool bf16, std::size_t n, cudaStream_t stream) {
  fill_poison_kernel<<<grid_for(n), kThreads, 0, stream>>>(buf, bf16, n);
}

void count_wrong(const void* buf, bool bf16, kernels::Collective c, int rank, int n, std::size_t count, std::size_t recv,
                 unsigned long long* d_count, cudaStream_t stream) {
  count_wrong_kernel<<<grid_for(recv), kThreads, 0, stream>>>(buf, bf16, c, rank, n, count, recv, d_count);
}

void copy_bytes(void* dst, const void* src, std::size_t bytes, cudaStream_t stream) {
  const std::size_t n = bytes / sizeof(int4);
  copy_kernel<<<grid_for(n), kThreads, 0, stream>>>(static_cast<int4*>(dst), static_cast<const int4*>(src), n);
}

}  // namespace nest::profiler::device
