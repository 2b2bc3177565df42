// Pipeline formulas, and the replay of Megatron's interleaved schedule they rely on.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <tuple>
#include <vector>

#include "nest/cost/schedule.hpp"
#include "nest/kernels/pipeline.hpp"

namespace nest::kernels {
namespace {

// Brute force: replay the whole schedule and take the peak of sum_c live_c * bytes_c. With
// `torch`, PyTorch's ScheduleInterleaved1F1B as its code reads (schedules.py: _get_warmup_ops,
// forward_stage_index, backward_stage_index), written out here apart from pipeline.hpp.
// `extra`: Megatron's warm-up as schedules.py:930-943 (core_v0.19) writes it, with one more
// forward under --overlap-moe-expert-parallel-comm (extra = 1).
double brute_force_peak(int p, int v, int m, int i, const std::vector<double>& bytes, bool torch = false, int extra = -1) {
  const int total = m * v;
  const int rounds = std::max(1, m / p), per_round = torch ? m / rounds : p;
  int warmup = torch ? std::min((v - 1) * per_round + 2 * ((p - 1) - i), total) : interleaved_warmup_passes(p, v, m, i);
  if (extra >= 0) warmup = std::min((p - i - 1) * 2 + (v - 1) * p + extra, total);
  std::vector<int> live(static_cast<std::size_t>(v), 0);
  double peak = 0;
  auto chunk = [&](int k, bool fwd) {
    const int c = (k / per_round) % v;
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
            EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, bytes, 1), brute_force_peak(p, v, m, i, bytes, true))
                << "torch " << p << " " << v << " " << m << " " << i;
          }
  // PyTorch also runs microbatch counts that are no multiple of p (one round of m).
  for (int p : {2, 4, 8})
    for (int v : {2, 3})
      for (int m : {p + 1, p + p / 2, 3 * p - 1})
        for (int i = 0; i < p; ++i) {
          std::vector<double> x(static_cast<std::size_t>(v), 1.0);
          x.back() = 9.0;
          EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, x, 1), brute_force_peak(p, v, m, i, x, true))
              << "torch " << p << " " << v << " " << m << " " << i;
        }
}

// Megatron-Core's EP overlap runs one more warm-up forward (schedules.py:939-943), so each
// forward of the steady state pairs with an independent backward: one more pass in flight.
TEST(Pipeline, OneMoreWarmupForwardHoldsOneMorePass) {
  for (int p : {2, 4, 8})
    for (int v : {2, 3})
      for (int m : {p, 2 * p, 4 * p})
        for (int i = 0; i < p; ++i) {
          std::vector<double> x(static_cast<std::size_t>(v), 1.0);
          x.front() = 5.0;
          EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, x, 0, 1), brute_force_peak(p, v, m, i, x, false, 1))
              << p << " " << v << " " << m << " " << i;
          EXPECT_DOUBLE_EQ(interleaved_peak_bytes(p, v, m, i, x, 0, 0), brute_force_peak(p, v, m, i, x, false, 0));
          const std::vector<double> ones(static_cast<std::size_t>(v), 1.0);
          EXPECT_EQ(interleaved_peak_bytes(p, v, m, i, ones, 0, 1), interleaved_inflight_passes(p, v, m, i, 0, 1));
          EXPECT_EQ(interleaved_inflight_passes(p, v, m, i, 0, 1), std::min(interleaved_inflight_passes(p, v, m, i) + 1, m * v));
        }
  // 1F1B and no pipeline: one more microbatch, as many as there are at most.
  EXPECT_EQ(inflight_microbatches_1f1b(1, 8, 0, 1), 2);  // combined_1f1b.py:34-60: k+1's forward beside k's backward
  EXPECT_EQ(inflight_microbatches_1f1b(1, 1, 0, 1), 1);
  EXPECT_EQ(inflight_microbatches_1f1b(4, 8, 0, 1), 5);
}

