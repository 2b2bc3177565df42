// The per-collective hooks of the harness, written once for the host (MPI backend) and the
// device (NCCL backend, profiler/nccl/device_data.cu), like nccl-tests' per-collective files:
//   - collective_counts: buffer element counts from the nominal size (nccl-tests convention:
//     `bytes` is the all-reduce buffer, the all-gather output, the reduce-scatter input, the
//     all-to-all buffer per rank, the send/recv message), rounded down to whole elements per rank;
//   - input_value: what rank r of n puts at send index i (small integers chosen so that every
//     partial sum of a reduction, in any order, is exact in bf16 and fp32);
//   - expected_value: what rank q must find at receive index i afterwards;
//   - the bus-bandwidth factor is nest::kernels::bus_bandwidth_factor (not repeated here).
// C++17 and NEST_HD, so nvcc compiles it for the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "nest/kernels/collectives.hpp"
#include "nest/kernels/hd.hpp"

namespace nest::profiler {

struct CollectiveCounts {
  std::size_t send = 0;   // elements in each rank's send buffer
  std::size_t recv = 0;   // elements in each rank's receive buffer
  std::size_t count = 0;  // nccl-tests "count" column (elements per rank per peer/block)
  std::size_t bytes = 0;  // the rounded nominal size
};

NEST_HD_INLINE CollectiveCounts collective_counts(kernels::Collective c, std::size_t bytes, int n, std::size_t elem) {
  CollectiveCounts r;
  const std::size_t un = n > 0 ? static_cast<std::size_t>(n) : 1;
  switch (c) {
    case kernels::Collective::AllReduce:
    case kernels::Collective::SendRecv:
    case kernels::Collective::Broadcast:  // nccl-tests' sendcount = recvcount = count
    case kernels::Collective::Reduce:
      r.count = bytes / elem;
      r.send = r.recv = r.count;
      r.bytes = r.count * elem;
      break;
    case kernels::Collective::AllGather:
      r.count = bytes / (elem * un);
      r.send = r.count;
      r.recv = r.count * un;
      r.bytes = r.recv * elem;
      break;
    case kernels::Collective::ReduceScatter:
      r.count = bytes / (elem * un);
      r.send = r.count * un;
      r.recv = r.count;
      r.bytes = r.send * elem;
      break;
    case kernels::Collective::AllToAll:
      r.count = bytes / (elem * un);
      r.send = r.recv = r.count * un;
      r.bytes = r.send * elem;
      break;
  }
  return r;
}

// nccl-tests' rule (verifiable/verifiable.cu, genSumXY and verifyPrepared): inputs are built so
// that a reduction is exact whatever order the ranks are summed in, and the check then allows no
// error. Here: values 0..3, and at most kExactContributors ranks non-zero at any index, so every
// partial sum is an integer <= 255, which bf16 (8 significant bits) and fp32 hold exactly. Up to
// 85 ranks every rank contributes everywhere; beyond, rank r contributes at the indices where
// (r + i) is a multiple of ceil(n / 85), so the check stays exact on any number of ranks (a
// tolerance instead would have to grow with n: ring-order bf16 sums of 0..3 over 256+ ranks are
// 12-67% off).
inline constexpr int kExactContributors = 85;  // 85 x 3 = 255 < 256 = 2^8

NEST_HD_INLINE int contributor_stride(int n) {
  return n <= kExactContributors ? 1 : (n + kExactContributors - 1) / kExactContributors;
}

NEST_HD_INLINE float input_value(int rank, int n, std::size_t i) {
  const std::size_t stride = static_cast<std::size_t>(contributor_stride(n));
  const std::size_t r = static_cast<std::size_t>(rank);
  if ((r + i) % stride != 0) return 0;
  return static_cast<float>((r / stride + 3 * i) % 4);
}

NEST_HD_INLINE float sum_over_ranks(int n, std::size_t i) {
  float s = 0;
  for (int r = 0; r < n; ++r) s += input_value(r, n, i);
  return s;
}

// `count` is CollectiveCounts::count; `rank` the rank inside the group.
NEST_HD_INLINE float expected_value(kernels::Collective c, int rank, int n, std::size_t count, std::size_t i) {
  switch (c) {
    case kernels::Collective::AllReduce:
      return sum_over_ranks(n, i);
    case kernels::Collective::AllGather:
      return input_value(static_cast<int>(i / count), n, i % count);
    case kernels::Collective::ReduceScatter:
      return sum_over_ranks(n, static_cast<std::size_t>(rank) * count + i);
    case kernels::Collective::AllToAll:
      return input_value(static_cast<int>(i / count), n, static_cast<std::size_t>(rank) * count + i % count);
    case kernels::Collective::SendRecv:
      return input_value((rank - 1 + n) % n, n, i);
    // The harness does not measure these two (run_profile refuses them; they come from nccl-tests
    // logs): what the root, rank 0, holds afterwards.
    case kernels::Collective::Broadcast:
      return input_value(0, n, i);
    case kernels::Collective::Reduce:
      return sum_over_ranks(n, i);
  }
  return 0;
}

// Send/recv peers: every rank sends to the next and receives from the previous (a ring).
NEST_HD_INLINE int send_peer(int rank, int n) { return (rank + 1) % n; }
NEST_HD_INLINE int recv_peer(int rank, int n) { return (rank - 1 + n) % n; }

// bf16 <-> fp32, round to nearest even (no NaNs occur in the test data).
NEST_HD_INLINE std::uint16_t float_to_bf16(float f) {
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

NEST_HD_INLINE float bf16_to_float(std::uint16_t h) {
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

// A value is wrong when it differs from the expected one at all (the inputs make every result
// exact; NaN, the poison of unwritten elements, is wrong too), as nccl-tests counts #wrong for
// sum reductions (tolerance 0).
NEST_HD_INLINE bool value_wrong(float got, float want) { return !(got == want); }

}  // namespace nest::profiler
