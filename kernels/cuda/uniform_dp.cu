// Uniform DP on the GPU. Launch 1 fills the tables: a grid over (cell, slice), one thread per
// table cell (stage class x unit count). Launch 2 solves: one thread per slice runs the
// two-pointer walk over the slice's candidates and rebuilds its split. CUB sorts the slices by
// objective for the best and the top K. Slices stream through in batches sized by the memory
// budget; every allocation is a plain cudaMalloc (no managed memory).
#include <algorithm>
#include <limits>
#include <memory>
#include <string>

#include "batch.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/dp/uniform_batch.hpp"

namespace nest::kernels::cuda {

namespace {

using dp::SliceOffsets;

// The bodies are NEST_HD functions of the thread's grid coordinates (dp/uniform_batch.hpp), which
// the tests also run through the CPU grid emulator.
__global__ void fill_cells_kernel(const dp::UniformSliceInput* in, const SliceOffsets* off, double* wd) {
  dp::uniform_fill_thread(this_thread(), in, off, wd);
}

__global__ void solve_kernel(const dp::UniformSliceInput* in, const SliceOffsets* off, int n, double bound, double* wd, int* wi,
                             long long* wl, int* split, dp::UniformResult* out, double* keys, int* index) {
  dp::uniform_solve_thread(this_thread(), in, off, n, bound, wd, wi, wl, split, out, keys, index);
}

std::size_t bytes_of(const dp::UniformSliceInput& s) {
  const int p = s.ctx.p;
  return sizeof(dp::UniformSliceInput) + sizeof(SliceOffsets) + sizeof(dp::UniformResult) + 2 * sizeof(double) + 2 * sizeof(int) +
         sizeof(double) * dp::uniform_workspace_doubles(s) + sizeof(int) * (dp::uniform_workspace_ints(s) + p) +
         sizeof(long long) * dp::uniform_workspace_lls(s);
}

}  // namespace

std::vector<UniformBatchResult> solve_uniform_batch(const std::vector<dp::UniformSliceInput>& inputs, double bound, int top_k,
                                                    std::size_t memory_limit, UniformBatchStats* stats) {
  std::vector<UniformBatchResult> best;
  if (inputs.empty()) return best;
  std::size_t widest = 0;
  for (const auto& s : inputs) widest = std::max(widest, bytes_of(s));
  if (stats) stats->bytes_per_slice = widest;
  const std::size_t per_batch = slices_per_part(memory_limit, widest);
  LaunchTimer timer;
  for (std::size_t start = 0; start < inputs.size(); start += per_batch) {
    const int n = static_cast<int>(std::min(per_batch, inputs.size() - start));
    const dp::UniformBatchLayout layout = dp::uniform_batch_layout(inputs.data() + start, n);
    const std::vector<SliceOffsets>& off = layout.offsets;
    const long long d = layout.doubles, i = layout.ints, ll = layout.lls, sp = layout.splits;
    if (stats) stats->cells += layout.cells;
    DeviceBuffers buf;
    auto* d_in = buf.add<dp::UniformSliceInput>(static_cast<std::size_t>(n));
    auto* d_off = buf.add<SliceOffsets>(static_cast<std::size_t>(n));
    auto* d_wd = buf.add<double>(static_cast<std::size_t>(d));
    auto* d_wi = buf.add<int>(static_cast<std::size_t>(std::max<long long>(i, 1)));
    auto* d_wl = buf.add<long long>(static_cast<std::size_t>(ll));
    auto* d_split = buf.add<int>(static_cast<std::size_t>(sp));
    auto* d_out = buf.add<dp::UniformResult>(static_cast<std::size_t>(n));
    auto* d_keys = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx = buf.add<int>(static_cast<std::size_t>(n));
    auto* d_keys_sorted = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx_sorted = buf.add<int>(static_cast<std::size_t>(n));
    to_device(d_in, inputs.data() + start, static_cast<std::size_t>(n));
    to_device(d_off, off.data(), static_cast<std::size_t>(n));
    timer.start();
    const GridShape fill = dp::uniform_fill_grid(layout, n), solve = dp::uniform_solve_grid(n);
    fill_cells_kernel<<<as_dim3(fill.grid), as_dim3(fill.block), 0, batch_stream()>>>(d_in, d_off, d_wd);
    NEST_CUDA_CHECK(cudaGetLastError());
    solve_kernel<<<as_dim3(solve.grid), as_dim3(solve.block), 0, batch_stream()>>>(d_in, d_off, n, bound, d_wd, d_wi, d_wl,
                                                                                   d_split, d_out, d_keys, d_idx);
    NEST_CUDA_CHECK(cudaGetLastError());
    // Every slice's result comes back (40 bytes each, for the statistics and the slices the
    // general DP must take) with the order CUB found; splits only of the top K.
    std::vector<dp::UniformResult> results;
    std::vector<int> idx;
    sorted_results(d_out, d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, timer, stats, results, idx);
    if (stats)
      for (const auto& r : results) stats->cells += r.checks;
    for (const int s : dp::uniform_taken(results, idx, top_k)) {
      const dp::UniformResult& r = results[static_cast<std::size_t>(s)];
      UniformBatchResult out;
      out.slice = static_cast<int>(start) + s;
      out.result = r;
      const int p = inputs[static_cast<std::size_t>(out.slice)].ctx.p;
      out.units.resize(static_cast<std::size_t>(p));
      if (r.status == 1) to_host(out.units.data(), d_split + off[static_cast<std::size_t>(s)].split, static_cast<std::size_t>(p));
      best.push_back(std::move(out));
    }
  }
  return best;
}

namespace {

// A batch's device figures added to the driver's (batches without DP cells add none).
void add_to(dp::BackendStats* stats, const UniformBatchStats& gs) {
  if (!stats) return;
  stats->cells += gs.cells;
  stats->device_seconds += gs.kernel_seconds;
  stats->launches += gs.launches;
}

class CudaDpBackend final : public dp::DpBackend {
 public:
  CudaDpBackend(std::string device, std::size_t memory_limit) : device_(std::move(device)), memory_limit_(memory_limit) {}
  std::string name() const override { return "cuda"; }
  std::string device() const override { return device_; }
  int batch_size() const override { return 8192; }
  std::vector<dp::SliceBounds> lower_bounds(const dp::BoundBatch& batch, const std::vector<dp::BoundPointTables>& points,
                                            dp::BackendStats* stats) override {
    UniformBatchStats gs;
    std::vector<dp::SliceBounds> out = lower_bounds_on_device(batch, points, memory_limit_, &gs);
    add_to(stats, gs);
    return out;
  }
  std::vector<dp::UniformFound> solve_uniform(const std::vector<dp::UniformSliceInput>& inputs, double bound, int top_k,
                                              dp::BackendStats* stats) override {
    UniformBatchStats gs;
    std::vector<UniformBatchResult> parts = solve_uniform_batch(inputs, bound, top_k, memory_limit_, &gs);
    // Each part the memory budget cut the batch into was selected on its own; the interface's
    // one order over the whole batch (uniform_taken): the solved ones by objective, ties in batch
    // order, the top K of them, then every failed shape check in batch order.
    std::stable_sort(parts.begin(), parts.end(), [](const UniformBatchResult& a, const UniformBatchResult& b) {
      const double ka = a.result.status == 1 ? a.result.objective : 1e300, kb = b.result.status == 1 ? b.result.objective : 1e300;
      return ka != kb ? ka < kb : a.slice < b.slice;
    });
    std::vector<dp::UniformFound> out;
    int solved = 0;
    for (UniformBatchResult& r : parts) {
      if (r.result.status == 1 && solved++ >= top_k) continue;
      out.push_back({r.slice, r.result, std::move(r.units)});
    }
    add_to(stats, gs);
    return out;
  }
  std::vector<dp::GeneralFound> solve_general(const dp::GeneralBatch& batch, double bound, int top_k,
                                              dp::BackendStats* stats) override {
    UniformBatchStats gs;
    std::vector<GeneralBatchResult> parts = solve_general_batch(batch, bound, top_k, memory_limit_, &gs);
    // The best of each part, then the interface's one order over the whole batch
    // (batch_sorted_order of the objectives: ties in batch order) and its top K.
    std::sort(parts.begin(), parts.end(), [](const GeneralBatchResult& a, const GeneralBatchResult& b) {
      return a.result.objective != b.result.objective ? a.result.objective < b.result.objective : a.slice < b.slice;
    });
    if (static_cast<int>(parts.size()) > top_k) parts.resize(static_cast<std::size_t>(top_k));
    std::vector<dp::GeneralFound> out;
    for (GeneralBatchResult& r : parts) out.push_back({r.slice, r.result, std::move(r.starts)});
    add_to(stats, gs);
    return out;
  }
  std::vector<dp::InterleavedFound> solve_interleaved(const dp::InterleavedBatch& batch, double bound, int top_k,
                                                      dp::BackendStats* stats) override {
    UniformBatchStats gs;
    std::vector<InterleavedBatchResult> parts = solve_interleaved_batch(batch, bound, top_k, memory_limit_, &gs);
    // As solve_general: the best of each part, then one order over the whole batch and its top K.
    std::sort(parts.begin(), parts.end(), [](const InterleavedBatchResult& a, const InterleavedBatchResult& b) {
      return a.result.objective != b.result.objective ? a.result.objective < b.result.objective : a.slice < b.slice;
    });
    if (static_cast<int>(parts.size()) > top_k) parts.resize(static_cast<std::size_t>(top_k));
    std::vector<dp::InterleavedFound> out;
    for (InterleavedBatchResult& r : parts) out.push_back({r.slice, r.result, std::move(r.units)});
    add_to(stats, gs);
    return out;
  }
  std::vector<dp::SingleStageFound> solve_single_stage(const std::vector<dp::SingleStageInput>& inputs, double bound, int top_k,
                                                       dp::BackendStats* stats) override {
    UniformBatchStats gs;
    std::vector<dp::SingleStageFound> out = solve_single_stage_batch(inputs, bound, top_k, &gs);
    add_to(stats, gs);
    return out;
  }

 private:
  std::string device_;
  std::size_t memory_limit_;
};

}  // namespace

std::unique_ptr<dp::DpBackend> make_dp_backend(const std::string& device_name, std::size_t memory_limit) {
  return std::make_unique<CudaDpBackend>(device_name, memory_limit);
}

}  // namespace nest::kernels::cuda
