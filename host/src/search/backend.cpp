#include "nest/search/backend.hpp"

#include "nest/core/error.hpp"
#include "nest/search/planner.hpp"
#ifdef NEST_HAVE_CUDA_BACKEND
#include "nest/kernels/cuda/device.hpp"
#endif

namespace nest {

BackendChoice choose_backend(BackendKind kind) {
  BackendChoice c;
  if (kind == BackendKind::Cpu) return c;
#ifdef NEST_HAVE_CUDA_BACKEND
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device(0);
  if (dev.usable) {
    c.cuda = true;
    c.name = "cuda";
    c.device = dev.name;
    return c;
  }
  if (kind == BackendKind::Cuda) throw_runtime("--backend cuda: no usable CUDA device: " + dev.error);
  c.note = dev.error;
#else
  if (kind == BackendKind::Cuda)
    throw_runtime("--backend cuda: this nest was built without the CUDA backend (no nvcc at build time, or -DNEST_CUDA=OFF)");
  c.note = "built without the CUDA backend";
#endif
  return c;
}

}  // namespace nest
