// Which backend evaluates the DP: the OpenMP CPU backend (the reference) or the CUDA backend.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "nest/kernels/dp/backend.hpp"

namespace nest {

enum class BackendKind;

struct BackendChoice {
  bool cuda = false;
  std::string name = "cpu";
  std::string note;        // why auto chose the CPU, for the user
  std::string device;      // the GPU's name when cuda
  double free_memory = 0;  // the GPU's free bytes when it was first asked (cuda)
};

// cpu: always the CPU. cuda: the GPU, or nest::Error (exit code 3) quoting the CUDA error.
// auto: the GPU when one is usable, otherwise the CPU with a note saying why.
BackendChoice choose_backend(BackendKind kind);

// The DP backend of a choice (kernels/cpu or kernels/cuda behind kernels/dp/backend.hpp): the
// one place that knows which backends exist. threads: the CPU's (<= 0: OpenMP's default);
// gpu_memory_limit: device bytes the CUDA backend may allocate (0: 80% of the free memory).
std::unique_ptr<kernels::dp::DpBackend> make_dp_backend(const BackendChoice& choice, int threads, std::size_t gpu_memory_limit);

}  // namespace nest
