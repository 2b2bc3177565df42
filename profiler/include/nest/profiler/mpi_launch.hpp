// Whether this process was started by an MPI launcher, read from the launcher's environment, so
// that a build without MPI can still say it was started by mpirun (and not run the same work
// once per rank).
#pragma once

namespace nest::profiler {

// The number of processes the launcher started (mpirun -np, srun -n); 1 when not launched by one.
int mpi_launch_size();

// True when this process was started by mpirun/srun with more than one rank.
inline bool launched_by_mpi() { return mpi_launch_size() > 1; }

}  // namespace nest::profiler
