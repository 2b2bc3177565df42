// The order in which one stage runs its passes under Megatron-LM's schedules (1F1B and
// interleaved 1F1B), and a replay of the interleaved one to find which model chunks
// hold activations at the moments memory peaks (right after each forward pass). The total is
// interleaved_inflight_passes(); the split by chunk moves as the schedule runs, which matters
// when chunks differ (the embedding's first chunk, the head's last chunk).
//
// Only a bounded replay is needed: live counts grow during the warm-up (its last moment
// dominates the earlier ones), and in the steady state the per-chunk counts after steady step k
// repeat with period p*v (forward and backward passes both advance one full cycle of chunks).
#pragma once

#include <utility>
#include <vector>

namespace nest {

// One pass of a stage's schedule: the forward or backward of one microbatch through one of the
// stage's model chunks.
struct PipelinePass {
  bool forward = true;
  int chunk = 0;       // the stage's chunk (virtual stage), 0 .. v-1
  int microbatch = 0;  // 0 .. m-1
};

// Every pass stage i of p runs in one step of m microbatches, in Megatron-LM's order
// (schedules.py): 1F1B (v = 1) runs min(p-i-1, m) warm-up forwards, then alternates one forward
// and one backward, then drains the backwards; interleaved (v > 1) warms up with
// interleaved_warmup_passes() forwards, then alternates, taking chunks and microbatches in
// groups of p (get_model_chunk_id, get_microbatch_id_in_model_chunk); with `torch_order`, in
// PyTorch's ScheduleInterleaved1F1B order (groups of interleaved_group(), forward_stage_index and
// backward_stage_index). `extra`: warm-up forwards beyond the schedule's own (kernels/pipeline.hpp).
std::vector<PipelinePass> schedule_order(int p, int v, int m, int i, int torch_order = 0, int extra = 0);

// The candidate peak moments (per-chunk live counts), cached per (p, v, m, i, order, extra).
const std::vector<std::vector<int>>& interleaved_peak_moments(int p, int v, int m, int i, int torch_order = 0, int extra = 0);

// max over peak moments of sum_c live[c] * chunk_bytes[c].
double interleaved_peak_bytes(int p, int v, int m, int i, const std::vector<double>& chunk_bytes, int torch_order = 0,
                              int extra = 0);

// Pareto front of (total passes, passes of `edge_chunk`) over the peak moments: the moments that
// can hold the peak of total * a + edge * e for a >= 0 and e of the sign of `edge_sign` (e < 0
// when an edge chunk lacks a block and the embedding's activations are smaller than a block's:
// then fewer edge passes is the heavier side).
std::vector<std::pair<int, int>> interleaved_edge_front(int p, int v, int m, int i, int edge_chunk, int edge_sign = 1,
                                                        int torch_order = 0, int extra = 0);

}  // namespace nest
