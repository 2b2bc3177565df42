// Sorting inside one thread of a DP kernel: an in-place heap sort (no recursion, no allocation)
// and the sorted distinct values of an array, for the candidate stage times and tails of both
// DPs. Written once for the CPU and the GPU.
#pragma once

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/kernels/hd.hpp"

namespace nest::kernels::dp {

NEST_HD_INLINE void heap_sort(double* a, int n) {
  auto sift = [&](int root, int end) {
    while (2 * root + 1 < end) {
      int child = 2 * root + 1;
      if (child + 1 < end && a[child] < a[child + 1]) ++child;
      if (a[root] >= a[child]) return;
      const double t = a[root];
      a[root] = a[child];
      a[child] = t;
      root = child;
    }
  };
  for (int i = n / 2 - 1; i >= 0; --i) sift(i, n);
  for (int end = n - 1; end > 0; --end) {
    const double t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift(0, end);
  }
}

NEST_HD_INLINE int sort_unique(double* a, int n) {
  heap_sort(a, n);
  int w = 0;
  for (int r = 0; r < n; ++r)
    if (w == 0 || a[r] != a[w - 1]) a[w++] = a[r];
  return w;
}

// A result's sort key on every backend: a solved one (status 1) by its objective; a failed shape
// check (status 2, the uniform DP's: the CPU solves those) after every solved one; nothing fits
// (or nothing beats the bound) last.
inline constexpr double kShapeCheckKey = 1e300, kUnsolvedKey = 1e308;
NEST_HD_INLINE double result_key(int status, double objective) {
  return status == 1 ? objective : (status == 2 ? kShapeCheckKey : kUnsolvedKey);
}

// The order a batch's results are taken in, on every backend: by sort key (the objective), ties
// in batch order, as CUB's stable radix sort on the device leaves them.
inline std::vector<int> batch_sorted_order(const std::vector<double>& keys) {
  std::vector<int> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)]; });
  return order;
}

// The results that go back, in sorted order: the first top_k solved ones (status 1).
template <class Result>
std::vector<int> first_solved(const std::vector<Result>& results, const std::vector<int>& sorted, int top_k) {
  std::vector<int> out;
  for (int s : sorted) {
    if (static_cast<int>(out.size()) >= top_k) break;
    if (results[static_cast<std::size_t>(s)].status == 1) out.push_back(s);
  }
  return out;
}

// Several searches' inputs in one backend call (nest sweep's points, each on its own host
// thread: search/gathering_backend.hpp): segment s holds inputs [starts[s], starts[s + 1]), is
// solved against bounds[s] and gets its own top_k[s] best back, selected within the segment by
// the one rule above, so that a search's results are the same whatever else shares its call.
// One search is one segment.
struct Segments {
  std::vector<int> starts{0};
  std::vector<double> bounds;
  std::vector<int> top_k;

  static Segments one(std::size_t inputs, double bound, int k) {
    Segments s;
    s.add(inputs, bound, k);
    return s;
  }
  void add(std::size_t inputs, double bound, int k) {
    starts.push_back(starts.back() + static_cast<int>(inputs));
    bounds.push_back(bound);
    top_k.push_back(k);
  }
  int count() const { return static_cast<int>(bounds.size()); }
  int inputs() const { return starts.back(); }
  // What every solve call checks first: the segments cover exactly its n inputs.
  void require_covers(std::size_t n) const {
    if (static_cast<std::size_t>(inputs()) != n || top_k.size() != bounds.size() || starts.size() != bounds.size() + 1)
      throw_runtime("a backend call's segments cover " + std::to_string(inputs()) + " inputs, the call has " + std::to_string(n));
  }
  // The segment input x lies in.
  int of(int x) const { return static_cast<int>(std::upper_bound(starts.begin(), starts.end(), x) - starts.begin()) - 1; }
  // Each input's bound (its segment's): what the kernels read, one per thread.
  std::vector<double> input_bounds() const {
    std::vector<double> out(static_cast<std::size_t>(inputs()));
    for (int s = 0; s < count(); ++s)
      std::fill(out.begin() + starts[static_cast<std::size_t>(s)], out.begin() + starts[static_cast<std::size_t>(s) + 1],
                bounds[static_cast<std::size_t>(s)]);
    return out;
  }
};

