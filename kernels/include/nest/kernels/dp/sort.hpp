// Sorting inside one thread of a DP kernel: an in-place heap sort (no recursion, no allocation)
// and the sorted distinct values of an array, for the candidate stage times and tails of both
// DPs. Written once for the CPU and the GPU.
#pragma once

#include <algorithm>
#include <numeric>
#include <vector>

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

}  // namespace nest::kernels::dp
