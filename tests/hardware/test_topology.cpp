// Topology files: the hierarchy a graph gives back (exactly, for the topology of a hierarchical
// cluster), oversubscription and shared NICs on the graph, the torus, nodes out, bad input; concrete
// groups of GPUs on the graph and the links they share.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/group_embedding.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/io/text.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;
using test::write_temp;

std::string from_cluster(const std::string& cluster, long gpus) {
  const std::string path = test::temp_dir() + "/" + cluster + "-" + std::to_string(gpus) + ".topology.json";
  const auto r = run_nest("topology --from-cluster " + cluster + " --gpus " + std::to_string(gpus) + " --out '" + path + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path;
}

// Every figure of every level, compared as doubles (no tolerance).
void expect_same_levels(const Cluster& a, const Cluster& b, const std::string& what) {
  ASSERT_EQ(a.levels.size(), b.levels.size()) << what;
  for (std::size_t l = 0; l < a.levels.size(); ++l) {
    const NetworkLevel &x = a.levels[l], &y = b.levels[l];
    EXPECT_EQ(x.name, y.name) << what << " level " << l;
    EXPECT_EQ(x.size, y.size) << what << " level " << l;
    EXPECT_EQ(x.bandwidth, y.bandwidth) << what << " level " << l;
    EXPECT_EQ(x.latency, y.latency) << what << " level " << l;
    EXPECT_EQ(x.p2p_bandwidth, y.p2p_bandwidth) << what << " level " << l;
    EXPECT_EQ(x.nvls_bandwidth, y.nvls_bandwidth) << what << " level " << l;
    EXPECT_EQ(x.alltoall_bandwidth, y.alltoall_bandwidth) << what << " level " << l;
    EXPECT_EQ(x.lone_bandwidth, y.lone_bandwidth) << what << " level " << l;
  }
  EXPECT_EQ(a.gpu.name, b.gpu.name) << what;
  EXPECT_EQ(a.memory_bytes, b.memory_bytes) << what;
  EXPECT_EQ(a.host_memory_bandwidth, b.host_memory_bandwidth) << what;
}

TEST(Topology, EveryClusterPresetComesBackFromItsTopology) {
  // Job sizes that fill levels exactly, fill them partly, and stay inside one node.
  for (const std::string& name : list_presets(PresetKind::Cluster)) {
    const Cluster hier = load_cluster(name);
    for (long gpus : {8L, 80L, 1024L, 24576L}) {
      try {
        (void)hier.domain_sizes(gpus);
      } catch (const Error&) {
        continue;  // single-node presets
      }
      const std::string path = from_cluster(name, gpus);
      const Cluster topo = load_cluster(path);
      expect_same_levels(hier, topo, name + " at " + std::to_string(gpus));
      EXPECT_EQ(topo.domain_sizes(gpus), hier.domain_sizes(gpus)) << name;
      EXPECT_GE(topo.max_gpus, gpus) << name;
    }
  }
}

// A rail's lone rate (docs/cost-model.md §4, "A rail alone"): read from cluster and topology
// files, carried through `nest topology --from-cluster` (the test above compares it), checked, and
// shared by the rails a group alone uses.
TEST(Topology, ARailsLoneRateIsReadCheckedAndSharedByTheRailsInUse) {
  const Cluster h100 = load_cluster("dgx-h100");
  EXPECT_EQ(h100.levels[0].lone_bandwidth, 0);
  EXPECT_EQ(h100.levels[1].lone_bandwidth, 48.2 * kGB);
  EXPECT_EQ(load_cluster("superpod-h100").levels[1].lone_bandwidth, 48.2 * kGB);
  // k of the node's 8 GPUs share 8 x 36.5 GB/s, each at most 48.2: every level above the node.
  const std::map<std::int64_t, double> per_gpu = {{1, 48.2}, {2, 48.2}, {4, 48.2}, {6, 48.2}, {7, 36.5 * 8 / 7}, {8, 36.5}};
  for (const auto& [k, expected] : per_gpu) {
    const std::vector<NetworkLevel> alone = levels_for_group_alone(h100.levels, k);
    EXPECT_EQ(alone[0].bandwidth, 360 * kGB) << k;  // the node's own fabric is not shared so
    for (std::size_t l = 1; l < alone.size(); ++l) EXPECT_NEAR(alone[l].bandwidth, expected * kGB, 1) << k << " level " << l;
  }
  // Without a lone figure a level keeps its own.
  EXPECT_EQ(levels_for_group_alone(load_cluster("dgx-h200").levels, 1)[1].bandwidth, 46 * kGB);
  // On fattree-2to1 the spine's figure is halved by its uplinks when every GPU is on it (18.25);
  // a group with one GPU per node leaves the uplinks half idle and gets its rail.
  const Cluster fat = load_cluster("fattree-2to1");
  EXPECT_EQ(fat.levels[2].bandwidth, 18.25 * kGB);
  EXPECT_EQ(levels_for_group_alone(fat.levels, 1)[2].bandwidth, 48.2 * kGB);
  EXPECT_EQ(levels_for_group_alone(fat.levels, 8)[2].bandwidth, 18.25 * kGB);
  // Only levels above the node have rails; a what-if that raises a level past its lone rate
  // raises the lone rate with it.
  try {
    (void)load_cluster("dgx-h100", Outages{{}, {}, "", 0, 0, {{"levels.0.lone_bandwidth_GBps", "400", "--cluster-set"}}});
    ADD_FAILURE() << "a lone rate on the node's fabric was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("the first level is the node's own fabric"), std::string::npos) << e.what();
  }
  const Cluster faster =
      load_cluster("superpod-h100", Outages{{}, {}, "", 0, 0, {{"networks.0.nic_bandwidth_GBps", "50", "--cluster-set"}}});
  EXPECT_EQ(levels_for_group_alone(faster.levels, 1)[1].bandwidth, 50 * kGB);
}

Json plan_json(const std::string& args) {
  const auto r = run_nest("plan " + args + " --backend cpu --json");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  Json j = parse_json(r.out, "stdout");
  j.erase("cluster");  // the spec given: the preset's name or the topology file's path
  // Wall time, and the work counters: which slices the threads' shared bound prunes depends on
  // their timing (the same plan and value either way).
  for (const char* key : {"seconds", "slices_solved", "cells"}) j["search"].erase(key);
  return j;
}

TEST(Topology, PlansOnAHierarchyAndOnItsTopologyAreIdentical) {
  struct Case {
    const char *model, *cluster;
    long gpus, batch, seq;
  };
  const Case cases[] = {
      {"llama3-70b", "dgx-h100", 1024, 1024, 8192},          {"mixtral-8x7b", "nest-h100-spineleaf", 128, 256, 4096},
      {"llama3-8b", "meta-h100-roce-24k", 4096, 2048, 8192}, {"gpt3-175b", "gb200-nvl72", 576, 1536, 2048},
      {"llama2-13b", "nest-tpuv4-fattree", 256, 512, 4096},  {"qwen3-30b-a3b", "dgx-a100", 64, 256, 4096},
      {"llama3.1-8b", "gb200-nvl72", 512, 128, 8192},  // 64 of each rack's 72 GPUs (search/domain_share.hpp)
  };
  for (const Case& c : cases) {
    const std::string rest = " --gpus " + std::to_string(c.gpus) + " --global-batch " + std::to_string(c.batch) + " --seq-len " +
                             std::to_string(c.seq);
    Json hier = plan_json(std::string("--model ") + c.model + " --cluster " + c.cluster + rest);
    Json topo = plan_json(std::string("--model ") + c.model + " --cluster '" + from_cluster(c.cluster, c.gpus) + "'" + rest);
    // The graph also says which physical nodes the ranks run on; a hierarchy has none to name.
    EXPECT_TRUE(topo["placement"].contains("physical")) << c.model << " on " << c.cluster;
    topo["placement"].erase("physical");
    // A topology written for the job has no spare domains: where the hierarchy (unbounded) had
    // other shares to try, it must have kept the one the topology has, filling its domains.
    if (hier.contains("domain_share") && !topo.contains("domain_share")) {
      EXPECT_EQ(hier["domain_share"]["gpus_per_domain"], hier["domain_share"]["domain_gpus"]) << c.model;
      hier.erase("domain_share");
      hier["search"].erase("slices");  // every share's
      topo["search"].erase("slices");
    }
    // A share of each domain is recorded as the level's size on a hierarchy and as the GPUs past
    // it out of every node on a topology: the same share.
    if (hier.contains("domain_share") && hier["domain_share"]["gpus_per_domain"] != hier["domain_share"]["domain_gpus"]) {
      const int share = hier["domain_share"]["gpus_per_domain"].get<int>(), domain = hier["domain_share"]["domain_gpus"];
      EXPECT_EQ(hier["cluster_set"], Json::array({"levels.0.size=" + std::to_string(share)})) << c.model;
      Json out = Json::array();
      for (int g = share; g < domain; ++g) out.push_back(g);
      EXPECT_EQ(topo["unavailable_gpus"], out) << c.model;
      hier.erase("cluster_set");
      topo.erase("unavailable_gpus");
    }
    EXPECT_EQ(hier.dump(), topo.dump()) << c.model << " on " << c.cluster;
    EXPECT_EQ(hier["prediction"]["step_time_s"].get<double>(), topo["prediction"]["step_time_s"].get<double>());
  }
}

// A small switched topology: `nodes` nodes of 8 GPUs, `nics` NICs per node, leaves of 4 nodes.
std::string small_tree(const std::string& name, int nodes, int nics, double oversubscription, bool rails) {
  Json t = {{"schema", "nest.topology/1"},
            {"name", name},
            {"gpu", "h100-sxm"},
            {"nodes", nodes},
            {"node", {{"name", "nvlink"}, {"gpus", 8}, {"bandwidth_GBps", 360}, {"latency_s", 2.5e-6}}},
            {"networks",
             {{{"name", "ib"},
               {"nics_per_node", nics},
               {"nic_bandwidth_GBps", 40},
               {"p2p_bandwidth_GBps", 16},
               {"tiers",
                {{{"name", "leaf"}, {"group", 4}, {"rail_optimized", rails}, {"latency_s", 5e-6}},
                 {{"name", "spine"}, {"oversubscription", oversubscription}, {"latency_s", 8e-6}}}}}}}};
  return write_temp(name + ".json", t.dump());
}

TEST(Topology, AnOversubscribedSpineDividesThePerGpuBandwidthByItsRatio) {
  for (double ratio : {1.0, 2.0, 3.0}) {
    const Cluster c = load_cluster(small_tree("osub", 16, 8, ratio, false));
    ASSERT_EQ(c.levels.size(), 3u);
    EXPECT_EQ(c.levels[1].bandwidth, 40 * kGB) << ratio;  // inside a leaf: the NIC
    EXPECT_DOUBLE_EQ(c.levels[2].bandwidth, 40 * kGB / ratio) << ratio;
    EXPECT_DOUBLE_EQ(c.levels[2].p2p_bandwidth, 16 * kGB / ratio) << ratio;
    EXPECT_EQ(c.levels[2].latency, 8e-6);
  }
  const Cluster fat = load_cluster("fattree-2to1");
  EXPECT_EQ(fat.levels[2].bandwidth, fat.levels[1].bandwidth / 2);
}

TEST(Topology, GpusSharingANicShareItsBandwidthRailsOrNot) {
  for (bool rails : {false, true}) {
    const Cluster four = load_cluster(small_tree(rails ? "four-rails" : "four", 16, 4, 1, rails));
    EXPECT_EQ(four.levels[1].bandwidth, 20 * kGB) << rails;  // two GPUs per NIC
    EXPECT_EQ(four.levels[2].bandwidth, 20 * kGB) << rails;
    // A single stream has the NIC to itself only when nothing else runs; with the ring's load it
    // gets the same share.
    EXPECT_EQ(four.levels[1].p2p_bandwidth, 8 * kGB) << rails;
    const Cluster sixteen = load_cluster(small_tree(rails ? "sixteen-rails" : "sixteen", 16, 16, 1, rails));
    EXPECT_EQ(sixteen.levels[1].bandwidth, 80 * kGB) << rails;  // two NICs per GPU
    EXPECT_EQ(sixteen.levels[1].p2p_bandwidth, 16 * kGB) << rails;
  }
}

TEST(Topology, RailOptimisedTrafficStaysOnItsRailAtTheLeaf) {
  TopologySpec spec = read_topology_spec(JsonObject(read_json_file(small_tree("railroute", 8, 8, 1, true)), "railroute"));
  const Topology topo(spec);
  // GPU 3 of node 0 to GPU 3 of node 1 (same leaf domain, same rail): NIC up, NIC down.
  EXPECT_EQ(topo.route(3, 8 + 3).size(), 2u);
  // To node 4 (the next leaf domain): up to the rail's leaf, up to the spine, and down again.
  EXPECT_EQ(topo.route(3, 32 + 3).size(), 4u);
  // Inside a node the route is the scale-up fabric, not the graph's links.
  EXPECT_TRUE(topo.route(0, 7).empty());
}

TEST(Topology, TorusLevelsAreItsDimensionsInsideAndAcrossBlocks) {
  const Cluster c = load_cluster("tpuv4-torus");
  ASSERT_EQ(c.levels.size(), 6u);
  EXPECT_EQ(c.levels[0].name, "ici-x");
  EXPECT_EQ(c.levels[3].name, "ici-x-blocks");
  for (int l = 0; l < 6; ++l) EXPECT_EQ(c.levels[static_cast<std::size_t>(l)].size, 4);
  // Inside a 4-chip block of a 16-chip ring both ways round, the hops 3->0 and 0->3 go three
  // links the short way: the links 0->1, 1->2, 2->3 carry two streams, each half a member's data,
  // so a member gets one link's bandwidth, and the longest hop costs three hops of latency.
  EXPECT_EQ(c.levels[0].bandwidth, 50 * kGB);
  EXPECT_EQ(c.levels[0].latency, 3e-6);
  // Across blocks the ring's hops are 4 links long and 4 rings share each line: half.
  EXPECT_EQ(c.levels[3].bandwidth, 25 * kGB);
  EXPECT_EQ(c.levels[3].latency, 4e-6);
  EXPECT_EQ(c.max_gpus, 4096);
}

TEST(Topology, NodesOutLeaveARegularSubClusterToPlanOn) {
  // superpod-h100: 2,048 nodes, units of 32. Node 5 out: every unit contributes 31 nodes.
  const Cluster full = load_cluster("superpod-h100");
  const Cluster out = load_cluster("superpod-h100", Outages{{5}, {}, ""});
  EXPECT_EQ(full.max_gpus, 16384);
  EXPECT_EQ(full.levels[1].size, 32);
  EXPECT_EQ(out.levels[1].size, 31);
  EXPECT_EQ(out.max_gpus, 64 * 31 * 8);
  EXPECT_EQ(out.levels[1].bandwidth, full.levels[1].bandwidth);
  // A whole unit out (nodes 32-63): 63 units in their spine groups of 4, one group with 3 left.
  // Leaving that group out keeps 60 units; 3 units from every group would keep 48.
  std::vector<std::int64_t> unit;
  for (std::int64_t n = 32; n < 64; ++n) unit.push_back(n);
  const Cluster unit_out = load_cluster("superpod-h100", Outages{unit, {}, ""});
  EXPECT_EQ(unit_out.levels[1].size, 32);
  EXPECT_EQ(unit_out.levels[2].size, 4);
  EXPECT_EQ(unit_out.max_gpus, 15 * 4 * 32 * 8);
  // fattree-2to1, leaves of 4 nodes: one node out costs its leaf (127 leaves of 4 keep 508
  // nodes; 128 leaves of 3 would keep 384).
  const Cluster leaf_out = load_cluster("fattree-2to1", Outages{{1}, {}, ""});
  EXPECT_EQ(leaf_out.levels[1].size, 4);
  EXPECT_EQ(leaf_out.max_gpus, 127 * 4 * 8);
  // On an oversubscribed spine, a leaf with half its nodes out has uplinks to spare: its nodes'
  // spine traffic is no longer squeezed.
  const Cluster fat = load_cluster("fattree-2to1");
  std::vector<std::int64_t> halves;
  for (std::int64_t n = 0; n < 512; n += 4) {
    halves.push_back(n);
    halves.push_back(n + 1);
  }
  const Cluster half = load_cluster("fattree-2to1", Outages{halves, {}, ""});
  EXPECT_EQ(half.levels[1].size, 2);
  EXPECT_EQ(half.levels[2].bandwidth, fat.levels[1].bandwidth);
  EXPECT_EQ(fat.levels[2].bandwidth, fat.levels[1].bandwidth / 2);
}

// With the job's size known, the sub-cluster is chosen for the job: of the choices that hold it,
// the one whose domains hold it at the lowest tier, then the most nodes. A 32-node job beside a
// unit with a node out takes a whole unit (its groups stay under one leaf) instead of spanning
// two units of 31; a job that only 31-node units hold still gets them.
TEST(Topology, NodesOutLeaveTheJobTheLowestTierThatHoldsIt) {
  const auto out = [](std::int64_t job) { return Outages{{5}, {}, "", 0, job}; };
  const Cluster unit_job = load_cluster("superpod-h100", out(256));
  EXPECT_EQ(unit_job.levels[1].size, 32);
  // unit 0 (nodes 0-31) is left out and with it its spine group: 15 groups of 4 whole units
  EXPECT_EQ(unit_job.max_gpus, 15 * 4 * 32 * 8);
  const std::vector<std::int64_t> gpus = unit_job.topology->job_gpus(256);
  EXPECT_EQ(gpus.front(), 128 * 8);  // node 128: the first unit of spine group 1
  EXPECT_EQ(gpus.back() / 8, 128 + 31);
  // The same job without a node out, and the whole-unit choice, price the job alike.
  const Cluster full = load_cluster("superpod-h100");
  for (std::size_t l = 0; l < full.levels.size(); ++l) {
    EXPECT_EQ(unit_job.levels[l].bandwidth, full.levels[l].bandwidth) << l;
    EXPECT_EQ(unit_job.levels[l].latency, full.levels[l].latency) << l;
  }
  // 1,984 nodes: only 64 units of 31 hold them.
  const Cluster big_job = load_cluster("superpod-h100", out(1984 * 8));
  EXPECT_EQ(big_job.levels[1].size, 31);
  EXPECT_EQ(big_job.max_gpus, 64 * 31 * 8);
  // Without a job (nest topology) the most nodes: 64 units of 31.
  EXPECT_EQ(load_cluster("superpod-h100", out(0)).levels[1].size, 31);
  // Planned: the 256-GPU job's groups stay under one leaf, as on the intact cluster.
  const std::string args = "plan --model llama3-8b --cluster superpod-h100 --gpus 256 --global-batch 256 --seq-len 4096 --json";
  const auto intact = run_nest(args), node_out = run_nest(args + " --unavailable-nodes 5");
  ASSERT_EQ(intact.exit_code, 0) << intact.err;
  ASSERT_EQ(node_out.exit_code, 0) << node_out.err;
  const Json a = parse_json(intact.out, "intact"), b = parse_json(node_out.out, "node out");
  EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]);
  EXPECT_EQ(b["placement"]["groups"], a["placement"]["groups"]);
  EXPECT_EQ(b["placement"]["physical"]["nodes"], "128-159");
}

