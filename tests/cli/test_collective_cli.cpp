// nest collective: the group it builds from --ranks / --ranks-per-node, the nccl-tests units it
// prints, and bad input in one line.
#include <gtest/gtest.h>

#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;

Json collective_json(const std::string& args) {
  const auto r = run_nest("collective " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return parse_json(r.out, "stdout");
}

TEST(CollectiveCli, TenNodesOfEightAreOneLeafOfTen) {
  // 80 ranks, 8 per node on dgx-h100 (nodes of 8 on NVLink, leaves of 32 nodes): 8 x 10 x 1.
  const Json j = collective_json("--cluster dgx-h100 --op all_reduce --ranks 80 --ranks-per-node 8 --bytes 1G");
  const Cluster c = load_cluster("dgx-h100");
  kernels::GroupShape g;
  g.num_levels = static_cast<int>(c.levels.size());
  for (int l = 0; l < g.num_levels; ++l) g.members[l] = 1;
  g.members[0] = 8;
  g.members[1] = 10;
  const double want = kernels::allreduce_time(c.network(), g, 1073741824.0);
  EXPECT_DOUBLE_EQ(j["time_s"].get<double>(), want);
  EXPECT_EQ(j["group"][1]["members"], 10.0);
  // nccl-tests' units: algbw = bytes / time in GB/s; busbw = algbw x 2 (n - 1) / n for all-reduce.
  EXPECT_NEAR(j["algbw_GBps"].get<double>(), 1073741824.0 / want / 1e9, 1e-9);
  EXPECT_NEAR(j["busbw_GBps"].get<double>() / j["algbw_GBps"].get<double>(), 2.0 * 79 / 80, 1e-12);
  // Four GPUs per node: twice the nodes for the same ranks; the network carries more of the ring.
  const Json spread = collective_json("--cluster dgx-h100 --op all_reduce --ranks 80 --ranks-per-node 4 --bytes 1G");
  EXPECT_EQ(spread["group"][1]["members"], 20.0);
  // A group alone on half of each node's GPUs has the node's network for its 4 rails, each at
  // dgx-h100's lone rate (docs/cost-model.md §4, "A rail alone"); on full nodes, the shared 36.5.
  EXPECT_EQ(j["group"][1]["bandwidth_GBps"], 36.5);
  EXPECT_EQ(spread["group"][1]["bandwidth_GBps"], 48.2);
  const auto alone = run_nest("collective --cluster dgx-h100 --op all_gather --ranks 80 --ranks-per-node 4 --bytes 1G");
  EXPECT_NE(alone.out.find("  leaf: 48.2 GB/s per GPU, 4 of the node's 8 GPUs on it (36.5 with all of them)"), std::string::npos)
      << alone.out;
  // The text form is a row of nccl-tests' table.
  const auto t = run_nest("collective --cluster dgx-h100 --op all_gather --ranks 8 --bytes 64M");
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_NE(t.out.find("#       size     time   algbw   busbw"), std::string::npos) << t.out;
}

TEST(CollectiveCli, BroadcastAndReduceAreAChainWithBusFactorOne) {
  const Cluster c = load_cluster("dgx-h100");
  kernels::GroupShape g;
  g.num_levels = static_cast<int>(c.levels.size());
  for (int l = 0; l < g.num_levels; ++l) g.members[l] = 1;
  g.members[0] = 8;
  for (const char* op : {"broadcast", "reduce"}) {
    const Json j = collective_json(std::string("--cluster dgx-h100 --op ") + op + " --ranks 8 --bytes 1G");
    EXPECT_DOUBLE_EQ(j["time_s"].get<double>(), kernels::broadcast_time(c.network(), g, 1073741824.0)) << op;
    EXPECT_DOUBLE_EQ(j["busbw_GBps"].get<double>(), j["algbw_GBps"].get<double>()) << op;
  }
}

TEST(CollectiveCli, GpusOnAHierarchyPriceAsRanksPackedTheSameWay) {
  // --gpus on a hierarchical cluster embeds the group in the hierarchy's own topology, where
  // every link carries one ring: the time is --ranks' to the last bit.
  const Json packed = collective_json("--cluster dgx-h100 --op all_reduce --ranks 80 --bytes 1G");
  const Json listed = collective_json("--cluster dgx-h100 --op all_reduce --gpus 0-79 --bytes 1G");
  EXPECT_DOUBLE_EQ(listed["time_s"].get<double>(), packed["time_s"].get<double>());
  EXPECT_EQ(listed["group"][1]["members"], 10.0);
  EXPECT_EQ(listed["group"][1]["congestion"], 1.0);
  std::string half;  // GPUs 0-3 of twenty nodes
  for (int n = 0; n < 20; ++n) {
    if (n > 0) half += ',';
    half += std::to_string(8 * n) + "-" + std::to_string(8 * n + 3);
  }
  for (const char* op : {"all_gather", "reduce_scatter", "all_to_all"}) {
    const Json a = collective_json(std::string("--cluster dgx-h100 --op ") + op + " --ranks 80 --ranks-per-node 4 --bytes 256M");
    const Json b = collective_json(std::string("--cluster dgx-h100 --op ") + op + " --gpus " + half + " --bytes 256M");
    EXPECT_DOUBLE_EQ(b["time_s"].get<double>(), a["time_s"].get<double>()) << op;
    EXPECT_EQ(b["ranks"], 80);
  }
}

TEST(CollectiveCli, GroupsAlongsideShareTheLinksTheyCross) {
  // fattree-2to1: a pair across two leaves alone runs at its NIC's rate; beside the 31 other pairs
  // of the same leaves it gets half, the 2:1 spine's share, and names the uplink that limits it.
  std::string others;
  for (int i = 1; i < 32; ++i) others += " --alongside " + std::to_string(i) + "," + std::to_string(32 + i);
  const Json alone = collective_json("--cluster fattree-2to1 --op send_recv --gpus 0,32 --bytes 1G");
  const Json shared = collective_json("--cluster fattree-2to1 --op send_recv --gpus 0,32 --bytes 1G" + others);
  EXPECT_EQ(shared["alongside"], 31);
  EXPECT_EQ(shared["group"][2]["congestion"], 2.0);
  EXPECT_EQ(shared["group"][2]["busiest_link"]["link"], "leaf 0 -> spine 0");
  EXPECT_EQ(shared["group"][2]["busiest_link"]["load"], 32.0);
  EXPECT_NEAR(shared["busbw_GBps"].get<double>() / alone["busbw_GBps"].get<double>(), 0.5, 0.01);
  const auto t = run_nest("collective --cluster fattree-2to1 --op all_reduce --gpus 0,32 --bytes 1G" + others);
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_NE(t.out.find("leaf 0 -> spine 0: 32 ring hops on 16 NICs"), std::string::npos) << t.out;
}

TEST(CollectiveCli, GroupsAlongsideShareTheirNodesNetwork) {
  // dgx-h100: half of each of 4 nodes alone has the nodes' network for its 4 rails (48.2 GB/s
  // each, the lone rate); beside a group on the other half of the same nodes, every rail of the
  // node is busy and each gets its share, 36.5 (docs/cost-model.md §4, "A rail alone").
  const std::string half = "--cluster dgx-h100 --op all_gather --gpus 0-3,8-11,16-19,24-27 --bytes 1G";
  const Json alone = collective_json(half);
  const Json beside = collective_json(half + " --alongside 4-7,12-15,20-23,28-31");
  EXPECT_EQ(alone["group"][1]["bandwidth_GBps"], 48.2);
  EXPECT_EQ(beside["group"][1]["bandwidth_GBps"], 36.5);
  EXPECT_GT(beside["time_s"].get<double>(), alone["time_s"].get<double>());
  // A group alongside on other nodes leaves these nodes' rails alone.
  EXPECT_EQ(collective_json(half + " --alongside 32-35,40-43,48-51,56-59")["group"][1]["bandwidth_GBps"], 48.2);
}

TEST(CollectiveCli, BadGroupsAreOneLine) {
  for (const char* args :
       {"--op all_reduce --ranks 12 --ranks-per-node 8 --bytes 1G", "--op all_reduce --ranks 16 --ranks-per-node 16 --bytes 1G",
        "--op send_recv --ranks 4 --bytes 1G", "--op all_reduce --ranks 8 --bytes 0", "--op gather --ranks 8 --bytes 1G",
        "--op all_reduce --ranks 99999999 --bytes 1G", "--op all_reduce --bytes 1G",
        "--op all_reduce --gpus 0-7 --ranks 8 --bytes 1G", "--op all_reduce --ranks 8 --alongside 8-15 --bytes 1G",
        "--op all_reduce --gpus 0-11 --bytes 1G", "--op all_reduce --gpus 0,0 --bytes 1G",
        "--op send_recv --gpus 0,8,16 --bytes 1G", "--op all_reduce --gpus 0-7 --alongside 3-x --bytes 1G",
        "--op all_reduce --gpus 99999999 --bytes 1G"}) {
    const auto r = run_nest(std::string("collective --cluster dgx-h100 ") + args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.out;
    EXPECT_EQ(test::count_lines(r.err), 1) << args << ": " << r.err;
  }
}

}  // namespace
}  // namespace nest
