#include "nest/kernels/cuda/device.hpp"

#include <cuda_runtime.h>

namespace nest::kernels::cuda {

DeviceInfo query_device(int ordinal) {
  DeviceInfo info;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
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
