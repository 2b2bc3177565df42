// Which backend evaluates the DP: the OpenMP CPU backend (the reference) or the CUDA backend.
#pragma once

#include <string>

namespace nest {

enum class BackendKind;

struct BackendChoice {
  bool cuda = false;
  std::string name = "cpu";
  std::string note;    // why auto chose the CPU, for the user
  std::string device;  // the GPU's name when cuda
};

// cpu: always the CPU. cuda: the GPU, or nest::Error (exit code 3) quoting the CUDA error.
// auto: the GPU when one is usable, otherwise the CPU with a note saying why.
BackendChoice choose_backend(BackendKind kind);

}  // namespace nest
