// Units: bytes, seconds, FLOP/s internally; GB = 1e9 bytes and GB/s = 1e9 bytes/s at the edges.
#pragma once

namespace nest {

inline constexpr double kGB = 1e9;  // the contract's GB (presets, reports)
inline constexpr double kGiB = 1073741824.0;
inline constexpr double kMiB = 1048576.0;
inline constexpr double kTera = 1e12;
inline constexpr double kMicro = 1e-6;

}  // namespace nest
