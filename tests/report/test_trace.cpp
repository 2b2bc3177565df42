// nest trace: the step's schedule against the evaluator, the trace-event format's rules, and
// the checked-in reference trace.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <tuple>
#include <random>

#include "nest/evaluate/evaluator.hpp"
#include "nest/framework/framework.hpp"
#include "nest/kernels/pipeline.hpp"
#include "nest/report/trace.hpp"
#include "nest/search/cost_source.hpp"
#include "support/test_support.hpp"
#include "support/trace_check.hpp"

namespace nest {
namespace {

struct Case {
  std::string name, model;
  long gpus, batch, seq;
  int tp, pp, cp, ep, mb, zero, v;
  bool sp = false;
  FrameworkKind framework = FrameworkKind::Megatron;
  std::vector<int> blocks = {};
  bool offload_activations = false, offload_optimizer = false;
  Recompute recompute = Recompute::None;
};

std::vector<Case> cases() {
  return {
      {"1f1b", "llama3-8b", 16, 32, 4096, 2, 4, 1, 1, 1, 1, 1},
      {"interleaved", "llama3-8b", 16, 32, 4096, 2, 4, 1, 1, 1, 1, 2},
      {"interleaved v4 sp", "llama3-8b", 16, 32, 4096, 8, 2, 1, 1, 1, 1, 4, true},
      {"uneven 1f1b", "llama3-8b", 16, 32, 4096, 2, 4, 1, 1, 1, 1, 1, false, FrameworkKind::Megatron, {6, 12, 8, 6}},
      {"no pipeline, fsdp", "llama3-8b", 16, 32, 4096, 2, 1, 1, 1, 2, 3, 1, true, FrameworkKind::Torchtitan},
      {"context parallel", "llama3-8b", 16, 16, 8192, 2, 2, 2, 1, 1, 1, 1, true},
      {"experts", "mixtral-8x7b", 64, 64, 4096, 2, 2, 1, 4, 1, 1, 1, true},
      {"full recompute",
       "llama3-8b",
       16,
       32,
       4096,
       2,
       4,
       1,
       1,
       1,
       1,
       1,
       false,
       FrameworkKind::Megatron,
       {},
       false,
       false,
       Recompute::Full},
      {"offload", "llama3-8b", 16, 32, 4096, 2, 1, 1, 1, 1, 1, 1, true, FrameworkKind::Megatron, {}, true, true},
  };
}

struct Built {
  Problem problem;
  Plan plan;
};

Built build(const Case& c) {
  Built b;
  b.problem = test::preset_problem(c.model, "dgx-h100", c.gpus, c.batch, c.seq);
  b.problem.options.framework = c.framework;
  Parallelism& p = b.plan.par;
  p.tp = c.tp;
  p.pp = c.pp;
  p.cp = c.cp;
  p.ep = c.ep;
  p.sp = c.sp;
  p.dp = static_cast<int>(c.gpus / (c.tp * c.pp * c.cp));
  p.microbatch = c.mb;
  p.num_microbatches = static_cast<int>(c.batch / (p.dp * c.mb));
  p.zero = c.zero;
  p.recompute = c.recompute;
  p.schedule = c.v > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
  p.virtual_stages = c.v;
  p.offload_activations = c.offload_activations;
  p.offload_optimizer = c.offload_optimizer;
  choose_overlaps(b.problem, p, b.plan.order, {}, {}, {}, {});
  b.plan.blocks_per_stage = c.blocks.empty() ? even_split(static_cast<int>(b.problem.model.layers), c.pp, c.v) : c.blocks;
  return b;
}

// Sum of the X durations of one process, receives excluded (the sender pays them), in ns.
std::map<long long, long long> busy_ns(const Json& trace) {
  std::map<long long, long long> busy;
  for (const Json& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["cat"] != "pp_recv") busy[e["pid"].get<long long>()] += test::trace_ns(e["dur"].get<double>());
  return busy;
}

TEST(Trace, FollowsTheEvaluatorAndTheFormat) {
  int waited_transits = 0;  // dependencies on a send with an unhidden part (Megatron's interleaved cases)
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Built b = build(c);
    ASSERT_TRUE(check_plan(b.problem, b.plan).empty()) << check_plan(b.problem, b.plan).front();
    const AnalyticCostSource src(b.problem);
    const PlanPieces pc = plan_pieces(src, b.plan);
    const Prediction& pr = pc.prediction;
    ASSERT_TRUE(pr.evaluated);
    // The pieces are the evaluator's: the same stage times and step time as evaluate_plan.
    const Prediction direct = evaluate_plan(b.problem, b.plan);
    EXPECT_EQ(pc.split.step_time, direct.step_time);
    for (std::size_t i = 0; i < pr.stages.size(); ++i) EXPECT_EQ(pc.split.stages[i].time, direct.stages[i].time);

    const StepSchedule sched = schedule_step(pc);
    EXPECT_EQ(sched.step_time, pr.step_time);
    const int p = b.plan.par.pp, m = b.plan.par.num_microbatches;
    const int v = b.plan.par.schedule == Schedule::Interleaved ? b.plan.par.virtual_stages : 1;
    double pipeline_end = 0;
    for (int i = 0; i < p; ++i) {
      const auto& passes = sched.stages[static_cast<std::size_t>(i)];
      const auto order = schedule_order(p, v, m, i);
      ASSERT_EQ(passes.size(), order.size());
      double busy = 0, prev_end = 0;
      for (std::size_t x = 0; x < passes.size(); ++x) {
        EXPECT_EQ(passes[x].pass.forward, order[x].forward);
        EXPECT_EQ(passes[x].pass.chunk, order[x].chunk);
        EXPECT_EQ(passes[x].pass.microbatch, order[x].microbatch);
        EXPECT_GE(passes[x].start, prev_end);  // one pass at a time
        prev_end = passes[x].end;
        busy += passes[x].end - passes[x].start;
      }
      pipeline_end = std::max(pipeline_end, prev_end);
      // m times the stage's time per microbatch
      EXPECT_NEAR(busy, m * pc.stage_time(i), 1e-12 * m * pc.stage_time(i));
    }
    EXPECT_NEAR(pipeline_end, pc.split.pipeline_time, 1e-12 * pc.split.pipeline_time);
    // A pass starts once its input has arrived: the pass before it in the model has ended and
    // that pass's send has covered what it did not hide (its transit), less the compressed
    // replay's lead.
    std::map<std::tuple<bool, int, int>, std::pair<const TimedPass*, double>> produced;
    for (int i = 0; i < p; ++i)
      for (const TimedPass& t : sched.stages[static_cast<std::size_t>(i)]) {
        const ChunkDetail& cd = pc.detail[static_cast<std::size_t>(i)].chunks[static_cast<std::size_t>(t.pass.chunk)];
        produced[{t.pass.forward, t.pass.chunk * p + i, t.pass.microbatch}] = {
            &t, t.pass.forward ? cd.fwd.send_transit : cd.bwd.send_transit};
      }
    const double lead = sched.pacing == Pacing::Compressed ? sched.lead : 0;
    for (const auto& [key, made] : produced) {
      const auto [fwd, k, j] = key;
      const int n = fwd ? k - 1 : k + 1;
      if (n < 0 || n >= p * v) continue;
      const auto& [dep, transit] = produced.at({fwd, n, j});
      EXPECT_GE(made.first->start, dep->end + transit - lead - 1e-12 * pc.split.pipeline_time);
      waited_transits += transit > 0;
    }

    const std::string text = trace_json(b.problem, pc, sched, TraceInfo{c.model, "dgx-h100"});
    const Json trace = parse_json(text, c.name);
    const auto problems = test::trace_format_problems(trace);
    EXPECT_TRUE(problems.empty()) << problems.front();
    // The last event ends at the step time (Perfetto's nanoseconds); each stage is busy m times
    // its time per microbatch plus its tail (one nanosecond of rounding per event at most).
    long long last = 0;
    std::map<long long, long long> events;
    for (const Json& e : trace["traceEvents"])
      if (e["ph"] == "X") {
        last = std::max(last, test::trace_ns(e["ts"].get<double>()) + test::trace_ns(e["dur"].get<double>()));
        ++events[e["pid"].get<long long>()];
      }
    EXPECT_EQ(last, std::llround(pr.step_time * 1e9));
    const auto busy = busy_ns(trace);
    for (int i = 0; i < p; ++i) {
      const double expected = m * pc.stage_time(i) + pc.split.stages[static_cast<std::size_t>(i)].tail;
      EXPECT_NEAR(static_cast<double>(busy.at(i + 1)) * 1e-9, expected, static_cast<double>(events.at(i + 1)) * 1e-9)
          << "stage " << i;
    }
    EXPECT_EQ(trace["otherData"]["pacing"], to_string(sched.pacing));
  }
  EXPECT_GT(waited_transits, 0) << "no overlapped send was exercised";
}

TEST(Trace, ComputeEventsFollowTheSchedule) {
  const Built b = build(cases()[1]);  // interleaved
  const AnalyticCostSource src(b.problem);
  const PlanPieces pc = plan_pieces(src, b.plan);
  const Json trace = parse_json(trace_json(b.problem, pc, schedule_step(pc), {}), "trace");
  for (int i = 0; i < b.plan.par.pp; ++i) {
    std::vector<std::pair<long long, const Json*>> compute;
    for (const Json& e : trace["traceEvents"])
      if (e["ph"] == "X" && e["pid"] == i + 1 && e["cat"] == "compute") compute.emplace_back(test::trace_ns(e["ts"]), &e);
    std::sort(compute.begin(), compute.end(), [](auto& x, auto& y) { return x.first < y.first; });
    const auto order = schedule_order(b.plan.par.pp, 2, b.plan.par.num_microbatches, i);
    ASSERT_EQ(compute.size(), order.size());
    for (std::size_t x = 0; x < order.size(); ++x) {
      const Json& args = (*compute[x].second)["args"];
      EXPECT_EQ(args["pass"], order[x].forward ? "forward" : "backward");
      EXPECT_EQ(args["chunk"], order[x].chunk);
      EXPECT_EQ(args["microbatch"], order[x].microbatch);
      EXPECT_GT(args["flop"].get<double>(), 0);
    }
  }
}

// The step-end events say into how many collectives Megatron cut the first stage's reduction and
// gather (docs/cost-model.md §6: each bucket its own latency); the other stages are not cut.
TEST(Trace, StepEndEventsCountTheFirstStagesBuckets) {
  const Built b = build(cases()[0]);  // 1F1B, ZeRO-1, the overlaps on: 40M-parameter buckets
  const AnalyticCostSource src(b.problem);
  const PlanPieces pc = plan_pieces(src, b.plan);
  const int first = pc.detail.front().sync.buckets;
  EXPECT_EQ(first, static_cast<int>(std::ceil(pc.split.stages.front().sums.dp_reduce_bytes / pc.costs.ctx.grad_bucket_bytes)));
  EXPECT_GT(first, 1);
  const Json trace = parse_json(trace_json(b.problem, pc, schedule_step(pc), {}), "trace");
  int seen = 0;
  for (const Json& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["cat"] == "dp_sync") {
      EXPECT_EQ(e["args"]["buckets"].get<int>(), e["pid"] == 1 ? first : 0) << e["name"] << " on stage " << e["pid"];
      ++seen;
    }
  EXPECT_EQ(seen, 2 * b.plan.par.pp);  // a reduce-scatter and an all-gather per stage
}

// Random pipelines: the drawn schedule ends at the closed form's pipeline time, keeps every
// dependency unless the closed form is shorter than any replay (Compressed), and then starts no
// pass more than `lead` early.
TEST(Trace, ScheduleMeetsTheClosedFormOnRandomPipelines) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.5, 2.0);
  int exact = 0, paced = 0, compressed = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int p = 1 + static_cast<int>(rng() % 6);
    const int v = p >= 2 && rng() % 2 ? 2 + static_cast<int>(rng() % 3) : 1;
    const int m = v > 1 ? p * (1 + static_cast<int>(rng() % 3)) : 1 + static_cast<int>(rng() % 10);
    PlanPieces pc;
    pc.costs.ctx.p = p;
    pc.costs.ctx.v = v;
    pc.costs.ctx.m = m;
    const bool uniform = trial % 5 == 0;
    pc.detail.resize(static_cast<std::size_t>(p));
    pc.split.stages.resize(static_cast<std::size_t>(p));
    double S = 0, B = 0;
    for (int i = 0; i < p; ++i) {
      double t = 0;
      for (int c = 0; c < v; ++c) {
        ChunkDetail cd;
        cd.fwd.time = uniform ? 1.0 : u(rng);
        cd.bwd.time = uniform ? 2.0 : cd.fwd.time * (1 + u(rng));
        cd.fwd.send = (c * p + i < p * v - 1) ? 0.01 : 0;
        cd.bwd.send = (c * p + i > 0) ? 0.01 : 0;
        if (uniform) cd.fwd.send = cd.bwd.send = 0;
        t += cd.fwd.time + cd.bwd.time + cd.fwd.send + cd.bwd.send;
        pc.detail[static_cast<std::size_t>(i)].chunks.push_back(cd);
      }
      pc.split.stages[static_cast<std::size_t>(i)].time = t;
      S += t;
      if (t > B) {
        B = t;
        pc.split.bottleneck = i;
      }
    }
    pc.split.pipeline_time = kernels::pipeline_time(S, B, m, v);
    pc.split.step_time = pc.split.pipeline_time;
    const StepSchedule s = schedule_step(pc);
    SCOPED_TRACE(std::to_string(p) + " " + std::to_string(v) + " " + std::to_string(m) + " " + to_string(s.pacing));
    if (uniform) {
      EXPECT_EQ(s.pacing, Pacing::Exact);
    }
    exact += s.pacing == Pacing::Exact;
    paced += s.pacing == Pacing::Paced;
    compressed += s.pacing == Pacing::Compressed;
    double end = 0;
    for (const auto& st : s.stages)
      for (const TimedPass& t : st) end = std::max(end, t.end);
    EXPECT_NEAR(end, pc.split.pipeline_time, 1e-12 * pc.split.pipeline_time);
    // Dependencies: a forward needs the previous model chunk's, a backward the next one's.
    std::map<std::tuple<bool, int, int>, const TimedPass*> by_pass;
    for (int i = 0; i < p; ++i)
      for (const TimedPass& t : s.stages[static_cast<std::size_t>(i)])
        by_pass[{t.pass.forward, t.pass.chunk * p + i, t.pass.microbatch}] = &t;
    const double slack = s.pacing == Pacing::Compressed ? s.lead : 0;
    for (const auto& [key, t] : by_pass) {
      const auto [fwd, k, j] = key;
      const int n = fwd ? k - 1 : k + 1;
      if (n < 0 || n >= p * v) continue;
      EXPECT_GE(t->start, by_pass.at({fwd, n, j})->end - slack - 1e-12 * end);
    }
  }
  EXPECT_GT(exact, 0);
  EXPECT_GT(paced, 0);
  EXPECT_GT(compressed, 0);
}

