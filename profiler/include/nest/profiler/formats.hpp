// Other tools' formats: import of nccl-tests output (text in every layout from v2.x legacy to
// v2.19, and the -J JSON files), and export to CSV, nccl-tests-style text tables and the
// ASTRA-sim analytical network configuration (YAML).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nest/profiler/profile.hpp"

namespace nest::profiler {

// One run of an nccl-tests binary (one collective, one set of ranks) as read from a log.
struct NcclTestsRun {
  std::string source;  // "file:line" of the run's first line
  std::string file;
  std::string program;  // "all_reduce_perf" when the log names it
  std::optional<Collective> collective;
  std::string unsupported;  // set for runs of collectives nest does not know (gather, scatter, ...)
  std::string nccl_tests_version, nccl_version;
  int nthreads = 0, ngpus = 0;
  double min_bytes = 0, max_bytes = 0;
  std::string step;  // "2(factor)" or "524288000(bytes)"
  int warmup = -1, iters = -1, validation = -1;
  std::vector<std::string> rank_hosts, rank_devices;  // from the "Rank N ... on HOST device D [..] NAME" lines
  int ranks = 0;                                      // as decided by resolve()
  std::string dtype, redop;
  std::vector<std::string> columns;  // the table header
  bool root_column = false, redop_column = false;
  std::vector<int> roots;          // the distinct roots of the rows (broadcast, reduce: >= 0; others print -1 or none)
  bool in_place_wrong_na = false;  // every in-place #wrong is N/A while out-of-place is checked
  // The text log reached nccl-tests' closing lines ("# Out of bounds values", "# Avg bus
  // bandwidth"); a run without them was cut short (JSON runs are complete documents).
  bool complete = false;
  std::vector<CollectiveSample> rows;
};

// Parses one file's text (any number of runs). Throws bad input naming file:line on a row it
// cannot read. Runs are returned unresolved (collective/ranks may be unknown).
std::vector<NcclTestsRun> parse_nccl_tests_text(const std::string& text, const std::string& file);
// Parses one -J JSON file (one run).
std::vector<NcclTestsRun> parse_nccl_tests_json(const Json& j, const std::string& file);
// Decides the collective and the rank count of a run from the log: the program name, else the
// table's columns, the root column (a root >= 0: broadcast, or reduce when a reduction is named),
// the busbw/algbw ratio and the in-place check column, else the file name. Bad input when it
// cannot be told.
void resolve(NcclTestsRun& run);

// Reads every file (text or JSON), resolves the runs and builds a profile (complete = true).
// Runs of collectives nest does not know are skipped with a line in `warnings`; broadcast and
// reduce runs are imported (their own series and fits) but stay out of the planner's figures.
Profile import_nccl_tests(const std::vector<std::string>& files, std::vector<std::string>* warnings = nullptr);

// Exports. `topology` (ASTRA-sim): one name per level ("Ring", "Switch", "FullyConnected");
// empty: "Switch" for every level.
std::string export_csv(const Profile& p);
std::string export_nccl_tests(const Profile& p);
std::string export_astra_sim(const Profile& p, const std::vector<std::string>& topology = {}, const std::string& source = "");

}  // namespace nest::profiler
