#include "nest/report/figures.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "nest/io/text.hpp"
#include "nest/core/units.hpp"
#include "nest/report/plan_report.hpp"
#include "nest/report/svg.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

namespace {

using svg::Canvas;
using svg::num;
using svg::Scale;

constexpr double kWidth = 960;
constexpr double kLeft = 110;  // room for row labels and the y axis
constexpr double kRight = 30;
// Schedule panel: passes closer than a third of a pixel touch on screen; a pass narrower than
// two pixels cannot be told apart from its neighbour, so touching passes that narrow are drawn
// as one block (a 16-stage, 128-microbatch, 5-chunk step stays well under 2 MB).
constexpr double kTouchPx = 0.34;
constexpr double kNarrowPassPx = 2.0;

std::string pct(double part, double whole) { return whole > 0 ? format_text("%.1f%%", 100 * part / whole) : "-"; }

struct Part {
  const char* name;
  double value;
  const char* fill;
};

// The shared parts (plan_report.hpp) with the colour each is drawn in, in the same order.
std::vector<Part> drawn(const std::vector<std::pair<const char*, double>>& parts, const std::vector<const char*>& fills) {
  if (parts.size() != fills.size()) throw std::logic_error("figures: a part without a colour");
  std::vector<Part> out;
  for (std::size_t i = 0; i < parts.size(); ++i) out.push_back({parts[i].first, parts[i].second, fills[i]});
  return out;
}

std::vector<Part> time_parts(const Breakdown& b) {
  using namespace svg::color;
  return drawn(breakdown_parts(b), {compute, bubble, tp, cp, ep, pp, dp, optimizer});
}

std::vector<Part> memory_bars(const MemoryBreakdown& m) {
  using namespace svg::color;
  return drawn(memory_parts(m), {params, grads, optimizer_state, activations, working_set, other});
}

// Legend entries left to right from the plot's left edge, wrapped onto a new row when the next
// would pass the right margin; returns the y of the last row.
double legend(Canvas& c, double y, const std::vector<std::pair<const char*, std::string>>& items) {
  constexpr double kSize = 11, kRowHeight = 18;
  double x = kLeft;
  for (const auto& [fill, label] : items) {
    if (x > kLeft && svg::Canvas::legend_width(label, kSize) + x > kWidth - kRight) {
      x = kLeft;
      y += kRowHeight;
    }
    x = c.legend_item(x, y, fill, label, kSize);
  }
  return y;
}

std::vector<std::pair<const char*, std::string>> memory_legend() {
  std::vector<std::pair<const char*, std::string>> items;
  for (const Part& part : memory_bars(MemoryBreakdown{})) items.emplace_back(part.fill, part.name);
  return items;
}

double heading(Canvas& c, double y, const std::string& title, const std::string& subtitle = "") {
  c.text(16, y + 18, title, 15, "start", "font-weight=\"bold\"");
  if (!subtitle.empty()) c.text(16, y + 36, subtitle, 11, "start", "fill=\"#555555\"");
  return y + (subtitle.empty() ? 30 : 46);
}

// One horizontal stacked bar of `parts` at (x scale, y, height); text inside wide segments.
void stacked_bar(Canvas& c, const Scale& xs, double y, double h, const std::vector<Part>& parts, const std::string& prefix,
                 double whole, bool seconds) {
  double at = 0;
  for (const Part& p : parts) {
    if (p.value <= 0) continue;
    const double x0 = xs(at), x1 = xs(at + p.value);
    const std::string value = seconds ? format_duration(p.value) : format_text("%.2f GiB", p.value / kGiB);
    c.rect(x0, y, x1 - x0, h, p.fill, prefix + p.name + ": " + value + " (" + pct(p.value, whole) + ")");
    const std::string label = std::string(p.name) + " " + pct(p.value, whole);
    if (x1 - x0 > 7.0 * static_cast<double>(label.size()) && h >= 14)
      c.text((x0 + x1) / 2, y + h / 2 + 4, label, 11, "middle", "fill=\"#ffffff\"");
    at += p.value;
  }
}

double draw_schedule(Canvas& c, double y, const Problem& problem, const PlanPieces& pc, const StepSchedule& s) {
  const Parallelism& par = pc.plan.par;
  const int p = static_cast<int>(s.stages.size());
  std::string sub = describe_parallelism(par) + "; step " + format_duration(s.step_time);
  if (s.pacing == Pacing::Compressed)
    sub += format_text("; drawn compressed: the replayed order is %.2f%% longer (docs/visuals.md §1)",
                       100 * (s.replay_time / s.pipeline_time - 1));
  y = heading(c, y, "Pipeline schedule of one step (" + problem.model.name + ")", sub);
  const double row = std::clamp(360.0 / std::max(1, p), 7.0, 22.0);
  const double gap = row > 12 ? 3 : 1;
  const Scale xs{0, s.step_time, kLeft, kWidth - kRight};
  const double top = y + 4;
  for (int i = 0; i < p; ++i) {
    const double ry = top + i * row;
    if (row >= 10 || i % std::max(1, static_cast<int>(std::ceil(10 / row))) == 0)
      c.text(kLeft - 8, ry + row - gap - 2, "stage " + std::to_string(i), std::min(11.0, row), "end");
    // Passes, merged when they touch (long pipelines stay small): passes of one direction
    // always, a forward and a backward when both are too narrow to tell apart; a merged block
    // with both directions has its own colour.
    const auto& passes = s.stages[static_cast<std::size_t>(i)];
    auto narrow = [&](const TimedPass& t) { return xs(t.end) - xs(t.start) < kNarrowPassPx; };
    std::size_t x = 0;
    while (x < passes.size()) {
      std::size_t e = x;
      bool mixed = false;
      while (e + 1 < passes.size() && xs(passes[e + 1].start) - xs(passes[e].end) < kTouchPx) {
        const bool same = passes[e + 1].pass.forward == passes[x].pass.forward;
        if (!same && !(narrow(passes[e]) && narrow(passes[e + 1]))) break;
        mixed = mixed || !same;
        ++e;
      }
      const TimedPass& a = passes[x];
      const TimedPass& b = passes[e];
      auto name = [&](const TimedPass& t) {
        std::string n = std::string(t.pass.forward ? "F" : "B") + std::to_string(t.pass.microbatch);
        if (pc.costs.ctx.v > 1) n += " c" + std::to_string(t.pass.chunk);
        return n;
      };
      const std::string tip = "stage " + std::to_string(i) + ": " + (x == e ? name(a) : name(a) + " .. " + name(b)) + ", " +
                              format_duration(a.start) + " .. " + format_duration(b.end);
      c.rect(xs(a.start), ry, std::max(0.5, xs(b.end) - xs(a.start)), row - gap,
             mixed ? svg::color::mixed_passes : (a.pass.forward ? svg::color::compute : svg::color::backward), tip);
      x = e + 1;
    }
    // The tail after the pipeline has drained.
    const StageDetail& sd = pc.detail[static_cast<std::size_t>(i)];
    const double opt = pc.split.stages[static_cast<std::size_t>(i)].sums.optimizer_time;
    double t = s.pipeline_time;
    for (const auto& [len, fill, what] : {std::tuple{sd.sync.reduce_exposed, svg::color::dp, "gradient sync"},
                                          std::tuple{opt, svg::color::optimizer, "optimizer step"},
                                          std::tuple{sd.sync.gather_exposed, svg::color::dp, "parameter all-gather"}}) {
      if (len <= 0) continue;
      c.rect(xs(t), ry, std::max(0.5, xs(t + len) - xs(t)), row - gap, fill,
             "stage " + std::to_string(i) + ": " + what + " " + format_duration(len));
      t += len;
    }
  }
  const double bottom = top + p * row;
  for (double tk : xs.ticks(8)) {
    c.line(xs(tk), bottom, xs(tk), bottom + 4, svg::color::axis);
    c.text(xs(tk), bottom + 16, svg::seconds_label(tk), 10, "middle");
  }
  c.line(kLeft, bottom, kWidth - kRight, bottom, svg::color::axis);
  return legend(c, bottom + 38,
                {{svg::color::compute, "forward"},
                 {svg::color::backward, "backward"},
                 {svg::color::mixed_passes, "both (too narrow to draw apart)"},
                 {svg::color::dp, "gradient sync / parameter gather"},
                 {svg::color::optimizer, "optimizer"}}) +
         16;
}

double draw_breakdown(Canvas& c, double y, const Prediction& pr) {
  y = heading(c, y, "Where the step time goes",
              "critical path: " + format_duration(pr.step_time) + ", MFU " + format_text("%.1f%%", 100 * pr.mfu) +
                  " (docs/cost-model.md §8)");
  const Scale xs{0, pr.step_time, kLeft, kWidth - kRight};
  const auto parts = time_parts(pr.breakdown);
  stacked_bar(c, xs, y + 4, 30, parts, "", pr.step_time, true);
  c.text(kLeft - 8, y + 24, "step", 11, "end");
  for (double tk : xs.ticks(8)) c.text(xs(tk), y + 50, svg::seconds_label(tk), 10, "middle");
  std::vector<std::pair<const char*, std::string>> items;
  for (const Part& p : parts)
    if (p.value > 0) items.emplace_back(p.fill, std::string(p.name) + " " + format_duration(p.value));
  return legend(c, y + 72, items) + 14;
}

double draw_stage_time(Canvas& c, double y, const PlanPieces& pc) {
  const Prediction& pr = pc.prediction;
  y = heading(c, y, "Time per microbatch by stage",
              "forward + backward with exposed collectives and the stage's pipeline sends; stage " +
                  std::to_string(pr.bottleneck_stage) + " sets the pace");
  const int p = static_cast<int>(pr.stages.size());
  double longest = 0;
  for (const StageReport& s : pr.stages) longest = std::max(longest, s.time);
  const Scale xs{0, longest * 1.02, kLeft, kWidth - kRight};
  const double row = std::clamp(300.0 / std::max(1, p), 6.0, 20.0);
  for (int i = 0; i < p; ++i) {
    const StageReport& s = pr.stages[static_cast<std::size_t>(i)];
    const std::vector<Part> parts = {{"compute", s.compute + 0.0, svg::color::compute},
                                     {"TP", s.tp, svg::color::tp},
                                     {"CP", s.cp, svg::color::cp},
                                     {"EP", s.ep, svg::color::ep},
                                     {"pipeline sends", s.pp, svg::color::pp},
                                     {"ZeRO-3/FSDP traffic", s.dp_microbatch, svg::color::dp},
                                     {"activation offload", s.offload, svg::color::offload}};
    const double ry = y + 4 + i * row;
    stacked_bar(c, xs, ry, row - (row > 10 ? 3 : 1), parts, "stage " + std::to_string(i) + " ", s.time, true);
    if (row >= 10 || i % std::max(1, static_cast<int>(std::ceil(10 / row))) == 0)
      c.text(kLeft - 8, ry + row - 4, "stage " + std::to_string(i), std::min(11.0, row), "end",
             i == pr.bottleneck_stage ? "font-weight=\"bold\"" : "");
  }
  const double bottom = y + 4 + p * row;
  c.line(kLeft, bottom, kWidth - kRight, bottom, svg::color::axis);
  for (double tk : xs.ticks(8)) c.text(xs(tk), bottom + 16, svg::seconds_label(tk), 10, "middle");
  return legend(c, bottom + 38,
                {{svg::color::compute, "compute"},
                 {svg::color::tp, "TP"},
                 {svg::color::cp, "CP"},
                 {svg::color::ep, "EP"},
                 {svg::color::pp, "pipeline sends"},
                 {svg::color::dp, "ZeRO-3/FSDP"},
                 {svg::color::offload, "offload"}}) +
         14;
}

double draw_memory(Canvas& c, double y, const Problem& problem, const Prediction& pr) {
  const double capacity = problem.cluster.memory_bytes;
  y = heading(c, y, "Memory per GPU by stage",
              format_text("peak bytes per GPU of each stage against the %.1f GiB the device reports", capacity / kGiB) + " (" +
                  problem.cluster.gpu.name + ")");
  const int p = static_cast<int>(pr.stages.size());
  double top_value = capacity;
  for (const StageReport& s : pr.stages) top_value = std::max(top_value, s.memory.total());
  const double h = 220, y0 = y + 10, y1 = y0 + h;
  const Scale ys{0, top_value * 1.08 / kGiB, y1, y0};
  svg::axes(c, Scale{0, static_cast<double>(p), kLeft, kWidth - kRight}, ys, "", "GiB per GPU", false, false, false);
  const double slot = (kWidth - kRight - kLeft) / std::max(1, p);
  const double bw = std::max(1.0, slot * 0.7);
  for (int i = 0; i < p; ++i) {
    const StageReport& s = pr.stages[static_cast<std::size_t>(i)];
    const double x = kLeft + i * slot + (slot - bw) / 2;
    double at = 0;
    for (const Part& part : memory_bars(s.memory)) {
      if (part.value <= 0) continue;
      const double a = ys(at / kGiB), b = ys((at + part.value) / kGiB);
      c.rect(x, b, bw, a - b, part.fill,
             "stage " + std::to_string(i) + " " + part.name + ": " + format_text("%.2f GiB", part.value / kGiB));
      at += part.value;
    }
    if (s.memory.total() > capacity)
      c.rect(x, ys(s.memory.total() / kGiB), bw, ys(0) - ys(s.memory.total() / kGiB), "none",
             format_text("stage over capacity by %.2f GiB", (s.memory.total() - capacity) / kGiB),
             std::string("stroke=\"") + svg::color::over + "\" stroke-width=\"2\"");
    if (slot >= 18 || i % std::max(1, static_cast<int>(std::ceil(18 / slot))) == 0)
      c.text(x + bw / 2, y1 + 14, std::to_string(i), 10, "middle");
  }
  c.line(kLeft, ys(capacity / kGiB), kWidth - kRight, ys(capacity / kGiB), svg::color::over, 1.5, "stroke-dasharray=\"6 4\"");
  c.text(kWidth - kRight, ys(capacity / kGiB) - 4, format_text("capacity %.1f GiB", capacity / kGiB), 10, "end",
         std::string("fill=\"") + svg::color::over + "\"");
  c.text((kLeft + kWidth - kRight) / 2, y1 + 30, "pipeline stage", 11, "middle");
  return legend(c, y1 + 52, memory_legend()) + 14;
}

template <class Draw>
std::string standalone(const std::string& title, Draw&& draw) {
  Canvas c(kWidth);
  c.height = draw(c, 8.0) + 16;
  return c.finish(title);
}

}  // namespace

