// Least-squares fits of the cost model's parameters to measurements.
//
// Collectives (per network level, per collective and combined over the collectives the planner
// issues, which leaves broadcast and reduce out):
//
//   t = lower + latency * steps + x / bandwidth
//
// where, for a group with m_l members at level l and top level L (nest/kernels/collectives.hpp):
//   steps = latency_steps(c, m_L)                 (ring: 2(m-1) all-reduce, m-1 gather/scatter,
//                                                  broadcast and reduce, 1 otherwise)
//   x     = bytes * f(c, m_L) / prod_{l<L} m_l     all-reduce, all-gather, reduce-scatter, broadcast, reduce
//         = bytes * f(c, m_L)                     all-to-all (the share that leaves the lower levels)
//         = bytes                                 send/recv
//   f     = the nccl-tests bus-bandwidth factor (bus_bandwidth_factor; 1 for broadcast and reduce)
//   lower = sum_{l<L} latency_l * latency_steps(c, m_l) for the ring collectives, 0 otherwise
// so for a group inside one level `bandwidth` is the nccl-tests bus bandwidth and `latency` the
// per-step latency the planner's alpha-beta formulas use. Fitted by weighted least squares with
// weights 1/t^2 (the relative error is minimised, so small and large messages count alike),
// constrained to latency >= 0 and 1/bandwidth >= 0 (a two-variable NNLS solved exactly by
// trying the active sets).
//
// GEMM efficiency: efficiency(x) = e_max * x / (x + x_half), x = min(M, N, K), efficiency =
// achieved FLOP/s / peak; relative least squares, x_half by a log-spaced search then golden-
// section refinement, e_max in closed form for each x_half and capped at 1.
#pragma once

#include <vector>

#include "nest/profiler/profile.hpp"

namespace nest::profiler {

struct AlphaBetaPoint {
  double steps = 0;  // latency steps
  double x = 0;      // bytes that cross the level's per-GPU link
  double t = 0;      // measured seconds
  double lower = 0;  // seconds already explained by lower levels' latency
};

AlphaBetaFit fit_alpha_beta(const std::vector<AlphaBetaPoint>& points);

// The fit point of one sample of a series (for the series' top level), with the latencies of
// the lower levels (index l < series.level; missing entries count as 0).
AlphaBetaPoint alpha_beta_point(const CollectiveSeries& s, const CollectiveSample& x, const std::vector<double>& lower_latency);

struct EfficiencyPoint {
  double x = 0;           // min(M, N, K)
  double efficiency = 0;  // achieved / peak
};

// Returns e_max, x_half and the errors (peak fields are left to the caller).
EfficiencyFit fit_efficiency(const std::vector<EfficiencyPoint>& points);

// The factor c that brings c * predicted[i] closest to measured[i] in relative terms (least
// squares of (c p - m) / m over the pairs with m > 0); 0 without such a pair.
double relative_scale(const std::vector<double>& predicted, const std::vector<double>& measured);

}  // namespace nest::profiler
