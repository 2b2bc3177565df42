// Shared bits of the benchmark programs.
#pragma once

#include <sys/resource.h>

#include <string>
#include <vector>

#include "nest/cost/problem.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/model/model_config.hpp"

namespace nest::bench {

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
