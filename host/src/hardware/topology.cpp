#include "nest/hardware/topology.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/io/presets.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

constexpr const char* kTopologySchema = "nest.topology/1";
// GPUs (torus chips) a topology may expand to: 2^20 = 1M, ~5x the largest announced cluster
// (~200k GPUs). The graph holds about two vertices and four links per GPU (~100 bytes), and each
// level routes one ring hop per GPU, so the bound keeps the graph near 100 MB and its levels to
// about a second.
constexpr std::int64_t kMaxTopologyGpus = std::int64_t{1} << 20;
// Links a torus's level rings may cross in all (chips x 2 directions x hop length, summed over
// levels): a wide block in a long dimension makes every hop long. 2^28 is about a second.
constexpr double kMaxTorusRouteSteps = 268435456.0;
// Oversubscription beyond 1024:1 is a typo, not a network (published fabrics: 1:1 to 7:1).
constexpr double kMaxOversubscription = 1024;
// Torus dimensions: x, y, z (TPU v4/v5p are 3D; a 1D or 2D torus gives dims of 1).
constexpr std::size_t kTorusDims = 3;
// A ring on a torus runs both ways round, each direction carrying half the data (the TPU's
// bidirectional ring all-reduce), so a link carries half of one member's stream.
constexpr double kTorusRingDirections = 2;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

TopologyTier read_tier(const JsonObject& t, std::size_t index_in_network, bool last_overall, int network) {
  TopologyTier tier;
  tier.name = t.string("name");
  tier.source = t.string_or("source", "");
  tier.network = network;
  if (t.has("group")) {
    tier.group = t.integer_in("group", 1, kMaxTopologyGpus);
  } else if (!last_overall) {
    t.fail("group", "missing: every tier but the outermost holds a fixed number of children");
  }
  tier.rail_optimized = t.boolean_or("rail_optimized", false);
  tier.oversubscription = t.has("oversubscription") ? t.number_in("oversubscription", 1, kMaxOversubscription) : 1;
  if (index_in_network == 0 && tier.oversubscription != 1)
    t.fail("oversubscription", "the first tier's links are the NICs: give their bandwidth (nic_bandwidth_GBps) instead");
  tier.latency = read_latency_s(t, "latency_s");
  tier.nvls_bandwidth = t.has("nvls_bandwidth_GBps") ? read_bandwidth_GBps(t, "nvls_bandwidth_GBps") : 0;
  tier.switches = t.has("switches") ? t.integer_in("switches", 1, kMaxTopologyGpus) : 0;
  return tier;
}

void read_torus(const JsonObject& o, TopologySpec& s) {
  const JsonObject t = o.object("torus");
  TopologyTorus& torus = s.torus;
  torus.name = t.string_or("name", "ici");
  torus.source = t.string_or("source", "");
  auto dims_of = [&](const std::string& key) {
    const std::vector<double> v = t.numbers(key);
    if (v.size() != kTorusDims) t.fail(key, "must list 3 dimensions (x, y, z; 1 for an unused one)");
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != std::floor(v[i]) || v[i] < 1 || v[i] > static_cast<double>(kMaxTopologyGpus))
        t.fail(key + "[" + std::to_string(i) + "]", "must be a positive integer of at most " + std::to_string(kMaxTopologyGpus));
      out.push_back(static_cast<std::int64_t>(v[i]));
    }
    return out;
  };
  torus.dims = dims_of("dims");
  torus.block = t.has("block") ? dims_of("block") : torus.dims;
  std::int64_t chips = 1;
  for (std::size_t d = 0; d < kTorusDims; ++d) {
    if (torus.dims[d] % torus.block[d] != 0)
      t.fail("block", "must divide dims in every dimension (" + std::to_string(torus.block[d]) + " does not divide " +
                          std::to_string(torus.dims[d]) + ")");
    chips *= torus.dims[d];
    if (chips > kMaxTopologyGpus) t.fail("dims", "more than " + std::to_string(kMaxTopologyGpus) + " chips");
  }
  // Each level's hops are at most half a dimension long (the short way round; a whole one without wraparound).
  double steps = 0;
  for (std::size_t d = 0; d < kTorusDims; ++d) {
    const double longest = static_cast<double>(t.boolean_or("wraparound", true) ? torus.dims[d] / 2 + 1 : torus.dims[d]);
    const int levels = (torus.block[d] > 1) + (torus.dims[d] / torus.block[d] > 1);
    steps += static_cast<double>(chips) * kTorusRingDirections * longest * levels;
  }
  if (steps > kMaxTorusRouteSteps)
    t.fail("dims", "routing its rings would cross about " + std::to_string(static_cast<long long>(steps)) +
                       " links, more than the " + std::to_string(static_cast<long long>(kMaxTorusRouteSteps)) +
                       " allowed (long dimensions split into small blocks)");
  torus.link_bandwidth = read_bandwidth_GBps(t, "link_bandwidth_GBps");
  torus.p2p_bandwidth = t.has("p2p_bandwidth_GBps") ? read_bandwidth_GBps(t, "p2p_bandwidth_GBps") : 0;
  torus.hop_latency = read_latency_s(t, "hop_latency_s");
  torus.wraparound = t.boolean_or("wraparound", true);
  s.is_torus = true;
  s.nodes = chips;
  s.node_gpus = 1;
}

// Domains of every tier, in nodes: nodes_per_domain[t] = the product of the groups up to t.
std::vector<std::int64_t> nodes_per_domain(const TopologySpec& s) {
  std::vector<std::int64_t> out;
  std::int64_t n = 1;
  for (const TopologyTier& t : s.tiers) {
    n = t.group == 0 ? std::max(n, s.nodes) : std::min(n * t.group, kMaxTopologyGpus * 2);
    out.push_back(n);
  }
  return out;
}

bool first_tier_of_network(const TopologySpec& s, std::size_t t) {
  return t == 0 || s.tiers[t - 1].network != s.tiers[t].network;
}

}  // namespace

double lost_switch_capacity(const TopologySpec& s, std::size_t t) {
  const TopologyTier& tier = s.tiers[t];
  const TopologyNetwork& net = s.networks[static_cast<std::size_t>(tier.network)];
  const double switches = static_cast<double>(tier.switches);
  if (!first_tier_of_network(s, t)) return 1 - 1 / switches;
  const double rails = tier.rail_optimized ? static_cast<double>(std::min(net.nics_per_node, s.node_gpus)) : 1;
  return 1 - 1 / (switches * rails);
}

