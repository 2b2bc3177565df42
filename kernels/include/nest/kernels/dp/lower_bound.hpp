// The search's lower bound on the step time of every slice, in one batch: first the sums of the
// layer costs of every distinct layer-sum job (the slices that share shape, framework settings,
// placement and precision share one: they differ in the schedule, the virtual stages, the
// microbatch count), then each slice's bound from its job's sums. Written once for every
// backend: the CPU backend runs the thread bodies in loops, kernels/cuda/lower_bounds.cu as two
// launches, the tests through the grid emulator. One call may carry several design points that
// share the batch (nest sweep's points that differ only in link speeds): each brings its own GPU
// models and communication contexts (BoundPointTables) and gets its own row of sums and bounds.
#pragma once

#include <cstddef>
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
  double buffered = 0;   // of them, what the framework keeps in flat buffers
  // Bytes of the step-end collectives (dense and expert reduction and parameter all-gather).
  double dp_reduce = 0, edp_reduce = 0, dp_gather = 0, edp_gather = 0;
  // A pipeline send's bytes and its all-gather time, the least over the layers (any layer's
  // output may cross a boundary), and the least time of the sends across the boundaries
  // 0 .. p-2 and across the wrap (add_pipeline_sends; 0 without a pipeline).
  double send_bytes = 1e300, send_gather = 1e300;
  double send_chain = 0, send_wrap = 0;
  NEST_HD_INLINE void add(const LayerCost& c) {
    work += c.fwd + c.bwd;
    optimizer += c.optimizer_time;
    statics += c.weight_bytes + c.grad_bytes + c.optimizer_bytes;
    buffered += c.buffered_bytes;
    dp_reduce += c.dp_reduce_bytes;
    edp_reduce += c.edp_reduce_bytes;
    dp_gather += c.dp_gather_bytes;
    edp_gather += c.edp_gather_bytes;
    send_bytes = min_of(send_bytes, c.send_bytes);
    send_gather = min_of(send_gather, c.send_gather);
  }
};

// The least time of one pipeline send across `level`, whatever window it hides behind: waited
// for, its whole time; overlapped (send_time, stage.hpp: what the window does not hide plus
// send_sm of what it does) at least `sm` of it.
NEST_HD_INLINE double least_send_time(const Network& net, int level, const LayerSums& s, bool overlapped, double sm) {
  const double send = send_whole_time(net, level, s.send_bytes, s.send_gather);
  return overlapped ? min_of(send, sm * send) : send;
}

// After the layers: the least send times over the pipeline's boundaries. Every split of a slice
// sends across each boundary 0 .. p-2 v times each way and across the wrap v - 1 times
// (evaluate_split: each of the p v - 1 chunk boundaries in model order, paid by the sender and
// by the receiver), so its stages' sends sum to at least 2 v chain + 2 (v - 1) wrap.
// `overlapped` and `sm`: the framework's pp_send_overlap and comm_sm_fraction.
NEST_HD_INLINE void add_pipeline_sends(LayerSums& s, const CommContext& c, bool overlapped, double sm) {
  s.send_chain = s.send_wrap = 0;
  const int p = c.pp.stages;
  if (p < 2) return;
  for (int b = 0; b + 1 < p; ++b) s.send_chain += least_send_time(c.net, pp_boundary_level(c.pp, b), s, overlapped, sm);
  s.send_wrap = least_send_time(c.net, pp_boundary_level(c.pp, p - 1), s, overlapped, sm);
}

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
  int zero_stage = 0;    // SliceContext::zero_stage (how the gradients are reduced)
  int unoverlapped = 0;  // 1: the gradient reduction is waited for whole, 2: the parameter all-gather
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
  s.zero_stage = c.zero_stage;
  s.unoverlapped = (c.overlap_grad_reduce ? 0 : 1) | (c.overlap_param_gather ? 0 : 2);
  return s;
}

