// The nest binary as whole processes (spawn, run, wait): start-up (`nest --help`, `nest presets`)
// and `nest plan --nest-input ... --backend cpu` on each of NEST's 13 reference instances
// (tests/data/nest-reference), wall time per run and the child's peak resident memory. A run
// that needs no device must start like a plain C++ program (NCCL and cuBLASLt are opened only by
// the commands that use them: profiler/nccl/lazy_libraries.cpp).
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"

namespace {

using nest::bench::run_process;

void BM_NestHelp(benchmark::State& state) { run_process(state, NEST_BINARY, {"--help"}); }
void BM_NestPresets(benchmark::State& state) { run_process(state, NEST_BINARY, {"presets"}); }

// NEST's 13 instances, solved by the whole `nest plan` command (bench_planner.cpp: in-process).
// threads:0 is nest's default (every core), threads:1 one thread: on a shared machine the
// second is the steadier figure (a parallel loop can wait a scheduler time slice for its team).
[[maybe_unused]] const int kRegistered = [] {
  for (const std::string& name : nest::bench::nest_reference_instances()) {
    const std::string input = nest::bench::reference_dir() + name + "/input.json";
    benchmark::RegisterBenchmark(
        ("BM_NestPlanProcess/" + name).c_str(),
        [input](benchmark::State& state) {
          run_process(state, NEST_BINARY,
                      {"plan", "--nest-input", input, "--backend", "cpu", "--threads", std::to_string(state.range(0))});
        })
        ->ArgName("threads")
        ->Arg(0)
        ->Arg(1)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return 0;
}();

}  // namespace

BENCHMARK(BM_NestHelp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NestPresets)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
