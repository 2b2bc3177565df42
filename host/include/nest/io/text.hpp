// Small text helpers shared by the parsers (flags, CSV rows, rank orders) and the reports.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nest {

// printf into a std::string, whatever its length.
inline std::string format_text(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string format_text(const char* f, ...) {
  va_list ap, again;
  va_start(ap, f);
  va_copy(again, ap);
  const int n = std::vsnprintf(nullptr, 0, f, ap);
  va_end(ap);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, f, again);
  va_end(again);
  return out;
}

// A non-negative decimal integer that is the whole of `text` ("12"; not "", "-1", "1x", "1e3"),
// or nullopt.
inline std::optional<std::int64_t> parse_index(const std::string& text) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  if (text.empty() || used != text.size() || v < 0 || text[0] == '+' || text[0] == ' ') return std::nullopt;
  return v;
}

// Sorted distinct indices as the lists the flags take: {3, 17, 40, ..., 47} gives "3,17,40-47".
inline std::string index_ranges(const std::vector<std::int64_t>& sorted) {
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(sorted[i]);
    if (j > i) out += '-' + std::to_string(sorted[j]);
    i = j + 1;
  }
  return out;
}

// Splits on `sep`; "a,,b" gives {"a", "", "b"}, "" gives {}.
inline std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(sep, start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// One CSV record (RFC 4180 quoting: "a,""b""" is one field a,"b").
inline std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(field);
      field.clear();
    } else if (c != '\r') {
      field.push_back(c);
    }
  }
  out.push_back(field);
  return out;
}

// A duration for a terminal: seconds, milliseconds or microseconds, whichever reads best.
inline std::string format_duration(double s) {
  if (s >= 1) return format_text("%.3f s", s);
  if (s >= 1e-3) return format_text("%.2f ms", s * 1e3);
  return format_text("%.1f us", s * 1e6);
}

}  // namespace nest
