// What the operator profiler puts in GEMM operands: pseudo-random values, uniform in [-1, 1),
// from a counter hash of (seed, index) (SplitMix64's finaliser), so every element is
// independent of its neighbours and the same on any device or thread count.
//
// Why not the collectives' small integers (collective_data.hpp): a tensor core's power draw,
// and so the clock it holds under the power limit, depends on how many bits toggle. Repeating
// low-entropy operands (zeros, small integers) let a GEMM run measurably faster than on the
// random-like weights and activations of training (on one H200 here: 943 TFLOP/s at the best
// shape on the integer pattern; see docs/cost-model.md §3.1 for the random-data figures).
// C++17 and NEST_HD, so nvcc compiles it for the device and the tests run it on the host.
#pragma once

#include <cstdint>

#include "nest/kernels/hd.hpp"

namespace nest::profiler {

NEST_HD_INLINE std::uint64_t operand_hash(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [-1, 1): the hash's top 24 bits as a float's mantissa-exact fraction.
NEST_HD_INLINE float operand_value(std::uint64_t seed, std::uint64_t i) {
  const std::uint32_t top = static_cast<std::uint32_t>(operand_hash(seed, i) >> 40);  // 24 bits
  return static_cast<float>(top) * (2.0f / 16777216.0f) - 1.0f;
}

}  // namespace nest::profiler
