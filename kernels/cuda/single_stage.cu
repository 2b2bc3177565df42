// pp = 1 slices on the GPU: one thread per slice values its single split (single_stage_thread,
// the NEST_HD body the CPU backend and the grid emulator run); CUB sorts the objectives within
// each search's segment for its best K.
#include <algorithm>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/single_stage.hpp"
#include "nest/kernels/dp/sort.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void single_stage_kernel(const dp::SingleStageInput* in, int n, const double* bound, dp::SingleStageResult* out,
                                    double* keys, int* index) {
  dp::single_stage_thread(this_thread(), in, n, bound, out, keys, index);
}

}  // namespace

std::vector<dp::SingleStageFound> solve_single_stage_batch(const std::vector<dp::SingleStageInput>& inputs,
                                                           const dp::Segments& seg, UniformBatchStats* stats) {
  std::vector<dp::SingleStageFound> best;
  seg.require_covers(inputs.size());
  const int n = static_cast<int>(inputs.size());
  if (n == 0) return best;
  const dp::CallPart cp = dp::call_part(seg, 0, n);
  const std::vector<double> bounds = seg.input_bounds();
  DeviceBuffers buf;
  auto* d_in = buf.add<dp::SingleStageInput>(static_cast<std::size_t>(n));
  auto* d_bound = buf.add<double>(static_cast<std::size_t>(n));
  auto* d_seg = buf.add<int>(cp.seg.starts.size());
  auto* d_out = buf.add<dp::SingleStageResult>(static_cast<std::size_t>(n));
  auto* d_keys = buf.add<double>(static_cast<std::size_t>(n));
  auto* d_keys_sorted = buf.add<double>(static_cast<std::size_t>(n));
  auto* d_idx = buf.add<int>(static_cast<std::size_t>(n));
  auto* d_idx_sorted = buf.add<int>(static_cast<std::size_t>(n));
  to_device(d_in, inputs.data(), static_cast<std::size_t>(n));
  to_device(d_bound, bounds.data(), static_cast<std::size_t>(n));
  to_device(d_seg, cp.seg.starts.data(), cp.seg.starts.size());
  LaunchTimer timer;
  timer.start();
  const GridShape g = dp::single_stage_grid(n);
  single_stage_kernel<<<as_dim3(g.grid), as_dim3(g.block), 0, batch_stream()>>>(d_in, n, d_bound, d_out, d_keys, d_idx);
  NEST_CUDA_CHECK(cudaGetLastError());
  std::vector<dp::SingleStageResult> results;
  std::vector<int> idx;
  sorted_results(d_out, d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, cp, d_seg, timer, stats, results, idx);
  // One part: its selection, mapped to the call's segments, is the call's.
  for (const int s : dp::select_per_segment(results, idx, cp.seg, dp::first_solved<dp::SingleStageResult>))
    best.push_back({s, results[static_cast<std::size_t>(s)]});
  return best;
}

}  // namespace nest::kernels::cuda
