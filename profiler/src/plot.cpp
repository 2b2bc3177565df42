#include "nest/profiler/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "nest/io/text.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/fit.hpp"
#include "nest/report/svg.hpp"

namespace nest::profiler {

namespace {

const AlphaBetaFit* fit_for(const Profile& p, int level, const std::string& collective) {
  const AlphaBetaFit* all = nullptr;
  for (const CollectiveFit& f : p.fits) {
    if (f.level != level) continue;
    if (f.collective == collective) return &f.fit;
    if (f.collective == "all") all = &f.fit;
  }
  return all;
}

// The lower levels' latencies as refit() uses them: each level's combined fit.
std::vector<double> lower_latencies(const Profile& p) {
  int max_level = -1;
  for (const CollectiveFit& f : p.fits) max_level = std::max(max_level, f.level);
  std::vector<double> out(static_cast<std::size_t>(max_level + 1), 0.0);
  for (const CollectiveFit& f : p.fits)
    if (f.collective == "all") out[static_cast<std::size_t>(f.level)] = f.fit.latency_s;
  return out;
}

}  // namespace

double model_busbw_GBps(const Profile& p, const CollectiveSeries& s, double bytes) {
  const AlphaBetaFit* fit = fit_for(p, s.level, collective_name(s.collective));
  if (!fit || !(fit->bandwidth > 0)) return 0;
  CollectiveSample x;
  x.bytes = bytes;
  const AlphaBetaPoint pt = alpha_beta_point(s, x, lower_latencies(p));
  const double t = pt.lower + fit->latency_s * pt.steps + pt.x / fit->bandwidth;
  if (!(t > 0)) return 0;
  // nccl-tests: algbw = bytes / time, busbw = algbw * the collective's bus factor.
  const double factor = kernels::bus_bandwidth_factor(s.collective, s.group_size);
  return bytes / t * factor / kGB;
}

std::string bandwidth_svg(const Profile& p, const std::string& source) {
  using svg::Canvas;
  using svg::Scale;
  constexpr double kWidth = 960, kPanelW = 460, kPanelH = 300;
  std::vector<Collective> present;
  for (Collective c : known_collectives())
    for (const CollectiveSeries& s : p.collectives)
      if (s.collective == c && !s.samples.empty() && std::find(present.begin(), present.end(), c) == present.end())
        present.push_back(c);
  const int rows = (static_cast<int>(present.size()) + 1) / 2;
  Canvas c(kWidth);
  c.text(16, 26, "Bus bandwidth against message size: " + source, 15, "start", "font-weight=\"bold\"");
  c.text(16, 44,
         "points: measured (the slowest rank's median); lines: the fitted alpha-beta model (docs/profile-schema.md); as "
         "nccl-tests reports busbw",
         11, "start", "fill=\"#555555\"");
  if (present.empty()) c.text(16, 80, "the profile holds no collective measurements", 12);
  for (std::size_t k = 0; k < present.size(); ++k) {
    const Collective coll = present[k];
    const double px = 10 + static_cast<double>(k % 2) * (kPanelW + 20), py = 60 + static_cast<double>(k / 2) * (kPanelH + 30);
    double bmin = 0, bmax = 0, ymax = 0;
    for (const CollectiveSeries& s : p.collectives) {
      if (s.collective != coll) continue;
      for (const CollectiveSample& x : s.samples) {
        if (x.bytes <= 0) continue;
        bmin = bmin == 0 ? x.bytes : std::min(bmin, x.bytes);
        bmax = std::max(bmax, x.bytes);
        ymax = std::max({ymax, x.busbw_GBps, model_busbw_GBps(p, s, x.bytes)});
      }
    }
    if (bmax <= bmin) bmax = bmin * 2;
    const double left = px + 60, right = px + kPanelW - 10, top = py + 24, bottom = py + kPanelH - 80;
    const Scale xs{bmin, bmax, left, right, true};
    const Scale ys{0, std::max(1.0, ymax * 1.1), bottom, top};
    c.text(left, py + 14, collective_name(coll), 13, "start", "font-weight=\"bold\"");
    svg::axes(c, xs, ys, "message size", "bus bandwidth (GB/s)", true);
    int series = 0;
    double ly = bottom + 48;
    for (const CollectiveSeries& s : p.collectives) {
      if (s.collective != coll || s.samples.empty()) continue;
      const char* colour = svg::color::series(series++);
      std::vector<std::pair<double, double>> measured, model;
      for (std::size_t i = 0; i < s.samples.size(); ++i) {
        const CollectiveSample& x = s.samples[i];
        if (x.bytes <= 0) continue;
        measured.emplace_back(xs(x.bytes), ys(x.busbw_GBps));
        c.circle(xs(x.bytes), ys(x.busbw_GBps), 2.6, colour,
                 s.group + " " + svg::bytes_label(x.bytes) + ": " + format_text("%.2f GB/s", x.busbw_GBps) +
                     format_text(" (%.2f us)", x.time_s * 1e6));
        // The model at this size and halfway (geometrically) to the next.
        const double m0 = model_busbw_GBps(p, s, x.bytes);
        if (m0 > 0) model.emplace_back(xs(x.bytes), ys(m0));
        if (i + 1 < s.samples.size() && s.samples[i + 1].bytes > x.bytes) {
          const double mid = std::sqrt(x.bytes * s.samples[i + 1].bytes);
          const double m1 = model_busbw_GBps(p, s, mid);
          if (m1 > 0) model.emplace_back(xs(mid), ys(m1));
        }
      }
      c.polyline(measured, colour, 0.8, "stroke-opacity=\"0.35\"");
      c.polyline(model, colour, 1.8);
      const AlphaBetaFit* fit = fit_for(p, s.level, collective_name(s.collective));
      std::string label = (s.level < static_cast<int>(p.levels.size()) ? p.levels[static_cast<std::size_t>(s.level)].name
                                                                       : "level " + std::to_string(s.level)) +
                          " (" + s.group + ")";
      if (fit && fit->bandwidth > 0)
        label += format_text(": %.1f us/step", fit->latency_s * 1e6) + format_text(", %.1f GB/s", fit->bandwidth / kGB) +
                 format_text(", max err %.0f%%", 100 * fit->max_rel_error);
      c.legend_item(left, ly, colour, label, 10);
      ly += 14;
    }
  }
  c.height = 60 + rows * (kPanelH + 30) + 10;
  return c.finish("nest profile: bus bandwidth (" + source + ")");
}

}  // namespace nest::profiler
