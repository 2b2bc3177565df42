// NEST_CUDA_CHECK: every CUDA runtime call goes through it. A failure throws nest::Error
// (exit code 3) with file:line, the call and the runtime's own error string.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "nest/core/error.hpp"

#define NEST_CUDA_CHECK(call)                                                                                             \
  do {                                                                                                                    \
    const cudaError_t nest_cuda_err_ = (call);                                                                            \
    if (nest_cuda_err_ != cudaSuccess)                                                                                    \
      ::nest::throw_runtime(std::string("CUDA error at ") + __FILE__ + ":" + std::to_string(__LINE__) + ": " #call ": " + \
                            cudaGetErrorString(nest_cuda_err_));                                                          \
  } while (0)