int tier_index(const TopologySpec& s, const std::string& name, const std::string& flag) {
  std::string names;
  for (std::size_t t = 0; t < s.tiers.size(); ++t) {
    if (s.tiers[t].name == name) return static_cast<int>(t);
    names += (names.empty() ? "" : ", ") + s.tiers[t].name;
  }
  throw_bad_input(flag, s.source + " has no switch tier '" + name + "' (" + (names.empty() ? "none" : names) + ")");
}

void set_lost_switch(TopologySpec& spec, const std::string& text, const std::string& flag) {
  const auto colon = text.find(':');
  const int t = tier_index(spec, text.substr(0, colon), flag);
  std::int64_t domain = 0;
  if (colon != std::string::npos) {
    const std::string d = text.substr(colon + 1);
    const std::int64_t domains = spec.is_torus ? 0 : ceil_div(spec.nodes, nodes_per_domain(spec)[static_cast<std::size_t>(t)]);
    const std::int64_t v = parse_index(d).value_or(-1);
    if (v < 0 || v >= domains)
      throw_bad_input(flag, "'" + text + "': the domain after ':' must be an index from 0 to " + std::to_string(domains - 1) +
                                " (" + spec.source + " has " + std::to_string(domains) + " " +
                                spec.tiers[static_cast<std::size_t>(t)].name + " domains)");
    domain = v;
  }
  spec.lost_switch_tier = t;
  spec.lost_switch_domain = domain;
}

std::optional<TopologySpec> load_topology_spec(const std::string& cluster_spec) {
  const std::string path = resolve_preset(PresetKind::Cluster, cluster_spec);
  const Json j = read_json_file(path);
  if (!is_topology_json(j)) return std::nullopt;
  return read_topology_spec(JsonObject(j, path));
}

bool is_topology_json(const Json& j) {
  if (!j.is_object()) return false;
  const auto it = j.find("schema");
  return it != j.end() && it->is_string() && it->get<std::string>().starts_with("nest.topology/");
}

TopologySpec read_topology_spec(const JsonObject& o) {
  TopologySpec s;
  s.source = o.source();
  const std::string schema = o.string("schema");
  if (schema != kTopologySchema) o.fail("schema", "'" + schema + "' is not " + kTopologySchema);
  s.name = o.string_or("name", "topology");
  if (o.has("torus")) {
    if (o.has("node") || o.has("networks")) o.fail("torus", "a torus has no node or networks fields; give one or the other");
    read_torus(o, s);
  } else {
    const JsonObject node = o.object("node");
    s.node_gpus = node.integer_in("gpus", 1, kMaxTopologyGpus);
    s.node_fabric.name = node.string_or("name", "node");
    s.node_fabric.size = s.node_gpus;
    read_level_figures(node, s.node_fabric);
    if (node.has("host_gpus")) read_host_gpus(node, s.node_fabric);
    s.nodes = o.integer_in("nodes", 1, kMaxTopologyGpus);
    if (s.nodes * s.node_gpus > kMaxTopologyGpus)
      o.fail("nodes", std::to_string(s.nodes) + " nodes of " + std::to_string(s.node_gpus) + " GPUs exceed the " +
                          std::to_string(kMaxTopologyGpus) + " GPUs a topology may have");
    const std::vector<JsonObject> networks = o.has("networks") ? o.objects("networks") : std::vector<JsonObject>{};
    if (networks.empty() && s.nodes > 1) o.fail("networks", "missing: more than one node needs a network between nodes");
    for (std::size_t k = 0; k < networks.size(); ++k) {
      const JsonObject& n = networks[k];
      TopologyNetwork net;
      net.name = n.string_or("name", "network" + std::to_string(k));
      net.source = n.string_or("source", "");
      net.nics_per_node = n.integer_in("nics_per_node", 1, kMaxTopologyGpus);
      if (net.nics_per_node % s.node_gpus != 0 && s.node_gpus % net.nics_per_node != 0)
        n.fail("nics_per_node", std::to_string(net.nics_per_node) + " NICs and " + std::to_string(s.node_gpus) +
                                    " GPUs per node: one must divide the other (GPUs share NICs or own several evenly)");
      net.nic_bandwidth = read_bandwidth_GBps(n, "nic_bandwidth_GBps");
      net.p2p_bandwidth = n.has("p2p_bandwidth_GBps") ? read_bandwidth_GBps(n, "p2p_bandwidth_GBps") : 0;
      net.alltoall_bandwidth = n.has("alltoall_bandwidth_GBps") ? read_bandwidth_GBps(n, "alltoall_bandwidth_GBps") : 0;
      net.lone_bandwidth = n.has("nic_lone_bandwidth_GBps") ? read_bandwidth_GBps(n, "nic_lone_bandwidth_GBps") : 0;
      const std::vector<JsonObject> tiers = n.objects("tiers");
      if (tiers.empty()) n.fail("tiers", "must list at least one switch tier");
      for (std::size_t i = 0; i < tiers.size(); ++i) {
        const bool last_overall = k + 1 == networks.size() && i + 1 == tiers.size();
        TopologyTier tier = read_tier(tiers[i], i, last_overall, static_cast<int>(k));
        if (tier.rail_optimized && i > 0 && !s.tiers.back().rail_optimized)
          tiers[i].fail("rail_optimized",
                        "rails end at the first tier that is not rail-optimised; the tiers above it cannot split them again");
        s.tiers.push_back(std::move(tier));
      }
      s.networks.push_back(std::move(net));
    }
    if (1 + s.tiers.size() > static_cast<std::size_t>(kernels::kMaxLevels))
      o.fail("networks", "the node and its tiers make more than " + std::to_string(kernels::kMaxLevels) + " levels");
    if (!s.tiers.empty()) {
      const std::vector<std::int64_t> per = nodes_per_domain(s);
      if (per.back() < s.nodes)
        o.fail("nodes", std::to_string(s.nodes) + " nodes exceed the " + std::to_string(per.back()) +
                            " the tiers hold (drop the outermost tier's group to make it hold all the rest)");
    }
  }
  if (o.has("unavailable_gpus")) {
    const std::vector<double> v = o.numbers("unavailable_gpus");
    const std::int64_t gpus = s.is_torus ? s.nodes : s.nodes * s.node_gpus;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != std::floor(v[i]) || v[i] < 0 || v[i] >= static_cast<double>(gpus))
        o.fail("unavailable_gpus[" + std::to_string(i) + "]",
               "must be a GPU index from 0 to " + std::to_string(gpus - 1) + " (got " + std::to_string(v[i]) + ")");
      s.unavailable_gpus.push_back(static_cast<std::int64_t>(v[i]));
    }
  }
  if (o.has("unavailable_nodes")) {
    const std::vector<double> v = o.numbers("unavailable_nodes");
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] != std::floor(v[i]) || v[i] < 0 || v[i] >= static_cast<double>(s.nodes))
        o.fail("unavailable_nodes[" + std::to_string(i) + "]",
               "must be a node index from 0 to " + std::to_string(s.nodes - 1) + " (got " + std::to_string(v[i]) + ")");
      s.unavailable_nodes.push_back(static_cast<std::int64_t>(v[i]));
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The graph

