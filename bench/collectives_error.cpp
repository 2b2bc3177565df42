// The collective formulas of kernels/include/nest/kernels/collectives.hpp against the real
// nccl-tests logs in tests/data/nccl-tests, with the cluster presets' level bandwidths and
// latencies. Prints docs/collectives-error.md's table: per log and collective, the relative
// error of the predicted time at every size of at least 32 MiB (the bandwidth regime a training
// step's collectives live in) and at the largest size.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "nest/hardware/cluster.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/profile.hpp"

int main(int argc, char** argv) {
  using namespace nest;
  // --sizes: one line per log, collective and size (measured, predicted, error) instead of the table.
  const bool per_size = argc > 1 && std::string(argv[1]) == "--sizes";
  struct Case {
    const char* file;
    const char* cluster;
  };
  const Case cases[] = {{"h100x8_1node_5colls_nccltests-2.17.8.txt", "dgx-h100"},
                        {"h100x80_10node_5colls_nccltests-2.17.8.txt", "dgx-h100"},
                        {"h100x10_10node_1pernode_5colls_nccltests-2.17.8.txt", "dgx-h100"},
                        {"h100x20_10node_2pernode_5colls_nccltests-2.17.8.txt", "dgx-h100"},
                        {"h100x40_10node_4pernode_5colls_nccltests-2.17.8.txt", "dgx-h100"},
                        {"a100x8_1node_all_reduce_legacy.txt", "dgx-a100"},
                        {"a100x8_1node_all_gather_legacy.txt", "dgx-a100"},
                        {"a100x8_1node_alltoall_legacy.txt", "dgx-a100"}};
  if (!per_size) {
    std::printf("| log | preset | collective | ranks | sizes | median error | largest error | error at the largest size |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
  }
  for (const Case& c : cases) {
    const std::string path = std::string(NEST_SOURCE_DIR) + "/tests/data/nccl-tests/" + c.file;
    const profiler::Profile prof = profiler::import_nccl_tests({path});
    const Cluster cluster = load_cluster(c.cluster);
    for (const profiler::CollectiveSeries& s : prof.collectives) {
      std::vector<double> errors;
      double last = 0;
      for (const profiler::CollectiveSample& x : s.samples) {
        if (x.bytes < 32.0 * 1024 * 1024 || x.time_s <= 0) continue;
        const double predicted = profiler::modelled_time(s, cluster, x.bytes);
        const double e = predicted / x.time_s - 1;
        if (per_size)
          std::printf("%s %s %d ranks %8.0f MiB measured %9.1f us predicted %9.1f us %+6.1f%%\n", c.file,
                      profiler::collective_name(s.collective).c_str(), s.group_size, x.bytes / (1024.0 * 1024.0), x.time_s * 1e6,
                      predicted * 1e6, 100 * e);
        errors.push_back(e);
        last = e;
      }
      if (errors.empty() || per_size) continue;
      std::vector<double> abs_sorted;
      for (double e : errors) abs_sorted.push_back(std::fabs(e));
      std::sort(abs_sorted.begin(), abs_sorted.end());
      std::vector<double> sorted = errors;
      std::sort(sorted.begin(), sorted.end());
      std::printf("| %s | %s | %s | %d | %zu | %+.0f%% | %.0f%% | %+.0f%% |\n", c.file, c.cluster,
                  profiler::collective_name(s.collective).c_str(), s.group_size, errors.size(), 100 * sorted[sorted.size() / 2],
                  100 * abs_sorted.back(), 100 * last);
    }
  }
  return 0;
}
