// MPI_COMM_WORLD for the profiler and nest sweep: initialisation (MPI_ERRORS_RETURN), host
// names, and the few collectives that keep every process in step. Used by the MPI backend, by
// the NCCL backend when it runs under mpirun, and by `nest sweep` to spread its points.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/profiler/harness.hpp"
#include "nest/profiler/mpi_launch.hpp"

namespace nest::profiler {

class MpiWorld {
 public:
  MpiWorld();
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::vector<std::string>& hosts() const { return hosts_; }  // host of every rank
  int local_rank() const;                                           // index among the ranks on this host
  std::string library_version() const;

  void broadcast(std::string& data);
  bool any(bool flag);
  void barrier();
  // MPI_Comm_split of the world; MPI_COMM_NULL where color < 0.
  MPI_Comm split(int color, int key);
  // Every participating rank's statistics, on rank 0 in world-rank order (empty elsewhere).
  std::vector<RankTiming> gather(const RankTiming& mine, bool participating);
  // Every rank's bytes, on rank 0 in world-rank order (empty elsewhere).
  std::vector<std::string> gather(const std::string& mine);
  // One number to one rank, and its receipt (blocking); `poll` receives one with `tag` from any
  // rank if one has arrived (`source` says whose), else returns false at once.
  void send(int dest, int tag, long long value);
  long long receive(int source, int tag);
  bool poll(int tag, int& source, long long& value);
  // Prints "nest: <message>" and ends every process (MPI_Abort) with the error's exit code; a
  // single process rethrows instead.
  [[noreturn]] void abort(const Error& e);

 private:
  int rank_ = 0, size_ = 1;
  bool initialized_here_ = false;
  std::vector<std::string> hosts_;
};

}  // namespace nest::profiler
