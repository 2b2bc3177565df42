// Which network level each pipeline boundary crosses (docs/cost-model.md §5).
//
// Ranks are laid out in the rank order, innermost dimension first; pp has stride s (the product
// of the sizes of the dimensions before it), so the ranks of stage i are
//   r = a + i s + b M,   0 <= a < s,  0 <= b < N / M,  M = s p.
// Boundary i (i = 0 .. p-2) pairs every rank r of stage i with r + s in stage i+1. Under the
// interleaved schedule the last stage's chunk k also sends to the first stage's chunk k+1: the
// wrap boundary, numbered p-1, pairs every rank r' of stage 0 with r' + (p-1) s. A level-l
// domain is a block of C_l consecutive ranks (aligned at multiples of C_l; the top level holds
// the whole job). A boundary is priced at the lowest level whose domains hold both ranks of
// every pair of the boundary: its slowest pair sets the pace of the pipeline send.
//
// A pair (x, x + D) leaves its level-l domain iff (x mod C) + D >= C. For one b, the residues
// y + a (a < s) of the stage's ranks, y = (first + b M) mod C, run cyclically from y to y + s - 1,
// so some pair leaves iff y + s - 1 + D >= C. As b varies, b M mod C runs through the C / g
// multiples of g = gcd(M, C) (period C / g); with that many b or more, y reaches its largest
// value (first mod g) + C - g, otherwise the few b are checked one by one.
#pragma once

#include "nest/kernels/collectives.hpp"

namespace nest::kernels {

// Pipeline boundaries a rank map can give outright (boundaries 0 .. p-1, the wrap included).
inline constexpr int kMaxMappedBoundaries = 128;

struct PipelineLayout {
  int stages = 1;                     // p
  long long stride = 1;               // s: product of the sizes of the dimensions before pp in the order
  long long gpus = 1;                 // N: ranks of the job (a multiple of s p)
  int num_levels = 0;                 // levels that hold part of the job; the last one holds all of it
  long long domain[kMaxLevels] = {};  // cumulative GPUs per level-l domain, domain[num_levels-1] = N
  // A rank map's boundaries (nest evaluate --rank-map; host/src/cost/placement.cpp): when set,
  // boundary b crosses level mapped_level[b], found from where the map puts each pair, and the
  // fields above are not used for it. 0: the layout above decides.
  int mapped = 0;
  signed char mapped_level[kMaxMappedBoundaries] = {};
};

NEST_HD_INLINE long long gcd_of(long long a, long long b) {
  while (b != 0) {
    const long long t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Whether some pair (r, r + distance), r = a + first + b M over every a and b, straddles a
// boundary between two domains of `domain` consecutive ranks.
NEST_HD_INLINE bool pp_pairs_cross(const PipelineLayout& x, long long domain, long long first, long long distance) {
  const long long span = x.stride - 1 + distance;  // crossing iff y + span >= domain
  if (span >= domain) return true;
  const long long M = x.stride * x.stages, blocks = x.gpus / M;
  const long long g = gcd_of(M, domain);
  const long long threshold = domain - span;
  if (blocks >= domain / g) return first % g + domain - g >= threshold;
  for (long long b = 0; b < blocks; ++b)  // fewer blocks than residues: C / g > N / M here
    if ((first + b * M) % domain >= threshold) return true;
  return false;
}

// Network level crossed by boundary `b` (0 .. p-2: stage b to b+1; p-1: the wrap from the last
// stage to the first); -1 without a pipeline.
NEST_HD_INLINE int pp_boundary_level(const PipelineLayout& x, int b) {
  if (x.stages < 2) return -1;
  if (x.mapped) return x.mapped_level[b];
  const bool wrap = b == x.stages - 1;
  const long long first = wrap ? 0 : b * x.stride;
  const long long distance = wrap ? (x.stages - 1) * x.stride : x.stride;
  for (int l = 0; l + 1 < x.num_levels; ++l)
    if (!pp_pairs_cross(x, x.domain[l], first, distance)) return l;
  return x.num_levels - 1;  // the top domain holds the whole job
}

// Stage i's forward sends cross boundary i (the wrap for the last stage); its backward sends
// cross the boundary before it (the wrap for the first stage).
NEST_HD_INLINE int pp_backward_boundary(int p, int i) { return i == 0 ? p - 1 : i - 1; }

}  // namespace nest::kernels
