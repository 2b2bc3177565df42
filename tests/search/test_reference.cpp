// The planner against an exhaustive reference that shares none of its search or evaluation code
// (tests/search/reference_planner.hpp): on random instances up to 24 blocks, 64 GPUs, three
// network levels, both schedules and every framework,
//   - the DP's optimum equals the reference's optimum over the whole declared space;
//   - every plan of the DP's top K, valued by the reference, is feasible and worth what the DP says;
//   - the DP's top K equals the K best of the planner's slices, each valued by the reference;
//   - the slices the planner leaves out (rank orders with the same placement, dominated overlap
//     switches) are never better than the ones it keeps with the same degrees;
//   - the planner enumerates nothing outside the declared space.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "nest/evaluate/evaluator.hpp"
#include "nest/search/planner.hpp"
#include "random_instances.hpp"
#include "reference_planner.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

constexpr int kTop = 5;

struct Tally {
  int instances = 0, feasible = 0, pipelined_best = 0, interleaved_best = 0, left_out = 0;
  int short_edge_top = 0;  // top-K plans whose embedding or head chunk lacks a block
  int uneven_rounds = 0;   // feasible interleaved plans (PyTorch's order) with m no multiple of pp
  int uneven_rounds_top = 0;
  long long plans = 0, ep_over_tp = 0, ep_overlapped = 0;
  int receive_buffers_top = 0;  // top plans that pay per-microbatch receive buffers
};

void check_against_reference(const test::RandomInstance& inst, Tally* tally) {
  const CostSource& src = *inst.source;
  const test::reference::Result ref = test::reference::search(src, inst.space);
  PlannerOptions o;
  o.space = inst.space;
  o.threads = 2;
  o.top_k = kTop;
  const SearchResult dp = search_plans(src, o);
  ++tally->instances;
  tally->plans += ref.plans;
  tally->ep_over_tp += ref.ep_over_tp;
  tally->ep_overlapped += ref.ep_overlapped;
  ASSERT_EQ(dp.top.empty(), ref.best_of.empty()) << inst.description;

  // The planner's slices, each valued by the reference.
  const SearchSpace space = enumerate_slices(src, inst.space, 2);
  std::vector<double> kept;
  std::map<std::string, double> kept_best;  // degrees without switches and order -> best kept value
  std::set<std::string> kept_keys;
  for (const SliceSpec& s : space.slices) {
    const std::string k = test::reference::key(s.par, s.order, true);
    EXPECT_TRUE(ref.declared.count(k)) << inst.description << ": the planner enumerates " << k
                                       << ", which is not in the declared space";
    kept_keys.insert(k);
    const auto it = ref.best_of.find(k);
    if (it == ref.best_of.end()) continue;
    kept.push_back(it->second.value);
    const std::string g = test::reference::key(s.par, s.order, false);
    const auto b = kept_best.find(g);
    if (b == kept_best.end() || it->second.value < b->second) kept_best[g] = it->second.value;
  }
  for (const auto& [k, pv] : ref.best_of)
    tally->uneven_rounds += pv.plan.par.schedule == Schedule::Interleaved && pv.plan.par.num_microbatches % pv.plan.par.pp != 0;
  // What the planner leaves out is never better than what it keeps with the same degrees.
  for (const auto& [k, pv] : ref.best_of) {
    if (kept_keys.count(k)) continue;
    ++tally->left_out;
    const auto b = kept_best.find(test::reference::key(pv.plan.par, pv.plan.order, false));
    ASSERT_NE(b, kept_best.end()) << inst.description << ": " << k << " is feasible, but no slice with its degrees is kept";
    EXPECT_LE(b->second, pv.value * (1 + 1e-9)) << inst.description << ": the left-out " << k << " is faster";
  }
  if (dp.top.empty()) return;
  ++tally->feasible;

  double best = HUGE_VAL;
  const test::reference::PlanValue* winner = nullptr;
  for (const auto& [k, pv] : ref.best_of)
    if (pv.value < best) {
      best = pv.value;
      winner = &pv;
    }
  EXPECT_LT(rel(dp.top.front().value, best), 1e-9)
      << inst.description << ": DP " << dp.top.front().value << ", reference " << best << " ("
      << test::reference::key(winner->plan.par, winner->plan.order, true) << ")";
  tally->pipelined_best += dp.top.front().plan.par.pp > 1;
  tally->interleaved_best += dp.top.front().plan.par.schedule == Schedule::Interleaved;

  // Each plan the DP returns is valid, feasible and worth its value under the reference.
  for (const RankedPlan& rp : dp.top) {
    const int v = rp.plan.par.schedule == Schedule::Interleaved ? rp.plan.par.virtual_stages : 1;
    tally->short_edge_top += rp.plan.blocks_per_stage.front() % v != 0 || rp.plan.blocks_per_stage.back() % v != 0;
    tally->uneven_rounds_top += v > 1 && rp.plan.par.num_microbatches % rp.plan.par.pp != 0;
    EXPECT_TRUE(src.check(rp.plan).empty()) << inst.description;
    const SliceCosts costs = src.slice_costs(rp.plan.par, rp.plan.order);
    tally->receive_buffers_top += costs.ctx.receive_buffer_bytes > 0;
    const test::reference::SplitValue r = test::reference::evaluate(src.cluster(), rp.plan, costs);
    EXPECT_TRUE(r.feasible) << inst.description;
    EXPECT_LT(rel(r.step_time, rp.value), 1e-9) << inst.description << ": DP says " << rp.value << ", reference " << r.step_time;
  }
  // The top K: the K best slices of the planner's space.
  std::sort(kept.begin(), kept.end());
  ASSERT_EQ(dp.top.size(), std::min<std::size_t>(kTop, kept.size())) << inst.description;
  for (std::size_t i = 0; i < dp.top.size(); ++i)
    EXPECT_LT(rel(dp.top[i].value, kept[i]), 1e-9) << inst.description << ": top " << i + 1;
}

