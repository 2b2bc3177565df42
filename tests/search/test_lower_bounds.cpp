// The search's lower bounds (kernels/include/nest/kernels/dp/lower_bound.hpp): the batch the cost
// source builds (one layer-sum job per distinct set of layer costs, built by one or two threads),
// run by the CPU backend, by the CUDA kernels' bodies through the grid emulator and, where a
// device is usable, by the CUDA backend, gives every slice the bound of its own full cost table
// (the table the DP solves, summed layer by layer) bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "nest/cost/placement.hpp"
#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/kernels/dp/lower_bound.hpp"
#include "nest/search/bound_batch.hpp"
#include "nest/search/planner.hpp"
#include "random_instances.hpp"
#ifdef NEST_HAVE_CUDA_BACKEND
#include "nest/kernels/cuda/device.hpp"
#include "nest/kernels/cuda/dp_backend.hpp"
#endif

namespace nest {
namespace {

namespace dp = kernels::dp;

// Slice i's bound from its full cost table (CostSource::slice_costs: every layer costed, no job
// shared with another slice). A slice whose batch bound is relaxed (BoundBatch::relaxed: TP
// overlap off, its twin with it on in the space) gets its twin's work and its own memory, and
// that bound is checked to be no more than its own table's.
dp::SliceBounds bounds_from_tables(const CostSource& src, const SearchSpace& ss, std::size_t stride,
                                   const std::vector<unsigned char>& relaxed, long long* relaxed_compared) {
  dp::SliceBounds r;
  r.bound.assign(ss.slices.size(), std::numeric_limits<double>::quiet_NaN());
  r.hopeless.assign(ss.slices.size(), 2);
  const bool tabulated = src.bound_point_tables(ss).comms.empty();
  auto table_bound = [&](const Parallelism& par, const Placement& placement, bool* hopeless) {
    const SliceCosts sc = src.slice_costs(par, placement);
    dp::LayerSums sums;
    for (const auto& l : sc.layers) sums.add(l.cost);
    // The batch's jobs of a source with tabulated costs carry no groups: no step-end term, no
    // sends. The sends' overlap as the slice's layers carry it (build_slice_costs).
    const kernels::CommContext comm = comm_context(sc.ctx.net, sc.placement);
    if (!sc.layers.empty())
      dp::add_pipeline_sends(sums, comm, sc.layers.front().cost.send_hide > 0, sc.layers.front().cost.send_sm);
    return dp::slice_lower_bound(sums, dp::slice_bound_input(sc.ctx, 0), tabulated ? nullptr : &comm, hopeless);
  };
  for (std::size_t i = 0; i < ss.slices.size(); i += stride) {
    const SliceSpec& spec = ss.slices[i];
    const Placement& placement = ss.placements[static_cast<std::size_t>(spec.placement)];
    bool h = false;
    r.bound[i] = table_bound(spec.par, placement, &h);
    r.hopeless[i] = h ? 1 : 0;
    if (relaxed.empty() || !relaxed[i]) continue;
    EXPECT_TRUE(spec.tp_overlap_twin && !spec.par.tp_comm_overlap) << i;
    Parallelism twin = spec.par;
    twin.tp_comm_overlap = true;
    bool twin_hopeless = false;
    const double twin_bound = table_bound(twin, placement, &twin_hopeless);
    EXPECT_LE(twin_bound, r.bound[i]) << "slice " << i << ": the TP-overlapped twin's work is more than its own";
    r.bound[i] = twin_bound;
    ++*relaxed_compared;
  }
  return r;
}

// The batch for several points through the kernels' bodies and launch shapes on host arrays,
// computed sums and outputs poisoned first: a body that reads what no body wrote shows as a NaN.
std::vector<dp::SliceBounds> emulate_bounds(const dp::BoundBatch& b, const std::vector<dp::BoundPointTables>& points) {
  const int np = static_cast<int>(points.size());
  const std::size_t slices = b.slices.size();
  const dp::BoundPointsFlat flat = dp::flatten_points(points);
  std::vector<dp::LayerSums> sums = dp::sums_rows(b, np);
  for (std::size_t r = 0; r < sums.size(); ++r)
    if (b.jobs[r % b.jobs.size()].graph >= 0)
      sums[r].work = sums[r].optimizer = sums[r].statics = sums[r].buffered = sums[r].dp_reduce = sums[r].edp_reduce =
          sums[r].dp_gather = sums[r].edp_gather = sums[r].send_bytes = sums[r].send_gather = sums[r].send_chain =
              sums[r].send_wrap = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> bound(slices * points.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<unsigned char> hopeless(slices * points.size(), 2);
  const dp::BoundArrays a = dp::host_bound_arrays(b, flat, sums.data(), bound.data(), hopeless.data());
  kernels::emulate_grid(dp::bound_grid(a.num_jobs, dp::layer_sums_points(a)),
                        [&](const kernels::ThreadIndex& t) { dp::layer_sums_thread(t, a); });
  kernels::emulate_grid(dp::bound_grid(a.num_slices, np), [&](const kernels::ThreadIndex& t) { dp::slice_bound_thread(t, a); });
  return dp::bound_rows(bound, hopeless, points.size());
}

// Compares every `stride`-th slice with its table's bound; returns the slices compared.
long long expect_bounds_equal(const dp::SliceBounds& got, const dp::SliceBounds& want, std::size_t stride,
                              const std::string& what) {
  long long compared = 0, mismatches = 0;
  for (std::size_t i = 0; i < want.bound.size(); i += stride) {
    // Bit for bit: the same doubles summed in the same order (NaN never equals, so a slice
    // nothing wrote fails too).
    if (!(got.bound[i] == want.bound[i]) || got.hopeless[i] != want.hopeless[i]) {
      if (mismatches++ < 3)
        ADD_FAILURE() << what << ": slice " << i << " bound " << got.bound[i] << " hopeless " << int(got.hopeless[i])
                      << ", its table gives " << want.bound[i] << " / " << int(want.hopeless[i]);
    }
    ++compared;
  }
  EXPECT_EQ(mismatches, 0) << what;
  return compared;
}

void check_source(const CostSource& src, const SearchOptions& space, std::size_t stride, const std::string& what,
                  long long* compared, long long* jobs, long long* slices, long long* relaxed) {
  const SearchSpace ss = enumerate_slices(src, space, 1);
  if (ss.slices.empty()) return;
  const auto cpu = kernels::cpu::make_dp_backend(2);
  for (const int threads : {1, 2}) {
    const dp::BoundBatch b = src.bound_batch(ss, threads);
    const dp::BoundPointTables point = src.bound_point_tables(ss);
    const dp::SliceBounds want = bounds_from_tables(src, ss, stride, b.relaxed, relaxed);
    ASSERT_EQ(b.slices.size(), ss.slices.size()) << what;
    ASSERT_TRUE(b.relaxed.empty() || b.relaxed.size() == b.slices.size()) << what;
    ASSERT_EQ(b.sums.size(), b.jobs.size()) << what;
    *compared += expect_bounds_equal(cpu->lower_bounds(b, {point}, nullptr).front(), want, stride, what + ", cpu backend");
    expect_bounds_equal(emulate_bounds(b, {point}).front(), want, stride, what + ", emulated kernels");
    if (threads == 1) {
      *jobs += static_cast<long long>(b.jobs.size());
      *slices += static_cast<long long>(b.slices.size());
    }
  }
}

TEST(EmulatedCudaBackend, LowerBoundsEqualEachSlicesOwnTableBitForBit) {
  std::mt19937 rng(4242);
  long long compared = 0, jobs = 0, slices = 0, relaxed = 0;
  for (int k = 0; k < 30; ++k) {
    const test::RandomInstance inst = k % 3 == 0   ? test::random_tabulated(rng, 7700 + k)
                                      : k % 3 == 1 ? test::random_analytic(rng, 7700 + k)
                                                   : test::random_mixed_levels(rng, 7700 + k);
    check_source(*inst.source, inst.space, 1, inst.description, &compared, &jobs, &slices, &relaxed);
  }
  // A preset's full space: enough slices for the batch to be built by a team of threads.
  const AnalyticCostSource preset(test::preset_problem("llama3-70b", "dgx-h100", 1024, 1024, 8192));
  long long preset_jobs = 0, preset_slices = 0;
  check_source(preset, SearchOptions{}, 61, "llama3-70b on 1,024 GPUs", &compared, &preset_jobs, &preset_slices, &relaxed);
  std::printf(
      "lower bounds: %lld slices compared (%lld relaxed); random instances %lld jobs for %lld slices; llama3-70b %lld jobs "
      "for %lld slices\n",
      compared, relaxed, jobs, slices, preset_jobs, preset_slices);
  EXPECT_GT(compared, 3000);
  EXPECT_GT(relaxed, 100);  // Megatron-LM's TP overlap holds buffers: the preset's space has twins
  EXPECT_GT(preset_slices, static_cast<long long>(kParallelBoundSlices));
  // Jobs are shared: slices that differ only in schedule, virtual stages or microbatch count
  // cost their layers once.
  EXPECT_LT(preset_jobs * 2, preset_slices);
}

// A bound is a bound: no slice's best split is faster than it, the slices without the gradient
// overlap (whose bound counts their step-end reduction) and those with it alike, on random
// instances whose Megatron models are cut into 2 to 16 buckets.
TEST(LowerBounds, NoSliceSolvesBelowItsBound) {
  std::mt19937 rng(5151);
  long long checked = 0, unoverlapped = 0;
  for (int k = 0; k < 24; ++k) {
    const test::RandomInstance inst =
        k % 2 == 0 ? test::random_analytic(rng, 8800 + k) : test::random_mixed_levels(rng, 8800 + k);
    const SearchSpace ss = enumerate_slices(*inst.source, inst.space, 1);
    if (ss.slices.empty()) continue;
    const dp::SliceBounds b = kernels::cpu::make_dp_backend(1)
                                  ->lower_bounds(inst.source->bound_batch(ss, 1), {inst.source->bound_point_tables(ss)}, nullptr)
                                  .front();
    for (std::size_t i = 0; i < ss.slices.size(); ++i) {
      const SliceResult r = solve_slice_dp(*inst.source, ss.slices[i], std::numeric_limits<double>::infinity());
      if (!r.feasible) continue;
      EXPECT_LE(b.bound[i], r.value * (1 + 1e-12)) << inst.description << ", slice " << i;
      ++checked;
      unoverlapped += !ss.slices[i].par.overlap_grad_reduce;
    }
  }
  std::printf("bounds against solved slices: %lld checked, %lld without the gradient overlap\n", checked, unoverlapped);
  EXPECT_GT(checked, 500);
  EXPECT_GT(unoverlapped, 50);
}

// Every (job or slice, point) is one thread of its launch, and threads past the end write nothing.
TEST(EmulatedCudaBackend, BoundLaunchesCoverEveryJobAndSliceOnce) {
  for (const int points : {1, 3})
    for (const int n : {0, 1, 127, 128, 129, 1000}) {
      std::vector<int> hits(static_cast<std::size_t>(n * points), 0);
      kernels::emulate_grid(dp::bound_grid(n, points), [&](const kernels::ThreadIndex& t) {
        const int i = kernels::item_x(t);
        if (i < n) ++hits[static_cast<std::size_t>(static_cast<int>(t.block.y) * n + i)];
      });
      for (int h : hits) EXPECT_EQ(h, 1) << n << " x " << points;
    }
}

// Several points in one call: random instances' and a preset's batch with the tables of points
// whose links differ (each level's bandwidth and latency scaled by its own random factor), through
// the CPU backend and the kernel bodies under the grid emulator, give each point the bounds of
// its own batch in a call of its own, to the bit: with the GPU models shared (each layer prepared
// once for all the points, job_layer_sums_all_points) and with one point's models changed (each
// point's layers costed on their own); a call of one point takes the second way.
TEST(EmulatedCudaBackend, SeveralPointsInOneCallGetTheirOwnBounds) {
  std::mt19937 rng(5353);
  std::uniform_real_distribution<double> factor(-2, 2);  // log10 of the change
  const auto cpu = kernels::cpu::make_dp_backend(2);
  long long compared = 0;
  auto check = [&](const Problem& base, const std::string& what) {
    std::vector<Problem> points(3, base);
    for (std::size_t q = 1; q < points.size(); ++q)
      for (NetworkLevel& l : points[q].cluster.levels) {
        l.bandwidth *= std::pow(10.0, factor(rng));
        l.latency *= std::pow(10.0, factor(rng));
      }
    const AnalyticCostSource first(points.front());
    const SearchSpace ss = enumerate_slices(first, SearchOptions{}, 1);
    if (ss.slices.empty()) return;
    const dp::BoundBatch shared = first.bound_batch(ss, 2);
    std::vector<dp::BoundPointTables> tables;
    std::vector<dp::SliceBounds> alone;
    for (const Problem& p : points) {
      const AnalyticCostSource src(p);
      tables.push_back(src.bound_point_tables(ss));
      alone.push_back(cpu->lower_bounds(src.bound_batch(ss, 1), {tables.back()}, nullptr).front());
    }
    auto compare = [&](const std::string& how) {
      const auto together = cpu->lower_bounds(shared, tables, nullptr);
      const auto emulated = emulate_bounds(shared, tables);
      ASSERT_EQ(together.size(), points.size()) << what;
      for (std::size_t q = 0; q < points.size(); ++q) {
        const std::string at = what + ", " + how + ", point " + std::to_string(q);
        compared += expect_bounds_equal(together[q], alone[q], 1, at + ", cpu backend");
        expect_bounds_equal(emulated[q], alone[q], 1, at + ", emulated kernels");
      }
    };
    ASSERT_TRUE(dp::same_gpu_models(dp::flatten_points(tables))) << what;
    compare("GPU models shared");
    for (kernels::GpuModel& g : tables.back().gpus) g.sustained *= 0.9;
    alone.back() = cpu->lower_bounds(shared, {tables.back()}, nullptr).front();
    ASSERT_FALSE(dp::same_gpu_models(dp::flatten_points(tables))) << what;
    compare("one point's GPU models changed");
  };
  for (int k = 0; k < 12; ++k) {
    const test::RandomInstance inst =
        k % 2 == 0 ? test::random_analytic(rng, 5300 + k) : test::random_mixed_levels(rng, 5300 + k);
    check(dynamic_cast<const AnalyticCostSource&>(*inst.source).problem(), inst.description);
  }
  check(test::preset_problem("llama3-8b", "dgx-h100", 64, 256, 4096), "llama3-8b on 64 GPUs");
  EXPECT_GT(compared, 5000);
}

// A recent equal job is found again; a job handed back always equals the one asked for.
TEST(RecentTable, FindsRecentEqualJobsAndKeepsDifferentOnesApart) {
  auto job = [](int i) {
    dp::LayerSumJob j;
    std::memset(static_cast<void*>(&j), 0, sizeof j);
    j.shape.microbatch = i % 7;
    j.shape.tp = 1 + i % 5;
    j.comm = i % 3;
    return j;
  };
  RecentTable<dp::LayerSumJob> table;
  // Runs of the same job, as the enumeration makes them: one job per run.
  for (int run = 0; run < 10; ++run)
    for (int k = 0; k < 20; ++k) EXPECT_EQ(table.add(job(run)), run);
  EXPECT_EQ(table.items().size(), 10u);
  // Many different jobs, each asked for twice in a row and once much later.
  for (int i = 0; i < 1000; ++i) {
    const dp::LayerSumJob j = job(i);
    const int a = table.add(j), b = table.add(j);
    EXPECT_EQ(a, b);
    EXPECT_EQ(std::memcmp(&table.items()[static_cast<std::size_t>(a)], &j, sizeof j), 0);
  }
  for (int i = 0; i < 1000; i += 37) {
    const dp::LayerSumJob j = job(i);
    EXPECT_EQ(std::memcmp(&table.items()[static_cast<std::size_t>(table.add(j))], &j, sizeof j), 0);
  }
}

#ifdef NEST_HAVE_CUDA_BACKEND
TEST(CudaLowerBounds, EqualTheCpuBackendOnTheDevice) {
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (!dev.usable) GTEST_SKIP() << "no usable CUDA device: " << dev.error;
  const AnalyticCostSource preset(test::preset_problem("llama3-70b", "dgx-h100", 1024, 1024, 8192));
  const SearchSpace ss = enumerate_slices(preset, SearchOptions{}, 2);
  const dp::BoundBatch b = preset.bound_batch(ss, 2);
  const dp::BoundPointTables point = preset.bound_point_tables(ss);
  const auto cpu = kernels::cpu::make_dp_backend(2);
  const dp::SliceBounds want = cpu->lower_bounds(b, {point}, nullptr).front();
  // The whole batch at once, and in parts under a budget that holds a few thousand jobs; one
  // point, and the same point three times in one call.
  for (const std::size_t limit : {std::size_t{0}, std::size_t{4} << 20}) {
    const dp::SliceBounds got = kernels::cuda::lower_bounds_on_device(b, {point}, limit, nullptr).front();
    expect_bounds_equal(got, want, 1, "device, memory limit " + std::to_string(limit));
    for (const dp::SliceBounds& g : kernels::cuda::lower_bounds_on_device(b, {point, point, point}, limit, nullptr))
      expect_bounds_equal(g, want, 1, "device, three points, memory limit " + std::to_string(limit));
  }
}
#endif

}  // namespace
}  // namespace nest
