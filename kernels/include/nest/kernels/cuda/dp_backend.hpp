// The CUDA backend of the uniform DP: many slices per launch. Plain C++ interface; the
// kernels (kernels/cuda/uniform_dp.cu) run the NEST_HD functions of dp/uniform_tables.hpp and
// dp/uniform.hpp unchanged, so results equal the CPU backend's bit for bit.
#pragma once

#include <cstddef>
#include <vector>

#include <memory>
#include <string>

#include "nest/kernels/dp/backend.hpp"
#include "nest/kernels/dp/uniform_tables.hpp"

namespace nest::kernels::cuda {

struct UniformBatchStats {
  long long cells = 0;        // table cells filled plus feasibility checks
  double kernel_seconds = 0;  // device time of the launches (CUDA events)
  int launches = 0;
  std::size_t bytes_per_slice = 0;
  std::vector<long long> segment_cells;  // cells per segment of the call (dp::Segments)
};

// The batch functions below solve the inputs of one search or several (dp::Segments: each
// segment against its own bound, its own top K taken) and return what the interface does
// (dp/backend.hpp): segment after segment, each segment's selection in its sorted order. Each
// cuts its batch into parts under `memory_limit` (device bytes it may allocate; 0: 80% of the
// free memory), sorts each part's keys within each segment with CUB's segmented stable sort on
// the device, and merges the parts' selections on the host.
//
// Every slice of `inputs` (all with p >= 2 and identical blocks): each segment's top K best
// feasible ones, plus every slice whose shape check failed (status 2, for the CPU's general DP).
std::vector<dp::UniformFound> solve_uniform_batch(const std::vector<dp::UniformSliceInput>& inputs, const dp::Segments& seg,
                                                  std::size_t memory_limit, UniformBatchStats* stats);

// Every slice of a general-DP batch (kernels/cuda/general_dp.cu: one thread per slice).
std::vector<dp::GeneralFound> solve_general_batch(const dp::GeneralBatch& batch, const dp::Segments& seg,
                                                  std::size_t memory_limit, UniformBatchStats* stats);

// Every input of an interleaved-DP batch (kernels/cuda/interleaved_dp.cu: one thread per input).
std::vector<dp::InterleavedFound> solve_interleaved_batch(const dp::InterleavedBatch& batch, const dp::Segments& seg,
                                                          std::size_t memory_limit, UniformBatchStats* stats);

// Every pp = 1 slice (kernels/cuda/single_stage.cu: one thread per slice), in one part.
std::vector<dp::SingleStageFound> solve_single_stage_batch(const std::vector<dp::SingleStageInput>& inputs,
                                                           const dp::Segments& seg, UniformBatchStats* stats);

// The lower bound of every slice of `batch` for each of `points` (kernels/cuda/lower_bounds.cu:
// one thread per layer-sum job and point, then one per slice and point), the batch sent once for
// all of them, its jobs and slices cut into parts that fit `memory_limit` (0: 80% of the free
// memory) beside the tables.
std::vector<dp::SliceBounds> lower_bounds_on_device(const dp::BoundBatch& batch, const std::vector<dp::BoundPointTables>& points,
                                                    std::size_t memory_limit, UniformBatchStats* stats);

// The CUDA backend behind the driver's interface (dp/backend.hpp): solve_uniform_batch on
// device `device_name`, with `memory_limit` as above.
std::unique_ptr<dp::DpBackend> make_dp_backend(const std::string& device_name, std::size_t memory_limit);

}  // namespace nest::kernels::cuda
