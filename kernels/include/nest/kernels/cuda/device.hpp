// Host-callable entry points of the CUDA backend. Plain C++ (no CUDA headers), so host code can
// include it; the definitions live in kernels/cuda/*.cu and exist only when NEST_HAVE_CUDA.
#pragma once

#include <string>

#include "nest/kernels/transformer.hpp"

namespace nest::kernels::cuda {

struct DeviceInfo {
  bool usable = false;
  std::string error;  // why not, quoting the CUDA runtime's own error string
  std::string name;
  int device = -1;
  int sm_major = 0, sm_minor = 0;
  double total_memory = 0, free_memory = 0;  // bytes
};

// Queries device `ordinal` (cudaGetDeviceCount, cudaGetDeviceProperties, cudaMemGetInfo).
DeviceInfo query_device(int ordinal = 0);

// Evaluates layer_cost() for n layers on the device: the same NEST_HD code the CPU runs.
void layer_costs_on_device(const LayerDims* dims, int n, const ParallelShape& shape, const GpuModel& gpu,
                           const TrainingSettings& settings, const CommContext& comm, LayerCostDetail* out);

}  // namespace nest::kernels::cuda
