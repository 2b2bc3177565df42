#include "nest/io/progress_line.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace nest {

ProgressLine::ProgressLine(std::string label, bool wanted)
    : label_(std::move(label)), on_(wanted && isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::update(long long done, long long total, const std::string& detail) {
  if (!on_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = label_ + ": " + std::to_string(done) + "/" + std::to_string(total);
  if (!detail.empty()) line += "  " + detail;
  if (done > 0 && elapsed > 0) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "  %.3g/s", static_cast<double>(done) / elapsed);
    line += rate;
    line += "  ~" + human_seconds(elapsed / static_cast<double>(done) * static_cast<double>(total - done)) + " left";
  }
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
}

void ProgressLine::clear() {
  if (!on_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

std::string human_seconds(double s) {
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(std::fmod(s, 3600) / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s / 60), static_cast<int>(std::fmod(s, 60)));
  else
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}

}  // namespace nest
