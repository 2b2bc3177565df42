// The uniform DP's inputs for every pipelined slice of a random instance, and the CPU backend's
// result for one of them: what the CUDA tests (tests/cuda) and the grid-emulator tests
// (tests/search/test_grid_emulator.cpp) compare the device's and the emulated kernels against.
#pragma once

#include <vector>

#include "nest/kernels/dp/uniform_tables.hpp"
#include "nest/search/planner.hpp"
#include "random_instances.hpp"

namespace nest::test {

// One input per slice with pp >= 2 (the slices the CUDA backend takes) and choice of lacking
// edge chunks (edge_deficit_choices), in enumeration order.
inline std::vector<kernels::dp::UniformSliceInput> pipelined_uniform_inputs(const RandomInstance& inst,
                                                                            std::vector<SliceSpec>* specs = nullptr) {
  const SearchSpace s = enumerate_slices(*inst.source, inst.space, 1);
  std::vector<kernels::dp::UniformSliceInput> in;
  for (const SliceSpec& spec : s.slices) {
    if (spec.par.pp < 2) continue;
    const int v = spec.par.schedule == Schedule::Interleaved ? spec.par.virtual_stages : 1;
    for (const auto& lack : edge_deficit_choices(inst.source->num_blocks(), v)) {
      in.push_back(uniform_input(inst.source->slice_costs(spec.par, s.placements[static_cast<std::size_t>(spec.placement)]),
                                 inst.source->num_blocks(), lack));
      if (specs) specs->push_back(spec);
    }
  }
  return in;
}

struct CpuUniformSlice {
  kernels::dp::UniformResult result;
  std::vector<int> units;  // per stage, of the best split
};

// The CPU backend's path for one slice (planner.cpp: solve_uniform_slice).
inline CpuUniformSlice cpu_uniform_slice(const kernels::dp::UniformSliceInput& in, double bound) {
  namespace dp = kernels::dp;
  std::vector<double> wd(static_cast<std::size_t>(dp::uniform_workspace_doubles(in)));
  std::vector<int> wi(static_cast<std::size_t>(dp::uniform_workspace_ints(in)));
  std::vector<long long> wl(static_cast<std::size_t>(dp::uniform_workspace_lls(in)));
  CpuUniformSlice c;
  c.units.assign(static_cast<std::size_t>(in.ctx.p), 0);
  dp::UniformWorkspace ws{wd.data(), wi.data(), wl.data()};
  dp::uniform_fill_cells(in, ws);
  c.result = dp::uniform_solve_after_cells(in, ws, bound, c.units.data());
  return c;
}

}  // namespace nest::test