void report(const char* what, const Tally& t, double seconds) {
  std::printf(
      "%s: %d instances (%d feasible; best pipelined %d, interleaved %d), %lld plans (%lld feasible with ep not dividing dp, "
      "%lld with the all-to-all overlap), %d left out by the planner, %d top plans with a short edge chunk, %d feasible (%d "
      "top) interleaved plans with m no multiple of pp, %.1f s\n",
      what, t.instances, t.feasible, t.pipelined_best, t.interleaved_best, t.plans, t.ep_over_tp, t.ep_overlapped, t.left_out,
      t.short_edge_top, t.uneven_rounds, t.uneven_rounds_top, seconds);
}

// `count` instances of a family (times NEST_SOAK, test::soak_factor).
template <class Make>
Tally run_family(const char* what, int count, Make make) {
  const auto t0 = std::chrono::steady_clock::now();
  Tally t;
  for (int i = 0; i < count * test::soak_factor(); ++i) {
    check_against_reference(make(i), &t);
    if (::testing::Test::HasFatalFailure()) break;
  }
  report(what, t, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return t;
}

// Activation offload searched: Megatron's partial offload (the first K blocks, pp 1) adds its
// candidate counts to the space; the DP's optimum must still be the reference's.
TEST(Reference, DpEqualsReferenceWithActivationOffload) {
  std::mt19937 rng(20261204);
  long long partial_slices = 0;
  const Tally t = run_family("analytic with activation offload", 30, [&](int i) {
    test::RandomInstance inst = test::random_analytic(rng, 9000 + i);
    inst.space.offload_activations.clear();
    for (const SliceSpec& s : enumerate_slices(*inst.source, inst.space, 2).slices) partial_slices += s.par.offload_layers > 0;
    return inst;
  });
  EXPECT_GE(t.feasible, 10);
  EXPECT_GT(partial_slices, 0) << "no slice offloads only some blocks: the rule was not exercised";
  std::printf("%lld slices offload the first K blocks\n", partial_slices);
}

TEST(Reference, DpEqualsReferenceOnSmallAnalyticInstances) {
  std::mt19937 rng(20261203);
  const Tally t = run_family("small analytic", 80, [&](int i) { return test::random_analytic(rng, 7000 + i); });
  EXPECT_GE(t.feasible, 40);
  EXPECT_GE(t.left_out, 100) << "the switch and placement rules were not exercised";
}

TEST(Reference, DpEqualsReferenceOnMixedLevelLayouts) {
  std::mt19937 rng(31);
  const Tally t = run_family("mixed levels", 40, [&](int i) { return test::random_mixed_levels(rng, 7200 + i); });
  EXPECT_GE(t.feasible, 20);
  EXPECT_GE(t.pipelined_best, 5);
}

TEST(Reference, DpEqualsReferenceOnTabulatedInstances) {
  std::mt19937 rng(77);
  const Tally t = run_family("tabulated", 60, [&](int i) {
    test::RandomInstance inst = test::random_tabulated(rng, 7400 + i, {8, 12, 16, 24}, {4, 16, 32, 64});
    inst.space.pp = {1, 2, 3, 4};
    return inst;
  });
  EXPECT_GE(t.feasible, 30);
  EXPECT_GE(t.pipelined_best, 10);
}

TEST(Reference, DpEqualsReferenceOnLargeAnalyticInstances) {
  std::mt19937 rng(4242);
  const Tally t = run_family("large analytic", 36, [&](int i) { return test::random_large_analytic(rng, 7600 + i); });
  EXPECT_GE(t.feasible, 12);
  EXPECT_GE(t.pipelined_best, 4);
  EXPECT_GE(t.interleaved_best, 1);
}

// PyTorch pipelining's per-microbatch receive buffers (torchtitan on PyTorch before 2026-08): a
// memory term by pipeline position in the evaluator and every DP path (uniform, general,
// interleaved); the reference counts it chunk by chunk.
TEST(Reference, DpEqualsReferenceWithPytorchReceiveBuffers) {
  std::mt19937 rng(20261207);
  const Tally t = run_family("torchtitan with per-microbatch receive buffers", 24, [&](int i) {
    test::RandomInstance inst = test::random_large_analytic(rng, 9600 + i, FrameworkKind::Torchtitan, true);
    if (i % 2 == 1) inst.space.schedule = {Schedule::Interleaved};
    return inst;
  });
  EXPECT_GE(t.feasible, 6);
  EXPECT_GE(t.interleaved_best, 1);
  std::printf("%d top plans pay for per-microbatch receive buffers\n", t.receive_buffers_top);
  EXPECT_GE(t.receive_buffers_top, 10) << "few top plans paid for the receive buffers: the rule was not exercised";
}

// Parallel folding: expert TP degrees apart from tp, and with them EP over TP or CP ranks (ep not
// dividing dp, on Megatron's expert grid), on MoE models under Megatron's rules or none.
TEST(Reference, DpEqualsReferenceWithExpertTpFolded) {
  std::mt19937 rng(5151);
  int drawn = 0;
  const Tally t = run_family("expert TP folded", 10, [&](int) {
    for (;;) {
      test::RandomInstance inst = test::random_large_analytic(rng, 8500 + drawn++);
      const auto* src = dynamic_cast<const AnalyticCostSource*>(inst.source.get());
      const FrameworkKind fw = src->problem().options.framework;
      if (!src->problem().model.is_moe() || (fw != FrameworkKind::Megatron && fw != FrameworkKind::Any)) continue;
      inst.space.etp = {1, 2, 4, 8};
      inst.space.pp = {1, 2, 3};
      return inst;
    }
  });
  EXPECT_GE(t.feasible, 6);
  EXPECT_GE(t.ep_over_tp, 100) << "EP over TP ranks was not exercised";
  EXPECT_GE(t.ep_overlapped, 100) << "the MoE all-to-all overlap was not exercised";
}

// Interleaved pipelines only: the wrap boundary, the chunk layout and the schedule's in-flight
// activations decide every value.
TEST(Reference, DpEqualsReferenceOnInterleavedPipelines) {
  std::mt19937 rng(909);
  const Tally t = run_family("interleaved", 60, [&](int i) {
    test::RandomInstance inst =
        i % 2 == 0 ? test::random_mixed_levels(rng, 7800 + i) : test::random_large_analytic(rng, 7800 + i);
    inst.space.schedule = {Schedule::Interleaved};
    return inst;
  });
  EXPECT_GE(t.feasible, 10);
  EXPECT_EQ(t.interleaved_best, t.feasible);
  EXPECT_GE(t.short_edge_top, 5) << "splits whose embedding or head chunk lacks a block were not exercised";
  // torchtitan's instances: PyTorch's interleaved order with m no multiple of pp (6 on 4 stages).
  EXPECT_GE(t.uneven_rounds, 20) << "interleaved microbatch counts that are no multiple of pp were not exercised";
  EXPECT_GE(t.uneven_rounds_top, 1);
}

// The closed form of a step-end collective beside the last (first) round of interleaved passes
// (kernels::overlapped_exposed) against the reference's chunk-by-chunk replay, for both orders,
// streamed or not, over collectives shorter and longer than the round.
TEST(Reference, StepEndOverlapEqualsTheChunkReplay) {
  std::mt19937 rng(4242);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int compared = 0, exposed_past_one_chunk = 0, hidden = 0;
  for (int n = 0; n < 4000; ++n) {
    const int p = 1 + static_cast<int>(u(rng) * 16), v = 1 + static_cast<int>(u(rng) * 12), m = p + static_cast<int>(u(rng) * 40);
    const bool torch = n % 2 == 1, streams = n % 3 != 0;
    const double pass = 0.01 + u(rng), c = u(rng) * 3 * pass * std::max(1, p);
    const int g = std::min(kernels::interleaved_group(p, m, torch ? 1 : 0), m);
    const double closed = kernels::overlapped_exposed(c, pass, v, g, streams || v == 1);
    const double replay = test::reference::waited_after_round(c, pass, p, v, m, torch, streams);
    ASSERT_NEAR(closed, replay, 1e-12 * std::max(1.0, c))
        << "p " << p << " v " << v << " m " << m << " c " << c << " pass " << pass;
    ++compared;
    if (closed > c / v + 1e-9) ++exposed_past_one_chunk;
    if (closed == 0) ++hidden;
  }
  EXPECT_EQ(compared, 4000);
  EXPECT_GE(exposed_past_one_chunk, 100) << "collectives longer than the round were not exercised";
  EXPECT_GE(hidden, 100) << "collectives the round hides were not exercised";
  // Megatron's chunks start after their pass: the last chunk's share is always waited for.
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(0.4, 1.0, 4, 2, false), 0.1);
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(0.4, 1.0, 4, 2, true), 0.0);
  // One chunk: the last backward hides what it can, as before interleaving.
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(1.5, 1.0, 1, 8, false), 0.5);
}