// batch_sorted_order within each segment, the segments one after the other (what CUB's
// segmented stable sort leaves on the device).
inline std::vector<int> segment_sorted_order(const std::vector<double>& keys, const Segments& seg) {
  std::vector<int> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  for (int s = 0; s < seg.count(); ++s)
    std::stable_sort(order.begin() + seg.starts[static_cast<std::size_t>(s)],
                     order.begin() + seg.starts[static_cast<std::size_t>(s) + 1],
                     [&](int a, int b) { return keys[static_cast<std::size_t>(a)] < keys[static_cast<std::size_t>(b)]; });
  return order;
}

// A selection (first_solved, uniform_taken: (results, sorted, top_k) -> inputs) made in each
// segment of an order of segment_sorted_order's shape, with the segment's top_k; segment by
// segment.
template <class Result, class Select>
std::vector<int> select_per_segment(const std::vector<Result>& results, const std::vector<int>& sorted, const Segments& seg,
                                    Select select) {
  std::vector<int> out;
  for (int s = 0; s < seg.count(); ++s) {
    const std::vector<int> part(sorted.begin() + seg.starts[static_cast<std::size_t>(s)],
                                sorted.begin() + seg.starts[static_cast<std::size_t>(s) + 1]);
    for (int x : select(results, part, seg.top_k[static_cast<std::size_t>(s)])) out.push_back(x);
  }
  return out;
}

// A backend that cuts a call into parts (the CUDA backend, under its memory budget) selects in
// each part on its own, then merges. The segments of the call that part [start, start + n)
// holds, relative to the part (what the part's sort and selection read), and the call's segment
// of each:
struct CallPart {
  Segments seg;
  std::vector<int> ids;
};

inline CallPart call_part(const Segments& seg, int start, int n) {
  CallPart part;
  for (int s = seg.of(start); s < seg.count() && seg.starts[static_cast<std::size_t>(s)] < start + n; ++s) {
    const int a = std::max(seg.starts[static_cast<std::size_t>(s)], start);
    const int b = std::min(seg.starts[static_cast<std::size_t>(s) + 1], start + n);
    if (b <= a) continue;
    part.seg.add(static_cast<std::size_t>(b - a), seg.bounds[static_cast<std::size_t>(s)],
                 seg.top_k[static_cast<std::size_t>(s)]);
    part.ids.push_back(s);
  }
  return part;
}

// The parts' selections (found: `input` indexing the whole call, `result.status`) merged into
// the call's: per segment, by key (`key_of`) then input, the first top K solved, and every other
// result a part kept (the uniform DP's failed shape checks), segment after segment.
template <class Found, class KeyOf>
std::vector<Found> merge_parts(std::vector<Found> found, const Segments& seg, KeyOf key_of) {
  std::vector<int> segment(found.size());
  for (std::size_t x = 0; x < found.size(); ++x) segment[x] = seg.of(found[x].input);
  std::vector<std::size_t> order(found.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (segment[a] != segment[b]) return segment[a] < segment[b];
    const double ka = key_of(found[a]), kb = key_of(found[b]);
    return ka != kb ? ka < kb : found[a].input < found[b].input;
  });
  std::vector<Found> out;
  int current = -1, solved = 0;
  for (const std::size_t x : order) {
    if (segment[x] != current) {
      current = segment[x];
      solved = 0;
    }
    if (found[x].result.status == 1 && solved++ >= seg.top_k[static_cast<std::size_t>(current)]) continue;
    out.push_back(std::move(found[x]));
  }
  return out;
}

}  // namespace nest::kernels::dp
