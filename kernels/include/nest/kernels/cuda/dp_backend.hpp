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

struct UniformBatchResult {
  int slice = -1;  // index into the batch
  dp::UniformResult result;
  std::vector<int> units;  // units per stage (blocks / v) of the best split
};

struct UniformBatchStats {
  long long cells = 0;        // table cells filled plus feasibility checks
  double kernel_seconds = 0;  // device time of the launches (CUDA events)
  int launches = 0;
  std::size_t bytes_per_slice = 0;
};

// Solves every slice of `inputs` (all with p >= 2 and identical blocks) against `bound` and
// returns the `top_k` best feasible ones (CUB radix sort of the objectives on the device),
// plus every slice whose shape check failed (status 2, for the CPU's general DP).
// memory_limit: device bytes the backend may allocate (0: 80% of the free memory).
std::vector<UniformBatchResult> solve_uniform_batch(const std::vector<dp::UniformSliceInput>& inputs, double bound, int top_k,
                                                    std::size_t memory_limit, UniformBatchStats* stats);

struct GeneralBatchResult {
  int slice = -1;  // index into the batch
  dp::GeneralResult result;
  std::vector<int> starts;  // first node of each stage
};

// Solves every slice of a general-DP batch (kernels/cuda/general_dp.cu: one thread per slice)
// and returns the `top_k` best solved ones of each part the memory budget cuts the batch into.
std::vector<GeneralBatchResult> solve_general_batch(const dp::GeneralBatch& batch, double bound, int top_k,
                                                    std::size_t memory_limit, UniformBatchStats* stats);

struct InterleavedBatchResult {
  int slice = -1;  // index into the batch
  dp::InterleavedResult result;
  std::vector<int> units;  // units per stage of the best split
};

// Solves every input of an interleaved-DP batch (kernels/cuda/interleaved_dp.cu: one thread per
// input) and returns the `top_k` best solved ones of each part the memory budget cuts it into.
std::vector<InterleavedBatchResult> solve_interleaved_batch(const dp::InterleavedBatch& batch, double bound, int top_k,
                                                            std::size_t memory_limit, UniformBatchStats* stats);

// Values every pp = 1 slice (kernels/cuda/single_stage.cu: one thread per slice) and returns the
// `top_k` best that fit, in the interface's order.
std::vector<dp::SingleStageFound> solve_single_stage_batch(const std::vector<dp::SingleStageInput>& inputs, double bound,
                                                           int top_k, UniformBatchStats* stats);

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
