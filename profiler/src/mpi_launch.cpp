#include "nest/profiler/mpi_launch.hpp"

#include <algorithm>
#include <cstdlib>

namespace nest::profiler {

int mpi_launch_size() {
  // Open MPI, MPICH/Intel MPI (PMI), PMIx, MVAPICH, SLURM's srun.
  int size = 1;
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"})
    if (const char* v = std::getenv(var)) size = std::max(size, std::atoi(v));
  return size;
}

}  // namespace nest::profiler
