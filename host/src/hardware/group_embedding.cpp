#include "nest/hardware/group_embedding.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>

#include "nest/core/error.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

// A group's GPUs sorted, and the key of each GPU's level-l domain (l = 0: its node; l >= 1: its
// domain of tier l-1). Keys grow with the GPU index, so a sorted group lists each domain's GPUs
// in one run, child by child.
struct SortedGroup {
  std::vector<std::int64_t> gpus;
  const Topology* topo = nullptr;
  std::int64_t key(std::size_t i, std::size_t l) const {
    const std::int64_t node = gpus[i] / topo->spec().node_gpus;
    return l == 0 ? node : node / topo->nodes_per_tier_domain()[l - 1];
  }
  // [begin, end) runs of equal level-l keys within [first, last).
  std::vector<std::pair<std::size_t, std::size_t>> runs(std::size_t l, std::size_t first, std::size_t last) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t i = first; i < last;) {
      std::size_t j = i;
      while (j < last && key(j, l) == key(i, l)) ++j;
      out.push_back({i, j});
      i = j;
    }
    return out;
  }
};

std::string level_domain(const Topology& topo, std::size_t l) {
  return l == 0 ? "node" : topo.spec().tiers[l - 1].name + " domain";
}

SortedGroup checked_group(const Topology& topo, std::vector<std::int64_t> gpus, const std::string& flag) {
  const TopologySpec& s = topo.spec();
  if (gpus.empty()) throw_bad_input(flag, "names no GPU");
  std::sort(gpus.begin(), gpus.end());
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    const std::int64_t x = gpus[i];
    if (i > 0 && x == gpus[i - 1]) throw_bad_input(flag, "names GPU " + std::to_string(x) + " twice");
    if (x < 0 || x >= topo.gpus_total())
      throw_bad_input(flag, "GPU " + std::to_string(x) + " does not exist (" + s.source + " has GPUs 0 to " +
                                std::to_string(topo.gpus_total() - 1) + ")");
    if (std::binary_search(s.unavailable_nodes.begin(), s.unavailable_nodes.end(), x / s.node_gpus) ||
        std::binary_search(s.unavailable_gpus.begin(), s.unavailable_gpus.end(), x))
      throw_bad_input(flag, "GPU " + std::to_string(x) + " is out");
  }
  return {std::move(gpus), &topo};
}

// Members at each level: how many children (GPUs at level 0) each level-l domain of the group
// holds, the same in all of them.
kernels::GroupShape shape_of(const SortedGroup& g, const std::string& flag) {
  const Topology& topo = *g.topo;
  const std::size_t levels = 1 + topo.spec().tiers.size();
  kernels::GroupShape shape;
  shape.num_levels = static_cast<int>(levels);
  for (std::size_t l = 0; l < levels; ++l) {
    std::size_t want = 0;
    std::int64_t first_domain = 0;
    for (const auto& [b, e] : g.runs(l, 0, g.gpus.size())) {
      const std::size_t children = l == 0 ? e - b : g.runs(l - 1, b, e).size();
      if (want == 0) {
        want = children;
        first_domain = g.key(b, l);
      } else if (children != want) {
        const std::string what = l == 0 ? "GPUs" : level_domain(topo, l - 1) + "s";
        throw_bad_input(flag, "the group has " + std::to_string(want) + " " + what + " in " + level_domain(topo, l) + " " +
                                  std::to_string(first_domain) + " but " + std::to_string(children) + " in " +
                                  level_domain(topo, l) + " " + std::to_string(g.key(b, l)) +
                                  "; collectives are priced on groups with as many in each");
      }
    }
    shape.members[l] = static_cast<double>(want);
  }
  return shape;
}

// Every hop of the group's rings at tier t: in each tier-t domain, ring j joins the j-th GPU of
// each child, cyclically.
template <typename Hop>
void for_each_ring_hop(const SortedGroup& g, std::size_t t, Hop hop) {
  const std::size_t l = t + 1;
  for (const auto& [b, e] : g.runs(l, 0, g.gpus.size())) {
    const std::size_t m = g.runs(l - 1, b, e).size();
    if (m < 2) continue;
    const std::size_t w = (e - b) / m;
    for (std::size_t j = 0; j < w; ++j)
      for (std::size_t i = 0; i < m; ++i) hop(g.gpus[b + i * w + j], g.gpus[b + ((i + 1) % m) * w + j]);
  }
}

}  // namespace

