// Fits on synthetic data with known parameters, the harness' pure parts (groups per level,
// size sweeps, statistics) and the per-collective hooks (data, expected values, counts) checked
// against a host simulation of every collective.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "nest/core/error.hpp"
#include "nest/model/model_config.hpp"
#include "nest/profiler/fit.hpp"
#include "nest/profiler/harness.hpp"
#include "nest/profiler/host_data.hpp"
#include "nest/profiler/operators.hpp"

namespace nest::profiler {
namespace {

CollectiveSeries synthetic(Collective c, int level, std::vector<int> members, double latency, double bandwidth,
                           const std::vector<double>& lower_latency = {}, double noise = 0) {
  CollectiveSeries s;
  s.collective = c;
  s.level = level;
  s.members = members;
  s.group_size = 1;
  for (int m : members) s.group_size *= m;
  s.group = "synthetic:" + std::to_string(s.group_size);
  int i = 0;
  for (double bytes = 1024; bytes <= 1024.0 * 1024 * 1024; bytes *= 4, ++i) {
    CollectiveSample x;
    x.bytes = bytes;
    const AlphaBetaPoint p = alpha_beta_point(s, x, lower_latency);
    x.time_s = (p.lower + latency * p.steps + p.x / bandwidth) * (1 + (i % 2 ? noise : -noise));
    s.samples.push_back(x);
  }
  return s;
}

TEST(ProfilerFit, RecoversLatencyAndBandwidthExactly) {
  for (Collective c : all_collectives()) {
    std::vector<AlphaBetaPoint> pts;
    for (int n : {2, 4, 8}) {
      const CollectiveSeries s = synthetic(c, 0, {n}, 3e-6, 150e9);
      for (const auto& x : s.samples) pts.push_back(alpha_beta_point(s, x, {}));
    }
    const AlphaBetaFit f = fit_alpha_beta(pts);
    EXPECT_NEAR(f.latency_s / 3e-6, 1, 1e-9) << collective_name(c);
    EXPECT_NEAR(f.bandwidth / 150e9, 1, 1e-9) << collective_name(c);
    EXPECT_LT(f.max_rel_error, 1e-9);
    EXPECT_TRUE(f.bandwidth_resolved);
    EXPECT_EQ(f.samples, 33);
  }
}

TEST(ProfilerFit, NoisyDataStaysClose) {
  std::vector<AlphaBetaPoint> pts;
  const CollectiveSeries s = synthetic(Collective::AllReduce, 0, {8}, 5e-6, 100e9, {}, 0.05);
  for (const auto& x : s.samples) pts.push_back(alpha_beta_point(s, x, {}));
  const AlphaBetaFit f = fit_alpha_beta(pts);
  EXPECT_NEAR(f.bandwidth / 100e9, 1, 0.1);
  EXPECT_NEAR(f.latency_s / 5e-6, 1, 0.1);
  EXPECT_NEAR(f.max_rel_error, 0.05, 0.02);
  EXPECT_GT(f.rms_rel_error, 0.02);
}

TEST(ProfilerFit, LatencyNeverNegativeAndFlatDataIsUnresolved) {
  // Pure bandwidth (a negative intercept would fit better): latency clamps at 0.
  std::vector<AlphaBetaPoint> pts;
  for (double x = 1e6; x < 1e10; x *= 2) pts.push_back({2, x, x / 50e9 * 0.99 - 1e-7 + 1e-9, 0});
  AlphaBetaFit f = fit_alpha_beta(pts);
  EXPECT_GE(f.latency_s, 0);
  EXPECT_NEAR(f.bandwidth / 50e9, 1, 0.05);
  // Flat times: no bandwidth term can be seen.
  pts.clear();
  for (double x = 1; x < 1e4; x *= 2) pts.push_back({2, x, 10e-6, 0});
  f = fit_alpha_beta(pts);
  EXPECT_FALSE(f.bandwidth_resolved);
  EXPECT_NEAR(f.latency_s, 5e-6, 1e-12);
  EXPECT_GT(f.bandwidth, 0);
}

TEST(ProfilerFit, ProfileRefitPerLevelUsesLowerLevelLatency) {
  Profile p;
  p.levels = {{"node", 4}, {"network", 8}};
  const double lat0 = 2e-6, bw0 = 300e9, lat1 = 10e-6, bw1 = 40e9;
  for (Collective c : all_collectives()) {
    p.collectives.push_back(synthetic(c, 0, {2}, lat0, bw0));
    p.collectives.push_back(synthetic(c, 0, {4}, lat0, bw0));
    p.collectives.push_back(synthetic(c, 1, {1, 2}, lat1, bw1, {lat0}));
    p.collectives.push_back(synthetic(c, 1, {4, 2}, lat1, bw1, {lat0}));
  }
  refit(p);
  int level_fits = 0;
  for (const auto& f : p.fits) {
    const double lat = f.level == 0 ? lat0 : lat1, bw = f.level == 0 ? bw0 : bw1;
    EXPECT_NEAR(f.fit.latency_s / lat, 1, 1e-8) << f.level << " " << f.collective;
    EXPECT_NEAR(f.fit.bandwidth / bw, 1, 1e-8) << f.level << " " << f.collective;
    level_fits += f.collective == "all";
  }
  EXPECT_EQ(level_fits, 2);
  // 5 collectives x 2 levels, the two combined fits, and the network level's groups of one GPU
  // per host ({1, 2}) on their own ("lone"); the combined network fit is the {4, 2} groups'.
  EXPECT_EQ(p.fits.size(), 13u);
  EXPECT_EQ(p.fits.back().collective, "lone");
  EXPECT_EQ(p.fits.back().level, 1);
  const Json cm = cost_model_json(p);
  ASSERT_EQ(cm["levels"].size(), 2u);
  EXPECT_EQ(cm["levels"][0], (Json{{"name", "node"},
                                   {"group_size", 4},
                                   {"bandwidth_GBps", cm["levels"][0]["bandwidth_GBps"]},
                                   {"latency_s", cm["levels"][0]["latency_s"]}}));
  EXPECT_NEAR(cm["levels"][0]["bandwidth_GBps"].get<double>(), 300, 1e-6);
  EXPECT_NEAR(cm["levels"][1]["latency_s"].get<double>(), 10e-6, 1e-13);
  EXPECT_EQ(cm["levels"][1]["group_size"], 8);
  EXPECT_EQ(cm["levels"][1]["gpus_per_node"], 4);
  EXPECT_NEAR(cm["levels"][1]["lone_bandwidth_GBps"].get<double>(), 40, 1e-6);
}

TEST(ProfilerFit, WrongResultsAreNotFitted) {
  Profile p;
  p.levels = {{"node", 2}};
  p.collectives.push_back(synthetic(Collective::AllReduce, 0, {2}, 1e-6, 10e9));
  p.collectives[0].samples[3].wrong = 5;
  p.collectives[0].samples[3].time_s *= 100;  // garbage
  refit(p);
  EXPECT_NEAR(p.fits[0].fit.bandwidth / 10e9, 1, 1e-9);
  EXPECT_EQ(p.fits[0].fit.samples, 10);
}

TEST(ProfilerFit, GemmEfficiencyCurve) {
  std::vector<EfficiencyPoint> pts;
  for (double x = 16; x <= 16384; x *= 2) pts.push_back({x, 0.8 * x / (x + 128)});
  const EfficiencyFit f = fit_efficiency(pts);
  EXPECT_NEAR(f.e_max, 0.8, 1e-4);
  EXPECT_NEAR(f.x_half, 128, 0.2);
  EXPECT_LT(f.max_rel_error, 1e-3);
  // Efficiency never exceeds 1, even when the data says more.
  pts.clear();
  for (double x = 16; x <= 16384; x *= 2) pts.push_back({x, 1.0});
  EXPECT_LE(fit_efficiency(pts).e_max, 1.0);
}

// The scale of a curve to measured points in relative terms: exact where the points are a
// multiple of the curve; a pair measured at 0 or below carries no weight; no pair gives 0.
TEST(ProfilerFit, RelativeScale) {
  EXPECT_NEAR(relative_scale({100, 200, 400}, {94.3, 188.6, 377.2}), 0.943, 1e-12);
  EXPECT_NEAR(relative_scale({100, 200, 50}, {94.3, 188.6, 0}), 0.943, 1e-12);
  // Between two points off by +10% and -10% of one scale, the relative fit weighs them alike.
  const double c = relative_scale({1, 1}, {1.1, 0.9});
  EXPECT_NEAR(c, (1 / 1.1 + 1 / 0.9) / (1 / (1.1 * 1.1) + 1 / (0.9 * 0.9)), 1e-12);
  EXPECT_EQ(relative_scale({}, {}), 0.0);
  EXPECT_EQ(relative_scale({1}, {-1}), 0.0);
}

TEST(ProfilerFit, OperatorFitsAndGpuCostModel) {
  Profile p;
  p.operators.present = true;
  p.operators.config = {{"peak_tflops", 1000.0}, {"peak_hbm_GBps", 3000.0}};
  for (std::int64_t d = 64; d <= 8192; d *= 2) {
    GemmSample g;
    g.key = "gemm:" + std::to_string(d);
    g.m = d * 4;
    g.n = d * 2;
    g.k = d;
    g.flops = 2.0 * static_cast<double>(g.m * g.n * g.k);
    g.flops_per_s = 1000e12 * 0.7 * static_cast<double>(d) / (static_cast<double>(d) + 200);
    g.time_s = g.flops / g.flops_per_s;
    p.operators.gemm.push_back(g);
  }
  MemorySample m;
  m.key = "memory:1";
  m.bytes = 2e9;
  m.time_s = 1e-3;
  m.bandwidth = 2e12;
  p.operators.memory.push_back(m);
  refit(p);
  const Json cm = cost_model_json(p);
  ASSERT_TRUE(cm.contains("gpu"));
  const Json& g = cm["gpu"];
  EXPECT_NEAR(g["gemm_efficiency"].get<double>(), 0.7, 1e-3);
  EXPECT_NEAR(g["gemm_half_dim"].get<double>(), 200, 0.5);
  EXPECT_DOUBLE_EQ(g["peak_bf16_TFLOPs"].get<double>(), 1000);
  EXPECT_DOUBLE_EQ(g["hbm_GBps"].get<double>(), 3000);
  EXPECT_NEAR(g["memory_efficiency"].get<double>(), 2.0 / 3.0, 1e-12);
  for (const char* k : {"gemm_efficiency", "gemm_half_dim", "peak_bf16_TFLOPs", "memory_efficiency", "hbm_GBps"})
    EXPECT_TRUE(g.contains(k)) << k;
}

// ---------------------------------------------------------------- harness pieces

TEST(ProfilerHarness, GroupsOnOneNode) {
  const auto groups = plan_groups(std::vector<std::string>(8, "h"));
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].name, "node:2");
  EXPECT_EQ(groups[1].name, "node:4");
  EXPECT_EQ(groups[2].name, "node:8");
  EXPECT_EQ(groups[2].sets, (std::vector<std::vector<int>>{{0, 1, 2, 3, 4, 5, 6, 7}}));
  const auto levels = plan_levels(std::vector<std::string>(8, "h"));
  ASSERT_EQ(levels.size(), 1u);
  EXPECT_EQ(levels[0].group_size, 8);
  // Six GPUs: powers of two, then all of them.
  const auto six = plan_groups(std::vector<std::string>(6, "h"));
  ASSERT_EQ(six.size(), 3u);
  EXPECT_EQ(six[2].name, "node:6");
  EXPECT_TRUE(plan_groups({"h"}).empty());
}