std::string schedule_svg(const Problem& problem, const PlanPieces& pc, const StepSchedule& s) {
  return standalone("nest: pipeline schedule", [&](Canvas& c, double y) { return draw_schedule(c, y, problem, pc, s); });
}

std::string breakdown_svg(const Problem& problem, const Prediction& pr) {
  (void)problem;
  return standalone("nest: step time breakdown", [&](Canvas& c, double y) { return draw_breakdown(c, y, pr); });
}

std::string stage_time_svg(const Problem& problem, const PlanPieces& pc) {
  (void)problem;
  return standalone("nest: time per microbatch by stage", [&](Canvas& c, double y) { return draw_stage_time(c, y, pc); });
}

std::string memory_svg(const Problem& problem, const Prediction& pr) {
  return standalone("nest: memory per GPU by stage", [&](Canvas& c, double y) { return draw_memory(c, y, problem, pr); });
}

std::string plan_svg(const Problem& problem, const PlanPieces& pc, const StepSchedule& s) {
  return standalone("nest: " + problem.model.name + " plan", [&](Canvas& c, double y) {
    y = draw_schedule(c, y, problem, pc, s) + 20;
    y = draw_breakdown(c, y, pc.prediction) + 20;
    y = draw_stage_time(c, y, pc) + 20;
    return draw_memory(c, y, problem, pc.prediction);
  });
}

