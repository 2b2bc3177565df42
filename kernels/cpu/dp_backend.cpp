#include "nest/kernels/cpu/dp_backend.hpp"

#include <omp.h>

#include "nest/kernels/dp/general_batch.hpp"
#include "nest/kernels/dp/uniform_batch.hpp"

namespace nest::kernels::cpu {

dp::UniformResult solve_uniform_input(const dp::UniformSliceInput& in, double bound, int* units) {
  thread_local std::vector<double> wd;
  thread_local std::vector<int> wi;
  thread_local std::vector<long long> wl;
  wd.resize(static_cast<std::size_t>(dp::uniform_workspace_doubles(in)));
  wi.resize(static_cast<std::size_t>(dp::uniform_workspace_ints(in)));
  wl.resize(static_cast<std::size_t>(dp::uniform_workspace_lls(in)));
  const dp::UniformWorkspace ws{wd.data(), wi.data(), wl.data()};
  dp::uniform_fill_cells(in, ws);
  return dp::uniform_solve_after_cells(in, ws, bound, units);
}

dp::GeneralResult solve_general_input(const dp::GeneralBatch& batch, std::size_t input, double bound, int* starts) {
  const dp::GeneralSliceInput& in = batch.inputs[input];
  thread_local std::vector<double> wd;
  thread_local std::vector<int> wi;
  wd.resize(static_cast<std::size_t>(dp::general_workspace_doubles(in)));
  wi.resize(static_cast<std::size_t>(dp::general_workspace_ints(in)));
  return dp::general_solve_slice(in, batch.d.data(), batch.i.data(), bound, wd.data(), wi.data(), starts);
}

dp::InterleavedResult solve_interleaved_input(const dp::InterleavedBatch& batch, std::size_t input, double bound, int* units) {
  const dp::InterleavedSliceInput& in = batch.inputs[input];
  thread_local std::vector<double> wd;
  thread_local std::vector<int> wi;
  wd.resize(static_cast<std::size_t>(dp::interleaved_workspace_doubles(in)));
  wi.resize(static_cast<std::size_t>(dp::interleaved_workspace_ints(in)));
  return dp::interleaved_solve_slice(in, batch.d.data(), batch.i.data(), bound, wd.data(), wi.data(), units);
}

namespace {

// Jobs below which the layer sums run on the calling thread alone.
constexpr int kJobsPerTeam = 1024;

// Each input's cells into the call's figures, in total and per segment.
void count_cells(const std::vector<long long>& cells, const dp::Segments& seg, dp::BackendStats* stats) {
  if (!stats) return;
  stats->segment_cells.assign(static_cast<std::size_t>(seg.count()), 0);
  for (int s = 0; s < seg.count(); ++s)
    for (int x = seg.starts[static_cast<std::size_t>(s)]; x < seg.starts[static_cast<std::size_t>(s) + 1]; ++x)
      stats->segment_cells[static_cast<std::size_t>(s)] += cells[static_cast<std::size_t>(x)];
  for (long long c : stats->segment_cells) stats->cells += c;
}

class CpuDpBackend final : public dp::DpBackend {
 public:
  explicit CpuDpBackend(int threads) : threads_(threads > 0 ? threads : omp_get_max_threads()) {}
  std::string name() const override { return "cpu"; }
  std::string device() const override { return ""; }
  int batch_size() const override { return 32 * threads_; }

  std::vector<dp::SliceBounds> lower_bounds(const dp::BoundBatch& batch, const std::vector<dp::BoundPointTables>& points,
                                            dp::BackendStats*) override {
    const int np = static_cast<int>(points.size());
    const long long jobs = static_cast<long long>(batch.jobs.size()), slices = static_cast<long long>(batch.slices.size());
    const dp::BoundPointsFlat flat = dp::flatten_points(points);
    std::vector<dp::LayerSums> sums = dp::sums_rows(batch, np);
    std::vector<double> bound(static_cast<std::size_t>(slices * np));
    std::vector<unsigned char> hopeless(static_cast<std::size_t>(slices * np));
    const dp::BoundArrays a = dp::host_bound_arrays(batch, flat, sums.data(), bound.data(), hopeless.data());
    // The thread bodies with the launches' indices (block.y the point, thread.x the job or
    // slice); a job costs a few microseconds, a slice a few nanoseconds: a team only for many
    // jobs (a team can cost a scheduler time slice).
    const long long work = jobs * dp::layer_sums_points(a);
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads_) if (work >= kJobsPerTeam)
    for (long long w = 0; w < work; ++w) {
      kernels::ThreadIndex t;
      t.block = {0, static_cast<unsigned>(w / jobs), 0};
      t.block_dim = {1, 1, 1};
      t.thread = {static_cast<unsigned>(w % jobs), 0, 0};
      dp::layer_sums_thread(t, a);
    }
    kernels::ThreadIndex t;
    t.block_dim = {1, 1, 1};
    t.thread = {0, 0, 0};
    for (int q = 0; q < np; ++q)
      for (long long x = 0; x < slices; ++x) {
        t.block = {0, static_cast<unsigned>(q), 0};
        t.thread.x = static_cast<unsigned>(x);
        dp::slice_bound_thread(t, a);
      }
    return dp::bound_rows(bound, hopeless, static_cast<std::size_t>(np));
  }

