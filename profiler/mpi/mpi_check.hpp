// NEST_MPI_CHECK: every MPI call goes through it (communicators use MPI_ERRORS_RETURN). A
// failure throws nest::Error (exit code 3) with file:line, the call and MPI's own error string.
#pragma once

#include <mpi.h>

#include <string>

#include "nest/core/error.hpp"

namespace nest::profiler {

inline std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(len));
}

}  // namespace nest::profiler

#define NEST_MPI_CHECK(call)                                                                                             \
  do {                                                                                                                   \
    const int nest_mpi_err_ = (call);                                                                                    \
    if (nest_mpi_err_ != MPI_SUCCESS)                                                                                    \
      ::nest::throw_runtime(std::string("MPI error at ") + __FILE__ + ":" + std::to_string(__LINE__) + ": " #call ": " + \
                            ::nest::profiler::mpi_error_string(nest_mpi_err_));                                          \
  } while (0)
