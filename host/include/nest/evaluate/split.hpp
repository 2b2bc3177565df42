// Evaluation of one layer split under one slice, by plain loops over the layers of each stage
// (no prefix sums, no incremental tables): the independent reference the DP is checked
// against. Stage/step formulas come from kernels/include/nest/kernels/stage.hpp.
#pragma once

#include <utility>
#include <vector>

#include "nest/cost/slice_costs.hpp"
#include "nest/kernels/stage.hpp"

namespace nest {

struct StageEval {
  kernels::StageSums sums;
  double p2p = 0;           // s per microbatch: this stage's pipeline sends
  double time = 0;          // s per microbatch: fwd + bwd + sends
  double tail = 0;          // s per step: exposed gradient sync + optimizer
  double sync_exposed = 0;  // s per step
  double inflight_act = 0;  // bytes of activations held at the peak
  int work_node = -1;       // the layer-graph node whose working set is the stage's (-1: none)
  double memory = 0;        // bytes per GPU at the peak
  // Report-only sums of the LayerCostDetail pieces (fwd + bwd, per microbatch).
  double compute = 0, tp = 0, cp = 0, ep = 0, dp_microbatch = 0, offload = 0;
};

// One pass (forward or backward) of one model chunk, per microbatch: the pieces of the stage's
// time the evaluator adds up, kept apart for reports that draw them (nest trace). A pass costs
// `time` (the chunk's layers' LayerCost fwd or bwd: compute and exposed collectives) and then
// the pipeline send leaving it.
struct PassDetail {
  double time = 0;
  double compute = 0, tp = 0, cp = 0, ep = 0, dp = 0, offload = 0;  // s; they sum to `time`
  double hardware_flops = 0;                                        // FLOP on one GPU (recomputation in the backward)
  double tp_bytes = 0, cp_bytes = 0, ep_bytes = 0;                  // bytes of its collectives per GPU
  double send = 0;                                                  // s: the send leaving it (0: none)
  double send_transit = 0;  // s: what the receiver waits beyond `send` (an overlapped send's hidden part)
  int send_to = -1;         // the stage it goes to
  int send_level = -1;      // the network level it crosses
  double send_bytes = 0;    // bytes per GPU
};

struct ChunkDetail {
  int first_node = 0, last_node = 0;  // layer-graph nodes (0: embedding)
  PassDetail fwd, bwd;
  double model_flops = 0;  // fwd + bwd, the MFU convention
  double act_bytes = 0;    // activations kept per in-flight microbatch
};

struct StageDetail {
  std::vector<ChunkDetail> chunks;  // the stage's chunks, in its order
  kernels::SyncTimes sync;          // the tail's gradient reduction and parameter all-gather
};

struct SplitEval {
  std::vector<StageEval> stages;
  double sum_time = 0, max_time = 0, max_tail = 0;
  double pipeline_time = 0, step_time = 0;
  double fill_flush = 0;  // s: in pipeline_time, the fill and flush chains' overlapped sends (stage.hpp)
  int bottleneck = 0;     // stage with the largest time
  int tail_stage = 0;     // stage with the largest tail
};

// `detail`, when given, receives every stage's per-chunk, per-pass pieces (same loops, same sums).
SplitEval evaluate_split(const SliceCosts& sc, const std::vector<StageLayout>& layout,
                         std::vector<StageDetail>* detail = nullptr);

}  // namespace nest
