// Pipeline boundaries priced at the level each one crosses: place_groups against rank-by-rank
// enumeration of the rank order, and the issue's layouts through the evaluator.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "nest/core/error.hpp"
#include "nest/cost/placement.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

// One of `xs`, uniformly: the random layouts below draw their degrees and domains so.
int draw(std::mt19937& rng, std::initializer_list<int> xs) {
  return *(xs.begin() + std::uniform_int_distribution<std::size_t>(0, xs.size() - 1)(rng));
}

// Level crossed by each boundary, from the ranks' coordinates: rank r has coordinate
// (r / stride_k) % size_k in dimension k (innermost first); its partner across boundary i has
// the same coordinates but pp + 1 (the wrap: pp p-1 to 0). Domains from Cluster::domain_sizes.
std::vector<int> enumerated_levels(const Cluster& cluster, const Parallelism& par, const RankOrder& order) {
  const std::int64_t n = par.gpus();
  const std::vector<std::int64_t> domain = cluster.domain_sizes(n);
  long size[5];
  size[static_cast<int>(Dim::TP)] = par.tp;
  size[static_cast<int>(Dim::CP)] = par.cp;
  size[static_cast<int>(Dim::EP)] = par.ep;
  size[static_cast<int>(Dim::DP)] = par.dp / par.ep;
  size[static_cast<int>(Dim::PP)] = par.pp;
  long pp_stride = 1;
  for (Dim d : order.dims) {
    if (d == Dim::PP) break;
    pp_stride *= size[static_cast<int>(d)];
  }
  std::vector<int> worst(static_cast<std::size_t>(par.pp), 0);
  for (std::int64_t r = 0; r < n; ++r) {
    const long stage = (r / pp_stride) % par.pp;
    const std::int64_t partner = stage + 1 < par.pp ? r + pp_stride : r - stage * pp_stride;
    int level = 0;
    while (r / domain[static_cast<std::size_t>(level)] != partner / domain[static_cast<std::size_t>(level)]) ++level;
    int& w = worst[static_cast<std::size_t>(stage)];
    w = std::max(w, level);
  }
  return worst;
}

// The rank grid's sizes and strides, innermost first in `order`, from the rank order's definition
// (the dense grid has no EP dimension where ep does not divide dp: EP over TP ranks).
struct RankAxes {
  long size[5], stride[5];
};

RankAxes rank_axes(const Parallelism& par, const RankOrder& order) {
  const bool ep_in_dp = par.dp % par.ep == 0;
  RankAxes a{};
  a.size[static_cast<int>(Dim::TP)] = par.tp;
  a.size[static_cast<int>(Dim::CP)] = par.cp;
  a.size[static_cast<int>(Dim::EP)] = ep_in_dp ? par.ep : 1;
  a.size[static_cast<int>(Dim::DP)] = ep_in_dp ? par.dp / par.ep : par.dp;
  a.size[static_cast<int>(Dim::PP)] = par.pp;
  long st = 1;
  for (Dim d : order.dims) {
    a.stride[static_cast<int>(d)] = st;
    st *= a.size[static_cast<int>(d)];
  }
  return a;
}

Cluster cluster_with_levels(const std::vector<std::int64_t>& sizes) {
  Cluster c = load_cluster("dgx-h100");
  c.levels.clear();
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    NetworkLevel nl;
    nl.name = std::to_string(l);
    nl.size = sizes[l];
    nl.bandwidth = 1e11 / static_cast<double>(l + 1);
    nl.latency = 1e-6 * static_cast<double>(l + 1);
    c.levels.push_back(nl);
  }
  return c;
}

TEST(Placement, BoundaryLevelsEqualRankEnumeration) {
  std::mt19937 rng(2718);
  const std::vector<RankOrder> orders = all_rank_orders();
  int compared = 0;
  for (int t = 0; t < 3000; ++t) {
    Parallelism par;
    par.tp = draw(rng, {1, 2, 3, 4});
    par.cp = draw(rng, {1, 2});
    par.pp = draw(rng, {1, 2, 3, 4, 5, 6});
    par.ep = draw(rng, {1, 2});
    par.dp = par.ep * draw(rng, {1, 2, 3});
    std::vector<std::int64_t> sizes;
    const int n = draw(rng, {1, 2, 3});
    for (int l = 0; l + 1 < n; ++l) sizes.push_back(draw(rng, {2, 3, 4, 6, 8}));
    sizes.push_back(draw(rng, {0, 0, 512}));
    const Cluster c = cluster_with_levels(sizes);
    const RankOrder& order = orders[std::uniform_int_distribution<std::size_t>(0, orders.size() - 1)(rng)];
    const Placement pl = place_groups(c, par, order);
    const std::vector<int> levels = pp_boundary_levels(pl, true);
    if (par.pp == 1) {
      EXPECT_TRUE(levels.empty());
      continue;
    }
    ASSERT_EQ(levels, enumerated_levels(c, par, order)) << "tp " << par.tp << " cp " << par.cp << " pp " << par.pp << " dp "
                                                        << par.dp << " ep " << par.ep << " order " << order.str();
    EXPECT_EQ(pp_boundary_levels(pl, false).size(), static_cast<std::size_t>(par.pp - 1));
    ++compared;
  }
  EXPECT_GT(compared, 2000);
}

