// The collective formulas (kernels/collectives.hpp) with the cluster presets against real
// nccl-tests logs, where docs/cost-model.md §9.5 states a figure. bench/collectives_error.cpp
// prints every error; these tests hold the ones the docs claim.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "nest/hardware/cluster.hpp"
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

}  // namespace
}  // namespace nest
