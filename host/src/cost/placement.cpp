#include "nest/cost/placement.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <map>
#include <numeric>

#include "nest/core/error.hpp"
#include "nest/hardware/group_embedding.hpp"

namespace nest {

namespace {

// A mixed-radix coordinate of the rank grid (a dimension of the rank order, or a part of one):
// `size` positions, `stride` ranks apart.
struct Axis {
  std::int64_t size = 1, stride = 1;
};

// The axes a group's members differ in: at most three (DP: cp, ep, dp), held in place since
// place_groups runs for every candidate rank order of every slice.
struct AxisSet {
  std::array<Axis, 3> axes{};
  int n = 0;
  AxisSet(std::initializer_list<Axis> list = {}) {
    for (const Axis& a : list) axes[static_cast<std::size_t>(n++)] = a;
  }
  const Axis* begin() const { return axes.data(); }
  const Axis* end() const { return axes.data() + n; }
};

std::int64_t positions_in_domain(const Axis& a, std::int64_t domain) {
  if (domain < a.stride) return 1;
  return std::gcd(a.size, domain / a.stride);
}

// Whether every block of `domain` consecutive ranks holds as many of the axis's positions as
// every other (the whole axis, or whole positions that tile it, or one position), which the
// gcd above then counts exactly.
bool tiles(const Axis& a, std::int64_t domain) {
  return a.size == 1 || domain % (a.stride * a.size) == 0 || a.stride % domain == 0 ||
         (domain % a.stride == 0 && a.size % (domain / a.stride) == 0);
}

// The shape of groups of n GPUs that hold at least fewest[l] of their GPUs in every level-l
// domain they occupy: in a level-l domain the largest count h_l <= fewest[l] that divides n and
// holds whole domains of the level below (h_{l-1} | h_l).
kernels::GroupShape shape_held(const std::int64_t* fewest, std::int64_t n, int levels) {
  kernels::GroupShape g;
  g.num_levels = levels;
  std::int64_t prev = 1;
  for (int l = 0; l < levels; ++l) {
    std::int64_t held = prev;
    for (std::int64_t h = prev; h <= fewest[l]; h += prev)
      if (n % h == 0) held = h;
    g.members[l] = static_cast<double>(held / prev);
    prev = held;
  }
  return g;
}

// The members per level of the groups spanned by `axes` (the ranks that differ only in those
// coordinates), on domains of `domain[l]` consecutive ranks (the last holds the job).
// Where every axis tiles every domain all groups have the same shape, counted by the gcd: m_0 the
// positions in one level-0 domain, m_l the level-(l-1) domains in one level-l domain. Where one
// does not (a stride of 3 on 8-GPU nodes, a job that fills its last domain in part) groups differ
// (3, 3 and 2 GPUs on three nodes), and the gcd can count more members in a domain than some
// group has there. Every group is then walked rank by rank, and the shape holds in a level-l
// domain the largest count `h_l` of its GPUs that is at most the fewest any group has in a
// level-l domain it occupies, divides the group's size and holds whole domains of the level
// below (`h_{l-1} | h_l`). A collective's GPUs in a domain share what crosses it, so the domain
// with the fewest paces the step (every group syncs at once): priced so, no GPU carries less
// than the busiest does, and no group spans more domains than the shape gives it
// (docs/cost-model.md §5).
kernels::GroupShape group_shape(const AxisSet& group, const std::int64_t* domain, int levels) {
  kernels::GroupShape g;
  g.num_levels = levels;
  bool uniform = true;
  for (const Axis& a : group)
    for (int l = 0; l < levels; ++l) uniform = uniform && tiles(a, domain[l]);
  if (uniform) {
    std::int64_t prev = 1;
    for (int l = 0; l < levels; ++l) {
      std::int64_t inside = 1;
      for (const Axis& a : group) inside *= positions_in_domain(a, domain[l]);
      g.members[l] = static_cast<double>(inside) / static_cast<double>(prev);
      prev = inside;
    }
    return g;
  }
  std::vector<Axis> axes(group.begin(), group.end());  // sorted and pruned below
  axes.erase(std::remove_if(axes.begin(), axes.end(), [](const Axis& a) { return a.size <= 1; }), axes.end());
  std::sort(axes.begin(), axes.end(), [](const Axis& a, const Axis& b) { return a.stride < b.stride; });
  std::int64_t n = 1;
  for (const Axis& a : axes) n *= a.size;
  const std::int64_t gpus = domain[levels - 1];
  std::int64_t fewest[kernels::kMaxLevels];
  std::fill(fewest, fewest + levels, n);
  for (std::int64_t key = 0; key < gpus; ++key) {
    bool first = true;  // the group's lowest rank: every axis coordinate 0
    for (const Axis& a : axes) first = first && (key / a.stride) % a.size == 0;
    if (!first) continue;
    // Members in increasing rank order (the smallest stride the fastest): a group's GPUs in one
    // domain are a run.
    std::int64_t run[kernels::kMaxLevels] = {}, at[kernels::kMaxLevels];
    std::fill(at, at + levels, -1);
    for (std::int64_t i = 0; i <= n; ++i) {
      std::int64_t rank = key, rest = i;
      for (const Axis& a : axes) {
        rank += (rest % a.size) * a.stride;
        rest /= a.size;
      }
      for (int l = 0; l < levels; ++l) {
        const std::int64_t d = i < n ? rank / domain[l] : -2;  // past the last member: close every run
        if (d == at[l]) {
          ++run[l];
          continue;
        }
        if (at[l] >= 0) fewest[l] = std::min(fewest[l], run[l]);
        at[l] = d;
        run[l] = 1;
      }
    }
  }
  return shape_held(fewest, n, levels);
}

// HSDP: the data-parallel dimension's positions in one shard group (its inner, consecutive
// positions; dp_shard counts the shard group's data-parallel ranks, the EP dimension's among
// them); all of them without HSDP.
std::int64_t shard_positions(const Parallelism& par) {
  const std::array<std::int64_t, 5> size = dense_grid_sizes(par);
  const std::int64_t n_dp = size[static_cast<int>(Dim::DP)];
  const std::int64_t n_ep = size[static_cast<int>(Dim::EP)];
  const std::int64_t shard_dp = par.dp_shard > 0 && par.dp_shard % n_ep == 0 ? par.dp_shard / n_ep : 0;
  return shard_dp > 0 && n_dp % shard_dp == 0 ? shard_dp : n_dp;
}

constexpr int kGroupKinds = static_cast<int>(GroupKind::PP) + 1;

// Every kind of group as the axes of the rank grid its members differ in: the one layout that
// place_groups counts by formula and rank_groups lists rank by rank. The dense kinds are
// dimensions of the order (or sets of them); HSDP splits the data-parallel dimension into the
// shard groups (inner, consecutive positions) and the replicas (outer); folded expert TP splits
// the tp dimension (Placement's comment says how).
struct GroupAxes {
  std::array<AxisSet, kGroupKinds> of;
  std::int64_t pp_stride = 1;
};

GroupAxes group_axes(const Parallelism& par, const RankOrder& order) {
  const std::array<std::int64_t, 5> size = dense_grid_sizes(par);
  std::int64_t stride[5];
  std::int64_t st = 1;
  for (Dim d : order.dims) {
    stride[static_cast<int>(d)] = st;
    st *= size[static_cast<int>(d)];
  }
  auto axis = [&](Dim d) { return Axis{size[static_cast<int>(d)], stride[static_cast<int>(d)]}; };
  const std::int64_t n_dp = size[static_cast<int>(Dim::DP)];
  const std::int64_t n_shard = shard_positions(par);
  const Axis shard{n_shard, stride[static_cast<int>(Dim::DP)]};
  const Axis replica{n_dp / n_shard, stride[static_cast<int>(Dim::DP)] * n_shard};
  GroupAxes g;
  auto set = [&](GroupKind k, AxisSet axes) { g.of[static_cast<int>(k)] = axes; };
  set(GroupKind::TP, {axis(Dim::TP)});
  set(GroupKind::CP, {axis(Dim::CP)});
  set(GroupKind::EP, {axis(Dim::EP)});
  set(GroupKind::DP, {axis(Dim::CP), axis(Dim::EP), axis(Dim::DP)});
  // Experts are sharded over the expert-data-parallel ranks; under HSDP over those of their shard
  // group (torchtitan's efsdp), and replicated like the dense shards.
  set(GroupKind::ExpertDP, n_shard < n_dp ? AxisSet{shard, axis(Dim::CP)} : AxisSet{axis(Dim::CP), axis(Dim::DP)});
  set(GroupKind::ExpertTP, {axis(Dim::TP)});
  set(GroupKind::DpShard, {shard, axis(Dim::CP), axis(Dim::EP)});
  set(GroupKind::DpReplicate, {replica});
  set(GroupKind::PP, {axis(Dim::PP)});
  if (par.folded()) {
    // mixed-radix parts of the tp dimension and the expert grid's dimensions
    const std::int64_t etp = par.etp, ep = par.ep;
    const std::int64_t base = stride[static_cast<int>(Dim::TP)];
    set(GroupKind::ExpertTP, {Axis{etp, base}});
    if (on_expert_grid(order)) {
      set(GroupKind::EP, {Axis{ep, base * etp}});
      set(GroupKind::ExpertDP, {Axis{par.edp(), base * etp * ep}});
    } else {
      set(GroupKind::ExpertDP, {Axis{size[static_cast<int>(Dim::TP)] / etp, base * etp}, axis(Dim::CP), axis(Dim::DP)});
    }
  }
  g.pp_stride = stride[static_cast<int>(Dim::PP)];
  return g;
}

}  // namespace

Placement place_groups(const Cluster& cluster, const Parallelism& par, const RankOrder& order) {
  const std::int64_t gpus = par.gpus();
  // Cumulative domain sizes (Cluster::domain_sizes without the allocation; this runs for every
  // candidate rank order of every slice).
  std::int64_t domain[kernels::kMaxLevels];
  int levels = 0;
  std::int64_t below = 1;
  for (std::size_t l = 0; l < cluster.levels.size(); ++l) {
    if (cluster.levels[l].size == 0 || below * cluster.levels[l].size >= gpus) {
      domain[levels++] = gpus;
      break;
    }
    below *= cluster.levels[l].size;
    domain[levels++] = below;
  }
  if (levels == 0 || domain[levels - 1] != gpus) (void)cluster.domain_sizes(gpus);  // reports the error
  const GroupAxes axes = group_axes(par, order);
  auto shape = [&](GroupKind k) { return group_shape(axes.of[static_cast<int>(k)], domain, levels); };
  Placement p;
  p.tp = shape(GroupKind::TP);
  p.cp = shape(GroupKind::CP);
  p.ep = shape(GroupKind::EP);
  p.dp = shape(GroupKind::DP);
  p.edp = shape(GroupKind::ExpertDP);
  p.pp = shape(GroupKind::PP);
  p.etp = par.folded() ? shape(GroupKind::ExpertTP) : p.tp;
  p.dp_shard = shape(GroupKind::DpShard);
  p.dp_replicate = shape(GroupKind::DpReplicate);
  kernels::PipelineLayout& x = p.pp_layout;
  x.stages = par.pp;
  x.stride = axes.pp_stride;
  x.gpus = gpus;
  x.num_levels = levels;
  for (int l = 0; l < levels; ++l) x.domain[l] = domain[l];
  return p;
}

std::vector<std::vector<std::int64_t>> rank_groups(const Parallelism& par, const RankOrder& order, GroupKind kind,
                                                   const std::vector<std::int64_t>& gpu_of_rank) {
  const GroupAxes all = group_axes(par, order);
  const AxisSet& axes = all.of[static_cast<int>(kind)];
  // A group's key: its lowest rank (every axis digit 0).
  std::map<std::int64_t, std::vector<std::int64_t>> by_key;
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(gpu_of_rank.size()); ++r) {
    std::int64_t key = r;
    for (const Axis& a : axes) key -= (r / a.stride) % a.size * a.stride;
    by_key[key].push_back(gpu_of_rank[static_cast<std::size_t>(r)]);
  }
  std::vector<std::vector<std::int64_t>> out;
  out.reserve(by_key.size());
  for (auto& [k, g] : by_key) out.push_back(std::move(g));
  return out;
}

