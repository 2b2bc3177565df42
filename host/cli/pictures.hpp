// --svg FILE and --html FILE: a plan's figures in one SVG, and the self-contained HTML report
// with the summary, the figures and the step's trace (docs/visuals.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "nest/problem/problem.hpp"
#include "nest/plan/plan.hpp"
#include "nest/search/cost_source.hpp"

namespace nest::cli {

struct PictureFlags {
  std::string svg, html;
  bool any() const { return !svg.empty() || !html.empty(); }
};

void add_picture_flags(CLI::App* app, PictureFlags& f);

// Writes what the flags ask for (atomically). `texts` are the report's text sections (the
// summary first). A plan that cannot be costed has no pictures: a note on standard error.
// `mapped`: the prediction under a rank map (report/trace.hpp plan_pieces).
void write_pictures(const PictureFlags& f, const Problem& problem, const CostSource& source, const Plan& plan,
                    const std::string& model_spec, const std::string& cluster_spec,
                    const std::vector<std::pair<std::string, std::string>>& texts, const Prediction* mapped = nullptr);

}  // namespace nest::cli
