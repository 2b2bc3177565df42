// nest trace: a plan's predicted training step as a Chrome / Perfetto trace (docs/visuals.md §1).
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/report/text_report.hpp"
#include "nest/report/trace.hpp"

namespace nest::cli {

namespace {

struct TraceFlags {
  std::string plan_file, out, rank_map;
};

}  // namespace

void register_trace(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<TraceFlags>();
  CLI::App* sub = app.add_subcommand("trace", "write a plan's predicted training step as a Chrome/Perfetto trace");
  sub->add_option("--plan", f->plan_file, "plan file (nest.plan/1 JSON)")->required();
  sub->add_option("--out", f->out, "trace file to write (trace-event JSON; '-' for standard output)")->required();
  sub->add_option("--rank-map", f->rank_map,
                  "rank map CSV (as nest export --to rankmap writes): the step with each rank on the GPU it names");
  sub->callback([f, &run] {
    run = [f]() -> int {
      const LoadedPlan lp = load_plan(f->plan_file);
      require_costable(lp);
      // A rank map: the plan priced with its groups where the map puts them (nest evaluate --rank-map).
      std::optional<Prediction> mapped;
      if (!f->rank_map.empty()) {
        if (lp.model_spec == lp.cluster_spec) refuse_tabulated_costs("--rank-map", "a plan of a model and a cluster");
        std::vector<std::int64_t> gpu;
        const Placement placement = rank_map_placement(lp.problem, lp.plan, f->rank_map, gpu);
        mapped = evaluate_plan(lp.problem, lp.plan, &placement);
      }
      const PlanPieces pieces = plan_pieces(*lp.source, lp.plan, mapped ? &*mapped : nullptr);
      const StepSchedule sched = schedule_step(pieces);
      const std::string json = trace_json(lp.problem, pieces, sched, TraceInfo{lp.model_spec, lp.cluster_spec});
      write_file_atomic(f->out, json);
      char pct[32];
      std::snprintf(pct, sizeof pct, "%.3f%%", 100 * (sched.replay_time / sched.pipeline_time - 1));
      if (sched.pacing == Pacing::Compressed)
        std::cerr << "nest: note: Megatron's order replayed with the evaluator's per-pass times takes "
                  << format_duration(sched.replay_time) << ", " << pct << " longer than the closed form's "
                  << format_duration(sched.pipeline_time) << " (docs/visuals.md §1): in the trace " << sched.late_passes
                  << " passes start up to " << format_duration(sched.lead) << " before their input arrives\n";
      if (f->out != "-") {
        char size[32];
        std::snprintf(size, sizeof size, "%.1f MB", static_cast<double>(json.size()) / 1e6);
        std::cout << "nest trace: wrote " << f->out << " (" << size << "): step " << format_duration(sched.step_time) << ", "
                  << pieces.plan.par.num_microbatches << " microbatches on " << pieces.plan.par.pp
                  << (pieces.plan.par.pp == 1 ? " stage" : " stages") << "; open it at https://ui.perfetto.dev\n";
      }
      if (!pieces.prediction.feasible) {
        std::cerr << "nest: note: the plan does not fit: " << pieces.prediction.violations.front() << "\n";
        return static_cast<int>(ExitCode::Infeasible);
      }
      return 0;
    };
  });
}

}  // namespace nest::cli