// Strides that do not divide the domains (degrees of 3 and 6, domains of 3 or 6 GPUs, a job that
// fills its last domain in part): groups of one kind differ there, and the gcd of the tiling
// layouts could count more of a group in a domain than it has (a CP pair at stride 3 on 8-GPU
// nodes priced inside a node, where some pairs straddle two) or counts that do not nest (the
// reference planner found a data-parallel group of 8 at stride 3 on 8-GPU nodes under 16-GPU
// domains priced with 2, 0.5 and 8 members, its sync too fast). Every group's members per level
// are whole and at least 1 and multiply to the group's size; a level-l domain holds no more of the
// group than the fewest any group has in a domain it occupies (rank by rank: the busiest GPUs pace
// the collective), and so the group spans at least as many domains as any group does.
TEST(Placement, GroupsWhoseStridesDoNotDivideTheDomainsStillNest) {
  std::mt19937 rng(20261207);
  const std::vector<RankOrder> orders = all_rank_orders();
  int compared = 0, uneven = 0;
  for (int t = 0; t < 3000; ++t) {
    Parallelism par;
    par.tp = draw(rng, {1, 2, 3});
    par.cp = draw(rng, {1, 2});
    par.pp = draw(rng, {1, 2, 3});
    par.ep = draw(rng, {1, 1, 2});
    par.dp = par.ep * draw(rng, {2, 3, 4, 6, 8});
    const std::int64_t gpus = par.gpus();
    std::vector<std::int64_t> sizes;
    const int n = draw(rng, {2, 3});
    for (int l = 0; l + 1 < n; ++l) sizes.push_back(draw(rng, {2, 3, 4, 6, 8}));
    sizes.push_back(0);
    const Cluster c = cluster_with_levels(sizes);
    const RankOrder& order = orders[std::uniform_int_distribution<std::size_t>(0, orders.size() - 1)(rng)];
    const Placement pl = place_groups(c, par, order);
    const std::vector<std::int64_t> domain = c.domain_sizes(gpus);
    const auto [size, stride] = rank_axes(par, order);
    // Over every group of `dims` (keyed by its other coordinates): the most level-l domains one
    // spans, and the fewest of its GPUs one has in a level-l domain it occupies.
    auto real = [&](const std::vector<Dim>& dims, std::size_t l) {
      std::map<std::int64_t, std::map<std::int64_t, int>> in;  // group -> domain -> GPUs
      for (std::int64_t r = 0; r < gpus; ++r) {
        std::int64_t key = r;
        for (Dim d : dims) key -= ((r / stride[static_cast<int>(d)]) % size[static_cast<int>(d)]) * stride[static_cast<int>(d)];
        ++in[key][r / domain[l]];
      }
      double most = 0, fewest = HUGE_VAL;
      for (const auto& [k, per] : in) {
        most = std::max(most, static_cast<double>(per.size()));
        for (const auto& [d, count] : per) fewest = std::min(fewest, static_cast<double>(count));
      }
      return std::make_pair(most, fewest);
    };
    const std::string what = "tp " + std::to_string(par.tp) + " cp " + std::to_string(par.cp) + " pp " + std::to_string(par.pp) +
                             " dp " + std::to_string(par.dp) + " ep " + std::to_string(par.ep) + " order " + order.str() +
                             " levels " + std::to_string(sizes[0]) + (sizes.size() > 2 ? "," + std::to_string(sizes[1]) : "");
    const std::vector<std::pair<const kernels::GroupShape*, std::vector<Dim>>> groups = {{&pl.tp, {Dim::TP}},
                                                                                         {&pl.cp, {Dim::CP}},
                                                                                         {&pl.ep, {Dim::EP}},
                                                                                         {&pl.dp, {Dim::CP, Dim::EP, Dim::DP}},
                                                                                         {&pl.edp, {Dim::CP, Dim::DP}}};
    for (const auto& [g, dims] : groups) {
      double product = 1, expected = 1;
      for (Dim d : dims) expected *= static_cast<double>(size[static_cast<int>(d)]);
      for (int l = 0; l < g->num_levels; ++l) {
        ASSERT_GE(g->members[l], 1.0) << what;
        ASSERT_EQ(g->members[l], std::floor(g->members[l])) << what;
        product *= g->members[l];
      }
      ASSERT_EQ(product, expected) << what;
      double inside = 1;  // the group's GPUs in one level-l domain of the shape
      for (int l = 0; l + 1 < g->num_levels; ++l) {
        inside *= g->members[l];
        const auto [most, fewest] = real(dims, static_cast<std::size_t>(l));
        EXPECT_LE(inside, fewest) << what << ": level " << l;
        EXPECT_GE(expected / inside, most) << what << ": level " << l;
        uneven += fewest * most < expected;  // groups that do not tile the level's domains
      }
    }
    ++compared;
  }
  EXPECT_GT(compared, 2500);
  EXPECT_GT(uneven, 100) << "few groups that do not tile their domains: the uneven layouts were not exercised";
  // The layout the reference planner found: dp 8 at stride 3 (tp 1, pp 3 inside dp) on 8-GPU
  // nodes under 16-GPU domains, 24 GPUs: 3, 3 and 2 GPUs on three nodes, 6 and 2 in two domains;
  // priced as 2 GPUs per node, 1 node per domain, 4 domains.
  Parallelism par;
  par.pp = 3;
  par.dp = 8;
  const Placement pl = place_groups(cluster_with_levels({8, 2, 0}), par, RankOrder::parse("tp-cp-pp-ep-dp", "test"));
  EXPECT_EQ(std::vector<double>(pl.dp.members, pl.dp.members + pl.dp.num_levels), (std::vector<double>{2, 1, 4}));
}

