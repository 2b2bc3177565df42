// The CUDA backend's kernels through the CPU grid emulator (kernels/include/nest/kernels/grid.hpp):
// the very bodies the device runs (dp/uniform_batch.hpp), over the same launch shapes, on one
// batch of every pipelined slice of random instances. Per slice, result and split equal the CPU
// backend's bit for bit; the slices taken back (top K in the device's sort order, and the failed
// shape checks) are the CPU's K best with ties in slice order. Where a CUDA device is usable the
// same checks run the real kernels too.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "nest/kernels/cpu/dp_backend.hpp"
#include "nest/kernels/dp/uniform_batch.hpp"
#include "nest/evaluate/split.hpp"
#include "nest/search/planner.hpp"
#include "random_instances.hpp"
#include "uniform_slices.hpp"
#ifdef NEST_HAVE_CUDA_BACKEND
#include "nest/kernels/cuda/device.hpp"
#include "nest/kernels/cuda/dp_backend.hpp"
#endif

namespace nest {
namespace {

namespace dp = kernels::dp;

struct BatchOutput {
  std::vector<int> taken;                 // slice indices, in the order the host takes them
  std::vector<dp::UniformResult> result;  // per taken slice
  std::vector<std::vector<int>> units;    // per taken slice (solved ones)
};

std::vector<dp::UniformFound> emulate_segmented_uniform(const std::vector<dp::UniformSliceInput>& in, const dp::Segments& seg,
                                                        int part);

// One batch as kernels/cuda/uniform_dp.cu runs it, with host arrays and emulate_grid(): one
// search, one part.
BatchOutput emulate_batch(const std::vector<dp::UniformSliceInput>& in, double bound, int top_k) {
  BatchOutput b;
  for (dp::UniformFound& f : emulate_segmented_uniform(in, dp::Segments::one(in.size(), bound, top_k), 1 << 30)) {
    b.taken.push_back(f.input);
    b.result.push_back(f.result);
    b.units.push_back(std::move(f.units));
  }
  return b;
}

// One batch through a backend's interface (dp/backend.hpp), as the search driver calls it.
BatchOutput backend_batch(dp::DpBackend& backend, const std::vector<dp::UniformSliceInput>& in, double bound, int top_k) {
  BatchOutput b;
  dp::BackendStats stats;
  for (const auto& r : backend.solve_uniform(in, dp::Segments::one(in.size(), bound, top_k), &stats)) {
    b.taken.push_back(r.input);
    b.result.push_back(r.result);
    b.units.push_back(r.units);
  }
  EXPECT_GT(stats.cells, 0);
  return b;
}

BatchOutput cpu_backend_batch(const std::vector<dp::UniformSliceInput>& in, double bound, int top_k) {
  const auto backend = kernels::cpu::make_dp_backend(2);
  return backend_batch(*backend, in, bound, top_k);
}

#ifdef NEST_HAVE_CUDA_BACKEND
BatchOutput device_batch(const std::vector<dp::UniformSliceInput>& in, double bound, int top_k) {
  const auto backend = kernels::cuda::make_dp_backend("device 0", 0);
  return backend_batch(*backend, in, bound, top_k);
}
#endif

// Compares a batch's output with the CPU backend; returns the slices compared.
int compare(const BatchOutput& b, const std::vector<dp::UniformSliceInput>& in, double bound, int top_k,
            const std::string& what) {
  std::vector<test::CpuUniformSlice> cpu;
  for (const auto& s : in) cpu.push_back(test::cpu_uniform_slice(s, bound));
  // The CPU's selection: solved slices by objective, ties in slice order; failed shape checks.
  std::vector<int> solved, shape_failed;
  for (int x = 0; x < static_cast<int>(in.size()); ++x) {
    if (cpu[static_cast<std::size_t>(x)].result.status == 1) solved.push_back(x);
    if (cpu[static_cast<std::size_t>(x)].result.status == 2) shape_failed.push_back(x);
  }
  std::stable_sort(solved.begin(), solved.end(), [&](int a, int c) {
    return cpu[static_cast<std::size_t>(a)].result.objective < cpu[static_cast<std::size_t>(c)].result.objective;
  });
  if (static_cast<int>(solved.size()) > top_k) solved.resize(static_cast<std::size_t>(top_k));
  std::vector<int> expected = solved;
  expected.insert(expected.end(), shape_failed.begin(), shape_failed.end());
  EXPECT_EQ(b.taken, expected) << what;
  int compared = 0;
  for (std::size_t x = 0; x < b.taken.size() && x < expected.size(); ++x) {
    const test::CpuUniformSlice& c = cpu[static_cast<std::size_t>(b.taken[x])];
    const dp::UniformResult& r = b.result[x];
    EXPECT_EQ(r.status, c.result.status) << what;
    EXPECT_EQ(r.objective, c.result.objective) << what;  // exact equality
    EXPECT_EQ(r.B, c.result.B) << what;
    EXPECT_EQ(r.R, c.result.R) << what;
    EXPECT_EQ(r.checks, c.result.checks) << what;
    if (r.status == 1) {
      EXPECT_EQ(b.units[x], c.units) << what << " slice " << b.taken[x];
    }
    ++compared;
  }
  return compared;
}

template <class Run>
void check_family(Run run, int* compared, int* batches, int* short_edge = nullptr, int* torch_rounds = nullptr) {
  std::mt19937 rng(8080);
  for (int i = 0; i < 80; ++i) {
    // The last 20: torchtitan's interleaved pipelines on 3 stages, so that PyTorch's order with
    // microbatch counts that are no multiple of p (the batches are powers of two) reaches the
    // kernels too.
    test::RandomInstance inst = i >= 60      ? test::random_large_analytic(rng, 8100 + i, FrameworkKind::Torchtitan)
                                : i % 2 == 0 ? test::random_tabulated(rng, 8100 + i)
                                             : test::random_mixed_levels(rng, 8100 + i);
    if (i >= 60) {
      inst.space.schedule = {Schedule::Interleaved};
      inst.space.pp = {3};
      inst.space.allow_idle = true;
    }
    if (!inst.source->uniform_blocks()) continue;
    const auto in = test::pipelined_uniform_inputs(inst);
    if (in.empty()) continue;
    if (short_edge)
      for (const auto& x : in) *short_edge += x.first_lack + x.last_lack > 0;
    if (torch_rounds)  // PyTorch's interleaved order with m no multiple of p (torchtitan)
      for (const auto& x : in) *torch_rounds += x.ctx.torch_order && x.ctx.v > 1 && x.ctx.m % x.ctx.p != 0;
    // Unbounded, all slices back; then a bound at the median objective and a top 3.
    *compared +=
        compare(run(in, HUGE_VAL, static_cast<int>(in.size())), in, HUGE_VAL, static_cast<int>(in.size()), inst.description);
    std::vector<double> objectives;
    for (const auto& s : in) {
      const test::CpuUniformSlice c = test::cpu_uniform_slice(s, HUGE_VAL);
      if (c.result.status == 1) objectives.push_back(c.result.objective);
    }
    if (!objectives.empty()) {
      std::nth_element(objectives.begin(), objectives.begin() + static_cast<long>(objectives.size() / 2), objectives.end());
      const double bound = objectives[objectives.size() / 2];
      *compared += compare(run(in, bound, 3), in, bound, 3, inst.description + " (bounded, top 3)");
    }
    *batches += 2;
  }
}

TEST(EmulatedCudaBackend, UniformBatchEqualsTheCpuBackendBitForBit) {
  int compared = 0, batches = 0, short_edge = 0, torch_rounds = 0;
  check_family(emulate_batch, &compared, &batches, &short_edge, &torch_rounds);
  std::printf(
      "emulated: %d batches, %d slices compared, %d inputs with a short edge chunk, %d in PyTorch's order with m no "
      "multiple of p\n",
      batches, compared, short_edge, torch_rounds);
  EXPECT_GT(compared, 500);
  EXPECT_GT(batches, 20);
  EXPECT_GT(short_edge, 20) << "inputs whose embedding or head chunk lacks a block were not exercised";
  EXPECT_GT(torch_rounds, 10) << "PyTorch's interleaved order with m no multiple of p was not exercised";
}

// The CPU backend behind the driver's interface (kernels/cpu): its OpenMP threads and selection
// give what the serial per-slice path gives, bit for bit.
TEST(CpuBackend, BatchThroughTheInterfaceEqualsTheSerialPath) {
  int compared = 0, batches = 0;
  check_family(cpu_backend_batch, &compared, &batches);
  std::printf("cpu backend: %d batches, %d slices compared\n", batches, compared);
  EXPECT_GT(compared, 500);
}

// ---- The general DP's batch (dp/general_batch.hpp) -------------------------------------------

// One input per pipelined 1F1B slice of a heterogeneous stack (the slices the backends take).
dp::GeneralBatch general_batch_of(const test::RandomInstance& inst) {
  const SearchSpace s = enumerate_slices(*inst.source, inst.space, 1);
  dp::GeneralBatch b;
  for (const SliceSpec& spec : s.slices)
    if (spec.par.pp >= 2 && spec.par.schedule == Schedule::OneFOneB)
      append_general_input(inst.source->slice_costs(spec.par, s.placements[static_cast<std::size_t>(spec.placement)]), b);
  return b;
}

// What a one-thread-per-input batch kind (dp/general_batch.hpp, dp/interleaved_batch.hpp) is to
// the tests below: its kernel body as the emulator runs it, its serial solve, what a backend
// hands back, and the per-stage answer each result carries (stage starts, units).
struct GeneralTestKind {
  using Batch = dp::GeneralBatch;
  using Found = dp::GeneralFound;
  using Result = dp::GeneralResult;
  static dp::ThreadBatchLayout layout(const Batch& b) {
    return dp::thread_batch_layout(b.inputs.data(), static_cast<int>(b.inputs.size()), dp::general_workspace_doubles,
                                   dp::general_workspace_ints);
  }
  static void thread(const kernels::ThreadIndex& t, const Batch& b, const dp::ThreadBatchLayout& l, const double* bound,
                     double* wd, int* wi, int* answer, Result* out, double* keys, int* index) {
    dp::general_solve_thread(t, b.inputs.data(), b.d.data(), b.i.data(), l.offsets.data(), static_cast<int>(b.inputs.size()),
                             bound, wd, wi, answer, out, keys, index);
  }
  static Result solve_one(const Batch& b, std::size_t x, double bound, int* answer) {
    const dp::GeneralSliceInput& in = b.inputs[x];
    std::vector<double> wd(static_cast<std::size_t>(dp::general_workspace_doubles(in)));
    std::vector<int> wi(static_cast<std::size_t>(dp::general_workspace_ints(in)));
    return dp::general_solve_slice(in, b.d.data(), b.i.data(), bound, wd.data(), wi.data(), answer);
  }
  static auto solve(dp::DpBackend& backend, const Batch& b, double bound, int k) {
    return backend.solve_general(b, dp::Segments::one(b.inputs.size(), bound, k), nullptr);
  }
  static auto solve_segments(dp::DpBackend& backend, const Batch& b, const dp::Segments& seg, dp::BackendStats* st) {
    return backend.solve_general(b, seg, st);
  }
  static const std::vector<int>& answer(const dp::GeneralFound& f) { return f.starts; }
  static std::vector<int>& answer(dp::GeneralFound& f) { return f.starts; }
  static void expect_same(const Result& a, const Result& b, const std::string& what) {
    EXPECT_EQ(a.objective, b.objective) << what;  // exact equality
    EXPECT_EQ(a.B, b.B) << what;
    EXPECT_EQ(a.R, b.R) << what;
    EXPECT_EQ(a.cells, b.cells) << what;
  }
};

struct InterleavedTestKind {
  using Batch = dp::InterleavedBatch;
  using Found = dp::InterleavedFound;
  using Result = dp::InterleavedResult;
  static dp::ThreadBatchLayout layout(const Batch& b) {
    return dp::thread_batch_layout(b.inputs.data(), static_cast<int>(b.inputs.size()), dp::interleaved_workspace_doubles,
                                   dp::interleaved_workspace_ints);
  }
  static void thread(const kernels::ThreadIndex& t, const Batch& b, const dp::ThreadBatchLayout& l, const double* bound,
                     double* wd, int* wi, int* answer, Result* out, double* keys, int* index) {
    dp::interleaved_solve_thread(t, b.inputs.data(), b.d.data(), b.i.data(), l.offsets.data(), static_cast<int>(b.inputs.size()),
                                 bound, wd, wi, answer, out, keys, index);
  }
  static Result solve_one(const Batch& b, std::size_t x, double bound, int* answer) {
    const dp::InterleavedSliceInput& in = b.inputs[x];
    std::vector<double> wd(static_cast<std::size_t>(dp::interleaved_workspace_doubles(in)));
    std::vector<int> wi(static_cast<std::size_t>(dp::interleaved_workspace_ints(in)));
    return dp::interleaved_solve_slice(in, b.d.data(), b.i.data(), bound, wd.data(), wi.data(), answer);
  }
  static auto solve(dp::DpBackend& backend, const Batch& b, double bound, int k) {
    return backend.solve_interleaved(b, dp::Segments::one(b.inputs.size(), bound, k), nullptr);
  }
  static auto solve_segments(dp::DpBackend& backend, const Batch& b, const dp::Segments& seg, dp::BackendStats* st) {
    return backend.solve_interleaved(b, seg, st);
  }
  static const std::vector<int>& answer(const dp::InterleavedFound& f) { return f.units; }
  static std::vector<int>& answer(dp::InterleavedFound& f) { return f.units; }
  static void expect_same(const Result& a, const Result& b, const std::string& what) {
    EXPECT_EQ(a.objective, b.objective) << what;  // exact equality
    EXPECT_EQ(a.cells, b.cells) << what;
  }
};

template <class Kind>
struct TabledOutput {
  std::vector<int> taken;
  std::vector<typename Kind::Result> result;
  std::vector<std::vector<int>> answer;
};

template <class Kind>
std::vector<typename Kind::Found> emulate_segmented(const typename Kind::Batch& b, const dp::Segments& seg, int part);

// One batch as the kind's .cu runs it, through the grid emulator (poisoned workspaces: a read of
// what no thread wrote shows): one search, one part.
template <class Kind>
TabledOutput<Kind> emulate_batch(const typename Kind::Batch& b, double bound, int top_k) {
  TabledOutput<Kind> g;
  for (auto& f : emulate_segmented<Kind>(b, dp::Segments::one(b.inputs.size(), bound, top_k), 1 << 30)) {
    g.taken.push_back(f.input);
    g.result.push_back(f.result);
    g.answer.push_back(std::move(Kind::answer(f)));
  }
  return g;
}

template <class Kind>
TabledOutput<Kind> backend_batch(dp::DpBackend& backend, const typename Kind::Batch& b, double bound, int top_k) {
  TabledOutput<Kind> g;
  for (const auto& r : Kind::solve(backend, b, bound, top_k)) {
    g.taken.push_back(r.input);
    g.result.push_back(r.result);
    g.answer.push_back(Kind::answer(r));
  }
  return g;
}

// Compares with each input solved alone, serially; returns the inputs compared.
template <class Kind>
int compare_batch(const TabledOutput<Kind>& g, const typename Kind::Batch& b, double bound, int top_k, const std::string& what) {
  struct One {
    typename Kind::Result r;
    std::vector<int> answer;
  };
  std::vector<One> serial;
  std::vector<int> solved;
  for (std::size_t x = 0; x < b.inputs.size(); ++x) {
    One o;
    o.answer.assign(static_cast<std::size_t>(b.inputs[x].p), 0);
    o.r = Kind::solve_one(b, x, bound, o.answer.data());
    if (o.r.status == 1) solved.push_back(static_cast<int>(x));
    serial.push_back(o);
  }
  std::stable_sort(solved.begin(), solved.end(), [&](int a, int c) {
    return serial[static_cast<std::size_t>(a)].r.objective < serial[static_cast<std::size_t>(c)].r.objective;
  });
  if (static_cast<int>(solved.size()) > top_k) solved.resize(static_cast<std::size_t>(top_k));
  EXPECT_EQ(g.taken, solved) << what;
  int compared = 0;
  for (std::size_t x = 0; x < g.taken.size() && x < solved.size(); ++x) {
    const One& o = serial[static_cast<std::size_t>(g.taken[x])];
    Kind::expect_same(g.result[x], o.r, what);
    EXPECT_EQ(g.answer[x], o.answer) << what << " input " << g.taken[x];
    ++compared;
  }
  return compared;
}

template <class Run>
void check_general_family(Run run, int* compared, int* batches) {
  std::mt19937 rng(8181);
  for (int i = 0; i < 80; ++i) {
    const test::RandomInstance inst =
        i % 2 == 0 ? test::random_tabulated(rng, 8400 + i) : test::random_mixed_levels(rng, 8400 + i);
    if (inst.source->uniform_blocks()) continue;
    const dp::GeneralBatch b = general_batch_of(inst);
    if (b.inputs.empty()) continue;
    const int all = static_cast<int>(b.inputs.size());
    *compared += compare_batch<GeneralTestKind>(run(b, HUGE_VAL, all), b, HUGE_VAL, all, inst.description);
    *compared += compare_batch<GeneralTestKind>(run(b, HUGE_VAL, 3), b, HUGE_VAL, 3, inst.description + " (top 3)");
    *batches += 2;
  }
}

// The lower bound a choice of lacking edge chunks is pruned by (uniform_lower_bound) is below
// the objective of every family the DP solves, and it prunes: some families of a slice cannot
// reach the slice's best (long lacks force a large edge stage).
TEST(CpuBackend, FamilyLowerBoundIsBelowEveryFamilysOptimum) {
  std::mt19937 rng(8181);
  int solved = 0, long_lacks = 0, prunable = 0;
  for (int i = 0; i < 40; ++i) {
    test::RandomInstance inst = test::random_large_analytic(rng, 8200 + i);
    inst.space.schedule = {Schedule::Interleaved};
    inst.space.allow_idle = true;
    if (!inst.source->uniform_blocks()) continue;
    const auto in = test::pipelined_uniform_inputs(inst);
    std::vector<double> objective(in.size(), HUGE_VAL);
    for (std::size_t x = 0; x < in.size(); ++x) {
      const test::CpuUniformSlice c = test::cpu_uniform_slice(in[x], HUGE_VAL);
      if (c.result.status != 1) continue;
      objective[x] = c.result.objective;
      ++solved;
      long_lacks += in[x].first_lack + in[x].last_lack > 1;
      EXPECT_LE(dp::uniform_lower_bound(in[x]), c.result.objective * (1 + 1e-12)) << inst.description << " input " << x;
    }
    // Families of one slice are adjacent and share their costs and context.
    auto same_slice = [&](std::size_t a, std::size_t b) {
      return std::memcmp(&in[a].emb, &in[b].emb, sizeof in[a].emb) == 0 &&
             std::memcmp(&in[a].block, &in[b].block, sizeof in[a].block) == 0 &&
             std::memcmp(&in[a].ctx, &in[b].ctx, sizeof in[a].ctx) == 0;
    };
    for (std::size_t a = 0; a < in.size();) {
      std::size_t b = a + 1;
      while (b < in.size() && same_slice(a, b)) ++b;
      const double best = *std::min_element(objective.begin() + static_cast<std::ptrdiff_t>(a),
                                            objective.begin() + static_cast<std::ptrdiff_t>(b));
      for (std::size_t x = a; x < b; ++x) prunable += std::isfinite(best) && dp::uniform_lower_bound(in[x]) >= best;
      a = b;
    }
  }
  EXPECT_GT(solved, 1000);
  EXPECT_GT(long_lacks, 100);
  EXPECT_GT(prunable, 100);
  std::printf("%d families solved (%d with lacks of two blocks or more), %d prunable at their slice's best\n", solved, long_lacks,
              prunable);
}

TEST(EmulatedCudaBackend, GeneralBatchEqualsEachSliceAloneBitForBit) {
  int compared = 0, batches = 0;
  check_general_family(emulate_batch<GeneralTestKind>, &compared, &batches);
  std::printf("emulated general: %d batches, %d slices compared\n", batches, compared);
  EXPECT_GT(compared, 200);
  EXPECT_GT(batches, 10);
}

TEST(CpuBackend, GeneralBatchThroughTheInterfaceEqualsEachSliceAlone) {
  const auto backend = kernels::cpu::make_dp_backend(2);
  int compared = 0, batches = 0;
  check_general_family(
      [&](const dp::GeneralBatch& b, double bound, int k) { return backend_batch<GeneralTestKind>(*backend, b, bound, k); },
      &compared, &batches);
  EXPECT_GT(compared, 200);
}

// ---- Interleaved DP batches (dp/interleaved_batch.hpp) ------------------------------------------

// Every interleaved slice of an instance of differing blocks, one input per choice of lacking
// edge chunks.
dp::InterleavedBatch interleaved_batch_of(const test::RandomInstance& inst) {
  const SearchSpace s = enumerate_slices(*inst.source, inst.space, 1);
  dp::InterleavedBatch b;
  for (const SliceSpec& spec : s.slices) {
    if (spec.par.pp < 2 || spec.par.schedule != Schedule::Interleaved) continue;
    const SliceCosts sc = inst.source->slice_costs(spec.par, s.placements[static_cast<std::size_t>(spec.placement)]);
    for (const auto& lack : edge_deficit_choices(inst.source->num_blocks(), spec.par.virtual_stages))
      append_interleaved_input(sc, inst.source->num_blocks(), lack, b);
  }
  return b;
}

template <class Run>
void check_interleaved_family(Run run, int* compared, int* batches) {
  std::mt19937 rng(8383);
  for (int i = 0; i < 80 && *batches < 40; ++i) {
    const test::RandomInstance inst = test::random_large_analytic(rng, 8600 + i);
    if (inst.source->uniform_blocks()) continue;
    const dp::InterleavedBatch b = interleaved_batch_of(inst);
    if (b.inputs.empty()) continue;
    const int all = static_cast<int>(b.inputs.size());
    *compared += compare_batch<InterleavedTestKind>(run(b, HUGE_VAL, all), b, HUGE_VAL, all, inst.description);
    *compared += compare_batch<InterleavedTestKind>(run(b, HUGE_VAL, 3), b, HUGE_VAL, 3, inst.description + " (top 3)");
    *batches += 2;
  }
}

TEST(EmulatedCudaBackend, InterleavedBatchEqualsEachSliceAloneBitForBit) {
  int compared = 0, batches = 0;
  check_interleaved_family(emulate_batch<InterleavedTestKind>, &compared, &batches);
  std::printf("emulated interleaved: %d batches, %d inputs compared\n", batches, compared);
  EXPECT_GT(compared, 200);
  EXPECT_GT(batches, 10);
}

TEST(CpuBackend, InterleavedBatchThroughTheInterfaceEqualsEachSliceAlone) {
  const auto backend = kernels::cpu::make_dp_backend(2);
  int compared = 0, batches = 0;
  check_interleaved_family([&](const dp::InterleavedBatch& b, double bound,
                               int k) { return backend_batch<InterleavedTestKind>(*backend, b, bound, k); },
                           &compared, &batches);
  EXPECT_GT(compared, 200);
}

// ---- pp = 1 slices (dp/single_stage.hpp) --------------------------------------------------------

// Every pp = 1 slice of random instances, valued through the emulated kernel body and through the
// CPU backend: the fitting ones are those the evaluator finds within memory, at the evaluator's
// step time, and the top K come back in the interface's order.
TEST(EmulatedCudaBackend, SingleStageSlicesValuedAsTheEvaluatorDoes) {
  std::mt19937 rng(8282);
  const auto cpu = kernels::cpu::make_dp_backend(2);
  int compared = 0, fitting = 0;
  for (int k = 0; k < 40; ++k) {
    const test::RandomInstance inst =
        k % 2 == 0 ? test::random_tabulated(rng, 8500 + k) : test::random_mixed_levels(rng, 8500 + k);
    const SearchSpace space = enumerate_slices(*inst.source, inst.space, 1);
    std::vector<dp::SingleStageInput> in;
    std::vector<SplitEval> eval;
    for (const SliceSpec& spec : space.slices) {
      if (spec.par.pp != 1) continue;
      const SliceCosts sc = inst.source->slice_costs(spec.par, space.placements[static_cast<std::size_t>(spec.placement)]);
      dp::SingleStageInput x;
      x.ctx = sc.ctx;
      for (const auto& l : sc.layers) kernels::accumulate(x.sums, l.cost);
      in.push_back(x);
      eval.push_back(evaluate_split(sc, layout_stages({inst.source->num_blocks()}, 1)));
    }
    const int n = static_cast<int>(in.size());
    if (n == 0) continue;
    std::vector<dp::SingleStageResult> out(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n), -1);
    std::vector<int> index(static_cast<std::size_t>(n), -1);
    const std::vector<double> bounds(static_cast<std::size_t>(n), HUGE_VAL);
    kernels::emulate_grid(dp::single_stage_grid(n), [&](const kernels::ThreadIndex& t) {
      dp::single_stage_thread(t, in.data(), n, bounds.data(), out.data(), keys.data(), index.data());
    });
    for (int x = 0; x < n; ++x) {
      const SplitEval& e = eval[static_cast<std::size_t>(x)];
      const bool fits = e.stages.front().memory <= in[static_cast<std::size_t>(x)].ctx.memory_capacity;
      EXPECT_EQ(index[static_cast<std::size_t>(x)], x);
      EXPECT_EQ(out[static_cast<std::size_t>(x)].status == 1, fits) << inst.description;
      if (fits) {
        EXPECT_EQ(out[static_cast<std::size_t>(x)].objective, e.step_time) << inst.description;  // same sums, same formulas
      }
      fitting += fits;
      ++compared;
    }
    const auto emulated = dp::first_solved(out, dp::batch_sorted_order(keys), 3);
    std::vector<int> through_cpu;
    for (const auto& f : cpu->solve_single_stage(in, dp::Segments::one(in.size(), HUGE_VAL, 3), nullptr))
      through_cpu.push_back(f.input);
    EXPECT_EQ(through_cpu, emulated) << inst.description;
  }
  std::printf("single stage: %d slices compared, %d fit\n", compared, fitting);
  EXPECT_GT(compared, 100);
  EXPECT_GT(fitting, 20);
}

// The emulator runs every thread of the launch, including those past a slice's cells or past
// the last slice: a body that forgot its bounds check would write another slice's workspace.
TEST(EmulatedCudaBackend, LaunchShapesCoverEveryCellAndSliceOnce) {
  std::mt19937 rng(99);
  const test::RandomInstance inst = test::random_mixed_levels(rng, 8300);
  const auto in = test::pipelined_uniform_inputs(inst);
  ASSERT_FALSE(in.empty());
  const int n = static_cast<int>(in.size());
  const dp::UniformBatchLayout layout = dp::uniform_batch_layout(in.data(), n);
  std::vector<int> cell_hits(static_cast<std::size_t>(layout.cells), 0), slice_hits(static_cast<std::size_t>(n), 0);
  std::vector<long long> first_cell(static_cast<std::size_t>(n), 0);
  for (int x = 1; x < n; ++x)
    first_cell[static_cast<std::size_t>(x)] =
        first_cell[static_cast<std::size_t>(x - 1)] + dp::uniform_cells(dp::uniform_units(in[static_cast<std::size_t>(x - 1)]));
  kernels::emulate_grid(dp::uniform_fill_grid(layout, n), [&](const kernels::ThreadIndex& t) {
    const int slice = static_cast<int>(t.block.y);
    const int cell = kernels::item_x(t);
    if (cell < dp::uniform_cells(dp::uniform_units(in[static_cast<std::size_t>(slice)])))
      ++cell_hits[static_cast<std::size_t>(first_cell[static_cast<std::size_t>(slice)] + cell)];
  });
  kernels::emulate_grid(dp::uniform_solve_grid(n), [&](const kernels::ThreadIndex& t) {
    const int slice = kernels::item_x(t);
    if (slice < n) ++slice_hits[static_cast<std::size_t>(slice)];
  });
  for (int h : cell_hits) EXPECT_EQ(h, 1);
  for (int h : slice_hits) EXPECT_EQ(h, 1);
  // Workspaces do not overlap: each slice's region ends where the next begins.
  for (int x = 0; x + 1 < n; ++x) {
    const auto& a = layout.offsets[static_cast<std::size_t>(x)];
    const auto& b = layout.offsets[static_cast<std::size_t>(x + 1)];
    EXPECT_EQ(b.d - a.d, dp::uniform_workspace_doubles(in[static_cast<std::size_t>(x)]));
    EXPECT_EQ(b.split - a.split, in[static_cast<std::size_t>(x)].ctx.p);
  }
}

// The batches solved one thread per input (dp/thread_batch.hpp): every input one thread, every
// thread past the last input nothing, and each input's workspace and answer where the previous
// one's end, of the sizes its kind asks (general inputs of a random instance; 0 inputs too).
TEST(EmulatedCudaBackend, ThreadBatchesGiveEveryInputOneThreadAndItsOwnWorkspace) {
  std::mt19937 rng(98);
  const dp::GeneralBatch b = general_batch_of(test::random_mixed_levels(rng, 8310));
  ASSERT_GT(b.inputs.size(), 1u);
  for (const int n : {0, 1, static_cast<int>(b.inputs.size())}) {
    const dp::ThreadBatchLayout l =
        dp::thread_batch_layout(b.inputs.data(), n, dp::general_workspace_doubles, dp::general_workspace_ints);
    std::vector<int> hits(static_cast<std::size_t>(n), 0);
    kernels::emulate_grid(dp::thread_batch_grid(n), [&](const kernels::ThreadIndex& t) {
      const int x = kernels::item_x(t);
      if (x < n) ++hits[static_cast<std::size_t>(x)];
    });
    for (int h : hits) EXPECT_EQ(h, 1) << n;
    long long d = 0, i = 0, answer = 0;
    for (int x = 0; x < n; ++x) {
      const dp::GeneralSliceInput& in = b.inputs[static_cast<std::size_t>(x)];
      const dp::ThreadOffsets& o = l.offsets[static_cast<std::size_t>(x)];
      EXPECT_EQ(o.d, d);
      EXPECT_EQ(o.i, i);
      EXPECT_EQ(o.answer, answer);
      d += dp::general_workspace_doubles(in);
      i += dp::general_workspace_ints(in);
      answer += in.p;
    }
    EXPECT_EQ(l.doubles, d);
    EXPECT_EQ(l.ints, i);
    EXPECT_EQ(l.answers, answer);
  }
}

// ---- Several searches in one call (dp::Segments) -------------------------------------------------

// A call of several segments (the searches nest sweep --points-per-launch gathers), each with
// its own bound and top K, cut into parts of `part` inputs as the CUDA backend cuts a call under
// its memory budget, run as the CUDA backend runs it: the kernel bodies through the emulator with
// each input's own bound, each part's keys sorted within its segments (segment_sorted_order, the
// order of CUB's segmented stable sort), selected per segment, the parts merged (merge_parts).
template <class Kind>
std::vector<typename Kind::Found> emulate_segmented(const typename Kind::Batch& b, const dp::Segments& seg, int part) {
  std::vector<typename Kind::Found> found;
  const std::vector<double> bounds = seg.input_bounds();
  for (int start = 0; start < seg.inputs(); start += part) {
    const int n = std::min(part, seg.inputs() - start);
    const dp::CallPart cp = dp::call_part(seg, start, n);
    typename Kind::Batch pb;  // the part's inputs; their tables stay where they are
    pb.inputs.assign(b.inputs.begin() + start, b.inputs.begin() + start + n);
    pb.d = b.d;
    pb.i = b.i;
    const dp::ThreadBatchLayout layout = Kind::layout(pb);
    std::vector<double> wd(static_cast<std::size_t>(layout.doubles), std::numeric_limits<double>::quiet_NaN());
    std::vector<int> wi(static_cast<std::size_t>(std::max<long long>(layout.ints, 1)), -123456789);
    std::vector<int> answer(static_cast<std::size_t>(layout.answers), -1);
    std::vector<typename Kind::Result> out(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n), -1);
    std::vector<int> index(static_cast<std::size_t>(n), -1);
    kernels::emulate_grid(dp::thread_batch_grid(n), [&](const kernels::ThreadIndex& t) {
      Kind::thread(t, pb, layout, bounds.data() + start, wd.data(), wi.data(), answer.data(), out.data(), keys.data(),
                   index.data());
    });
    for (int x = 0; x < n; ++x) EXPECT_EQ(index[static_cast<std::size_t>(x)], x) << "an input no thread solved";
    for (const int x :
         dp::select_per_segment(out, dp::segment_sorted_order(keys, cp.seg), cp.seg, dp::first_solved<typename Kind::Result>)) {
      typename Kind::Found f;
      f.input = start + x;
      f.result = out[static_cast<std::size_t>(x)];
      const auto first = answer.begin() + layout.offsets[static_cast<std::size_t>(x)].answer;
      Kind::answer(f).assign(first, first + pb.inputs[static_cast<std::size_t>(x)].p);
      found.push_back(std::move(f));
    }
  }
  return dp::merge_parts(std::move(found), seg, [](const typename Kind::Found& f) { return f.result.objective; });
}

