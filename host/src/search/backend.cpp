#include "nest/search/backend.hpp"

#include "nest/core/error.hpp"
#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/search/planner.hpp"
#ifdef NEST_HAVE_CUDA_BACKEND
#include "nest/kernels/cuda/device.hpp"
#include "nest/kernels/cuda/dp_backend.hpp"
#endif

namespace nest {

BackendChoice choose_backend(BackendKind kind) {
  BackendChoice c;
  if (kind == BackendKind::Cpu) return c;
#ifdef NEST_HAVE_CUDA_BACKEND
  // Asked of the runtime once per process: a sweep's points each choose, from many threads.
  static const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device(0);
  if (dev.usable) {
    c.cuda = true;
    c.name = "cuda";
    c.device = dev.name;
    c.free_memory = dev.free_memory;
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

std::unique_ptr<kernels::dp::DpBackend> make_dp_backend(const BackendChoice& choice, int threads, std::size_t gpu_memory_limit) {
#ifdef NEST_HAVE_CUDA_BACKEND
  if (choice.cuda) return kernels::cuda::make_dp_backend(choice.device, gpu_memory_limit);
#else
  (void)gpu_memory_limit;
  if (choice.cuda) throw_runtime("the CUDA backend was chosen in a build without it");
#endif
  return kernels::cpu::make_dp_backend(threads);
}

}  // namespace nest
