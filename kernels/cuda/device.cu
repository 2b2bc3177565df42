#include "nest/kernels/cuda/device.hpp"

#include <unistd.h>

#include <cuda_runtime.h>

namespace nest::kernels::cuda {

namespace {

// The NVIDIA kernel driver exposes /dev/nvidiactl once loaded; without it there is no GPU to use.
bool nvidia_driver_loaded() { return ::access("/dev/nvidiactl", F_OK) == 0; }

}  // namespace

DeviceInfo query_device(int ordinal) {
  DeviceInfo info;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || (err == cudaErrorInsufficientDriver && !nvidia_driver_loaded())) {
    // Without a GPU the runtime reports whichever check fails first, often "driver version is
    // insufficient" (no libcuda at all); what the user needs to hear is that there is no device.
    info.error = "no CUDA device";
    cudaGetLastError();
    return info;
  }
  if (err != cudaSuccess) {
    info.error = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return info;
  }
  if (ordinal >= count) {
    info.error = "no CUDA device " + std::to_string(ordinal) + " (" + std::to_string(count) + " found)";
    return info;
  }
  cudaDeviceProp prop{};
  err = cudaGetDeviceProperties(&prop, ordinal);
  if (err == cudaSuccess) err = cudaSetDevice(ordinal);
  size_t free_b = 0, total_b = 0;
  if (err == cudaSuccess) err = cudaMemGetInfo(&free_b, &total_b);
  if (err != cudaSuccess) {
    info.error = std::string("CUDA device ") + std::to_string(ordinal) + ": " + cudaGetErrorString(err);
    cudaGetLastError();
    return info;
  }
  info.usable = true;
  info.device = ordinal;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.total_memory = static_cast<double>(total_b);
  info.free_memory = static_cast<double>(free_b);
  return info;
}

}  // namespace nest::kernels::cuda