// The same for the uniform DP's two launches.
std::vector<dp::UniformFound> emulate_segmented_uniform(const std::vector<dp::UniformSliceInput>& in, const dp::Segments& seg,
                                                        int part) {
  std::vector<dp::UniformFound> found;
  const std::vector<double> bounds = seg.input_bounds();
  for (int start = 0; start < seg.inputs(); start += part) {
    const int n = std::min(part, seg.inputs() - start);
    const dp::CallPart cp = dp::call_part(seg, start, n);
    const dp::UniformSliceInput* pin = in.data() + start;
    const dp::UniformBatchLayout layout = dp::uniform_batch_layout(pin, n);
    std::vector<double> wd(static_cast<std::size_t>(layout.doubles), std::numeric_limits<double>::quiet_NaN());
    std::vector<int> wi(static_cast<std::size_t>(std::max<long long>(layout.ints, 1)), -123456789);
    std::vector<long long> wl(static_cast<std::size_t>(layout.lls), -123456789);
    std::vector<int> split(static_cast<std::size_t>(layout.splits), -1);
    std::vector<dp::UniformResult> out(static_cast<std::size_t>(n));
    std::vector<double> keys(static_cast<std::size_t>(n), -1);
    std::vector<int> index(static_cast<std::size_t>(n), -1);
    kernels::emulate_grid(dp::uniform_fill_grid(layout, n), [&](const kernels::ThreadIndex& t) {
      dp::uniform_fill_thread(t, pin, layout.offsets.data(), wd.data());
    });
    kernels::emulate_grid(dp::uniform_solve_grid(n), [&](const kernels::ThreadIndex& t) {
      dp::uniform_solve_thread(t, pin, layout.offsets.data(), n, bounds.data() + start, wd.data(), wi.data(), wl.data(),
                               split.data(), out.data(), keys.data(), index.data());
    });
    for (int x = 0; x < n; ++x) EXPECT_EQ(index[static_cast<std::size_t>(x)], x) << "a slice no thread solved";
    for (const int x : dp::select_per_segment(out, dp::segment_sorted_order(keys, cp.seg), cp.seg, dp::uniform_taken)) {
      dp::UniformFound f;
      f.input = start + x;
      f.result = out[static_cast<std::size_t>(x)];
      const auto first = split.begin() + layout.offsets[static_cast<std::size_t>(x)].split;
      f.units.assign(static_cast<std::size_t>(pin[x].ctx.p), 0);
      if (f.result.status == 1) f.units.assign(first, first + pin[x].ctx.p);
      found.push_back(std::move(f));
    }
  }
  return dp::merge_parts(std::move(found), seg,
                         [](const dp::UniformFound& f) { return dp::result_key(f.result.status, f.result.objective); });
}

