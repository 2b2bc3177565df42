// Template definitions for search_space.hpp.
#pragma once

#include <functional>

namespace nest {

template <class F>
void for_each_split(int blocks, int p, int v, int max_lack, F&& f) {
  if (p == 1) {
    f(std::vector<int>{blocks});
    return;
  }
  // Interleaved: each choice of lacking edge chunks (plan.hpp, edge_chunk_deficit) is a
  // separate family of splits, in units of v blocks.
  for (const auto& [first, last] : edge_deficit_choices(blocks, v, max_lack)) {
    const int total = blocks + first + last;
    auto emit = [&](const std::vector<int>& units) {
      std::vector<int> split(static_cast<std::size_t>(p));
      for (int x = 0; x < p; ++x) split[static_cast<std::size_t>(x)] = units[static_cast<std::size_t>(x)] * v;
      split.front() -= first;
      split.back() -= last;
      f(split);
    };
    const int K = total / v;
    std::vector<int> k(static_cast<std::size_t>(p), 0);
    // Units at least: 1 (interleaved) or 0 (1F1B) on an edge stage, and as many as its edge
    // chunk lacks; 1 elsewhere.
    const int edge_min = v == 1 ? 0 : 1;
    auto least = [&](int i) { return i == 0 ? std::max(edge_min, first) : i == p - 1 ? std::max(edge_min, last) : 1; };
    std::function<void(int, int)> rec = [&](int i, int left) {
      const int lo = least(i);
      if (i == p - 1) {
        if (left < lo) return;
        k[static_cast<std::size_t>(i)] = left;
        emit(k);
        return;
      }
      // leave enough for the positions after i
      int need_after = 0;
      for (int x = i + 1; x < p; ++x) need_after += least(x);
      for (int n = lo; n <= left - need_after; ++n) {
        k[static_cast<std::size_t>(i)] = n;
        rec(i + 1, left - n);
      }
    };
    rec(0, K);
  }
}

}  // namespace nest
