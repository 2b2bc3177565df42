#include "nest/profiler/fit.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace nest::profiler {

namespace {

struct Candidate {
  double a = 0, b = 0;  // latency, 1/bandwidth
  double residual = std::numeric_limits<double>::infinity();
};

double weighted_residual(const std::vector<AlphaBetaPoint>& pts, double a, double b) {
  double r = 0;
  for (const auto& p : pts) {
    const double e = (p.lower + a * p.steps + b * p.x - p.t) / p.t;
    r += e * e;
  }
  return r;
}

}  // namespace

AlphaBetaFit fit_alpha_beta(const std::vector<AlphaBetaPoint>& points) {
  std::vector<AlphaBetaPoint> pts;
  for (const auto& p : points)
    if (p.t > 0 && std::isfinite(p.t) && p.x >= 0 && p.steps >= 0) pts.push_back(p);
  AlphaBetaFit f;
  f.samples = static_cast<int>(pts.size());
  if (pts.empty()) return f;

  // Weighted normal equations for y = a*s + b*x, y = t - lower, weight 1/t^2.
  double ss = 0, sx = 0, xx = 0, sy = 0, xy = 0;
  for (const auto& p : pts) {
    const double w = 1.0 / (p.t * p.t);
    const double y = p.t - p.lower;
    ss += w * p.steps * p.steps;
    sx += w * p.steps * p.x;
    xx += w * p.x * p.x;
    sy += w * p.steps * y;
    xy += w * p.x * y;
  }
  Candidate best;
  auto consider = [&](double a, double b) {
    if (!(a >= 0) || !(b >= 0) || !std::isfinite(a) || !std::isfinite(b)) return;
    const double r = weighted_residual(pts, a, b);
    if (r < best.residual) best = {a, b, r};
  };
  const double det = ss * xx - sx * sx;
  if (std::fabs(det) > 1e-12 * std::max(1e-300, ss * xx)) consider((sy * xx - sx * xy) / det, (ss * xy - sx * sy) / det);
  if (xx > 0) consider(0, xy / xx);
  if (ss > 0) consider(sy / ss, 0);
  consider(0, 0);

  f.latency_s = best.a;
  if (best.b > 0) {
    f.bandwidth = 1.0 / best.b;
  } else {
    // No size dependence in the data (all messages latency-bound): report the best rate seen.
    f.bandwidth_resolved = false;
    for (const auto& p : pts) f.bandwidth = std::max(f.bandwidth, p.x / p.t);
  }
  double sum2 = 0;
  for (const auto& p : pts) {
    const double e = std::fabs((p.lower + best.a * p.steps + best.b * p.x - p.t) / p.t);
    f.max_rel_error = std::max(f.max_rel_error, e);
    sum2 += e * e;
  }
  f.rms_rel_error = std::sqrt(sum2 / static_cast<double>(pts.size()));
  return f;
}

AlphaBetaPoint alpha_beta_point(const CollectiveSeries& s, const CollectiveSample& x, const std::vector<double>& lower_latency) {
  AlphaBetaPoint p;
  p.t = x.time_s;
  const int top = static_cast<int>(s.members.size()) - 1;
  const double m = top >= 0 ? s.members[static_cast<std::size_t>(top)] : s.group_size;
  double below = 1;
  for (int l = 0; l < top; ++l) below *= s.members[static_cast<std::size_t>(l)];
  p.steps = latency_steps(s.collective, m);
  const double f = kernels::bus_bandwidth_factor(s.collective, m);
  switch (s.collective) {
    case Collective::AllReduce:
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::Broadcast:
    case Collective::Reduce:
      p.x = x.bytes * f / below;
      for (int l = 0; l < top; ++l) {
        const double lat = static_cast<std::size_t>(l) < lower_latency.size() ? lower_latency[static_cast<std::size_t>(l)] : 0.0;
        p.lower += lat * latency_steps(s.collective, s.members[static_cast<std::size_t>(l)]);
      }
      break;
    case Collective::AllToAll:
      p.x = x.bytes * f;
      break;
    case Collective::SendRecv:
      p.x = x.bytes;
      break;
  }
  return p;
}

namespace {

// e for a given h: the relative least squares of y = e * g, g = x/(x+h); capped at 1.
double best_e(const std::vector<EfficiencyPoint>& pts, double h) {
  std::vector<double> g, y;
  for (const auto& p : pts) {
    g.push_back(p.x / (p.x + h));
    y.push_back(p.efficiency);
  }
  return std::min(1.0, relative_scale(g, y));
}

double objective(const std::vector<EfficiencyPoint>& pts, double h) {
  const double e = best_e(pts, h);
  double r = 0;
  for (const auto& p : pts) {
    const double d = (e * p.x / (p.x + h) - p.efficiency) / p.efficiency;
    r += d * d;
  }
  return r;
}

}  // namespace

double relative_scale(const std::vector<double>& predicted, const std::vector<double>& measured) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < predicted.size() && i < measured.size(); ++i) {
    if (!(measured[i] > 0)) continue;
    const double r = predicted[i] / measured[i];
    num += r;
    den += r * r;
  }
  return den > 0 ? num / den : 0.0;
}

EfficiencyFit fit_efficiency(const std::vector<EfficiencyPoint>& points) {
  std::vector<EfficiencyPoint> pts;
  for (const auto& p : points)
    if (p.x > 0 && p.efficiency > 0 && std::isfinite(p.efficiency)) pts.push_back(p);
  EfficiencyFit f;
  f.samples = static_cast<int>(pts.size());
  if (pts.empty()) return f;
  // h = 0 plus a log grid from 0.1 to 1e6, then golden section in log(h) around the best.
  double best_h = 0, best_r = objective(pts, 0);
  const int kGrid = 141;
  for (int i = 0; i < kGrid; ++i) {
    const double h = std::pow(10.0, -1.0 + 7.0 * i / (kGrid - 1));
    const double r = objective(pts, h);
    if (r < best_r) {
      best_r = r;
      best_h = h;
    }
  }
  if (best_h > 0) {
    const double step = 7.0 / (kGrid - 1);
    double lo = std::log10(best_h) - step, hi = std::log10(best_h) + step;
    const double phi = (std::sqrt(5.0) - 1) / 2;
    double c = hi - phi * (hi - lo), d = lo + phi * (hi - lo);
    double fc = objective(pts, std::pow(10.0, c)), fd = objective(pts, std::pow(10.0, d));
    for (int it = 0; it < 80; ++it) {
      if (fc < fd) {
        hi = d;
        d = c;
        fd = fc;
        c = hi - phi * (hi - lo);
        fc = objective(pts, std::pow(10.0, c));
      } else {
        lo = c;
        c = d;
        fc = fd;
        d = lo + phi * (hi - lo);
        fd = objective(pts, std::pow(10.0, d));
      }
    }
    const double h = std::pow(10.0, (lo + hi) / 2);
    if (objective(pts, h) < best_r) best_h = h;
  }
  f.x_half = best_h;
  f.e_max = best_e(pts, best_h);
  double sum2 = 0;
  for (const auto& p : pts) {
    const double e = std::fabs((f.e_max * p.x / (p.x + best_h) - p.efficiency) / p.efficiency);
    f.max_rel_error = std::max(f.max_rel_error, e);
    sum2 += e * e;
  }
  f.rms_rel_error = std::sqrt(sum2 / static_cast<double>(pts.size()));
  return f;
}

}  // namespace nest::profiler
