// The DP is exact: on hundreds of random instances its optimum equals the exhaustive search's
// (every split of every slice through the evaluator), and the value it claims equals the
// evaluator's on the plan it returns. Properties: more bandwidth or memory never makes the best
// plan slower; restricting the space never makes it faster.
#include <gtest/gtest.h>

#include <cmath>

#include "nest/search/planner.hpp"
#include "random_instances.hpp"

namespace nest {
namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(a), std::fabs(b)); }

SearchResult run(const CostSource& src, const SearchOptions& space, SearchMethod method, int top = 1) {
  PlannerOptions o;
  o.space = space;
  o.method = method;
  o.threads = 2;
  o.top_k = top;
  return search_plans(src, o);
}

void check_instance(const test::RandomInstance& inst, int* feasible_count) {
  const SearchResult dp = run(*inst.source, inst.space, SearchMethod::Dp);
  const SearchResult ex = run(*inst.source, inst.space, SearchMethod::Exhaustive);
  ASSERT_EQ(dp.top.empty(), ex.top.empty()) << inst.description;
  if (dp.top.empty()) return;
  ++*feasible_count;
  const RankedPlan& d = dp.top.front();
  const RankedPlan& e = ex.top.front();
  EXPECT_LT(rel(d.value, e.value), 1e-9) << inst.description << ": DP " << d.value << " exhaustive " << e.value;
  // The DP's own objective equals the evaluator's on the returned plan.
  const Prediction pr = inst.source->predict(d.plan);
  EXPECT_TRUE(pr.feasible) << inst.description;
  EXPECT_LT(rel(d.dp_value, pr.step_time), 1e-9)
      << inst.description << ": DP says " << d.dp_value << ", evaluator " << pr.step_time;
  EXPECT_LT(rel(d.value, pr.step_time), 1e-9) << inst.description;
}

TEST(Exactness, DpEqualsExhaustiveOnRandomAnalyticInstances) {
  std::mt19937 rng(20261124);
  int feasible = 0;
  for (int i = 0; i < 110; ++i) check_instance(test::random_analytic(rng, i), &feasible);
  EXPECT_GE(feasible, 60) << "too few feasible instances to mean anything";
}

TEST(Exactness, DpEqualsExhaustiveOnRandomTabulatedInstances) {
  std::mt19937 rng(7);
  int feasible = 0;
  for (int i = 0; i < 110; ++i) check_instance(test::random_tabulated(rng, i), &feasible);
  EXPECT_GE(feasible, 60) << "too few feasible instances to mean anything";
}

// The uniform fast path and the general DP agree slice by slice on models with identical blocks.
TEST(Exactness, UniformAndGeneralDpAgreePerSlice) {
  std::mt19937 rng(99);
  int compared = 0;
  for (int i = 0; i < 60; ++i) {
    const test::RandomInstance inst = test::random_tabulated(rng, 1000 + i);
    if (!inst.source->uniform_blocks()) continue;
    const SearchSpace space = enumerate_slices(*inst.source, inst.space);
    for (const SliceSpec& s : space.slices) {
      if (s.par.pp < 2 || s.par.schedule != Schedule::OneFOneB) continue;
      const SliceCosts sc = inst.source->slice_costs(s.par, space.placements[static_cast<std::size_t>(s.placement)]);
      const SliceResult u = solve_slice_dp(*inst.source, s, sc, HUGE_VAL);
      const SliceResult g = solve_slice_general(sc, HUGE_VAL);
      ASSERT_EQ(u.feasible, g.feasible) << inst.description;
      if (u.feasible) {
        EXPECT_LT(rel(u.value, g.value), 1e-9) << inst.description;
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 100);
}

TEST(Properties, MoreBandwidthOrMemoryNeverSlower) {
  std::mt19937 rng(12345);
  int checked = 0;
  for (int i = 0; i < 40; ++i) {
    test::RandomInstance inst = test::random_analytic(rng, 2000 + i);
    auto* src = dynamic_cast<AnalyticCostSource*>(inst.source.get());
    const SearchResult base = run(*src, inst.space, SearchMethod::Dp);
    if (base.top.empty()) continue;
    const double t0 = base.top.front().value;
    Problem p = src->problem();
    for (std::size_t l = 0; l < p.cluster.levels.size(); ++l) {
      Problem faster = p;
      faster.cluster.levels[l].bandwidth *= 2;
      const SearchResult r = run(AnalyticCostSource(faster), inst.space, SearchMethod::Dp);
      ASSERT_FALSE(r.top.empty());
      EXPECT_LE(r.top.front().value, t0 * (1 + 1e-12)) << inst.description << " level " << l;
      Problem lower_latency = p;
      lower_latency.cluster.levels[l].latency /= 2;
      const SearchResult q = run(AnalyticCostSource(lower_latency), inst.space, SearchMethod::Dp);
      EXPECT_LE(q.top.front().value, t0 * (1 + 1e-12)) << inst.description << " level " << l;
    }
    Problem bigger = p;
    bigger.cluster.memory_bytes *= 1.5;
    const SearchResult m = run(AnalyticCostSource(bigger), inst.space, SearchMethod::Dp);
    EXPECT_LE(m.top.front().value, t0 * (1 + 1e-12)) << inst.description;
    ++checked;
  }
  EXPECT_GT(checked, 15);
}

TEST(Properties, RestrictingTheSpaceNeverFaster) {
  std::mt19937 rng(555);
  int checked = 0;
  for (int i = 0; i < 40; ++i) {
    const test::RandomInstance inst = test::random_analytic(rng, 3000 + i);
    const SearchResult full = run(*inst.source, inst.space, SearchMethod::Dp);
    if (full.top.empty()) continue;
    const Plan& best = full.top.front().plan;
    // Forbid each of the winner's choices in turn.
    std::vector<SearchOptions> restricted(5, inst.space);
    restricted[0].recompute = {best.par.recompute == Recompute::None ? Recompute::Full : Recompute::None};
    restricted[1].zero = {best.par.zero == 0 ? 1 : 0};
    restricted[2].pp = {best.par.pp == 1 ? 2 : 1};
    restricted[3].schedule = {Schedule::OneFOneB};
    restricted[4].microbatch = {best.par.microbatch};
    for (const SearchOptions& s : restricted) {
      const SearchResult r = run(*inst.source, s, SearchMethod::Dp);
      if (!r.top.empty()) {
        EXPECT_GE(r.top.front().value, full.top.front().value * (1 - 1e-12)) << inst.description;
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 15);
}

}  // namespace
}  // namespace nest
