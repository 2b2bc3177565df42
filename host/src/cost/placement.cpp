#include "nest/cost/placement.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include "nest/core/error.hpp"
#include "nest/hardware/group_embedding.hpp"

namespace nest {

namespace {

std::int64_t positions_in_domain(std::int64_t size, std::int64_t stride, std::int64_t domain) {
  if (domain < stride) return 1;
  return std::gcd(size, domain / stride);
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
  const std::array<std::int64_t, 5> size = dense_grid_sizes(par);
  std::int64_t stride[5];
  std::int64_t st = 1;
  for (Dim d : order.dims) {
    stride[static_cast<int>(d)] = st;
    st *= size[static_cast<int>(d)];
  }
  // q[k][l]: positions of dimension k inside one level-l domain
  double q[5][kernels::kMaxLevels];
  for (int k = 0; k < 5; ++k)
    for (int l = 0; l < levels; ++l) q[k][l] = static_cast<double>(positions_in_domain(size[k], stride[k], domain[l]));
  auto shape = [&](std::initializer_list<Dim> dims) {
    kernels::GroupShape g;
    g.num_levels = levels;
    double prev = 1;
    for (int l = 0; l < levels; ++l) {
      double inside = 1;
      for (Dim d : dims) inside *= q[static_cast<int>(d)][l];
      g.members[l] = inside / prev;
      prev = inside;
    }
    return g;
  };
  // HSDP splits the data-parallel dimension into the shard groups (inner, consecutive positions)
  // and the replicas (outer). dp_shard counts the shard group's data-parallel ranks, the EP
  // dimension's among them: the DP dimension contributes dp_shard / ep positions.
  const std::int64_t n_dp = size[static_cast<int>(Dim::DP)];
  const std::int64_t n_ep = size[static_cast<int>(Dim::EP)];
  const std::int64_t shard_dp = par.dp_shard > 0 && par.dp_shard % n_ep == 0 ? par.dp_shard / n_ep : 0;
  const std::int64_t n_shard = shard_dp > 0 && n_dp % shard_dp == 0 ? shard_dp : n_dp;
  double q_shard[kernels::kMaxLevels], q_rep[kernels::kMaxLevels];
  for (int l = 0; l < levels; ++l) {
    q_shard[l] = static_cast<double>(positions_in_domain(n_shard, stride[static_cast<int>(Dim::DP)], domain[l]));
    q_rep[l] = static_cast<double>(positions_in_domain(n_dp / n_shard, stride[static_cast<int>(Dim::DP)] * n_shard, domain[l]));
  }
  auto sub_shape = [&](const double* q_dp, bool with_cp, bool with_ep) {
    kernels::GroupShape g;
    g.num_levels = levels;
    double prev = 1;
    for (int l = 0; l < levels; ++l) {
      double inside = q_dp[l];
      if (with_cp) inside *= q[static_cast<int>(Dim::CP)][l];
      if (with_ep) inside *= q[static_cast<int>(Dim::EP)][l];
      g.members[l] = inside / prev;
      prev = inside;
    }
    return g;
  };
  Placement p;
  p.dp_shard = sub_shape(q_shard, true, true);
  p.dp_replicate = sub_shape(q_rep, false, false);
  p.tp = shape({Dim::TP});
  p.cp = shape({Dim::CP});
  p.ep = shape({Dim::EP});
  p.dp = shape({Dim::CP, Dim::EP, Dim::DP});
  // Experts are sharded over the expert-data-parallel ranks; under HSDP over those of their shard
  // group (torchtitan's efsdp), and replicated like the dense shards.
  p.edp = n_shard < n_dp ? sub_shape(q_shard, true, false) : shape({Dim::CP, Dim::DP});
  p.pp = shape({Dim::PP});
  p.etp = p.tp;
  if (par.folded()) {
    // positions of a mixed-radix sub-dimension of `n` values at stride `s`, per level
    auto sub = [&](std::int64_t n, std::int64_t s, double* out) {
      for (int l = 0; l < levels; ++l) out[l] = static_cast<double>(positions_in_domain(n, s, domain[l]));
    };
    auto as_shape = [&](std::initializer_list<const double*> parts) {
      kernels::GroupShape g;
      g.num_levels = levels;
      double prev = 1;
      for (int l = 0; l < levels; ++l) {
        double inside = 1;
        for (const double* q_part : parts) inside *= q_part[l];
        g.members[l] = inside / prev;
        prev = inside;
      }
      return g;
    };
    const std::int64_t etp = par.etp, ep = par.ep;
    const std::int64_t base = stride[static_cast<int>(Dim::TP)];
    double q_etp[kernels::kMaxLevels], q_ep[kernels::kMaxLevels], q_edp[kernels::kMaxLevels];
    sub(etp, base, q_etp);
    if (on_expert_grid(order)) {
      const std::int64_t edp = par.edp();
      sub(ep, base * etp, q_ep);
      sub(edp, base * etp * ep, q_edp);
      p.ep = as_shape({q_ep});
    } else {
      double q_outer[kernels::kMaxLevels];
      sub(size[static_cast<int>(Dim::TP)] / etp, base * etp, q_outer);
      for (int l = 0; l < levels; ++l) q_edp[l] = q_outer[l] * q[static_cast<int>(Dim::CP)][l] * q[static_cast<int>(Dim::DP)][l];
    }
    p.etp = as_shape({q_etp});
    p.edp = as_shape({q_edp});
  }
  kernels::PipelineLayout& x = p.pp_layout;
  x.stages = par.pp;
  x.stride = stride[static_cast<int>(Dim::PP)];
  x.gpus = gpus;
  x.num_levels = levels;
  for (int l = 0; l < levels; ++l) x.domain[l] = domain[l];
  return p;
}

std::vector<std::vector<std::int64_t>> rank_groups(const Parallelism& par, const RankOrder& order, const std::vector<Dim>& dims,
                                                   const std::vector<std::int64_t>& gpu_of_rank) {
  const std::array<std::int64_t, 5> size = dense_grid_sizes(par);
  std::map<std::int64_t, std::vector<std::int64_t>> by_key;
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(gpu_of_rank.size()); ++r) {
    const std::array<std::int64_t, 5> c = rank_coordinates(order, size, r);
    std::int64_t key = 0;
    for (Dim d : order.dims)
      if (std::find(dims.begin(), dims.end(), d) == dims.end())
        key = key * size[static_cast<std::size_t>(d)] + c[static_cast<std::size_t>(d)];
    by_key[key].push_back(gpu_of_rank[static_cast<std::size_t>(r)]);
  }
  std::vector<std::vector<std::int64_t>> out;
  for (auto& [key, g] : by_key) out.push_back(std::move(g));
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
  if (par.folded())
    throw_bad_input(where, "a rank map is not priced with folded expert tensor parallelism (etp < tp) yet; use --order");
  if (par.dp_shard > 0 && par.dp_shard != par.dp)
    throw_bad_input(where, "a rank map is not priced with HSDP (dp_shard < dp) yet; use --order");
  if (par.pp > kernels::kMaxMappedBoundaries)
    throw_bad_input(where, "a rank map prices at most " + std::to_string(kernels::kMaxMappedBoundaries) + " pipeline stages");
  Placement p = place_groups(cluster, par, order);
  p.from_rank_map = true;
  const int levels = static_cast<int>(cluster.levels.size());
  auto members_text = [](const kernels::GroupShape& g) {
    std::string t;
    for (int l = 0; l < g.num_levels; ++l) {
      if (l > 0) t += 'x';
      t += std::to_string(static_cast<long long>(g.members[l]));
    }
    return t;
  };
  // The shape every group of the kind has on the graph, with no fewer levels than the rank
  // order's placement lists (the extra ones hold one member).
  auto shape = [&](const char* kind, const std::vector<Dim>& dims, int base_levels) {
    const auto groups = rank_groups(par, order, dims, gpu_of_rank);
    kernels::GroupShape g;
    g.num_levels = base_levels;
    for (int l = 0; l < kernels::kMaxLevels; ++l) g.members[l] = 1;
    if (groups.front().size() < 2) return g;
    const std::vector<GroupEmbedding> e = embed_groups(topo, groups, {where});
    if (e[0].shape.num_levels != levels) throw_runtime("rank map: the topology's levels are not the cluster's");
    for (std::size_t k = 1; k < e.size(); ++k)
      for (int l = 0; l < levels; ++l)
        if (e[k].shape.members[l] != e[0].shape.members[l])
          throw_bad_input(where, std::string("the ") + kind + " group of GPU " + std::to_string(groups[k].front()) + " has " +
                                     members_text(e[k].shape) + " members per level where the one of GPU " +
                                     std::to_string(groups[0].front()) + " has " + members_text(e[0].shape) +
                                     "; groups of one kind are priced alike, so place them alike");
    int top = 0;
    for (int l = 0; l < levels; ++l) {
      g.members[l] = e[0].shape.members[l];
      if (g.members[l] > 1) top = l;
    }
    g.num_levels = std::max(base_levels, top + 1);
    return g;
  };
  p.tp = shape("TP", {Dim::TP}, p.tp.num_levels);
  p.cp = shape("CP", {Dim::CP}, p.cp.num_levels);
  p.ep = shape("EP", {Dim::EP}, p.ep.num_levels);
  p.dp = shape("DP", {Dim::CP, Dim::EP, Dim::DP}, p.dp.num_levels);
  p.edp = shape("expert DP", {Dim::CP, Dim::DP}, p.edp.num_levels);
  p.etp = p.tp;
  p.dp_shard = p.dp;
  for (int l = 0; l < p.dp_replicate.num_levels; ++l) p.dp_replicate.members[l] = 1;
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
  // The pipeline group's shape only names the level it spans in reports (its sends are priced
  // boundary by boundary above), so a pipeline uneven across nodes is not refused: it is shown
  // spanning its farthest boundary's level.
  try {
    p.pp = shape("PP", {Dim::PP}, p.pp.num_levels);
  } catch (const Error&) {
    int top = 0;
    for (std::size_t b = 0; b < pairs.size(); ++b) top = std::max(top, static_cast<int>(x.mapped_level[b]));
    for (int l = 0; l < kernels::kMaxLevels; ++l) p.pp.members[l] = l == top ? par.pp : 1;
    p.pp.num_levels = std::max(p.pp.num_levels, top + 1);
  }
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