// One switch out (docs/inputs.md §8): its domain keeps 1 - 1/switches of that tier's capacity
// (1 - 1/(switches x rails) on a network's first tier, whose dead NICs' traffic moves to the
// others), and every level whose rings cross that domain's links slows by as much.
TEST(Topology, ALostSwitchTakesItsShareOfItsDomain) {
  // superpod-h100: one leaf switch per rail per unit (8 rails), 2 spine switches per rail per
  // spine group.
  const Cluster full = load_cluster("superpod-h100");
  const Cluster leaf = load_cluster("superpod-h100", Outages{{}, {}, "leaf"});
  const Cluster spine = load_cluster("superpod-h100", Outages{{}, {}, "spine"});
  ASSERT_EQ(full.levels.size(), 4u);
  EXPECT_EQ(leaf.levels[0].bandwidth, full.levels[0].bandwidth);
  for (std::size_t l = 1; l < 4; ++l) EXPECT_DOUBLE_EQ(leaf.levels[l].bandwidth, full.levels[l].bandwidth * 7 / 8) << l;
  EXPECT_EQ(spine.levels[1].bandwidth, full.levels[1].bandwidth);
  for (std::size_t l = 2; l < 4; ++l) EXPECT_DOUBLE_EQ(spine.levels[l].bandwidth, full.levels[l].bandwidth / 2) << l;
  EXPECT_EQ(leaf.max_gpus, full.max_gpus);
  // fattree-2to1: one leaf switch per 4 nodes; losing it cuts them off.
  const Cluster fat_leaf = load_cluster("fattree-2to1", Outages{{}, {}, "leaf"});
  EXPECT_EQ(fat_leaf.max_gpus, 4096 - 4 * 8);
  // A tier that is neither rail-optimised nor the first: 1 - 1/4 of the first spine's links.
  Json t = read_json_file(small_tree("lost4", 16, 8, 1, false));
  t["networks"][0]["tiers"][1]["switches"] = 4;
  const std::string path = write_temp("lost4s.json", t.dump());
  const Cluster base = load_cluster(path), lost = load_cluster(path, Outages{{}, {}, "spine"});
  EXPECT_EQ(lost.levels[1].bandwidth, base.levels[1].bandwidth);
  EXPECT_DOUBLE_EQ(lost.levels[2].bandwidth, base.levels[2].bandwidth * 3 / 4);
  // What cannot be priced is bad input: a tier without its switch count, an unknown tier, a
  // hierarchical cluster.
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--topology fattree-2to1 --lost-switch spine", "does not state its switches"},
           {"--topology superpod-h100 --lost-switch tor", "no switch tier 'tor'"}}) {
    const auto r = run_nest("topology " + args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const auto h =
      run_nest("plan --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq-len 4096 --lost-switch spine");
  EXPECT_EQ(h.exit_code, 2);
  EXPECT_NE(h.err.find("hierarchical cluster"), std::string::npos) << h.err;
}

// TIER:DOMAIN puts the lost switch in that domain. Without a job (nest topology) it is priced as
// in the first domain (every domain's rings run at once); a job that does not reach the domain
// (it takes the usable GPUs in order) loses nothing, one that does loses what the first domain's
// loss costs; a cut-off domain takes its own nodes out.
TEST(Topology, ALostSwitchCostsOnlyWhereTheJobReaches) {
  auto with = [](const std::string& lost, std::int64_t job) {
    Outages o;
    o.lost_switch = lost;
    o.job_gpus = job;
    return load_cluster("superpod-h100", o);
  };
  const Cluster full = load_cluster("superpod-h100"), first = with("leaf", 0);
  auto same_levels = [](const Cluster& a, const Cluster& b) {
    if (a.levels.size() != b.levels.size()) return false;
    for (std::size_t l = 0; l < a.levels.size(); ++l)
      if (a.levels[l].bandwidth != b.levels[l].bandwidth || a.levels[l].size != b.levels[l].size) return false;
    return a.max_gpus == b.max_gpus;
  };
  EXPECT_FALSE(same_levels(first, full));
  EXPECT_TRUE(same_levels(with("leaf:0", 0), first));
  EXPECT_TRUE(same_levels(with("leaf:9", 0), first));  // no job: priced
  // 2,048 GPUs: units 0-7 (32 nodes each), spine groups 0-1 (4 units each).
  EXPECT_TRUE(same_levels(with("leaf:3", 2048), first));
  EXPECT_TRUE(same_levels(with("leaf:9", 2048), full));
  EXPECT_TRUE(same_levels(with("spine:1", 2048), with("spine", 2048)));
  EXPECT_TRUE(same_levels(with("spine:5", 2048), full));
  // The footprint follows the usable GPUs: with unit 0 out, 2,048 GPUs reach unit 8.
  Outages out;
  for (std::int64_t n = 0; n < 32; ++n) out.nodes.push_back(n);
  out.job_gpus = 2048;
  const Cluster shifted = load_cluster("superpod-h100", out);
  out.lost_switch = "leaf:8";
  EXPECT_FALSE(same_levels(load_cluster("superpod-h100", out), shifted));
  // fattree-2to1: a leaf is one switch; losing leaf 5's cuts off its nodes 20-23.
  TopologySpec fat = *load_topology_spec("fattree-2to1");
  set_lost_switch(fat, "leaf:5", "test");
  const Topology cut(fat);
  EXPECT_EQ(cut.spec().unavailable_nodes, (std::vector<std::int64_t>{20, 21, 22, 23}));
  EXPECT_EQ(cut.gpus_usable(), 4096 - 32);
  fat.job_gpus = 64;  // nodes 0-7: leaves 0-1
  const Topology unreached(fat);
  EXPECT_TRUE(unreached.lost_switch_unreached());
  EXPECT_TRUE(unreached.spec().unavailable_nodes.empty());
  // Bad domains are one line, exit 2.
  for (const std::string bad : {"spine:x", "spine:-1", "spine:16", "spine:"}) {
    const auto r = run_nest("topology --topology superpod-h100 --lost-switch " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("index from 0 to 15"), std::string::npos) << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  }
  // Through plan: recorded in the plan file, honoured by evaluate --plan.
  const std::string plan = test::temp_dir() + "/leaf3.json";
  const std::string args =
      "--model llama3-70b --cluster superpod-h100 --gpus 2048 --global-batch 1024 --seq-len 8192 --tp 8 --pp 4";
  const auto p = run_nest("plan " + args + " --lost-switch leaf:3 --json --out '" + plan + "'");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto q = run_nest("plan " + args + " --lost-switch leaf --json");
  const auto far = run_nest("plan " + args + " --lost-switch leaf:9 --json");
  const auto intact = run_nest("plan " + args + " --json");
  auto step = [](const test::RunResult& r) { return parse_json(r.out, "plan")["prediction"]["step_time_s"].get<double>(); };
  EXPECT_EQ(step(p), step(q));
  EXPECT_EQ(step(far), step(intact));
  EXPECT_GT(step(p), step(intact));
  EXPECT_EQ(parse_json(test::read_all(plan), plan)["lost_switch"], "leaf:3");
  const auto e = run_nest("evaluate --plan '" + plan + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(parse_json(e.out, "evaluate")["prediction"]["step_time_s"].get<double>(), step(p));
}

// GPUs out inside nodes: every node offers the local GPUs that are up on all of them (so that a
// tier's rings keep to one rail), a node with all its GPUs out is a node out, and the plan file
// records the list.
// --cluster-set PATH=VALUE (and nest sweep's cluster.PATH axes) is the file with that field
// written: the same levels as a copy of the file edited by hand, array elements by index or by
// name, a key the file leaves out added, the file's own checks on the value, and one line naming
// the path where it leads nowhere.
TEST(Topology, ClusterSettingsAreTheFileWithTheFieldWritten) {
  auto with = [](std::vector<ClusterSetting> settings) {
    Outages o;
    o.settings = std::move(settings);
    return o;
  };
  const std::string fattree = resolve_preset(PresetKind::Cluster, "fattree-2to1");
  Json edited = read_json_file(fattree);
  edited["networks"][0]["tiers"][1]["oversubscription"] = 1;
  edited["networks"][0]["nic_bandwidth_GBps"] = 50;
  edited["gpu"] = "h200";
  const Cluster by_hand = load_cluster(write_temp("fattree-edited.json", edited.dump()));
  const Cluster by_index = load_cluster(
      "fattree-2to1",
      with({{"networks.0.tiers.1.oversubscription", "1"}, {"networks.0.nic_bandwidth_GBps", "50"}, {"gpu", "h200"}}));
  const Cluster by_name = load_cluster(
      "fattree-2to1",
      with({{"networks.0.tiers.spine.oversubscription", "1"}, {"networks.0.nic_bandwidth_GBps", "50.0"}, {"gpu", "\"h200\""}}));
  expect_same_levels(by_hand, by_index, "by index");
  expect_same_levels(by_hand, by_name, "by name");
  // The spine at 1:1 is no longer squeezed: its level runs as fast as the leaf's.
  const Cluster intact = load_cluster("fattree-2to1");
  ASSERT_GE(intact.levels.size(), 3u);
  EXPECT_LT(intact.levels[2].bandwidth, intact.levels[1].bandwidth);
  const Cluster flat = load_cluster("fattree-2to1", with({{"networks.0.tiers.spine.oversubscription", "1"}}));
  EXPECT_EQ(flat.levels[2].bandwidth, flat.levels[1].bandwidth);
  // A hierarchical cluster file: a level's field, and one the file leaves out.
  const Cluster dgx = load_cluster("dgx-h100", with({{"levels.1.bandwidth_GBps", "100"}, {"levels.1.p2p_bandwidth_GBps", "20"}}));
  EXPECT_DOUBLE_EQ(dgx.levels[1].bandwidth, 100 * kGB);
  EXPECT_DOUBLE_EQ(dgx.levels[1].p2p_bandwidth, 20 * kGB);
  // Bad paths and values: one line, exit 2, naming the path or the file's field.
  auto refused = [&](const std::string& spec, const ClusterSetting& s, const std::string& says) {
    try {
      (void)load_cluster(spec, with({s}));
      ADD_FAILURE() << s.path << "=" << s.value << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadInput);
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  refused("fattree-2to1", {"networks.0.tiers.bogus.oversubscription", "2"}, "none is 'bogus'");
  refused("fattree-2to1", {"networks.7.nic_bandwidth_GBps", "2"}, "has 1 elements");
  refused("fattree-2to1", {"nics.count", "2"}, "has no 'nics'");
  refused("fattree-2to1", {"nodes.x", "2"}, "'nodes' in");
  refused("fattree-2to1", {"networks..x", "2"}, "an empty name");
  refused("fattree-2to1", {"networks.0.tiers.spine.oversubscription", "0"},
          "with --cluster-set networks.0.tiers.spine.oversubscription=0: field 'networks[0].tiers[1].oversubscription'");
  refused("fattree-2to1", {"networks.0.tiers.leaf.oversubscription", "2"}, "networks[0].tiers[0]");
  refused("dgx-h100", {"levels.1.bandwidth_GBps", "fast"}, "levels[1].bandwidth_GBps");
  EXPECT_THROW((void)parse_cluster_setting("no-value=", "--cluster-set"), Error);
  EXPECT_THROW((void)parse_cluster_setting("=2", "--cluster-set"), Error);
}

TEST(Topology, GpusOutInsideNodesLeaveTheLocalGpusUpOnEveryNode) {
  const Cluster full = load_cluster("superpod-h100");
  const Cluster one = load_cluster("superpod-h100", Outages{{}, {3}, ""});
  EXPECT_EQ(one.levels[0].size, 7);
  EXPECT_EQ(one.max_gpus, 2048 * 7);
  for (std::size_t l = 0; l < full.levels.size(); ++l) EXPECT_EQ(one.levels[l].bandwidth, full.levels[l].bandwidth) << l;
  // GPU 3 of node 0 and GPU 5 of node 1: local GPUs 3 and 5 are out everywhere.
  EXPECT_EQ(load_cluster("superpod-h100", Outages{{}, {3, 13}, ""}).max_gpus, 2048 * 6);
  // Every GPU of node 0 out: node 0 is out, units of 31 nodes of 8.
  const Cluster node = load_cluster("superpod-h100", Outages{{}, {0, 1, 2, 3, 4, 5, 6, 7}, ""});
  EXPECT_EQ(node.levels[0].size, 8);
  EXPECT_EQ(node.levels[1].size, 31);
  // Two GPUs per NIC: with GPU 1 out, GPU 0 has NIC 0 alone, the others still share theirs, and
  // the level is as fast as its busiest NIC allows.
  const Cluster shared = load_cluster(small_tree("four-out", 16, 4, 1, false), Outages{{}, {1}, ""});
  EXPECT_EQ(shared.levels[0].size, 7);
  EXPECT_EQ(shared.levels[1].bandwidth, 20 * kGB);
  // The plan file keeps the list; evaluate costs the same GPUs.
  const std::string plan = test::temp_dir() + "/gpus-out.plan.json";
  const auto p = run_nest(
      "plan --model llama3-8b --cluster superpod-h100 --gpus 224 --global-batch 224 --seq-len 4096 --unavailable-gpus 3 "
      "--json --out '" +
      plan + "'");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(read_json_file(plan)["unavailable_gpus"], Json::array({3}));
  const auto e = run_nest("evaluate --plan '" + plan + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(parse_json(e.out, "evaluate")["prediction"]["step_time_s"], parse_json(p.out, "plan")["prediction"]["step_time_s"]);
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"topology --topology superpod-h100 --unavailable-gpus 16384", "does not exist"},
           {"topology --topology tpuv4-torus --unavailable-gpus 5", "torus"},
           {"plan --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 16 --seq-len 4096 --unavailable-gpus 3",
            "hierarchical cluster"}}) {
    const auto r = run_nest(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(Topology, PlanningWithNodesOutUsesTheRestAndRecordsThem) {
  const std::string args = "--model llama3-8b --cluster fattree-2to1 --global-batch 512 --seq-len 4096 --backend cpu";
  // 4,096 GPUs minus one node does not fit 4,096 GPUs any more.
  const auto too_many = run_nest("plan " + args + " --gpus 4096 --unavailable-nodes 7");
  EXPECT_EQ(too_many.exit_code, 2) << too_many.err;
  EXPECT_NE(too_many.err.find("usable GPUs"), std::string::npos) << too_many.err;
  const std::string plan = test::temp_dir() + "/nodes-out-plan.json";
  const auto r = run_nest("plan " + args + " --gpus 2048 --unavailable-nodes 0-1,9 --out '" + plan + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = read_json_file(plan);
  EXPECT_EQ(j["unavailable_nodes"], Json({0, 1, 9}));
  // Three nodes out of 512: leaves 0 and 2 are left out, 126 whole leaves remain.
  const auto e = run_nest("evaluate --plan '" + plan + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(parse_json(e.out, "stdout")["prediction"]["step_time_s"], j["prediction"]["step_time_s"]);
  // The rank map names the physical GPUs: leaf 1 (nodes 4-7) first, then leaf 3 (nodes 12-15).
  const auto m = run_nest("export --plan '" + plan + "' --to rankmap");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  auto node_of_rank = [&](int rank) {
    const std::size_t at = m.out.find("\n" + std::to_string(rank) + ",");
    EXPECT_NE(at, std::string::npos) << rank;
    const std::size_t from = m.out.find(',', at) + 1;
    return std::stoi(m.out.substr(from, m.out.find(',', from) - from));
  };
  EXPECT_EQ(node_of_rank(0), 4);
  EXPECT_EQ(node_of_rank(15), 5);
  EXPECT_EQ(node_of_rank(16), 6);
  EXPECT_EQ(node_of_rank(32), 12);
  EXPECT_EQ(node_of_rank(40), 13);
  // Hierarchical clusters have no nodes to take out.
  const auto h = run_nest(
      "plan --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq-len 4096 "
      "--unavailable-nodes 1");
  EXPECT_EQ(h.exit_code, 2);
  EXPECT_NE(h.err.find("--from-cluster"), std::string::npos) << h.err;
}

TEST(Topology, BadTopologiesAreOneLineNamingTheField) {
  auto bad = [](const std::string& name, const std::string& text, const std::string& field) {
    const std::string path = write_temp(name + ".json", text);
    const auto r = run_nest("topology --topology '" + path + "'");
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(field), std::string::npos) << name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  const std::string head = R"({"schema": "nest.topology/1", "gpu": "h100-sxm", )";
  const std::string node = R"("node": {"gpus": 8, "bandwidth_GBps": 360, "latency_s": 2e-6}, )";
  bad("no-nic-bw",
      head + node + R"("nodes": 4, "networks": [{"nics_per_node": 8, "tiers": [{"name": "leaf", "latency_s": 1e-6}]}]})",
      "networks[0].nic_bandwidth_GBps");
  bad("osub-leaf",
      head + node +
          R"("nodes": 4, "networks": [{"nics_per_node": 8, "nic_bandwidth_GBps": 50, "tiers": [{"name": "leaf", "oversubscription": 2, "latency_s": 1e-6}]}]})",
      "networks[0].tiers[0].oversubscription");
  bad("nics",
      head + node +
          R"("nodes": 4, "networks": [{"nics_per_node": 3, "nic_bandwidth_GBps": 50, "tiers": [{"name": "leaf", "latency_s": 1e-6}]}]})",
      "networks[0].nics_per_node");
  bad("too-many-nodes",
      head + node +
          R"("nodes": 40, "networks": [{"nics_per_node": 8, "nic_bandwidth_GBps": 50, "tiers": [{"name": "leaf", "group": 32, "latency_s": 1e-6}]}]})",
      "nodes");
  bad("block", head + R"("torus": {"dims": [8, 8, 8], "block": [3, 4, 4], "link_bandwidth_GBps": 50, "hop_latency_s": 1e-6}})",
      "torus.block");
  bad("out-of-range",
      head + node +
          R"("nodes": 4, "unavailable_nodes": [4], "networks": [{"nics_per_node": 8, "nic_bandwidth_GBps": 50, "tiers": [{"name": "leaf", "latency_s": 1e-6}]}]})",
      "unavailable_nodes[0]");
  bad("schema", R"({"schema": "nest.topology/9", "gpu": "h100-sxm", "nodes": 1})", "schema");
  // The flag's own errors name the flag.
  const auto r = run_nest("topology --topology superpod-h100 --unavailable-nodes 5000");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--unavailable-nodes"), std::string::npos) << r.err;
}

TEST(Topology, PresetsResolveAsClustersAndByPrefix) {
  // gb200-nvl72 names a cluster preset and a topology preset; the prefix picks the topology.
  EXPECT_EQ(load_cluster("gb200-nvl72").max_gpus, 0);
  EXPECT_EQ(load_cluster("topology:gb200-nvl72").max_gpus, 128 * 72);
  EXPECT_EQ(load_cluster("superpod-h100").levels.size(), 4u);
  const auto r = run_nest("collective --cluster superpod-h100 --op all_reduce --ranks 512 --bytes 1G --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// ---------------------------------------------------------------------------------------------
// Concrete groups on a topology (hardware/group_embedding.hpp)

std::vector<std::int64_t> gpu_range(std::int64_t first, std::int64_t count, std::int64_t stride = 1) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < count; ++i) out.push_back(first + i * stride);
  return out;
}

Topology topology_preset(const std::string& name) {
  const std::string path = resolve_preset(PresetKind::Cluster, name);
  return Topology(read_topology_spec(JsonObject(read_json_file(path), path)));
}

TEST(GroupEmbedding, TheWholeClusterAsOneGroupGetsTheDerivedLevels) {
  // The derived levels are the rings of every GPU at once; a group of every GPU runs those same
  // rings, so its figures are the levels', link for link.
  for (const char* name : {"superpod-h100", "fattree-2to1", "topology:gb200-nvl72"}) {
    const Topology topo = topology_preset(name);
    const GroupEmbedding e = embed_groups(topo, {gpu_range(0, topo.gpus_total())}, {"--gpus"}).front();
    ASSERT_EQ(e.levels.size(), topo.levels().size()) << name;
    double members = 1;
    for (std::size_t l = 0; l < e.levels.size(); ++l) {
      EXPECT_EQ(e.congestion[l], topo.levels()[l].congestion) << name << " level " << l;
      EXPECT_EQ(e.levels[l].bandwidth, topo.levels()[l].level.bandwidth) << name << " level " << l;
      EXPECT_EQ(e.levels[l].p2p_bandwidth, topo.levels()[l].level.p2p_bandwidth) << name << " level " << l;
      members *= e.shape.members[l];
    }
    EXPECT_EQ(members, static_cast<double>(topo.gpus_total())) << name;
  }
}

TEST(GroupEmbedding, OnAHierarchysTopologyEveryGroupGetsTheLevelsFigures) {
  // One NIC per GPU and no oversubscription: every ring loads each link at most once.
  const Cluster hier = load_cluster("dgx-h100");
  const std::string path = from_cluster("dgx-h100", 1024);
  const Topology topo(read_topology_spec(JsonObject(read_json_file(path), path)));
  const std::vector<std::vector<std::int64_t>> groups = {gpu_range(0, 80),     // ten whole nodes of one leaf
                                                         gpu_range(3, 20, 8),  // GPU 3 of twenty nodes
                                                         {0, 1, 256, 257},     // two GPUs in node 0 and in node 32, across leaves
                                                         gpu_range(0, 1024, 1)};  // everything
  for (const auto& g : groups) {
    const GroupEmbedding e = embed_groups(topo, {g}, {"--gpus"}).front();
    for (std::size_t l = 0; l < e.levels.size(); ++l) {
      EXPECT_EQ(e.congestion[l], 1.0) << g.size() << " GPUs, level " << l;
      EXPECT_EQ(e.levels[l].bandwidth, hier.levels[l].bandwidth) << g.size() << " GPUs, level " << l;
    }
  }
  const GroupEmbedding across = embed_groups(topo, {groups[2]}, {"--gpus"}).front();
  EXPECT_EQ(across.shape.members[0], 2);
  EXPECT_EQ(across.shape.members[1], 1);  // one node per leaf ...
  EXPECT_EQ(across.shape.members[2], 2);  // ... two leaves
}

TEST(GroupEmbedding, GroupsCrossingAnOversubscribedSpineAtOnceShareItsUplinks) {
  // fattree-2to1: leaves of 4 nodes (32 NICs down, 16 NICs' worth up). One pair across two leaves
  // has the spine to itself: its own NIC paces it.
  const Topology topo = topology_preset("fattree-2to1");
  const GroupEmbedding alone = embed_groups(topo, {{0, 32}}, {"--gpus"}).front();
  EXPECT_EQ(alone.congestion[2], 1.0);
  EXPECT_EQ(alone.levels[2].bandwidth, topo.levels()[1].level.bandwidth);  // the NIC's figure
  // Beside the 31 other pairs of the same two leaves, 32 rings' hops leave leaf 0 on 16 NICs.
  std::vector<std::vector<std::int64_t>> all{{0, 32}};
  for (std::int64_t i = 1; i < 32; ++i) all.push_back({i, 32 + i});
  const GroupEmbedding shared = embed_groups(topo, all, {"--gpus", "--alongside"}).front();
  EXPECT_EQ(shared.congestion[2], 2.0);
  EXPECT_EQ(shared.busiest[2].load, 32.0);
  EXPECT_EQ(shared.busiest[2].capacity, 16.0);
  EXPECT_EQ(topo.link_name(shared.busiest[2].link), "leaf 0 -> spine 0");
  EXPECT_EQ(shared.levels[2].bandwidth, topo.levels()[2].level.bandwidth);  // what every group at once gets
  // Groups inside the leaves add nothing to the spine.
  const GroupEmbedding local = embed_groups(topo, {{0, 32}, {1, 9}, {2, 10}}, {"--gpus", "--alongside"}).front();
  EXPECT_EQ(local.congestion[2], 1.0);
}

TEST(GroupEmbedding, RailOptimisedLeavesNameTheRail) {
  const Topology topo = topology_preset("superpod-h100");
  // GPU 2 of nodes 0 and 1: one SU, rail 2; the hop leaves node 0's NIC 2 for its rail's leaf.
  const GroupEmbedding e = embed_groups(topo, {{2, 10}}, {"--gpus"}).front();
  EXPECT_EQ(e.shape.members[1], 2);
  ASSERT_GE(e.busiest[1].link, 0);
  EXPECT_EQ(topo.link_name(e.busiest[1].link), "node 0 NIC 2 -> leaf 0 rail 2");
}

TEST(GroupEmbedding, GroupsThePerLevelFormulasCannotPriceAreBadInput) {
  const Topology topo = topology_preset("fattree-2to1");
  auto message = [&](const std::vector<std::vector<std::int64_t>>& groups) -> std::string {
    try {
      (void)embed_groups(topo, groups, {"--gpus", "--alongside"});
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::BadInput);
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message({gpu_range(0, 12)}).find("8 GPUs in node 0 but 4 in node 1"), std::string::npos);
  EXPECT_NE(message({{0, 8, 16, 32}}).find("3 nodes in leaf domain 0 but 1 in leaf domain 1"), std::string::npos);
  EXPECT_NE(message({{0, 0}}).find("GPU 0 twice"), std::string::npos);
  EXPECT_NE(message({{0, 4096}}).find("GPU 4096 does not exist"), std::string::npos);
  EXPECT_NE(message({{0, 1}, {5, 5}}).find("--alongside"), std::string::npos);
  const Topology torus = topology_preset("tpuv4-torus");
  EXPECT_THROW((void)embed_groups(torus, {{0, 1}}, {"--gpus"}), Error);
}

// ---------------------------------------------------------------------------------------------
// nest evaluate --rank-map

// Evaluates a plan (`args` after `evaluate`), exports its rank map and evaluates it again with
// that map: the plan JSON of each.
std::pair<Json, Json> with_its_own_rank_map(const std::string& args, const std::string& name) {
  const std::string plan = test::temp_dir() + "/" + name + "-plan.json", map = test::temp_dir() + "/" + name + ".csv";
  const auto e = run_nest("evaluate " + args + " --json --out '" + plan + "'");
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(run_nest("export --plan '" + plan + "' --to rankmap --out '" + map + "'").exit_code, 0);
  const auto m = run_nest("evaluate --plan '" + plan + "' --rank-map '" + map + "' --json");
  EXPECT_EQ(m.exit_code, 0) << m.err;
  return {parse_json(e.out, "stdout"), parse_json(m.out, "stdout")};
}

TEST(RankMap, ThePlansOwnMapGivesItsOwnStepTime) {
  // The rank map nest export writes puts every rank where the rank order does: evaluating with it
  // must give the plan's own figures to the last bit, on a topology and on a hierarchy. With nodes
  // 9 and 10 out, fattree-2to1's leaf 2 (nodes 8-11) is left out: the map names GPUs that are not
  // consecutive.
  for (const std::string& where :
       {std::string("--cluster fattree-2to1 --gpus 512 --unavailable-nodes 9,10"), std::string("--cluster dgx-h100 --gpus 64")}) {
    const auto [a, b] = with_its_own_rank_map("--model llama3-8b " + where +
                                                  " --global-batch 256 --seq-len 4096 --tp 4 --pp 4 --microbatch 1 "
                                                  "--schedule interleaved --virtual-stages 2 --order tp-cp-pp-ep-dp --sp on "
                                                  "--zero 1",
                                              "own-map");
    EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]) << where;
    EXPECT_EQ(b["placement"]["groups"], a["placement"]["groups"]) << where;
    EXPECT_EQ(b["placement"]["pp_boundary_levels"], a["placement"]["pp_boundary_levels"]) << where;
    if (where.find("fattree") != std::string::npos) {
      // The plan file says where the ranks are: 64 nodes, 0-7 then 12-67; tp 4 x pp 4 in the
      // order tp-cp-pp-ep-dp puts stages 0 and 1 on the first node of each pair.
      const Json& physical = a["placement"]["physical"];
      EXPECT_EQ(physical["nodes"], "0-7,12-67");
      EXPECT_EQ(physical["local_gpus"], "0-7");
      ASSERT_EQ(physical["stage_nodes"].size(), 4u);
      EXPECT_EQ(physical["stage_nodes"][0], physical["stage_nodes"][1]);
      EXPECT_EQ(physical["stage_nodes"][0].get<std::string>().rfind("0,2,4,6,12,14,", 0), 0u) << physical.dump();
    }
    EXPECT_EQ(b["rank_map"]["rank_order_step_time_s"], a["prediction"]["step_time_s"]) << where;
    EXPECT_LE(b["rank_map"]["best_order_step_time_s"].get<double>(), b["rank_map"]["step_time_s"].get<double>()) << where;
  }
}

// HSDP (torchtitan, shards of 8 of dp 16; the experts' shard groups too with Mixtral's ep 2): the
// plan's own map gives its own figures and groups, the shard and replica groups included.
TEST(RankMap, AnHsdpPlansOwnMapGivesItsOwnStepTime) {
  for (const std::string& model : {std::string("llama3-8b --ep 1"), std::string("mixtral-8x7b --ep 2")}) {
    const auto [a, b] = with_its_own_rank_map("--model " + model +
                                                  " --cluster dgx-h100 --gpus 32 --global-batch 64 --seq-len 4096 --tp 2 "
                                                  "--framework torchtitan --zero 3 --dp-shard 8 --microbatch 1",
                                              "hsdp-map");
    EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]) << model;
    EXPECT_EQ(b["placement"]["groups"], a["placement"]["groups"]) << model;
    EXPECT_TRUE(a["placement"]["groups"].contains("dp_shard")) << a["placement"]["groups"].dump();
  }
}

// Folded expert TP (Mixtral, tp 4, etp 1): the plan's own map gives its own figures and groups,
// the expert grid's included, with EP inside the data-parallel ranks (ep 4) and across the TP
// ranks (ep 8 of dp 4, Megatron's expert grid).
TEST(RankMap, AFoldedExpertPlansOwnMapGivesItsOwnStepTime) {
  for (const char* ep : {"4", "8"}) {
    const auto [a, b] =
        with_its_own_rank_map(std::string("--model mixtral-8x7b --cluster dgx-h100 --gpus 32 --global-batch 64 "
                                          "--seq-len 4096 --tp 4 --pp 2 --etp 1 --sp on --zero 1 --microbatch 1 --ep ") +
                                  ep,
                              "folded-map");
    EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]) << ep;
    EXPECT_EQ(b["placement"]["groups"], a["placement"]["groups"]) << ep;
    EXPECT_TRUE(a["placement"]["groups"].contains("etp")) << a["placement"]["groups"].dump();
  }
}