// Each segment's solo call on the CPU backend (Segments::one on its own inputs), its inputs
// moved to where they lie in the call: what the call must return for it, segment after segment.
template <class Found, class Solo>
std::vector<Found> each_alone(const dp::Segments& seg, Solo solo, std::vector<long long>* cells) {
  std::vector<Found> out;
  for (int s = 0; s < seg.count(); ++s) {
    const int a = seg.starts[static_cast<std::size_t>(s)], b = seg.starts[static_cast<std::size_t>(s) + 1];
    dp::BackendStats st;
    for (Found f : solo(a, b,
                        dp::Segments::one(static_cast<std::size_t>(b - a), seg.bounds[static_cast<std::size_t>(s)],
                                          seg.top_k[static_cast<std::size_t>(s)]),
                        &st)) {
      f.input += a;
      out.push_back(std::move(f));
    }
    cells->push_back(st.cells);
  }
  return out;
}

template <class Found, class Same>
int expect_same_found(const std::vector<Found>& got, const std::vector<Found>& want, Same same_result, const std::string& what) {
  std::vector<int> gi, wi;
  for (const auto& f : got) gi.push_back(f.input);
  for (const auto& f : want) wi.push_back(f.input);
  EXPECT_EQ(gi, wi) << what;
  if (gi != wi) return 0;
  for (std::size_t x = 0; x < got.size(); ++x) same_result(got[x], want[x], what + " input " + std::to_string(got[x].input));
  return static_cast<int>(got.size());
}

