// Exact split of one slice over an arbitrary layer sequence (heterogeneous blocks: dense and
// MoE mixtures, NEST's tabulated graphs). Node 0 (the embedding) is pinned to the first stage,
// node N-1 (the head) to the last; every stage is a non-empty contiguous range.
//
// Objective T = S/v + c * max_i t_i + max_i r_i (v = 1 here). For caps (B, R) a DP over
// (stage position, nodes covered) finds the least sum S of stage times with every stage's time
// <= B, tail <= R and memory within capacity at its own position:
//   f[i][j] = min_a f[i-1][a] + t_i(a, j)     over stages i covering nodes [a, j)
// The search enumerates R over the distinct stage tails (ascending) and, for each, B over the
// distinct stage times (ascending), stopping each scan once the lower bound S_lb + c B + R
// cannot beat the best objective found (Alpa's stage-construction enumeration, extended to the
// second maximum). Every optimum has B and R equal to some stage's time and tail, so it is met.
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels::dp {

inline constexpr double kInfinity = 1e300;

struct GeneralSlice {
  int p = 1;  // stages
  int N = 0;  // nodes
  double c = 0;
  // For the stage covering nodes [a, j), index a * (N + 1) + j:
  const double* base_time = nullptr;   // sum of fwd + bwd
  const double* tail = nullptr;        // exposed gradient sync + optimizer
  const double* static_mem = nullptr;  // weights + grads + optimizer + working + other
  const double* act = nullptr;         // activation bytes per in-flight microbatch
  // send[l * (N + 1) + j]: one pipeline send across the cut before node j over network level l;
  // boundary i (between positions i and i+1) crosses level boundary_level[i].
  const double* send = nullptr;
  const int* boundary_level = nullptr;
  const int* inflight = nullptr;  // microbatches in flight at each position
  // Bytes at each position beside the layers' (stage.hpp, pipeline_runtime_bytes, with the
  // allocator's reserve); nullptr: none.
  const double* position_bytes = nullptr;
  double capacity = 0;
};

NEST_HD_INLINE double general_position_bytes(const GeneralSlice& s, int i) { return s.position_bytes ? s.position_bytes[i] : 0; }

NEST_HD_INLINE int gidx(const GeneralSlice& s, int a, int j) { return a * (s.N + 1) + j; }

// Stage i's time: its layers, the forward send leaving it (boundary i) and the backward send
// leaving it (boundary i-1), each at the level its boundary crosses.
NEST_HD_INLINE double general_stage_time(const GeneralSlice& s, int i, int a, int j) {
  double t = s.base_time[gidx(s, a, j)];
  if (i < s.p - 1) t += s.send[s.boundary_level[i] * (s.N + 1) + j];
  if (i > 0) t += s.send[s.boundary_level[i - 1] * (s.N + 1) + a];
  return t;
}

NEST_HD_INLINE bool general_stage_ok(const GeneralSlice& s, int i, int a, int j, double B, double R) {
  const int x = gidx(s, a, j);
  if (s.tail[x] > R) return false;
  if (s.static_mem[x] + s.inflight[i] * s.act[x] + general_position_bytes(s, i) > s.capacity) return false;
  return general_stage_time(s, i, a, j) <= B;
}

// Valid ranges of a stage's first node a and end j at position i.
NEST_HD_INLINE void general_ranges(const GeneralSlice& s, int i, int& a_lo, int& a_hi, int& j_lo, int& j_hi) {
  const int p = s.p, N = s.N;
  a_lo = i == 0 ? 0 : i;            // i stages before it, each with >= 1 node
  a_hi = i == 0 ? 0 : N - (p - i);  // leave a node for every later stage
  j_lo = a_lo + 1;
  j_hi = i == p - 1 ? N : N - (p - 1 - i);
}

// Least sum of stage times under caps (B, R); kInfinity when no split fits. f and arg hold
// p * (N + 1) entries; arg[i][j] is the start of stage i in the best split covering [0, j).
NEST_HD_INLINE double general_dp(const GeneralSlice& s, double B, double R, double* f, int* arg, long long* cells) {
  const int p = s.p, N = s.N, W = N + 1;
  for (int x = 0; x < p * W; ++x) f[x] = kInfinity;
  for (int i = 0; i < p; ++i) {
    int a_lo, a_hi, j_lo, j_hi;
    general_ranges(s, i, a_lo, a_hi, j_lo, j_hi);
    for (int j = j_lo; j <= j_hi; ++j) {
      if (i == p - 1 && j != N) continue;
      double best = kInfinity;
      int best_a = -1;
      const int top = a_hi < j - 1 ? a_hi : j - 1;
      for (int a = a_lo; a <= top; ++a) {
        const double before = i == 0 ? 0.0 : f[(i - 1) * W + a];
        if (before >= kInfinity) continue;
        if (cells) ++*cells;
        if (!general_stage_ok(s, i, a, j, B, R)) continue;
        const double v = before + general_stage_time(s, i, a, j);
        if (v < best) {
          best = v;
          best_a = a;
        }
      }
      f[i * W + j] = best;
      arg[i * W + j] = best_a;
    }
  }
  return f[(p - 1) * W + N];
}

// Recovers the stage starts of the split general_dp found: starts[i] = first node of stage i.
NEST_HD_INLINE void general_split(const GeneralSlice& s, const int* arg, int* starts) {
  const int W = s.N + 1;
  int j = s.N;
  for (int i = s.p - 1; i >= 0; --i) {
    starts[i] = arg[i * W + j];
    j = starts[i];
  }
}

struct GeneralSolution {
  bool feasible = false;
  double objective = 0, B = 0, R = 0, S = 0;
  long long cells = 0;
};

// Bc, Rc: sorted distinct candidate stage times and tails. s_lb: a lower bound on S over all
// splits. bound: an objective to beat (+inf if none).
NEST_HD_INLINE GeneralSolution solve_general(const GeneralSlice& s, const double* Bc, int nB, const double* Rc, int nR,
                                             double s_lb, double bound, double* f, int* arg) {
  GeneralSolution best;
  double limit = bound;
  for (int r = 0; r < nR; ++r) {
    const double R = Rc[r];
    if (s_lb + s.c * Bc[0] + R >= limit) break;
    // Feasibility is monotone in B: binary-search the smallest feasible B for this R ...
    int lo = 0, hi = nB;  // answer in [lo, hi], hi == nB: none
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (general_dp(s, Bc[mid], R, f, arg, &best.cells) < kInfinity)
        hi = mid;
      else
        lo = mid + 1;
    }
    // ... then walk up while a larger B can still pay for itself through a smaller S.
    for (int b = lo; b < nB; ++b) {
      const double B = Bc[b];
      if (s_lb + s.c * B + R >= limit) break;
      const double S = general_dp(s, B, R, f, arg, &best.cells);
      if (S >= kInfinity) continue;
      const double obj = S + s.c * B + R;
      if (obj < limit) limit = obj;
      if (!best.feasible || obj < best.objective) {
        best.feasible = true;
        best.objective = obj;
        best.B = B;
        best.R = R;
        best.S = S;
      }
    }
  }
  return best;
}

}  // namespace nest::kernels::dp