// A plan on a share of each NVL72 rack (--cluster-set levels.0.size=64, as a searched domain
// share records it): the map's GPUs are numbered share by share, and the graph the map is read
// on has the shares too, so its own map gives its own figures (the graph of the file as written put ranks 64-71
// in rack 0, and its data-parallel groups 36 + 28 over the racks).
TEST(RankMap, ADomainSharesOwnMapGivesItsOwnStepTime) {
  const auto [a, b] = with_its_own_rank_map(
      "--model llama3-8b --cluster gb200-nvl72 --gpus 128 --cluster-set levels.0.size=64 --global-batch 256 "
      "--seq-len 4096 --tp 2 --zero 1 --microbatch 1",
      "share-map");
  EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]);
  EXPECT_EQ(b["placement"]["groups"], a["placement"]["groups"]);
  // 32 of each DP group's 64 GPUs in each share (on the graph of 72-GPU racks, 36 and 28)
  EXPECT_EQ(b["placement"]["groups"]["dp"]["members_per_level"], Json::array({32, 2})) << b["placement"]["groups"].dump();
  // The map's nodes are hosts of 4 GPUs (a rack's trays), numbered as the launch script's
  // NODE_RANK counts them: rank 64, the second share's first GPU, is host 16's GPU 0.
  const std::string map = read_text_file(test::temp_dir() + "/share-map.csv");
  EXPECT_NE(map.find("\n64,16,0,"), std::string::npos) << map.substr(0, 400);
  EXPECT_NE(map.find("\n127,31,3,"), std::string::npos);
}