TEST(ProfilerHarness, GroupsOnTwoHostsPerLevel) {
  std::vector<std::string> hosts;
  for (int r = 0; r < 16; ++r) hosts.push_back(r < 8 ? "a" : "b");
  const auto groups = plan_groups(hosts);
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(groups[0].name, "node:2");
  EXPECT_EQ(groups[0].sets, (std::vector<std::vector<int>>{{0, 1}, {8, 9}}));  // every host at once
  EXPECT_EQ(groups[3].name, "hosts:2");
  EXPECT_EQ(groups[3].level, 1);
  EXPECT_EQ(groups[3].members, (std::vector<int>{1, 2}));
  EXPECT_EQ(groups[3].sets, (std::vector<std::vector<int>>{{0, 8}}));
  EXPECT_EQ(groups[4].name, "all:16");
  EXPECT_EQ(groups[4].members, (std::vector<int>{8, 2}));
  EXPECT_EQ(groups[4].sets[0].size(), 16u);
  const auto levels = plan_levels(hosts);
  ASSERT_EQ(levels.size(), 2u);
  EXPECT_EQ(levels[1].name, "network");
  EXPECT_EQ(levels[1].group_size, 16);
  // Ranks interleaved across hosts (round-robin placement) group by host name, not rank order.
  std::vector<std::string> rr;
  for (int r = 0; r < 4; ++r) rr.push_back(r % 2 ? "b" : "a");
  const auto g2 = plan_groups(rr);
  EXPECT_EQ(g2[0].sets, (std::vector<std::vector<int>>{{0, 2}, {1, 3}}));
  EXPECT_EQ(emulate_hosts(4, 2), (std::vector<std::string>{"node0", "node0", "node1", "node1"}));
}

