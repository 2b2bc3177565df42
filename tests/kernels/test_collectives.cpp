// Collective formulas against the nccl-tests bus-bandwidth definitions (nccl-tests
// doc/PERFORMANCE.md): for a group on one level the bus bandwidth the formula implies,
// busbw = (bytes / time) * factor, must converge to the level's link bandwidth as messages grow.
#include <gtest/gtest.h>

#include <algorithm>

#include "nest/kernels/collectives.hpp"

namespace nest::kernels {
namespace {

Network two_levels() {
  Network n;
  n.num_levels = 2;
  n.level[0] = {300e9, 2e-6};
  n.level[1] = {25e9, 5e-6};
  return n;
}

GroupShape flat(double members) {
  GroupShape g;
  g.num_levels = 2;
  g.members[0] = members;
  g.members[1] = 1;
  return g;
}

TEST(Collectives, BusBandwidthEqualsLinkBandwidthForLargeMessages) {
  Network net = two_levels();
  net.level[0].latency = net.level[1].latency = 0;  // the bandwidth term alone
  for (double n : {2.0, 4.0, 8.0}) {
    const GroupShape g = flat(n);
    const double bytes = 1e9;
    struct Case {
      Collective c;
      double t;
    };
    for (const Case cs :
         {Case{Collective::AllReduce, allreduce_time(net, g, bytes)}, Case{Collective::AllGather, allgather_time(net, g, bytes)},
          Case{Collective::ReduceScatter, reduce_scatter_time(net, g, bytes)},
          Case{Collective::Broadcast, broadcast_time(net, g, bytes)}, Case{Collective::Reduce, reduce_time(net, g, bytes)}}) {
      const double busbw = bytes / cs.t * bus_bandwidth_factor(cs.c, n);
      EXPECT_NEAR(busbw / 300e9, 1.0, 1e-6) << "n=" << n << " collective " << static_cast<int>(cs.c);
    }
    // all-to-all: (n-1)/n of the data leaves the GPU.
    const double a2a = alltoall_time(net, g, bytes);
    EXPECT_NEAR(bytes / a2a * bus_bandwidth_factor(Collective::AllToAll, n) / 300e9, 1.0, 1e-6);
  }
  // send/recv: factor 1.
  EXPECT_NEAR(1e12 / sendrecv_time(net, 1, 1e12) / 25e9, 1.0, 1e-6);
}

TEST(Collectives, ExactAlphaBetaTerms) {
  const Network net = two_levels();
  const GroupShape g = flat(8);
  const double S = 1e9;
  EXPECT_DOUBLE_EQ(ring_allreduce_time(net, g, S), 2.0 * 7 / 8 * S / 300e9 + 2.0 * 7 * 2e-6);
  EXPECT_DOUBLE_EQ(tree_allreduce_time(net, g, S), 2.0 * S / 300e9 + 2.0 * 3 * 2e-6);
  EXPECT_DOUBLE_EQ(reduce_scatter_time(net, g, S), 7.0 / 8 * S / 300e9 + 7 * 2e-6);
  // Broadcast and reduce: a pipelined chain, the whole message through every GPU, 7 hops to fill.
  EXPECT_DOUBLE_EQ(broadcast_time(net, g, S), S / 300e9 + 7 * 2e-6);
  EXPECT_DOUBLE_EQ(reduce_time(net, g, S), S / 300e9 + 7 * 2e-6);
  EXPECT_DOUBLE_EQ(collective_time(Collective::Broadcast, net, g, S), broadcast_time(net, g, S));
  EXPECT_DOUBLE_EQ(collective_time(Collective::Reduce, net, g, S), reduce_time(net, g, S));
  // Across two levels (8 x 2): the network carries S/8 per GPU; the chain through 16 GPUs makes
  // 15 hops, 7 NVLink hops in each node and 1 network hop.
  GroupShape two;
  two.num_levels = 2;
  two.members[0] = 8;
  two.members[1] = 2;
  EXPECT_DOUBLE_EQ(broadcast_time(net, two, S), std::max(S / 300e9, S / 8 / 25e9) + 14 * 2e-6 + 1 * 5e-6);
  // Small messages pick the tree (logarithmic latency), large ones the ring.
  EXPECT_DOUBLE_EQ(allreduce_time(net, g, 8), tree_allreduce_time(net, g, 8));
  EXPECT_DOUBLE_EQ(allreduce_time(net, g, S), ring_allreduce_time(net, g, S));
}

// Hierarchical: 4 nodes x 8 GPUs. The inter-node phase works on the 1/8 share the intra-node
// reduce-scatter leaves; phases pipeline, so the slower level sets the bandwidth term, while the
// ring pays every hop it makes (NCCL's tuning model).
TEST(Collectives, HierarchicalAllReduce) {
  const Network net = two_levels();
  GroupShape g;
  g.num_levels = 2;
  g.members[0] = 8;
  g.members[1] = 4;
  const double S = 8e9;
  const double intra = 2.0 * 7 / 8 * S / 300e9, inter = 2.0 * 3 / 4 * (S / 8) / 25e9;
  // One ring through 32 GPUs: of its 31 steps per pass, 4 x 7 inside the nodes and 3 across.
  EXPECT_DOUBLE_EQ(ring_allreduce_time(net, g, S), std::max(intra, inter) + 2.0 * 28 * 2e-6 + 2.0 * 3 * 5e-6);
  EXPECT_DOUBLE_EQ(reduce_scatter_time(net, g, S),
                   std::max(7.0 / 8 * S / 300e9, 3.0 / 4 * (S / 8) / 25e9) + 28 * 2e-6 + 3 * 5e-6);
  // All-to-all: 7/32 of the data stays inside the node, 24/32 crosses the network.
  EXPECT_DOUBLE_EQ(alltoall_time(net, g, S), std::max(S * 7 / 32 / 300e9 + 2e-6, S * 24 / 32 / 25e9 + 5e-6));
}

TEST(Collectives, GroupOfOneCostsNothing) {
  const Network net = two_levels();
  const GroupShape g = flat(1);
  EXPECT_EQ(allreduce_time(net, g, 1e9), 0);
  EXPECT_EQ(allgather_time(net, g, 1e9), 0);
  EXPECT_EQ(alltoall_time(net, g, 1e9), 0);
}

}  // namespace
}  // namespace nest::kernels