// On the gb200-nvl72 topology (racks of 18 hosts of 4 GPUs) the plan file's physical nodes and
// the rank map's are hosts, as the launch scripts count them: 128 GPUs are hosts 0-31, GPUs 0-3
// of each, and the map of the plan's own order gives its own step.
TEST(RankMap, NodesOfAnNvl72TopologyAreItsHosts) {
  const auto [a, b] = with_its_own_rank_map(
      "--model llama3-8b --cluster topology:gb200-nvl72 --gpus 128 --global-batch 256 --seq-len 4096 --tp 2 --zero 1 "
      "--microbatch 1",
      "nvl72-hosts");
  EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]);
  const Json& physical = a["placement"]["physical"];
  EXPECT_EQ(physical["nodes"], "0-31");
  EXPECT_EQ(physical["local_gpus"], "0-3");
  const std::string map = read_text_file(test::temp_dir() + "/nvl72-hosts.csv");
  EXPECT_NE(map.find("\n127,31,3,"), std::string::npos) << map.substr(0, 300);
}

TEST(RankMap, APipelineUnevenAcrossNodesIsPricedBoundaryByBoundary) {
  // tp 4 x pp 3 in the order tp-cp-pp-ep-dp on nodes of 8: the first pipeline has two stages in
  // node 0 and one in node 1. Its sends are priced boundary by boundary, so the map is not
  // refused, and the plan's own map gives the plan's own time.
  const auto [a, b] = with_its_own_rank_map(
      "--model llama3-8b --cluster dgx-h100 --gpus 24 --global-batch 48 --seq-len 4096 --tp 4 --pp 3 --sp on --zero 1 "
      "--microbatch 1 --order tp-cp-pp-ep-dp",
      "pp3");
  EXPECT_EQ(b["prediction"]["step_time_s"], a["prediction"]["step_time_s"]);
  EXPECT_EQ(b["placement"]["pp_boundary_levels"], Json({"leaf", "leaf"}));
  EXPECT_EQ(b["placement"]["groups"]["pp"]["level"], "leaf");
}

