// The progress line of a long run (nest profile, nest sweep) on standard error, drawn only when
// standard error is a terminal: "<label>: <done>/<total>  <detail>  <rate>/s  ~<time> left",
// redrawn in place, cleared when the run ends or prints something else.
#pragma once

#include <chrono>
#include <string>

namespace nest {

class ProgressLine {
 public:
  // `label` starts the line ("nest sweep"); `wanted` false (a --no-progress flag, a rank other
  // than the first) draws nothing.
  ProgressLine(std::string label, bool wanted);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // `done` of `total` steps finished in this run; the rate and the time left are measured from
  // this object's creation. `detail` names the step under way (may be empty).
  void update(long long done, long long total, const std::string& detail = "");
  void clear();  // erases the line (before printing anything else on the terminal)
  bool shown() const { return on_; }

 private:
  std::string label_;
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

// "42s", "3m05s", "2h07m": a duration for people.
std::string human_seconds(double seconds);

}  // namespace nest
