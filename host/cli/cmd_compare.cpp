// nest compare: two plan files side by side (docs/visuals.md §5).
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/report/compare.hpp"
#include "nest/report/figures.hpp"
#include "nest/report/html.hpp"

namespace nest::cli {

namespace {

struct CompareFlags {
  std::string a, b, svg, html;
  bool json = false;
};

}  // namespace

void register_compare(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<CompareFlags>();
  CLI::App* sub = app.add_subcommand("compare", "two plans side by side: what differs, where time and memory go differently");
  sub->add_option("A", f->a, "first plan file (nest.plan/1)")->required();
  sub->add_option("B", f->b, "second plan file")->required();
  sub->add_flag("--json", f->json, "print the comparison as JSON");
  sub->add_option("--svg", f->svg, "write both plans' step breakdowns and memory per stage as an SVG");
  sub->add_option("--html", f->html, "write the comparison and its figure as a self-contained HTML page");
  sub->callback([f, &run] {
    run = [f]() -> int {
      const LoadedPlan la = load_plan(f->a), lb = load_plan(f->b);
      require_costable(la);
      require_costable(lb);
      const Prediction pa = la.source->predict(la.plan), pb = lb.source->predict(lb.plan);
      const ComparedPlan a{f->a, &la.problem, &la.plan, &pa}, b{f->b, &lb.problem, &lb.plan, &pb};
      const std::string text = format_comparison(a, b);
      if (f->json)
        std::cout << dump_json(comparison_json(a, b));
      else
        std::cout << text;
      if (!f->svg.empty() || !f->html.empty()) {
        const std::string figure = compare_svg(la.problem, pa, lb.problem, pb, "A", "B");
        if (!f->svg.empty()) write_file_atomic(f->svg, figure);
        if (!f->html.empty()) {
          HtmlReport r;
          r.title = "nest compare: " + f->a + " vs " + f->b;
          r.texts = {{"Comparison", text}};
          r.figures = {{"Time and memory", figure}};
          write_file_atomic(f->html, html_report(r));
        }
      }
      return 0;
    };
  });
}

}  // namespace nest::cli
