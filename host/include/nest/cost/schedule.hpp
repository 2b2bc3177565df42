// Replay of Megatron-LM's interleaved 1F1B schedule on one stage, to find which model chunks
// hold activations at the moments memory peaks (right after each forward pass). The total is
// interleaved_inflight_passes(); the split by chunk moves as the schedule runs, which matters
// when chunks differ (the embedding's first chunk, the head's last chunk).
#pragma once

#include <vector>

namespace nest {

// Per-chunk live pass counts after every forward pass of stage i, keeping only moments not
// dominated by another (no other moment holds at least as many passes of every chunk).
std::vector<std::vector<int>> interleaved_live_moments(int p, int v, int m, int i);

// max over moments of sum_c live[c] * chunk_bytes[c].
double interleaved_peak_bytes(const std::vector<std::vector<int>>& moments, const std::vector<double>& chunk_bytes);

}  // namespace nest
