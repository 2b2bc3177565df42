#include "pictures.hpp"

#include <iostream>

#include "nest/io/json.hpp"
#include "nest/report/figures.hpp"
#include "nest/report/html.hpp"
#include "nest/report/trace.hpp"

namespace nest::cli {

void add_picture_flags(CLI::App* app, PictureFlags& f) {
  app->add_option("--svg", f.svg, "write the plan's figures (schedule, time breakdown, stage times, memory) as one SVG");
  app->add_option("--html", f.html, "write a self-contained HTML report: summary, figures, the step's trace for Perfetto");
}

void write_pictures(const PictureFlags& f, const Problem& problem, const CostSource& source, const Plan& plan,
                    const std::string& model_spec, const std::string& cluster_spec,
                    const std::vector<std::pair<std::string, std::string>>& texts, const Prediction* mapped) {
  if (!f.any()) return;
  if (!source.check(plan).empty()) {
    std::cerr << "nest: note: no --svg / --html for a plan that cannot be costed\n";
    return;
  }
  const PlanPieces pieces = plan_pieces(source, plan, mapped);
  const StepSchedule sched = schedule_step(pieces);
  if (!f.svg.empty()) write_file_atomic(f.svg, plan_svg(problem, pieces, sched));
  if (!f.html.empty()) {
    HtmlReport r;
    r.title = "nest: " + problem.model.name + " on " + std::to_string(problem.gpus) + " " + problem.cluster.gpu.name + " (" +
              problem.cluster.name + ")";
    r.texts = texts;
    r.figures = {{"Pipeline schedule", schedule_svg(problem, pieces, sched)},
                 {"Step time", breakdown_svg(problem, pieces.prediction)},
                 {"Stage times", stage_time_svg(problem, pieces)},
                 {"Memory", memory_svg(problem, pieces.prediction)}};
    r.trace_json = trace_json(problem, pieces, sched, TraceInfo{model_spec, cluster_spec});
    write_file_atomic(f.html, html_report(r));
  }
}

}  // namespace nest::cli