TEST(RankMap, AMapThatSplitsTensorParallelGroupsAcrossNodesCostsWhatItSays) {
  // 64 GPUs of dgx-h100, tp 8: rank r on node r % 8, GPU r / 8 puts every TP group across the
  // eight nodes (over the leaf) and every DP group inside a node.
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 64; ++r) csv += std::to_string(r) + "," + std::to_string(r % 8) + "," + std::to_string(r / 8) + "\n";
  const std::string map = write_temp("transposed.csv", csv);
  const std::string args =
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096 --tp 8 --microbatch 1";
  const auto r = run_nest(args + " --rank-map '" + map + "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = parse_json(r.out, "stdout");
  const Json& m = j["rank_map"];
  EXPECT_GT(m["step_time_s"].get<double>(), 1.2 * m["rank_order_step_time_s"].get<double>());
  EXPECT_EQ(j["placement"]["groups"]["tp"]["level"], "leaf");
  EXPECT_EQ(j["placement"]["groups"]["dp"]["level"], "nvlink");
  const auto t = run_nest(args + " --rank-map '" + map + "'");
  EXPECT_NE(t.out.find("the map costs +"), std::string::npos) << t.out;
}

TEST(RankMap, FiguresAndThePlacementComparisonFollowTheMap) {
  // The transposed map of the test above: the figures show the step the map gives, and
  // --explain-placement compares the rank orders with the plan's own order, not with the map.
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 64; ++r) csv += std::to_string(r) + "," + std::to_string(r % 8) + "," + std::to_string(r / 8) + "\n";
  const std::string map = write_temp("transposed-figures.csv", csv);
  const std::string svg = test::temp_dir() + "/mapped.svg", plain_svg = test::temp_dir() + "/unmapped.svg";
  const std::string args =
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096 --tp 8 --microbatch 1";
  const auto r = run_nest(args + " --rank-map '" + map + "' --explain-placement --json --svg '" + svg + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(run_nest(args + " --svg '" + plain_svg + "'").exit_code, 0);
  const Json j = parse_json(r.out, "stdout");
  const double mapped = j["prediction"]["step_time_s"].get<double>();
  const double own = j["rank_map"]["rank_order_step_time_s"].get<double>();
  EXPECT_GT(mapped, 1.2 * own);
  EXPECT_EQ(j["placement_comparison"]["plan_step_time_s"].get<double>(), own);
  EXPECT_EQ(j["placement_comparison"]["plan_order"], "tp-cp-ep-dp-pp");
  // The breakdown figure labels the step it draws.
  const std::string drawn = read_text_file(svg), unmapped = read_text_file(plain_svg);
  EXPECT_NE(drawn.find("step " + format_duration(mapped)), std::string::npos);
  EXPECT_EQ(drawn.find("step " + format_duration(own)), std::string::npos);
  EXPECT_NE(unmapped.find("step " + format_duration(own)), std::string::npos);
}

