// Shared enumerations (nest sweep, docs/sweep.md "Shared enumerations"): the cache makes each
// space once and hands out the same one, and what lets the sweep share a space between points
// that differ in link speeds holds: the enumeration reads the cluster's structure, never its
// bandwidths or latencies.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <stdexcept>
#include <thread>

#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/search/planner.hpp"
#include "nest/search/search_space_cache.hpp"
#include "reference_planner.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

SearchSpace space_of(int slices) {
  SearchSpace s;
  s.slices.resize(static_cast<std::size_t>(slices));
  return s;
}

TEST(SearchSpaceCache, EachKeyIsMadeOnceWhileThreadsAskForItAtOnce) {
  SearchSpaceCache cache(4);
  std::atomic<int> calls{0};
  std::vector<std::shared_ptr<const SearchSpace>> got(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] {
      got[t] = cache.get("k", [&] {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the others arrive meanwhile
        return space_of(3);
      });
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(cache.made(), 1u);
  for (const auto& g : got) {
    ASSERT_TRUE(g);
    EXPECT_EQ(g.get(), got.front().get());
    EXPECT_EQ(g->slices.size(), 3u);
  }
}

TEST(SearchSpaceCache, KeepsTheMostRecentlyAskedAndForgetsAFailure) {
  SearchSpaceCache cache(2);
  int made = 0;
  auto make = [&](int n) {
    return [&made, n] {
      ++made;
      return space_of(n);
    };
  };
  const auto a = cache.get("a", make(1));
  cache.get("b", make(2));
  EXPECT_EQ(cache.get("a", make(9)).get(), a.get());  // a hit: a is now the most recent
  cache.get("c", make(3));                            // evicts b, the least recent
  EXPECT_EQ(made, 3);
  EXPECT_EQ(cache.get("a", make(9))->slices.size(), 1u);
  EXPECT_EQ(cache.get("b", make(2))->slices.size(), 2u);  // made again
  EXPECT_EQ(made, 4);
  // A space that fails to be made: the caller gets the exception, nothing is kept.
  EXPECT_THROW(cache.get("bad", []() -> SearchSpace { throw std::runtime_error("no"); }), std::runtime_error);
  EXPECT_EQ(cache.get("bad", make(5))->slices.size(), 5u);
}

void expect_same_shape(const kernels::GroupShape& a, const kernels::GroupShape& b, const std::string& what) {
  ASSERT_EQ(a.num_levels, b.num_levels) << what;
  for (int l = 0; l < a.num_levels; ++l) EXPECT_EQ(a.members[l], b.members[l]) << what << " level " << l;
}

void expect_same_placement(const Placement& a, const Placement& b, const std::string& what) {
  expect_same_shape(a.tp, b.tp, what + " tp");
  expect_same_shape(a.cp, b.cp, what + " cp");
  expect_same_shape(a.ep, b.ep, what + " ep");
  expect_same_shape(a.dp, b.dp, what + " dp");
  expect_same_shape(a.edp, b.edp, what + " edp");
  expect_same_shape(a.pp, b.pp, what + " pp");
  expect_same_shape(a.etp, b.etp, what + " etp");
  expect_same_shape(a.dp_shard, b.dp_shard, what + " dp_shard");
  expect_same_shape(a.dp_replicate, b.dp_replicate, what + " dp_replicate");
  const kernels::PipelineLayout &x = a.pp_layout, &y = b.pp_layout;
  EXPECT_EQ(x.stages, y.stages) << what;
  EXPECT_EQ(x.stride, y.stride) << what;
  EXPECT_EQ(x.gpus, y.gpus) << what;
  ASSERT_EQ(x.num_levels, y.num_levels) << what;
  for (int l = 0; l < x.num_levels; ++l) EXPECT_EQ(x.domain[l], y.domain[l]) << what;
  EXPECT_EQ(x.mapped, y.mapped) << what;
}

// The premise of nest sweep's shared enumerations: every level's bandwidth, point-to-point
// bandwidth and latency changed (each by its own random factor, some by orders of magnitude)
// leaves the enumerated slices and placements exactly as they were, and the lower bounds' batch
// too (only the point's tables carry the links), on hierarchical clusters
// and topologies, for every framework, dense and MoE.
TEST(SearchSpace, EnumerationDoesNotReadLinkSpeeds) {
  struct Case {
    const char *model, *cluster;
    long gpus, batch, seq;
    FrameworkKind framework;
  };
  const std::vector<Case> cases = {
      {"llama3-70b", "dgx-h100", 1024, 1024, 8192, FrameworkKind::Megatron},
      {"llama3-70b", "dgx-h100", 256, 512, 8192, FrameworkKind::Torchtitan},
      {"llama3-8b", "dgx-a100", 64, 256, 4096, FrameworkKind::Deepspeed},
      {"mixtral-8x7b", "dgx-h100", 128, 256, 4096, FrameworkKind::Megatron},
      {"qwen3-30b-a3b", "dgx-h100", 64, 256, 4096, FrameworkKind::Torchtitan},
      {"llama3-405b", "superpod-h100", 2048, 1024, 8192, FrameworkKind::Megatron},
      {"llama3-8b", "gb200-nvl72", 144, 288, 8192, FrameworkKind::Any},
      {"llama3-8b", "fattree-2to1", 128, 256, 8192, FrameworkKind::Megatron},
  };
  std::mt19937 rng(20261205);
  std::uniform_real_distribution<double> factor(-3, 3);  // log10 of the change
  for (const Case& c : cases) {
    const std::string what = std::string(c.model) + " on " + c.cluster;
    Problem p = test::preset_problem(c.model, c.cluster, c.gpus, c.batch, c.seq);
    p.options.framework = c.framework;
    Problem q = p;
    for (NetworkLevel& l : q.cluster.levels) {
      l.bandwidth *= std::pow(10.0, factor(rng));
      l.latency *= std::pow(10.0, factor(rng));
      if (l.p2p_bandwidth > 0) l.p2p_bandwidth *= std::pow(10.0, factor(rng));
    }
    const SearchSpace a = enumerate_slices(AnalyticCostSource(p), SearchOptions{}, 2);
    const SearchSpace b = enumerate_slices(AnalyticCostSource(q), SearchOptions{}, 2);
    ASSERT_GT(a.slices.size(), 100u) << what;
    ASSERT_EQ(a.slices.size(), b.slices.size()) << what;
    ASSERT_EQ(a.placements.size(), b.placements.size()) << what;
    for (std::size_t i = 0; i < a.slices.size(); ++i) {
      ASSERT_EQ(test::reference::key(a.slices[i].par, a.slices[i].order, true),
                test::reference::key(b.slices[i].par, b.slices[i].order, true))
          << what << " slice " << i;
      ASSERT_EQ(a.slices[i].placement, b.slices[i].placement) << what << " slice " << i;
    }
    for (std::size_t i = 0; i < a.placements.size(); ++i)
      expect_same_placement(a.placements[i], b.placements[i], what + " placement " + std::to_string(i));
    // The lower-bound batch is shared with the space too: p's batch with q's point tables gives
    // every slice the bound q's own batch gives it, to the bit.
    const AnalyticCostSource sp(p), sq(q);
    const auto cpu = kernels::cpu::make_dp_backend(2);
    const kernels::dp::SliceBounds shared = cpu->lower_bounds(sp.bound_batch(a, 2), {sq.bound_point_tables(b)}, nullptr).front();
    const kernels::dp::SliceBounds own = cpu->lower_bounds(sq.bound_batch(b, 2), {sq.bound_point_tables(b)}, nullptr).front();
    const kernels::dp::SliceBounds before = cpu->lower_bounds(sp.bound_batch(a, 2), {sp.bound_point_tables(a)}, nullptr).front();
    ASSERT_EQ(shared.bound.size(), a.slices.size()) << what;
    std::size_t moved = 0;
    for (std::size_t i = 0; i < a.slices.size(); ++i) {
      ASSERT_EQ(shared.bound[i], own.bound[i]) << what << " slice " << i;
      ASSERT_EQ(shared.hopeless[i], own.hopeless[i]) << what << " slice " << i;
      moved += before.bound[i] != own.bound[i];
    }
    EXPECT_GT(moved, a.slices.size() / 2) << what << ": the links' speeds reach the bounds through the point's tables";
    // Both points in one call (several points per launch) give each its own call's bounds.
    const auto both = cpu->lower_bounds(sp.bound_batch(a, 1), {sp.bound_point_tables(a), sq.bound_point_tables(b)}, nullptr);
    ASSERT_EQ(both.size(), 2u);
    EXPECT_TRUE(both[0].bound == before.bound && both[0].hopeless == before.hopeless) << what;
    EXPECT_TRUE(both[1].bound == own.bound && both[1].hopeless == own.hopeless) << what;
  }
}

// nest sweep's use: the bounds of every point that shares a space made with it, in one call, and
// each point's search taking its own from the space. Every point's search (its plans, values,
// and how many slices it solved and cells it filled, which follow its bounds) equals the same
// search alone; a point the space has no bounds for bounds its slices itself.
TEST(SearchSpaceCache, BoundsMadeForEveryPointOfASpaceGiveEachPointsOwnSearch) {
  Problem base = test::preset_problem("llama3-8b", "dgx-h100", 64, 256, 4096);
  std::vector<Problem> points;
  for (const double scale : {0.125, 1.0, 8.0}) {
    Problem p = base;
    for (NetworkLevel& l : p.cluster.levels) {  // NVLink too: TP's collectives are in the bounds
      l.bandwidth *= scale;
      l.latency /= scale;
    }
    points.push_back(p);
  }
  SearchSpaceCache cache(2);
  int asked = 0;
  for (std::size_t k = 0; k <= points.size(); ++k) {
    const bool unlisted = k == points.size();  // the last search's id is not among the points
    const Problem& p = points[unlisted ? 1 : k];
    PlannerOptions opt;
    opt.threads = 1;
    opt.top_k = 3;
    PlannerOptions alone = opt;
    opt.space_cache = &cache;
    opt.space_key = "llama3-8b";
    opt.point = unlisted ? 99 : static_cast<long long>(k);
    opt.space_points = [&](const SearchSpace& space) {
      ++asked;
      std::vector<SpacePoint> out;
      for (std::size_t m = 0; m < points.size(); ++m)
        out.push_back({static_cast<long long>(m), AnalyticCostSource(points[m]).bound_point_tables(space)});
      return out;
    };
    const AnalyticCostSource source(p);
    const SearchResult shared = search_plans(source, opt), own = search_plans(source, alone);
    const std::string what = "point " + std::to_string(k);
    ASSERT_EQ(shared.top.size(), own.top.size()) << what;
    for (std::size_t i = 0; i < own.top.size(); ++i) {
      EXPECT_EQ(shared.top[i].value, own.top[i].value) << what;
      EXPECT_EQ(shared.top[i].slice_index, own.top[i].slice_index) << what;
    }
    EXPECT_EQ(shared.stats.slices_solved, own.stats.slices_solved) << what;
    EXPECT_EQ(shared.stats.cells, own.stats.cells) << what;
  }
  EXPECT_EQ(asked, 1);  // once, when the space was made
  EXPECT_EQ(cache.made(), 1u);
}

}  // namespace
}  // namespace nest
