#include "nest/cost/schedule.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "nest/kernels/pipeline.hpp"

namespace nest {

namespace {

std::vector<std::vector<int>> replay(int p, int v, int m, int i) {
  const int total = m * v;
  const int warmup = kernels::interleaved_warmup_passes(p, v, m, i);
  std::vector<int> live(static_cast<std::size_t>(v), 0);
  std::vector<std::vector<int>> moments;
  auto chunk = [&](int k, bool forward) {
    const int c = (k % (p * v)) / p;  // Megatron's get_model_chunk_id
    return forward ? c : v - 1 - c;
  };
  int fwd = 0, bwd = 0;
  for (; fwd < warmup; ++fwd) ++live[static_cast<std::size_t>(chunk(fwd, true))];
  if (warmup > 0) moments.push_back(live);
  const int steady = std::min(total - warmup, p * v);  // one period covers every state
  for (int k = 0; k < steady; ++k) {
    ++live[static_cast<std::size_t>(chunk(fwd++, true))];
    if (std::find(moments.begin(), moments.end(), live) == moments.end()) moments.push_back(live);
    --live[static_cast<std::size_t>(chunk(bwd++, false))];
  }
  // Drop dominated moments (another holds at least as many passes of every chunk).
  std::vector<std::vector<int>> front;
  for (const auto& a : moments) {
    bool dominated = false;
    for (const auto& b : moments) {
      if (&a == &b || a == b) continue;
      bool ge = true;
      for (int c = 0; c < v; ++c) ge = ge && b[static_cast<std::size_t>(c)] >= a[static_cast<std::size_t>(c)];
      dominated = dominated || ge;
    }
    if (!dominated) front.push_back(a);
  }
  return front;
}

}  // namespace

const std::vector<std::vector<int>>& interleaved_peak_moments(int p, int v, int m, int i) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int, int>, std::vector<std::vector<int>>> cache;
  const auto key = std::make_tuple(p, v, m, i);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto moments = replay(p, v, m, i);
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(key, std::move(moments)).first->second;  // std::map nodes never move
}

double interleaved_peak_bytes(int p, int v, int m, int i, const std::vector<double>& chunk_bytes) {
  double peak = 0;
  for (const auto& x : interleaved_peak_moments(p, v, m, i)) {
    double b = 0;
    for (std::size_t c = 0; c < x.size(); ++c) b += x[c] * chunk_bytes[c];
    peak = std::max(peak, b);
  }
  return peak;
}

std::vector<std::pair<int, int>> interleaved_edge_front(int p, int v, int m, int i, int edge_chunk) {
  std::vector<std::pair<int, int>> pts;
  for (const auto& live : interleaved_peak_moments(p, v, m, i)) {
    int total = 0;
    for (int x : live) total += x;
    pts.emplace_back(total, live[static_cast<std::size_t>(edge_chunk)]);
  }
  std::vector<std::pair<int, int>> front;
  for (const auto& a : pts) {
    bool dominated = false;
    for (const auto& b : pts)
      if (b != a && b.first >= a.first && b.second >= a.second) dominated = true;
    if (!dominated && std::find(front.begin(), front.end(), a) == front.end()) front.push_back(a);
  }
  return front;
}

}  // namespace nest
