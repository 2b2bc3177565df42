// Where a layer's time goes (`--explain-compute` on evaluate and plan): for each kind of layer
// (those with the same dimensions: the embedding, the blocks, the head), one microbatch's forward and
// backward pass on one GPU taken apart into the operator classes of the cost model
// (docs/cost-model.md §3): linear-layer GEMMs, the attention core, memory-bound kernels, the
// launch floor, the sustained fraction that turns kernel time into training time, the
// recomputation, and the collectives the pass waits for. Every figure comes from the same
// kernels/transformer.hpp functions the planner prices the plan with (layer_work, layer_cost);
// this file only takes them apart.
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/io/json.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

// One pass (forward or backward) of one layer, one microbatch, one GPU.
struct PassOperators {
  double gemm_s = 0, attention_s = 0, memory_s = 0;  // kernel level (before the sustained fraction)
  double kernels = 0;                                // kernels launched
  double launch_floor_s = 0;                         // kernels x the host's issue time per kernel
  double compute_s = 0;                              // what the pass computes in the step: max(kernel time / sustained, floor)
  double recompute_s = 0;                            // backward only: the forward work recomputation repeats
  double tp_s = 0, cp_s = 0, ep_s = 0, dp_s = 0, offload_s = 0;  // what the pass waits for
  double total_s = 0;                                            // the pass in the step (LayerCost::fwd / bwd)
};

struct LayerOperators {
  std::string layers;                          // "embedding", "block 3", "blocks 0-31", "blocks 0, 2, ...", "head"
  int count = 0;                               // layers with these dimensions
  double gemm_flops = 0, attention_flops = 0;  // forward FLOP per microbatch on this GPU (attention as executed)
  PassOperators fwd, bwd;
};

struct ComputeExplanation {
  std::string gpu;
  double sustained = 1;  // the generation's fraction (presets/calibration/generations.json)
  double kernel_launch_s = 0;
  double tokens = 0;  // per microbatch on one GPU (after CP)
  std::vector<LayerOperators> layers;
  // Every layer's forward and backward added up, each kind as many times as the model has it
  // (kernels and launch floor left at 0: they bind per pass, not in sum).
  PassOperators all_layers;
};

// The plan's layers under its parallelism and the placement the prediction used.
ComputeExplanation explain_compute(const Problem& problem, const Plan& plan, const Prediction& pr);
std::string compute_text(const ComputeExplanation& c);
// The attention core's share of the kernel-level compute of every layer's forward and backward
// (ComputeExplanation::all_layers; recomputation left out).
double attention_share(const ComputeExplanation& c);
Json compute_json(const ComputeExplanation& c);

}  // namespace nest