// PyTorch's ScheduleInterleaved1F1B runs any microbatch count m that its rounds divide
// (rounds = max(1, m / p)), not only multiples of p. With uniform stages its dependency-driven
// replay (no pacing) ends exactly at the closed form (m + (p-1)/v) t whenever m >= p; with m < p
// the forwards wait for the last stage and the step is longer, which the closed form does not
// describe: the search offers torchtitan those counts only from p up (TorchtitanFramework).
TEST(Trace, TorchInterleavedMeetsTheClosedFormForEveryRunnableCountFromP) {
  int checked = 0, not_multiple = 0;
  for (int p = 2; p <= 8; ++p)
    for (int v = 2; v <= 4; ++v)
      for (int m = 1; m <= 4 * p; ++m) {
        if (m % std::max(1, m / p) != 0) continue;  // PyTorch refuses it
        PlanPieces pc;
        pc.costs.ctx.p = p;
        pc.costs.ctx.v = v;
        pc.costs.ctx.m = m;
        pc.costs.ctx.torch_order = 1;
        pc.detail.resize(static_cast<std::size_t>(p));
        pc.split.stages.resize(static_cast<std::size_t>(p));
        for (int i = 0; i < p; ++i) {
          for (int c = 0; c < v; ++c) {
            ChunkDetail cd;
            cd.fwd.time = 1.0;
            cd.bwd.time = 2.0;
            pc.detail[static_cast<std::size_t>(i)].chunks.push_back(cd);
          }
          pc.split.stages[static_cast<std::size_t>(i)].time = 3.0 * v;
        }
        pc.split.pipeline_time = kernels::pipeline_time(3.0 * v * p, 3.0 * v, m, v);
        pc.split.step_time = pc.split.pipeline_time;
        const StepSchedule s = schedule_step(pc);
        SCOPED_TRACE("p " + std::to_string(p) + " v " + std::to_string(v) + " m " + std::to_string(m));
        if (m >= p) {
          EXPECT_EQ(s.pacing, Pacing::Exact);
          EXPECT_NEAR(s.replay_time, pc.split.pipeline_time, 1e-12 * pc.split.pipeline_time);
          ++checked;
          not_multiple += m % p != 0;
        } else {
          EXPECT_GT(s.replay_time, pc.split.pipeline_time * (1 + 1e-9));
        }
      }
  EXPECT_GT(not_multiple, 50);
  EXPECT_GT(checked, not_multiple);
}

