// The harness hooks on device memory (the NCCL backend): the same values and checks as
// host_data.hpp, from collective_data.hpp, run by CUDA kernels (device_data.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "nest/kernels/collectives.hpp"

namespace nest::profiler::device {

void fill_input(void* buf, bool bf16, std::size_t n, int rank, int ranks, cudaStream_t stream);
void fill_poison(void* buf, bool bf16, std::size_t n, cudaStream_t stream);
// bf16 GEMM operands: operand_value(seed, i) at index i (operand_data.hpp says why random).
void fill_operand_bf16(void* buf, std::size_t n, std::uint64_t seed, cudaStream_t stream);
// Adds the number of wrong values of the receive buffer to *d_count (device memory).
void count_wrong(const void* buf, bool bf16, kernels::Collective c, int rank, int n, std::size_t count, std::size_t recv,
                 unsigned long long* d_count, cudaStream_t stream);
// Copies `bytes` (a multiple of 16) with a grid-stride 16-byte-vector kernel: the bandwidth
// measurement for memory-bound operators.
void copy_bytes(void* dst, const void* src, std::size_t bytes, cudaStream_t stream);

}  // namespace nest::profiler::device