// Segments for `sizes` inputs each (an empty one among them): a bound at the median objective
// of the segment's solved inputs or none, and a top K of 1, 2, 3 or all, drawn.
dp::Segments draw_segments(std::mt19937& rng, const std::vector<int>& sizes, const std::vector<std::vector<double>>& objectives) {
  dp::Segments seg;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    std::vector<double> obj = objectives[s];
    double bound = HUGE_VAL;
    if (!obj.empty() && rng() % 2 == 0) {
      std::nth_element(obj.begin(), obj.begin() + static_cast<long>(obj.size() / 2), obj.end());
      bound = obj[obj.size() / 2];
    }
    const int ks[] = {1, 2, 3, std::max(1, sizes[s])};
    seg.add(static_cast<std::size_t>(sizes[s]), bound, ks[rng() % 4]);
  }
  return seg;
}

// Calls of several segments on the CPU backend, through the emulated kernels (whole and cut
// into parts) and on each of `devices`, against each segment's own call on the CPU backend.
void check_segments(const std::vector<dp::DpBackend*>& devices) {
  std::mt19937 rng(4242);
  const auto cpu = kernels::cpu::make_dp_backend(2);
  int uniform = 0, general = 0, interleaved = 0, calls = 0;
  for (int round = 0; round < 6; ++round) {
    // Uniform: the inputs of three random instances and an empty segment, one call.
    std::vector<dp::UniformSliceInput> in;
    std::vector<int> sizes;
    std::vector<std::vector<double>> objectives;
    for (int k = 0; k < 4; ++k) {
      std::vector<dp::UniformSliceInput> part;
      if (k != 1) part = test::pipelined_uniform_inputs(test::random_mixed_levels(rng, 9100 + 4 * round + k));
      sizes.push_back(static_cast<int>(part.size()));
      objectives.emplace_back();
      for (const auto& x : part) {
        const test::CpuUniformSlice c = test::cpu_uniform_slice(x, HUGE_VAL);
        if (c.result.status == 1) objectives.back().push_back(c.result.objective);
      }
      in.insert(in.end(), part.begin(), part.end());
    }
    const dp::Segments seg = draw_segments(rng, sizes, objectives);
    std::vector<long long> alone_cells;
    const auto want = each_alone<dp::UniformFound>(
        seg,
        [&](int a, int b, const dp::Segments& one, dp::BackendStats* st) {
          return cpu->solve_uniform(std::vector<dp::UniformSliceInput>(in.begin() + a, in.begin() + b), one, st);
        },
        &alone_cells);
    auto same = [](const dp::UniformFound& g, const dp::UniformFound& w, const std::string& what) {
      EXPECT_EQ(g.result.status, w.result.status) << what;
      EXPECT_EQ(g.result.objective, w.result.objective) << what;  // exact equality
      EXPECT_EQ(g.result.checks, w.result.checks) << what;
      if (w.result.status == 1) {
        EXPECT_EQ(g.units, w.units) << what;
      }
    };
    dp::BackendStats st;
    uniform += expect_same_found(cpu->solve_uniform(in, seg, &st), want, same, "cpu backend, uniform");
    EXPECT_EQ(st.segment_cells, alone_cells);
    for (const int part : {1, 7, 1 << 20})
      uniform += expect_same_found(emulate_segmented_uniform(in, seg, part), want, same,
                                   "emulated, uniform, parts of " + std::to_string(part));
    for (dp::DpBackend* device : devices) {
      dp::BackendStats dst;
      uniform += expect_same_found(device->solve_uniform(in, seg, &dst), want, same, "device, uniform");
      EXPECT_EQ(dst.segment_cells, alone_cells);
    }
    calls += 4;

    // General and interleaved: batches of stacks of differing blocks, laid end to end.
    auto tabled = [&](auto kind, auto batch_of, auto instance, int* compared) {
      using Kind = decltype(kind);
      typename Kind::Batch b;
      std::vector<int> tsizes;
      std::vector<std::vector<double>> tobj;
      for (int k = 0; k < 3; ++k) {
        const test::RandomInstance inst = instance(9300 + 3 * round + k);
        typename Kind::Batch one;
        if (!inst.source->uniform_blocks()) one = batch_of(inst);
        tsizes.push_back(static_cast<int>(one.inputs.size()));
        tobj.emplace_back();
        for (std::size_t x = 0; x < one.inputs.size(); ++x) {
          std::vector<int> ans(static_cast<std::size_t>(one.inputs[x].p));
          const auto r = Kind::solve_one(one, x, HUGE_VAL, ans.data());
          if (r.status == 1) tobj.back().push_back(r.objective);
        }
        dp::append_batch(b, one);
      }
      const dp::Segments tseg = draw_segments(rng, tsizes, tobj);
      std::vector<long long> cells_alone;
      const auto twant = each_alone<typename Kind::Found>(
          tseg,
          [&](int a, int c, const dp::Segments& one, dp::BackendStats* st2) {
            typename Kind::Batch sub;
            sub.inputs.assign(b.inputs.begin() + a, b.inputs.begin() + c);
            sub.d = b.d;
            sub.i = b.i;
            return Kind::solve_segments(*cpu, sub, one, st2);
          },
          &cells_alone);
      auto tsame = [](const typename Kind::Found& g, const typename Kind::Found& w, const std::string& what) {
        EXPECT_EQ(g.result.status, w.result.status) << what;
        Kind::expect_same(g.result, w.result, what);
        EXPECT_EQ(Kind::answer(g), Kind::answer(w)) << what;
      };
      dp::BackendStats tst;
      *compared += expect_same_found(Kind::solve_segments(*cpu, b, tseg, &tst), twant, tsame, "cpu backend, tabled");
      EXPECT_EQ(tst.segment_cells, cells_alone);
      for (const int part : {1, 5, 1 << 20})
        *compared += expect_same_found(emulate_segmented<Kind>(b, tseg, part), twant, tsame,
                                       "emulated, tabled, parts of " + std::to_string(part));
      for (dp::DpBackend* device : devices) {
        dp::BackendStats dst;
        *compared += expect_same_found(Kind::solve_segments(*device, b, tseg, &dst), twant, tsame, "device, tabled");
        EXPECT_EQ(dst.segment_cells, cells_alone);
      }
      calls += 4;
    };
    tabled(
        GeneralTestKind{}, general_batch_of, [&](int id) { return test::random_tabulated(rng, id); }, &general);
    tabled(
        InterleavedTestKind{}, interleaved_batch_of, [&](int id) { return test::random_large_analytic(rng, id); }, &interleaved);
  }
  std::printf("segments: %d calls; uniform %d, general %d, interleaved %d results compared\n", calls, uniform, general,
              interleaved);
  EXPECT_GT(uniform, 300);
  EXPECT_GT(general, 50);
  EXPECT_GT(interleaved, 50);
}

