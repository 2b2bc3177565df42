// How long `nest trace` takes and how large its file is (issue 14's figure: llama3-405b on
// 16,384 GPUs, pp 16, interleaved, under 20 MB and under 1 s). Each iteration does what the
// command does after reading the plan file: the evaluator's pieces, the step's schedule and the
// trace-event JSON. Counters: the trace's size, its events and the process's peak memory.
// docs/visuals.md §6 records the figures.
#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>

#include "bench_support.hpp"
#include "nest/report/trace.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/planner.hpp"

namespace nest {
namespace {

// Llama 3's own 405B layout on 16K H100s (Llama 3 paper, table 4: TP 8, CP 1, PP 16, DP 128,
// 16M tokens per batch = 2048 sequences of 8192), interleaved: the rest (virtual stages, layer
// split, recomputation, ...) as `nest plan --tp 8 --pp 16 --cp 1 --schedule interleaved` picks it.
constexpr long kGpus = 16384, kBatch = 2048, kSeq = 8192;

Plan llama3_405b_plan(const CostSource& src) {
  PlannerOptions o;
  o.space.tp = {8};
  o.space.pp = {16};
  o.space.cp = {1};
  o.space.schedule = {Schedule::Interleaved};
  o.top_k = 1;
  const SearchResult r = search_plans(src, o);
  if (r.top.empty()) throw std::runtime_error("no feasible llama3-405b plan with tp 8, pp 16, interleaved");
  return r.top.front().plan;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

void BM_TraceLlama3_405b(benchmark::State& state) {
  const Problem problem = bench::preset_problem("llama3-405b", "dgx-h100", kGpus, kBatch, kSeq);
  const AnalyticCostSource src(problem);
  const Plan plan = llama3_405b_plan(src);
  std::string json;
  for (auto _ : state) {
    const PlanPieces pieces = plan_pieces(src, plan);
    json = trace_json(problem, pieces, schedule_step(pieces), TraceInfo{"llama3-405b", "dgx-h100"});
    benchmark::DoNotOptimize(json.data());
  }
  state.counters["virtual_stages"] = plan.par.virtual_stages;
  state.counters["trace_MB"] = static_cast<double>(json.size()) / 1e6;
  state.counters["events"] = static_cast<double>(count(json, "\"ph\":"));
  state.counters["peak_rss_MB"] = bench::peak_rss_mb();
}

BENCHMARK(BM_TraceLlama3_405b)->Unit(benchmark::kMillisecond)->MinTime(0.5);

}  // namespace
}  // namespace nest

BENCHMARK_MAIN();