TEST(Placement, TheRankOrdersOwnMapGivesTheSamePlacement) {
  // place_rank_map counts every group's members on the graph and every boundary's farthest pair;
  // given the GPUs the rank order puts each rank on (Topology::job_gpus), it must find what
  // place_groups computes from the order: same shapes, same boundary levels (power-of-two
  // layouts, where the formula is exact).
  std::mt19937 rng(31415);
  const std::vector<RankOrder> orders = all_rank_orders();
  for (const char* name : {"fattree-2to1", "superpod-h100", "dgx-h100"}) {
    const Cluster c = load_cluster(name);
    int compared = 0, hsdp = 0, folded = 0;
    for (int t = 0; t < 150; ++t) {
      Parallelism par;
      par.tp = draw(rng, {1, 2, 4, 8});
      par.cp = draw(rng, {1, 2});
      par.pp = draw(rng, {1, 2, 4, 8});
      par.ep = draw(rng, {1, 2});
      par.dp = par.ep * draw(rng, {1, 2, 4, 16, 32});
      // HSDP: shard groups of a multiple of ep dividing dp, smaller than it (a third of the draws).
      if (draw(rng, {0, 0, 1}) && par.dp > par.ep) {
        par.zero = 3;
        do par.dp_shard = par.ep * draw(rng, {1, 2, 4, 8, 16});
        while (par.dp_shard >= par.dp || par.dp % par.dp_shard != 0);
        ++hsdp;
      }
      par.schedule = draw(rng, {0, 1}) ? Schedule::Interleaved : Schedule::OneFOneB;
      const RankOrder& order = orders[std::uniform_int_distribution<std::size_t>(0, orders.size() - 1)(rng)];
      // Folded expert TP (half the other draws): the inner etp positions of TP, and on
      // Megatron's expert grid an EP that may span TP and CP ranks.
      if (par.dp_shard == 0 && par.tp > 1 && draw(rng, {0, 1})) {
        const int etp = draw(rng, {1, 2, 4}), ep = draw(rng, {1, 2, 4, 8});
        if (etp < par.tp && (par.dp % ep == 0 || (on_expert_grid(order) && (par.tp * par.cp * par.dp) % (etp * ep) == 0))) {
          par.etp = etp;
          par.ep = ep;
          ++folded;
        }
      }
      const std::int64_t n = par.gpus();
      if (c.max_gpus > 0 && n > c.max_gpus) continue;  // fattree-2to1 has 4,096
      const auto topo = topology_holding(c, n - 1, "test");
      const std::vector<std::int64_t> gpu = topo->job_gpus(n);
      const Placement by_order = place_groups(c, par, order);
      const Placement by_map = place_rank_map(c, *topo, par, order, gpu, "test");
      EXPECT_TRUE(same_placement(by_map, by_order))
          << name << ": tp " << par.tp << " cp " << par.cp << " pp " << par.pp << " dp " << par.dp << " ep " << par.ep
          << " dp_shard " << par.dp_shard << " etp " << par.etp << " order " << order.str();
      EXPECT_EQ(pp_boundary_levels(by_map, true), pp_boundary_levels(by_order, true)) << name << " " << order.str();
      ++compared;
    }
    EXPECT_GT(compared, 100) << name;
    EXPECT_GT(hsdp, 20) << name << ": HSDP layouts were not exercised";
    EXPECT_GT(folded, 15) << name << ": folded expert TP was not exercised";
  }
}

// The graph of fattree-2to1's first 4 nodes (32 GPUs, 8 per node) a rank map is read on, and
// the map of the default rank order on it (rank r on GPU r).
struct FourNodeMap {
  Cluster c = load_cluster("fattree-2to1");
  std::shared_ptr<const Topology> topo = topology_holding(c, 31, "map");
  std::vector<std::int64_t> own = topo->job_gpus(32);
  Placement place(const Parallelism& par, const std::vector<std::int64_t>& gpu) const {
    return place_rank_map(c, *topo, par, RankOrder{}, gpu, "map.csv");
  }
  // The map putting rank r where the own map puts rank `moved(r)`.
  std::vector<std::int64_t> moved(const std::function<std::int64_t(std::int64_t)>& to) const {
    std::vector<std::int64_t> gpu(own.size());
    for (std::size_t r = 0; r < own.size(); ++r) gpu[r] = own[static_cast<std::size_t>(to(static_cast<std::int64_t>(r)))];
    return gpu;
  }
};

// A map whose groups are uneven is priced as the rank order's uneven layouts are (group_shape):
// each level holds what the group with the fewest GPUs in one of its domains holds there. tp 8,
// dp 4 on fattree-2to1 with GPUs 12 and 16 swapped: the TP groups of ranks 8 and 16 have 7 GPUs
// in one node and 1 in the next, so every TP group is priced one GPU per node over 8 nodes of the
// leaf (a ring through the odd GPU crosses the NIC at every step). The DP groups (one GPU of
// each node) of local GPUs 4 and 0 now have two GPUs in one node and none in another; their
// fewest in a node is still one, so they are priced as before.
TEST(Placement, RankMapsPriceUnevenGroupsByTheirBusiestDomain) {
  const FourNodeMap map;
  Parallelism par;
  par.tp = 8;
  par.dp = 4;
  std::vector<std::int64_t> gpu = map.own;
  std::swap(gpu[12], gpu[16]);
  const Placement m = map.place(par, gpu);
  const Placement own = place_groups(map.c, par, RankOrder{});
  EXPECT_EQ(own.tp.members[0], 8);
  EXPECT_EQ(m.tp.members[0], 1);
  EXPECT_EQ(m.tp.members[1], 8);
  EXPECT_EQ(m.dp.members[0], own.dp.members[0]);
  EXPECT_EQ(m.dp.members[1], own.dp.members[1]);
}

