// Small text helpers shared by the parsers (flags, CSV rows, rank orders).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nest {

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

}  // namespace nest
