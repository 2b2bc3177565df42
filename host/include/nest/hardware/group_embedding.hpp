// Concrete groups of GPUs on a topology (nest collective --gpus, evaluate --explain-network;
// docs/cost-model.md §4, "Concrete groups on a topology"): how many members each group has at each
// level, and each level's figures from the busiest link its own rings cross, routed over the
// graph while every other group's rings load the same links.
//
// The rings are those Topology::derive_tree_levels runs for a whole cluster, restricted to the
// group: at tier t, in every tier-t domain the group uses, ring j joins the group's j-th GPU in
// each of its children (nodes, or tier t-1 domains). So the group of every GPU gets the levels
// the cluster derives, and on a hierarchy's own topology (nest topology --from-cluster) every
// group gets the hierarchy's figures exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"

namespace nest {

// The link a level's rings load most against its capacity (link -1: the group has no ring there).
struct BusiestLink {
  int link = -1;
  double load = 0;      // ring hops over it, of every group at once
  double capacity = 1;  // in NICs
};

// The same for people: the link's name and its load against its capacity.
struct LinkLoad {
  std::string link;       // "" when there is none to name
  double load = 0;        // ring hops
  double capacity = 0;    // NICs
  double congestion = 0;  // load / capacity
};
LinkLoad link_load(const Topology& topo, const BusiestLink& b);
// "leaf 0 -> spine 0: 32 ring hops on 16 NICs (congestion 2)"
std::string link_load_text(const LinkLoad& l);
// {"link", "load", "capacity_nics", "congestion"}
Json link_load_json(const LinkLoad& l);

struct GroupEmbedding {
  kernels::GroupShape shape;
  std::vector<NetworkLevel> levels;  // the topology's levels with this group's figures
  std::vector<double> congestion;    // per level; 1 at the node's fabric and where the group has no ring
  std::vector<BusiestLink> busiest;  // per level
};

// Embeds every group of `groups` at once: each one's shape, and its figures with all the groups'
// rings loading the same links (contention). Each group is a list of distinct GPUs (global
// indices) of `topo` that are up, with as many GPUs in every node it uses and as many children in
// every domain of each tier it spans: the hierarchical formulas of kernels/collectives.hpp price
// uniform groups. Bad input under flags[i] (the last flag for the rest) for a group i that is not
// so. Switched topologies only (a torus is bad input).
std::vector<GroupEmbedding> embed_groups(const Topology& topo, const std::vector<std::vector<std::int64_t>>& groups,
                                         const std::vector<std::string>& flags);

// For groups of one kind that sync at once, uneven ones included: per level l (0: the node, l:
// the tier l-1 domain), the fewest GPUs any of them has in a level-l domain it occupies (the
// domain that paces their collectives: docs/cost-model.md §5). Bad input under `flag` for a GPU
// that does not exist, is out or is named twice; a torus is bad input too.
std::vector<std::int64_t> fewest_in_a_domain(const Topology& topo, const std::vector<std::vector<std::int64_t>>& groups,
                                             const std::string& flag);

}  // namespace nest
