// SVG written directly (no plotting dependency): a canvas of shapes and text with tooltips, and
// linear / logarithmic scales with readable ticks. The figures (figures.hpp, the profiler's
// bandwidth plot) are built on it. docs/visuals.md shows what each figure draws.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nest::svg {

// Text and attribute values with &, <, >, " and ' escaped (and control characters dropped).
std::string escape(std::string_view text);

// A coordinate or length: at most two decimals, no trailing zeros.
std::string num(double x);

// The colours every figure uses for the same thing (step parts, memory parts, series).
namespace color {
inline constexpr const char* compute = "#4e79a7";
inline constexpr const char* backward = "#a0cbe8";
inline constexpr const char* mixed_passes = "#7aa3c8";  // forward and backward passes merged
inline constexpr const char* bubble = "#d7d7d7";
inline constexpr const char* tp = "#f28e2b";
inline constexpr const char* cp = "#e15759";
inline constexpr const char* ep = "#76b7b2";
inline constexpr const char* pp = "#59a14f";
inline constexpr const char* dp = "#edc948";
inline constexpr const char* optimizer = "#b07aa1";
inline constexpr const char* offload = "#ff9da7";
inline constexpr const char* params = "#4e79a7";
inline constexpr const char* grads = "#f28e2b";
inline constexpr const char* optimizer_state = "#59a14f";
inline constexpr const char* activations = "#e15759";
inline constexpr const char* working_set = "#9c755f";
inline constexpr const char* other = "#bab0ac";
inline constexpr const char* over = "#c00000";
inline constexpr const char* axis = "#555555";
inline constexpr const char* grid = "#e6e6e6";
inline constexpr const char* text = "#222222";
// Series colours, cycled.
const char* series(int i);
}  // namespace color

class Canvas {
 public:
  explicit Canvas(double w, double h = 0) : width(w), height(h) {}

  // `tip` becomes a <title> child: the tooltip browsers show on hover.
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view tip = {},
            std::string_view extra = {});
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double stroke_width = 1,
            std::string_view extra = {});
  // anchor: "start", "middle" or "end".
  void text(double x, double y, std::string_view s, double size = 12, std::string_view anchor = "start",
            std::string_view extra = {});
  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double stroke_width = 1.5,
                std::string_view extra = {});
  void circle(double cx, double cy, double r, std::string_view fill, std::string_view tip = {}, std::string_view extra = {});
  // A legend entry: a swatch and its label; returns the x after it (x + legend_width).
  double legend_item(double x, double y, std::string_view fill, std::string_view label, double size = 11);
  // The room a legend entry takes: the swatch, a gap, and the label at an average glyph width.
  static double legend_width(std::string_view label, double size = 11);

  // The whole document: <svg> with its size, viewBox, a <title> and the shapes drawn so far.
  std::string finish(std::string_view title) const;

  double width, height;

 private:
  std::string body_;
};

// Maps [lo, hi] of the data onto [from, to] in pixels, linearly or on a log10 scale.
struct Scale {
  double lo = 0, hi = 1, from = 0, to = 1;
  bool log = false;
  double operator()(double x) const;
  // "Nice" tick values inside [lo, hi]: 1-2-5 steps (linear) or powers of ten / two (log).
  std::vector<double> ticks(int target = 6) const;
};

// 0, 0.5, 12, 1.5k, 2M ... (plain numbers); 1 KB, 64 KB, 1 MB, 1 GB (bytes, binary multiples as
// nccl-tests prints sizes); seconds as s, ms or us.
std::string tick_label(double x);
std::string bytes_label(double bytes);
std::string seconds_label(double s);

// Axis lines, ticks, tick labels and grid lines of a plot area [x0, x1] x [y0, y1] (pixels).
// x_ticks = false: no ticks on x (categories the caller labels).
void axes(Canvas& c, const Scale& x, const Scale& y, std::string_view x_title, std::string_view y_title, bool x_bytes = false,
          bool x_seconds = false, bool x_ticks = true);

}  // namespace nest::svg
