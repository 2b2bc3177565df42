#include "nest/cost/schedule.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "nest/kernels/pipeline.hpp"

namespace nest {

namespace {

std::vector<std::vector<int>> replay(int p, int v, int m, int i, int torch_order, int extra) {
  const int warmup = kernels::interleaved_warmup_passes(p, v, m, i, torch_order, extra);
  const std::vector<PipelinePass> order = schedule_order(p, v, m, i, torch_order, extra);
  std::vector<int> live(static_cast<std::size_t>(v), 0);
  std::vector<std::vector<int>> moments;
  std::size_t x = 0;
  for (; x < static_cast<std::size_t>(warmup); ++x) ++live[static_cast<std::size_t>(order[x].chunk)];
  if (warmup > 0) moments.push_back(live);
  // Steady state: forward, backward pairs; one period (p v pairs) covers every state.
  for (int k = 0; k < p * v && x + 1 < order.size() && order[x].forward; ++k) {
    ++live[static_cast<std::size_t>(order[x++].chunk)];
    if (std::find(moments.begin(), moments.end(), live) == moments.end()) moments.push_back(live);
    --live[static_cast<std::size_t>(order[x++].chunk)];
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

std::vector<PipelinePass> schedule_order(int p, int v, int m, int i, int torch_order, int extra) {
  std::vector<PipelinePass> out;
  out.reserve(static_cast<std::size_t>(2 * m * v));
  const int total = m * v;
  const int warmup = v == 1 ? std::min(p - i - 1 + extra, m) : kernels::interleaved_warmup_passes(p, v, m, i, torch_order, extra);
  // Megatron's get_model_chunk_id and get_microbatch_id_in_model_chunk (groups of g = p
  // microbatches per chunk; PyTorch's forward_stage_index / backward_stage_index the same with its
  // g); with v = 1 they reduce to chunk 0 and microbatch k.
  const int g = kernels::interleaved_group(p, m, torch_order);
  auto pass = [&](int k, bool forward) {
    const int group = k / (g * v), in_group = k % (g * v);
    const int c = in_group / g;
    return PipelinePass{forward, forward ? c : v - 1 - c, v == 1 ? k : group * g + in_group % g};
  };
  int fwd = 0, bwd = 0;
  for (; fwd < warmup; ++fwd) out.push_back(pass(fwd, true));
  while (fwd < total) {
    out.push_back(pass(fwd++, true));
    out.push_back(pass(bwd++, false));
  }
  while (bwd < total) out.push_back(pass(bwd++, false));
  return out;
}

const std::vector<std::vector<int>>& interleaved_peak_moments(int p, int v, int m, int i, int torch_order, int extra) {
  static std::mutex mu;
  static std::map<std::tuple<int, int, int, int, int, int>, std::vector<std::vector<int>>> cache;
  const auto key = std::make_tuple(p, v, m, i, torch_order ? 1 : 0, extra);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto moments = replay(p, v, m, i, torch_order, extra);
  std::lock_guard<std::mutex> lock(mu);
  return cache.emplace(key, std::move(moments)).first->second;  // std::map nodes never move
}

double interleaved_peak_bytes(int p, int v, int m, int i, const std::vector<double>& chunk_bytes, int torch_order, int extra) {
  double peak = 0;
  for (const auto& x : interleaved_peak_moments(p, v, m, i, torch_order, extra)) {
    double b = 0;
    for (std::size_t c = 0; c < x.size(); ++c) b += x[c] * chunk_bytes[c];
    peak = std::max(peak, b);
  }
  return peak;
}

namespace {

std::vector<std::pair<int, int>> edge_front_of(int p, int v, int m, int i, int edge_chunk, int edge_sign, int torch_order,
                                               int extra) {
  std::vector<std::pair<int, int>> pts;
  for (const auto& live : interleaved_peak_moments(p, v, m, i, torch_order, extra)) {
    int total = 0;
    for (int x : live) total += x;
    pts.emplace_back(total, live[static_cast<std::size_t>(edge_chunk)]);
  }
  std::vector<std::pair<int, int>> front;
  for (const auto& a : pts) {
    bool dominated = false;
    for (const auto& b : pts)
      if (b != a && b.first >= a.first && (edge_sign >= 0 ? b.second >= a.second : b.second <= a.second)) dominated = true;
    if (!dominated && std::find(front.begin(), front.end(), a) == front.end()) front.push_back(a);
  }
  return front;
}

}  // namespace

std::vector<std::pair<int, int>> interleaved_edge_front(int p, int v, int m, int i, int edge_chunk, int edge_sign,
                                                        int torch_order, int extra) {
  // Every uniform input of an interleaved slice asks for two fronts, and the quadratic dominance
  // scan over the moments was 5% of a search: each thread keeps the fronts it has found (a
  // few per schedule shape, no lock).
  thread_local std::map<std::tuple<int, int, int, int, int, int, int, int>, std::vector<std::pair<int, int>>> fronts;
  const auto key = std::make_tuple(p, v, m, i, edge_chunk, edge_sign >= 0 ? 1 : -1, torch_order ? 1 : 0, extra);
  auto it = fronts.find(key);
  if (it == fronts.end()) it = fronts.emplace(key, edge_front_of(p, v, m, i, edge_chunk, edge_sign, torch_order, extra)).first;
  return it->second;
}

}  // namespace nest