LinkLoad link_load(const Topology& topo, const BusiestLink& b) {
  if (b.link < 0) return {};
  return {topo.link_name(b.link), b.load, b.capacity, b.load / b.capacity};
}

std::string link_load_text(const LinkLoad& l) {
  return format_text("%s: %g ring hops on %g NICs (congestion %.3g)", l.link.c_str(), l.load, l.capacity, l.congestion);
}

Json link_load_json(const LinkLoad& l) {
  return Json{{"link", l.link}, {"load", l.load}, {"capacity_nics", l.capacity}, {"congestion", l.congestion}};
}

namespace {

void refuse_torus(const Topology& topo, const std::string& flag) {
  if (topo.spec().is_torus)
    throw_bad_input(flag, topo.spec().source +
                              " is a torus: concrete groups of chips are not modelled there (TPU slices are whole "
                              "cubes); give the group as --ranks");
}

}  // namespace

std::vector<GroupEmbedding> embed_groups(const Topology& topo, const std::vector<std::vector<std::int64_t>>& groups,
                                         const std::vector<std::string>& flags) {
  const TopologySpec& s = topo.spec();
  refuse_torus(topo, flags.front());
  std::vector<SortedGroup> sorted;
  std::vector<GroupEmbedding> out(groups.size());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const std::string& flag = flags[std::min(i, flags.size() - 1)];
    sorted.push_back(checked_group(topo, groups[i], flag));
    out[i].shape = shape_of(sorted.back(), flag);
    out[i].levels.push_back(topo.levels().front().level);
    out[i].congestion.push_back(1);
    out[i].busiest.push_back({});
  }
  std::vector<double> load(topo.links().size(), 0);
  std::vector<int> touched;
  for (std::size_t t = 0; t < s.tiers.size(); ++t) {
    // Every group's rings at this tier at once ...
    for (const SortedGroup& g : sorted)
      for_each_ring_hop(g, t, [&](std::int64_t a, std::int64_t b) {
        for (int link : topo.route(a, b)) {
          if (load[static_cast<std::size_t>(link)] == 0) touched.push_back(link);
          load[static_cast<std::size_t>(link)] += 1;
        }
      });
    // ... then each group's busiest link among those its own rings cross.
    for (std::size_t k = 0; k < sorted.size(); ++k) {
      BusiestLink busiest;
      double congestion = 0;
      for_each_ring_hop(sorted[k], t, [&](std::int64_t a, std::int64_t b) {
        for (int link : topo.route(a, b)) {
          const double c = topo.links()[static_cast<std::size_t>(link)].capacity;
          const double x = load[static_cast<std::size_t>(link)] / c;
          if (x > congestion) {
            congestion = x;
            busiest = {link, load[static_cast<std::size_t>(link)], c};
          }
        }
      });
      if (congestion == 0) congestion = 1;  // no ring of the group here: the NIC's figures
      out[k].levels.push_back(switch_tier_level(s, t, congestion));
      out[k].congestion.push_back(congestion);
      out[k].busiest.push_back(busiest);
    }
    for (int link : touched) load[static_cast<std::size_t>(link)] = 0;
    touched.clear();
  }
  return out;
}

std::vector<std::int64_t> fewest_in_a_domain(const Topology& topo, const std::vector<std::vector<std::int64_t>>& groups,
                                             const std::string& flag) {
  refuse_torus(topo, flag);
  const std::size_t levels = 1 + topo.spec().tiers.size();
  std::vector<std::int64_t> fewest(levels, std::numeric_limits<std::int64_t>::max());
  for (const std::vector<std::int64_t>& group : groups) {
    const SortedGroup g = checked_group(topo, group, flag);
    for (std::size_t l = 0; l < levels; ++l)
      for (const auto& [b, e] : g.runs(l, 0, g.gpus.size())) fewest[l] = std::min(fewest[l], static_cast<std::int64_t>(e - b));
  }
  return fewest;
}

}  // namespace nest
