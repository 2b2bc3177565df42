// NEST's 13 reference instances: nest solves each, and its plan is at least as fast as the plan
// NEST's solver chose, both evaluated by nest's evaluator.
#include <gtest/gtest.h>

#include <filesystem>

#include "nest/search/nest_input.hpp"
#include "nest/search/planner.hpp"

namespace nest {
namespace {

TEST(NestReference, NestPlansAreNeverSlowerThanNests) {
  int instances = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(NEST_TEST_DATA) + "/nest-reference")) {
    if (!e.is_directory()) continue;
    ++instances;
    const std::string dir = e.path().string();
    const NestCostSource src(read_nest_input(dir + "/input.json"));
    const Plan theirs = read_nest_output(dir + "/output.json", src.instance(), nullptr);
    const Prediction pt = src.predict(theirs);
    ASSERT_TRUE(pt.evaluated) << dir;
    PlannerOptions o;
    o.space.allow_idle = true;
    const SearchResult r = search_plans(src, o);
    ASSERT_FALSE(r.top.empty()) << dir;
    const Prediction po = src.predict(r.top.front().plan);
    EXPECT_TRUE(po.feasible) << dir;
    EXPECT_NEAR(po.step_time / r.top.front().dp_value, 1.0, 1e-9) << dir;
    if (pt.feasible) {
      EXPECT_LE(po.step_time, pt.step_time * (1 + 1e-12)) << dir;
    }
  }
  EXPECT_EQ(instances, 13);
}

TEST(NestReference, NestsOwnPlanIsInOurSpace) {
  // The plan NEST chose for tpuv4-llama2-64 (8 stages of 4 blocks, d = 8) evaluates and fits.
  const std::string dir = std::string(NEST_TEST_DATA) + "/nest-reference/tpuv4-llama2-64";
  const NestCostSource src(read_nest_input(dir + "/input.json"));
  double own = 0;
  const Plan theirs = read_nest_output(dir + "/output.json", src.instance(), &own);
  EXPECT_EQ(theirs.par.pp, 8);
  EXPECT_EQ(theirs.par.dp, 8);
  EXPECT_EQ(theirs.blocks_per_stage, (std::vector<int>{3, 4, 4, 4, 4, 4, 4, 4}));
  EXPECT_NEAR(own, 1298615.985, 1e-3);
  EXPECT_TRUE(src.predict(theirs).feasible);
}

}  // namespace
}  // namespace nest
