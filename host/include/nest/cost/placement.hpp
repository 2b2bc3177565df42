// Which network level each parallel group spans, from the rank order and the cluster's levels.
//
// With dimensions of sizes n_k laid out innermost first (stride s_k = product of the sizes
// before k), a level-l domain of C_l GPUs holds q_kl = gcd(n_k, floor(C_l / s_k)) positions of
// dimension k (1 when C_l < s_k). A group made of dimensions G has prod_{k in G} q_kl members
// in each level-l domain; the ratio between consecutive levels is its GroupShape. For layouts
// whose domain boundaries fall on dimension boundaries (all power-of-two layouts) this is exact
// and every group of a dimension has the same shape; otherwise the gcd charges the group as if
// it were split at the coarsest boundary it can be, which over- rather than under-estimates.
// Pipeline sends are point to point and priced exactly, boundary by boundary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

// Pipeline boundaries are priced one by one at the level each crosses: `pp_layout` holds the
// few numbers kernels/pp_boundaries.hpp computes them from (any pp, on the host and the device).
// Expert layers (docs/cost-model.md §3): the expert tensor-parallel group `etp` is the tp group
// unless Parallelism::etp folds it (etp < tp); then the tp x cp x dp ranks of a stage are re-split
// for the experts as Megatron-Core's expert grid does (parallel_state.py:887-895, the same order
// string with cp = 1): etp innermost (consecutive ranks: the inner etp positions of the tp
// dimension), then ep, then edp = tp cp dp / (etp ep), so EP spans tp and cp ranks. That needs tp
// first among tp, cp, ep, dp and the four adjacent (pp outermost or innermost); in other orders
// (no framework builds them) ep stays where the order puts it and edp takes the outer tp / etp
// positions of the tp dimension with cp and dp / ep.
struct Placement {
  kernels::GroupShape tp, cp, ep, dp, edp, pp;
  kernels::GroupShape etp;
  // The ZeRO / FSDP shard group and the group its shards are replicated across (HSDP); without
  // HSDP the shard group is dp and the replicate group has one member.
  kernels::GroupShape dp_shard, dp_replicate;
  kernels::PipelineLayout pp_layout;
  bool from_rank_map = false;  // place_rank_map's, not the rank order's
};

Placement place_groups(const Cluster& cluster, const Parallelism& par, const RankOrder& order);

// The kinds of group a plan's collectives run over, as Placement names them: etp and edp the
// expert layers' (folded or not), dp_shard and dp_replicate HSDP's parts of dp.
enum class GroupKind : int { TP = 0, CP, EP, DP, ExpertDP, ExpertTP, DpShard, DpReplicate, PP };

// The groups of `kind` of `par` laid out in `order` (the ranks that differ only in the kind's
// coordinates, as place_groups lays them out: HSDP's shard and replica groups and the folded
// expert grid included), each listed as the GPUs `gpu_of_rank` gives its ranks, in rank order;
// the groups in the order of their lowest ranks.
std::vector<std::vector<std::int64_t>> rank_groups(const Parallelism& par, const RankOrder& order, GroupKind kind,
                                                   const std::vector<std::int64_t>& gpu_of_rank);

// The pairs (GPU of a rank of stage b, GPU of the same coordinates in stage b+1) of every pipeline
// boundary b = 0 .. p-2, then the interleaved schedule's wrap (stage p-1 to stage 0) as boundary
// p-1. Empty for pp = 1.
std::vector<std::vector<std::vector<std::int64_t>>> pipeline_pairs(const Parallelism& par, const RankOrder& order,
                                                                   const std::vector<std::int64_t>& gpu_of_rank);

// The placement a rank map gives (nest evaluate --rank-map; docs/cost-model.md §5): rank r on
// GPU gpu_of_rank[r] of `topo`. Each kind of group gets the shape its GPUs have on the graph
// (all groups of a kind must have the same one), each pipeline boundary the level its farthest
// pair crosses. Bad input under `where` for a map the level formulas cannot price: groups of one
// kind placed differently, a group uneven across nodes, more than kernels::kMaxMappedBoundaries
// stages. Under HSDP the shard, replica and expert shard groups, and with folded expert TP the
// expert grid's groups, are counted the same way.
Placement place_rank_map(const Cluster& cluster, const Topology& topo, const Parallelism& par, const RankOrder& order,
                         const std::vector<std::int64_t>& gpu_of_rank, const std::string& where);

// Level of every pipeline boundary: stage i to i+1 for i = 0 .. p-2, then, when `with_wrap`,
// the interleaved schedule's wrap from the last stage to the first. Empty for pp = 1.
std::vector<int> pp_boundary_levels(const Placement& placement, bool with_wrap);

// Whether two placements price every pipeline boundary (the wrap included) at the same level.
bool same_pp_levels(const Placement& a, const Placement& b);

// Whether two placements are equivalent: every group has the same shape on the network and every
// pipeline boundary crosses the same level (two rank orders that give them cost the same).
bool same_placement(const Placement& a, const Placement& b);

// The groups a layer's collectives run over, on `net` (kernels/transformer.hpp's CommContext).
kernels::CommContext comm_context(const kernels::Network& net, const Placement& placement);

// Name of the outermost level a group spans ("-" for a group of one).
std::string spanned_level(const Cluster& cluster, const kernels::GroupShape& g);

}  // namespace nest