TEST(EmulatedCudaBackend, SegmentsOfSeveralSearchesEachGetWhatTheirOwnCallGets) { check_segments({}); }

// pp = 1 slices: a call of several segments through the CPU backend, each segment as alone.
TEST(CpuBackend, SingleStageSegmentsEachGetWhatTheirOwnCallGets) {
  std::mt19937 rng(4343);
  const auto cpu = kernels::cpu::make_dp_backend(2);
  int compared = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<dp::SingleStageInput> in;
    std::vector<int> sizes;
    std::vector<std::vector<double>> objectives;
    for (int k = 0; k < 3; ++k) {
      const test::RandomInstance inst = test::random_mixed_levels(rng, 9500 + 3 * round + k);
      const SearchSpace space = enumerate_slices(*inst.source, inst.space, 1);
      int added = 0;
      objectives.emplace_back();
      for (const SliceSpec& spec : space.slices) {
        if (spec.par.pp != 1) continue;
        const SliceCosts sc = inst.source->slice_costs(spec.par, space.placements[static_cast<std::size_t>(spec.placement)]);
        dp::SingleStageInput x;
        x.ctx = sc.ctx;
        for (const auto& l : sc.layers) kernels::accumulate(x.sums, l.cost);
        const dp::SingleStageResult r = dp::single_stage_solve(x, HUGE_VAL);
        if (r.status == 1) objectives.back().push_back(r.objective);
        in.push_back(x);
        ++added;
      }
      sizes.push_back(added);
    }
    const dp::Segments seg = draw_segments(rng, sizes, objectives);
    std::vector<long long> cells;
    const auto want = each_alone<dp::SingleStageFound>(
        seg,
        [&](int a, int b, const dp::Segments& one, dp::BackendStats* st) {
          return cpu->solve_single_stage(std::vector<dp::SingleStageInput>(in.begin() + a, in.begin() + b), one, st);
        },
        &cells);
    compared += expect_same_found(
        cpu->solve_single_stage(in, seg, nullptr), want,
        [](const dp::SingleStageFound& g, const dp::SingleStageFound& w, const std::string& what) {
          EXPECT_EQ(g.result.objective, w.result.objective) << what;
        },
        "single stage");
  }
  EXPECT_GT(compared, 20);
}