  std::vector<dp::UniformFound> solve_uniform(const std::vector<dp::UniformSliceInput>& inputs, const dp::Segments& seg,
                                              dp::BackendStats* stats) override {
    seg.require_covers(inputs.size());
    const int n = static_cast<int>(inputs.size());
    const std::vector<double> bound = seg.input_bounds();
    std::vector<dp::UniformResult> results(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> units(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    std::vector<long long> cells(static_cast<std::size_t>(n));
    // A team only for two inputs or more (on a busy machine a team can cost a scheduler time
    // slice, the barrier waiting for a preempted thread).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) if (n >= 2)
    for (int x = 0; x < n; ++x) {
      const std::size_t ux = static_cast<std::size_t>(x);
      const dp::UniformSliceInput& in = inputs[ux];
      units[ux].assign(static_cast<std::size_t>(in.ctx.p), 0);
      const dp::UniformResult r = solve_uniform_input(in, bound[ux], units[ux].data());
      results[ux] = r;
      keys[ux] = dp::result_key(r.status, r.objective);
      cells[ux] = dp::uniform_cells(dp::uniform_units(in)) + r.checks;
    }
    count_cells(cells, seg, stats);
    std::vector<dp::UniformFound> out;
    for (const int s : dp::select_per_segment(results, dp::segment_sorted_order(keys, seg), seg, dp::uniform_taken))
      out.push_back({s, results[static_cast<std::size_t>(s)], std::move(units[static_cast<std::size_t>(s)])});
    return out;
  }

  std::vector<dp::GeneralFound> solve_general(const dp::GeneralBatch& batch, const dp::Segments& seg,
                                              dp::BackendStats* stats) override {
    return solve_tabled<dp::GeneralFound>(batch, seg, stats, solve_general_input);
  }

  std::vector<dp::InterleavedFound> solve_interleaved(const dp::InterleavedBatch& batch, const dp::Segments& seg,
                                                      dp::BackendStats* stats) override {
    return solve_tabled<dp::InterleavedFound>(batch, seg, stats, solve_interleaved_input);
  }

  std::vector<dp::SingleStageFound> solve_single_stage(const std::vector<dp::SingleStageInput>& inputs, const dp::Segments& seg,
                                                       dp::BackendStats* stats) override {
    seg.require_covers(inputs.size());
    const int n = static_cast<int>(inputs.size());
    const std::vector<double> bound = seg.input_bounds();
    std::vector<dp::SingleStageResult> results(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    for (int x = 0; x < n; ++x) {  // a few flops each: no team
      const std::size_t ux = static_cast<std::size_t>(x);
      const dp::SingleStageResult r = dp::single_stage_solve(inputs[ux], bound[ux]);
      results[ux] = r;
      keys[ux] = dp::result_key(r.status, r.objective);
    }
    count_cells(std::vector<long long>(static_cast<std::size_t>(n), 0), seg, stats);
    std::vector<dp::SingleStageFound> out;
    for (const int s :
         dp::select_per_segment(results, dp::segment_sorted_order(keys, seg), seg, dp::first_solved<dp::SingleStageResult>))
      out.push_back({s, results[static_cast<std::size_t>(s)]});
    return out;
  }

 private:
  // A batch whose inputs' tables lie in its arrays (general, interleaved): each input solved
  // against its segment's bound (solve_input), its per-stage answer kept, keyed as the device
  // kernels key it (objective, or last when nothing fits), selected per segment.
  template <class Found, class Batch, class SolveInput>
  std::vector<Found> solve_tabled(const Batch& batch, const dp::Segments& seg, dp::BackendStats* stats, SolveInput solve_input) {
    seg.require_covers(batch.inputs.size());
    const int n = static_cast<int>(batch.inputs.size());
    const std::vector<double> bound = seg.input_bounds();
    std::vector<decltype(Found::result)> results(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> answers(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    std::vector<long long> cells(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) if (n >= 2)
    for (int x = 0; x < n; ++x) {
      const std::size_t ux = static_cast<std::size_t>(x);
      answers[ux].assign(static_cast<std::size_t>(batch.inputs[ux].p), 0);
      const auto r = solve_input(batch, ux, bound[ux], answers[ux].data());
      results[ux] = r;
      keys[ux] = dp::result_key(r.status, r.objective);
      cells[ux] = r.cells;
    }
    count_cells(cells, seg, stats);
    std::vector<Found> out;
    for (const int s :
         dp::select_per_segment(results, dp::segment_sorted_order(keys, seg), seg, dp::first_solved<decltype(Found::result)>))
      out.push_back({s, results[static_cast<std::size_t>(s)], std::move(answers[static_cast<std::size_t>(s)])});
    return out;
  }

  int threads_;
};

}  // namespace

std::unique_ptr<dp::DpBackend> make_dp_backend(int threads) { return std::make_unique<CpuDpBackend>(threads); }

}  // namespace nest::kernels::cpu
