// The CPU backend of the DP (kernels/cpu/dp_backend.cpp): the inputs of a batch solved by
// OpenMP threads, each running the NEST_HD functions of dp/uniform_tables.hpp that the CUDA
// kernels run, then the same selection (batch_sorted_order, uniform_taken). It is the
// reference the other backends are tested against.
#pragma once

#include <memory>

#include "nest/kernels/dp/backend.hpp"

namespace nest::kernels::cpu {

// threads <= 0: OpenMP's default.
std::unique_ptr<dp::DpBackend> make_dp_backend(int threads);

}  // namespace nest::kernels::cpu