// HSDP under a rank map: each shard group, replica group and (with experts) expert shard group is
// counted where the map puts it. tp 2, dp 16 in shards of 4 on fattree-2to1 (8-GPU nodes), rank
// r = tp + 2 (inner + 4 outer) in the default order: the order's own map keeps a shard group's 4
// ranks in one node and spreads the replicas over the 4 nodes; the map GPU = 8 inner + 2 outer +
// tp turns that around (a shard group one GPU per node, a replica group in one node) and keeps
// the TP pairs side by side.
TEST(Placement, RankMapsPriceHsdpShardAndReplicaGroupsWhereTheMapPutsThem) {
  const FourNodeMap map;
  Parallelism hsdp;
  hsdp.tp = 2;
  hsdp.dp = 16;
  hsdp.zero = 3;
  hsdp.dp_shard = 4;
  const Placement by_order = place_groups(map.c, hsdp, RankOrder{});
  EXPECT_TRUE(same_placement(map.place(hsdp, map.own), by_order));
  EXPECT_EQ(by_order.dp_shard.members[0], 4);
  EXPECT_EQ(by_order.dp_replicate.members[0], 1);
  const Placement t = map.place(hsdp, map.moved([](std::int64_t r) { return 8 * ((r / 2) % 4) + 2 * (r / 8) + r % 2; }));
  EXPECT_EQ(t.tp.members[0], 2);  // the TP pairs stay side by side
  EXPECT_EQ(t.dp_shard.members[0], 1);
  EXPECT_EQ(t.dp_shard.members[0] * t.dp_shard.members[1], 4);  // one GPU per node, 4 nodes
  EXPECT_EQ(t.dp_replicate.members[0], 4);                      // a replica group in one node
  EXPECT_EQ(t.dp.members[0], 4);                                // the whole data-parallel group: 4 per node either way
  EXPECT_EQ(by_order.dp.members[0], 4);
}

// Folded expert TP under a rank map: the expert grid's groups are counted where the map puts
// them. tp 8, etp 2, ep 4, dp 4 on fattree-2to1 (8-GPU nodes), default order: rank r = t + 8 d,
// and on Megatron's expert grid etp = r % 2, ep = (r / 2) % 4, edp = r / 8. The order's own map
// keeps a TP group (and its etp pairs and EP group) in one node and spreads the expert DP group
// over the 4 nodes; the map GPU = 8 (t / 2) + 2 d + t % 2 keeps the etp pairs side by side, puts
// each EP group one GPU per node (4 nodes) and each expert DP group in one node.
TEST(Placement, RankMapsPriceTheFoldedExpertGridWhereTheMapPutsIt) {
  const FourNodeMap map;
  Parallelism par;
  par.tp = 8;
  par.etp = 2;
  par.ep = 4;
  par.dp = 4;
  const Placement by_order = place_groups(map.c, par, RankOrder{});
  EXPECT_TRUE(same_placement(map.place(par, map.own), by_order));
  EXPECT_EQ(by_order.etp.members[0], 2);
  EXPECT_EQ(by_order.ep.members[0], 4);
  EXPECT_EQ(by_order.edp.members[0], 1);
  const Placement m = map.place(par, map.moved([](std::int64_t r) { return 8 * (r % 8 / 2) + 2 * (r / 8) + r % 2; }));
  EXPECT_EQ(m.etp.members[0], 2);                   // side by side
  EXPECT_EQ(m.ep.members[0], 1);                    // one per node ...
  EXPECT_EQ(m.ep.members[0] * m.ep.members[1], 4);  // ... on 4 nodes
  EXPECT_EQ(m.edp.members[0], 4);                   // in one node
  EXPECT_EQ(m.tp.members[0], 2);                    // TP: 2 per node on 4 nodes
  EXPECT_EQ(m.tp.members[0] * m.tp.members[1], 8);
}

// The issue: llama3-8b on dgx-h100 (8 GPUs per node), 16 GPUs, tp 4 pp 4, tp-cp-ep-dp-pp.
Plan issue_plan(Schedule schedule, int v) {
  Plan plan;
  plan.par.tp = 4;
  plan.par.pp = 4;
  plan.par.dp = 1;
  plan.par.zero = 1;
  plan.par.microbatch = 1;
  plan.par.num_microbatches = 16;
  plan.par.schedule = schedule;
  plan.par.virtual_stages = v;
  plan.blocks_per_stage = {8, 8, 8, 8};
  return plan;
}

// One pipeline send of a block's output across `level` in the plan's slice.
double block_send(const Problem& p, const Plan& plan, int level) {
  const LayerGraph g = build_layer_graph(p.model, true);
  const SliceCosts sc = build_slice_costs(p, g, plan.par, plan.order);
  return kernels::send_time(sc.ctx.net, level, sc.layers[1].cost);
}

TEST(Placement, StagesInsideANodeTalkOverNvlinkAcrossNodesOverTheNetwork) {
  const Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 16, 4096);
  const Plan plan = issue_plan(Schedule::OneFOneB, 1);
  const Prediction pr = evaluate_plan(p, plan);
  ASSERT_TRUE(pr.feasible);
  EXPECT_EQ(pp_boundary_levels(pr.placement, false), (std::vector<int>{0, 1, 0}));  // nvlink, leaf, nvlink
  // Each stage pays the sends leaving it: forward across the boundary after it, backward
  // across the one before it, each at that boundary's level.
  const double nvlink = block_send(p, plan, 0), leaf = block_send(p, plan, 1);
  EXPECT_GT(leaf, 2 * nvlink);
  EXPECT_DOUBLE_EQ(pr.stages[0].pp, nvlink);
  EXPECT_DOUBLE_EQ(pr.stages[1].pp, nvlink + leaf);
  EXPECT_DOUBLE_EQ(pr.stages[2].pp, leaf + nvlink);
  EXPECT_DOUBLE_EQ(pr.stages[3].pp, nvlink);

  // Priced all at NVLink (the old single pp level: one 16-GPU NVLink domain, same links), the
  // step is faster by the leaf sends of the middle stages.
  Problem one_domain = p;
  one_domain.cluster.levels[0].size = 16;
  const Prediction all_nvlink = evaluate_plan(one_domain, plan);
  EXPECT_EQ(pp_boundary_levels(all_nvlink.placement, false), (std::vector<int>{0, 0, 0}));
  EXPECT_DOUBLE_EQ(all_nvlink.stages[1].pp, 2 * nvlink);
  EXPECT_GT(pr.step_time, all_nvlink.step_time * (1 + 1e-6));
}