// Megatron-LM's buckets on a one-chunk first stage (kernels::overlapped_exposed with buckets)
// against the reference's bucket-by-bucket replays of the reduction after the last backward and
// of the all-gather before the first forward, over collectives shorter and longer than the pass.
TEST(Reference, BucketedStepEndEqualsTheBucketReplay) {
  std::mt19937 rng(20261207);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int compared = 0, longer = 0, shorter = 0;
  for (int n = 0; n < 4000; ++n) {
    const int buckets = 1 + static_cast<int>(u(rng) * 40);
    const double pass = 0.01 + u(rng), c = u(rng) * 3 * pass;
    const double closed = kernels::overlapped_exposed(c, pass, 1, 1, true, buckets);
    ASSERT_NEAR(closed, test::reference::waited_after_buckets(c, pass, buckets), 1e-12 * std::max(1.0, c))
        << buckets << " buckets, c " << c << " pass " << pass;
    ASSERT_NEAR(closed, test::reference::waited_before_buckets(c, pass, buckets), 1e-12 * std::max(1.0, c))
        << buckets << " buckets, c " << c << " pass " << pass;
    ++compared;
    (c > pass ? longer : shorter) += 1;
  }
  EXPECT_EQ(compared, 4000);
  EXPECT_GE(longer, 500);
  EXPECT_GE(shorter, 500);
  // However short the collective, the last bucket waits for the pass: c / K is always exposed;
  // one bucket is all exposed; without buckets the pass hides it.
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(0.4, 1.0, 1, 1, true, 4), 0.1);
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(0.4, 1.0, 1, 1, true, 1), 0.4);
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(0.4, 1.0, 1, 1, true, 0), 0.0);
  // Longer than the pass: all but the pass's share of K - 1 buckets.
  EXPECT_DOUBLE_EQ(kernels::overlapped_exposed(2.0, 1.0, 1, 1, true, 4), 2.0 - 0.75);
}

