#include "nest/report/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace nest::svg {

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\n' || ch == '\t') out.push_back(ch);
    }
  }
  return out;
}

std::string num(double x) {
  if (!std::isfinite(x)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

const char* color::series(int i) {
  static const char* palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948", "#9c755f"};
  return palette[static_cast<unsigned>(i) % 8];
}

namespace {

void tip_or_close(std::string& body, std::string_view tip) {
  if (tip.empty()) {
    body += "/>\n";
  } else {
    body += "><title>";
    body += escape(tip);
    body += "</title></";
  }
}

}  // namespace

void Canvas::rect(double x, double y, double w, double h, std::string_view fill, std::string_view tip, std::string_view extra) {
  if (w < 0) {
    x += w;
    w = -w;
  }
  if (h < 0) {
    y += h;
    h = -h;
  }
  body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"";
  body_ += fill;
  body_ += "\"";
  if (!extra.empty()) {
    body_ += " ";
    body_ += extra;
  }
  tip_or_close(body_, tip);
  if (!tip.empty()) body_ += "rect>\n";
}

void Canvas::line(double x1, double y1, double x2, double y2, std::string_view stroke, double stroke_width,
                  std::string_view extra) {
  body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" stroke=\"";
  body_ += stroke;
  body_ += "\" stroke-width=\"" + num(stroke_width) + "\"";
  if (!extra.empty()) {
    body_ += " ";
    body_ += extra;
  }
  body_ += "/>\n";
}

void Canvas::text(double x, double y, std::string_view s, double size, std::string_view anchor, std::string_view extra) {
  body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\"";
  if (anchor != "start") {
    body_ += " text-anchor=\"";
    body_ += anchor;
    body_ += "\"";
  }
  if (!extra.empty()) {
    body_ += " ";
    body_ += extra;
  }
  body_ += ">";
  body_ += escape(s);
  body_ += "</text>\n";
}

void Canvas::polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double stroke_width,
                      std::string_view extra) {
  if (points.empty()) return;
  body_ += "<polyline fill=\"none\" stroke=\"";
  body_ += stroke;
  body_ += "\" stroke-width=\"" + num(stroke_width) + "\" points=\"";
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i) body_ += " ";
    body_ += num(points[i].first) + "," + num(points[i].second);
  }
  body_ += "\"";
  if (!extra.empty()) {
    body_ += " ";
    body_ += extra;
  }
  body_ += "/>\n";
}

void Canvas::circle(double cx, double cy, double r, std::string_view fill, std::string_view tip, std::string_view extra) {
  body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"";
  body_ += fill;
  body_ += "\"";
  if (!extra.empty()) {
    body_ += " ";
    body_ += extra;
  }
  tip_or_close(body_, tip);
  if (!tip.empty()) body_ += "circle>\n";
}

double Canvas::legend_item(double x, double y, std::string_view fill, std::string_view label, double size) {
  rect(x, y - size + 1, size, size, fill);
  text(x + size + 4, y, label, size);
  return x + legend_width(label, size);
}

double Canvas::legend_width(std::string_view label, double size) {
  // Helvetica's glyphs average about 0.6 of the font size; 10 px: the swatch's gap and the
  // space before the next entry.
  constexpr double kGlyph = 0.6, kGaps = 10;
  return size + kGaps + kGlyph * size * static_cast<double>(label.size());
}

std::string Canvas::finish(std::string_view title) const {
  std::string out;
  out.reserve(body_.size() + 512);
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " +
         num(width) + " " + num(height) + "\" font-family=\"Helvetica, Arial, sans-serif\" fill=\"" + color::text +
         "\">\n<title>" + escape(title) + "</title>\n<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) +
         "\" fill=\"#ffffff\"/>\n";
  out += body_;
  out += "</svg>\n";
  return out;
}

double Scale::operator()(double x) const {
  if (log) {
    const double a = std::log10(std::max(lo, 1e-300)), b = std::log10(std::max(hi, 1e-300));
    const double v = std::log10(std::max(x, 1e-300));
    return b == a ? from : from + (v - a) / (b - a) * (to - from);
  }
  return hi == lo ? from : from + (x - lo) / (hi - lo) * (to - from);
}

std::vector<double> Scale::ticks(int target) const {
  std::vector<double> out;
  if (!(hi > lo)) return {lo};
  if (log) {
    // Powers of two when the range spans under twelve decades (byte sizes, GPU counts), powers
    // of ten otherwise; thinned to about `target`.
    const double decades = std::log10(hi / lo);
    const double base = decades < 12 ? 2.0 : 10.0;
    const double first = std::ceil(std::log(lo) / std::log(base) - 1e-9), last = std::floor(std::log(hi) / std::log(base) + 1e-9);
    const int n = static_cast<int>(last - first) + 1;
    const int step = std::max(1, (n + target - 1) / target);
    for (double e = first; e <= last; e += step) out.push_back(std::pow(base, e));
    return out;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + 1e-9 * step; t += step)
    out.push_back(std::fabs(t) < 1e-12 * step ? 0 : t);
  return out;
}

std::string tick_label(double x) {
  char buf[32];
  const double a = std::fabs(x);
  if (a >= 1e9)
    std::snprintf(buf, sizeof buf, "%gG", x / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%gM", x / 1e6);
  else if (a >= 1e4)
    std::snprintf(buf, sizeof buf, "%gk", x / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::string bytes_label(double b) {
  char buf[32];
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  std::snprintf(buf, sizeof buf, "%g %s", std::round(b * 100) / 100, units[u]);
  return buf;
}

std::string seconds_label(double s) {
  char buf[32];
  const double a = std::fabs(s);
  if (a == 0)
    return "0";
  else if (a >= 1)
    std::snprintf(buf, sizeof buf, "%g s", s);
  else if (a >= 1e-3)
    std::snprintf(buf, sizeof buf, "%g ms", std::round(s * 1e6) / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%g us", std::round(s * 1e9) / 1e3);
  return buf;
}

void axes(Canvas& c, const Scale& x, const Scale& y, std::string_view x_title, std::string_view y_title, bool x_bytes,
          bool x_seconds, bool x_ticks) {
  const double x0 = std::min(x.from, x.to), x1 = std::max(x.from, x.to);
  const double y0 = std::min(y.from, y.to), y1 = std::max(y.from, y.to);
  for (double t : y.ticks(5)) {
    const double py = y(t);
    c.line(x0, py, x1, py, color::grid);
    c.text(x0 - 6, py + 4, tick_label(t), 10, "end");
  }
  for (double t : x_ticks ? x.ticks(x.log ? 10 : 6) : std::vector<double>{}) {
    const double px = x(t);
    c.line(px, y1, px, y1 + 4, color::axis);
    c.text(px, y1 + 16, x_bytes ? bytes_label(t) : (x_seconds ? seconds_label(t) : tick_label(t)), 10, "middle");
  }
  c.line(x0, y1, x1, y1, color::axis);
  c.line(x0, y0, x0, y1, color::axis);
  if (!x_title.empty()) c.text((x0 + x1) / 2, y1 + 32, x_title, 11, "middle");
  if (!y_title.empty())
    c.text(x0 - 44, (y0 + y1) / 2, y_title, 11, "middle",
           "transform=\"rotate(-90 " + num(x0 - 44) + " " + num((y0 + y1) / 2) + ")\"");
}

}  // namespace nest::svg
