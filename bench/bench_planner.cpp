// Solve times of `nest plan` (full search space, DP on the CPU backend) on NEST's reference
// instances and on large preset problems. Counters: the plan's step time, slices enumerated and
// solved, and the process's peak resident memory.
#include <benchmark/benchmark.h>

#include "bench_support.hpp"
#include "nest/search/nest_input.hpp"
#include "nest/search/planner.hpp"

namespace nest {
namespace {

void report(benchmark::State& state, const SearchResult& r) {
  state.counters["step_time_s"] = r.top.empty() ? 0 : r.top.front().value;
  state.counters["slices"] = static_cast<double>(r.stats.slices);
  state.counters["solved"] = static_cast<double>(r.stats.slices_solved);
  state.counters["cells"] = static_cast<double>(r.stats.cells);
  state.counters["peak_rss_MB"] = bench::peak_rss_mb();
}

PlannerOptions options(int threads) {
  PlannerOptions o;
  o.threads = threads;
  return o;
}

void BM_NestReference(benchmark::State& state, const std::string& name) {
  const NestCostSource src(read_nest_input(bench::reference_dir() + name + "/input.json"));
  PlannerOptions o = options(static_cast<int>(state.range(0)));
  o.space.allow_idle = true;
  SearchResult r;
  for (auto _ : state) r = search_plans(src, o);
  report(state, r);
}

void BM_Preset(benchmark::State& state, const char* model, long gpus, long batch, long seq) {
  const AnalyticCostSource src(bench::preset_problem(model, "dgx-h100", gpus, batch, seq));
  const PlannerOptions o = options(static_cast<int>(state.range(0)));
  SearchResult r;
  for (auto _ : state) r = search_plans(src, o);
  report(state, r);
}

// Registered by name: a macro's #name would take clang-format's spaces ("tpuv4 - llama2 - 64").
[[maybe_unused]] const int kRegistered = [] {
  for (const std::string& name : bench::nest_reference_instances())
    benchmark::RegisterBenchmark(("BM_NestReference/" + name).c_str(),
                                 [name](benchmark::State& state) { BM_NestReference(state, name); })
        ->Arg(2)
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.5);
  return 0;
}();

// 1 and 2 threads: the CPU backend's scaling on this 2-core machine.
BENCHMARK_CAPTURE(BM_Preset, llama3_70b_1024gpus, "llama3-70b", 1024, 1024, 8192)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_Preset, gpt3_175b_1024gpus, "gpt3-175b", 1024, 1536, 2048)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_Preset, llama3_405b_16384gpus, "llama3-405b", 16384, 2048, 8192)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);
BENCHMARK_CAPTURE(BM_Preset, llama3_405b_131072gpus, "llama3-405b", 131072, 16384, 8192)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
// MoE stacks: expert parallelism and the recomputation modules (7 of them for DeepSeek-V3's
// MLA, dense and MoE blocks with a shared expert) widen the space most.
BENCHMARK_CAPTURE(BM_Preset, mixtral_8x7b_256gpus, "mixtral-8x7b", 256, 1024, 4096)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);
BENCHMARK_CAPTURE(BM_Preset, deepseek_v3_2048gpus, "deepseek-v3", 2048, 8192, 4096)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace nest

BENCHMARK_MAIN();
