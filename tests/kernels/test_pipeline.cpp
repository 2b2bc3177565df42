// Pipeline formulas, and the replay of Megatron's interleaved schedule they rely on.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "nest/cost/schedule.hpp"
#include "nest/kernels/pipeline.hpp"

namespace nest::kernels {
namespace {

// Brute force: replay the whole schedule and take the peak of sum_c live_c * bytes_c.
double brute_force_peak(int p, int v, int m, int i, const std::vector<double>& bytes) {
  const int total = m * v, warmup = interleaved_warmup_passes(p, v, m, i);
  std::vector<int> live(static_cast<std::size_t>(v), 0);
  double peak = 0;
  auto chunk = [&](int k, bool fwd) {
    const int c = (k % (p * v)) / p;
    return fwd ? c : v - 1 - c;
  };
  auto note = [&] {
    double b = 0;
    for (int c = 0; c < v; ++c) b += live[static_cast<std::size_t>(c)] * bytes[static_cast<std::size_t>(c)];
    peak = std::max(peak, b);
  };
  int f = 0, b = 0;
  for (; f < warmup; ++f) {
    ++live[static_cast<std::size_t>(chunk(f, true))];
    note();
  }
  while (f < total) {
    ++live[static_cast<std::size_t>(chunk(f++, true))];
    note();
    --live[static_cast<std::size_t>(chunk(b++, false))];
  }
  return peak;
}

TEST(Pipeline, BoundedReplayMatchesTheFullSchedule) {
  for (int p : {2, 3, 4, 8})
    for (int v : {2, 3, 4})
      for (int m : {p, 2 * p, 4 * p, 16 * p})
        for (int i = 0; i < p; ++i)
          for (const std::vector<double>& bytes : {std::vector<double>(static_cast<std::size_t>(v), 1.0),
                                                   [&] {
                                                     std::vector<double> x(static_cast<std::size_t>(v), 1.0);
                                                     x[0] = 7.5;
                                                     return x;
                                                   }(),
                                                   [&] {
                                                     std::vector<double> x(static_cast<std::size_t>(v), 1.0);
                                                     x.back() = 11.0;
                                                     return x;
                                                   }()}) {
            EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, bytes), brute_force_peak(p, v, m, i, bytes))
                << p << " " << v << " " << m << " " << i;
          }
}

TEST(Pipeline, InterleavedPeakTotalIsWarmupPlusOne) {
  for (int p : {2, 4, 8})
    for (int v : {2, 3, 4})
      for (int m : {p, 2 * p, 4 * p})
        for (int i = 0; i < p; ++i)
          EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, std::vector<double>(static_cast<std::size_t>(v), 1.0)),
                           interleaved_inflight_passes(p, v, m, i))
              << p << " " << v << " " << m << " " << i;
}

// The per-chunk split moves during the steady state: with p = v = 2 stage 0 first holds
// 3 passes of chunk 0 and 2 of chunk 1, later 4 of chunk 0 and 1 of chunk 1.
TEST(Pipeline, InterleavedChunkSplitMoves) {
  EXPECT_DOUBLE_EQ(interleaved_peak_bytes(2, 2, 8, 0, {10.0, 1.0}), 41.0);
  EXPECT_DOUBLE_EQ(interleaved_peak_bytes(2, 2, 8, 0, {1.0, 10.0}), 23.0);
  const auto front = interleaved_edge_front(2, 2, 8, 0, 0);
  EXPECT_NE(std::find(front.begin(), front.end(), std::make_pair(5, 4)), front.end());
}

TEST(Pipeline, KorthikantiInterleavedMemoryFactor) {
  // Stage 0 holds p (1 + (p-1)/(p v)) microbatches' worth of a stage's activations.
  for (int p : {2, 4, 8, 16})
    for (int v : {2, 4}) {
      const double held = static_cast<double>(interleaved_inflight_passes(p, v, 64 * p, 0)) / v;
      EXPECT_DOUBLE_EQ(held, p * (1 + (p - 1.0) / (p * v))) << p << " " << v;
    }
}

TEST(Pipeline, OneFOneBInflight) {
  EXPECT_EQ(inflight_microbatches_1f1b(4, 32, 0), 4);
  EXPECT_EQ(inflight_microbatches_1f1b(4, 32, 3), 1);
  EXPECT_EQ(inflight_microbatches_1f1b(8, 2, 0), 2);
}

TEST(Pipeline, StepTimeReducesToSc21ForUniformStages) {
  // Uniform stage time t: 1F1B (m + p - 1) t; interleaved (m + (p-1)/v) t (SC21 §2.2).
  const double t = 0.1;
  for (int p : {1, 4, 8})
    for (int v : {1, 2, 4})
      for (int m : {8, 32}) EXPECT_NEAR(pipeline_time(p * t, t, m, v), (m + (p - 1.0) / v) * t, 1e-12);
}

}  // namespace
}  // namespace nest::kernels