// A lower bound on any split's step time: the split-independent part S/v, (m - 1/v) times the
// mean stage time, and a lower bound on the largest tail: at least the mean optimizer step, and
// where a step-end collective is waited for whole, at least that collective over the mean bytes
// of a stage (some stage holds at least the mean, and a collective takes no less time for more
// bytes). That term lets the search bound the slices without the DP overlap, which it keeps
// beside the overlapped ones where buckets make the overlap dearer (docs/solver.md §1, §5).
// `comm`: the slice's groups, null where the batch has none (tabulated sources: no such term).
// Every GPU holds at least the mean of the model state plus the framework's overhead (the
// allocator's reserve on what is not in its buffers: stage_memory), so a slice whose mean does
// not fit is hopeless whatever its split.
NEST_HD_INLINE double slice_lower_bound(const LayerSums& s, const SliceBoundInput& c, const CommContext* comm,
                                        bool* memory_hopeless) {
  *memory_hopeless =
      (s.statics - s.buffered) / c.p * (1 + c.allocator_overhead) + s.buffered / c.p + c.other_bytes > c.memory_capacity;
  double tail = s.optimizer / c.p;
  if (comm) {
    if (c.unoverlapped & 1)
      tail = max_of(tail, max_of(gradient_sync_time(comm->net, comm->dp, comm->shard, comm->replicate, comm->edp, c.zero_stage,
                                                    s.dp_reduce / c.p, 0),
                                 gradient_sync_time(comm->net, comm->dp, comm->shard, comm->replicate, comm->edp, c.zero_stage, 0,
                                                    s.edp_reduce / c.p)));
    if (c.unoverlapped & 2)
      tail = max_of(tail, max_of(param_gather_time(comm->net, comm->shard, comm->edp, s.dp_gather / c.p, 0),
                                 param_gather_time(comm->net, comm->shard, comm->edp, 0, s.edp_gather / c.p)));
  }
  // The stages' time: their layers' work and at least the pipeline sends every split makes.
  const double stages = comm && c.p > 1 ? s.work + (2.0 * c.v * s.send_chain + 2.0 * (c.v - 1) * s.send_wrap) : s.work;
  return stages / c.v + (c.m - 1.0 / c.v) * stages / c.p + tail;
}

// The batch's arrays as the thread bodies read them (host or device pointers alike), for one or
// several design points at once: the points' tables lie one after another in `gpus` and
// `comms` (point q's from gpu_base[q] and comm_base[q] on), and their sums and bounds in rows of
// `job_stride` and `slice_stride` entries, point q's row q.
struct BoundArrays {
  const LayerDims* dims = nullptr;
  const unsigned char* repeats = nullptr;
  const BoundGraph* graphs = nullptr;
  const GpuModel* gpus = nullptr;
  const CommContext* comms = nullptr;
  const TrainingSettings* settings = nullptr;
  const LayerSumJob* jobs = nullptr;
  int num_jobs = 0;
  LayerSums* sums = nullptr;  // per point and job: written for computed jobs, read as given for the others
  const SliceBoundInput* slices = nullptr;
  int num_slices = 0;
  double* bounds = nullptr;           // per point and slice
  unsigned char* hopeless = nullptr;  // per point and slice: 1 when no split can fit its memory
  int num_points = 1;
  const int* gpu_base = nullptr;   // per point (null: 0, one point)
  const int* comm_base = nullptr;  // per point (null: 0, one point)
  long long job_stride = 0;        // sums per point row (0: num_jobs)
  long long slice_stride = 0;      // bounds per point row (0: num_slices)
  // 1: every point has point 0's GPU models (a sweep's points that differ only in link speeds),
  // so a job's layers are prepared once for all of them (layer_sums_thread).
  int shared_gpus = 0;
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
  // Per slice (empty: none): 1 where its bound is a smaller one than its own, its TP-overlapped
  // twin's work (SliceSpec::tp_overlap_twin): the planner makes it exact when it takes the slice.
  std::vector<unsigned char> relaxed;
};

// The tables a batch's jobs index that belong to one design point: its GPU models (one per
// precision) and its communication contexts (one per placement, with the point's network).
struct BoundPointTables {
  std::vector<GpuModel> gpus;
  std::vector<CommContext> comms;
};

// Per slice of a BoundBatch, in its order (for one point).
struct SliceBounds {
  std::vector<double> bound;
  std::vector<unsigned char> hopeless;
};

// Several points' tables one after another, as BoundArrays reads them.
struct BoundPointsFlat {
  std::vector<GpuModel> gpus;
  std::vector<CommContext> comms;
  std::vector<int> gpu_base, comm_base;  // per point
};