Topology::Topology(TopologySpec spec) : spec_(std::move(spec)) {
  auto& out = spec_.unavailable_nodes;
  const int lost = spec_.lost_switch_tier;
  if (lost >= 0) {
    if (spec_.is_torus || lost >= static_cast<int>(spec_.tiers.size()))
      throw_bad_input("--lost-switch", spec_.source + " has no such switch tier");
    const TopologyTier& tier = spec_.tiers[static_cast<std::size_t>(lost)];
    if (tier.switches <= 0)
      throw_bad_input("--lost-switch", spec_.source + ": tier '" + tier.name +
                                           "' does not state its switches (\"switches\"), so losing one cannot be priced");
    // A job takes the usable GPUs in order: where it does not reach the lost switch's domain
    // (the cluster intact), the loss changes nothing for it.
    if (spec_.job_gpus > 0) {
      TopologySpec intact = spec_;
      intact.lost_switch_tier = -1;  // the job's footprint on the intact cluster (job_gpus kept)
      const Topology whole(std::move(intact));
      const auto& nodes = whole.usable_nodes();
      const std::int64_t per_node = nodes.empty() ? 1 : whole.gpus_usable() / static_cast<std::int64_t>(nodes.size());
      const std::int64_t job_nodes =
          std::min<std::int64_t>(ceil_div(spec_.job_gpus, per_node), static_cast<std::int64_t>(nodes.size()));
      const std::int64_t n = nodes_per_domain(spec_)[static_cast<std::size_t>(lost)];
      bool reached = false;
      for (std::int64_t k = 0; k < job_nodes; ++k) reached |= nodes[static_cast<std::size_t>(k)] / n == spec_.lost_switch_domain;
      if (!reached) {
        spec_.lost_switch_tier = -1;
        lost_switch_unreached_ = true;
      }
    }
    // A domain whose NICs all hang off the lost switch is cut off: its nodes are out.
    if (spec_.lost_switch_tier >= 0 && lost_switch_capacity(spec_, static_cast<std::size_t>(lost)) <= 0) {
      const std::int64_t n = nodes_per_domain(spec_)[static_cast<std::size_t>(lost)];
      const std::int64_t first = spec_.lost_switch_domain * n;
      for (std::int64_t k = first; k < std::min(first + n, spec_.nodes); ++k) out.push_back(k);
    }
  }
  auto& gpus_out = spec_.unavailable_gpus;
  std::sort(gpus_out.begin(), gpus_out.end());
  gpus_out.erase(std::unique(gpus_out.begin(), gpus_out.end()), gpus_out.end());
  if (!gpus_out.empty()) {
    if (spec_.is_torus)
      throw_bad_input("--unavailable-gpus", spec_.source +
                                                " is a torus: without a chip it is no longer a torus, and TPU slices are "
                                                "re-formed from whole cubes instead");
    const std::int64_t g = spec_.node_gpus;
    if (gpus_out.back() >= spec_.nodes * g)
      throw_bad_input("--unavailable-gpus", "GPU " + std::to_string(gpus_out.back()) + " does not exist (" + spec_.source +
                                                " has GPUs 0 to " + std::to_string(spec_.nodes * g - 1) + ")");
    // A node with every GPU out is a node out.
    for (std::size_t i = 0; i < gpus_out.size();) {
      const std::int64_t node = gpus_out[i] / g;
      std::size_t j = i;
      while (j < gpus_out.size() && gpus_out[j] / g == node) ++j;
      if (static_cast<std::int64_t>(j - i) == g) out.push_back(node);
      i = j;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  for (std::int64_t n : out)
    if (n < 0 || n >= spec_.nodes)
      throw_bad_input("--unavailable-nodes", "node " + std::to_string(n) + " does not exist (" + spec_.source +
                                                 " has nodes 0 to " + std::to_string(spec_.nodes - 1) + ")");
  if (spec_.is_torus) {
    if (!out.empty())
      throw_bad_input("--unavailable-nodes", spec_.source +
                                                 " is a torus: without a chip it is no longer a torus, and TPU slices are "
                                                 "re-formed from whole cubes instead");
    build_torus();
    derive_torus_levels();
  } else {
    if (static_cast<std::int64_t>(out.size()) == spec_.nodes)
      throw_bad_input("--unavailable-nodes", "every node of " + spec_.source + " is out");
    nodes_per_domain_ = nodes_per_domain(spec_);
    build_tree();
    derive_tree_levels();
  }
}

std::int64_t Topology::gpus_total() const { return spec_.nodes * spec_.node_gpus; }

int Topology::add_link(int from, int to, double capacity, double bandwidth) {
  links_.push_back({from, to, capacity, bandwidth});
  return static_cast<int>(links_.size()) - 1;
}

// NIC slots per node: one per NIC when GPUs share NICs, one bundle per GPU when a GPU owns several.
int Topology::nic_vertex(int network, std::int64_t gpu) const {
  const std::int64_t g = spec_.node_gpus, slots = nic_slots_[static_cast<std::size_t>(network)];
  const std::int64_t node = gpu / g, local = gpu % g;
  return nic_base_[static_cast<std::size_t>(network)] + static_cast<int>(node * slots + local * slots / g);
}

void Topology::build_tree() {
  const std::vector<std::int64_t>& per = nodes_per_domain_;
  const std::int64_t nodes = spec_.nodes;
  std::size_t t = 0;
  for (std::size_t k = 0; k < spec_.networks.size(); ++k) {
    const TopologyNetwork& net = spec_.networks[k];
    const std::int64_t slots = std::min(net.nics_per_node, spec_.node_gpus);
    const double nics_per_slot = static_cast<double>(net.nics_per_node) / static_cast<double>(slots);
    nic_slots_.push_back(slots);
    nic_base_.push_back(static_cast<int>(vertices_.size()));
    vertices_.resize(vertices_.size() + static_cast<std::size_t>(nodes * slots));
    // Switches tier by tier: one per domain, or one per rail (NIC slot) on a rail-optimised tier.
    // A switch's uplink carries what its ports below can send (its domain's nodes x the slots it
    // collects x NICs per slot; a partly filled last domain has fewer), over the oversubscription
    // of the tier above.
    int child_base = nic_base_.back();
    std::int64_t child_count = nodes * slots, child_rails = slots, child_nodes = 1, child_slots = 1;
    // With a switch of a tier out (TopologySpec::lost_switch_tier): the capacity each switch
    // below keeps on its uplinks (lost_switch_capacity), applied again to the next tier's links
    // of the switches that lost part of theirs.
    std::vector<double> keep_up;
    for (; t < spec_.tiers.size() && spec_.tiers[t].network == static_cast<int>(k); ++t) {
      const TopologyTier& tier = spec_.tiers[t];
      const std::int64_t domains = ceil_div(nodes, per[t]);
      const std::int64_t rails = tier.rail_optimized ? slots : 1;
      const std::int64_t children_per_domain = per[t] / child_nodes;
      const int base = static_cast<int>(vertices_.size());
      vertices_.resize(vertices_.size() + static_cast<std::size_t>(domains * rails));
      tier_base_.push_back(base);
      tier_rails_.push_back(rails);
      for (std::int64_t i = base; i < base + domains * rails; ++i)
        vertices_[static_cast<std::size_t>(i)].tier = static_cast<int>(t);
      // The lost switch is in domain lost_switch_domain: on the network's first tier its loss is
      // spread over every rail of that domain (NCCL moves the traffic of the dead NICs to the
      // others), above it only rail 0's links lose it.
      // (A domain cut off is out altogether: its nodes are unavailable, its links unused.)
      const bool lost_here = static_cast<int>(t) == spec_.lost_switch_tier && lost_switch_capacity(spec_, t) > 0;
      const double keep = lost_here ? lost_switch_capacity(spec_, t) : 1;
      const bool first_tier = first_tier_of_network(spec_, t);
      std::vector<double> keep_next(static_cast<std::size_t>(domains * rails), 1.0);
      if (lost_here)
        for (std::int64_t r = 0; r < (first_tier ? rails : 1); ++r)
          keep_next[static_cast<std::size_t>(spec_.lost_switch_domain * rails + r)] = keep;
      for (std::int64_t c = 0; c < child_count; ++c) {
        const std::int64_t child_domain = c / child_rails, child_rail = c % child_rails;
        const std::int64_t parent = base + (child_domain / children_per_domain) * rails + (tier.rail_optimized ? child_rail : 0);
        const std::int64_t nodes_below = std::min(child_nodes, nodes - child_domain * child_nodes);
        double capacity = static_cast<double>(nodes_below * child_slots) * nics_per_slot / tier.oversubscription;
        capacity *= keep_next[static_cast<std::size_t>(parent - base)];
        if (!keep_up.empty()) capacity *= keep_up[static_cast<std::size_t>(c)];
        const int cv = child_base + static_cast<int>(c);
        Vertex& v = vertices_[static_cast<std::size_t>(cv)];
        v.parent = static_cast<int>(parent);
        v.up = add_link(cv, v.parent, capacity, capacity * net.nic_bandwidth);
        v.down = add_link(v.parent, cv, capacity, capacity * net.nic_bandwidth);
      }
      keep_up = std::move(keep_next);
      child_base = base;
      child_count = domains * rails;
      child_rails = rails;
      child_nodes = per[t];
      child_slots = tier.rail_optimized ? 1 : slots;
    }
  }
}

std::vector<std::int64_t> Topology::job_gpus(std::int64_t gpus) const {
  if (gpus < 1 || gpus > usable_gpus_)
    throw_bad_input("--gpus",
                    std::to_string(gpus) + " GPUs: " + spec_.source + " has " + std::to_string(usable_gpus_) + " usable");
  std::vector<std::int64_t> out(static_cast<std::size_t>(gpus));
  if (spec_.is_torus) {
    for (std::int64_t r = 0; r < gpus; ++r) out[static_cast<std::size_t>(r)] = r;
    return out;
  }
  const std::int64_t per_node = static_cast<std::int64_t>(usable_local_.size());
  for (std::int64_t r = 0; r < gpus; ++r)
    out[static_cast<std::size_t>(r)] = usable_nodes_[static_cast<std::size_t>(r / per_node)] * spec_.node_gpus +
                                       usable_local_[static_cast<std::size_t>(r % per_node)];
  return out;
}

std::string Topology::vertex_name(int v) const {
  const std::string n = std::to_string(v);
  if (spec_.is_torus) {
    std::string xyz;
    std::int64_t rest = v;
    for (std::size_t d = 0; d < kTorusDims; ++d) {
      if (d > 0) xyz += ',';
      xyz += std::to_string(rest % spec_.torus.dims[d]);
      rest /= spec_.torus.dims[d];
    }
    return "chip " + n + " (" + xyz + ")";
  }
  const Vertex& x = vertices_[static_cast<std::size_t>(v)];
  if (x.tier >= 0) {
    const std::size_t t = static_cast<std::size_t>(x.tier);
    const std::int64_t i = v - tier_base_[t], rails = tier_rails_[t];
    return spec_.tiers[t].name + " " + std::to_string(i / rails) + (rails > 1 ? " rail " + std::to_string(i % rails) : "");
  }
  for (std::size_t k = 0; k < spec_.networks.size(); ++k) {
    const std::int64_t slots = nic_slots_[k], i = v - nic_base_[k];
    if (i < 0 || i >= spec_.nodes * slots) continue;
    const TopologyNetwork& net = spec_.networks[k];
    const std::string where = "node " + std::to_string(i / slots) + (spec_.networks.size() > 1 ? " " + net.name : "");
    const std::string slot = std::to_string(i % slots);
    return where + (net.nics_per_node > slots ? " NICs of GPU " + slot : " NIC " + slot);
  }
  return "vertex " + n;
}

std::string Topology::link_name(int link) const {
  const Link& l = links_[static_cast<std::size_t>(link)];
  return vertex_name(l.from) + " -> " + vertex_name(l.to);
}

std::vector<int> Topology::route(std::int64_t a, std::int64_t b) const {
  std::vector<int> path;
  if (a == b) return path;
  if (spec_.is_torus) {
    const TopologyTorus& t = spec_.torus;
    std::int64_t c[kTorusDims], target[kTorusDims], stride[kTorusDims];
    std::int64_t s = 1;
    for (std::size_t d = 0; d < kTorusDims; ++d) {
      stride[d] = s;
      c[d] = a / s % t.dims[d];
      target[d] = b / s % t.dims[d];
      s *= t.dims[d];
    }
    // Dimension-order routing (x, then y, then z), the shorter way round; ties go forward.
    for (std::size_t d = 0; d < kTorusDims; ++d) {
      const std::int64_t n = t.dims[d];
      const std::int64_t fwd = ((target[d] - c[d]) % n + n) % n;
      const bool forward = !t.wraparound ? target[d] > c[d] : fwd <= n - fwd;
      while (c[d] != target[d]) {
        const std::int64_t chip = [&] {
          std::int64_t x = 0;
          for (std::size_t e = 0; e < kTorusDims; ++e) x += c[e] * stride[e];
          return x;
        }();
        path.push_back(static_cast<int>(chip * 2 * kTorusDims + d * 2 + (forward ? 0 : 1)));
        c[d] = forward ? (c[d] + 1) % n : (c[d] + n - 1) % n;
      }
    }
    return path;
  }
  const std::int64_t g = spec_.node_gpus;
  const std::int64_t na = a / g, nb = b / g;
  if (na == nb) return path;  // inside the node: the scale-up fabric (level 0)
  const std::vector<std::int64_t>& per = nodes_per_domain_;
  std::size_t t = 0;
  while (t < per.size() && na / per[t] != nb / per[t]) ++t;
  if (t == per.size())
    throw_runtime("topology " + spec_.name + ": no tier holds nodes " + std::to_string(na) + " and " + std::to_string(nb));
  const int network = spec_.tiers[t].network;
  int va = nic_vertex(network, a), vb = nic_vertex(network, b);
  std::vector<int> down;
  while (va != vb) {
    const Vertex &x = vertices_[static_cast<std::size_t>(va)], &y = vertices_[static_cast<std::size_t>(vb)];
    if (x.parent < 0 || y.parent < 0)
      throw_runtime("topology " + spec_.name + ": GPUs " + std::to_string(a) + " and " + std::to_string(b) +
                    " are on different rails of a rail-optimised network with no tier joining them");
    path.push_back(x.up);
    down.push_back(y.down);
    va = x.parent;
    vb = y.parent;
  }
  path.insert(path.end(), down.rbegin(), down.rend());
  return path;
}

void Topology::derive_tree_levels() {
  const TopologySpec& s = spec_;
  const std::int64_t g = s.node_gpus;
  const std::vector<std::int64_t>& per = nodes_per_domain_;
  const bool regularise = !s.unavailable_nodes.empty();
  // The local GPUs every node offers: those up on every node that is not out, so that ring j of a
  // tier joins the same local GPU, on the same rail, in each node (a GPU out on one node takes
  // that local index out everywhere; --unavailable-nodes may lose less).
  std::vector<std::int64_t> local;
  {
    std::vector<bool> local_up(static_cast<std::size_t>(g), true);
    for (std::int64_t x : s.unavailable_gpus)
      if (!std::binary_search(s.unavailable_nodes.begin(), s.unavailable_nodes.end(), x / g))
        local_up[static_cast<std::size_t>(x % g)] = false;
    for (std::int64_t i = 0; i < g; ++i)
      if (local_up[static_cast<std::size_t>(i)]) local.push_back(i);
    if (local.empty())
      throw_bad_input("--unavailable-gpus", "no local GPU index is up on every node of " + s.source +
                                                " that is not out; take the nodes out (--unavailable-nodes) instead");
  }
  const std::int64_t per_node = static_cast<std::int64_t>(local.size());
  usable_local_ = local;
  NetworkLevel fabric = s.node_fabric;
  fabric.size = per_node;
  levels_.push_back({fabric, 1});
  // The sub-cluster the planner uses: children[t][d] lists the children (tier t-1 domains; nodes
  // for t = 0) that domain d of tier t contributes. Without nodes out every child.
  std::vector<bool> node_up(static_cast<std::size_t>(s.nodes), true);
  for (std::int64_t n : s.unavailable_nodes) node_up[static_cast<std::size_t>(n)] = false;
  std::vector<std::vector<std::vector<std::int64_t>>> children(s.tiers.size());
  std::vector<std::int64_t> used(s.tiers.size(), 0);  // children per domain (regularised)
  // children and used with k[t] children kept from every tier-t domain that has k[t] or more
  // (the others left out; k[t] = 0: every child kept, used[t] the fewest a domain has); the
  // nodes the sub-cluster then holds.
  auto regularised = [&](const std::vector<std::int64_t>& k) {
    std::vector<bool> child_up = node_up;
    std::int64_t child_count = s.nodes, child_nodes = 1, nodes_per_child = 1, total = 0;
    for (std::size_t t = 0; t < s.tiers.size(); ++t) {
      const std::int64_t per_domain = per[t] / child_nodes;
      const std::int64_t domains = ceil_div(child_count, per_domain);
      children[t].assign(static_cast<std::size_t>(domains), {});
      std::int64_t fewest = -1;
      for (std::int64_t d = 0; d < domains; ++d) {
        auto& list = children[t][static_cast<std::size_t>(d)];
        for (std::int64_t c = d * per_domain; c < std::min(child_count, (d + 1) * per_domain); ++c)
          if (child_up[static_cast<std::size_t>(c)]) list.push_back(c);
        if (k[t] > 0 && static_cast<std::int64_t>(list.size()) < k[t]) list.clear();
        if (k[t] > 0 && static_cast<std::int64_t>(list.size()) > k[t]) list.resize(static_cast<std::size_t>(k[t]));
        if (!list.empty())
          fewest = fewest < 0 ? static_cast<std::int64_t>(list.size()) : std::min(fewest, static_cast<std::int64_t>(list.size()));
      }
      used[t] = fewest;
      std::vector<bool> up(static_cast<std::size_t>(domains));
      for (std::int64_t d = 0; d < domains; ++d)
        up[static_cast<std::size_t>(d)] = !children[t][static_cast<std::size_t>(d)].empty();
      if (t + 1 == s.tiers.size())
        for (const auto& list : children[t]) total += static_cast<std::int64_t>(list.size()) * nodes_per_child;
      nodes_per_child *= std::max<std::int64_t>(fewest, 0);
      child_up = std::move(up);
      child_count = domains;
      child_nodes = per[t];
    }
    return total;
  };
  // With nodes out every domain used contributes the same number of children (the hierarchical
  // cost model prices uniform domains): the numbers, tier by tier below the top, that keep the
  // most nodes, larger numbers at lower tiers first on a tie (fewer, fuller domains). One node
  // out of a leaf of 4 then costs that leaf, not a node of every leaf; a node out of one of 64
  // scalable units of 32 costs a node of every unit (64 nodes), not the 4 units of its spine
  // group (128 nodes). With a job (job_gpus), the choices that hold it come first, and of those
  // the ones whose domains hold it at the lowest tier: the job takes the first nodes, so a
  // 32-node job beside a unit with a node out takes a whole unit instead of spanning two units'
  // 31 (its groups would otherwise cross the spine).
  const std::int64_t job_nodes = s.job_gpus > 0 ? ceil_div(s.job_gpus, per_node) : 0;
  auto reach = [&](std::int64_t total) {  // the lowest tier whose domains hold the job; tiers+1 if none can
    if (total < job_nodes) return s.tiers.size() + 1;
    std::int64_t nodes = 1;
    for (std::size_t t = 0; t < s.tiers.size(); ++t) {
      nodes *= std::max<std::int64_t>(used[t], 0);
      if (job_nodes <= nodes) return t;
    }
    return s.tiers.size();
  };
  std::vector<std::int64_t> k(s.tiers.size(), 0), best_k = k;
  std::int64_t best_total = -1;
  std::size_t best_reach = 0;
  std::function<void(std::size_t)> search = [&](std::size_t t) {
    if (!regularise || t + 1 >= s.tiers.size()) {
      const std::int64_t total = regularised(k);
      const std::size_t r = reach(total);
      if (best_total < 0 || r < best_reach || (r == best_reach && total > best_total)) {
        best_total = total;
        best_reach = r;
        best_k = k;
      }
      return;
    }
    (void)regularised(k);  // the sizes of tier t's domains with the choices below it
    std::vector<std::int64_t> sizes;
    for (const auto& list : children[t])
      if (!list.empty()) sizes.push_back(static_cast<std::int64_t>(list.size()));
    std::sort(sizes.rbegin(), sizes.rend());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    for (std::int64_t size : sizes) {
      k[t] = size;
      search(t + 1);
    }
    k[t] = 0;
  };
  search(0);
  (void)regularised(best_k);
  std::vector<std::vector<std::vector<std::int64_t>>> gpus_of(s.tiers.size());
  for (std::size_t t = 0; t < s.tiers.size(); ++t) gpus_of[t].resize(children[t].size());
  // Mark chosen domains from the top.
  std::vector<std::vector<bool>> chosen(s.tiers.size());
  for (std::size_t t = s.tiers.size(); t-- > 0;) {
    chosen[t].assign(children[t].size(), false);
    if (t + 1 == s.tiers.size()) {
      std::fill(chosen[t].begin(), chosen[t].end(), true);
    } else {
      for (std::size_t d = 0; d < children[t + 1].size(); ++d)
        if (chosen[t + 1][d])
          for (std::int64_t c : children[t + 1][d]) chosen[t][static_cast<std::size_t>(c)] = true;
    }
  }
  // Chosen GPUs per domain, bottom-up (in order: node by node, GPU by GPU).
  for (std::size_t t = 0; t < s.tiers.size(); ++t)
    for (std::size_t d = 0; d < children[t].size(); ++d) {
      if (!chosen[t][d]) continue;
      auto& list = gpus_of[t][d];
      for (std::int64_t c : children[t][d]) {
        if (t == 0) {
          for (std::int64_t i : local) list.push_back(c * g + i);
        } else {
          const auto& below = gpus_of[t - 1][static_cast<std::size_t>(c)];
          list.insert(list.end(), below.begin(), below.end());
        }
      }
    }
  usable_gpus_ = s.tiers.empty() ? per_node : 0;
  if (s.tiers.empty())
    for (std::int64_t n = 0; n < s.nodes && usable_nodes_.empty(); ++n)
      if (node_up[static_cast<std::size_t>(n)]) usable_nodes_.push_back(n);
  if (!s.tiers.empty())
    for (const auto& list : gpus_of.back())
      for (std::int64_t gpu : list)
        if (usable_nodes_.empty() || usable_nodes_.back() != gpu / g) usable_nodes_.push_back(gpu / g);
  if (!s.tiers.empty())
    for (std::size_t d = 0; d < gpus_of.back().size(); ++d) usable_gpus_ += static_cast<std::int64_t>(gpus_of.back()[d].size());
  // Each tier's rings: in every chosen domain, ring j joins the j-th GPU of each child, all at
  // once (the phase of a hierarchical collective at this level); the level's bandwidth is the
  // network's per-NIC figure over the busiest link's load per unit of capacity.
  std::vector<double> load(links_.size(), 0);
  for (std::size_t t = 0; t < s.tiers.size(); ++t) {
    std::vector<int> touched;
    for (std::size_t d = 0; d < children[t].size(); ++d) {
      if (!chosen[t][d] || children[t][d].size() < 2) continue;
      const std::size_t m = children[t][d].size();
      auto gpu_of = [&](std::size_t child, std::size_t j) -> std::int64_t {
        const std::int64_t c = children[t][d][child];
        if (t == 0) return c * g + local[j];
        const auto& list = gpus_of[t - 1][static_cast<std::size_t>(c)];
        return j < list.size() ? list[j] : -1;
      };
      const std::size_t width = t == 0 ? local.size() : gpus_of[t - 1][static_cast<std::size_t>(children[t][d][0])].size();
      for (std::size_t j = 0; j < width; ++j)
        for (std::size_t i = 0; i < m; ++i) {
          const std::int64_t from = gpu_of(i, j), to = gpu_of((i + 1) % m, j);
          if (from < 0 || to < 0 || from == to) continue;
          for (int link : route(from, to)) {
            if (load[static_cast<std::size_t>(link)] == 0) touched.push_back(link);
            load[static_cast<std::size_t>(link)] += 1;
          }
        }
    }
    double congestion = 0;
    for (int link : touched) {
      congestion = std::max(congestion, load[static_cast<std::size_t>(link)] / links_[static_cast<std::size_t>(link)].capacity);
      load[static_cast<std::size_t>(link)] = 0;
    }
    if (congestion == 0) congestion = 1;  // no ring crosses this tier (one child): the NIC's figures
    NetworkLevel l = switch_tier_level(s, t, congestion);
    const TopologyTier& tier = s.tiers[t];
    l.size = regularise ? (t + 1 == s.tiers.size() ? (tier.group == 0 ? 0 : used[t]) : used[t]) : tier.group;
    levels_.push_back({l, congestion});
  }
}

NetworkLevel switch_tier_level(const TopologySpec& s, std::size_t t, double congestion) {
  const TopologyTier& tier = s.tiers[t];
  const TopologyNetwork& net = s.networks[static_cast<std::size_t>(tier.network)];
  NetworkLevel l;
  l.name = tier.name;
  l.size = tier.group;
  l.bandwidth = net.nic_bandwidth / congestion;
  l.latency = tier.latency;
  // One stream uses one NIC: it slows with the level's congestion but gains nothing from a bundle.
  l.p2p_bandwidth = net.p2p_bandwidth > 0 ? net.p2p_bandwidth / std::max(1.0, congestion) : 0;
  l.alltoall_bandwidth = net.alltoall_bandwidth > 0 ? net.alltoall_bandwidth / congestion : 0;
  // A rail alone is not held back by its node's other rails, only by its own NIC.
  l.lone_bandwidth = net.lone_bandwidth;
  l.nvls_bandwidth = tier.nvls_bandwidth;
  return l;
}

void Topology::build_torus() {
  const TopologyTorus& t = spec_.torus;
  const std::int64_t chips = spec_.nodes;
  vertices_.resize(static_cast<std::size_t>(chips));
  // Link chip * 6 + 2d (+1): the link leaving the chip forward (backward) along dimension d; a
  // missing one (no wraparound at an edge, or a dimension of 1) is kept with capacity 0 so that
  // the index stays arithmetic; routes never use it.
  links_.reserve(static_cast<std::size_t>(chips) * 2 * kTorusDims);
  std::int64_t stride = 1;
  std::int64_t strides[kTorusDims];
  for (std::size_t d = 0; d < kTorusDims; ++d) {
    strides[d] = stride;
    stride *= t.dims[d];
  }
  for (std::int64_t c = 0; c < chips; ++c)
    for (std::size_t d = 0; d < kTorusDims; ++d) {
      const std::int64_t n = t.dims[d], x = c / strides[d] % n;
      for (int dir = 0; dir < 2; ++dir) {
        const std::int64_t nx = dir == 0 ? (x + 1) % n : (x + n - 1) % n;
        const bool exists = n > 1 && (t.wraparound || (dir == 0 ? x + 1 < n : x > 0));
        const std::int64_t to = c + (nx - x) * strides[d];
        add_link(static_cast<int>(c), static_cast<int>(to), exists ? 1 : 0, exists ? t.link_bandwidth : 0);
      }
    }
}

void Topology::derive_torus_levels() {
  const TopologyTorus& t = spec_.torus;
  // Levels innermost first: the block's x, y, z, then the blocks' x, y, z (dimensions of 1 skipped).
  struct Digit {
    std::size_t dim;
    std::int64_t size, coordinate_stride;
    bool across_blocks;
  };
  std::vector<Digit> digits;
  for (std::size_t d = 0; d < kTorusDims; ++d)
    if (t.block[d] > 1) digits.push_back({d, t.block[d], 1, false});
  for (std::size_t d = 0; d < kTorusDims; ++d)
    if (t.dims[d] / t.block[d] > 1) digits.push_back({d, t.dims[d] / t.block[d], t.block[d], true});
  if (digits.size() > static_cast<std::size_t>(kernels::kMaxLevels)) throw_bad_input(spec_.source, "torus has too many levels");
  std::int64_t strides[kTorusDims];
  std::int64_t s = 1;
  for (std::size_t d = 0; d < kTorusDims; ++d) {
    strides[d] = s;
    s *= t.dims[d];
  }
  const std::int64_t chips = spec_.nodes;
  // rank (digits, innermost first) -> chip index
  auto chip_of = [&](const std::vector<std::int64_t>& digit) {
    std::int64_t coord[kTorusDims] = {0, 0, 0};
    for (std::size_t i = 0; i < digits.size(); ++i) coord[digits[i].dim] += digit[i] * digits[i].coordinate_stride;
    std::int64_t c = 0;
    for (std::size_t d = 0; d < kTorusDims; ++d) c += coord[d] * strides[d];
    return c;
  };
  std::vector<double> load(links_.size(), 0);
  static const char* kAxis[kTorusDims] = {"x", "y", "z"};
  for (std::size_t l = 0; l < digits.size(); ++l) {
    std::vector<int> touched;
    std::size_t longest = 0;
    std::vector<std::int64_t> digit(digits.size(), 0);
    for (std::int64_t r = 0; r < chips; ++r) {
      std::int64_t x = r;
      for (std::size_t i = 0; i < digits.size(); ++i) {
        digit[i] = x % digits[i].size;
        x /= digits[i].size;
      }
      const std::int64_t from = chip_of(digit);
      const std::int64_t m = digits[l].size;
      for (const std::int64_t step : {std::int64_t{1}, m - 1}) {  // both ways round
        if (m == 2 && step == m - 1) continue;                    // a ring of two has one neighbour
        std::vector<std::int64_t> next = digit;
        next[l] = (digit[l] + step) % m;
        const std::vector<int> path = route(from, chip_of(next));
        longest = std::max(longest, path.size());
        for (int link : path) {
          if (load[static_cast<std::size_t>(link)] == 0) touched.push_back(link);
          load[static_cast<std::size_t>(link)] += 1;
        }
      }
    }
    double busiest = 0;
    for (int link : touched) {
      busiest = std::max(busiest, load[static_cast<std::size_t>(link)]);
      load[static_cast<std::size_t>(link)] = 0;
    }
    // Each member streams half its data each way round: a link with `busiest` streams carries
    // busiest / 2 members' worth (a ring of two sends all of it over its one route).
    const double directions = digits[l].size == 2 ? 1 : kTorusRingDirections;
    const double congestion = busiest / directions;
    NetworkLevel level;
    level.name = t.name + "-" + kAxis[digits[l].dim] + (digits[l].across_blocks ? "-blocks" : "");
    level.size = digits[l].size;
    level.bandwidth = t.link_bandwidth / congestion;
    level.latency = static_cast<double>(longest) * t.hop_latency;
    const double p2p = t.p2p_bandwidth > 0 ? t.p2p_bandwidth : t.link_bandwidth;
    level.p2p_bandwidth = p2p / std::max(1.0, congestion);
    levels_.push_back({level, congestion});
  }
  usable_gpus_ = chips;
}

void apply_topology(const Topology& topo, Cluster& cluster) {
  cluster.levels.clear();
  for (const Topology::DerivedLevel& l : topo.levels()) cluster.levels.push_back(l.level);
  cluster.max_gpus = topo.gpus_usable();
  if (topo.spec().is_torus && cluster.levels.empty()) throw_bad_input(topo.spec().source, "a torus of one chip has no network");
}

// ---------------------------------------------------------------------------------------------
// nest topology --from-cluster

Json topology_from_cluster(const std::string& cluster_spec, std::int64_t gpus, const std::vector<ClusterSetting>& settings) {
  const std::string path = resolve_preset(PresetKind::Cluster, cluster_spec);
  Json j = read_json_file(path);
  if (is_topology_json(j)) throw_bad_input(path, "is already a topology");
  apply_json_settings(j, {settings.begin(), settings.end()}, path);
  Outages set;
  set.settings = settings;
  const Cluster c = read_cluster(path, cluster_spec, set);
  (void)c.domain_sizes(gpus);
  const JsonObject o(j, path);
  // Figures are copied as the file writes them, so that reading them back gives the same doubles.
  Json out = Json::object();
  out["schema"] = kTopologySchema;
  out["name"] = c.name;
  out["description"] = "the hierarchical cluster " + c.name + " (" + path + ") as a topology of " + std::to_string(gpus) +
                       " GPUs, written by nest topology --from-cluster: one NIC per GPU, and a network of its own wherever a "
                       "level's figures differ from the level below";
  for (const char* key :
       {"gpu", "memory_MiB", "memory_GiB", "memory_GB", "host_memory_GBps_per_gpu", "host_memory_source", "sources"})
    if (j.contains(key)) out[key] = j[key];
  const auto levels = o.objects("levels");
  const Json& l0 = levels[0].raw();
  const std::int64_t node_gpus = c.levels[0].size > 0 ? c.levels[0].size : gpus;
  const std::int64_t nodes = ceil_div(gpus, node_gpus);
  out["nodes"] = nodes;
  Json node = {{"name", c.levels[0].name}, {"gpus", node_gpus}};
  for (const char* key : {"host_gpus", "host_source", "bandwidth_GBps", "latency_s", "p2p_bandwidth_GBps", "nvls_bandwidth_GBps",
                          "alltoall_bandwidth_GBps", "source"})
    if (l0.contains(key)) node[key] = l0[key];
  out["node"] = node;
  Json networks = Json::array();
  auto same = [](const Json& a, const Json& b, const char* key) {
    if (a.contains(key) != b.contains(key)) return false;
    return !a.contains(key) || a[key] == b[key];
  };
  for (std::size_t l = 1; l < levels.size(); ++l) {
    const Json& lv = levels[l].raw();
    const bool new_network =
        l == 1 || !same(lv, levels[l - 1].raw(), "bandwidth_GBps") || !same(lv, levels[l - 1].raw(), "p2p_bandwidth_GBps") ||
        !same(lv, levels[l - 1].raw(), "alltoall_bandwidth_GBps") || !same(lv, levels[l - 1].raw(), "lone_bandwidth_GBps");
    if (new_network) {
      Json net = {{"name", c.levels[l].name}, {"nics_per_node", node_gpus}, {"nic_bandwidth_GBps", lv["bandwidth_GBps"]}};
      for (const char* key : {"p2p_bandwidth_GBps", "alltoall_bandwidth_GBps", "source"})
        if (lv.contains(key)) net[key] = lv[key];
      if (lv.contains("lone_bandwidth_GBps")) net["nic_lone_bandwidth_GBps"] = lv["lone_bandwidth_GBps"];
      net["tiers"] = Json::array();
      networks.push_back(net);
    }
    Json tier = {{"name", c.levels[l].name}};
    if (c.levels[l].size > 0) tier["group"] = c.levels[l].size;
    tier["latency_s"] = lv["latency_s"];
    if (!new_network && lv.contains("source")) tier["source"] = lv["source"];
    if (lv.contains("nvls_bandwidth_GBps")) tier["nvls_bandwidth_GBps"] = lv["nvls_bandwidth_GBps"];
    networks.back()["tiers"].push_back(tier);
  }
  if (!networks.empty()) out["networks"] = networks;
  return out;
}

std::int64_t gpus_per_host(const Cluster& cluster, std::int64_t gpus) {
  if (cluster.topology && !cluster.topology->spec().is_torus) {
    const TopologySpec& s = cluster.topology->spec();
    return s.node_fabric.host_gpus > 0 ? s.node_fabric.host_gpus : s.node_gpus;
  }
  if (cluster.levels.empty()) return gpus;
  const NetworkLevel& first = cluster.levels.front();
  const std::int64_t n = first.host_gpus > 0 ? first.host_gpus : first.size;
  return n > 0 ? n : gpus;
}

std::shared_ptr<const Topology> topology_holding(const Cluster& cluster, std::int64_t largest_gpu, const std::string& flag,
                                                 const std::vector<ClusterSetting>& settings) {
  if (cluster.topology) {
    if (largest_gpu >= cluster.topology->gpus_total())
      throw_bad_input(flag, "GPU " + std::to_string(largest_gpu) + " does not exist (" + cluster.name + " has GPUs 0 to " +
                                std::to_string(cluster.topology->gpus_total() - 1) + ")");
    return cluster.topology;
  }
  const std::int64_t node = cluster.levels.front().size;
  const std::int64_t gpus = node > 0 ? (largest_gpu / node + 1) * node : largest_gpu + 1;
  try {
    (void)cluster.domain_sizes(gpus);
  } catch (const Error&) {
    throw_bad_input(flag, "GPU " + std::to_string(largest_gpu) + " does not exist in " + cluster.name);
  }
  const Json j = topology_from_cluster(cluster.source, gpus, settings);
  return std::make_shared<const Topology>(read_topology_spec(JsonObject(j, cluster.name + " as a topology")));
}

}  // namespace nest
