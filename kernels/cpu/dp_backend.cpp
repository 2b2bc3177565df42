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

  dp::SliceBounds lower_bounds(const dp::BoundBatch& batch, const dp::BoundPointTables& point, dp::BackendStats*) override {
    dp::SliceBounds out;
    std::vector<dp::LayerSums> sums = batch.sums;
    sums.resize(batch.jobs.size());
    out.bound.resize(batch.slices.size());
    out.hopeless.resize(batch.slices.size());
    const dp::BoundArrays a{batch.dims.data(),
                            batch.repeats.data(),
                            batch.graphs.data(),
                            point.gpus.data(),
                            point.comms.data(),
                            batch.settings.data(),
                            batch.jobs.data(),
                            static_cast<int>(batch.jobs.size()),
                            sums.data(),
                            batch.slices.data(),
                            static_cast<int>(batch.slices.size()),
                            out.bound.data(),
                            out.hopeless.data()};
    // The thread bodies with the launches' indices; a job costs a few microseconds, a slice a
    // few nanoseconds: a team only for many jobs (a team can cost a scheduler time slice).
    const int jobs = a.num_jobs, slices = a.num_slices;
    kernels::ThreadIndex t;  // block 0 of blocks of one thread: thread.x is the index
    t.block = {0, 0, 0};
    t.block_dim = {1, 1, 1};
#pragma omp parallel for schedule(dynamic, 64) num_threads(threads_) firstprivate(t) if (jobs >= kJobsPerTeam)
    for (int j = 0; j < jobs; ++j) {
      t.thread.x = static_cast<unsigned>(j);
      dp::layer_sums_thread(t, a);
    }
    for (int x = 0; x < slices; ++x) {
      t.thread.x = static_cast<unsigned>(x);
      dp::slice_bound_thread(t, a);
    }
    return out;
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
