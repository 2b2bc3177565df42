// nest evaluate: a plan's predicted step time (with a breakdown), throughput, MFU and every
// stage's time and peak memory, or every reason it cannot run.
#pragma once

#include <string>
#include <vector>

#include "nest/cost/placement.hpp"
#include "nest/problem/problem.hpp"
#include "nest/evaluate/split.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct MemoryBreakdown {
  double params = 0, grads = 0, optimizer = 0, activations = 0;
  double working_set = 0;  // the largest layer's transient bytes: recomputation, the loss, gathered weights, ...
  double other = 0;        // the caching allocator's reserve, the CUDA context and NCCL's buffers
  // Of params, grads and optimizer: what the framework keeps in flat buffers, which the
  // allocator's reserve in `other` leaves out (LayerCost::buffered_bytes). Not added to total().
  double buffered = 0;
  // The gradients are freed before each forward and the step runs one microbatch: the peak holds
  // the activations and working set or the gradients, not both (the other shows as 0).
  bool grads_apart = false;
  double total() const { return params + grads + optimizer + activations + working_set + other; }
};

struct StageReport {
  int index = 0;
  int first_layer = 0, last_layer = 0;      // layer ids: -1 embedding, 0..L-1 blocks, L head
  std::vector<std::pair<int, int>> chunks;  // layer-id ranges of its model chunks
  int blocks = 0;
  long devices = 0;                                                                    // GPUs running this stage
  double time = 0;                                                                     // s per microbatch
  double compute = 0, tp = 0, cp = 0, ep = 0, pp = 0, dp_microbatch = 0, offload = 0;  // s per microbatch
  double tail = 0, sync_exposed = 0, optimizer = 0;                                    // s per step
  MemoryBreakdown memory;
  int working_set_layer = -2;  // layer id whose working set memory.working_set is (-2: none)
};

struct Breakdown {
  double compute = 0, bubble = 0, tp = 0, cp = 0, ep = 0, pp = 0, dp = 0, optimizer = 0;
  // Of the bubble, what the fill and flush wait for overlapped pipeline sends (SplitEval::fill_flush;
  // a share of `bubble`, not a part of its own).
  double bubble_sends = 0;
};

struct Prediction {
  bool feasible = false;
  bool evaluated = false;  // false when structural violations stop the cost model
  std::vector<std::string> violations;
  long gpus_used = 0;
  double step_time = 0, tokens_per_s = 0, mfu = 0;
  double model_tflops_per_gpu = 0, hardware_tflops_per_gpu = 0;
  Breakdown breakdown;
  std::vector<StageReport> stages;
  int bottleneck_stage = 0, tail_stage = 0;
  Placement placement;
};

// Structural problems (degrees that do not divide heads, layers, experts, GPUs or the batch, a
// split that does not cover the model, ...). Empty when the plan can be costed.
std::vector<std::string> check_plan(const Problem& problem, const Plan& plan);

// The rules of the pipeline alone, whatever the cost source: the schedule and its virtual stages,
// the number of microbatches the interleaved schedule needs (at least pp; a multiple of pp in
// Megatron-LM's order, any count in PyTorch's, `torch_order`, whose own rule the torchtitan
// framework checks), and a split of `blocks` blocks into the stages (docs/solver.md §1).
// check_plan and the tabulated source's check both apply them.
std::vector<std::string> check_pipeline(const Parallelism& par, const std::vector<int>& blocks_per_stage, int blocks,
                                        bool torch_order = false);

Prediction evaluate_plan(const Problem& problem, const Plan& plan);
// The same with the groups where `placement` puts them instead of where the plan's rank order
// does (a rank map's placement, cost/placement.hpp place_rank_map); null: the rank order's.
Prediction evaluate_plan(const Problem& problem, const Plan& plan, const Placement* placement);

// Builds the report of an already evaluated split. `flops` may be null when the model's FLOPs
// are unknown (tabulated costs): throughput figures are then reported as 0.
Prediction make_prediction(const Problem& problem, const StepFlops* flops, const Plan& plan, const SliceCosts& sc,
                           const std::vector<StageLayout>& layout, const SplitEval& ev);

}  // namespace nest
