// Start-up of the nest binary: `nest --help` and `nest presets` as whole processes (fork, exec,
// wait), wall time per run and the child's peak resident memory. A run that needs no device must
// start like a plain C++ program (NCCL and cuBLASLt are opened only by the commands that use them:
// profiler/nccl/lazy_libraries.cpp).
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include <benchmark/benchmark.h>

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
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      state.SkipWithError("cannot start nest");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  posix_spawn_file_actions_destroy(&actions);
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  state.counters["peak_rss_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;  // the largest child so far
}

void BM_NestHelp(benchmark::State& state) { run_process(state, {"--help"}); }
void BM_NestPresets(benchmark::State& state) { run_process(state, {"presets"}); }

}  // namespace

BENCHMARK(BM_NestHelp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NestPresets)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
