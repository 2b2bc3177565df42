// The search's lower bound on the step time of every slice, in one batch: first the sums of the
// layer costs of every distinct layer-sum job (the slices that share shape, framework settings,
// placement and precision share one: they differ in the schedule, the virtual stages, the
// microbatch count), then each slice's bound from its job's sums. Written once for every
// backend: the CPU backend runs the thread bodies in loops, kernels/cuda/lower_bounds.cu as two
// launches, the tests through the grid emulator. The arrays may hold several design points at
// once (each job names its own graph, GPU model and communication context).
#pragma once

#include <vector>

#include "nest/kernels/grid.hpp"
#include "nest/kernels/stage.hpp"
#include "nest/kernels/transformer.hpp"

namespace nest::kernels::dp {

// What a slice's layers sum to: what its bound reads.
struct LayerSums {
  double work = 0;       // forward + backward over the layers (a lower bound on S)
  double optimizer = 0;  // optimizer-step times
  double statics = 0;    // weight, gradient and optimizer bytes
  NEST_HD_INLINE void add(const LayerCost& c) {
    work += c.fwd + c.bwd;
    optimizer += c.optimizer_time;
    statics += c.weight_bytes + c.grad_bytes + c.optimizer_bytes;
  }
};

// A layer graph in the batch's node arrays: nodes [first, first + count); a node whose repeat
// flag is set has the dimensions of the one before it, so it adds that node's costs again.
struct BoundGraph {
  int first = 0, count = 0;
};

// One distinct set of layer costs.
struct LayerSumJob {
  ParallelShape shape;
  int settings = 0;  // into the framework settings (few distinct ones: a table keeps jobs small)
  int graph = -1;    // into the graphs; -1: the sums are given (a source with tabulated costs)
  int gpu = 0;       // into the GPU models (one per precision and point)
  int comm = 0;      // into the communication contexts (one per placement and point)
};

// What a slice's bound reads besides its job's sums (its SliceContext's fields).
struct SliceBoundInput {
  int job = 0;
  int p = 1, v = 1, m = 1;  // pipeline stages, virtual stages per stage, microbatches
  double memory_capacity = 0, allocator_overhead = 0, other_bytes = 0;
};

NEST_HD_INLINE SliceBoundInput slice_bound_input(const SliceContext& c, int job) {
  SliceBoundInput s;
  s.job = job;
  s.p = c.p;
  s.v = c.v;
  s.m = c.m;
  s.memory_capacity = c.memory_capacity;
  s.allocator_overhead = c.allocator_overhead;
  s.other_bytes = c.other_bytes;
  return s;
}

// A lower bound on any split's step time: the split-independent part S/v, (m - 1/v) times the
// mean stage time, and the mean optimizer step (the largest tail is at least the mean). Every
// GPU holds at least the mean of the model state plus the framework's overhead, so a slice
// whose mean does not fit is hopeless whatever its split.
NEST_HD_INLINE double slice_lower_bound(const LayerSums& s, const SliceBoundInput& c, bool* memory_hopeless) {
  *memory_hopeless = s.statics / c.p * (1 + c.allocator_overhead) + c.other_bytes > c.memory_capacity;
  return s.work / c.v + (c.m - 1.0 / c.v) * s.work / c.p + s.optimizer / c.p;
}

// The batch's arrays as the thread bodies read them (host or device pointers alike).
struct BoundArrays {
  const LayerDims* dims = nullptr;
  const unsigned char* repeats = nullptr;
  const BoundGraph* graphs = nullptr;
  const GpuModel* gpus = nullptr;
  const CommContext* comms = nullptr;
  const TrainingSettings* settings = nullptr;
  const LayerSumJob* jobs = nullptr;
  int num_jobs = 0;
  LayerSums* sums = nullptr;  // per job: written for computed jobs, read as given for the others
  const SliceBoundInput* slices = nullptr;
  int num_slices = 0;
  double* bounds = nullptr;           // per slice
  unsigned char* hopeless = nullptr;  // per slice: 1 when no split can fit its memory
};

// A batch as the host holds it: the layer graphs (their nodes), the framework settings, the jobs
// and the slices. `sums` holds one entry per job: the given sums of jobs without a graph,
// anything for the others. None of it depends on the network's link speeds, so the points of a
// sweep that differ only in those share one batch; what does is in BoundPointTables.
struct BoundBatch {
  std::vector<LayerDims> dims;
  std::vector<unsigned char> repeats;
  std::vector<BoundGraph> graphs;
  std::vector<TrainingSettings> settings;
  std::vector<LayerSumJob> jobs;
  std::vector<LayerSums> sums;
  std::vector<SliceBoundInput> slices;
};

// The tables a batch's jobs index that belong to one design point: its GPU models (one per
// precision) and its communication contexts (one per placement, with the point's network).
struct BoundPointTables {
  std::vector<GpuModel> gpus;
  std::vector<CommContext> comms;
};

// Per slice of a BoundBatch, in its order.
struct SliceBounds {
  std::vector<double> bound;
  std::vector<unsigned char> hopeless;
};

// The sums of one job's layers, in node order (the order every backend adds them in).
NEST_HD_INLINE LayerSums job_layer_sums(const BoundArrays& a, const LayerSumJob& job) {
  const BoundGraph g = a.graphs[job.graph];
  const GpuModel& gpu = a.gpus[job.gpu];
  const CommContext& comm = a.comms[job.comm];
  const TrainingSettings& settings = a.settings[job.settings];
  LayerSums s;
  LayerCost c;
  for (int i = g.first; i < g.first + g.count; ++i) {
    if (!a.repeats[i]) c = layer_cost(a.dims[i], job.shape, gpu, settings, comm).cost;
    s.add(c);
  }
  return s;
}

inline constexpr unsigned kBoundThreadsPerBlock = 128;

inline GridShape bound_grid(int n) {
  const unsigned t = kBoundThreadsPerBlock;
  return {{(static_cast<unsigned>(n > 0 ? n : 0) + t - 1) / t, 1, 1}, {t, 1, 1}};
}

// Launch 1, one thread per job (bound_grid(num_jobs)).
NEST_HD_INLINE void layer_sums_thread(const ThreadIndex& t, const BoundArrays& a) {
  const int j = static_cast<int>(t.block.x * t.block_dim.x + t.thread.x);
  if (j >= a.num_jobs || a.jobs[j].graph < 0) return;
  a.sums[j] = job_layer_sums(a, a.jobs[j]);
}

// Launch 2, one thread per slice (bound_grid(num_slices)), after launch 1.
NEST_HD_INLINE void slice_bound_thread(const ThreadIndex& t, const BoundArrays& a) {
  const int s = static_cast<int>(t.block.x * t.block_dim.x + t.thread.x);
  if (s >= a.num_slices) return;
  const SliceBoundInput& in = a.slices[s];
  bool h = false;
  a.bounds[s] = slice_lower_bound(a.sums[in.job], in, &h);
  a.hopeless[s] = h ? 1 : 0;
}

}  // namespace nest::kernels::dp
