// Alpha-beta cost of NCCL-style collectives on a hierarchical network.
//
// A network is a list of levels (0 = innermost, e.g. NVLink inside a node). Each level has a
// per-GPU bandwidth (bytes/s, one direction) and a per-step latency (s). A communicator
// ("group") is described by its GroupShape: members[l] is how many of the group's level-(l-1)
// domains share one level-l domain (members[0] = group members inside one level-0 domain), so
// the product of members[] is the group size. The shape is computed from the rank order and
// the cluster by host/src/cost/placement.cpp.
//
// Every collective is hierarchical and pipelined: the data volume at level l is the volume a
// reduce-scatter inside the lower levels leaves (bytes / prod_{j<l} members[j]); the phases at
// different levels run concurrently on different chunks, so the bandwidth term is the slowest
// level's ("a group spanning several levels is limited by its slowest one"); a ring pays the
// latency of every hop it makes (ring_hop_latency), a tree of every level of its depth.
// Formulas and their calibration error: docs/cost-model.md §4.
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels {

inline constexpr int kMaxLevels = 8;

struct LinkLevel {
  double bandwidth = 0;      // bytes/s per GPU, one direction (collective bus bandwidth)
  double latency = 0;        // seconds per communication step
  double p2p_bandwidth = 0;  // bytes/s of one point-to-point stream (0: the bandwidth above)
  // All-reduce bus bandwidth of the switch's in-network reduction (NVLink SHARP, NCCL's NVLS
  // algorithm) for groups inside one domain of this level (0: none).
  double nvls_bandwidth = 0;
  // Per-GPU bandwidth of all-to-all traffic at this level when it differs from the ring
  // collectives' (0: the bandwidth above): across nodes every rail streams at once, while NCCL's
  // hierarchical rings reach less of it.
  double alltoall_bandwidth = 0;
};

struct Network {
  int num_levels = 0;
  LinkLevel level[kMaxLevels];
};

struct GroupShape {
  int num_levels = 0;
  double members[kMaxLevels] = {};  // product over levels = group size
};

NEST_HD_INLINE double group_size(const GroupShape& g) {
  double n = 1;
  for (int l = 0; l < g.num_levels; ++l) n *= g.members[l];
  return n;
}

// Hops of a ring (chain) through the whole group that cross level l: one ring over n members,
// laid out domain by domain, enters each of the group's level-(l-1) domains once, so of its n - 1
// steps the level-l ones number (domains at level l-1) - (domains at level l) =
// (n / P_l)(m_l - 1), P_l = prod_{j<=l} m_j: for 80 GPUs on 10 nodes 70 NVLink steps and 9
// network ones. NCCL's tuner charges a ring exactly so, each step the latency of the link it
// crosses (src/graph/tuning.cc, ncclTopoTuneModel: (nsteps - nInterSteps) intraLat + nInterSteps
// interLat).
NEST_HD_INLINE double ring_hop_latency(const Network& net, const GroupShape& g) {
  const double n = group_size(g);
  double lat = 0, inside = 1;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    inside *= m;
    if (m > 1) lat += n / inside * (m - 1) * net.level[l].latency;
  }
  return lat;
}

// Ring all-reduce: 2(m-1)/m of the level's volume crosses each GPU's link; the ring runs twice
// (reduce-scatter, then all-gather), 2 (n - 1) steps.
NEST_HD_INLINE double ring_allreduce_time(const Network& net, const GroupShape& g, double bytes) {
  double bw_term = 0, volume = bytes;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    if (m > 1) {
      bw_term = max_of(bw_term, 2.0 * (m - 1) / m * volume / net.level[l].bandwidth);
      volume /= m;
    }
  }
  return bw_term + 2.0 * ring_hop_latency(net, g);
}

NEST_HD_INLINE double ceil_log2(double m) {
  double steps = 0, reach = 1;
  while (reach < m) {
    reach *= 2;
    steps += 1;
  }
  return steps;
}

// Double binary tree all-reduce: every rank sends and receives the whole level volume once up
// and once down (2x volume), in 2 ceil(log2 m) latency steps. Wins for small messages and
// large groups, loses to the ring by m/(m-1) in bandwidth.
NEST_HD_INLINE double tree_allreduce_time(const Network& net, const GroupShape& g, double bytes) {
  double bw_term = 0, lat = 0, volume = bytes;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    if (m > 1) {
      bw_term = max_of(bw_term, 2.0 * volume / net.level[l].bandwidth);
      lat += 2.0 * ceil_log2(m) * net.level[l].latency;
      volume /= m;
    }
  }
  return bw_term + lat;
}

// NVLS all-reduce: the switch reduces, each GPU sends its data once and receives the result once,
// which nccl-tests reports as busbw = 2(n-1)/n S / time; offered by NCCL for groups inside one
// NVLink domain of a switch that has it (H100/H200 NVSwitch gen 3, B200 gen 4). `inf` when the
// group spans more than one level or the level has none.
NEST_HD_INLINE double nvls_allreduce_time(const Network& net, const GroupShape& g, double bytes) {
  int level = -1, spanned = 0;
  for (int l = 0; l < g.num_levels; ++l)
    if (g.members[l] > 1) {
      level = l;
      ++spanned;
    }
  if (spanned != 1 || net.level[level].nvls_bandwidth <= 0) return 1e300;
  const double n = g.members[level];
  return 2.0 * (n - 1) / n * bytes / net.level[level].nvls_bandwidth + 2.0 * net.level[level].latency;
}

