// Interleaved DP on the GPU: one thread per input runs interleaved_solve_slice (candidates,
// sort, search over (R, B), units) on the input's tables, which the host laid out in the batch's
// arrays (dp/interleaved_batch.hpp); CUB sorts the objectives for the best K. The thread body is
// the NEST_HD function the CPU backend and the grid emulator run. Inputs stream through in
// parts sized by the memory budget; every allocation is a plain cudaMalloc.
#include <algorithm>
#include <memory>
#include <string>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/interleaved_batch.hpp"

namespace nest::kernels::cuda {

namespace {

__global__ void interleaved_solve_kernel(const dp::InterleavedSliceInput* in, const double* d, const int* i,
                                         const dp::InterleavedOffsets* off, int n, double bound, double* wd, int* wi, int* units,
                                         dp::InterleavedResult* out, double* keys, int* index) {
  dp::interleaved_solve_thread(this_thread(), in, d, i, off, n, bound, wd, wi, units, out, keys, index);
}

std::size_t bytes_of(const dp::InterleavedSliceInput& s) {
  return sizeof(dp::InterleavedSliceInput) + sizeof(dp::InterleavedOffsets) + sizeof(dp::InterleavedResult) + 2 * sizeof(double) +
         2 * sizeof(int) +
         sizeof(double) * static_cast<std::size_t>(dp::interleaved_table_doubles(s) + dp::interleaved_workspace_doubles(s)) +
         sizeof(int) * static_cast<std::size_t>(dp::interleaved_table_ints(s) + dp::interleaved_workspace_ints(s) + s.p);
}

}  // namespace

std::vector<InterleavedBatchResult> solve_interleaved_batch(const dp::InterleavedBatch& batch, double bound, int top_k,
                                                            std::size_t memory_limit, UniformBatchStats* stats) {
  std::vector<InterleavedBatchResult> best;
  const std::vector<dp::InterleavedSliceInput>& inputs = batch.inputs;
  if (inputs.empty()) return best;
  std::size_t widest = 0;
  for (const auto& s : inputs) widest = std::max(widest, bytes_of(s));
  if (stats) stats->bytes_per_slice = std::max(stats->bytes_per_slice, widest);
  const std::size_t per_batch = slices_per_part(memory_limit, widest);
  LaunchTimer timer;
  for (std::size_t start = 0; start < inputs.size(); start += per_batch) {
    const int n = static_cast<int>(std::min(per_batch, inputs.size() - start));
    // This part's tables are contiguous in the batch's arrays: copy them and rebase the offsets.
    std::vector<dp::InterleavedSliceInput> part(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                                                inputs.begin() + static_cast<std::ptrdiff_t>(start) + n);
    const long long d0 = part.front().tables, i0 = part.front().ints;
    const long long d1 = part.back().tables + dp::interleaved_table_doubles(part.back());
    const long long i1 = part.back().ints + dp::interleaved_table_ints(part.back());
    for (auto& s : part) {
      s.tables -= d0;
      s.ints -= i0;
    }
    const dp::InterleavedBatchLayout layout = dp::interleaved_batch_layout(part.data(), n);
    DeviceBuffers buf;
    auto* d_in = buf.add<dp::InterleavedSliceInput>(static_cast<std::size_t>(n));
    auto* d_d = buf.add<double>(static_cast<std::size_t>(d1 - d0));
    auto* d_i = buf.add<int>(static_cast<std::size_t>(std::max<long long>(i1 - i0, 1)));
    auto* d_off = buf.add<dp::InterleavedOffsets>(static_cast<std::size_t>(n));
    auto* d_wd = buf.add<double>(static_cast<std::size_t>(layout.doubles));
    auto* d_wi = buf.add<int>(static_cast<std::size_t>(std::max<long long>(layout.ints, 1)));
    auto* d_units = buf.add<int>(static_cast<std::size_t>(layout.units));
    auto* d_out = buf.add<dp::InterleavedResult>(static_cast<std::size_t>(n));
    auto* d_keys = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx = buf.add<int>(static_cast<std::size_t>(n));
    auto* d_keys_sorted = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx_sorted = buf.add<int>(static_cast<std::size_t>(n));
    to_device(d_in, part.data(), static_cast<std::size_t>(n));
    to_device(d_d, batch.d.data() + d0, static_cast<std::size_t>(d1 - d0));
    to_device(d_i, batch.i.data() + i0, static_cast<std::size_t>(i1 - i0));
    to_device(d_off, layout.offsets.data(), static_cast<std::size_t>(n));
    timer.start();
    const GridShape grid = dp::interleaved_solve_grid(n);
    interleaved_solve_kernel<<<as_dim3(grid.grid), as_dim3(grid.block), 0, batch_stream()>>>(
        d_in, d_d, d_i, d_off, n, bound, d_wd, d_wi, d_units, d_out, d_keys, d_idx);
    NEST_CUDA_CHECK(cudaGetLastError());
    std::vector<dp::InterleavedResult> results;
    std::vector<int> idx;
    sorted_results(d_out, d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, timer, stats, results, idx);
    if (stats)
      for (const auto& r : results) stats->cells += r.cells;
    for (const int s : dp::first_solved(results, idx, top_k)) {
      InterleavedBatchResult out;
      out.slice = static_cast<int>(start) + s;
      out.result = results[static_cast<std::size_t>(s)];
      out.units.resize(static_cast<std::size_t>(part[static_cast<std::size_t>(s)].p));
      to_host(out.units.data(), d_units + layout.offsets[static_cast<std::size_t>(s)].units, out.units.size());
      best.push_back(std::move(out));
    }
  }
  // Parts are sorted each on its own; the caller's selection (top K over all) re-sorts.
  return best;
}

}  // namespace nest::kernels::cuda
