// nest sweep as a whole process on the CPU backend: points per second with 1 and 2 threads, over
// llama3-70b points of the full search space (no restriction of the split) on dgx-h100, GPU count x
// global batch x scale-out bandwidth x GPU: a slice of the 10,000-point sweep of docs/sweep.md (Speed).
// With 2 threads the process runs two points at once, each search on one thread.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"

namespace {

// 4 x 2 x 3 x 2 = 48 points; enough that the process's start (a few ms) is a small share.
const std::vector<std::string> kAxes = {
    "--vary", "gpus=256,512,1024,2048", "--vary", "global_batch=512,2048", "--vary", "levels.1.bandwidth_GBps=25,100,400",
    "--vary", "gpu=h100-sxm,b200"};
constexpr double kPoints = 4 * 2 * 3 * 2;

void BM_SweepLlama3_70b(benchmark::State& state) {
  std::vector<std::string> args = {"sweep",
                                   "--model",
                                   "llama3-70b",
                                   "--cluster",
                                   "dgx-h100",
                                   "--seq-len",
                                   "8192",
                                   "--backend",
                                   "cpu",
                                   "--threads",
                                   std::to_string(state.range(0))};
  args.insert(args.end(), kAxes.begin(), kAxes.end());
  nest::bench::run_process(state, NEST_BINARY, args);
  state.counters["points_per_s"] = benchmark::Counter(kPoints, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_SweepLlama3_70b)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);
BENCHMARK_MAIN();
