// NEST_NCCL_CHECK: every NCCL call goes through it. A failure throws nest::Error (exit code 3)
// with file:line, the call, NCCL's error string and its last error message.
#pragma once

#include <nccl.h>

#include <string>

#include "nest/core/error.hpp"

namespace nest::profiler {

inline std::string nccl_error_text(ncclResult_t r) {
  std::string s = ncclGetErrorString(r);
#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= 21300
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) s += std::string(" (") + last + ")";
#endif
  return s;
}

}  // namespace nest::profiler

#define NEST_NCCL_CHECK(call)                                                                                             \
  do {                                                                                                                    \
    const ncclResult_t nest_nccl_res_ = (call);                                                                           \
    if (nest_nccl_res_ != ncclSuccess && nest_nccl_res_ != ncclInProgress)                                                \
      ::nest::throw_runtime(std::string("NCCL error at ") + __FILE__ + ":" + std::to_string(__LINE__) + ": " #call ": " + \
                            ::nest::profiler::nccl_error_text(nest_nccl_res_));                                           \
  } while (0)