TEST(RankMap, AShuffledMapIsPricedByItsBusiestDomains) {
  // What a scheduler that hands out GPUs in any order gives: 64 ranks of tp 4, pp 2 on 8 nodes
  // of fattree-2to1 (two leaves), shuffled. Its groups are uneven across nodes; each kind is priced by the domain
  // that holds the fewest of one group's GPUs (docs/cost-model.md §5), so the map costs more than
  // the plan's own order, which it cannot beat.
  std::vector<int> gpu(64);
  std::iota(gpu.begin(), gpu.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(gpu.begin(), gpu.end(), rng);
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 64; ++r)
    csv += std::to_string(r) + "," + std::to_string(gpu[r] / 8) + "," + std::to_string(gpu[r] % 8) + "\n";
  const auto r = run_nest(
      "evaluate --model llama3-8b --cluster fattree-2to1 --gpus 64 --global-batch 256 --seq-len 4096 --tp 4 --pp 2 --sp on "
      "--zero 1 --microbatch 1 --json --explain-network --rank-map '" +
      write_temp("shuffled.csv", csv) + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = parse_json(r.out, "stdout");
  EXPECT_GT(j["rank_map"]["step_time_s"].get<double>(), j["rank_map"]["rank_order_step_time_s"].get<double>());
  EXPECT_NE(j["placement"]["groups"]["tp"]["level"], "nvlink");  // no TP group of 4 stays in one node
  // The network explanation says the TP groups are uneven instead of naming a link.
  const Json& tp = j["network"]["groups"][0];
  EXPECT_EQ(tp["group"], "TP");
  EXPECT_EQ(tp.value("uneven", false), true) << tp.dump();
  EXPECT_FALSE(tp.contains("busiest_link")) << tp.dump();
}

TEST(RankMap, TheTraceShowsTheStepTheMapGives) {
  // nest trace --rank-map draws the step nest evaluate --rank-map predicts (the transposed map of
  // the tests above: every TP group across the eight nodes).
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 64; ++r) csv += std::to_string(r) + "," + std::to_string(r % 8) + "," + std::to_string(r / 8) + "\n";
  const std::string map = write_temp("transposed-trace.csv", csv);
  const std::string plan = test::temp_dir() + "/transposed-trace-plan.json", trace = test::temp_dir() + "/mapped-trace.json";
  ASSERT_EQ(run_nest("evaluate --model llama3-8b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096 --tp 8 "
                     "--microbatch 1 --out '" +
                     plan + "'")
                .exit_code,
            0);
  const auto e = run_nest("evaluate --plan '" + plan + "' --rank-map '" + map + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Json j = parse_json(e.out, "stdout");
  const double mapped = j["prediction"]["step_time_s"].get<double>(), own = j["rank_map"]["rank_order_step_time_s"].get<double>();
  const auto t = run_nest("trace --plan '" + plan + "' --rank-map '" + map + "' --out '" + trace + "'");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("step " + format_duration(mapped) + ","), std::string::npos) << t.out;
  EXPECT_NO_THROW((void)parse_json(read_text_file(trace), trace));
  const auto plain = run_nest("trace --plan '" + plan + "' --out '" + trace + "'");
  EXPECT_NE(plain.out.find("step " + format_duration(own) + ","), std::string::npos) << plain.out;
}

