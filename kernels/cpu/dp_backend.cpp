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
    const long long work = jobs * np;
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

  std::vector<dp::UniformFound> solve_uniform(const std::vector<dp::UniformSliceInput>& inputs, double bound, int top_k,
                                              dp::BackendStats* stats) override {
    const int n = static_cast<int>(inputs.size());
    std::vector<dp::UniformResult> results(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> units(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    long long cells = 0;
    // A team only for two inputs or more (on a busy machine a team can cost a scheduler time
    // slice, the barrier waiting for a preempted thread).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) reduction(+ : cells) if (n >= 2)
    for (int x = 0; x < n; ++x) {
      const dp::UniformSliceInput& in = inputs[static_cast<std::size_t>(x)];
      std::vector<int>& k = units[static_cast<std::size_t>(x)];
      k.assign(static_cast<std::size_t>(in.ctx.p), 0);
      const dp::UniformResult r = solve_uniform_input(in, bound, k.data());
      results[static_cast<std::size_t>(x)] = r;
      // The device's sort key (dp/uniform_batch.hpp, uniform_solve_thread).
      keys[static_cast<std::size_t>(x)] = r.status == 1 ? r.objective : (r.status == 2 ? 1e300 : 1e308);
      cells += dp::uniform_cells(dp::uniform_units(in)) + r.checks;
    }
    if (stats) stats->cells += cells;
    std::vector<dp::UniformFound> out;
    for (const int s : dp::uniform_taken(results, dp::batch_sorted_order(keys), top_k))
      out.push_back({s, results[static_cast<std::size_t>(s)], std::move(units[static_cast<std::size_t>(s)])});
    return out;
  }

  std::vector<dp::GeneralFound> solve_general(const dp::GeneralBatch& batch, double bound, int top_k,
                                              dp::BackendStats* stats) override {
    const int n = static_cast<int>(batch.inputs.size());
    std::vector<dp::GeneralResult> results(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> starts(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    long long cells = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) reduction(+ : cells) if (n >= 2)
    for (int x = 0; x < n; ++x) {
      std::vector<int>& st = starts[static_cast<std::size_t>(x)];
      st.assign(static_cast<std::size_t>(batch.inputs[static_cast<std::size_t>(x)].p), 0);
      const dp::GeneralResult r = solve_general_input(batch, static_cast<std::size_t>(x), bound, st.data());
      results[static_cast<std::size_t>(x)] = r;
      keys[static_cast<std::size_t>(x)] = r.status == 1 ? r.objective : 1e308;  // general_solve_thread's key
      cells += r.cells;
    }
    if (stats) stats->cells += cells;
    std::vector<dp::GeneralFound> out;
    for (const int s : dp::first_solved(results, dp::batch_sorted_order(keys), top_k))
      out.push_back({s, results[static_cast<std::size_t>(s)], std::move(starts[static_cast<std::size_t>(s)])});
    return out;
  }

  std::vector<dp::InterleavedFound> solve_interleaved(const dp::InterleavedBatch& batch, double bound, int top_k,
                                                      dp::BackendStats* stats) override {
    const int n = static_cast<int>(batch.inputs.size());
    std::vector<dp::InterleavedResult> results(static_cast<std::size_t>(n));
    std::vector<std::vector<int>> units(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    long long cells = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_) reduction(+ : cells) if (n >= 2)
    for (int x = 0; x < n; ++x) {
      std::vector<int>& u = units[static_cast<std::size_t>(x)];
      u.assign(static_cast<std::size_t>(batch.inputs[static_cast<std::size_t>(x)].p), 0);
      const dp::InterleavedResult r = solve_interleaved_input(batch, static_cast<std::size_t>(x), bound, u.data());
      results[static_cast<std::size_t>(x)] = r;
      keys[static_cast<std::size_t>(x)] = r.status == 1 ? r.objective : 1e308;  // interleaved_solve_thread's key
      cells += r.cells;
    }
    if (stats) stats->cells += cells;
    std::vector<dp::InterleavedFound> out;
    for (const int s : dp::first_solved(results, dp::batch_sorted_order(keys), top_k))
      out.push_back({s, results[static_cast<std::size_t>(s)], std::move(units[static_cast<std::size_t>(s)])});
    return out;
  }

  std::vector<dp::SingleStageFound> solve_single_stage(const std::vector<dp::SingleStageInput>& inputs, double bound, int top_k,
                                                       dp::BackendStats*) override {
    const int n = static_cast<int>(inputs.size());
    std::vector<dp::SingleStageResult> results(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n));
    for (int x = 0; x < n; ++x) {  // a few flops each: no team
      const dp::SingleStageResult r = dp::single_stage_solve(inputs[static_cast<std::size_t>(x)], bound);
      results[static_cast<std::size_t>(x)] = r;
      keys[static_cast<std::size_t>(x)] = r.status == 1 ? r.objective : 1e308;  // single_stage_thread's key
    }
    std::vector<dp::SingleStageFound> out;
    for (const int s : dp::first_solved(results, dp::batch_sorted_order(keys), top_k))
      out.push_back({s, results[static_cast<std::size_t>(s)]});
    return out;
  }

 private:
  int threads_;
};

}  // namespace

std::unique_ptr<dp::DpBackend> make_dp_backend(int threads) { return std::make_unique<CpuDpBackend>(threads); }

}  // namespace nest::kernels::cpu