inline BoundPointsFlat flatten_points(const std::vector<BoundPointTables>& points) {
  BoundPointsFlat f;
  for (const BoundPointTables& p : points) {
    f.gpu_base.push_back(static_cast<int>(f.gpus.size()));
    f.comm_base.push_back(static_cast<int>(f.comms.size()));
    f.gpus.insert(f.gpus.end(), p.gpus.begin(), p.gpus.end());
    f.comms.insert(f.comms.end(), p.comms.begin(), p.comms.end());
  }
  return f;
}

// Whether every point's GPU models are point 0's, field for field.
inline bool same_gpu_models(const BoundPointsFlat& f) {
  const std::size_t np = f.gpu_base.size();
  if (np < 2) return false;
  const std::size_t per = f.gpus.size() / np;
  for (std::size_t q = 0; q < np; ++q)
    if (static_cast<std::size_t>(f.gpu_base[q]) != q * per) return false;
  for (std::size_t q = 1; q < np; ++q)
    for (std::size_t k = 0; k < per; ++k)
      if (!same_gpu_model(f.gpus[q * per + k], f.gpus[k])) return false;
  return true;
}

// The arrays of a batch and its points' flattened tables in host memory, with the caller's sums
// (sums_rows) and outputs (a row of the batch's slices per point).
inline BoundArrays host_bound_arrays(const BoundBatch& batch, const BoundPointsFlat& points, LayerSums* sums, double* bounds,
                                     unsigned char* hopeless) {
  BoundArrays a;
  a.dims = batch.dims.data();
  a.repeats = batch.repeats.data();
  a.graphs = batch.graphs.data();
  a.gpus = points.gpus.data();
  a.comms = points.comms.data();
  a.settings = batch.settings.data();
  a.jobs = batch.jobs.data();
  a.num_jobs = static_cast<int>(batch.jobs.size());
  a.sums = sums;
  a.slices = batch.slices.data();
  a.num_slices = static_cast<int>(batch.slices.size());
  a.bounds = bounds;
  a.hopeless = hopeless;
  a.num_points = static_cast<int>(points.gpu_base.size());
  a.gpu_base = points.gpu_base.data();
  a.comm_base = points.comm_base.data();
  a.shared_gpus = same_gpu_models(points) ? 1 : 0;
  return a;
}

// Rows of `points` points' bounds (as BoundArrays lays them out, slice_stride 0) cut into each
// point's SliceBounds.
inline std::vector<SliceBounds> bound_rows(const std::vector<double>& bounds, const std::vector<unsigned char>& hopeless,
                                           std::size_t points) {
  std::vector<SliceBounds> out(points);
  const std::size_t n = points > 0 ? bounds.size() / points : 0;
  for (std::size_t q = 0; q < points; ++q) {
    const auto from = static_cast<std::ptrdiff_t>(q * n), to = static_cast<std::ptrdiff_t>((q + 1) * n);
    out[q].bound.assign(bounds.begin() + from, bounds.begin() + to);
    out[q].hopeless.assign(hopeless.begin() + from, hopeless.begin() + to);
  }
  return out;
}

// The sums array of `points` rows: each row the batch's given sums (the computed ones are
// overwritten by launch 1).
inline std::vector<LayerSums> sums_rows(const BoundBatch& batch, int points) {
  std::vector<LayerSums> rows;
  rows.reserve(batch.jobs.size() * static_cast<std::size_t>(points));
  for (int q = 0; q < points; ++q) {
    rows.insert(rows.end(), batch.sums.begin(), batch.sums.end());
    rows.resize(batch.jobs.size() * static_cast<std::size_t>(q + 1));
  }
  return rows;
}

// The sums of one job's layers for point q, in node order (the order every backend adds them in).
NEST_HD_INLINE LayerSums job_layer_sums(const BoundArrays& a, const LayerSumJob& job, int q) {
  const BoundGraph g = a.graphs[job.graph];
  const GpuModel& gpu = a.gpus[(a.gpu_base ? a.gpu_base[q] : 0) + job.gpu];
  const CommContext& comm = a.comms[(a.comm_base ? a.comm_base[q] : 0) + job.comm];
  const TrainingSettings& settings = a.settings[job.settings];
  LayerSums s;
  LayerCost c;
  for (int i = g.first; i < g.first + g.count; ++i) {
    if (!a.repeats[i]) c = layer_cost(a.dims[i], job.shape, gpu, settings, comm).cost;
    s.add(c);
  }
  add_pipeline_sends(s, comm, settings.pp_send_overlap != 0, settings.comm_sm_fraction);
  return s;
}