// NCCL's tuner picks the faster algorithm per call; so do we.
NEST_HD_INLINE double allreduce_time(const Network& net, const GroupShape& g, double bytes) {
  if (group_size(g) <= 1 || bytes <= 0) return 0;
  return min_of(min_of(ring_allreduce_time(net, g, bytes), tree_allreduce_time(net, g, bytes)),
                nvls_allreduce_time(net, g, bytes));
}

// Reduce-scatter of a `bytes` input (all-gather of a `bytes` output) is half a ring all-reduce.
NEST_HD_INLINE double reduce_scatter_time(const Network& net, const GroupShape& g, double bytes) {
  if (group_size(g) <= 1 || bytes <= 0) return 0;
  double bw_term = 0, volume = bytes;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    if (m > 1) {
      bw_term = max_of(bw_term, (m - 1) / m * volume / net.level[l].bandwidth);
      volume /= m;
    }
  }
  return bw_term + ring_hop_latency(net, g);
}

NEST_HD_INLINE double allgather_time(const Network& net, const GroupShape& g, double bytes) {
  return reduce_scatter_time(net, g, bytes);
}

// All-to-all where each GPU holds `bytes` and sends bytes/n to every member: the share whose
// destination lies inside level l but outside level l-1 crosses level l's links; the levels
// work concurrently, each paying its latency once.
NEST_HD_INLINE double alltoall_time(const Network& net, const GroupShape& g, double bytes) {
  const double n = group_size(g);
  if (n <= 1 || bytes <= 0) return 0;
  double t = 0, inside_below = 1;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    if (m > 1) {
      const double inside = inside_below * m;
      const double level_bytes = bytes * (inside - inside_below) / n;
      const double bw = net.level[l].alltoall_bandwidth > 0 ? net.level[l].alltoall_bandwidth : net.level[l].bandwidth;
      t = max_of(t, level_bytes / bw + net.level[l].latency);
      inside_below = inside;
    }
  }
  return t;
}

// Broadcast (and reduce, its mirror image) of `bytes` from (to) one root: NCCL runs both only as
// a ring (src/graph/tuning.cc skips every other algorithm for them), a chain from the root through
// every member, pipelined in chunks. Every member receives (sends) the whole message once, so the
// bandwidth term is the level's volume over its bandwidth, with nccl-tests' bus-bandwidth factor 1
// (doc/PERFORMANCE.md: t = S/B); filling the pipeline costs one step per hop of the chain.
// Levels nest as for the other ring collectives (the volume crossing level l is S_l).
NEST_HD_INLINE double chain_time(const Network& net, const GroupShape& g, double bytes) {
  double bw_term = 0, volume = bytes;
  for (int l = 0; l < g.num_levels; ++l) {
    const double m = g.members[l];
    if (m > 1) {
      bw_term = max_of(bw_term, volume / net.level[l].bandwidth);
      volume /= m;
    }
  }
  return bw_term + ring_hop_latency(net, g);
}

NEST_HD_INLINE double broadcast_time(const Network& net, const GroupShape& g, double bytes) {
  if (group_size(g) <= 1 || bytes <= 0) return 0;
  return chain_time(net, g, bytes);
}

NEST_HD_INLINE double reduce_time(const Network& net, const GroupShape& g, double bytes) {
  if (group_size(g) <= 1 || bytes <= 0) return 0;
  return chain_time(net, g, bytes);
}

// Point-to-point transfer across `level` (the lowest level whose domain holds both peers).
// One stream between two GPUs uses fewer channels than a collective does, so a level may
// carry its own point-to-point bandwidth (measured by nccl-tests sendrecv).
NEST_HD_INLINE double sendrecv_time(const Network& net, int level, double bytes) {
  if (bytes <= 0 || level < 0) return 0;
  const LinkLevel& l = net.level[level];
  return bytes / (l.p2p_bandwidth > 0 ? l.p2p_bandwidth : l.bandwidth) + l.latency;
}

// nccl-tests bus-bandwidth factors (busbw = algbw * factor, algbw = bytes / time), see
// nccl-tests doc/PERFORMANCE.md. Used by the profiler and by the formula tests. The planner
// issues the first five; broadcast and reduce are known so that their nccl-tests logs import
// (and `nest collective` predicts them), not because a plan uses them.
enum class Collective : int { AllReduce = 0, AllGather, ReduceScatter, AllToAll, SendRecv, Broadcast, Reduce };

NEST_HD_INLINE double bus_bandwidth_factor(Collective c, double n) {
  switch (c) {
    case Collective::AllReduce:
      return 2.0 * (n - 1) / n;
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AllToAll:
      return (n - 1) / n;
    case Collective::SendRecv:
    case Collective::Broadcast:
    case Collective::Reduce:
      return 1.0;
  }
  return 1.0;
}

NEST_HD_INLINE double collective_time(Collective c, const Network& net, const GroupShape& g, double bytes) {
  switch (c) {
    case Collective::AllReduce:
      return allreduce_time(net, g, bytes);
    case Collective::AllGather:
      return allgather_time(net, g, bytes);
    case Collective::ReduceScatter:
      return reduce_scatter_time(net, g, bytes);
    case Collective::AllToAll:
      return alltoall_time(net, g, bytes);
    case Collective::SendRecv: {
      int level = -1;
      for (int l = 0; l < g.num_levels; ++l)
        if (g.members[l] > 1) level = l;
      return sendrecv_time(net, level, bytes);
    }
    case Collective::Broadcast:
      return broadcast_time(net, g, bytes);
    case Collective::Reduce:
      return reduce_time(net, g, bytes);
  }
  return 0;
}

}  // namespace nest::kernels