TEST(ProfilerHarness, GeometricSizes) {
  const auto s = sweep_sizes(1024, 1 << 20, 2);
  ASSERT_EQ(s.size(), 11u);
  EXPECT_EQ(s.front(), 1024u);
  EXPECT_EQ(s.back(), 1u << 20);
  const auto t = sweep_sizes(1000, 10000, 1.5);
  EXPECT_EQ(t, (std::vector<std::size_t>{1000, 1500, 2250, 3375, 5062, 7593}));
  EXPECT_TRUE(sweep_sizes(10, 5, 2).empty());
  EXPECT_TRUE(sweep_sizes(10, 50, 1).empty());
}

TEST(ProfilerHarness, StatisticsAndTheSlowestRank) {
  const RankTiming a = summarize({5, 1, 3, 2, 4}, 0);
  EXPECT_DOUBLE_EQ(a.median_s, 3);
  EXPECT_DOUBLE_EQ(a.min_s, 1);
  EXPECT_DOUBLE_EQ(a.max_s, 5);
  EXPECT_DOUBLE_EQ(a.p10_s, 1.4);
  EXPECT_DOUBLE_EQ(a.p90_s, 4.6);
  const RankTiming b = summarize({6, 6, 6, 6}, 2);
  const CollectiveCounts counts = collective_counts(Collective::AllReduce, 6000, 4, 2);
  const CollectiveSample x = aggregate({a, b}, Collective::AllReduce, 4, counts);
  EXPECT_DOUBLE_EQ(x.time_s, 6);
  EXPECT_DOUBLE_EQ(x.fastest_rank_time_s, 3);
  EXPECT_DOUBLE_EQ(x.min_s, 1);
  EXPECT_DOUBLE_EQ(x.max_s, 6);
  EXPECT_DOUBLE_EQ(x.spread, 0);
  EXPECT_EQ(x.wrong, 2);
  EXPECT_DOUBLE_EQ(x.algbw_GBps, 6000 / 6.0 / 1e9);
  EXPECT_DOUBLE_EQ(x.busbw_GBps, x.algbw_GBps * 1.5);
  EXPECT_EQ(aggregate({summarize({1}, -1)}, Collective::AllReduce, 2, counts).wrong, -1);
}