// The checked-in reference: regenerated through the CLI and compared event by event
// (NEST_UPDATE_REFERENCE=1 rewrites it after an intended change).
TEST(Trace, ReferenceTraceRegenerates) {
  const std::string dir = std::string(NEST_TEST_DATA) + "/trace";
  const std::string out = test::temp_dir() + "/reference-trace.json";
  const auto r = test::run_nest("trace --plan '" + dir + "/llama3-8b-pp2-interleaved.plan.json' --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ui.perfetto.dev"), std::string::npos);
  const std::string ref_path = dir + "/llama3-8b-pp2-interleaved.trace.json";
  if (std::getenv("NEST_UPDATE_REFERENCE"))
    std::filesystem::copy_file(out, ref_path, std::filesystem::copy_options::overwrite_existing);
  const Json got = read_json_file(out), ref = read_json_file(ref_path);
  EXPECT_TRUE(test::trace_format_problems(ref).empty());
  ASSERT_EQ(got["traceEvents"].size(), ref["traceEvents"].size());
  for (std::size_t x = 0; x < ref["traceEvents"].size(); ++x) {
    const Json &a = got["traceEvents"][x], &e = ref["traceEvents"][x];
    ASSERT_EQ(a.size(), e.size()) << x;
    for (auto it = e.begin(); it != e.end(); ++it) {
      if (it->is_number_float()) {
        EXPECT_NEAR(a[it.key()].get<double>(), it->get<double>(), 2e-3 + 1e-9 * std::fabs(it->get<double>())) << x << it.key();
      } else if (it.key() == "args") {
        for (auto jt = it->begin(); jt != it->end(); ++jt)
          if (jt->is_number_float())
            EXPECT_NEAR(a["args"][jt.key()].get<double>(), jt->get<double>(), 1e-9 * std::fabs(jt->get<double>())) << x;
          else
            EXPECT_EQ(a["args"][jt.key()], *jt) << x << " " << jt.key();
      } else {
        EXPECT_EQ(a[it.key()], *it) << x << " " << it.key();
      }
    }
  }
  EXPECT_NEAR(got["otherData"]["step_time_s"].get<double>(), ref["otherData"]["step_time_s"].get<double>(), 1e-12);
}

