// Exact split of one slice whose transformer blocks are all identical (every preset model).
//
// The objective of a split (stage.hpp) is  T = S/v + c * max_i t_i + max_i r_i,  c = m - 1/v.
// With identical blocks S (the sum of stage times) does not depend on the split: every block
// and every pipeline send is counted once whatever the cut (each boundary is paid by its sender
// and its receiver at its own level, wherever the cut falls). What remains is to minimise
// c*B + R over the bottleneck time B and the bottleneck tail R, subject to memory.
//
// A stage is one of three classes: the first (embedding + k units), a middle one (k units) and
// the last (k units + head), a unit being v blocks (one per virtual stage). Its time is
// work(k) + d_i: the class's layer time, non-decreasing in k, plus the position's sends d_i,
// which depend on the levels of the two boundaries it touches and not on k. Middle positions
// are grouped by their d_i (few distinct values: one per pair of levels). For a position,
// "t <= B and r <= R" allows an interval of k (the tail r(k) is unimodal: convex ring
// all-reduce and max(0, .) of affine functions of the stage's bytes), as does memory (monotone)
// at each position. A split exists iff every position's interval is non-empty and the
// intervals' bounds bracket the K units. Feasibility is monotone in B and R, so a two-pointer
// walk over the sorted candidate values of R (ascending) and B (descending) visits
// O(#B + #R) pairs, each checked in O(G (log p + log K)) for G send groups. The optimum is
// attained at some candidate pair, which makes this exact (docs/solver.md gives the proof).
#pragma once

#include "nest/kernels/collectives.hpp"

namespace nest::kernels::dp {

inline constexpr int kFirst = 0, kMiddle = 1, kLast = 2;
// A middle position's sends depend only on the unordered pair of levels of its two boundaries.
inline constexpr int kMaxSendGroups = kMaxLevels * (kMaxLevels + 1) / 2;

struct UniformSlice {
  int p = 1;              // stages (>= 2 here; p == 1 has a single possible split)
  int K = 0;              // units to place (blocks / v)
  double c = 0;           // m - 1/v
  double const_term = 0;  // S / v plus the fill and flush chains' sends, the same for every split
  // Per class: allowed units [kmin, kmax] and arrays over k = 0..K.
  int kmin[3] = {0, 1, 0}, kmax[3] = {0, 0, 0};
  const double* work[3] = {nullptr, nullptr, nullptr};  // stage time without its sends
  const double* tail[3] = {nullptr, nullptr, nullptr};
  int tail_argmin[3] = {0, 0, 0};
  // Sends per microbatch: of position 0, of position p-1, and of the middle positions' groups.
  double send_first = 0, send_last = 0;
  int n_groups = 0;
  double mid_send[kMaxSendGroups] = {};
  // Memory caps: largest k that fits at position 0, at position p-1, and at the middle
  // positions (sorted by group, then ascending, with prefix sums) -- -1 when nothing fits.
  int cap_first = -1, cap_last = -1;
  int n_mid = 0;
  int group_start[kMaxSendGroups + 1] = {};    // group g: mid_caps[group_start[g] .. group_start[g+1])
  const int* mid_caps = nullptr;               // n_mid values
  const long long* mid_prefix = nullptr;       // n_mid + 1 prefix sums of mid_caps
  const int* mid_caps_by_position = nullptr;   // n_mid values, for positions 1 .. p-2
  const int* mid_group_by_position = nullptr;  // n_mid values, for positions 1 .. p-2
};

// Largest k in [lo, hi] with a[k] + offset <= x for a non-decreasing a; lo - 1 if none.
NEST_HD_INLINE int last_at_most(const double* a, int lo, int hi, double x, double offset = 0) {
  int r = lo - 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2;
    if (a[mid] + offset <= x) {
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
  int lo = 0, hi = -1;  // empty until set
};

// Units allowed to class x by the tail cap R alone.
NEST_HD_INLINE Interval tail_interval(const UniformSlice& s, int x, double R) {
  const int lo = s.kmin[x], hi = s.kmax[x], am = s.tail_argmin[x];
  Interval iv{1, 0};
  if (lo > hi || s.tail[x][am] > R) return iv;
  iv.lo = first_at_most_decreasing(s.tail[x], lo, am, R);
  iv.hi = last_at_most(s.tail[x], am, hi, R);  // right of the argmin the tail is non-decreasing
  return iv;
}

// Largest k of class x whose stage time, with sends `send`, is within B; kmin - 1 if none.
NEST_HD_INLINE int time_cap(const UniformSlice& s, int x, double send, double B) {
  return last_at_most(s.work[x], s.kmin[x], s.kmax[x], B, send);
}

// Units allowed to class x at a position with sends `send` by the caps B (time) and R (tail),
// before memory.
NEST_HD_INLINE Interval class_interval(const UniformSlice& s, int x, double send, double B, double R) {
  Interval iv = tail_interval(s, x, R);
  if (iv.lo <= iv.hi) iv.hi = min_of(iv.hi, time_cap(s, x, send, B));
  return iv;
}

// Per-position bounds for (B, R); returns false when some position has no allowed k or the
// bounds cannot sum to K.
struct Bounds {
  Interval first, last, mid;   // mid.hi: the tail's bound, before time and memory
  int mid_hi[kMaxSendGroups];  // per send group: under the time cap too, before memory
  long long sum_lo = 0, sum_hi = 0;
};

NEST_HD_INLINE long long sum_min_caps(const UniformSlice& s, int g, int x) {
  // sum over group g's positions of min(x, cap_i): caps below x count fully, the rest count x
  const int begin = s.group_start[g], end = s.group_start[g + 1];
  int lo = begin, hi = end;  // first index with cap >= x
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (s.mid_caps[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return s.mid_prefix[lo] - s.mid_prefix[begin] + static_cast<long long>(x) * (end - lo);
}

NEST_HD_INLINE bool uniform_bounds(const UniformSlice& s, double B, double R, Bounds& b) {
  b.first = class_interval(s, kFirst, s.send_first, B, R);
  b.first.hi = min_of(b.first.hi, s.cap_first);
  if (b.first.lo > b.first.hi) return false;
  b.last = class_interval(s, kLast, s.send_last, B, R);
  b.last.hi = min_of(b.last.hi, s.cap_last);
  if (b.last.lo > b.last.hi) return false;
  b.sum_lo = b.first.lo + b.last.lo;
  b.sum_hi = b.first.hi + b.last.hi;
  if (s.n_mid > 0) {
    b.mid = tail_interval(s, kMiddle, R);
    if (b.mid.lo > b.mid.hi) return false;
    b.sum_lo += static_cast<long long>(b.mid.lo) * s.n_mid;
    for (int g = 0; g < s.n_groups; ++g) {
      const int hi = min_of(b.mid.hi, time_cap(s, kMiddle, s.mid_send[g], B));
      if (b.mid.lo > hi || b.mid.lo > s.mid_caps[s.group_start[g]]) return false;
      b.mid_hi[g] = hi;
      b.sum_hi += sum_min_caps(s, g, hi);
    }
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
    return min_of(b.mid_hi[s.mid_group_by_position[i - 1]], s.mid_caps_by_position[i - 1]);
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
