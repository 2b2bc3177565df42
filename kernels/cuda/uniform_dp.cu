// Uniform DP on the GPU. Launch 1 fills the tables: a grid over (cell, slice), one thread per
// table cell (stage class x unit count). Launch 2 solves: one thread per slice runs the
// two-pointer walk over the slice's candidates and rebuilds its split. CUB sorts the slices by
// objective within each search's segment for its best and top K. Slices stream through in batches sized by the memory
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

__global__ void solve_kernel(const dp::UniformSliceInput* in, const SliceOffsets* off, int n, const double* bound, double* wd,
                             int* wi, long long* wl, int* split, dp::UniformResult* out, double* keys, int* index) {
  dp::uniform_solve_thread(this_thread(), in, off, n, bound, wd, wi, wl, split, out, keys, index);
}

std::size_t bytes_of(const dp::UniformSliceInput& s) {
  const int p = s.ctx.p;
  return sizeof(dp::UniformSliceInput) + sizeof(SliceOffsets) + sizeof(dp::UniformResult) + 3 * sizeof(double) + 3 * sizeof(int) +
         sizeof(double) * dp::uniform_workspace_doubles(s) + sizeof(int) * (dp::uniform_workspace_ints(s) + p) +
         sizeof(long long) * dp::uniform_workspace_lls(s);
}

}  // namespace

std::vector<dp::UniformFound> solve_uniform_batch(const std::vector<dp::UniformSliceInput>& inputs, const dp::Segments& seg,
                                                  std::size_t memory_limit, UniformBatchStats* stats) {
  seg.require_covers(inputs.size());
  std::vector<dp::UniformFound> best;
  if (inputs.empty()) return best;
  std::size_t widest = 0;
  for (const auto& s : inputs) widest = std::max(widest, bytes_of(s));
  if (stats) stats->bytes_per_slice = widest;
  const std::size_t per_batch = slices_per_part(memory_limit, widest);
  const std::vector<double> bounds = seg.input_bounds();
  LaunchTimer timer;
  for (std::size_t start = 0; start < inputs.size(); start += per_batch) {
    const int n = static_cast<int>(std::min(per_batch, inputs.size() - start));
    const dp::CallPart cp = dp::call_part(seg, static_cast<int>(start), n);
    const dp::UniformBatchLayout layout = dp::uniform_batch_layout(inputs.data() + start, n);
    const std::vector<SliceOffsets>& off = layout.offsets;
    const long long d = layout.doubles, i = layout.ints, ll = layout.lls, sp = layout.splits;
    DeviceBuffers buf;
    auto* d_in = buf.add<dp::UniformSliceInput>(static_cast<std::size_t>(n));
    auto* d_bound = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_seg = buf.add<int>(cp.seg.starts.size());
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
    to_device(d_bound, bounds.data() + start, static_cast<std::size_t>(n));
    to_device(d_seg, cp.seg.starts.data(), cp.seg.starts.size());
    to_device(d_off, off.data(), static_cast<std::size_t>(n));
    timer.start();
    const GridShape fill = dp::uniform_fill_grid(layout, n), solve = dp::uniform_solve_grid(n);
    fill_cells_kernel<<<as_dim3(fill.grid), as_dim3(fill.block), 0, batch_stream()>>>(d_in, d_off, d_wd);
    NEST_CUDA_CHECK(cudaGetLastError());
    solve_kernel<<<as_dim3(solve.grid), as_dim3(solve.block), 0, batch_stream()>>>(d_in, d_off, n, d_bound, d_wd, d_wi, d_wl,
                                                                                   d_split, d_out, d_keys, d_idx);
    NEST_CUDA_CHECK(cudaGetLastError());
    // Every slice's result comes back (40 bytes each, for the statistics and the slices the
    // general DP must take) with the order CUB found; splits only of the selected.
    std::vector<dp::UniformResult> results;
    std::vector<int> idx;
    sorted_results(d_out, d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, cp, d_seg, timer, stats, results, idx);
    count_part_cells(
        cp, seg.count(),
        [&](int x) {
          return dp::uniform_cells(dp::uniform_units(inputs[start + static_cast<std::size_t>(x)])) +
                 results[static_cast<std::size_t>(x)].checks;
        },
        stats);
    for (const int s : dp::select_per_segment(results, idx, cp.seg, dp::uniform_taken)) {
      const dp::UniformResult& r = results[static_cast<std::size_t>(s)];
      dp::UniformFound out;
      out.input = static_cast<int>(start) + s;
      out.result = r;
      const int p = inputs[static_cast<std::size_t>(out.input)].ctx.p;
      out.units.resize(static_cast<std::size_t>(p));
      if (r.status == 1) to_host(out.units.data(), d_split + off[static_cast<std::size_t>(s)].split, static_cast<std::size_t>(p));
      best.push_back(std::move(out));
    }
  }
  // The interface's one order over each segment (uniform_taken): the solved ones by objective,
  // ties in batch order, the top K of them, then every failed shape check in batch order.
  return dp::merge_parts(std::move(best), seg,
                         [](const dp::UniformFound& f) { return dp::result_key(f.result.status, f.result.objective); });
}

namespace {

// A batch's device figures added to the driver's (batches without DP cells add none).
void add_to(dp::BackendStats* stats, const UniformBatchStats& gs) {
  if (!stats) return;
  stats->cells += gs.cells;
  stats->device_seconds += gs.kernel_seconds;
  stats->launches += gs.launches;
  stats->segment_cells = gs.segment_cells;
}

// A solve call's batch function run, its figures added to the driver's (every segment's cells
// counted, zero where it has none).
template <class Solve>
auto solved(const dp::Segments& seg, dp::BackendStats* stats, Solve solve) {
  UniformBatchStats gs;
  gs.segment_cells.assign(static_cast<std::size_t>(seg.count()), 0);
  auto out = solve(&gs);
  add_to(stats, gs);
  return out;
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
  std::vector<dp::UniformFound> solve_uniform(const std::vector<dp::UniformSliceInput>& inputs, const dp::Segments& seg,
                                              dp::BackendStats* stats) override {
    return solved(seg, stats, [&](UniformBatchStats* gs) { return solve_uniform_batch(inputs, seg, memory_limit_, gs); });
  }
  std::vector<dp::GeneralFound> solve_general(const dp::GeneralBatch& batch, const dp::Segments& seg,
                                              dp::BackendStats* stats) override {
    return solved(seg, stats, [&](UniformBatchStats* gs) { return solve_general_batch(batch, seg, memory_limit_, gs); });
  }
  std::vector<dp::InterleavedFound> solve_interleaved(const dp::InterleavedBatch& batch, const dp::Segments& seg,
                                                      dp::BackendStats* stats) override {
    return solved(seg, stats, [&](UniformBatchStats* gs) { return solve_interleaved_batch(batch, seg, memory_limit_, gs); });
  }
  std::vector<dp::SingleStageFound> solve_single_stage(const std::vector<dp::SingleStageInput>& inputs, const dp::Segments& seg,
                                                       dp::BackendStats* stats) override {
    return solved(seg, stats, [&](UniformBatchStats* gs) { return solve_single_stage_batch(inputs, seg, gs); });
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