TEST(Trace, FormatCheckCatchesBrokenTraces) {
  const std::string named = R"({"ph":"M","name":"process_name","pid":1,"tid":0,"args":{"name":"p"}},
                                {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"t"}})";
  auto problems = [&](const std::string& events) {
    return test::trace_format_problems(parse_json(R"({"traceEvents":[)" + named + "," + events + "]}", "t")).size();
  };
  EXPECT_EQ(
      problems(R"({"ph":"X","name":"a","pid":1,"tid":1,"ts":0,"dur":5},{"ph":"X","name":"b","pid":1,"tid":1,"ts":1,"dur":2})"),
      0u);
  EXPECT_GT(
      problems(R"({"ph":"X","name":"a","pid":1,"tid":1,"ts":0,"dur":5},{"ph":"X","name":"b","pid":1,"tid":1,"ts":4,"dur":2})"),
      0u);
  EXPECT_GT(problems(R"({"ph":"X","name":"a","pid":1,"tid":1,"ts":0,"dur":-1})"), 0u);
  EXPECT_GT(problems(R"({"ph":"X","name":"a","pid":1,"tid":1,"dur":1})"), 0u);
  EXPECT_GT(problems(R"({"ph":"B","name":"a","pid":1,"tid":1,"ts":0})"), 0u);
  EXPECT_GT(problems(R"({"ph":"X","name":"a","pid":1,"tid":2,"ts":0,"dur":1})"), 0u);  // unnamed thread
  EXPECT_GT(problems(R"({"ph":"s","name":"f","id":1,"pid":1,"tid":1,"ts":0})"), 0u);   // no slice, no finish
}

TEST(Trace, BadInputIsOneLine) {
  auto r = test::run_nest("trace --plan /nonexistent/plan.json --out " + test::temp_dir() + "/x.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  r = test::run_nest("trace --out x.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  const std::string bad = test::write_temp("bad-plan.json", R"({"schema": "nest.plan/1", "model": "llama3-8b"})");
  r = test::run_nest("trace --plan " + bad + " --out " + test::temp_dir() + "/y.json");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir() + "/y.json"));
  // A plan made for another model: its layers do not add up; the file is named.
  const std::string dir = test::temp_dir();
  ASSERT_EQ(test::run_nest("evaluate --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 32 --seq-len 4096 --tp 2 "
                           "--pp 4 --zero 1 --out '" +
                           dir + "/8b.json'")
                .exit_code,
            0);
  std::string text = test::read_all(dir + "/8b.json");
  text.replace(text.find("\"llama3-8b\""), 11, "\"llama3-70b\"");
  const std::string other = test::write_temp("plan-of-another-model.json", text);
  r = test::run_nest("trace --plan '" + other + "' --out '" + dir + "/z.json'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("plan-of-another-model.json"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/z.json"));
}

}  // namespace
}  // namespace nest
