// Exact split of one interleaved slice over an arbitrary block sequence (dense and MoE mixtures,
// alternating attention windows, MTP heads): every stage's v chunks are equal, as Megatron-LM
// and PyTorch build them, but the stages may differ.
//
// In units: with the lacking edge blocks counted (the embedding and the head stand in for a
// block of the first and the last chunk, docs/solver.md §1), the blocks form v rounds of K units;
// stage i holds c_i units per round, so its chunk k covers units [k K + s_i, k K + s_i + c_i) with
// s_i = c_0 + ... + c_{i-1}. A stage is fixed by (i, s_i, c_i): its time (layers and the sends
// of its chunks' cuts), its tail and whether it fits at its position are tables over those.
//
// Objective T = S/v + c B + R + W (c = m - 1/v, W the fill and flush chains, split-independent).
// For caps (B, R) a DP over (stage position, units covered) gives the least S:
//   f[i+1][s+c] = min_s f[i][s] + t_i(s, c)   over stages within B, R and memory,
// and a min-max DP over the same cells the least B for a cap R. The search walks R over the
// distinct tails (ascending), takes the least B for each and walks B up while a larger B can
// still pay for itself through a smaller S, as the general DP does (dp/general.hpp). Every
// optimum has B and R equal to some stage's time and tail, so it is met.
#pragma once

#include "nest/kernels/dp/general.hpp"
#include "nest/kernels/hd.hpp"

