// Slices without a pipeline (pp = 1): one stage holds every layer, so there is one split and
// nothing to search; the backend only values it, with the stage formulas of stage.hpp, from the
// sums of all the slice's layers (accumulated by the host). Written once for every backend.
#pragma once

#include "nest/kernels/dp/thread_batch.hpp"
#include "nest/kernels/grid.hpp"
#include "nest/kernels/pipeline.hpp"
#include "nest/kernels/stage.hpp"

namespace nest::kernels::dp {

struct SingleStageInput {
  SliceContext ctx;  // p = 1, v = 1
  StageSums sums;    // every layer of the model
};

struct SingleStageResult {
  int status = 0;  // 1 fits and beats the bound, 0 not
  double objective = 0;
};

// T = S + (m - 1) B + R with S = B = the stage's time (no sends) and R its tail; feasible when
// its peak memory (one microbatch's activations in flight: 1F1B with one stage) fits.
NEST_HD_INLINE SingleStageResult single_stage_solve(const SingleStageInput& in, double bound) {
  const SliceContext& c = in.ctx;
  SingleStageResult r;
  const double inflight = inflight_microbatches_1f1b(1, c.m, 0, c.extra_warmup) * in.sums.act_bytes;
  if (stage_memory(c, in.sums, inflight) > c.memory_capacity) return r;
  const double t = stage_time(in.sums, 0);
  const double objective = step_time(c, t, t, stage_tail(c, in.sums, true), 0);  // no pipeline: no sends
  if (objective > bound) return r;
  r.status = 1;
  r.objective = objective;
  return r;
}

inline constexpr unsigned kSingleStageThreadsPerBlock = 128;

inline GridShape single_stage_grid(int n) { return grid_over(n, kSingleStageThreadsPerBlock); }

// One thread per slice: its value against its bound and its sort key (objective, or last when it
// does not fit).
NEST_HD_INLINE void single_stage_thread(const ThreadIndex& t, const SingleStageInput* in, int n, const double* bound,
                                        SingleStageResult* out, double* keys, int* index) {
  thread_batch_solve(
      t, n, [&](int s) { return single_stage_solve(in[s], bound[s]); }, out, keys, index);
}

}  // namespace nest::kernels::dp
