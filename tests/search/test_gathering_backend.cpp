// Searches on several host threads sharing one backend through a GatheringBackend (nest sweep
// --points-per-launch): their solve calls go to the backend together, each search's inputs its
// own segments, and each search finds what it finds alone: the same plans, values and counts.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/search/gathering_backend.hpp"
#include "nest/search/planner.hpp"
#include "random_instances.hpp"

namespace nest {
namespace {

namespace dp = kernels::dp;

PlannerOptions options_of(const test::RandomInstance& inst) {
  PlannerOptions o;
  o.space = inst.space;
  o.threads = 1;
  o.top_k = 3;
  o.backend = BackendKind::Cpu;
  return o;
}

void expect_same_search(const SearchResult& got, const SearchResult& alone, const std::string& what) {
  ASSERT_EQ(got.top.size(), alone.top.size()) << what;
  for (std::size_t k = 0; k < got.top.size(); ++k) {
    EXPECT_EQ(got.top[k].slice_index, alone.top[k].slice_index) << what;
    EXPECT_EQ(got.top[k].value, alone.top[k].value) << what;  // exact equality
    EXPECT_EQ(got.top[k].dp_value, alone.top[k].dp_value) << what;
    EXPECT_EQ(got.top[k].plan.blocks_per_stage, alone.top[k].plan.blocks_per_stage) << what;
  }
  EXPECT_EQ(got.stats.cells, alone.stats.cells) << what;
  EXPECT_EQ(got.stats.slices_solved, alone.stats.slices_solved) << what;
}

TEST(GatheringBackend, SearchesOnThreadsFindWhatEachFindsAlone) {
  std::mt19937 rng(6161);
  long long under = 0, gathered = 0;
  int searches = 0, with_plans = 0;
  for (int round = 0; round < 6; ++round) {
    // Identical blocks (the uniform DP), differing ones (general and interleaved DPs) and
    // tabulated costs, searched at once.
    std::vector<test::RandomInstance> inst;
    inst.push_back(test::random_large_analytic(rng, 7100 + 4 * round));
    inst.push_back(test::random_mixed_levels(rng, 7101 + 4 * round));
    inst.push_back(test::random_tabulated(rng, 7102 + 4 * round));
    inst.push_back(test::random_analytic(rng, 7103 + 4 * round));
    std::vector<SearchResult> alone, got(inst.size());
    for (const auto& x : inst) alone.push_back(search_plans(*x.source, options_of(x)));
    GatheringBackend gather(kernels::cpu::make_dp_backend(1));
    // Every search takes part before any starts (so that the first calls meet however the
    // threads are scheduled), and leaves when its search ends.
    std::vector<std::optional<GatheringBackend::Participation>> taking_part(inst.size());
    for (auto& t : taking_part) t.emplace(gather);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < inst.size(); ++k)
      threads.emplace_back([&, k] {
        struct Leave {  // however the search ends, or the others would wait for it
          std::optional<GatheringBackend::Participation>& p;
          ~Leave() { p.reset(); }
        } leave{taking_part[k]};
        PlannerOptions o = options_of(inst[k]);
        o.dp_backend = &gather;
        got[k] = search_plans(*inst[k].source, o);
      });
    for (std::thread& t : threads) t.join();
    for (std::size_t k = 0; k < inst.size(); ++k) {
      expect_same_search(got[k], alone[k], inst[k].description);
      with_plans += !alone[k].top.empty();
      ++searches;
    }
    under += gather.calls_under();
    gathered += gather.calls_gathered();
  }
  std::printf("%d searches (%d with plans): %lld solve calls made in %lld calls of the backend\n", searches, with_plans, gathered,
              under);
  EXPECT_GT(with_plans, searches / 2);
  EXPECT_GT(gathered, 0);
  EXPECT_LT(under, gathered) << "no two searches' calls went to the backend together";
}

// A backend whose solve calls count themselves, and throw when told to.
class CountingBackend final : public dp::DpBackend {
 public:
  explicit CountingBackend(std::atomic<int>* calls, bool fail = false) : calls_(calls), fail_(fail) {}
  std::string name() const override { return "counting"; }
  std::string device() const override { return ""; }
  int batch_size() const override { return 1; }
  std::vector<dp::SliceBounds> lower_bounds(const dp::BoundBatch&, const std::vector<dp::BoundPointTables>&,
                                            dp::BackendStats*) override {
    return {};
  }
  std::vector<dp::UniformFound> solve_uniform(const std::vector<dp::UniformSliceInput>&, const dp::Segments& seg,
                                              dp::BackendStats*) override {
    return answer<dp::UniformFound>(seg);
  }
  std::vector<dp::GeneralFound> solve_general(const dp::GeneralBatch&, const dp::Segments& seg, dp::BackendStats*) override {
    return answer<dp::GeneralFound>(seg);
  }
  std::vector<dp::InterleavedFound> solve_interleaved(const dp::InterleavedBatch&, const dp::Segments& seg,
                                                      dp::BackendStats*) override {
    return answer<dp::InterleavedFound>(seg);
  }
  std::vector<dp::SingleStageFound> solve_single_stage(const std::vector<dp::SingleStageInput>&, const dp::Segments& seg,
                                                       dp::BackendStats*) override {
    return answer<dp::SingleStageFound>(seg);
  }

