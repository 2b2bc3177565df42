// How much of each level-0 domain a job takes, where the cluster leaves it open: a rack-scale
// NVLink domain (an NVL72 rack) is made of hosts (NetworkLevel::host_gpus), and a scheduler can
// give a job a whole number of hosts of each (Slurm's --segment) instead of filling domains in
// order. Which share is fastest depends on the plan (power-of-two groups straddle 72-GPU racks,
// a 64-GPU share keeps them inside), so nest plan searches it: the exact search once per share,
// then the share by the rule of kDomainShareMinGain (docs/inputs.md §8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/search/planner.hpp"

namespace nest {

// The GPUs per level-0 domain a job of `problem.gpus` may take, largest first (the first fills
// the domains, as the cluster file states them): whole hosts, at least half a domain, dividing
// the job into equal shares (and, on a topology, that its domains still hold). Empty where there
// is nothing to choose: the domain is one host, the job fits in one domain, the share is set
// already (--cluster-set levels.0.size=N, a plan file's cluster_set, a sweep's levels.0.size
// axis, GPUs out inside a topology's nodes), or a topology is a torus or has a switch out.
std::vector<std::int64_t> domain_share_choices(const Problem& problem);

// `problem` with the job taking `gpus_per_domain` GPUs of each level-0 domain, recorded so that a
// plan file replays it, unless it fills the domains: on a hierarchy the level's size set (the
// setting levels.0.size=N), on a topology the GPUs past the share out of every node (as
// --unavailable-gpus takes them out).
Problem with_domain_share(const Problem& problem, std::int64_t gpus_per_domain);

// A share that spreads the job over more domains is taken only where it is at least this much
// faster than every larger share: the chosen share is the largest whose step is within 1% of the
// fastest share's. Below that the gain is within how much one system's step time moves from run
// to run (the three results of each MLPerf Training submission in presets/calibration/runs
// differ by up to 1.8%, by 0.9% or less in 28 of 32), and the job would hold more domains for it.
inline constexpr double kDomainShareMinGain = 0.01;

struct DomainShareOption {
  std::int64_t gpus_per_domain = 0;
  bool feasible = false;
  double step_time = 0;     // s, the share's best plan (feasible only)
  std::string parallelism;  // its parallelism, in words
};

struct DomainShare {
  std::string level;  // the domain's level name
  std::int64_t domain_gpus = 0, host_gpus = 0;
  std::int64_t gpus_per_domain = 0;        // the share the search chose
  std::int64_t domains = 0;                // domains the job spans with it
  std::vector<DomainShareOption> options;  // every share searched, largest first
  // The chosen share's option (null where no share has a feasible plan).
  const DomainShareOption* chosen() const {
    for (const DomainShareOption& o : options)
      if (o.feasible && o.gpus_per_domain == gpus_per_domain) return &o;
    return nullptr;
  }
};

struct DomainShareSearch {
  Problem problem;                   // the problem of the chosen share (the input's where there was no choice)
  SearchResult result;               // the search on it, with the work (slices, cells, seconds) of every share's search
  std::optional<DomainShare> share;  // absent where there was no choice
};

// What a given plan costs on each share of the domains (nest evaluate --explain-placement): the
// shares domain_share_choices offers on the cluster as `cluster_spec` states it (the problem's
// own share setting, if any, left out), the plan evaluated on each. Empty where there is no
// choice, and on a topology or with a profile (whose GPUs out, or measured figures, a reloaded
// cluster would not tell from a share).
struct DomainShareCost {
  std::int64_t gpus_per_domain = 0;
  bool feasible = false;  // the plan fits and the framework runs it on that share
  double step_time = 0;
};
std::vector<DomainShareCost> compare_domain_shares(const Problem& problem, const std::string& cluster_spec, const Plan& plan);

// The exact search on every share domain_share_choices offers; the chosen share is the largest
// whose best plan is within kDomainShareMinGain of the fastest share's. Where none has a
// feasible plan, the result is the filled domains' (with its closest plan).
DomainShareSearch search_domain_share(const Problem& problem, const PlannerOptions& options);

}  // namespace nest