// A call whose segments do not cover its inputs is a driver's bug: refused, not half-solved.
TEST(CpuBackend, SegmentsThatDoNotCoverTheCallAreRefused) {
  const auto cpu = kernels::cpu::make_dp_backend(1);
  const std::vector<dp::SingleStageInput> in(3);
  EXPECT_THROW((void)cpu->solve_single_stage(in, dp::Segments::one(2, HUGE_VAL, 1), nullptr), Error);
  dp::Segments two = dp::Segments::one(1, HUGE_VAL, 1);
  two.add(2, HUGE_VAL, 1);
  EXPECT_NO_THROW((void)cpu->solve_single_stage(in, two, nullptr));
  EXPECT_THROW((void)cpu->solve_uniform({}, dp::Segments::one(1, HUGE_VAL, 1), nullptr), Error);
}

#ifdef NEST_HAVE_CUDA_BACKEND
// On the device: CUB's segmented sort and the parts the memory budget cuts a call into (a
// budget of 256 KiB cuts these calls into many).
TEST(EmulatedCudaBackend, SegmentsOnTheDevice) {
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (!dev.usable) GTEST_SKIP() << "no usable CUDA device: " << dev.error;
  const auto whole = kernels::cuda::make_dp_backend(dev.name, 0);
  const auto parts = kernels::cuda::make_dp_backend(dev.name, 256 * 1024);
  check_segments({whole.get(), parts.get()});
}

TEST(EmulatedCudaBackend, TheSameChecksOnTheDevice) {
  const kernels::cuda::DeviceInfo dev = kernels::cuda::query_device();
  if (!dev.usable) GTEST_SKIP() << "no usable CUDA device: " << dev.error;
  int compared = 0, batches = 0;
  check_family(device_batch, &compared, &batches);
  EXPECT_GT(compared, 500);
  const auto backend = kernels::cuda::make_dp_backend(dev.name, 0);
  int general = 0, general_batches = 0;
  check_general_family(
      [&](const dp::GeneralBatch& b, double bound, int k) { return backend_batch<GeneralTestKind>(*backend, b, bound, k); },
      &general, &general_batches);
  EXPECT_GT(general, 200);
  int interleaved = 0, interleaved_batches = 0;
  check_interleaved_family([&](const dp::InterleavedBatch& b, double bound,
                               int k) { return backend_batch<InterleavedTestKind>(*backend, b, bound, k); },
                           &interleaved, &interleaved_batches);
  EXPECT_GT(interleaved, 200);
}
#endif

}  // namespace
}  // namespace nest
