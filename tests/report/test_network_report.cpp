// --explain-network (host/src/report/network_report.cpp): each group at the level its members
// span, bytes per GPU from the cost model's collectives, the busiest level, the step with a level
// twice as fast (never slower; unchanged for a level no group crosses), and on a topology the
// link each kind of group loads most.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "nest/io/json.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

const char* kPlan =
    "evaluate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 8192 --tp 8 --pp 2 --sp on "
    "--zero 1 --microbatch 1 --explain-network";

TEST(NetworkReport, GroupsLevelsBytesAndWhatIfs) {
  const auto r = test::run_nest(std::string(kPlan) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_TRUE(j.contains("network")) << r.out;
  const Json& n = j.at("network");
  const double step = n.at("step_time_s").get<double>();
  EXPECT_NEAR(step, j.at("prediction").at("step_time_s").get<double>(), 1e-12 * step);
  std::map<std::string, Json> groups;
  for (const Json& g : n.at("groups")) groups[g.at("group").get<std::string>()] = g;
  ASSERT_EQ(groups.size(), 3u) << n.dump();  // TP, DP, PP; no CP or EP
  EXPECT_EQ(groups.at("TP").at("level"), "nvlink");
  EXPECT_EQ(groups.at("TP").at("size"), 8);
  EXPECT_EQ(groups.at("DP").at("size"), 4);
  EXPECT_NE(groups.at("DP").at("level"), "nvlink");  // 8 GPUs a node, TP fills it
  // Megatron's distributed optimizer reduce-scatters fp32 gradients and all-gathers bf16
  // parameters: 4 + 2 bytes for every parameter a GPU holds (8.03e9 / 16, embedding and head
  // shared by the two stages' averages), within 5%.
  EXPECT_NEAR(groups.at("DP").at("bytes_per_gpu").get<double>(), 6 * 8.03e9 / 16, 0.05 * 6 * 8.03e9 / 16);
  EXPECT_FALSE(groups.at("DP").contains("busiest_link"));  // a hierarchy has no links to name
  // Sequence parallelism: per block and microbatch, 4 collectives of T h 2 bytes each forward,
  // as many backward; 32 blocks over 2 stages, 256 / 4 = 64 microbatches.
  const double tp_bytes = 2 * 4 * 8192.0 * 4096 * 2 * 16 * 64;
  EXPECT_NEAR(groups.at("TP").at("bytes_per_gpu").get<double>(), tp_bytes, 0.05 * tp_bytes);
  for (const Json& l : n.at("level_twice_as_fast")) EXPECT_LE(l.at("step_time_s").get<double>(), step * (1 + 1e-12)) << l.dump();
  const std::string busiest = n.at("busiest_level");
  EXPECT_FALSE(busiest.empty());
  const auto text = test::run_nest(kPlan);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("busiest level: " + busiest), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("twice as fast"), std::string::npos) << text.out;
}

