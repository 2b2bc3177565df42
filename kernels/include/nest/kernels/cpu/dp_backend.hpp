// The CPU backend of the DP (kernels/cpu/dp_backend.cpp): the inputs of a batch solved by
// OpenMP threads, each running the NEST_HD functions of dp/uniform_tables.hpp that the CUDA
// kernels run, then the same selection (batch_sorted_order, uniform_taken). It is the
// reference the other backends are tested against.
#pragma once

#include <cstddef>
#include <memory>

#include "nest/kernels/dp/backend.hpp"

namespace nest::kernels::cpu {

// One input solved on the calling thread (workspaces kept per thread): what each of the backend's
// threads runs, and the driver's serial path for a single slice. `units` / `starts` hold p
// entries.
dp::UniformResult solve_uniform_input(const dp::UniformSliceInput& in, double bound, int* units);
dp::GeneralResult solve_general_input(const dp::GeneralBatch& batch, std::size_t input, double bound, int* starts);
dp::InterleavedResult solve_interleaved_input(const dp::InterleavedBatch& batch, std::size_t input, double bound, int* units);

// threads <= 0: OpenMP's default.
std::unique_ptr<dp::DpBackend> make_dp_backend(int threads);

}  // namespace nest::kernels::cpu
