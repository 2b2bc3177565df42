// Exact split of one slice whose transformer blocks are all identical (every preset model).
//
// The objective of a split (stage.hpp) is  T = S/v + c * max_i t_i + max_i r_i,  c = m - 1/v.
// With identical blocks S (the sum of stage times) does not depend on the split: every block
// and every pipeline send is counted once whatever the cut. What remains is to minimise
// c*B + R over the bottleneck time B and the bottleneck tail R, subject to memory.
//
// A stage is one of three classes: the first (embedding + k units), a middle one (k units) and
// the last (k units + head), a unit being v blocks (one per virtual stage). For a class, time
// t(k) grows with k and tail r(k) is unimodal in k (convex: ring all-reduce and max(0, .) of
// affine functions of the stage's bytes), so "t <= B and r <= R" allows an interval of k, as
// does memory (monotone) at each position. A split exists iff every position's interval is
// non-empty and the intervals' bounds bracket the K units. Feasibility is monotone in B and R,
// so a two-pointer walk over the sorted candidate values of R (ascending) and B (descending)
// visits O(#B + #R) pairs, each checked in O(log p + log K). The optimum is attained at some
// candidate pair, which makes this exact (docs/solver.md gives the proof).
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels::dp {

inline constexpr int kFirst = 0, kMiddle = 1, kLast = 2;

struct UniformSlice {
  int p = 1;              // stages (>= 2 here; p == 1 has a single possible split)
  int K = 0;              // units to place (blocks / v)
  double c = 0;           // m - 1/v
  double const_term = 0;  // S / v, the same for every split
  // Per class: allowed units [kmin, kmax] and arrays over k = 0..K.
  int kmin[3] = {0, 1, 0}, kmax[3] = {0, 0, 0};
  const double* time[3] = {nullptr, nullptr, nullptr};
  const double* tail[3] = {nullptr, nullptr, nullptr};
  int tail_argmin[3] = {0, 0, 0};
  // Memory caps: largest k that fits at position 0, at position p-1, and at the middle
  // positions (sorted ascending, with prefix sums) -- -1 when nothing fits.
  int cap_first = -1, cap_last = -1;
  int n_mid = 0;
  const int* mid_caps = nullptr;              // n_mid values, ascending
  const long long* mid_prefix = nullptr;      // n_mid + 1 prefix sums of mid_caps
  const int* mid_caps_by_position = nullptr;  // n_mid values, for positions 1 .. p-2
};

// Largest k in [lo, hi] with a[k] <= x for a non-decreasing a; lo - 1 if none.
NEST_HD_INLINE int last_at_most(const double* a, int lo, int hi, double x) {
  int r = lo - 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2;
    if (a[mid] <= x) {
      r = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return r;
}

// Smallest k in [lo, hi] with a[k] <= x for a non-increasing a; hi + 1 if none.
NEST_HD_INLINE int first_at_most_decreasing(const double* a, int lo, int hi, double x) {
  int r = hi + 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2;
    if (a[mid] <= x) {
      r = mid;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  return r;
}

struct Interval {
  int lo, hi;
};

// Units allowed to class x by the caps B (time) and R (tail), before memory.
NEST_HD_INLINE Interval class_interval(const UniformSlice& s, int x, double B, double R) {
  const int lo = s.kmin[x], hi = s.kmax[x], am = s.tail_argmin[x];
  Interval iv{1, 0};
  if (lo > hi || s.tail[x][am] > R) return iv;
  const int hi_b = last_at_most(s.time[x], lo, hi, B);
  const int lo_r = first_at_most_decreasing(s.tail[x], lo, am, R);
  // right of the argmin the tail is non-decreasing
  const int hi_r = last_at_most(s.tail[x], am, hi, R);
  iv.lo = lo_r;
  iv.hi = min_of(hi_b, hi_r);
  return iv;
}

// Per-position bounds for (B, R); returns false when some position has no allowed k or the
// bounds cannot sum to K. lo/hi receive the first, last and middle-class bounds.
struct Bounds {
  Interval first, last, mid;  // mid.hi before the per-position memory caps
  long long sum_lo = 0, sum_hi = 0;
};

NEST_HD_INLINE long long sum_min_caps(const UniformSlice& s, int x) {
  // sum over middle positions of min(x, cap_i): caps below x count fully, the rest count x
  int lo = 0, hi = s.n_mid;  // first index with cap >= x
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (s.mid_caps[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return s.mid_prefix[lo] + static_cast<long long>(x) * (s.n_mid - lo);
}

NEST_HD_INLINE bool uniform_bounds(const UniformSlice& s, double B, double R, Bounds& b) {
  b.first = class_interval(s, kFirst, B, R);
  b.first.hi = min_of(b.first.hi, s.cap_first);
  if (b.first.lo > b.first.hi) return false;
  b.last = class_interval(s, kLast, B, R);
  b.last.hi = min_of(b.last.hi, s.cap_last);
  if (b.last.lo > b.last.hi) return false;
  b.sum_lo = b.first.lo + b.last.lo;
  b.sum_hi = b.first.hi + b.last.hi;
  if (s.n_mid > 0) {
    b.mid = class_interval(s, kMiddle, B, R);
    if (b.mid.lo > b.mid.hi || b.mid.lo > s.mid_caps[0]) return false;
    b.sum_lo += static_cast<long long>(b.mid.lo) * s.n_mid;
    b.sum_hi += sum_min_caps(s, b.mid.hi);
  }
  return b.sum_lo <= s.K && s.K <= b.sum_hi;
}

NEST_HD_INLINE bool uniform_feasible(const UniformSlice& s, double B, double R) {
  Bounds b;
  return uniform_bounds(s, B, R, b);
}

struct UniformSolution {
  bool feasible = false;
  double objective = 0;  // const_term + c B + R
  double B = 0, R = 0;
  long long checks = 0;  // feasibility checks made (the DP "cells" of this method)
};

// Two-pointer walk over sorted distinct candidates Bc (times) and Rc (tails). `bound`: stop as
// soon as no remaining pair can beat it (the best objective known elsewhere, or +inf).
NEST_HD_INLINE UniformSolution solve_uniform(const UniformSlice& s, const double* Bc, int nB, const double* Rc, int nR,
                                             double bound) {
  UniformSolution best;
  int j = nB - 1;
  for (int r = 0; r < nR; ++r) {
    const double R = Rc[r];
    if (s.const_term + s.c * Bc[0] + R >= bound) break;
    if (best.feasible && s.const_term + s.c * Bc[0] + R >= best.objective) break;
    ++best.checks;
    if (!uniform_feasible(s, Bc[j], R)) continue;  // not even the largest remaining B works
    while (j > 0) {
      ++best.checks;
      if (!uniform_feasible(s, Bc[j - 1], R)) break;
      --j;
    }
    const double obj = s.const_term + s.c * Bc[j] + R;
    if (!best.feasible || obj < best.objective) {
      best.feasible = true;
      best.objective = obj;
      best.B = Bc[j];
      best.R = R;
    }
  }
  return best;
}

// A split achieving (B, R): every position starts at its lower bound, then units go one at a
// time to the position with the fewest units that can still take one (the later position on
// ties), which keeps stages as even as the bounds allow. k receives p unit counts.
NEST_HD_INLINE bool uniform_split(const UniformSlice& s, double B, double R, int* k) {
  Bounds b;
  if (!uniform_bounds(s, B, R, b)) return false;
  const int p = s.p;
  auto upper = [&](int i) {
    if (i == 0) return b.first.hi;
    if (i == p - 1) return b.last.hi;
    return min_of(b.mid.hi, s.mid_caps_by_position[i - 1]);
  };
  for (int i = 0; i < p; ++i) k[i] = i == 0 ? b.first.lo : (i == p - 1 ? b.last.lo : b.mid.lo);
  for (long long left = s.K - b.sum_lo; left > 0; --left) {
    int pick = -1;
    for (int i = p - 1; i >= 0; --i)
      if (k[i] < upper(i) && (pick < 0 || k[i] < k[pick])) pick = i;
    if (pick < 0) return false;  // cannot happen when uniform_bounds holds
    ++k[pick];
  }
  return true;
}

}  // namespace nest::kernels::dp
