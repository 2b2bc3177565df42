// The cost model applied to one slice: every layer node's LayerCost plus the SliceContext the
// stage formulas need. Built analytically from the model, GPU and network (this file) or
// from tabulated per-layer costs (NEST's solver inputs, profiles).
#pragma once

#include <cstdint>
#include <vector>

#include "nest/cost/placement.hpp"
#include "nest/cost/problem.hpp"
#include "nest/kernels/stage.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct SliceCosts {
  kernels::SliceContext ctx;
  std::vector<kernels::LayerCostDetail> layers;  // one per layer-graph node, in order
  Placement placement;
  kernels::ParallelShape shape;
};

kernels::ParallelShape parallel_shape(const Problem& problem, const Parallelism& par);
kernels::SliceContext slice_context(const Problem& problem, const Parallelism& par, const Placement& placement);
// The same with the framework's settings for (problem, par) already at hand.
kernels::SliceContext slice_context(const Problem& problem, const Parallelism& par, const Placement& placement,
                                    const kernels::TrainingSettings& settings);
SliceCosts build_slice_costs(const Problem& problem, const LayerGraph& graph, const Parallelism& par, const RankOrder& order);
SliceCosts build_slice_costs(const Problem& problem, const LayerGraph& graph, const Parallelism& par, const Placement& placement);

// What the search's lower bound needs from a slice, without the per-layer table.
struct SliceSummary {
  kernels::SliceContext ctx;
  double work = 0;       // sum over layers of forward + backward time (a lower bound on S)
  double optimizer = 0;  // sum of optimizer-step times
  double statics = 0;    // sum of weight, gradient and optimizer bytes
  void add(const kernels::LayerCost& c) {
    work += c.fwd + c.bwd;
    optimizer += c.optimizer_time;
    statics += c.weight_bytes + c.grad_bytes + c.optimizer_bytes;
  }
};
// memo_id (0: none) names the (problem, graph) pair for a per-thread cache of the layer sums:
// slices whose layers see the same shape, framework settings, placement and precision (they
// differ in the schedule, the virtual stages, the microbatch count, ...: about three in four of
// a search's slices) reuse them instead of costing every layer again. Two calls with the same
// memo_id must pass the same problem and graph; next_summary_memo_id() hands out fresh ones.
SliceSummary summarize_slice(const Problem& problem, const LayerGraph& graph, const Parallelism& par, const Placement& placement,
                             std::uint64_t memo_id = 0);
std::uint64_t next_summary_memo_id();

// FLOPs of one training step independent of the plan: model FLOPs (forward + backward, the
// MFU convention) and hardware FLOPs (plus the recomputation the plan's mode adds).
struct StepFlops {
  double model = 0;
  double hardware = 0;
};
StepFlops step_flops(const Problem& problem, const LayerGraph& graph, const Parallelism& par);

}  // namespace nest
