// nest plan: the fastest plan whose every GPU fits, proven optimal under the cost model.
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/io/json.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/report/plan_report.hpp"
#include "nest/report/text_report.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/domain_share.hpp"
#include "nest/search/planner.hpp"
#include "search_flags.hpp"

namespace nest::cli {

void register_plan(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<SearchFlags>();
  CLI::App* sub = app.add_subcommand("plan", "find the fastest plan that fits in memory");
  add_problem_flags(sub, f->problem);
  add_search_flags(sub, *f);
  sub->add_flag("--explain-failures", f->explain_failures,
                "what losing one node costs: the best plan again without it (a topology: the last node of the job's "
                "footprint taken out; a hierarchical cluster: the job one node smaller)");
  sub->callback([f, &run] {
    run = [f]() -> int {
      PlanningInput in = make_planning_input(*f);
      PlannerOptions opts = make_planner_options(*f);
      if (!f->problem.precision.empty())
        opts.space.precision = parse_precision_list(f->problem.precision, "--precision", in.problem.cluster.gpu);
      if (!f->nest_input.empty()) return report_search(*f, in, opts, search_plans(*in.source, opts));
      // Where the cluster lets the job take part of each domain, the share is searched too.
      DomainShareSearch found = search_domain_share(in.problem, opts);
      in.problem = std::move(found.problem);
      in.source = std::make_unique<AnalyticCostSource>(in.problem);
      return report_search(*f, in, opts, found.result, found.share);
    };
  });
}

}  // namespace nest::cli
