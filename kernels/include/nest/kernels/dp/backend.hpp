// The seam between the search driver (host/src/search/planner.cpp) and the backends that run
// the DP: one interface, one implementation per folder (kernels/cpu: OpenMP threads; kernels/cuda:
// the GPU). The driver builds the kernels' plain inputs from its slice costs and hands batches
// to whichever backend it was given; a third backend is a new folder and a new factory, not an
// edit of the driver. Nothing here includes host/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nest/kernels/dp/general_batch.hpp"
#include "nest/kernels/dp/interleaved_batch.hpp"
#include "nest/kernels/dp/lower_bound.hpp"
#include "nest/kernels/dp/single_stage.hpp"
#include "nest/kernels/dp/sort.hpp"
#include "nest/kernels/dp/uniform_tables.hpp"

namespace nest::kernels::dp {

// The share of the device's free memory a CUDA search may allocate when no budget is given
// (--gpu-mem-limit): the rest is left to the runtime, CUB's scratch and other processes.
inline constexpr double kDefaultDeviceMemoryShare = 0.8;

// One input's result, as the backend hands it back.
struct UniformFound {
  int input = -1;  // index into the batch
  UniformResult result;
  std::vector<int> units;  // units per stage of the best split (status 1)
};

// A batch of general-DP slices: their inputs and the arrays their tables lie in
// (general_batch.hpp).
struct GeneralBatch {
  std::vector<GeneralSliceInput> inputs;
  std::vector<double> d;
  std::vector<int> i;
};

struct GeneralFound {
  int input = -1;  // index into the batch
  GeneralResult result;
  std::vector<int> starts;  // first node of each stage
};

// A batch of interleaved-DP inputs and the arrays their tables lie in (interleaved_batch.hpp).
struct InterleavedBatch {
  std::vector<InterleavedSliceInput> inputs;
  std::vector<double> d;
  std::vector<int> i;
};

// Appends one batch whose inputs' tables lie in its arrays (GeneralBatch, InterleavedBatch) to
// another, the inputs' offsets moved to where their tables now lie.
template <class Batch>
void append_batch(Batch& into, const Batch& from) {
  const long long d0 = static_cast<long long>(into.d.size()), i0 = static_cast<long long>(into.i.size());
  for (auto in : from.inputs) {
    in.tables += d0;
    in.ints += i0;
    into.inputs.push_back(in);
  }
  into.d.insert(into.d.end(), from.d.begin(), from.d.end());
  into.i.insert(into.i.end(), from.i.begin(), from.i.end());
}

struct InterleavedFound {
  int input = -1;  // index into the batch
  InterleavedResult result;
  std::vector<int> units;  // units per stage of the best split
};

struct SingleStageFound {
  int input = -1;  // index into the batch
  SingleStageResult result;
};

struct BackendStats {
  long long cells = 0;        // table cells filled plus feasibility checks
  double device_seconds = 0;  // time inside the backend's launches (0 on the CPU)
  int launches = 0;
  // A solve call's cells per segment (Segments), so that each search sharing the call counts
  // its own.
  std::vector<long long> segment_cells;
};

class DpBackend {
 public:
  virtual ~DpBackend() = default;
  virtual std::string name() const = 0;    // "cpu", "cuda", ...
  virtual std::string device() const = 0;  // the device's name ("" on the CPU)
  // Slices per batch the driver should hand over: enough to fill the backend, few enough that
  // the bound the driver prunes with tightens between batches.
  virtual int batch_size() const = 0;
  // The lower bound of every slice of the batch for each of the points (their tables; several
  // points per call: layer_sums_thread, then slice_bound_thread, over jobs or slices and points):
  // the same doubles on every backend, and for a point the same as in a call of its own.
  virtual std::vector<SliceBounds> lower_bounds(const BoundBatch& batch, const std::vector<BoundPointTables>& points,
                                                BackendStats* stats) = 0;
  // The solve calls take the inputs of one search or of several (Segments: each segment its
  // own bound and top K, sort.hpp) and return, segment after segment, each segment's selection
  // in its batch_sorted_order (objective, then batch index); `input` indexes the whole call.
  // A segment's results are the same whatever other segments share the call.
  //
  // Solves every input (p >= 2, identical blocks) against its segment's bound and returns the
  // segment's top K best solved ones and every input whose shape check failed (status 2, which
  // the driver solves otherwise): the selection of uniform_taken, the same on every backend.
  virtual std::vector<UniformFound> solve_uniform(const std::vector<UniformSliceInput>& inputs, const Segments& seg,
                                                  BackendStats* stats) = 0;
  // Solves every slice of the batch (general_solve_slice) and returns each segment's top K best
  // solved ones (first_solved).
  virtual std::vector<GeneralFound> solve_general(const GeneralBatch& batch, const Segments& seg, BackendStats* stats) = 0;
  // Solves every input of the batch (interleaved_solve_slice) and returns each segment's top K
  // best solved ones (first_solved).
  virtual std::vector<InterleavedFound> solve_interleaved(const InterleavedBatch& batch, const Segments& seg,
                                                          BackendStats* stats) = 0;
  // Values every pp = 1 slice (single_stage_solve) and returns each segment's top K best that
  // fit (first_solved).
  virtual std::vector<SingleStageFound> solve_single_stage(const std::vector<SingleStageInput>& inputs, const Segments& seg,
                                                           BackendStats* stats) = 0;
};

}  // namespace nest::kernels::dp
