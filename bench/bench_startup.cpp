// The nest binary as whole processes (spawn, run, wait): start-up (`nest --help`, `nest presets`)
// and `nest plan --nest-input ... --backend cpu` on each of NEST's 13 reference instances
// (tests/data/nest-reference), wall time per run and the child's peak resident memory. A run
// that needs no device must start like a plain C++ program (NCCL and cuBLASLt are opened only by
// the commands that use them: profiler/nccl/lazy_libraries.cpp).
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_support.hpp"

extern char** environ;

namespace {

void run_process(benchmark::State& state, std::vector<std::string> args) {
  args.insert(args.begin(), NEST_BINARY);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  long peak_kib = 0;
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      state.SkipWithError("cannot start nest");
      break;
    }
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);  // this child's own peak, not the largest child so far
    peak_kib = std::max(peak_kib, usage.ru_maxrss);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("nest failed");
      break;
    }
  }
  posix_spawn_file_actions_destroy(&actions);
  state.counters["peak_rss_MiB"] = static_cast<double>(peak_kib) / 1024.0;
}

void BM_NestHelp(benchmark::State& state) { run_process(state, {"--help"}); }
void BM_NestPresets(benchmark::State& state) { run_process(state, {"presets"}); }

// NEST's 13 instances, solved by the whole `nest plan` command (bench_planner.cpp: in-process).
// threads:0 is nest's default (every core), threads:1 one thread: on a shared machine the
// second is the steadier figure (a parallel loop can wait a scheduler time slice for its team).
[[maybe_unused]] const int kRegistered = [] {
  for (const std::string& name : nest::bench::nest_reference_instances()) {
    const std::string input = nest::bench::reference_dir() + name + "/input.json";
    benchmark::RegisterBenchmark(
        ("BM_NestPlanProcess/" + name).c_str(),
        [input](benchmark::State& state) {
          run_process(state, {"plan", "--nest-input", input, "--backend", "cpu", "--threads", std::to_string(state.range(0))});
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