std::map<std::string, Json> network_groups(const std::string& args) {
  const auto r = test::run_nest("evaluate " + args + " --explain-network --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, Json> groups;
  const Json j = Json::parse(r.out);
  for (const Json& g : j.at("network").at("groups")) groups[g.at("group").get<std::string>()] = g;
  return groups;
}

TEST(NetworkReport, ShardedParametersMoveEveryMicrobatch) {
  // ZeRO-3: the parameters are gathered before each pass and the gradients reduce-scattered after
  // each backward, so halving the microbatch doubles the data-parallel bytes.
  const std::string base = "--model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096 --tp 1 --zero 3";
  const double one = network_groups(base + " --microbatch 1").at("DP").at("bytes_per_gpu").get<double>();
  const double two = network_groups(base + " --microbatch 2").at("DP").at("bytes_per_gpu").get<double>();
  EXPECT_GT(two, 0);
  EXPECT_NEAR(one / two, 2.0, 1e-9);
}

TEST(NetworkReport, OnATopologyEachGroupNamesTheLinkItsGroupsLoadMost) {
  // fattree-2to1, 1,024 GPUs, tp 8: every data-parallel group joins GPU j of every node; at the
  // spine, each leaf's 32 GPUs send 32 ring hops up its 16 NICs' worth of uplinks.
  const auto groups = network_groups(
      "--model llama3-8b --cluster fattree-2to1 --gpus 1024 --global-batch 1024 --seq-len 4096 --tp 8 --zero 1 "
      "--microbatch 1");
  ASSERT_TRUE(groups.at("DP").contains("busiest_link")) << groups.at("DP").dump();
  const Json& dp = groups.at("DP").at("busiest_link");
  EXPECT_EQ(dp.at("link"), "leaf 0 -> spine 0");
  EXPECT_EQ(dp.at("congestion"), 2.0);
  EXPECT_EQ(dp.at("load"), 32.0);
  EXPECT_EQ(dp.at("capacity_nics"), 16.0);
  EXPECT_FALSE(groups.at("TP").contains("busiest_link"));  // inside a node: no link of the graph
}

TEST(NetworkReport, EveryGroupAtOnceAddsTheKindsThatShareALink) {
  // tp 8, pp 2 with pp outermost: each stage is 512 GPUs, so every pipeline pair and every
  // data-parallel group crosses the spine. Alone each loads a leaf's uplinks twice over; at once,
  // four times.
  const auto r = test::run_nest(
      "evaluate --model llama3-8b --cluster fattree-2to1 --gpus 1024 --global-batch 1024 --seq-len 4096 --tp 8 --pp 2 "
      "--sp on --zero 1 --microbatch 1 --explain-network --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  const Json& n = j.at("network");
  std::map<std::string, Json> groups;
  for (const Json& g : n.at("groups")) groups[g.at("group").get<std::string>()] = g;
  EXPECT_EQ(groups.at("DP").at("busiest_link").at("congestion"), 2.0);
  EXPECT_EQ(groups.at("PP").at("busiest_link").at("congestion"), 2.0);
  ASSERT_TRUE(n.contains("busiest_link_all_groups")) << n.dump();
  EXPECT_EQ(n.at("busiest_link_all_groups").at("congestion"), 4.0);
  EXPECT_NE(n.at("busiest_link_all_groups").at("link").get<std::string>().find(" -> spine"), std::string::npos) << n.dump();
}

TEST(NetworkReport, TabulatedCostsAreRefused) {
  const auto r = test::run_nest("plan --nest-input '" + std::string(NEST_TEST_DATA) +
                                "/nest-reference/tpuv4-bert-64/input.json' --explain-network");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("--explain-network"), std::string::npos) << r.err;
}

// --explain-placement: a plan whose TP group spans nodes (pp innermost) against every other
// rank order; each listed order's time is `nest evaluate --order` of it, the plan's own is among
// them, and the best is no slower than the plan.
TEST(NetworkReport, PlacementComparedWithEveryRankOrder) {
  const std::string base =
      "evaluate --model llama3-70b --cluster dgx-h100 --gpus 256 --global-batch 256 --seq-len 8192 --tp 8 --pp 4 --zero 1 "
      "--framework any";
  const auto r = test::run_nest(base + " --order pp-cp-ep-dp-tp --explain-placement --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  const Json& c = j.at("placement_comparison");
  const double own = j.at("prediction").at("step_time_s").get<double>();
  EXPECT_EQ(c.at("plan_step_time_s").get<double>(), own);
  ASSERT_GE(c.at("orders").size(), 2u);
  bool listed = false;
  double previous = 0;
  for (const Json& o : c.at("orders")) {
    const double t = o.at("step_time_s").get<double>();
    EXPECT_GE(t, previous);  // fastest first
    previous = t;
    const auto e = test::run_nest(base + " --order " + o.at("order").get<std::string>() + " --json");
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(Json::parse(e.out).at("prediction").at("step_time_s").get<double>(), t) << o.dump();
    listed = listed || t == own;
  }
  EXPECT_TRUE(listed);
  EXPECT_LT(c.at("best_change").get<double>(), -0.2);  // TP across nodes is far from the best
  const auto text = test::run_nest(base + " --order pp-cp-ep-dp-tp --explain-placement");
  EXPECT_NE(text.out.find("placement  this plan's rank order pp-cp-ep-dp-tp"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace nest
