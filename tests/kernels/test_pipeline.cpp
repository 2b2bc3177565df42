// Pipeline formulas, and the replay of Megatron's interleaved schedule they rely on.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "nest/cost/schedule.hpp"
#include "nest/kernels/pipeline.hpp"

namespace nest::kernels {
namespace {

TEST(Pipeline, InterleavedPeakTotalIsWarmupPlusOne) {
  for (int p : {2, 4, 8})
    for (int v : {2, 3, 4})
      for (int m : {p, 2 * p, 4 * p})
        for (int i = 0; i < p; ++i) {
          int best = 0;
          for (const auto& x : interleaved_live_moments(p, v, m, i)) best = std::max(best, std::accumulate(x.begin(), x.end(), 0));
          EXPECT_EQ(best, interleaved_inflight_passes(p, v, m, i)) << p << " " << v << " " << m << " " << i;
        }
}

// The per-chunk split moves during the steady state: with p = v = 2 stage 0 first holds
// 3 passes of chunk 0 and 2 of chunk 1, later 4 of chunk 0 and 1 of chunk 1.
TEST(Pipeline, InterleavedChunkSplitMoves) {
  const auto moments = interleaved_live_moments(2, 2, 8, 0);
  bool saw_4_1 = false, saw_3_2 = false;
  for (const auto& x : moments) {
    saw_4_1 = saw_4_1 || (x[0] == 4 && x[1] == 1);
    saw_3_2 = saw_3_2 || (x[0] == 3 && x[1] == 2);
  }
  EXPECT_TRUE(saw_4_1);
  EXPECT_TRUE(saw_3_2);
  EXPECT_DOUBLE_EQ(interleaved_peak_bytes(moments, {10.0, 1.0}), 41.0);
  EXPECT_DOUBLE_EQ(interleaved_peak_bytes(moments, {1.0, 10.0}), 23.0);
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
