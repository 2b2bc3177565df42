#include "nest/cost/placement.hpp"

#include <algorithm>
#include <numeric>

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
  // and the replicas (outer).
  const std::int64_t n_dp = size[static_cast<int>(Dim::DP)];
  const std::int64_t n_shard = par.dp_shard > 0 && n_dp % par.dp_shard == 0 ? par.dp_shard : n_dp;
  double q_shard[kernels::kMaxLevels], q_rep[kernels::kMaxLevels];
  for (int l = 0; l < levels; ++l) {
    q_shard[l] = static_cast<double>(positions_in_domain(n_shard, stride[static_cast<int>(Dim::DP)], domain[l]));
    q_rep[l] = static_cast<double>(positions_in_domain(n_dp / n_shard, stride[static_cast<int>(Dim::DP)] * n_shard, domain[l]));
  }
  auto sub_shape = [&](const double* q_dp, bool with_cp_ep) {
    kernels::GroupShape g;
    g.num_levels = levels;
    double prev = 1;
    for (int l = 0; l < levels; ++l) {
      double inside = q_dp[l];
      if (with_cp_ep) inside *= q[static_cast<int>(Dim::CP)][l] * q[static_cast<int>(Dim::EP)][l];
      g.members[l] = inside / prev;
      prev = inside;
    }
    return g;
  };
  Placement p;
  p.dp_shard = sub_shape(q_shard, true);
  p.dp_replicate = sub_shape(q_rep, false);
  p.tp = shape({Dim::TP});
  p.cp = shape({Dim::CP});
  p.ep = shape({Dim::EP});
  p.dp = shape({Dim::CP, Dim::EP, Dim::DP});
  p.edp = shape({Dim::CP, Dim::DP});
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
  if (x.stride == y.stride && x.gpus == y.gpus && x.num_levels == y.num_levels &&
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
