// The CUDA backend against the CPU backend: identical per-slice results (bit for bit) and
// identical plans and values from the whole search, on random instances and presets. Skips,
// saying why, where no CUDA device is usable.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/kernels/cuda/device.hpp"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/search/planner.hpp"
#include "search/random_instances.hpp"
#include "search/uniform_slices.hpp"

namespace nest {
namespace {

#define NEST_REQUIRE_GPU()                                                   \
  do {                                                                       \
    const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();     \
    if (!dev.usable) GTEST_SKIP() << "no usable CUDA device: " << dev.error; \
  } while (0)

// Solves every pipelined slice of `inst` on the GPU and on the CPU; returns the slices compared.
int compare_per_slice(const test::RandomInstance& inst) {
  const auto inputs = test::pipelined_uniform_inputs(inst);
  if (inputs.empty()) return 0;
  const auto gpu = kernels::cuda::solve_uniform_batch(
      inputs, kernels::dp::Segments::one(inputs.size(), HUGE_VAL, static_cast<int>(inputs.size())), 0, nullptr);
  int compared = 0;
  for (const auto& g : gpu) {
    const test::CpuUniformSlice c = test::cpu_uniform_slice(inputs[static_cast<std::size_t>(g.input)], HUGE_VAL);
    const auto& cpu = c.result;
    EXPECT_EQ(cpu.status, g.result.status) << inst.description;
    if (cpu.status != g.result.status) continue;
    EXPECT_EQ(cpu.objective, g.result.objective) << inst.description;  // exact equality
    EXPECT_EQ(cpu.B, g.result.B);
    EXPECT_EQ(cpu.R, g.result.R);
    EXPECT_EQ(cpu.checks, g.result.checks);
    if (cpu.status == 1) {
      EXPECT_EQ(c.units, g.units) << inst.description;
    }
    ++compared;
  }
  return compared;
}

TEST(CudaDp, PerSliceResultsEqualTheCpuBitForBit) {
  NEST_REQUIRE_GPU();
  std::mt19937 rng(4242);
  int compared = 0;
  for (int i = 0; i < 40; ++i) {
    const test::RandomInstance inst = test::random_tabulated(rng, 5000 + i);
    if (inst.source->uniform_blocks()) compared += compare_per_slice(inst);
  }
  EXPECT_GT(compared, 50);
}

// Pipeline boundaries at different levels: the per-position sends, the same on both backends.
TEST(CudaDp, PerSliceResultsEqualTheCpuWithMixedBoundaryLevels) {
  NEST_REQUIRE_GPU();
  std::mt19937 rng(2468);
  int compared = 0;
  for (int i = 0; i < 40; ++i) {
    const test::RandomInstance inst = test::random_mixed_levels(rng, 7000 + i);
    if (inst.source->uniform_blocks()) compared += compare_per_slice(inst);
  }
  EXPECT_GT(compared, 200);
}

TEST(CudaDp, SearchGivesTheSamePlansAndValuesAsTheCpu) {
  NEST_REQUIRE_GPU();
  std::mt19937 rng(77);
  for (int i = 0; i < 30; ++i) {
    const test::RandomInstance inst = i % 2 ? test::random_tabulated(rng, 6000 + i) : test::random_analytic(rng, 6000 + i);
    PlannerOptions o;
    o.space = inst.space;
    o.top_k = 3;
    o.backend = BackendKind::Cpu;
    const SearchResult cpu = search_plans(*inst.source, o);
    o.backend = BackendKind::Cuda;
    const SearchResult gpu = search_plans(*inst.source, o);
    EXPECT_EQ(gpu.stats.backend, "cuda");
    ASSERT_EQ(cpu.top.size(), gpu.top.size()) << inst.description;
    for (std::size_t x = 0; x < cpu.top.size(); ++x) {
      EXPECT_EQ(cpu.top[x].value, gpu.top[x].value) << inst.description;
      EXPECT_EQ(cpu.top[x].plan.blocks_per_stage, gpu.top[x].plan.blocks_per_stage) << inst.description;
      EXPECT_EQ(cpu.top[x].slice_index, gpu.top[x].slice_index) << inst.description;
    }
  }
}

// nest sweep searches several points at once, each from its own host thread on its own stream
// with buffers from one memory pool: the results must not depend on what the other threads do.
TEST(CudaDp, SearchesFromManyHostThreadsAtOnceGiveTheCpuPlans) {
  NEST_REQUIRE_GPU();
  std::mt19937 rng(91);
  std::vector<test::RandomInstance> instances;
  for (int i = 0; i < 24; ++i)
    instances.push_back(i % 2 ? test::random_tabulated(rng, 7000 + i) : test::random_analytic(rng, 7000 + i));
  auto search = [&](const test::RandomInstance& inst, BackendKind kind) {
    PlannerOptions o;
    o.space = inst.space;
    o.top_k = 3;
    o.threads = 1;
    o.backend = kind;
    return search_plans(*inst.source, o);
  };
  std::vector<SearchResult> cpu, gpu(instances.size());
  for (const auto& inst : instances) cpu.push_back(search(inst, BackendKind::Cpu));
  std::vector<std::thread> threads;
  std::atomic<std::size_t> next{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < instances.size(); i = next++) gpu[i] = search(instances[i], BackendKind::Cuda);
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < instances.size(); ++i) {
    EXPECT_EQ(gpu[i].stats.backend, "cuda");
    ASSERT_EQ(cpu[i].top.size(), gpu[i].top.size()) << instances[i].description;
    for (std::size_t x = 0; x < cpu[i].top.size(); ++x) {
      EXPECT_EQ(cpu[i].top[x].value, gpu[i].top[x].value) << instances[i].description;
      EXPECT_EQ(cpu[i].top[x].plan.blocks_per_stage, gpu[i].top[x].plan.blocks_per_stage) << instances[i].description;
      EXPECT_EQ(cpu[i].top[x].slice_index, gpu[i].top[x].slice_index) << instances[i].description;
    }
  }
}

TEST(CudaDp, PresetsGiveTheSamePlanOnBothBackends) {
  NEST_REQUIRE_GPU();
  const Problem p = test::preset_problem("llama3-70b", "dgx-h100", 1024, 1024, 8192);
  const AnalyticCostSource src(p);
  PlannerOptions o;
  o.space.pp = {2, 4, 8, 16};  // pipelined slices: the ones the GPU takes
  o.backend = BackendKind::Cpu;
  const SearchResult cpu = search_plans(src, o);
  o.backend = BackendKind::Cuda;
  const SearchResult gpu = search_plans(src, o);
  ASSERT_FALSE(cpu.top.empty());
  EXPECT_EQ(cpu.top.front().value, gpu.top.front().value);
  EXPECT_EQ(cpu.top.front().plan.blocks_per_stage, gpu.top.front().plan.blocks_per_stage);
}

TEST(CudaDp, BackendCudaWithoutADeviceFailsWithTheCudaError) {
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (dev.usable) GTEST_SKIP() << "a CUDA device is present (" << dev.name << "); the no-device path cannot be exercised";
  const Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 8, 1024);
  PlannerOptions o;
  o.backend = BackendKind::Cuda;
  try {
    (void)search_plans(AnalyticCostSource(p), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Runtime);
    EXPECT_NE(std::string(e.what()).find(dev.error), std::string::npos) << e.what();
  }
  o.backend = BackendKind::Auto;
  EXPECT_EQ(search_plans(AnalyticCostSource(p), o).stats.backend, "cpu");
}

}  // namespace
}  // namespace nest