std::string compare_svg(const Problem& pa, const Prediction& a, const Problem& pb, const Prediction& b, const std::string& name_a,
                        const std::string& name_b) {
  Canvas c(kWidth);
  double y = heading(c, 8, "Two plans: where the time goes", name_a + " vs " + name_b);
  const double longest = std::max(a.step_time, b.step_time);
  const Scale xs{0, longest * 1.02, kLeft, kWidth - kRight};
  int row = 0;
  for (const auto& [name, pr] : {std::pair<std::string, const Prediction*>{name_a, &a}, {name_b, &b}}) {
    const double ry = y + 4 + row * 40;
    stacked_bar(c, xs, ry, 30, time_parts(pr->breakdown), name + ": ", pr->step_time, true);
    c.text(kLeft - 8, ry + 20, name, 12, "end", "font-weight=\"bold\"");
    c.text(xs(pr->step_time) + 4, ry + 20, format_duration(pr->step_time), 10);
    ++row;
  }
  y += 4 + 2 * 40;
  for (double tk : xs.ticks(8)) c.text(xs(tk), y + 8, svg::seconds_label(tk), 10, "middle");
  std::vector<std::pair<const char*, std::string>> items;
  for (const Part& p : time_parts(Breakdown{})) items.emplace_back(p.fill, p.name);
  y = legend(c, y + 30, items) + 30;
  // Memory: each stage's bars, A then B, against the capacities.
  y = heading(c, y, "Memory per GPU by stage", name_a + " (left bar) and " + name_b + " (right bar) of each stage");
  const int pmax = static_cast<int>(std::max(a.stages.size(), b.stages.size()));
  double top_value = std::max(pa.cluster.memory_bytes, pb.cluster.memory_bytes);
  for (const Prediction* pr : {&a, &b})
    for (const StageReport& s : pr->stages) top_value = std::max(top_value, s.memory.total());
  const double h = 200, y0 = y + 10, y1 = y0 + h;
  const Scale ys{0, top_value * 1.08 / kGiB, y1, y0};
  svg::axes(c, Scale{0, static_cast<double>(pmax), kLeft, kWidth - kRight}, ys, "", "GiB per GPU", false, false, false);
  const double slot = (kWidth - kRight - kLeft) / std::max(1, pmax);
  for (int i = 0; i < pmax; ++i)
    if (slot >= 18 || i % std::max(1, static_cast<int>(std::ceil(18 / slot))) == 0)
      c.text(kLeft + (i + 0.5) * slot, y1 + 14, std::to_string(i), 10, "middle");
  const double bw = std::max(1.0, slot * 0.38);
  for (int side = 0; side < 2; ++side) {
    const Prediction& pr = side == 0 ? a : b;
    for (std::size_t i = 0; i < pr.stages.size(); ++i) {
      const double x = kLeft + static_cast<double>(i) * slot + slot * 0.1 + side * (bw + slot * 0.02);
      double at = 0;
      for (const Part& part : memory_bars(pr.stages[i].memory)) {
        if (part.value <= 0) continue;
        c.rect(x, ys((at + part.value) / kGiB), bw, ys(at / kGiB) - ys((at + part.value) / kGiB), part.fill,
               (side == 0 ? name_a : name_b) + " stage " + std::to_string(i) + " " + part.name + ": " +
                   format_text("%.2f GiB", part.value / kGiB),
               side == 1 ? "fill-opacity=\"0.65\"" : "");
        at += part.value;
      }
    }
  }
  for (const Problem* pp : {&pa, &pb}) {
    const double cap = pp->cluster.memory_bytes / kGiB;
    c.line(kLeft, ys(cap), kWidth - kRight, ys(cap), svg::color::over, 1.5, "stroke-dasharray=\"6 4\"");
    c.text(kWidth - kRight, ys(cap) - 4, format_text("capacity %.1f GiB", cap) + " (" + pp->cluster.gpu.name + ")", 10, "end");
  }
  c.height = legend(c, y1 + 36, memory_legend()) + 20;
  return c.finish("nest compare: " + name_a + " vs " + name_b);
}