TEST(ProfilerHarness, WatchdogEndsAHangWithOneLineAndExitThree) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Watchdog w;
        w.arm(0.05, "group node:2 (level 0), all_reduce, 1024 bytes");
        std::this_thread::sleep_for(std::chrono::seconds(5));
      },
      testing::ExitedWithCode(3), "nest: group node:2 \\(level 0\\), all_reduce, 1024 bytes: timed out after 0.05 s");
  // Disarmed in time: nothing happens.
  Watchdog w;
  w.arm(0.05, "quick");
  w.disarm();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// A host simulation of each collective on n ranks with the hooks' input data.
std::vector<std::vector<std::uint16_t>> simulate(Collective c, int n, const CollectiveCounts& k) {
  std::vector<std::vector<std::uint16_t>> send(static_cast<std::size_t>(n)), recv(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    send[static_cast<std::size_t>(r)].resize(k.send);
    host_fill_input(send[static_cast<std::size_t>(r)].data(), true, k.send, r, n);
    recv[static_cast<std::size_t>(r)].assign(k.recv, 0);
  }
  auto at = [&](int r, std::size_t i) { return bf16_to_float(send[static_cast<std::size_t>(r)][i]); };
  for (int q = 0; q < n; ++q)
    for (std::size_t i = 0; i < k.recv; ++i) {
      float v = 0;
      switch (c) {
        case Collective::AllReduce:
          for (int r = 0; r < n; ++r) v += at(r, i);
          break;
        case Collective::AllGather:
          v = at(static_cast<int>(i / k.count), i % k.count);
          break;
        case Collective::ReduceScatter:
          for (int r = 0; r < n; ++r) v += at(r, static_cast<std::size_t>(q) * k.count + i);
          break;
        case Collective::AllToAll:
          v = at(static_cast<int>(i / k.count), static_cast<std::size_t>(q) * k.count + i % k.count);
          break;
        case Collective::SendRecv:
          v = at((q + n - 1) % n, i);
          break;
        case Collective::Broadcast:  // from root 0 (not measured: all_collectives() leaves it out)
          v = at(0, i);
          break;
        case Collective::Reduce:  // what root 0 receives (not measured either)
          for (int r = 0; r < n; ++r) v += at(r, i);
          break;
      }
      recv[static_cast<std::size_t>(q)][i] = float_to_bf16(v);
    }
  return recv;
}

