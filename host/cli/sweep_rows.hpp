// The rows of nest sweep as they travel: from the rank that ran a point to rank 0 (MPI), into the
// checkpoint beside --out (F.csv.partial, one record per finished point, flushed as it comes)
// and back out of it on --resume. One record format for both, so a row read back is the row
// that was written, bit for bit: the front's two values travel as hexadecimal floats, because
// the Pareto marks are decided over every point once all have run.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace nest::cli {

struct SweepRow {
  std::size_t index = 0;           // the point's place in the cross product
  bool ok = false;                 // status ok: a candidate for the Pareto front
  double front_x = 0;              // GPUs used, or USD per million tokens with a price
  double front_y = 0;              // tokens/s
  std::vector<std::string> cells;  // the CSV row, its pareto cell "no" until the front is known
};

// One CSV field: quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);
// The cells as one CSV line, "\n"-terminated.
std::string csv_line(const std::vector<std::string>& cells);

// A row as one record (a CSV line: index, ok, front_x, front_y, then the cells), and back.
std::string encode_row(const SweepRow& row);
// Records from encode_row, one after another (another rank's); a run-time error if they are not.
std::vector<SweepRow> decode_rows(const std::string& records);

// The checkpoint of a sweep that writes `out`: `out` + ".partial". Its first lines say what it
// is, the sweep's settings (for --resume to compare) and the column names; then one record per
// finished point, in the order they finished. A complete sweep removes it after writing `out`,
// so a partial run never sits under the name of the result.
class SweepCheckpoint {
 public:
  static std::string path_for(const std::string& out) { return out + ".partial"; }

  // The records of an existing checkpoint written with these `settings` (one line) and
  // `header` (the CSV's column names), each checked against `axis_values_of(index)`; bad input,
  // one line naming the file and what differs, otherwise. A last record cut short (the process
  // was killed while writing it) is dropped.
  static std::vector<SweepRow> read(const std::string& path, const std::string& settings, const std::vector<std::string>& header,
                                    std::size_t points,
                                    const std::function<std::vector<std::string>(std::size_t)>& axis_values_of);

  // Starts the checkpoint afresh with `rows` (those read back on --resume, or none).
  SweepCheckpoint(std::string path, const std::string& settings, const std::vector<std::string>& header,
                  const std::vector<SweepRow>& rows);
  ~SweepCheckpoint();
  SweepCheckpoint(const SweepCheckpoint&) = delete;
  SweepCheckpoint& operator=(const SweepCheckpoint&) = delete;

  void append(const std::string& record);  // written through to the file at once
  void remove();                           // the sweep is complete and written

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// The settings line: the sweep's flags as given, as a one-line JSON object {"--flag": [values]}.
// What differs between two (e.g. "--global-batch is 512 there and 1024 here"), "" when equal.
std::string settings_difference(const std::string& there, const std::string& here);

}  // namespace nest::cli
