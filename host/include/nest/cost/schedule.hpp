// Replay of Megatron-LM's interleaved 1F1B schedule on one stage, to find which model chunks
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

// The candidate peak moments (per-chunk live counts), cached per (p, v, m, i).
const std::vector<std::vector<int>>& interleaved_peak_moments(int p, int v, int m, int i);

// max over peak moments of sum_c live[c] * chunk_bytes[c].
double interleaved_peak_bytes(int p, int v, int m, int i, const std::vector<double>& chunk_bytes);

// Pareto front of (total passes, passes of `edge_chunk`) over the peak moments.
std::vector<std::pair<int, int>> interleaved_edge_front(int p, int v, int m, int i, int edge_chunk);

}  // namespace nest