TEST(ProfilerHooks, ExpectedValuesMatchASimulationOfEveryCollective) {
  for (Collective c : all_collectives())
    for (int n : {2, 3, 4, 8}) {
      const CollectiveCounts k = collective_counts(c, 4096 + 6, n, 2);
      EXPECT_EQ(k.bytes % (c == Collective::AllReduce || c == Collective::SendRecv ? 2 : 2 * static_cast<std::size_t>(n)), 0u);
      EXPECT_LE(k.bytes, 4096u + 6);
      auto recv = simulate(c, n, k);
      for (int q = 0; q < n; ++q)
        EXPECT_EQ(host_count_wrong(recv[static_cast<std::size_t>(q)].data(), true, c, q, n, k.count, k.recv), 0)
            << collective_name(c) << " n=" << n << " rank " << q;
      recv[0][k.recv / 2] = float_to_bf16(100.0f);
      recv[0][0] = 0xFFFFu;  // NaN: an element never written
      EXPECT_EQ(host_count_wrong(recv[0].data(), true, c, 0, n, k.count, k.recv), 2) << collective_name(c);
    }
}

TEST(ProfilerHooks, CountsFollowTheNcclTestsConvention) {
  const auto ag = collective_counts(Collective::AllGather, 33554432, 80, 8);  // the 10-node log: 33553920 bytes, 52428 doubles
  EXPECT_EQ(ag.bytes, 33553920u);
  EXPECT_EQ(ag.count, 52428u);
  EXPECT_EQ(ag.recv, 52428u * 80);
  const auto rs = collective_counts(Collective::ReduceScatter, 1024, 4, 2);
  EXPECT_EQ(rs.send, 512u);
  EXPECT_EQ(rs.recv, 128u);
  const auto a2a = collective_counts(Collective::AllToAll, 33554432, 8, 8);
  EXPECT_EQ(a2a.count, 524288u);  // the 8-GPU alltoall log's count column
  EXPECT_EQ(collective_counts(Collective::AllReduce, 33554432, 8, 8).count, 4194304u);
}

// NCCL reduces bf16 in bf16: a ring rounds after every addition, starting at a different rank for
// each chunk. The inputs keep every partial sum exact, so the check allows no error at any rank
// count (the 0..3-everywhere inputs used before were 12-67% off in this order past 256 ranks).
TEST(ProfilerHooks, ReductionsAreExactInRingOrderBf16AtAnyRankCount) {
  for (int n : {2, 8, 85, 86, 128, 256, 1000, 4096, 32768}) {
    int most = 0;
    for (std::size_t i = 0; i < 512; ++i) {
      const float want = sum_over_ranks(n, i);
      int contributors = 0;
      for (int r = 0; r < n; ++r) contributors += input_value(r, n, i) != 0 ? 1 : 0;
      most = std::max(most, contributors);
      for (int start : {0, n / 3, n - 1}) {
        std::uint16_t acc = float_to_bf16(0.0f);
        for (int k = 0; k < n; ++k)
          acc = float_to_bf16(bf16_to_float(acc) + bf16_to_float(float_to_bf16(input_value((start + k) % n, n, i))));
        EXPECT_FALSE(value_wrong(bf16_to_float(acc), want)) << "n=" << n << " i=" << i << " start=" << start;
      }
    }
    EXPECT_LE(most, kExactContributors) << n;
    EXPECT_GE(most, std::min(n, kExactContributors) / 3) << n;  // and the data still says something
  }
}

