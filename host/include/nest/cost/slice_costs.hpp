// The cost model applied to one slice: every layer node's LayerCost plus the SliceContext the
// stage formulas need. Built analytically from the model, GPU and network (this file) or
// from tabulated per-layer costs (NEST's solver inputs, profiles).
#pragma once

#include <cstdint>
#include <vector>

#include "nest/cost/placement.hpp"
#include "nest/problem/problem.hpp"
#include "nest/kernels/dp/lower_bound.hpp"
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

// What the search's lower bound needs from a slice, without the per-layer table: its layers'
// sums (LayerSums::add, the one place they are summed) and its context.
struct SliceSummary : kernels::dp::LayerSums {
  kernels::SliceContext ctx;
};
// The layer loop over the whole graph (no sharing between slices): the reference the search's
// bound batches (bound_batch) are tested against, and the bound of sources without a batch of
// their own.
SliceSummary summarize_slice(const Problem& problem, const LayerGraph& graph, const Parallelism& par, const Placement& placement);

// FLOPs of one training step independent of the plan: model FLOPs (forward + backward, the
// MFU convention) and hardware FLOPs (plus the recomputation the plan's mode adds).
struct StepFlops {
  double model = 0;
  double hardware = 0;
};
StepFlops step_flops(const Problem& problem, const LayerGraph& graph, const Parallelism& par);

}  // namespace nest
