#include "nest/search/domain_share.hpp"

#include <algorithm>
#include <memory>
#include <string>

#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/plan/plan.hpp"
#include "nest/search/cost_source.hpp"

namespace nest {

namespace {

// Whether a setting fixes level 0's size, by index or by the level's name.
bool sets_domain_size(const ClusterSetting& s, const Cluster& c) {
  return s.path == "levels.0.size" || s.path == "levels." + c.levels.front().name + ".size";
}

// Whether the job's share of each domain is fixed already: level 0's size set, or, on a
// topology, GPUs taken out inside nodes.
bool share_is_set(const Problem& problem) {
  for (const ClusterSetting& s : problem.outages.settings)
    if (sets_domain_size(s, problem.cluster)) return true;
  return !problem.outages.gpus.empty();
}

// A topology's first node that is not out: where the GPUs a share leaves are taken out (every
// node then offers the same local GPUs, docs/inputs.md §8).
std::int64_t first_node_up(const TopologySpec& spec) {
  std::int64_t n = 0;
  while (std::binary_search(spec.unavailable_nodes.begin(), spec.unavailable_nodes.end(), n)) ++n;
  return n;
}

}  // namespace

std::vector<std::int64_t> domain_share_choices(const Problem& problem) {
  const Cluster& c = problem.cluster;
  if (c.levels.size() < 2) return {};
  const NetworkLevel& domain = c.levels.front();
  const std::int64_t R = domain.size, host = domain.host_gpus;
  if (host <= 0 || host >= R || problem.gpus <= R || share_is_set(problem)) return {};
  // A topology: a switched one whose switches are all in (a lost switch's reach depends on the
  // job's footprint, which the share moves).
  if (c.topology && (c.topology->spec().is_torus || !problem.outages.lost_switch.empty())) return {};
  const std::int64_t domains_up = c.topology ? c.max_gpus / R : 0;  // 0: as many as needed
  std::vector<std::int64_t> out{R};
  // Below half a domain the job would leave more of each domain to others than it takes.
  for (std::int64_t s = R - host; 2 * s >= R; s -= host)
    if (problem.gpus % s == 0 && (domains_up == 0 || domains_up * s >= problem.gpus)) out.push_back(s);
  if (out.size() == 1) return {};  // filling the domains is all there is
  return out;
}

Problem with_domain_share(const Problem& problem, std::int64_t gpus_per_domain) {
  Problem p = problem;
  const NetworkLevel& domain = p.cluster.levels.front();
  if (gpus_per_domain == domain.size) return p;
  if (p.cluster.topology) {
    // The GPUs past the share out of one node (so of every node), as --unavailable-gpus records them.
    TopologySpec spec = p.cluster.topology->spec();
    const std::int64_t first = first_node_up(spec) * spec.node_gpus;
    for (std::int64_t i = gpus_per_domain; i < spec.node_gpus; ++i) {
      spec.unavailable_gpus.push_back(first + i);
      p.outages.gpus.push_back(first + i);
    }
    p.cluster.topology = std::make_shared<const Topology>(std::move(spec));
    apply_topology(*p.cluster.topology, p.cluster);
    return p;
  }
  p.cluster.levels.front().size = gpus_per_domain;
  p.outages.settings.push_back(ClusterSetting{"levels.0.size", std::to_string(gpus_per_domain), "--cluster-set"});
  return p;
}

std::vector<DomainShareCost> compare_domain_shares(const Problem& problem, const std::string& cluster_spec, const Plan& plan) {
  if (problem.cluster.topology || !problem.profile.empty() || problem.cluster.levels.empty()) return {};
  Problem base = problem;  // the cluster as its file states it
  if (std::erase_if(base.outages.settings, [&](const ClusterSetting& s) { return sets_domain_size(s, problem.cluster); }) > 0)
    base.cluster = load_cluster(cluster_spec, base.outages);
  std::vector<DomainShareCost> out;
  for (const std::int64_t gpus_per_domain : domain_share_choices(base)) {
    const Prediction p = evaluate_plan(with_domain_share(base, gpus_per_domain), plan);
    out.push_back({gpus_per_domain, p.feasible, p.feasible ? p.step_time : 0});
  }
  return out;
}

DomainShareSearch search_domain_share(const Problem& problem, const PlannerOptions& options) {
  const std::vector<std::int64_t> choices = domain_share_choices(problem);
  DomainShareSearch out;
  if (choices.empty()) {
    out.problem = problem;
    out.result = search_plans(AnalyticCostSource(problem), options);
    return out;
  }
  DomainShare share;
  share.level = problem.cluster.levels.front().name;
  share.domain_gpus = problem.cluster.levels.front().size;
  share.host_gpus = problem.cluster.levels.front().host_gpus;
  std::vector<SearchResult> results;
  std::vector<Problem> problems;
  for (const std::int64_t gpus_per_domain : choices) {
    problems.push_back(with_domain_share(problem, gpus_per_domain));
    const AnalyticCostSource source(problems.back());
    PlannerOptions labelled = options;
    labelled.progress_label = "searching " + std::to_string(gpus_per_domain) + " GPUs of each " + share.level + " domain (" +
                              std::to_string(problems.size()) + "/" + std::to_string(choices.size()) + ")";
    results.push_back(search_plans(source, labelled));
    const SearchResult& r = results.back();
    DomainShareOption o;
    o.gpus_per_domain = gpus_per_domain;
    o.feasible = !r.top.empty();
    if (o.feasible) {
      o.step_time = source.predict(r.top.front().plan).step_time;
      o.parallelism = describe_parallelism(r.top.front().plan.par);
    }
    share.options.push_back(o);
  }
  // The largest share within kDomainShareMinGain of the fastest.
  double fastest = 0;
  for (const DomainShareOption& o : share.options)
    if (o.feasible && (fastest == 0 || o.step_time < fastest)) fastest = o.step_time;
  std::size_t chosen = 0;  // filling the domains where nothing fits (its closest plan)
  for (std::size_t i = 0; i < share.options.size(); ++i)
    if (share.options[i].feasible && share.options[i].step_time <= fastest * (1 + kDomainShareMinGain)) {
      chosen = i;
      break;
    }
  out.problem = std::move(problems[chosen]);
  out.result = std::move(results[chosen]);
  const bool found = share.options[chosen].feasible;
  // The chosen search's figures with the other shares' work added.
  SearchStats& stats = out.result.stats;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == chosen) continue;
    const SearchStats& w = results[i].stats;
    stats.slices += w.slices;
    stats.slices_solved += w.slices_solved;
    stats.cells += w.cells;
    stats.splits += w.splits;
    stats.seconds += w.seconds;
    stats.gpu_seconds += w.gpu_seconds;
  }
  if (found) {
    share.gpus_per_domain = choices[chosen];
    share.domains = (problem.gpus + share.gpus_per_domain - 1) / share.gpus_per_domain;
  }
  out.share = share;
  return out;
}

}  // namespace nest
