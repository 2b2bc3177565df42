#include "nest/cost/schedule.hpp"

#include <algorithm>

#include "nest/kernels/pipeline.hpp"

namespace nest {

std::vector<std::vector<int>> interleaved_live_moments(int p, int v, int m, int i) {
  const int total = m * v;
  const int warmup = kernels::interleaved_warmup_passes(p, v, m, i);
  std::vector<int> live(static_cast<std::size_t>(v), 0);
  std::vector<std::vector<int>> moments;
  auto chunk = [&](int k, bool forward) {
    const int c = (k % (p * v)) / p;  // Megatron's get_model_chunk_id
    return forward ? c : v - 1 - c;
  };
  auto record = [&] {
    for (const auto& x : moments) {
      bool dominated = true;
      for (int c = 0; c < v; ++c) dominated = dominated && x[static_cast<std::size_t>(c)] >= live[static_cast<std::size_t>(c)];
      if (dominated) return;
    }
    std::erase_if(moments, [&](const std::vector<int>& x) {
      for (int c = 0; c < v; ++c)
        if (live[static_cast<std::size_t>(c)] < x[static_cast<std::size_t>(c)]) return false;
      return true;
    });
    moments.push_back(live);
  };
  int fwd = 0, bwd = 0;
  for (; fwd < warmup; ++fwd) {
    ++live[static_cast<std::size_t>(chunk(fwd, true))];
    record();
  }
  while (fwd < total) {
    ++live[static_cast<std::size_t>(chunk(fwd++, true))];
    record();
    --live[static_cast<std::size_t>(chunk(bwd++, false))];
  }
  return moments;
}

double interleaved_peak_bytes(const std::vector<std::vector<int>>& moments, const std::vector<double>& chunk_bytes) {
  double peak = 0;
  for (const auto& x : moments) {
    double b = 0;
    for (std::size_t c = 0; c < x.size(); ++c) b += x[c] * chunk_bytes[c];
    peak = std::max(peak, b);
  }
  return peak;
}

}  // namespace nest
