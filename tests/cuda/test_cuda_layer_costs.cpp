// The CUDA backend runs the same NEST_HD layer-cost code as the CPU: results must be identical.
// Skips, saying why, where no CUDA device is usable.
#include <gtest/gtest.h>

#include "nest/framework/framework.hpp"

#include "nest/cost/slice_costs.hpp"
#include "support/test_support.hpp"
#include "nest/kernels/cuda/device.hpp"
#include "nest/model/layer_graph.hpp"

namespace nest {
namespace {

TEST(CudaBackend, LayerCostsMatchTheCpu) {
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (!dev.usable) GTEST_SKIP() << "no usable CUDA device: " << dev.error;
  const Problem p = test::preset_problem("mixtral-8x7b", "dgx-h100", 64, 256, 4096);
  Parallelism par;
  par.tp = 2;
  par.pp = 2;
  par.dp = 16;
  par.ep = 8;
  par.sp = true;
  par.zero = 1;
  par.num_microbatches = 16;
  const LayerGraph g = build_layer_graph(p.model, true);
  const SliceCosts cpu = build_slice_costs(p, g, par, RankOrder{});
  std::vector<kernels::LayerDims> dims;
  for (const auto& n : g.nodes) dims.push_back(n.dims);
  const kernels::CommContext comm = comm_context(cpu.ctx.net, cpu.placement);
  std::vector<kernels::LayerCostDetail> gpu(dims.size());
  kernels::cuda::layer_costs_on_device(dims.data(), static_cast<int>(dims.size()), cpu.shape, p.cluster.gpu.compute_model(),
                                       framework(p.options.framework).settings(p, par), comm, gpu.data());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    EXPECT_DOUBLE_EQ(gpu[i].cost.fwd, cpu.layers[i].cost.fwd) << i;
    EXPECT_DOUBLE_EQ(gpu[i].cost.bwd, cpu.layers[i].cost.bwd) << i;
    EXPECT_DOUBLE_EQ(gpu[i].cost.act_bytes, cpu.layers[i].cost.act_bytes) << i;
    EXPECT_DOUBLE_EQ(gpu[i].cost.weight_bytes, cpu.layers[i].cost.weight_bytes) << i;
  }
}

}  // namespace
}  // namespace nest