 private:
  // Every input back, solved, in input order.
  template <class Found>
  std::vector<Found> answer(const dp::Segments& seg) {
    ++*calls_;
    if (fail_) throw std::runtime_error("the device fell off the bus");
    std::vector<Found> out(static_cast<std::size_t>(seg.inputs()));
    for (int x = 0; x < seg.inputs(); ++x) {
      out[static_cast<std::size_t>(x)].input = x;
      out[static_cast<std::size_t>(x)].result.status = 1;
    }
    return out;
  }
  std::atomic<int>* calls_;
  bool fail_;
};

TEST(GatheringBackend, ASearchThatLeavesWithoutCallingReleasesTheOthers) {
  std::atomic<int> calls{0};
  GatheringBackend gather(std::make_unique<CountingBackend>(&calls));
  std::atomic<bool> answered{false};
  std::vector<dp::SingleStageFound> found;
  std::optional<GatheringBackend::Participation> quiet;  // takes part, never calls
  quiet.emplace(gather);
  std::thread caller([&] {
    const GatheringBackend::Participation taking_part(gather);
    found = gather.solve_single_stage(std::vector<dp::SingleStageInput>(3), dp::Segments::one(3, 1.0, 3), nullptr);
    answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(answered.load()) << "the call went before every participant was in the round";
  EXPECT_EQ(calls.load(), 0);
  quiet.reset();  // leaves: the round closes without it
  caller.join();
  EXPECT_TRUE(answered.load());
  EXPECT_EQ(calls.load(), 1);
  ASSERT_EQ(found.size(), 3u);
  for (int x = 0; x < 3; ++x) EXPECT_EQ(found[static_cast<std::size_t>(x)].input, x);
}

TEST(GatheringBackend, TwoSearchesCallsOfOneKindAreOneCallAndEachGetsItsOwnInputs) {
  std::atomic<int> calls{0};
  GatheringBackend gather(std::make_unique<CountingBackend>(&calls));
  std::vector<dp::SingleStageFound> a, b;
  {
    const GatheringBackend::Participation first(gather), second(gather);
    std::thread ta(
        [&] { a = gather.solve_single_stage(std::vector<dp::SingleStageInput>(2), dp::Segments::one(2, 1, 2), nullptr); });
    std::thread tb(
        [&] { b = gather.solve_single_stage(std::vector<dp::SingleStageInput>(4), dp::Segments::one(4, 1, 4), nullptr); });
    ta.join();
    tb.join();
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(gather.calls_under(), 1);
  EXPECT_EQ(gather.calls_gathered(), 2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 4u);
  for (int x = 0; x < 4; ++x) EXPECT_EQ(b[static_cast<std::size_t>(x)].input, x);  // its own indices, not the call's
}

TEST(GatheringBackend, WhatTheBackendThrowsReachesEveryCallInTheRound) {
  std::atomic<int> calls{0};
  GatheringBackend gather(std::make_unique<CountingBackend>(&calls, /*fail=*/true));
  std::atomic<int> caught{0};
  {
    const GatheringBackend::Participation first(gather), second(gather);
    auto call = [&] {
      try {
        (void)gather.solve_uniform(std::vector<dp::UniformSliceInput>(1), dp::Segments::one(1, 1, 1), nullptr);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "the device fell off the bus") ++caught;
      }
    };
    std::thread ta(call), tb(call);
    ta.join();
    tb.join();
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(caught.load(), 2);
}

}  // namespace
}  // namespace nest