TEST(Placement, EveryBoundaryCrossesNodesWhenAStageFillsANode) {
  const Problem p = test::preset_problem("llama3-8b", "dgx-h100", 32, 16, 4096);
  Plan plan = issue_plan(Schedule::OneFOneB, 1);
  plan.par.tp = 8;
  const Prediction pr = evaluate_plan(p, plan);
  ASSERT_TRUE(pr.evaluated);
  EXPECT_EQ(pp_boundary_levels(pr.placement, true), (std::vector<int>{1, 1, 1, 1}));
  const double leaf = block_send(p, plan, 1);
  EXPECT_DOUBLE_EQ(pr.stages[0].pp, leaf);
  EXPECT_DOUBLE_EQ(pr.stages[1].pp, 2 * leaf);
}

TEST(Placement, InterleavedWrapBoundaryHasItsOwnLevel) {
  const Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 16, 4096);
  const Plan plan = issue_plan(Schedule::Interleaved, 2);
  const Prediction pr = evaluate_plan(p, plan);
  ASSERT_TRUE(pr.evaluated);
  // Stage 3 (node 1) sends chunk 0's output to stage 0 (node 0): the wrap crosses the network.
  EXPECT_EQ(pp_boundary_levels(pr.placement, true), (std::vector<int>{0, 1, 0, 1}));
  const double nvlink = block_send(p, plan, 0), leaf = block_send(p, plan, 1);
  // v = 2: stage 0 sends forward twice over NVLink and backward once across the wrap.
  EXPECT_NEAR(pr.stages[0].pp, 2 * nvlink + leaf, 1e-15);
  EXPECT_NEAR(pr.stages[1].pp, 2 * nvlink + 2 * leaf, 1e-15);
  EXPECT_NEAR(pr.stages[3].pp, leaf + 2 * nvlink, 1e-15);

  // pp innermost (pp-tp-cp-ep-dp, which no framework's command line sets: --framework any): the
  // whole pipeline, wrap included, sits in one node.
  Problem any = p;
  any.options.framework = FrameworkKind::Any;
  Plan inner = plan;
  inner.order = RankOrder::parse("pp-tp-cp-ep-dp", "test");
  const Prediction q = evaluate_plan(any, inner);
  ASSERT_TRUE(q.evaluated);
  EXPECT_EQ(pp_boundary_levels(q.placement, true), (std::vector<int>{0, 0, 0, 0}));
  EXPECT_NEAR(q.stages[0].pp, 3 * block_send(any, inner, 0), 1e-15);  // (its TP all-gather now spans nodes)
}

// HSDP group shapes against the ranks themselves: rank r has coordinate (r / stride_k) % size_k
// in dimension k (the DP dimension has dp / ep positions, the EP dimension ep); rank 0's shard
// group is every rank with tp = pp = 0 (any cp, ep) and its dp coordinate in [0, dp_shard / ep);
// its replica group has every coordinate 0 but dp, a multiple of dp_shard / ep; the experts'
// shard group is the shard group's ranks with ep = 0. members[l] is the members inside rank 0's
// level-l domain over those inside its level-(l-1) domain. Powers of two only, so that every
// domain holds whole groups.
TEST(Placement, HsdpShardAndReplicaGroupsEqualRankEnumeration) {
  std::mt19937 rng(1618);
  const std::vector<RankOrder> orders = all_rank_orders();
  int compared = 0;
  for (int t = 0; t < 2000; ++t) {
    Parallelism par;
    par.tp = draw(rng, {1, 2, 4});
    par.cp = draw(rng, {1, 2});
    par.pp = draw(rng, {1, 2, 4});
    par.dp = draw(rng, {4, 8, 16});
    par.ep = draw(rng, {1, 1, 2, 4});
    par.dp_shard = draw(rng, {2, 4, 8});
    if (par.dp_shard >= par.dp || par.dp_shard % par.ep != 0) continue;
    const long shard_dp = par.dp_shard / par.ep;
    std::vector<std::int64_t> sizes;
    const int n = draw(rng, {1, 2, 3});
    for (int l = 0; l + 1 < n; ++l) sizes.push_back(draw(rng, {2, 4, 8}));
    sizes.push_back(0);
    const Cluster c = cluster_with_levels(sizes);
    const RankOrder& order = orders[std::uniform_int_distribution<std::size_t>(0, orders.size() - 1)(rng)];
    const Placement pl = place_groups(c, par, order);
    const std::int64_t gpus = par.gpus();
    const std::vector<std::int64_t> domain = c.domain_sizes(gpus);
    const auto [size, stride] = rank_axes(par, order);
    auto coord = [&](std::int64_t r, Dim d) { return (r / stride[static_cast<int>(d)]) % size[static_cast<int>(d)]; };
    enum Group { kShard, kReplica, kExpertShard };
    auto expected = [&](Group g) {
      std::vector<double> inside(domain.size(), 0);
      for (std::int64_t r = 0; r < gpus; ++r) {
        if (coord(r, Dim::TP) != 0 || coord(r, Dim::PP) != 0) continue;
        const long x = coord(r, Dim::DP);
        const bool in = g == kShard     ? x < shard_dp
                        : g == kReplica ? coord(r, Dim::CP) == 0 && coord(r, Dim::EP) == 0 && x % shard_dp == 0
                                        : coord(r, Dim::EP) == 0 && x < shard_dp;
        if (!in) continue;
        for (std::size_t l = 0; l < domain.size(); ++l)
          if (r < domain[l]) ++inside[l];
      }
      std::vector<double> members;
      for (std::size_t l = 0; l < domain.size(); ++l) members.push_back(inside[l] / (l == 0 ? 1 : inside[l - 1]));
      return members;
    };
    auto members = [](const kernels::GroupShape& g) { return std::vector<double>(g.members, g.members + g.num_levels); };
    const std::string what = "tp " + std::to_string(par.tp) + " cp " + std::to_string(par.cp) + " pp " + std::to_string(par.pp) +
                             " dp " + std::to_string(par.dp) + " ep " + std::to_string(par.ep) + " shard " +
                             std::to_string(par.dp_shard) + " order " + order.str();
    ASSERT_EQ(members(pl.dp_shard), expected(kShard)) << what;
    ASSERT_EQ(members(pl.dp_replicate), expected(kReplica)) << what;
    ASSERT_EQ(members(pl.edp), expected(kExpertShard)) << what;
    ++compared;
  }
  EXPECT_GT(compared, 1000);
}