TEST(ProfilerHooks, Bf16RoundTrip) {
  for (float v : {0.0f, 1.0f, 3.0f, 255.0f, 256.0f, -2.5f}) EXPECT_EQ(bf16_to_float(float_to_bf16(v)), v);
  EXPECT_EQ(bf16_to_float(float_to_bf16(257.0f)), 256.0f);  // round to nearest even
  EXPECT_EQ(bf16_to_float(float_to_bf16(259.0f)), 260.0f);
}

// ---------------------------------------------------------------- operator shapes

TEST(ProfilerOperators, ModelShapesPerTpAndMicrobatch) {
  const ModelConfig m = load_model("llama3-8b");
  const auto tasks = plan_operator_tasks(m, {1, 8}, {1, 2}, 2048, 0, 0);
  auto find = [&](const std::string& key) -> const OperatorTask& {
    for (const auto& t : tasks)
      if (t.key() == key) return t;
    ADD_FAILURE() << key;
    return tasks.front();
  };
  const GemmSample& fwd = find("gemm:qkv:fwd:tp1:mb1").gemm;
  EXPECT_EQ(fwd.m, 2048);
  EXPECT_EQ(fwd.n, (32 + 2 * 8) * 128);
  EXPECT_EQ(fwd.k, 4096);
  const GemmSample& dgrad = find("gemm:qkv:dgrad:tp1:mb1").gemm;
  EXPECT_EQ(dgrad.n, 4096);
  EXPECT_EQ(dgrad.k, 6144);
  const GemmSample& wgrad = find("gemm:qkv:wgrad:tp1:mb1").gemm;
  EXPECT_EQ(wgrad.m, 4096);
  EXPECT_EQ(wgrad.n, 6144);
  EXPECT_EQ(wgrad.k, 2048);
  EXPECT_EQ(find("gemm:qkv:fwd:tp8:mb2").gemm.m, 4096);
  EXPECT_EQ(find("gemm:qkv:fwd:tp8:mb2").gemm.n, (4 + 2) * 128);
  EXPECT_EQ(find("gemm:mlp_up:fwd:tp8:mb1").gemm.n, 2 * 14336 / 8);
  EXPECT_EQ(find("gemm:mlp_down:fwd:tp8:mb1").gemm.k, 14336 / 8);
  EXPECT_EQ(find("gemm:logits:fwd:tp1:mb1").gemm.n, 128256);
  const GemmSample& att = find("attention:tp8:mb2").gemm;
  EXPECT_EQ(att.batch, 2 * 2 * 32 / 8);
  EXPECT_EQ(att.k, 128);
  EXPECT_FALSE(find("memory:" + std::to_string(2 * 2048 * 4096)).memory.key.empty());
  // A FLOP cap shrinks the shape but keeps the model's.
  const auto capped = plan_operator_tasks(m, {1}, {1}, 2048, 1e8, 1 << 20);
  for (const auto& t : capped) {
    if (t.kind == OperatorTask::Kind::Memory) {
      EXPECT_LE(t.memory.bytes, 2.0 * (1 << 20));
      continue;
    }
    EXPECT_LE(2.0 * static_cast<double>(t.gemm.m * t.gemm.n * t.gemm.k * t.gemm.batch), 1e8) << t.key();
    EXPECT_GE(t.gemm.model_m, t.gemm.m);
  }
  try {
    plan_operator_tasks(m, {3}, {1}, 2048, 0, 0);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("--tp"), std::string::npos);
  }
}

}  // namespace
}  // namespace nest::profiler