inline constexpr unsigned kBoundThreadsPerBlock = 128;

// n threads along x for each of `points` points along y (at most 65,535 points).
inline GridShape bound_grid(int n, int points = 1) { return grid_over(n, kBoundThreadsPerBlock, points); }

// The sums of job j's layers for every point, each layer prepared once (layer_prep: what does
// not read the network) where the points share their GPU models. Each point's sums are added in
// node order, as job_layer_sums adds them, so both give the same bits.
NEST_HD_INLINE void job_layer_sums_all_points(const BoundArrays& a, int j) {
  const LayerSumJob& job = a.jobs[j];
  const BoundGraph g = a.graphs[job.graph];
  const GpuModel& gpu = a.gpus[(a.gpu_base ? a.gpu_base[0] : 0) + job.gpu];
  const TrainingSettings& settings = a.settings[job.settings];
  const long long stride = a.job_stride > 0 ? a.job_stride : a.num_jobs;
  const int end = g.first + g.count;
  // Leading repeats (none in nest's graphs) add a zero cost, as job_layer_sums's would.
  int i = g.first;
  for (int q = 0; q < a.num_points; ++q) a.sums[q * stride + j] = LayerSums{};
  for (; i < end && a.repeats[i]; ++i)
    for (int q = 0; q < a.num_points; ++q) a.sums[q * stride + j].add(LayerCost{});
  while (i < end) {
    int run = 1;  // this node and the repeats after it
    while (i + run < end && a.repeats[i + run]) ++run;
    const LayerPrep prep = layer_prep(a.dims[i], job.shape, gpu, settings);
    for (int q = 0; q < a.num_points; ++q) {
      const CommContext& comm = a.comms[(a.comm_base ? a.comm_base[q] : 0) + job.comm];
      const LayerCost c = layer_cost(prep, job.shape, gpu, settings, comm).cost;
      LayerSums& s = a.sums[q * stride + j];
      for (int k = 0; k < run; ++k) s.add(c);
    }
    i += run;
  }
  for (int q = 0; q < a.num_points; ++q)
    add_pipeline_sends(a.sums[q * stride + j], a.comms[(a.comm_base ? a.comm_base[q] : 0) + job.comm],
                       settings.pp_send_overlap != 0, settings.comm_sm_fraction);
}

// The points launch 1 needs a thread for: point 0 alone does every point's sums where the
// points share their GPU models.
NEST_HD_INLINE int layer_sums_points(const BoundArrays& a) { return a.shared_gpus ? 1 : a.num_points; }

// Launch 1, one thread per job and point (bound_grid(num_jobs, layer_sums_points(a))).
NEST_HD_INLINE void layer_sums_thread(const ThreadIndex& t, const BoundArrays& a) {
  const int j = item_x(t);
  const int q = static_cast<int>(t.block.y);
  if (j >= a.num_jobs || q >= layer_sums_points(a) || a.jobs[j].graph < 0) return;
  if (a.shared_gpus) {
    job_layer_sums_all_points(a, j);
    return;
  }
  a.sums[q * (a.job_stride > 0 ? a.job_stride : a.num_jobs) + j] = job_layer_sums(a, a.jobs[j], q);
}

// Launch 2, one thread per slice and point (bound_grid(num_slices, num_points)), after launch 1.
NEST_HD_INLINE void slice_bound_thread(const ThreadIndex& t, const BoundArrays& a) {
  const int s = item_x(t);
  const int q = static_cast<int>(t.block.y);
  if (s >= a.num_slices || q >= a.num_points) return;
  const SliceBoundInput& in = a.slices[s];
  const long long row = q * (a.slice_stride > 0 ? a.slice_stride : a.num_slices) + s;
  bool h = false;
  const LayerSumJob& job = a.jobs[in.job];
  const CommContext* comm = job.graph >= 0 ? &a.comms[(a.comm_base ? a.comm_base[q] : 0) + job.comm] : nullptr;
  a.bounds[row] = slice_lower_bound(a.sums[q * (a.job_stride > 0 ? a.job_stride : a.num_jobs) + in.job], in, comm, &h);
  a.hopeless[row] = h ? 1 : 0;
}

}  // namespace nest::kernels::dp
