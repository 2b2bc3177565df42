// NEST_HD marks functions that run on both the host and the device: __host__ __device__ under
// nvcc, nothing under a host compiler. Every formula the DP evaluates is written once with it,
// so the CPU backend (the reference) and the CUDA backend execute the very same code.
#pragma once

#if defined(__CUDACC__)
#define NEST_HD __host__ __device__
#define NEST_HD_INLINE __host__ __device__ __forceinline__
#else
#define NEST_HD
#define NEST_HD_INLINE inline
#endif

namespace nest::kernels {

template <class T>
NEST_HD_INLINE constexpr T min_of(T a, T b) {
  return b < a ? b : a;
}
template <class T>
NEST_HD_INLINE constexpr T max_of(T a, T b) {
  return a < b ? b : a;
}

}  // namespace nest::kernels