std::vector<std::vector<std::vector<std::int64_t>>> pipeline_pairs(const Parallelism& par, const RankOrder& order,
                                                                   const std::vector<std::int64_t>& gpu_of_rank) {
  const std::array<std::int64_t, 5> size = dense_grid_sizes(par);
  const std::int64_t p = size[static_cast<std::size_t>(Dim::PP)];
  std::vector<std::vector<std::vector<std::int64_t>>> out;
  if (p < 2) return out;
  out.resize(static_cast<std::size_t>(p));
  std::int64_t stride = 1;  // of the pp dimension in the order
  for (Dim d : order.dims) {
    if (d == Dim::PP) break;
    stride *= size[static_cast<std::size_t>(d)];
  }
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(gpu_of_rank.size()); ++r) {
    const std::int64_t stage = rank_coordinates(order, size, r)[static_cast<std::size_t>(Dim::PP)];
    const std::int64_t next = stage + 1 < p ? r + stride : r - (p - 1) * stride;
    out[static_cast<std::size_t>(stage)].push_back(
        {gpu_of_rank[static_cast<std::size_t>(r)], gpu_of_rank[static_cast<std::size_t>(next)]});
  }
  return out;
}

Placement place_rank_map(const Cluster& cluster, const Topology& topo, const Parallelism& par, const RankOrder& order,
                         const std::vector<std::int64_t>& gpu_of_rank, const std::string& where) {
  if (par.pp > kernels::kMaxMappedBoundaries)
    throw_bad_input(where, "a rank map prices at most " + std::to_string(kernels::kMaxMappedBoundaries) + " pipeline stages");
  Placement p = place_groups(cluster, par, order);
  p.from_rank_map = true;
  const int levels = static_cast<int>(cluster.levels.size());
  // The shape the groups of a kind are priced at where the map puts them, by the rule
  // group_shape applies to an uneven layout of the rank order: each level holds what the group
  // with the fewest GPUs in one of its domains holds there (the domain that paces the step, every
  // group syncing at once); with no fewer levels than the rank order's placement lists (the extra
  // ones hold one member).
  auto shape_of = [&](const std::vector<std::vector<std::int64_t>>& groups, int base_levels) {
    kernels::GroupShape g;
    g.num_levels = base_levels;
    for (int l = 0; l < kernels::kMaxLevels; ++l) g.members[l] = 1;
    if (groups.front().size() < 2) return g;
    const std::vector<std::int64_t> fewest = fewest_in_a_domain(topo, groups, where);
    if (static_cast<int>(fewest.size()) != levels) throw_runtime("rank map: the topology's levels are not the cluster's");
    const kernels::GroupShape held = shape_held(fewest.data(), static_cast<std::int64_t>(groups.front().size()), levels);
    int top = 0;
    for (int l = 0; l < levels; ++l) {
      g.members[l] = held.members[l];
      if (g.members[l] > 1) top = l;
    }
    g.num_levels = std::max(base_levels, top + 1);
    return g;
  };
  auto shape = [&](GroupKind k, int base_levels) { return shape_of(rank_groups(par, order, k, gpu_of_rank), base_levels); };
  // Every kind of group as place_groups lays it out (group_axes), counted where the map puts its
  // ranks: under HSDP the shard and replica groups and the experts' shard groups, with folded
  // expert TP the expert grid's groups.
  const bool hsdp = shard_positions(par) < dense_grid_sizes(par)[static_cast<int>(Dim::DP)];
  p.tp = shape(GroupKind::TP, p.tp.num_levels);
  p.cp = shape(GroupKind::CP, p.cp.num_levels);
  p.ep = shape(GroupKind::EP, p.ep.num_levels);
  p.dp = shape(GroupKind::DP, p.dp.num_levels);
  p.edp = shape(GroupKind::ExpertDP, p.edp.num_levels);
  p.etp = par.folded() ? shape(GroupKind::ExpertTP, p.etp.num_levels) : p.tp;
  if (hsdp) {
    p.dp_shard = shape(GroupKind::DpShard, p.dp_shard.num_levels);
    p.dp_replicate = shape(GroupKind::DpReplicate, p.dp_replicate.num_levels);
  } else {
    p.dp_shard = p.dp;
    for (int l = 0; l < p.dp_replicate.num_levels; ++l) p.dp_replicate.members[l] = 1;
  }
  // Each boundary at the level of its farthest pair: the lowest whose domains hold both GPUs.
  const auto pairs = pipeline_pairs(par, order, gpu_of_rank);
  const std::int64_t g = topo.spec().node_gpus;
  const std::vector<std::int64_t>& per = topo.nodes_per_tier_domain();
  kernels::PipelineLayout& x = p.pp_layout;
  x.mapped = pairs.empty() ? 0 : 1;
  for (std::size_t b = 0; b < pairs.size(); ++b) {
    int level = 0;
    for (const auto& pair : pairs[b]) {
      const std::int64_t na = pair[0] / g, nb = pair[1] / g;
      int l = 0;
      if (na != nb) {
        std::size_t t = 0;
        while (t < per.size() && na / per[t] != nb / per[t]) ++t;
        l = static_cast<int>(t) + 1;
      }
      level = std::max(level, l);
    }
    x.mapped_level[b] = static_cast<signed char>(level);
  }
  // The pipeline group's shape only names the level it spans in reports: its sends are priced
  // boundary by boundary above.
  p.pp = shape(GroupKind::PP, p.pp.num_levels);
  return p;
}

