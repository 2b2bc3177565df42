// Flags of the search (nest plan), their parsing, and the report of a search.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli_common.hpp"
#include "pictures.hpp"
#include "nest/search/domain_share.hpp"
#include "nest/search/planner.hpp"

namespace nest::cli {

struct SearchFlags {
  ProblemFlags problem;
  std::string search = "dp", backend = "auto";
  int threads = 0, top = 1;
  double gpu_mem_limit_gb = 0;
  std::string tp, pp, cp, ep, etp, dp_shard, microbatch, zero, recompute, recompute_modules, schedule, virtual_stages, sp, order;
  bool allow_idle = false, json = false, verbose = false;
  std::string out, nest_input;
  PictureFlags pictures;
  bool explain = false;
  bool explain_network = false;
  bool explain_compute = false;
  bool explain_failures = false;  // nest plan only
};

void add_search_flags(CLI::App* app, SearchFlags& f);

struct PlanningInput {
  std::unique_ptr<CostSource> source;
  Problem problem;  // for reports (the analytic problem, or NEST's instance as a problem)
  std::string model_spec, cluster_spec;
};

PlanningInput make_planning_input(const SearchFlags& f);
PlannerOptions make_planner_options(const SearchFlags& f);
// `share`: the domain share searched with it, where the cluster offered one (search/domain_share.hpp).
int report_search(const SearchFlags& f, const PlanningInput& in, const PlannerOptions& opts, const SearchResult& res,
                  const std::optional<DomainShare>& share = std::nullopt);

}  // namespace nest::cli
