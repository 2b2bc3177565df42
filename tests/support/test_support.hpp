// Helpers shared by the suites: running the real `nest` binary, temporary files.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include "nest/problem/problem.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/model/model_config.hpp"

namespace nest::test {

// A simple operator model for formula tests: A100-like peak and bandwidth, the GEMM curve and
// attention efficiencies of the old single-parameter model, kernel-level speed sustained.
inline kernels::GpuModel simple_gpu() {
  kernels::GpuModel g;
  g.linear = g.bf16 = {312e12, 0.8, 100};
  g.attention_fwd = g.attention_bwd = 0.5;
  g.hbm_bandwidth = 2e12;
  g.memory_efficiency = 0.8;
  return g;
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string temp_dir() {
  static const std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nest-test-XXXXXX").string();
    return std::string(mkdtemp(tmpl.data()));
  }();
  return dir;
}

inline std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = temp_dir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// Runs a shell command and captures its exit code and both streams.
inline RunResult run_command(const std::string& cmd_without_redirects) {
  static int counter = 0;
  const std::string base = temp_dir() + "/run" + std::to_string(++counter);
  const std::string cmd = cmd_without_redirects + " >'" + base + ".out' 2>'" + base + ".err'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_all(base + ".out");
  r.err = read_all(base + ".err");
  return r;
}

// Runs build/bin/nest with `args` (a shell-quoted string).
inline RunResult run_nest(const std::string& args) { return run_command(std::string("'") + NEST_BINARY + "' " + args); }

// A problem on shipped presets.
inline Problem preset_problem(const std::string& model, const std::string& cluster, long gpus, long batch, long seq) {
  Problem p;
  p.model = load_model(model);
  p.cluster = load_cluster(cluster);
  p.gpus = gpus;
  p.global_batch = batch;
  p.seq_len = seq;
  return p;
}

// How many times its instances a random-instance suite draws: NEST_SOAK (default 1). The first
// draws are the default run's, the rest new draws of the same generators: a soak run of the
// exactness suites (docs/solver.md §7) without a rebuild. Not a number or below 1: 1.
inline int soak_factor() {
  const char* s = std::getenv("NEST_SOAK");
  if (s == nullptr || *s == '\0') return 1;
  char* end = nullptr;
  const long k = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || k < 1) return 1;
  return k > 100000 ? 100000 : static_cast<int>(k);
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace nest::test