std::vector<int> pp_boundary_levels(const Placement& placement, bool with_wrap) {
  const int p = placement.pp_layout.stages;
  std::vector<int> out;
  if (p < 2) return out;
  for (int b = 0; b < p - (with_wrap ? 0 : 1); ++b) out.push_back(kernels::pp_boundary_level(placement.pp_layout, b));
  return out;
}

bool same_pp_levels(const Placement& a, const Placement& b) {
  const kernels::PipelineLayout &x = a.pp_layout, &y = b.pp_layout;
  if (x.stages != y.stages) return false;
  if (!x.mapped && !y.mapped && x.stride == y.stride && x.gpus == y.gpus && x.num_levels == y.num_levels &&
      std::equal(x.domain, x.domain + x.num_levels, y.domain))
    return true;
  for (int i = 0; i < x.stages; ++i)
    if (kernels::pp_boundary_level(x, i) != kernels::pp_boundary_level(y, i)) return false;
  return true;
}

bool same_placement(const Placement& a, const Placement& b) {
  const kernels::GroupShape* ga[] = {&a.tp, &a.cp, &a.ep, &a.dp, &a.edp, &a.pp, &a.dp_shard, &a.dp_replicate, &a.etp};
  const kernels::GroupShape* gb[] = {&b.tp, &b.cp, &b.ep, &b.dp, &b.edp, &b.pp, &b.dp_shard, &b.dp_replicate, &b.etp};
  for (int g = 0; g < 9; ++g) {
    if (ga[g]->num_levels != gb[g]->num_levels) return false;
    for (int l = 0; l < ga[g]->num_levels; ++l)
      if (ga[g]->members[l] != gb[g]->members[l]) return false;
  }
  return same_pp_levels(a, b);  // last: the dearest test
}

kernels::CommContext comm_context(const kernels::Network& net, const Placement& placement) {
  kernels::CommContext c;
  c.net = net;
  c.tp = placement.tp;
  c.cp = placement.cp;
  c.ep = placement.ep;
  c.dp = placement.dp;
  c.edp = placement.edp;
  c.etp = placement.etp;
  c.shard = placement.dp_shard;
  c.replicate = placement.dp_replicate;
  c.pp = placement.pp_layout;
  return c;
}

std::string spanned_level(const Cluster& cluster, const kernels::GroupShape& g) {
  int top = -1;
  for (int l = 0; l < g.num_levels; ++l)
    if (g.members[l] > 1) top = l;
  return top < 0 ? "-" : cluster.levels[static_cast<std::size_t>(top)].name;
}

}  // namespace nest
