// nest sweep as a whole process on the CPU backend: points per second with 1 and 2 threads, over
// llama3-70b points of the full search space (no restriction of the split) on dgx-h100, GPU count x
// global batch x scale-out bandwidth x GPU: a slice of the 10,000-point sweep of docs/sweep.md (Speed).
// With 2 threads the process runs two points at once, each search on one thread; on the CUDA
// backend each of those threads hands its point's batches to the device on its own stream
// (skipped, saying why, where no CUDA device is usable). threads = 0: every core.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "nest/search/backend.hpp"
#include "nest/search/planner.hpp"

namespace {

// 4 x 2 x 3 x 2 = 48 points; enough that the process's start (a few ms) is a small share.
const std::vector<std::string> kAxes = {
    "--vary", "gpus=256,512,1024,2048", "--vary", "global_batch=512,2048", "--vary", "levels.1.bandwidth_GBps=25,100,400",
    "--vary", "gpu=h100-sxm,b200"};
constexpr double kPoints = 4 * 2 * 3 * 2;

void run_sweep(benchmark::State& state, const std::string& backend) {
  std::vector<std::string> args = {"sweep",     "--model", "llama3-70b", "--cluster", "dgx-h100",
                                   "--seq-len", "8192",    "--backend",  backend};
  if (state.range(0) > 0) {
    args.push_back("--threads");
    args.push_back(std::to_string(state.range(0)));
  }
  args.insert(args.end(), kAxes.begin(), kAxes.end());
  nest::bench::run_process(state, NEST_BINARY, args);
  state.counters["points_per_s"] = benchmark::Counter(kPoints, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SweepLlama3_70b(benchmark::State& state) { run_sweep(state, "cpu"); }

void BM_SweepLlama3_70bCuda(benchmark::State& state) {
  const nest::BackendChoice choice = nest::choose_backend(nest::BackendKind::Auto);
  if (!choice.cuda) {
    state.SkipWithError(("no usable CUDA device: " + choice.note).c_str());
    return;
  }
  run_sweep(state, "cuda");
}

}  // namespace

BENCHMARK(BM_SweepLlama3_70b)->ArgName("threads")->Arg(1)->Arg(2)->Arg(0)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);
BENCHMARK(BM_SweepLlama3_70bCuda)->ArgName("threads")->Arg(2)->Arg(0)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);
BENCHMARK_MAIN();
