// Shared bits of the benchmark programs.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "nest/problem/problem.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/model/model_config.hpp"

extern char** environ;

namespace nest::bench {

// Runs `binary args` once per iteration (output discarded), the child's peak resident memory in
// the counter peak_rss_MiB; a failed run ends the benchmark with an error. NEST_BIN, where set,
// names the nest binary instead of `binary`, the path it was built at (a lent GPU machine runs
// binaries built elsewhere: .ci/device-check).
inline void run_process(benchmark::State& state, const std::string& binary, std::vector<std::string> args) {
  const char* moved = std::getenv("NEST_BIN");
  args.insert(args.begin(), moved && *moved ? std::string(moved) : binary);
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

inline double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

inline Problem preset_problem(const std::string& model, const std::string& cluster, long gpus, long batch, long seq) {
  Problem p;
  p.model = load_model(model);
  p.cluster = load_cluster(cluster);
  p.gpus = gpus;
  p.global_batch = batch;
  p.seq_len = seq;
  return p;
}

inline std::string reference_dir() { return std::string(NEST_SOURCE_DIR) + "/tests/data/nest-reference/"; }

// NEST's 13 reference instances (directories of reference_dir()).
inline const std::vector<std::string>& nest_reference_instances() {
  static const std::vector<std::string> names = {
      "tpuv4-llama2-64",   "tpuv4-llama2-128",   "tpuv4-llama2-256",  "tpuv4-llama2-512", "tpuv4-llama2-1024",
      "tpuv4-bert-64",     "tpuv4-mixtral-64",   "tpuv4-mixtral-128", "tpuv4-llama3-128", "tpuv4-gpt3-128",
      "tpuv4-llama3-1024", "tpuv4-mixtral-1024", "h100-mixtral-128"};
  return names;
}

}  // namespace nest::bench
