// The harness hooks on host memory (the MPI backend): fill a send buffer, poison a receive
// buffer, count wrong values, with the values of collective_data.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "nest/profiler/collective_data.hpp"

namespace nest::profiler {

// `n` elements of rank `rank` in a group of `ranks`.
inline void host_fill_input(void* buf, bool bf16, std::size_t n, int rank, int ranks) {
  if (bf16) {
    auto* p = static_cast<std::uint16_t*>(buf);
    for (std::size_t i = 0; i < n; ++i) p[i] = float_to_bf16(input_value(rank, ranks, i));
  } else {
    auto* p = static_cast<float*>(buf);
    for (std::size_t i = 0; i < n; ++i) p[i] = input_value(rank, ranks, i);
  }
}

inline void host_fill_poison(void* buf, bool bf16, std::size_t n) {
  if (bf16) {
    auto* p = static_cast<std::uint16_t*>(buf);
    for (std::size_t i = 0; i < n; ++i) p[i] = 0xFFFFu;  // NaN
  } else {
    auto* p = static_cast<float*>(buf);
    for (std::size_t i = 0; i < n; ++i) p[i] = std::numeric_limits<float>::quiet_NaN();
  }
}

// `count` is CollectiveCounts::count, `recv` the receive buffer's elements.
inline std::int64_t host_count_wrong(const void* buf, bool bf16, kernels::Collective c, int rank, int n, std::size_t count,
                                     std::size_t recv) {
  std::int64_t wrong = 0;
  for (std::size_t i = 0; i < recv; ++i) {
    const float got = bf16 ? bf16_to_float(static_cast<const std::uint16_t*>(buf)[i]) : static_cast<const float*>(buf)[i];
    wrong += value_wrong(got, expected_value(c, rank, n, count, i)) ? 1 : 0;
  }
  return wrong;
}

}  // namespace nest::profiler