// With m == p neither runtime runs every forward first on the last stage: Megatron-LM dropped
// that rule in core_r0.10.0 (get_pp_rank_microbatches at core_v0.19.0: the warm-up count, capped
// at m v) and PyTorch never had it, so the last stage holds one pass of the last chunk (the
// head) at a time; the first stage's warm-up reaches m v.
TEST(Pipeline, InterleavedHasNoAllForwardRule) {
  for (int torch : {0, 1}) {
    EXPECT_EQ(interleaved_warmup_passes(8, 2, 8, 7, torch), 8) << torch;
    EXPECT_EQ(interleaved_warmup_passes(8, 2, 8, 0, torch), 16) << torch;  // (v-1) 8 + 2 x 7, capped at m v
    EXPECT_DOUBLE_EQ(interleaved_peak_bytes(8, 2, 8, 7, {1.0, 10.0}, torch), 8 + 10.0) << torch;
  }
  // Megatron-LM's functional test gpt3_7b_tp1_pp4_memory_speed: p 4, v 8, m 4: the last stage
  // runs 28 warm-up forwards (chunks 0-6 of the four microbatches) and holds 29 passes.
  EXPECT_EQ(interleaved_inflight_passes(4, 8, 4, 3), 29);
  // p = 2, v = 2, m = 2, last stage, PyTorch's order: two warm-up forwards of chunk 0, then
  // forward and backward of chunk 1, then chunk 0's backwards.
  const std::vector<std::tuple<bool, int, int>> expected = {{true, 0, 0}, {true, 0, 1},  {true, 1, 0},  {false, 1, 0},
                                                            {true, 1, 1}, {false, 1, 1}, {false, 0, 0}, {false, 0, 1}};
  const auto order = schedule_order(2, 2, 2, 1, 1);
  ASSERT_EQ(order.size(), expected.size());
  for (std::size_t x = 0; x < order.size(); ++x)
    EXPECT_EQ(std::make_tuple(order[x].forward, order[x].chunk, order[x].microbatch), expected[x]) << x;
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

TEST(Pipeline, ScheduleOrderIsMegatrons) {
  // Interleaved, p = 2, v = 2, m = 4, stage 0 (schedules.py): 4 warm-up forwards, chunks and
  // microbatches taken in groups of p, then one forward and one backward at a time.
  const std::vector<std::tuple<bool, int, int>> expected = {
      {true, 0, 0}, {true, 0, 1},  {true, 1, 0}, {true, 1, 1},  {true, 0, 2},  {false, 1, 0}, {true, 0, 3},  {false, 1, 1},
      {true, 1, 2}, {false, 0, 0}, {true, 1, 3}, {false, 0, 1}, {false, 1, 2}, {false, 1, 3}, {false, 0, 2}, {false, 0, 3}};
  const auto order = schedule_order(2, 2, 4, 0);
  ASSERT_EQ(order.size(), expected.size());
  for (std::size_t x = 0; x < order.size(); ++x)
    EXPECT_EQ(std::make_tuple(order[x].forward, order[x].chunk, order[x].microbatch), expected[x]) << x;
  // 1F1B, p = 4, m = 6, stage 1: two warm-up forwards, then alternating, then the rest.
  const std::vector<std::pair<bool, int>> one = {{true, 0}, {true, 1},  {true, 2}, {false, 0}, {true, 3},  {false, 1},
                                                 {true, 4}, {false, 2}, {true, 5}, {false, 3}, {false, 4}, {false, 5}};
  const auto o1 = schedule_order(4, 1, 6, 1);
  ASSERT_EQ(o1.size(), one.size());
  for (std::size_t x = 0; x < o1.size(); ++x) EXPECT_EQ(std::make_pair(o1[x].forward, o1[x].microbatch), one[x]) << x;
}

TEST(Pipeline, ScheduleOrderRunsEveryPassOnceForwardFirst) {
  for (int torch : {0, 1})
    for (int p : {1, 2, 3, 4, 8})
      for (int v : {1, 2, 3, 4})
        for (int m : {1, 2, p, 2 * p, 5 * p, p + 1}) {
          if (v > 1 && (p < 2 || (!torch && m % p != 0) || (torch && m % std::max(1, m / p) != 0))) continue;
          for (int i = 0; i < p; ++i) {
            const auto order = schedule_order(p, v, m, i, torch);
            ASSERT_EQ(order.size(), static_cast<std::size_t>(2 * m * v));
            std::vector<int> seen(static_cast<std::size_t>(2 * m * v), 0);
            int first_backward = -1;
            for (std::size_t x = 0; x < order.size(); ++x) {
              const PipelinePass& ps = order[x];
              ASSERT_TRUE(ps.chunk >= 0 && ps.chunk < v && ps.microbatch >= 0 && ps.microbatch < m);
              const int k = (ps.chunk * m + ps.microbatch) * 2;
              if (!ps.forward) {
                EXPECT_EQ(seen[static_cast<std::size_t>(k)], 1) << "backward before its forward";
                if (first_backward < 0) first_backward = static_cast<int>(x);
              }
              ++seen[static_cast<std::size_t>(k + (ps.forward ? 0 : 1))];
            }
            for (int c : seen) EXPECT_EQ(c, 1);
            // The forwards run before the first backward are the warm-up plus one (all of them
            // when the warm-up takes every pass).
            const int warmup = v == 1 ? std::min(p - i - 1, m) : interleaved_warmup_passes(p, v, m, i, torch);
            EXPECT_EQ(first_backward, std::min(warmup + 1, m * v)) << p << " " << v << " " << m << " " << i;
          }
        }
}

}  // namespace
}  // namespace nest::kernels