namespace nest::kernels::dp {

struct InterleavedSlice {
  int p = 2;  // stages
  int K = 2;  // units per round
  double c = 0;
  double v = 2;
  double w = 0;  // fill and flush chains
  // Least units of the first and the last stage: 1, or as many as its edge chunk lacks (that
  // chunk keeps no fewer than none).
  int first_min = 1, last_min = 1;
  // Stage i holding c units from unit s, at index islot(i, s, c):
  const double* time = nullptr;  // layers fwd + bwd and the stage's pipeline sends
  const double* tail = nullptr;  // exposed gradient sync + optimizer step
  const int* fits = nullptr;     // 1 where the peak memory at position i is within capacity
};

NEST_HD_INLINE int islot(const InterleavedSlice& x, int i, int s, int c) { return (i * (x.K + 1) + s) * (x.K + 1) + c; }
NEST_HD_INLINE int islots(const InterleavedSlice& x) { return x.p * (x.K + 1) * (x.K + 1); }

// Where stage i may start and how many units it may hold: every stage at least its least units,
// the first from 0, the last up to K.
NEST_HD_INLINE int interleaved_min_units(const InterleavedSlice& x, int i) {
  return i == 0 ? x.first_min : (i == x.p - 1 ? x.last_min : 1);
}
// Least units of stages i .. p-1 together (p >= 2).
NEST_HD_INLINE int interleaved_min_after(const InterleavedSlice& x, int i) {
  if (i >= x.p) return 0;
  return (x.p - i) + (x.last_min - 1) + (i == 0 ? x.first_min - 1 : 0);
}
NEST_HD_INLINE void interleaved_ranges(const InterleavedSlice& x, int i, int& s_lo, int& s_hi) {
  s_lo = i == 0 ? 0 : x.first_min + (i - 1);
  s_hi = i == 0 ? 0 : x.K - interleaved_min_after(x, i);
}
NEST_HD_INLINE int interleaved_max_units(const InterleavedSlice& x, int i, int s) {
  return x.K - s - interleaved_min_after(x, i + 1);
}

NEST_HD_INLINE bool interleaved_ok(const InterleavedSlice& x, int slot, double B, double R) {
  return x.fits[slot] && x.tail[slot] <= R && x.time[slot] <= B;
}

// Least sum of stage times under caps (B, R), kInfinity when no split fits. f and arg hold
// (p + 1) (K + 1) entries: f[i][e] the least sum of stages 0 .. i-1 covering units [0, e), arg
// the start of stage i-1 in it.
NEST_HD_INLINE double interleaved_least_sum(const InterleavedSlice& x, double B, double R, double* f, int* arg,
                                            long long* cells) {
  const int p = x.p, K = x.K, W = K + 1;
  for (int e = 0; e < (p + 1) * W; ++e) f[e] = kInfinity;
  f[0] = 0;
  for (int i = 0; i < p; ++i) {
    int s_lo, s_hi;
    interleaved_ranges(x, i, s_lo, s_hi);
    for (int s = s_lo; s <= s_hi; ++s) {
      const double before = f[i * W + s];
      if (before >= kInfinity) continue;
      const int c_hi = interleaved_max_units(x, i, s);
      for (int c = i == p - 1 ? c_hi : interleaved_min_units(x, i); c <= c_hi; ++c) {
        if (cells) ++*cells;
        const int slot = islot(x, i, s, c);
        if (!interleaved_ok(x, slot, B, R)) continue;
        const double v = before + x.time[slot];
        if (v < f[(i + 1) * W + s + c]) {
          f[(i + 1) * W + s + c] = v;
          arg[(i + 1) * W + s + c] = s;
        }
      }
    }
  }
  return f[p * W + K];
}

// Least bottleneck (max stage time) under a cap R on the tails, kInfinity when no split fits;
// g holds (p + 1) (K + 1) entries.
NEST_HD_INLINE double interleaved_least_bottleneck(const InterleavedSlice& x, double R, double* g, long long* cells) {
  const int p = x.p, K = x.K, W = K + 1;
  for (int e = 0; e < (p + 1) * W; ++e) g[e] = kInfinity;
  g[0] = 0;
  for (int i = 0; i < p; ++i) {
    int s_lo, s_hi;
    interleaved_ranges(x, i, s_lo, s_hi);
    for (int s = s_lo; s <= s_hi; ++s) {
      const double before = g[i * W + s];
      if (before >= kInfinity) continue;
      const int c_hi = interleaved_max_units(x, i, s);
      for (int c = i == p - 1 ? c_hi : interleaved_min_units(x, i); c <= c_hi; ++c) {
        if (cells) ++*cells;
        const int slot = islot(x, i, s, c);
        if (!x.fits[slot] || x.tail[slot] > R) continue;
        const double b = max_of(before, x.time[slot]);
        if (b < g[(i + 1) * W + s + c]) g[(i + 1) * W + s + c] = b;
      }
    }
  }
  return g[p * W + K];
}

// Units per stage of the split interleaved_least_sum last found.
NEST_HD_INLINE void interleaved_units(const InterleavedSlice& x, const int* arg, int* units) {
  const int W = x.K + 1;
  int e = x.K;
  for (int i = x.p; i >= 1; --i) {
    const int s = arg[i * W + e];
    units[i - 1] = e - s;
    e = s;
  }
}

struct InterleavedSolution {
  bool feasible = false;
  double objective = 0;
  long long cells = 0;
};

// Bc, Rc: sorted distinct candidate stage times and tails (of the cells that fit). s_lb: the
// least S with no caps. bound: an objective to beat (+inf if none). f, g, arg: (p + 1) (K + 1)
// entries each; units: p entries, the best split found.
NEST_HD_INLINE InterleavedSolution solve_interleaved(const InterleavedSlice& x, const double* Bc, int nB, const double* Rc,
                                                     int nR, double s_lb, double bound, double* f, double* g, int* arg,
                                                     int* units) {
  InterleavedSolution best;
  double limit = bound;
  const double b_floor = interleaved_least_bottleneck(x, kInfinity, g, &best.cells);
  if (b_floor >= kInfinity) return best;
  for (int r = 0; r < nR; ++r) {
    const double R = Rc[r];
    if (s_lb / x.v + x.c * b_floor + R + x.w >= limit) break;
    const double b_least = interleaved_least_bottleneck(x, R, g, &best.cells);
    if (b_least >= kInfinity) continue;
    int b0 = 0;  // the candidate equal to b_least (it is a stage time)
    while (b0 < nB && Bc[b0] < b_least) ++b0;
    for (int b = b0; b < nB; ++b) {
      const double B = Bc[b];
      if (s_lb / x.v + x.c * B + R + x.w >= limit) break;
      const double S = interleaved_least_sum(x, B, R, f, arg, &best.cells);
      if (S >= kInfinity) continue;
      const double obj = S / x.v + x.c * B + R + x.w;
      if (obj < limit) limit = obj;
      if (!best.feasible || obj < best.objective) {
        best.feasible = true;
        best.objective = obj;
        interleaved_units(x, arg, units);
      }
      if (S <= s_lb) break;  // a larger B cannot lower S further
    }
  }
  return best;
}

}  // namespace nest::kernels::dp
