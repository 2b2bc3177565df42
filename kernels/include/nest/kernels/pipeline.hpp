// Pipeline schedules: how many microbatches each stage holds in flight and how long a step of
// m microbatches takes. Sources: Narayanan et al., SC21 (Megatron-LM), §2.2 and Megatron-LM's
// schedules.py (warm-up counts); Korthikanti et al. 2022 §4.2.3 (interleaved memory).
// docs/cost-model.md §6 writes each formula out.
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels {

enum class Schedule : int { OneFOneB = 0, Interleaved = 1 };

// 1F1B: stage i (0-based) runs p-i-1 warm-up forwards, then one more before its first backward,
// so it holds the activations of min(p - i, m) microbatches at its peak. `extra` warm-up
// forwards more: Megatron-Core's batch-level EP overlap (--overlap-moe-expert-parallel-comm) runs
// one, so that each forward pairs with an independent backward (core/pipeline_parallel/
// schedules.py:939-943; without pipelining, combined_1f1b.py:34-60: microbatch k+1's forward
// beside microbatch k's backward).
NEST_HD_INLINE int inflight_microbatches_1f1b(int p, int m, int i, int extra = 0) { return min_of(p - i + extra, m); }

// Interleaved (v model chunks per stage). Two runtimes order the passes, taking chunks and
// microbatches in groups of g microbatches per chunk:
// - Megatron-LM core_v0.19 (schedules.py:921-951, get_pp_rank_microbatches): g =
//   microbatch_group_size_per_vp_stage, p by default; the warm-up is 2(p-i-1) + (v-1)p forward
//   passes, at most m v (Megatron-Core before 0.10 ran all m v first whenever m == p; core_r0.10.0
//   dropped that rule, and since m >= p the last stage never runs every forward first);
// - PyTorch's ScheduleInterleaved1F1B (torch/distributed/pipelining/schedules.py,
//   `_get_warmup_ops`; torchtitan): g = m / max(1, m / p) microbatches per round; the warm-up is
//   2(p-i-1) + (v-1)g, at most m v.
// One more forward runs before the first backward, so at the peak stage i holds this many
// (microbatch, chunk) passes. Which chunks they belong to changes over the schedule;
// host/src/cost/schedule.cpp replays it for the per-chunk peak. `torch_order`: PyTorch's.
NEST_HD_INLINE int interleaved_group(int p, int m, int torch_order) { return torch_order ? m / max_of(1, m / p) : p; }
// `extra`: warm-up forwards beyond these (as for 1F1B above).
NEST_HD_INLINE int interleaved_warmup_passes(int p, int v, int m, int i, int torch_order = 0, int extra = 0) {
  return min_of(2 * (p - i - 1) + (v - 1) * interleaved_group(p, m, torch_order) + extra, m * v);
}
NEST_HD_INLINE int interleaved_inflight_passes(int p, int v, int m, int i, int torch_order = 0, int extra = 0) {
  return min_of(interleaved_warmup_passes(p, v, m, i, torch_order, extra) + 1, m * v);
}

// Step time of the pipeline part for per-microbatch stage times t_i with sum S and maximum B:
//   1F1B:        T = S + (m - 1) B                       (Alpa; Piper; SC21 eq. for uniform stages)
//   interleaved: T = S / v + (m - 1/v) B                 (reduces to SC21's (m + (p-1)/v) t
//                                                         for uniform stages, to 1F1B for v = 1)
NEST_HD_INLINE double pipeline_time(double sum_stage, double max_stage, int m, int v) {
  return sum_stage / v + (m - 1.0 / v) * max_stage;
}

}  // namespace nest::kernels