// HSDP on 4 DGX H100 nodes, torchtitan: FSDP2 shards of 8 GPUs (one node) replicated over the 4
// nodes hold 4x the sharded model state of FSDP over all 32 GPUs, and the gradient of each
// microbatch is reduce-scattered inside the node and all-reduced across nodes.
TEST(Placement, HsdpHoldsTheStateOfItsShardGroup) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 32, 64, 4096);
  p.options.framework = FrameworkKind::Torchtitan;
  Plan plan;
  plan.par.dp = 32;
  plan.par.zero = 3;
  plan.par.microbatch = 1;
  plan.par.num_microbatches = 2;
  plan.par.recompute = Recompute::Full;
  plan.blocks_per_stage = {32};
  const Prediction fsdp = evaluate_plan(p, plan);
  plan.par.dp_shard = 8;
  const Prediction hsdp = evaluate_plan(p, plan);
  ASSERT_TRUE(fsdp.evaluated && hsdp.evaluated) << (hsdp.violations.empty() ? "" : hsdp.violations.front());
  EXPECT_EQ(hsdp.placement.dp_shard.members[0], 8);
  EXPECT_EQ(hsdp.placement.dp_shard.members[1], 1);
  EXPECT_EQ(hsdp.placement.dp_replicate.members[0], 1);
  EXPECT_EQ(hsdp.placement.dp_replicate.members[1], 4);
  const MemoryBreakdown &a = fsdp.stages[0].memory, &b = hsdp.stages[0].memory;
  EXPECT_NEAR(b.optimizer / a.optimizer, 4.0, 1e-9);
  EXPECT_GT(b.params, a.params);
  EXPECT_GT(b.grads, a.grads);
  EXPECT_DOUBLE_EQ(b.activations, a.activations);
  // Per microbatch: the reduce-scatter over NVLink plus an all-reduce of an eighth of the
  // gradient over the network, instead of a reduce-scatter across all 32 GPUs.
  EXPECT_GT(hsdp.stages[0].dp_microbatch, 0);
  EXPECT_NE(hsdp.stages[0].dp_microbatch, fsdp.stages[0].dp_microbatch);

  // Not a divisor of dp, or not ZeRO-3: refused with a reason.
  plan.par.dp_shard = 5;
  EXPECT_FALSE(check_plan(p, plan).empty());
  plan.par.dp_shard = 8;
  plan.par.zero = 0;
  EXPECT_FALSE(check_plan(p, plan).empty());
}

// HSDP with expert parallelism (torchtitan: experts FSDP-sharded over efsdp = dp_shard cp tp / ep
// ranks of the sparse mesh (pp, dp_replicate, efsdp, ep), distributed/parallel_dims.py; the
// qwen3 / deepseek_v3 parallelize.py shard them over ["dp_replicate", "efsdp"]). Qwen3 30B-A3B on
// 4 DGX H100 nodes, EP 8: shards of 8 GPUs (one node) leave every EP rank its experts whole and
// all-reduce their gradient across the 4 nodes each microbatch; shards of 16 split them over 2.
TEST(Placement, HsdpWithExpertParallelismShardsTheExpertsInsideTheShardGroup) {
  Problem p = test::preset_problem("qwen3-30b-a3b", "dgx-h100", 32, 64, 4096);
  p.options.framework = FrameworkKind::Torchtitan;
  Plan plan;
  plan.par.dp = 32;
  plan.par.ep = 8;
  plan.par.zero = 3;
  plan.par.microbatch = 1;
  plan.par.num_microbatches = 2;
  plan.par.recompute = Recompute::Full;
  plan.blocks_per_stage = {static_cast<int>(p.model.layers)};
  const Prediction fsdp = evaluate_plan(p, plan);
  plan.par.dp_shard = 8;
  const Prediction node = evaluate_plan(p, plan);
  plan.par.dp_shard = 16;
  const Prediction pair = evaluate_plan(p, plan);
  ASSERT_TRUE(fsdp.evaluated && node.evaluated && pair.evaluated)
      << (node.violations.empty() ? "" : node.violations.front()) << (pair.violations.empty() ? "" : pair.violations.front());
  // Every piece of model state held 4x and 2x as often: dense shards of 8 and 16 instead of 32,
  // experts whole and in halves instead of quarters.
  EXPECT_NEAR(node.stages[0].memory.optimizer / fsdp.stages[0].memory.optimizer, 4.0, 1e-9);
  EXPECT_NEAR(pair.stages[0].memory.optimizer / fsdp.stages[0].memory.optimizer, 2.0, 1e-9);
  auto product = [](const kernels::GroupShape& g) {
    double n = 1;
    for (int l = 0; l < g.num_levels; ++l) n *= g.members[l];
    return n;
  };
  EXPECT_EQ(product(fsdp.placement.edp), 4);
  EXPECT_EQ(product(node.placement.edp), 1);
  EXPECT_EQ(product(pair.placement.edp), 2);
  EXPECT_EQ(pair.placement.edp.members[0], 1);  // the two halves sit on two nodes
  EXPECT_EQ(product(node.placement.dp_replicate), 4);
  // One shard of 8: an EP rank's experts, 128 / 8 of them, are all-reduced (fp32, FSDP2's reduce
  // dtype) over the 4 replicas each microbatch; nothing else of that size moves.
  // The stage reports the part its backward does not hide, so that part plus the compute that
  // hides it is at least the all-reduce.
  const double expert_grad_bytes = 4.0 * static_cast<double>(p.model.layers * (p.model.experts / plan.par.ep)) * 3.0 *
                                   static_cast<double>(p.model.hidden * p.model.moe_ffn);
  const double across_nodes = kernels::allreduce_time(p.cluster.network(), node.placement.dp_replicate, expert_grad_bytes);
  EXPECT_GT(across_nodes, 0.05);
  EXPECT_GE(node.stages[0].dp_microbatch + node.stages[0].compute, across_nodes);
  EXPECT_GT(node.stages[0].dp_microbatch, fsdp.stages[0].dp_microbatch);

  // A shard group that splits an EP group is refused with the reason.
  plan.par.dp_shard = 4;
  const std::vector<std::string> why = check_plan(p, plan);
  ASSERT_FALSE(why.empty());
  EXPECT_NE(why.front().find("multiple of ep"), std::string::npos) << why.front();
}

