// Which backends this build has, and `--backend auto`: NCCL when a CUDA device is present,
// otherwise MPI.
#include <algorithm>

#include "nest/profiler/harness.hpp"

namespace nest::profiler {

#if NEST_PROFILER_HAVE_MPI
std::unique_ptr<CommBackend> make_mpi_backend();
#endif
#if NEST_PROFILER_HAVE_NCCL
std::unique_ptr<CommBackend> make_nccl_backend();
int cuda_device_count();
#endif

std::vector<std::string> available_backends() {
  std::vector<std::string> v;
#if NEST_PROFILER_HAVE_NCCL
  v.push_back("nccl");
#endif
#if NEST_PROFILER_HAVE_MPI
  v.push_back("mpi");
#endif
  return v;
}

std::unique_ptr<CommBackend> make_backend(const ProfileOptions& o) {
  std::string which = o.backend;
  if (which == "auto") {
#if NEST_PROFILER_HAVE_NCCL
    if (cuda_device_count() > 0) which = "nccl";
#endif
#if NEST_PROFILER_HAVE_MPI
    if (which == "auto") which = "mpi";
#endif
    if (which == "auto")
      throw_bad_input("--backend auto",
                      "no backend can run here: no CUDA device (or no NCCL in this build) and no MPI in this build");
  }
#if NEST_PROFILER_HAVE_NCCL
  if (which == "nccl") return make_nccl_backend();
#endif
#if NEST_PROFILER_HAVE_MPI
  if (which == "mpi") return make_mpi_backend();
#endif
  throw_bad_input("--backend " + which, "this build of nest has no " + which + " backend");
}

}  // namespace nest::profiler
