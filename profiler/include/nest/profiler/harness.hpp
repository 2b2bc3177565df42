// The measurement harness: one loop for every collective and backend, as nccl-tests has one
// for every collective. It plans the groups per network level, sweeps message sizes
// geometrically, asks a backend to time each (collective, group, size) with warm-up and timed
// iterations and a correctness check, aggregates the ranks' statistics (the slowest rank's
// median), saves the profile after every measurement (atomic rename) and resumes from it.
//
// Backends implement CommBackend: MPI over host memory (profiler/mpi) and NCCL on CUDA devices
// (profiler/nccl). Operator timings go through OperatorRunner (CPU or cuBLASLt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/profiler/collective_data.hpp"
#include "nest/profiler/profile.hpp"

namespace nest::profiler {

// A group of ranks measured together. Several identical groups may run at the same time (one
// per host at level 0); every rank of every set is timed and the slowest rank's median counts.
struct GroupSpec {
  int level = 0;
  std::string name;                    // "node:4", "hosts:2", "all:8"
  int size = 0;                        // ranks per group
  std::vector<int> members;            // members per level, innermost first
  std::vector<std::vector<int>> sets;  // each concurrent group: global ranks in group-rank order
};

// Levels and groups from the host of every rank (ranks in order). Level 0: ranks sharing a
// host, groups of 2, 4, 8, ... and all ranks of a host (the first g ranks of every host run
// together). Level 1 (two or more hosts): one rank per host, and all ranks.
std::vector<LevelInfo> plan_levels(const std::vector<std::string>& rank_hosts);
std::vector<GroupSpec> plan_groups(const std::vector<std::string>& rank_hosts);
// Pretend `ranks_per_node` ranks per host (testing on one machine): host names "node0", "node1", ...
std::vector<std::string> emulate_hosts(int ranks, int ranks_per_node);

// Geometric sweep min, min*f, min*f^2, ... <= max (whole bytes, duplicates dropped).
std::vector<std::size_t> sweep_sizes(double min_bytes, double max_bytes, double step_factor);

struct RankTiming {
  double median_s = 0, min_s = 0, max_s = 0, p10_s = 0, p90_s = 0;
  std::int64_t wrong = -1;  // -1: not checked
};
RankTiming summarize(std::vector<double> iteration_seconds, std::int64_t wrong);
// nccl-tests columns from every participating rank's statistics.
CollectiveSample aggregate(const std::vector<RankTiming>& ranks, Collective c, int group_size, const CollectiveCounts& counts);

enum class DType { BF16, FP32 };
std::size_t dtype_bytes(DType d);
std::string dtype_name(DType d);

struct Measurement {
  const GroupSpec* group = nullptr;
  Collective collective = Collective::AllReduce;
  CollectiveCounts counts;
  DType dtype = DType::BF16;
  int warmup = 5, iters = 20;
  double timeout_s = 300;
  bool check = true;
  // "group node:4 (level 0), all_reduce, 16777216 bytes"
  std::string describe() const;
};

class OperatorRunner {
 public:
  virtual ~OperatorRunner() = default;
  virtual Json device() const = 0;
  virtual std::string dtype() const = 0;         // element type of the GEMMs
  virtual double default_max_gflop() const = 0;  // per-GEMM cap (0: none)
  virtual double default_max_copy_bytes() const = 0;
  virtual double peak_hbm_bandwidth() const = 0;  // theoretical bytes/s, 0 if unknown
  // Median seconds of one (batched) m x k by k x n GEMM.
  virtual double gemm_seconds(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch, int warmup, int iters) = 0;
  // Median seconds to copy `bytes` from one buffer to another (2 * bytes of traffic).
  virtual double copy_seconds(double bytes, int warmup, int iters) = 0;
};

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual std::string name() const = 0;                     // "nccl" or "mpi"
  virtual std::vector<std::string> rank_hosts() const = 0;  // real host of every rank
  virtual bool leader() const = 0;                          // writes the profile, prints
  virtual Json machine() const = 0;
  virtual Json software() const = 0;
  virtual std::string timing_method() const = 0;
  virtual double default_max_bytes() const = 0;
  // The backend enforces the timeout itself (NCCL polls async errors); the harness' watchdog is
  // then only a backstop.
  virtual bool polls_timeout() const = 0;
  virtual void broadcast(std::string& data) = 0;  // the leader's string to every process
  virtual bool any(bool flag) = 0;                // logical OR over every process
  virtual void barrier() = 0;
  // Collective over every process; `hosts` is the (possibly emulated) host of every rank.
  virtual void open_group(const GroupSpec& g, std::size_t max_bytes, DType dtype) = 0;
  // Every rank of every set of the open group takes part; the leader gets one entry per rank.
  virtual std::vector<RankTiming> measure(const Measurement& m) = 0;
  virtual void close_group() = 0;
  virtual OperatorRunner* operators() = 0;  // on the leader; nullptr when not available
  // For a failure that only this process saw: print "nest: <message>" and end every process
  // with the error's exit code. Single-process backends rethrow instead.
  [[noreturn]] virtual void abort(const Error& e) = 0;
};

struct ProfileOptions {
  std::string backend = "auto";            // auto|nccl|mpi
  double min_bytes = 1024, max_bytes = 0;  // 0: the backend's default
  double step_factor = 2;
  int iters = 20, warmup = 5;
  std::vector<Collective> collectives = all_collectives();
  DType dtype = DType::BF16;
  bool check = true;
  std::string out = "nest-profile.json";
  std::string svg;  // also the bus-bandwidth plot (plot.hpp) of the finished profile, when set
  bool resume = false;
  double timeout_s = 300;
  int ranks_per_node = 0;  // 0: real host names

  bool ops = false;
  std::string model;
  std::vector<int> tp = {1, 2, 4, 8}, microbatch = {1, 2, 4};
  long seq_len = 2048;
  double peak_tflops = 0, peak_hbm_GBps = 0;
  double ops_max_gflop = -1;  // -1: the runner's default
  int ops_iters = 10, ops_warmup = 2;

  long stop_after = -1;  // testing: stop after this many measurements (NEST_PROFILE_STOP_AFTER)
  bool progress = true;  // progress line when standard error is a terminal
  std::string command_line;
};

// Validates options (bad input, exit 2) before any backend starts.
void validate_options(const ProfileOptions& o);
std::unique_ptr<CommBackend> make_backend(const ProfileOptions& o);
// Backends compiled into this build ("mpi", "nccl").
std::vector<std::string> available_backends();
#if NEST_PROFILER_HAVE_NCCL
// CUDA devices visible to this process (0 without a driver).
int cuda_device_count();
#endif

// Runs `nest profile` end to end on `backend`. Returns the exit code on processes other than the
// leader; the leader throws nest::Error for failures.
int run_profile(const ProfileOptions& o, CommBackend& backend);
// make_backend + run_profile.
int run_profile(const ProfileOptions& o);

// The seconds-scale watchdog used by the harness (exposed for tests): after `seconds` without
// disarm() it prints "nest: <what>: timed out after <seconds> s" and ends the process with 3.
class Watchdog {
 public:
  Watchdog();
  ~Watchdog();
  void arm(double seconds, const std::string& what);
  void disarm();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace nest::profiler