TEST(RankMap, AJobAroundANodeThatIsOutIsPricedWhereTheSchedulerPutsIt) {
  // A non-uniform sub-cluster: with node 5 of superpod-h100 out, nest plans a 32-node job on a
  // whole unit (nodes 128-159, docs/inputs.md §8); a scheduler that gives it nodes 0-4 and 6-32
  // instead (31 nodes of unit 0 and one of unit 1) is priced by the map, each data-parallel group
  // across the spine, by its busiest domain.
  const std::string plan = test::temp_dir() + "/around-node-5.json";
  ASSERT_EQ(run_nest("plan --model llama3-8b --cluster superpod-h100 --gpus 256 --unavailable-nodes 5 --global-batch 512 "
                     "--seq-len 4096 --tp 4 --out '" +
                     plan + "'")
                .exit_code,
            0);
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 256; ++r) {
    const int k = r / 8;
    csv += std::to_string(r) + "," + std::to_string(k < 5 ? k : k + 1) + "," + std::to_string(r % 8) + "\n";
  }
  const auto e = run_nest("evaluate --plan '" + plan + "' --rank-map '" + write_temp("around-node-5.csv", csv) +
                          "' --json --explain-network");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Json j = parse_json(e.out, "stdout");
  EXPECT_EQ(j["placement"]["groups"]["tp"]["level"], "nvlink");
  EXPECT_EQ(j["placement"]["groups"]["dp"]["level"], "spine");
  EXPECT_GE(j["rank_map"]["step_time_s"].get<double>(), j["rank_map"]["rank_order_step_time_s"].get<double>());
  bool uneven = false;
  for (const Json& g : j["network"]["groups"]) uneven = uneven || (g["group"] == "DP" && g.value("uneven", false));
  EXPECT_TRUE(uneven) << j["network"].dump();
}

