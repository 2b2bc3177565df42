// DP cells per second of each backend on the uniform slices (pp >= 2) of preset problems, no
// pruning (every slice solved in full). A cell is one table entry (a stage class at a unit
// count) or one feasibility check of a candidate (B, R) pair. docs/gpu-roofline.md says what a
// cell costs in bytes and operations.
#include <benchmark/benchmark.h>

#include <cmath>
#include <omp.h>

#include "bench_support.hpp"
#include "nest/search/planner.hpp"
#ifdef NEST_HAVE_CUDA_BACKEND
#include "nest/kernels/cuda/device.hpp"
#include "nest/kernels/cuda/dp_backend.hpp"
#endif

namespace nest {
namespace {

std::vector<kernels::dp::UniformSliceInput> inputs_for(const char* model, long gpus, long batch, long seq,
                                                       std::size_t max_slices) {
  const AnalyticCostSource src(bench::preset_problem(model, "dgx-h100", gpus, batch, seq));
  const SearchSpace space = enumerate_slices(src, SearchOptions{});
  std::vector<kernels::dp::UniformSliceInput> in;
  for (const SliceSpec& s : space.slices) {
    if (s.par.pp < 2) continue;
    in.push_back(
        uniform_input(src.slice_costs(s.par, space.placements[static_cast<std::size_t>(s.placement)]), src.num_blocks()));
    if (in.size() == max_slices) break;
  }
  return in;
}

const std::vector<kernels::dp::UniformSliceInput>& inputs(int which) {
  static const auto a = inputs_for("llama3-405b", 16384, 2048, 8192, 20000);
  static const auto b = inputs_for("gpt3-175b", 1024, 1536, 2048, 20000);
  return which == 0 ? a : b;
}

void BM_CpuUniformDp(benchmark::State& state) {
  const auto& in = inputs(static_cast<int>(state.range(0)));
  const int threads = static_cast<int>(state.range(1));
  long long cells = 0;
  for (auto _ : state) {
    long long local = 0;
#pragma omp parallel for schedule(dynamic, 16) num_threads(threads) reduction(+ : local)
    for (std::size_t i = 0; i < in.size(); ++i) {
      const int K = kernels::dp::uniform_units(in[i]);
      thread_local std::vector<double> wd;
      thread_local std::vector<int> wi, k;
      thread_local std::vector<long long> wl;
      wd.resize(static_cast<std::size_t>(kernels::dp::uniform_workspace_doubles(in[i])));
      wi.resize(static_cast<std::size_t>(kernels::dp::uniform_workspace_ints(in[i])));
      wl.resize(static_cast<std::size_t>(kernels::dp::uniform_workspace_lls(in[i])));
      k.resize(static_cast<std::size_t>(in[i].ctx.p));
      const kernels::dp::UniformWorkspace ws{wd.data(), wi.data(), wl.data()};
      kernels::dp::uniform_fill_cells(in[i], ws);
      const auto r = kernels::dp::uniform_solve_after_cells(in[i], ws, HUGE_VAL, k.data());
      local += kernels::dp::uniform_cells(K) + r.checks;
    }
    cells += local;
  }
  state.counters["cells_per_s"] = benchmark::Counter(static_cast<double>(cells), benchmark::Counter::kIsRate);
  state.counters["slices_per_s"] =
      benchmark::Counter(static_cast<double>(in.size() * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["slices"] = static_cast<double>(in.size());
}

void BM_CudaUniformDp(benchmark::State& state) {
#ifdef NEST_HAVE_CUDA_BACKEND
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (!dev.usable) {
    state.SkipWithError(("no usable CUDA device: " + dev.error).c_str());
    return;
  }
  const auto& in = inputs(static_cast<int>(state.range(0)));
  long long cells = 0;
  double kernel_s = 0;
  for (auto _ : state) {
    kernels::cuda::UniformBatchStats st;
    (void)kernels::cuda::solve_uniform_batch(in, kernels::dp::Segments::one(in.size(), HUGE_VAL, 8), 0, &st);
    cells += st.cells;
    kernel_s += st.kernel_seconds;
  }
  state.counters["cells_per_s"] = benchmark::Counter(static_cast<double>(cells), benchmark::Counter::kIsRate);
  state.counters["kernel_cells_per_s"] = static_cast<double>(cells) / kernel_s;
  state.counters["slices"] = static_cast<double>(in.size());
#else
  state.SkipWithError("built without the CUDA backend");
#endif
}

// range(0): 0 = llama3-405b on 16384 GPUs, 1 = gpt3-175b on 1024 GPUs; range(1): threads
BENCHMARK(BM_CpuUniformDp)->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_CudaUniformDp)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace nest

BENCHMARK_MAIN();