std::vector<std::size_t> pareto_front(const std::vector<ParetoPoint>& pts, bool minimize_x, bool minimize_y) {
  auto better_eq = [](double a, double b, bool minimize) { return minimize ? a <= b : a >= b; };
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    bool dominated = false;
    for (std::size_t j = 0; j < pts.size() && !dominated; ++j) {
      if (i == j) continue;
      const bool ge = better_eq(pts[j].x, pts[i].x, minimize_x) && better_eq(pts[j].y, pts[i].y, minimize_y);
      const bool strict = pts[j].x != pts[i].x || pts[j].y != pts[i].y;
      dominated = ge && (strict || j < i);  // of identical points the first stays
    }
    if (!dominated) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) { return pts[a].x < pts[b].x; });
  return out;
}

std::string pareto_svg(const ParetoChart& ch) {
  Canvas c(kWidth);
  const auto front = pareto_front(ch.points, ch.minimize_x, ch.minimize_y);
  double y = heading(c, 8, ch.title,
                     std::to_string(front.size()) + " of " + std::to_string(ch.points.size()) + " points on the Pareto front (" +
                         (ch.minimize_x ? "lower" : "higher") + " " + ch.x_label + ", " + (ch.minimize_y ? "lower" : "higher") +
                         " " + ch.y_label + " is better)");
  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  if (!ch.points.empty()) {
    xlo = xhi = ch.points.front().x;
    ylo = yhi = ch.points.front().y;
    for (const ParetoPoint& p : ch.points) {
      xlo = std::min(xlo, p.x);
      xhi = std::max(xhi, p.x);
      ylo = std::min(ylo, p.y);
      yhi = std::max(yhi, p.y);
    }
  }
  auto padded = [](double lo, double hi, bool log) {
    if (log) return std::pair{lo > 0 ? lo / 1.3 : 1.0, hi > lo ? hi * 1.3 : (lo > 0 ? lo * 10 : 10.0)};
    const double d = hi > lo ? (hi - lo) * 0.08 : std::max(1.0, std::fabs(hi) * 0.1);
    return std::pair{lo >= 0 && lo - d < 0 ? 0.0 : lo - d, hi + d};
  };
  const auto [x0, x1] = padded(xlo, xhi, ch.log_x);
  const auto [y0v, y1v] = padded(ylo, yhi, ch.log_y);
  const double top = y + 10, bottom = top + 360;
  const Scale xs{x0, x1, kLeft, kWidth - kRight, ch.log_x};
  const Scale ys{y0v, y1v, bottom, top, ch.log_y};
  svg::axes(c, xs, ys, ch.x_label, ch.y_label);
  for (std::size_t i = 0; i < ch.points.size(); ++i) {
    const ParetoPoint& p = ch.points[i];
    c.circle(xs(p.x), ys(p.y), 3.5, "#9a9a9a",
             p.label + ": " + ch.x_label + " " + svg::tick_label(p.x) + ", " + ch.y_label + " " + svg::tick_label(p.y));
  }
  std::vector<std::pair<double, double>> line;
  for (std::size_t k = 0; k < front.size(); ++k) {
    const ParetoPoint& p = ch.points[front[k]];
    if (k > 0) line.emplace_back(xs(p.x), line.back().second);  // a step: the front holds until the next point
    line.emplace_back(xs(p.x), ys(p.y));
  }
  c.polyline(line, svg::color::cp, 1.5, "stroke-dasharray=\"4 3\"");
  for (std::size_t k = 0; k < front.size(); ++k) {
    const ParetoPoint& p = ch.points[front[k]];
    c.circle(
        xs(p.x), ys(p.y), 5, svg::color::cp,
        p.label + " (Pareto front): " + ch.x_label + " " + svg::tick_label(p.x) + ", " + ch.y_label + " " + svg::tick_label(p.y));
    c.text(xs(p.x) + 7, ys(p.y) - 7, p.label, 10);
  }
  c.height = bottom + 50;
  return c.finish("nest: " + ch.title);
}

}  // namespace nest
