// Network topologies (docs/inputs.md §8; docs/cost-model.md §4, "Levels from a topology"): a compact description of a
// cluster's GPUs, NICs, switches and links, expanded into a graph of links with capacities, and
// the hierarchical levels the cost model prices collectives on, derived from that graph.
//
// A topology is either a switched cluster (nodes of GPUs on a scale-up fabric such as NVSwitch,
// NICs per node, one or more scale-out networks of switch tiers: leaf, spine, core; rail-optimised
// or not; oversubscribed or not) or a 3D torus of chips (TPU ICI). Levels come from the graph:
// level 0 is the node's fabric; every switch tier (or torus dimension block) is one level whose
// per-GPU bandwidth is the bottleneck of the rings a hierarchical collective runs at that level,
// all at once, routed over the graph's links.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"

namespace nest {

// One switch tier of a scale-out network. Its domains hold `group` children (nodes for the first
// tier of the first network; domains of the tier below otherwise); 0: all the rest (last tier only).
struct TopologyTier {
  std::string name, source;
  std::int64_t group = 0;
  bool rail_optimized = false;  // one switch per rail in each domain: same-rail traffic turns here
  double oversubscription = 1;  // capacity of the links from the tier below into this tier, divided by this
  double latency = 0;           // s, one message whose route turns at a switch of this tier
  double nvls_bandwidth = 0;    // bytes/s all-reduce bus bandwidth of in-network reduction (SHARP) here (0: none)
  int network = 0;              // index into TopologySpec::networks
  // Physical switches of this tier that one switch below spreads its uplinks over (on the
  // network's first tier: that the domain's NICs attach to), per rail where rail-optimised;
  // 0: not stated. What losing one of them costs needs it (docs/inputs.md §8).
  std::int64_t switches = 0;
};

// A scale-out network: its NICs (per node, one direction each) and the figures a GPU reaches
// through its share of them, which the bottleneck of a level's rings scales.
struct TopologyNetwork {
  std::string name, source;
  std::int64_t nics_per_node = 0;
  double nic_bandwidth = 0;       // bytes/s per NIC that ring collectives reach
  double p2p_bandwidth = 0;       // bytes/s of one point-to-point stream through one NIC (0: nic_bandwidth)
  double alltoall_bandwidth = 0;  // bytes/s per NIC of all-to-all traffic (0: nic_bandwidth)
  double lone_bandwidth = 0;      // bytes/s of one NIC while its node's other NICs are idle (0: nic_bandwidth)
};

struct TopologyTorus {
  std::string name, source;
  std::vector<std::int64_t> dims;   // chips along x, y, z
  std::vector<std::int64_t> block;  // chips per block (a TPU v4 cube: 4 x 4 x 4) along each dimension
  double link_bandwidth = 0;        // bytes/s per link, one direction
  double p2p_bandwidth = 0;         // bytes/s of one stream (0: link_bandwidth)
  double hop_latency = 0;           // s per link crossed
  bool wraparound = true;
};

struct TopologySpec {
  std::string name, source;
  bool is_torus = false;
  // Switched clusters: nodes of `node_gpus` GPUs on the scale-up fabric `node_fabric` (level 0).
  std::int64_t nodes = 0, node_gpus = 0;
  NetworkLevel node_fabric;
  std::vector<TopologyNetwork> networks;
  std::vector<TopologyTier> tiers;  // innermost first, across networks
  TopologyTorus torus;
  std::vector<std::int64_t> unavailable_nodes;  // sorted, distinct
  // GPUs out inside nodes (global indices, node n holds n x node_gpus ...): every node then
  // offers the local GPUs that are up on all of them, on the same rails (docs/inputs.md §8).
  std::vector<std::int64_t> unavailable_gpus;
  int lost_switch_tier = -1;            // one switch of this tier out (-1: none) ...
  std::int64_t lost_switch_domain = 0;  // ... in this domain of the tier (0: the first, where a job starts)
  // GPUs of the job planned on it (0: not known, the whole cluster). The job takes the usable
  // GPUs in order; a lost switch in a domain it does not reach changes nothing for it.
  std::int64_t job_gpus = 0;
};

// The graph a TopologySpec expands to: one vertex per NIC port (or bundle of a GPU's NICs), per
// logical switch and per torus chip; one directed link per direction of every cable group.
// Capacities are in units of one NIC's (torus: one link's) bandwidth, which keeps the bottleneck
// of a non-blocking tree exactly 1 (docs/cost-model.md §4).
class Topology {
 public:
  struct Vertex {
    int tier = -1;    // -1: NIC port or chip; else the tier index of a switch
    int up = -1;      // link to the parent switch (-1: none)
    int down = -1;    // link from the parent switch
    int parent = -1;  // parent vertex
  };
  struct Link {
    int from = -1, to = -1;
    double capacity = 1;   // in NICs (torus: links)
    double bandwidth = 0;  // bytes/s
  };
  // A level the cost model uses, with what the graph says about it.
  struct DerivedLevel {
    NetworkLevel level;
    double congestion = 1;  // busiest link's load over its capacity, the level's rings all at once
  };

  explicit Topology(TopologySpec spec);