TEST(RankMap, TheNetworkExplanationFollowsTheMap) {
  // fattree-2to1, 64 GPUs on 8 nodes in two leaves, tp 8: the transposed map puts every TP group
  // on GPU j of the eight nodes (across the spine) and every DP group inside one node.
  std::string csv = "global_rank,node,local_gpu\n";
  for (int r = 0; r < 64; ++r) csv += std::to_string(r) + "," + std::to_string(r % 8) + "," + std::to_string(r / 8) + "\n";
  const std::string map = write_temp("transposed-fattree.csv", csv);
  const auto r = run_nest(
      "evaluate --model llama3-8b --cluster fattree-2to1 --gpus 64 --global-batch 256 --seq-len 4096 --tp 8 --microbatch 1 "
      "--explain-network --json --rank-map '" +
      map + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = parse_json(r.out, "stdout");
  std::map<std::string, Json> groups;
  for (const Json& g : j["network"]["groups"]) groups[g["group"].get<std::string>()] = g;
  EXPECT_EQ(groups.at("TP")["level"], "spine");
  ASSERT_TRUE(groups.at("TP").contains("busiest_link")) << j["network"].dump();
  EXPECT_EQ(groups.at("DP")["level"], "nvlink");
  EXPECT_FALSE(groups.at("DP").contains("busiest_link"));
  // The what-ifs keep the map: the step and the doubled levels are the map's. Its TP traffic
  // leaves every node, so a leaf level twice as fast buys a third of the step (under the rank
  // order, 3%).
  const double step = j["network"]["step_time_s"].get<double>();
  EXPECT_EQ(step, j["rank_map"]["step_time_s"].get<double>());
  for (const Json& l : j["network"]["level_twice_as_fast"]) {
    EXPECT_LE(l["step_time_s"].get<double>(), step) << l.dump();
    if (l["level"] == "leaf") {
      EXPECT_LT(l["step_time_s"].get<double>(), 0.8 * step) << l.dump();
    }
  }
}

TEST(RankMap, BadMapsAreOneLineNamingTheFileAndLine) {
  const std::string args =
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096 --tp 8 --microbatch 1 "
      "--rank-map ";
  auto rows = [](int n, int skip) {
    std::string csv = "global_rank,node,local_gpu\n";
    for (int r = 0; r < n; ++r)
      if (r != skip) csv += std::to_string(r) + "," + std::to_string(r / 8) + "," + std::to_string(r % 8) + "\n";
    return csv;
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rank,gpu\n0,0\n", "header"},
      {rows(16, 5), "rank 5 is missing"},
      {rows(16, -1) + "3,1,0\n", "line 18: rank 3 is listed twice"},
      {"global_rank,node,local_gpu\n0,0,9\n", "local_gpu 9"},
      {"global_rank,node,local_gpu\n0,0,x\n", "'x' is not a non-negative integer"},
      {"global_rank,node,local_gpu\n0,0,0\n1,0,0\n", "runs two ranks"},
      {"global_rank,node,local_gpu\n0,9999999999999,0\n", "node 9999999999999 does not exist"},
  };
  for (const auto& [csv, want] : cases) {
    const std::string path = write_temp("bad-map.csv", csv);
    const auto r = run_nest(args + "'" + path + "'");
    EXPECT_EQ(r.exit_code, 2) << csv;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad-map.csv"), std::string::npos) << r.err;
  }
  // A map that puts ranks on a node that is out.
  const auto out = run_nest(
      "evaluate --model llama3-8b --cluster fattree-2to1 --gpus 16 --unavailable-nodes 1 --global-batch 64 --seq-len 4096 "
      "--tp 8 --microbatch 1 --rank-map '" +
      write_temp("bad-map.csv", rows(16, -1)) + "'");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_EQ(test::count_lines(out.err), 1) << out.err;
  EXPECT_NE(out.err.find("bad-map.csv: GPU 8 is out"), std::string::npos) << out.err;
}

}  // namespace
}  // namespace nest
