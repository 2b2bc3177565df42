#include "sweep_rows.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"

namespace nest::cli {

namespace {

// What a checkpoint's first line starts with; the number is the record format's version.
constexpr const char* kCheckpointMagic = "nest sweep checkpoint 1";
// The record's fields before the CSV row's cells: index, ok, front_x, front_y.
constexpr std::size_t kRecordPrefix = 4;
const std::vector<std::string> kRecordPrefixNames = {"point", "ok", "front_x", "front_y"};

// One CSV record from `text` at `pos` (quoted fields may hold commas, quotes and line breaks).
// False when the text ends before the record's line break (a record cut short).
bool next_record(const std::string& text, std::size_t& pos, std::vector<std::string>& cells) {
  cells.assign(1, "");
  bool quoted = false;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else if (c == '\n') {
      pos = i + 1;
      return true;
    } else {
      cells.back() += c;
    }
  }
  return false;
}

std::string hex_double(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", x);  // exact: a row read back has the front's values it had
  return buf;
}

bool parse_double(const std::string& s, double& x) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  x = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(x);
}

std::vector<std::string> record_header(const std::vector<std::string>& header) {
  std::vector<std::string> h = kRecordPrefixNames;
  h.insert(h.end(), header.begin(), header.end());
  return h;
}

std::string describe(const Json& values) {
  if (values.is_null()) return "not given";
  std::string s;
  for (const auto& v : values) s += (s.empty() ? "'" : " '") + v.get<std::string>() + "'";
  return s;
}

// A record's fields as a row; "" when they are one, what is wrong otherwise.
std::string row_from_fields(const std::vector<std::string>& fields, std::size_t points, SweepRow& row) {
  double index = 0;
  if (fields.size() < kRecordPrefix) return "has " + std::to_string(fields.size()) + " fields";
  if (!parse_double(fields[0], index) || index < 0 || index >= static_cast<double>(points) || index != std::floor(index))
    return "point '" + fields[0] + "' is not one of the " + std::to_string(points) + " points";
  row.index = static_cast<std::size_t>(index);
  if (fields[1] != "0" && fields[1] != "1") return "ok '" + fields[1] + "' is not 0 or 1";
  row.ok = fields[1] == "1";
  if (!parse_double(fields[2], row.front_x) || !parse_double(fields[3], row.front_y))
    return "front values '" + fields[2] + "', '" + fields[3] + "' are not numbers";
  row.cells.assign(fields.begin() + kRecordPrefix, fields.end());
  return "";
}

}  // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += ',';
    line += csv_field(cells[i]);
  }
  return line + "\n";
}

std::string encode_row(const SweepRow& row) {
  std::vector<std::string> fields = {std::to_string(row.index), row.ok ? "1" : "0", hex_double(row.front_x),
                                     hex_double(row.front_y)};
  fields.insert(fields.end(), row.cells.begin(), row.cells.end());
  return csv_line(fields);
}

std::vector<SweepRow> decode_rows(const std::string& records) {
  std::vector<SweepRow> rows;
  std::vector<std::string> fields;
  for (std::size_t pos = 0; pos < records.size();) {
    SweepRow row;
    std::string problem = next_record(records, pos, fields) ? "" : "is cut short";
    if (problem.empty()) problem = row_from_fields(fields, static_cast<std::size_t>(-1), row);
    if (!problem.empty()) throw_runtime("nest sweep: a row from another rank " + problem);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string settings_difference(const std::string& there, const std::string& here) {
  Json a, b;
  try {
    a = Json::parse(there);
    b = Json::parse(here);
  } catch (const std::exception&) {
    return "the settings line is not a JSON object";
  }
  if (!a.is_object() || !b.is_object()) return "the settings line is not a JSON object";
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key()) || a[it.key()] != it.value())
      return it.key() + " is " + describe(a.contains(it.key()) ? a[it.key()] : Json()) + " there and " + describe(it.value()) +
             " here";
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key())) return it.key() + " is " + describe(it.value()) + " there and not given here";
  return "";
}

std::vector<SweepRow> SweepCheckpoint::read(const std::string& path, const std::string& settings,
                                            const std::vector<std::string>& header, std::size_t points,
                                            const std::function<std::vector<std::string>(std::size_t)>& axis_values_of) {
  const std::string text = read_text_file(path);
  const std::string where = "--resume " + path;
  const auto again = "; run without --resume to start over";
  std::size_t pos = 0;
  auto line = [&]() {
    const auto nl = text.find('\n', pos);
    if (nl == std::string::npos) throw_bad_input(where, std::string("is not a nest sweep checkpoint (cut short)") + again);
    std::string s = text.substr(pos, nl - pos);
    pos = nl + 1;
    return s;
  };
  if (line().rfind(kCheckpointMagic, 0) != 0)
    throw_bad_input(where, std::string("is not a nest sweep checkpoint (its first line is not '") + kCheckpointMagic + " ...')");
  if (const std::string diff = settings_difference(line(), settings); !diff.empty())
    throw_bad_input(where, "was written by a sweep with other settings: " + diff + again);
  const std::vector<std::string> want = record_header(header);
  std::vector<std::string> cells;
  if (!next_record(text, pos, cells) || cells != want) {
    std::string there;
    for (const std::string& c : cells) there += (there.empty() ? "" : ",") + c;
    throw_bad_input(where, "has other columns (" + there.substr(0, 200) + ")" + again);
  }

  std::vector<SweepRow> rows;
  std::vector<bool> seen(points, false);
  for (std::size_t record = 1; pos < text.size(); ++record) {
    if (!next_record(text, pos, cells)) break;  // cut short while being written: run that point again
    const std::string at = where + ": record " + std::to_string(record);
    if (cells.size() != want.size())
      throw_bad_input(at, "has " + std::to_string(cells.size()) + " fields, not " + std::to_string(want.size()));
    SweepRow row;
    if (const std::string problem = row_from_fields(cells, points, row); !problem.empty()) throw_bad_input(at, problem);
    if (seen[row.index]) throw_bad_input(at, "point " + cells[0] + " appears twice");
    seen[row.index] = true;
    const std::vector<std::string> values = axis_values_of(row.index);
    for (std::size_t i = 0; i < values.size(); ++i)
      if (row.cells[i] != values[i])
        throw_bad_input(at, "point " + cells[0] + " has " + header[i] + "=" + row.cells[i] + ", not " + values[i]);
    rows.push_back(std::move(row));
  }
  return rows;
}

SweepCheckpoint::SweepCheckpoint(std::string path, const std::string& settings, const std::vector<std::string>& header,
                                 const std::vector<SweepRow>& rows)
    : path_(std::move(path)) {
  // Written whole under a temporary name first: a resume that rewrites the checkpoint and dies
  // leaves the old one, never half of it.
  std::string head = std::string(kCheckpointMagic) + ": the finished points of a sweep; finish it with --resume\n" + settings +
                     "\n" + csv_line(record_header(header));
  for (const SweepRow& r : rows) head += encode_row(r);
  write_file_atomic(path_, head);
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) throw_bad_input(path_, std::string("cannot write file (") + std::strerror(errno) + ")");
}

SweepCheckpoint::~SweepCheckpoint() {
  if (file_) std::fclose(file_);
}

void SweepCheckpoint::append(const std::string& record) {
  // Flushed per record: Ctrl-C, a kill or mpirun ending the job loses at most the point under way.
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0)
    throw_runtime(path_ + ": write failed (" + std::strerror(errno) + ")");
}

void SweepCheckpoint::remove() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace nest::cli