  const TopologySpec& spec() const { return spec_; }
  const std::vector<Vertex>& vertices() const { return vertices_; }
  const std::vector<Link>& links() const { return links_; }
  std::int64_t gpus_total() const;  // every GPU, nodes out included
  // GPUs of the regular sub-cluster the planner uses (nodes out removed, docs/inputs.md §8).
  std::int64_t gpus_usable() const { return usable_gpus_; }
  // Nodes of that sub-cluster in the order a job takes them.
  const std::vector<std::int64_t>& usable_nodes() const { return usable_nodes_; }
  // The physical GPU (global index) of each of a job's first `gpus` ranks: the usable GPUs in the
  // order a job takes them, node by node of usable_nodes(), in each the local GPUs up on every
  // node (a torus: chips in order). Bad input under --gpus beyond gpus_usable().
  std::vector<std::int64_t> job_gpus(std::int64_t gpus) const;
  // Whether spec().lost_switch_tier was set and dropped because the job does not reach its domain.
  bool lost_switch_unreached() const { return lost_switch_unreached_; }
  const std::vector<DerivedLevel>& levels() const { return levels_; }

  // The directed links from GPU a to GPU b (global GPU indices), the route a message takes.
  std::vector<int> route(std::int64_t a, std::int64_t b) const;
  // Nodes in one domain of each switch tier (the whole cluster for an unbounded top tier).
  const std::vector<std::int64_t>& nodes_per_tier_domain() const { return nodes_per_domain_; }
  // What a vertex or link is, for people: "node 3 NIC 2", "leaf 0 rail 2", "leaf 1 -> spine 0".
  std::string vertex_name(int v) const;
  std::string link_name(int link) const;

 private:
  void build_tree();
  void build_torus();
  void derive_tree_levels();
  void derive_torus_levels();
  int add_link(int from, int to, double capacity, double bandwidth);
  int nic_vertex(int network, std::int64_t gpu) const;

  TopologySpec spec_;
  std::vector<Vertex> vertices_;
  std::vector<Link> links_;
  std::vector<std::int64_t> nodes_per_domain_;  // nodes in one domain of each tier
  std::vector<int> nic_base_;                   // first NIC vertex of each network
  std::vector<std::int64_t> nic_slots_;         // NIC vertices per node in each network
  std::vector<int> tier_base_;                  // first switch vertex of each tier
  std::vector<std::int64_t> tier_rails_;        // switches per domain of each tier (rails, or 1)
  std::vector<DerivedLevel> levels_;
  std::int64_t usable_gpus_ = 0;
  std::vector<std::int64_t> usable_nodes_;
  std::vector<std::int64_t> usable_local_;  // local GPUs up on every usable node
  bool lost_switch_unreached_ = false;
};

// The level switch tier `t` is for the cost model when the busiest link of the rings that run at
// that tier carries `congestion` times its capacity: one NIC's figures over the congestion
// (docs/cost-model.md §4, "Levels from a topology"); its size is the tier's group.
NetworkLevel switch_tier_level(const TopologySpec& spec, std::size_t t, double congestion);

// The fraction of its capacity that the first domain of tier `t` keeps with one of its switches
// out. On a network's first tier the NICs on that switch go down and NCCL spreads the domain's
// traffic over the rest: 1 - 1/(switches x rails). Above it the links of the lost switch are gone
// from one rail (plane), whose traffic stays on it: 1 - 1/switches. 0: the domain is cut off.
double lost_switch_capacity(const TopologySpec& spec, std::size_t t);

// Sets spec.lost_switch_tier and lost_switch_domain from "TIER" (its first domain) or
// "TIER:DOMAIN" (a bad-input error under `flag` naming what is wrong).
void set_lost_switch(TopologySpec& spec, const std::string& text, const std::string& flag);

// The index of the switch tier named `name` (a bad-input error under `flag` if there is none).
int tier_index(const TopologySpec& spec, const std::string& name, const std::string& flag);

// The topology a --cluster argument names, or nullopt for a hierarchical cluster file.
std::optional<TopologySpec> load_topology_spec(const std::string& cluster_spec);

// Whether a parsed JSON file is a topology (it carries "schema": "nest.topology/1").
bool is_topology_json(const Json& j);
TopologySpec read_topology_spec(const JsonObject& o);
// A Cluster whose levels are the topology's derived levels, for everything that prices on levels.
// `unavailable_nodes` are added to the file's own list.
void apply_topology(const Topology& topo, Cluster& cluster);

// GPUs of a host of `cluster` (a job of `gpus` GPUs), the node of rank maps and of the plan file's
// `placement.physical`: the machine a launcher starts processes on and the node the launch
// scripts count (an NVL72 rack's trays), where the first level's domains hold several, else the
// domain; on a topology counted physically (GPUs that are out included), so that node x this +
// local GPU is the topology's GPU index.
std::int64_t gpus_per_host(const Cluster& cluster, std::int64_t gpus);

// The topology of a hierarchical cluster file for `gpus` GPUs (nest topology --from-cluster), with
// `settings` set in the file first (--cluster-set, a plan's domain share): its derived levels are
// the cluster's levels, figure for figure.
Json topology_from_cluster(const std::string& cluster_spec, std::int64_t gpus, const std::vector<ClusterSetting>& settings = {});

// The graph GPUs of `cluster` are numbered on, holding GPU `largest_gpu`: the cluster's own
// topology, or for a hierarchy the topology of its file, with the `settings` the cluster was read
// with (Problem::outages), and as many whole nodes as that needs (bad input under `flag` when the
// cluster has no such GPU).
std::shared_ptr<const Topology> topology_holding(const Cluster& cluster, std::int64_t largest_gpu, const std::string& flag,
                                                 const std::vector<ClusterSetting>& settings = {});

}  // namespace nest
