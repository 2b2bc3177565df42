// The collective formulas (kernels/collectives.hpp) with the cluster presets against real
// nccl-tests logs, where docs/cost-model.md §9.5 states a figure (bench/collectives_error.cpp
// prints every error; these tests hold the ones the docs claim), and what a profile of those logs
// gives the planner (a rail alone kept apart from every rail at once).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/profile.hpp"

namespace nest {
namespace {

const std::string kDir = std::string(NEST_TEST_DATA) + "/nccl-tests/";

bool is_ring_collective(kernels::Collective c) {
  return c == kernels::Collective::AllReduce || c == kernels::Collective::AllGather || c == kernels::Collective::ReduceScatter;
}

// The largest |predicted / measured - 1| over a log's all-reduce, all-gather and reduce-scatter
// rows of at least `from` bytes, each group priced alone as the run used it (the node's network
// for its rails: profiler::modelled_time) or with every GPU of its nodes on the network (the
// planner's figures: the same without the lone rate).
double worst_ring_error(const std::string& file, const Cluster& cluster, double from, bool alone) {
  const profiler::Profile prof = profiler::import_nccl_tests({kDir + file});
  // Without the lone rate, every rail at its share with all of the node's GPUs on the network.
  Cluster every_gpu_on_it = cluster;
  for (NetworkLevel& l : every_gpu_on_it.levels) l.lone_bandwidth = 0;
  double worst = 0;
  int rows = 0;
  for (const profiler::CollectiveSeries& s : prof.collectives) {
    if (!is_ring_collective(s.collective)) continue;
    for (const profiler::CollectiveSample& x : s.samples) {
      if (x.bytes < from) continue;
      const double predicted = profiler::modelled_time(s, alone ? cluster : every_gpu_on_it, x.bytes);
      worst = std::max(worst, std::fabs(predicted / x.time_s - 1));
      ++rows;
    }
  }
  EXPECT_EQ(rows, 15) << file << ": 5 sizes of 3 collectives from 1 GB";
  return worst;
}

// The same 10 DGX H100 nodes in one run with 1, 2, 4 and 8 GPUs per node. dgx-h100's network
// figure (36.5 GB/s per GPU) is fitted on the 8-GPU log, its lone rail rate (48.2) on the 1-GPU
// log; the 2- and 4-GPU logs are fitted on by nothing. In the bandwidth regime (1-16 GiB) the
// rule that shares a node's network between the rails a group uses prices them within 10%; with
// every rail at its all-at-once figure they would be 23-28% too slow. (The 8-GPU log's own error
// is the bench's: its all-reduce is 15% too slow at 1 GiB.)
TEST(CollectivesAgainstLogs, ARailAloneAndTheNodesSharedNetworkPriceEveryGpuCountPerNode) {
  const Cluster cluster = load_cluster("dgx-h100");
  const double gb = 1e9;  // the all-gather and reduce-scatter sizes are rounded down from 2^30 (SOURCES.md)
  EXPECT_LT(worst_ring_error("h100x10_10node_1pernode_5colls_nccltests-2.17.8.txt", cluster, gb, true), 0.05);
  for (const char* file :
       {"h100x20_10node_2pernode_5colls_nccltests-2.17.8.txt", "h100x40_10node_4pernode_5colls_nccltests-2.17.8.txt"}) {
    EXPECT_LT(worst_ring_error(file, cluster, gb, true), 0.10) << file;
    EXPECT_GT(worst_ring_error(file, cluster, gb, false), 0.15) << file << ": the rule must matter here";
  }
}

// A profile measures the network level either with every GPU of its hosts on it (what the planner
// prices) or with one GPU per host (a rail alone); its cost model keeps them apart, and a cluster
// that takes a profile measured on part of each host keeps its own figure for the planner.
TEST(CollectivesAgainstLogs, AProfileKeepsARailAloneApartFromEveryRailAtOnce) {
  const std::string node = kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt";
  const std::string g1 = kDir + "h100x10_10node_1pernode_5colls_nccltests-2.17.8.txt";
  const std::string g8 = kDir + "h100x80_10node_5colls_nccltests-2.17.8.txt";
  const Json full = profiler::cost_model_json(profiler::import_nccl_tests({node, g8}))["levels"][1];
  const Json both = profiler::cost_model_json(profiler::import_nccl_tests({node, g1, g8}))["levels"][1];
  const Json alone = profiler::cost_model_json(profiler::import_nccl_tests({node, g1}))["levels"][1];
  EXPECT_EQ(full["gpus_per_node"], 8);
  EXPECT_FALSE(full.contains("lone_bandwidth_GBps"));
  // The one-GPU-per-host groups do not move the level's figure; they give the lone rate.
  EXPECT_EQ(both["gpus_per_node"], 8);
  EXPECT_DOUBLE_EQ(both["bandwidth_GBps"].get<double>(), full["bandwidth_GBps"].get<double>());
  EXPECT_DOUBLE_EQ(both["lone_bandwidth_GBps"].get<double>(), alone["bandwidth_GBps"].get<double>());
  EXPECT_EQ(alone["gpus_per_node"], 1);
  EXPECT_GT(alone["bandwidth_GBps"].get<double>(), 1.15 * full["bandwidth_GBps"].get<double>());

  const Cluster h100 = load_cluster("dgx-h100");
  {  // whole hosts: the fitted figure is the planner's, the lone rate the profile's
    Cluster c = h100;
    std::vector<std::string> notes;
    apply_cost_model(profiler::cost_model_json(profiler::import_nccl_tests({node, g1, g8})), "both", c, &notes);
    EXPECT_TRUE(notes.empty());
    EXPECT_DOUBLE_EQ(c.levels[1].bandwidth, both["bandwidth_GBps"].get<double>() * kGB);
    EXPECT_DOUBLE_EQ(c.levels[1].lone_bandwidth, both["lone_bandwidth_GBps"].get<double>() * kGB);
  }
  {  // one GPU per host: the lone rate; the planner keeps dgx-h100's 36.5, and is told
    Cluster c = h100;
    std::vector<std::string> notes;
    apply_cost_model(profiler::cost_model_json(profiler::import_nccl_tests({node, g1})), "alone", c, &notes);
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_NE(notes[0].find("kept 1 of each host's 8 GPUs on the network"), std::string::npos) << notes[0];
    for (std::size_t l = 1; l < c.levels.size(); ++l) {
      EXPECT_EQ(c.levels[l].bandwidth, h100.levels[l].bandwidth);
      EXPECT_DOUBLE_EQ(c.levels[l].lone_bandwidth, alone["bandwidth_GBps"].get<double>() * kGB);
    }
  }
}

}  // namespace
}  // namespace nest