// The reference's memory against the evaluator's at the capacity itself: for each framework's
// best plan on random instances, the reference calls the plan's split feasible with the capacity
// a hair above the evaluator's fullest stage and infeasible a hair below. This holds the two
// memory formulas together where the searches rarely look: the model state a framework keeps in
// flat buffers (no allocator reserve), which moves the peak by a few percent of the state.
TEST(Reference, MemoryFlipsAtTheEvaluatorsPeakForEveryFramework) {
  std::mt19937 rng(20261206);
  int checked = 0, buffered = 0;
  for (const FrameworkKind fw :
       {FrameworkKind::Megatron, FrameworkKind::Torchtitan, FrameworkKind::Deepspeed, FrameworkKind::Any})
    for (int i = 0; i < 6; ++i) {
      const test::RandomInstance inst = test::random_large_analytic(rng, 9500 + 10 * static_cast<int>(fw) + i, fw);
      PlannerOptions o;
      o.space = inst.space;
      o.threads = 2;
      o.top_k = 1;
      const SearchResult dp = search_plans(*inst.source, o);
      if (dp.top.empty()) continue;
      const Plan& plan = dp.top.front().plan;
      const auto* src = dynamic_cast<const AnalyticCostSource*>(inst.source.get());
      ASSERT_NE(src, nullptr);
      const Prediction pr = evaluate_plan(src->problem(), plan);
      ASSERT_TRUE(pr.evaluated) << inst.description;
      double peak = 0;
      for (const StageReport& st : pr.stages) peak = std::max(peak, st.memory.total());
      SliceCosts costs = src->slice_costs(plan.par, plan.order);
      buffered += std::any_of(costs.layers.begin(), costs.layers.end(), [](const auto& l) { return l.cost.buffered_bytes > 0; });
      costs.ctx.memory_capacity = peak * (1 + 1e-9);
      EXPECT_TRUE(test::reference::evaluate(src->cluster(), plan, costs).feasible) << inst.description;
      costs.ctx.memory_capacity = peak * (1 - 1e-9);
      EXPECT_FALSE(test::reference::evaluate(src->cluster(), plan, costs).feasible) << inst.description;
      ++checked;
    }
  std::printf("%d plans checked at their peak, %d of them with model state in buffers\n", checked, buffered);
  EXPECT_GE(checked, 12);
  EXPECT_GE(buffered, 4) << "no plan kept model state in buffers: the rule was not exercised";
}

}  // namespace
}  // namespace nest
