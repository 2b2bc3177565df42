#include "nest/cost/placement.hpp"

#include <numeric>

namespace nest {

namespace {

struct DimLayout {
  std::int64_t size[5] = {1, 1, 1, 1, 1};
  std::int64_t stride[5] = {1, 1, 1, 1, 1};
};

std::int64_t positions_in_domain(const DimLayout& lay, Dim d, std::int64_t domain) {
  const int k = static_cast<int>(d);
  if (domain < lay.stride[k]) return 1;
  return std::gcd(lay.size[k], domain / lay.stride[k]);
}

kernels::GroupShape shape_of(const DimLayout& lay, const std::vector<std::int64_t>& domains, std::initializer_list<Dim> dims) {
  kernels::GroupShape g;
  g.num_levels = static_cast<int>(domains.size());
  double below = 1;
  for (std::size_t l = 0; l < domains.size(); ++l) {
    double inside = 1;
    for (Dim d : dims) inside *= static_cast<double>(positions_in_domain(lay, d, domains[l]));
    g.members[l] = inside / below;
    below = inside;
  }
  return g;
}

}  // namespace

Placement place_groups(const Cluster& cluster, const Parallelism& par, const RankOrder& order) {
  Placement p;
  p.domains = cluster.domain_sizes(par.gpus());
  DimLayout lay;
  lay.size[static_cast<int>(Dim::TP)] = par.tp;
  lay.size[static_cast<int>(Dim::CP)] = par.cp;
  lay.size[static_cast<int>(Dim::EP)] = par.ep;
  lay.size[static_cast<int>(Dim::DP)] = par.dp / par.ep;
  lay.size[static_cast<int>(Dim::PP)] = par.pp;
  std::int64_t stride = 1;
  for (Dim d : order.dims) {
    lay.stride[static_cast<int>(d)] = stride;
    stride *= lay.size[static_cast<int>(d)];
  }
  p.tp = shape_of(lay, p.domains, {Dim::TP});
  p.cp = shape_of(lay, p.domains, {Dim::CP});
  p.ep = shape_of(lay, p.domains, {Dim::EP});
  p.dp = shape_of(lay, p.domains, {Dim::CP, Dim::EP, Dim::DP});
  p.edp = shape_of(lay, p.domains, {Dim::CP, Dim::DP});
  p.pp = shape_of(lay, p.domains, {Dim::PP});
  if (par.pp > 1) {
    for (std::size_t l = 0; l < p.domains.size(); ++l)
      if (positions_in_domain(lay, Dim::PP, p.domains[l]) >= 2) {
        p.pp_level = static_cast<int>(l);
        break;
      }
  }
  return p;
}

std::string spanned_level(const Cluster& cluster, const kernels::GroupShape& g) {
  int top = -1;
  for (int l = 0; l < g.num_levels; ++l)
    if (g.members[l] > 1) top = l;
  return top < 0 ? "-" : cluster.levels[static_cast<std::size_t>(top)].name;
}

}  // namespace nest
