// nest sweep as a whole process: points per second with 1 and 2 threads and on the CUDA backend,
// over llama3-70b points of the full search space (no restriction of the split) on dgx-h100, GPU
// count x global batch x scale-out bandwidth x GPU: the 10,000-point sweep of docs/sweep.md (Speed),
// about 7 minutes on 2 cores and 13 on one, and a 48-point slice of it for a quick figure
// (--benchmark_filter=Slice). With 2 threads the process runs two points at once, each search on
// one thread; on the CUDA backend each of those threads hands its point's batches to the device on
// its own stream (skipped, saying why, where no CUDA device is usable); "Gathered", with every
// point searched at once handing its batches to the device in one call per kind
// (--points-per-launch). threads = 0: every core.
#include <algorithm>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "nest/search/backend.hpp"
#include "nest/search/planner.hpp"

namespace {

// 4 x 2 x 3 x 2 = 48 points; enough that the process's start (a few ms) is a small share.
const std::vector<std::string> kSlice = {
    "--vary", "gpus=256,512,1024,2048", "--vary", "global_batch=512,2048", "--vary", "levels.1.bandwidth_GBps=25,100,400",
    "--vary", "gpu=h100-sxm,b200"};

// 25 x 10 x 8 x 5 = 10,000 points: docs/sweep.md's command.
const std::vector<std::string> kFull = {
    "--vary",
    "gpus=64,128,192,256,320,384,448,512,640,768,896,1024,1280,1536,1792,2048,2560,3072,4096,5120,6144,8192,12288,16384,32768",
    "--vary",
    "global_batch=256,384,512,768,1024,1536,2048,3072,4096,6144",
    "--vary",
    "levels.1.bandwidth_GBps=12.5,25,50,100,200,400,800,1600",
    "--vary",
    "gpu=h100-sxm,h200,b200,h800,a100-80gb"};

double points_of(const std::vector<std::string>& axes) {
  double n = 1;
  for (std::size_t i = 1; i < axes.size(); i += 2) n *= static_cast<double>(1 + std::count(axes[i].begin(), axes[i].end(), ','));
  return n;
}

// points_per_launch > 1: the points searched at once hand their DP batches to the backend
// together (--points-per-launch, docs/sweep.md).
void run_sweep(benchmark::State& state, const std::string& backend, const std::vector<std::string>& axes,
               int points_per_launch = 1) {
  if (backend == "cuda") {
    const nest::BackendChoice choice = nest::choose_backend(nest::BackendKind::Auto);
    if (!choice.cuda) {
      state.SkipWithError(("no usable CUDA device: " + choice.note).c_str());
      return;
    }
  }
  std::vector<std::string> args = {"sweep",     "--model", "llama3-70b", "--cluster", "dgx-h100",
                                   "--seq-len", "8192",    "--backend",  backend};
  if (state.range(0) > 0) {
    args.push_back("--threads");
    args.push_back(std::to_string(state.range(0)));
  }
  if (points_per_launch > 1) {
    args.push_back("--points-per-launch");
    args.push_back(std::to_string(points_per_launch));
  }
  args.insert(args.end(), axes.begin(), axes.end());
  nest::bench::run_process(state, NEST_BINARY, args);
  state.counters["points_per_s"] = benchmark::Counter(points_of(axes), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SweepLlama3_70bSlice(benchmark::State& state) { run_sweep(state, "cpu", kSlice); }
void BM_SweepLlama3_70bSliceCuda(benchmark::State& state) { run_sweep(state, "cuda", kSlice); }
// Every point the process searches at once in one group (threads 0: as many as it has cores).
void BM_SweepLlama3_70bSliceCudaGathered(benchmark::State& state) { run_sweep(state, "cuda", kSlice, 1 << 16); }
void BM_SweepLlama3_70b10000Points(benchmark::State& state) { run_sweep(state, "cpu", kFull); }
void BM_SweepLlama3_70b10000PointsCuda(benchmark::State& state) { run_sweep(state, "cuda", kFull); }

}  // namespace

BENCHMARK(BM_SweepLlama3_70bSlice)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Arg(0)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(2);
BENCHMARK(BM_SweepLlama3_70bSliceCuda)
    ->ArgName("threads")
    ->Arg(2)
    ->Arg(0)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(2);
BENCHMARK(BM_SweepLlama3_70bSliceCudaGathered)
    ->ArgName("threads")
    ->Arg(2)
    ->Arg(0)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(BM_SweepLlama3_70b10000Points)
    ->ArgName("threads")
    ->Arg(2)
    ->Arg(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(BM_SweepLlama3_70b10000PointsCuda)->ArgName("threads")->Arg(0)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);
BENCHMARK_MAIN();