// Parallel folding: with etp < tp the expert layers re-split each stage's tp x cp x dp ranks as
// Megatron-Core's expert grid does (etp innermost, then ep, then edp). The group shapes of the
// groups holding rank 0 equal those counted rank by rank, on random layouts and hierarchies.
TEST(Placement, ExpertTpGroupsEqualRankEnumeration) {
  std::mt19937 rng(2718);
  const std::vector<RankOrder> orders = all_rank_orders();
  int compared = 0, megatron_grid = 0, ep_over_tp = 0;
  for (int t = 0; t < 3000; ++t) {
    Parallelism par;
    par.tp = draw(rng, {2, 4, 8});
    par.cp = draw(rng, {1, 2});
    par.pp = draw(rng, {1, 2, 4});
    par.dp = draw(rng, {1, 2, 4, 8});
    par.ep = draw(rng, {1, 2, 4, 8});
    par.etp = draw(rng, {1, 2, 4});
    if (par.tp % par.etp != 0 || par.etp == par.tp) continue;
    const RankOrder& order = orders[std::uniform_int_distribution<std::size_t>(0, orders.size() - 1)(rng)];
    // EP over TP or CP ranks (ep not dividing dp): only on Megatron's expert grid, etp ep | tp cp dp
    int first_data = 0;
    while (order.dims[static_cast<std::size_t>(first_data)] == Dim::PP) ++first_data;
    const bool grid =
        order.dims[static_cast<std::size_t>(first_data)] == Dim::TP && (order.dims[0] == Dim::PP || order.dims[4] == Dim::PP);
    const bool ep_in_dp = par.dp % par.ep == 0;
    if (!ep_in_dp && (!grid || (par.tp * par.cp * par.dp) % (par.etp * par.ep) != 0)) continue;
    ep_over_tp += !ep_in_dp;
    std::vector<std::int64_t> sizes;
    const int n = draw(rng, {1, 2, 3});
    for (int l = 0; l + 1 < n; ++l) sizes.push_back(draw(rng, {2, 4, 8}));
    sizes.push_back(0);
    const Cluster c = cluster_with_levels(sizes);
    const Placement pl = place_groups(c, par, order);
    const std::int64_t gpus = par.gpus();
    const std::vector<std::int64_t> domain = c.domain_sizes(gpus);
    const auto [size, stride] = rank_axes(par, order);
    auto coord = [&](std::int64_t r, Dim d) { return (r / stride[static_cast<int>(d)]) % size[static_cast<int>(d)]; };
    // Members per level of the group of rank 0 made of the ranks `in` accepts.
    auto expected = [&](const std::function<bool(std::int64_t)>& in) {
      std::vector<double> inside(domain.size(), 0);
      for (std::int64_t r = 0; r < gpus; ++r) {
        if (!in(r)) continue;
        for (std::size_t l = 0; l < domain.size(); ++l)
          if (r < domain[l]) ++inside[l];
      }
      std::vector<double> members;
      for (std::size_t l = 0; l < domain.size(); ++l) members.push_back(inside[l] / (l == 0 ? 1 : inside[l - 1]));
      return members;
    };
    auto members = [](const kernels::GroupShape& g) { return std::vector<double>(g.members, g.members + g.num_levels); };
    const std::string what = "tp " + std::to_string(par.tp) + " etp " + std::to_string(par.etp) + " cp " +
                             std::to_string(par.cp) + " ep " + std::to_string(par.ep) + " pp " + std::to_string(par.pp) + " dp " +
                             std::to_string(par.dp) + " order " + order.str();
    // expert TP: the inner etp positions of the tp dimension, whatever the order
    const long tp_outer = par.tp / par.etp;
    ASSERT_EQ(members(pl.etp), expected([&](std::int64_t r) {
                return coord(r, Dim::TP) < par.etp && coord(r, Dim::CP) == 0 && coord(r, Dim::EP) == 0 &&
                       coord(r, Dim::DP) == 0 && coord(r, Dim::PP) == 0;
              }))
        << what;
    int first = 0;
    while (order.dims[static_cast<std::size_t>(first)] == Dim::PP) ++first;
    if (order.dims[static_cast<std::size_t>(first)] == Dim::TP && (order.dims[0] == Dim::PP || order.dims[4] == Dim::PP)) {
      // Megatron's expert grid: index f of the rank among its stage's tp cp dp ranks, split
      // innermost first as etp, ep, edp (parallel_state.py:887-895)
      const long base = stride[static_cast<int>(Dim::TP)], M = static_cast<long>(par.tp) * par.cp * par.dp;
      auto f = [&](std::int64_t r) { return (r / base) % M; };
      ASSERT_EQ(members(pl.ep), expected([&](std::int64_t r) {
                  return coord(r, Dim::PP) == 0 && f(r) % par.etp == 0 && f(r) / (par.etp * par.ep) == 0;
                }))
          << what;
      ASSERT_EQ(members(pl.edp),
                expected([&](std::int64_t r) { return coord(r, Dim::PP) == 0 && f(r) % (par.etp * par.ep) == 0; }))
          << what;
      ++megatron_grid;
    } else {
      ASSERT_EQ(members(pl.edp), expected([&](std::int64_t r) {
                  return coord(r, Dim::PP) == 0 && coord(r, Dim::EP) == 0 && coord(r, Dim::TP) % par.etp == 0;
                }))
          << what << " (tp / etp = " << tp_outer << ")";
    }
    // the expert groups tile the stage: etp x ep x edp = tp x cp x dp
    EXPECT_EQ(kernels::group_size(pl.etp) * kernels::group_size(pl.ep) * kernels::group_size(pl.edp),
              static_cast<double>(par.tp) * par.cp * par.dp)
        << what;
    ++compared;
  }
  EXPECT_GT(compared, 500);
  EXPECT_GT(megatron_grid, 100);
  EXPECT_GT(ep_over_tp, 20);
}

// etp = 1 on a tp 4 Mixtral plan (Megatron, sequence parallel): the experts are whole on each
// rank, so no expert all-gather / reduce-scatter over the TP group (less TP time) and each GPU
// holds 4x the expert weights (more parameter memory); etp = tp is today's plan.
TEST(Placement, ExpertTpOneMovesLessOverTpAndHoldsMoreExpertWeights) {
  Problem p = test::preset_problem("mixtral-8x7b", "dgx-h100", 16, 64, 4096);
  Plan plan;
  plan.par.tp = 4;
  plan.par.dp = 4;
  plan.par.ep = 4;
  plan.par.sp = true;
  plan.par.zero = 1;
  plan.par.microbatch = 1;
  plan.par.num_microbatches = 16;
  plan.par.recompute = Recompute::Full;
  plan.blocks_per_stage = {static_cast<int>(p.model.layers)};
  const Prediction same = evaluate_plan(p, plan);
  plan.par.etp = 4;  // = tp: the same plan
  const Prediction explicit_same = evaluate_plan(p, plan);
  plan.par.etp = 1;
  const Prediction folded = evaluate_plan(p, plan);
  ASSERT_TRUE(same.evaluated && folded.evaluated) << (folded.violations.empty() ? "" : folded.violations.front());
  EXPECT_DOUBLE_EQ(explicit_same.step_time, same.step_time);
  EXPECT_DOUBLE_EQ(explicit_same.stages[0].memory.total(), same.stages[0].memory.total());
  const StageReport &a = same.stages[0], &b = folded.stages[0];
  EXPECT_LT(b.tp, a.tp);
  EXPECT_GT(b.memory.params, a.memory.params);
  EXPECT_GT(b.memory.grads, a.memory.grads);
  // EP follows etp on Megatron's expert grid: 4 consecutive GPUs of a node.
  EXPECT_EQ(folded.placement.ep.members[0], 4);
  EXPECT_EQ(folded.placement.etp.members[0], 1);
  EXPECT_EQ(kernels::group_size(folded.placement.edp), 4);
  // etp must divide tp; and it needs experts
  plan.par.etp = 3;
  EXPECT_FALSE(check_plan(p, plan).empty());
}

// The plan file carries etp; a plan without it (written before) reads as etp = tp.
TEST(Placement, PlanJsonRoundTripsExpertTp) {
  Problem p = test::preset_problem("mixtral-8x7b", "dgx-h100", 16, 64, 4096);
  Plan plan;
  plan.par.tp = 4;
  plan.par.dp = 4;
  plan.par.ep = 4;
  plan.par.etp = 2;
  plan.par.sp = true;
  plan.par.zero = 1;
  plan.par.num_microbatches = 16;
  plan.blocks_per_stage = {static_cast<int>(p.model.layers)};
  const Prediction pr = evaluate_plan(p, plan);
  Json j = plan_to_json(p, "mixtral-8x7b", "dgx-h100", plan, pr);
  EXPECT_EQ(j["parallelism"]["etp"], 2);
  EXPECT_TRUE(j["placement"]["groups"].contains("etp"));
  const std::string path = test::write_temp("etp_plan.json", j.dump());
  const PlanFile f = read_plan_file(path);
  EXPECT_EQ(f.plan.par.etp, 2);
  EXPECT_EQ(f.plan.par.tp, 4);
  j["parallelism"].erase("etp");
  const PlanFile old = read_plan_file(test::write_temp("etp_plan_old.json", j.dump()));
  EXPECT_EQ(old.plan.par.etp, 0);
  EXPECT_EQ(old.plan.par.expert_tp(), 4);
  j["parallelism"]["etp"] = 0;
  EXPECT_THROW(read_plan_file(test::write_temp("etp_plan_bad.json", j.dump())), Error);
  j["parallelism"]["etp"] = (std::int64_t{1} << 24) + 1;
  EXPECT_THROW(read_plan_file(test::write_temp("etp_plan_big.json", j.dump())), Error);
}

}  // namespace
}  // namespace nest
