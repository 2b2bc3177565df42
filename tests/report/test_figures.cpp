// The SVG figures, the HTML report, nest compare and nest plan --explain: every SVG parses as XML
// (here, with Python's xml.etree and through rsvg-convert where installed), the report is
// well-formed HTML whose embedded trace follows the trace-event rules, a headless Chromium
// renders it where installed; the Pareto front and the profile's fitted model are checked
// against their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "nest/io/json.hpp"
#include "nest/profiler/fit.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/plot.hpp"
#include "nest/report/figures.hpp"
#include "nest/report/html.hpp"
#include "nest/report/trace.hpp"
#include "nest/search/cost_source.hpp"
#include "support/markup_check.hpp"
#include "support/test_support.hpp"
#include "support/trace_check.hpp"

namespace nest {
namespace {

bool have(const std::string& program) { return test::run_command("command -v " + program).exit_code == 0; }

std::string chromium() {
  if (const char* c = std::getenv("NEST_CHROMIUM")) return c;
  for (const char* c : {"chromium", "chromium-headless-shell", "chromium-browser", "google-chrome"})
    if (have(c)) return c;
  return "";
}

// Every check an SVG file gets: ours always; Python's XML parser, xmllint and rsvg-convert (which
// must render it to a non-empty PNG) when present.
void expect_valid_svg(const std::string& text, const std::string& name) {
  SCOPED_TRACE(name);
  const auto problems = test::xml_problems(text);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(text.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  const std::string path = test::write_temp(name + ".svg", text);
  if (have("python3")) {
    const auto r =
        test::run_command("python3 '" + std::string(NEST_SOURCE_DIR) + "/tests/tools/check_markup.py' svg '" + path + "'");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  if (have("xmllint")) {  // libxml2's parser (Debian: libxml2-utils)
    const auto r = test::run_command("xmllint --noout --nonet '" + path + "'");
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  if (have("rsvg-convert")) {
    const std::string png = path + ".png";
    const auto r = test::run_command("rsvg-convert -o '" + png + "' '" + path + "'");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_GT(std::filesystem::exists(png) ? std::filesystem::file_size(png) : 0u, 1000u);
  }
}

Problem small_problem() { return test::preset_problem("llama3-8b", "dgx-h100", 16, 32, 4096); }

Plan small_plan(int pp, int v) {
  Plan plan;
  plan.par.tp = 2;
  plan.par.pp = pp;
  plan.par.dp = 16 / (2 * pp);
  plan.par.num_microbatches = 32 / plan.par.dp;
  plan.par.zero = 1;
  plan.par.schedule = v > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
  plan.par.virtual_stages = v;
  plan.par.tp_comm_overlap = false;
  plan.blocks_per_stage = even_split(32, pp, v);
  return plan;
}

TEST(Figures, PlanFiguresAreWellFormedSvg) {
  const Problem problem = small_problem();
  const AnalyticCostSource src(problem);
  for (const auto& [pp, v] : {std::pair{4, 1}, std::pair{4, 2}, std::pair{1, 1}}) {
    const PlanPieces pc = plan_pieces(src, small_plan(pp, v));
    const StepSchedule s = schedule_step(pc);
    const std::string tag = "pp" + std::to_string(pp) + "v" + std::to_string(v);
    expect_valid_svg(plan_svg(problem, pc, s), "plan-" + tag);
    expect_valid_svg(schedule_svg(problem, pc, s), "schedule-" + tag);
    expect_valid_svg(breakdown_svg(problem, pc.prediction), "breakdown-" + tag);
    expect_valid_svg(stage_time_svg(problem, pc), "stages-" + tag);
    const std::string mem = memory_svg(problem, pc.prediction);
    expect_valid_svg(mem, "memory-" + tag);
    // Every stage's every part is drawn (with its value in the tooltip), against the capacity.
    for (int i = 0; i < pp; ++i)
      for (const char* part : {"parameters", "gradients", "optimizer state", "activations"})
        EXPECT_NE(mem.find("stage " + std::to_string(i) + " " + part + ": "), std::string::npos) << part;
    char cap[64];
    std::snprintf(cap, sizeof cap, "capacity %.1f GiB", problem.cluster.memory_bytes / 1073741824.0);
    EXPECT_NE(mem.find(cap), std::string::npos);
  }
}

TEST(Figures, MemoryFigureMarksStagesOverCapacity) {
  // llama3-70b on 16 GPUs with an 8-way model split does not fit: every stage is drawn, outlined,
  // with the overflow the evaluator reports in its tooltip.
  const Problem problem = test::preset_problem("llama3-70b", "dgx-h100", 16, 32, 4096);
  const AnalyticCostSource src(problem);
  Plan plan = small_plan(4, 1);
  plan.blocks_per_stage = even_split(static_cast<int>(problem.model.layers), 4, 1);
  const PlanPieces pc = plan_pieces(src, plan);
  ASSERT_FALSE(pc.prediction.feasible);
  const std::string mem = memory_svg(problem, pc.prediction);
  expect_valid_svg(mem, "memory-over");
  for (const StageReport& s : pc.prediction.stages) {
    if (s.memory.total() <= problem.cluster.memory_bytes) continue;
    char over[96];
    std::snprintf(over, sizeof over, "stage over capacity by %.2f GiB",
                  (s.memory.total() - problem.cluster.memory_bytes) / 1073741824.0);
    EXPECT_NE(mem.find(over), std::string::npos) << over;
  }
}

TEST(Figures, LongPipelinesStaySmall) {
  // 16 stages x 128 microbatches x 5 chunks: passes that touch and are too narrow to draw apart
  // are merged into one block.
  const Problem problem = test::preset_problem("llama3-70b", "dgx-h100", 1024, 1024, 8192);
  Plan plan;
  plan.par.tp = 8;
  plan.par.pp = 16;
  plan.par.dp = 8;
  plan.par.sp = true;
  plan.par.num_microbatches = 128;
  plan.par.zero = 1;
  plan.par.schedule = Schedule::Interleaved;
  plan.par.virtual_stages = 5;
  plan.blocks_per_stage = even_split(80, 16, 5);
  const AnalyticCostSource src(problem);
  const PlanPieces pc = plan_pieces(src, plan);
  const std::string s = schedule_svg(problem, pc, schedule_step(pc));
  expect_valid_svg(s, "schedule-long");
  EXPECT_LT(s.size(), 2'000'000u);
}

TEST(Figures, ParetoFrontIsTheNonDominatedSet) {
  std::vector<ParetoPoint> pts = {{1, 10, "a"}, {2, 5, "b"}, {3, 6, "c"}, {4, 1, "d"}, {2, 5, "b2"}, {5, 1, "e"}, {0.5, 20, "f"}};
  // Lower x and lower y are better: c is dominated by b, e by d, b2 is b again.
  auto f = pareto_front(pts, true, true);
  std::vector<std::string> names;
  for (std::size_t i : f) names.push_back(pts[i].label);
  EXPECT_EQ(names, (std::vector<std::string>{"f", "a", "b", "d"}));
  // Higher y better: the front is the upper-left staircase.
  f = pareto_front(pts, true, false);
  names.clear();
  for (std::size_t i : f) names.push_back(pts[i].label);
  EXPECT_EQ(names, (std::vector<std::string>{"f"}));
  // Brute force on random points: no front point is dominated, every other point is.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> u(0, 20);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<ParetoPoint> r(30);
    for (auto& p : r) p = {static_cast<double>(u(rng)), static_cast<double>(u(rng)), ""};
    const auto front = pareto_front(r, true, false);
    for (std::size_t i = 0; i < r.size(); ++i) {
      bool dominated = false;
      for (std::size_t j = 0; j < r.size(); ++j)
        dominated = dominated || (r[j].x <= r[i].x && r[j].y >= r[i].y && (r[j].x != r[i].x || r[j].y != r[i].y));
      const bool on = std::find(front.begin(), front.end(), i) != front.end();
      if (on) {
        EXPECT_FALSE(dominated);
      }
      if (!dominated && !on) {  // only a duplicate of a front point may be left out
        bool duplicate = false;
        for (std::size_t k : front) duplicate = duplicate || (r[k].x == r[i].x && r[k].y == r[i].y);
        EXPECT_TRUE(duplicate);
      }
    }
  }
  ParetoChart ch;
  ch.title = "GPUs against step time";
  ch.x_label = "GPUs";
  ch.y_label = "tokens/s";
  ch.minimize_y = false;
  ch.log_x = true;
  ch.points = {{1024, 1e6, "tp 8 pp 4"}, {2048, 1.9e6, "tp 8 pp 8"}, {2048, 1.5e6, "tp 4 pp 8"}, {4096, 3.5e6, "tp 8 pp 16"}};
  const std::string svg = pareto_svg(ch);
  expect_valid_svg(svg, "pareto");
  EXPECT_NE(svg.find("3 of 4 points on the Pareto front"), std::string::npos);
  EXPECT_NE(svg.find("tp 8 pp 16 (Pareto front)"), std::string::npos);
}

TEST(Figures, ProfileModelFollowsTheFit) {
  // Samples made by the alpha-beta model itself: after the fit, the model line goes through them.
  profiler::Profile p;
  p.levels = {{"node", 8}};
  profiler::CollectiveSeries s;
  s.collective = kernels::Collective::AllReduce;
  s.group = "node:8";
  s.group_size = 8;
  s.members = {8};
  const double latency = 5e-6, bandwidth = 300e9;
  for (double bytes = 1024; bytes <= (1 << 30); bytes *= 4) {
    profiler::CollectiveSample x;
    x.bytes = bytes;
    const profiler::AlphaBetaPoint pt = profiler::alpha_beta_point(s, x, {});
    x.time_s = latency * pt.steps + pt.x / bandwidth;
    x.algbw_GBps = bytes / x.time_s / 1e9;
    x.busbw_GBps = x.algbw_GBps * kernels::bus_bandwidth_factor(s.collective, 8);
    s.samples.push_back(x);
  }
  p.collectives.push_back(s);
  profiler::refit(p);
  for (const auto& x : p.collectives[0].samples)
    EXPECT_NEAR(profiler::model_busbw_GBps(p, p.collectives[0], x.bytes), x.busbw_GBps, 1e-6 * x.busbw_GBps);
  expect_valid_svg(profiler::bandwidth_svg(p, "synthetic"), "profile-synthetic");
  // Real logs: every collective gets a panel.
  const std::string dir = std::string(NEST_TEST_DATA) + "/nccl-tests/";
  profiler::Profile real = profiler::import_nccl_tests(
      {dir + "h100x8_1node_5colls_nccltests-2.17.8.txt", dir + "h100x80_10node_5colls_nccltests-2.17.8.txt"});
  const std::string svg = profiler::bandwidth_svg(real, "h100");
  expect_valid_svg(svg, "profile-h100");
  for (const char* c : {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"})
    EXPECT_NE(svg.find(std::string(">") + c + "<"), std::string::npos) << c;
}

// The report of nest evaluate --html: well-formed HTML, every figure inline, the trace embedded
// and valid; Chromium renders it where installed.
TEST(Figures, HtmlReportIsValidAndEmbedsTheTrace) {
  const std::string dir = test::temp_dir();
  const std::string html = dir + "/report.html", svg = dir + "/report.svg";
  const auto r = test::run_nest(
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 32 --seq-len 4096 "
      "--tp 2 --pp 4 --zero 1 --schedule interleaved --virtual-stages 2 --html '" +
      html + "' --svg '" + svg + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = test::read_all(html);
  const auto problems = test::html_problems(page);
  EXPECT_TRUE(problems.empty()) << problems.front();
  for (const char* heading : {"Prediction", "Pipeline schedule", "Step time", "Stage times", "Memory"})
    EXPECT_NE(page.find(std::string("<h2>") + heading + "</h2>"), std::string::npos) << heading;
  EXPECT_NE(page.find("openInPerfetto()"), std::string::npos);
  EXPECT_NE(page.find("https://ui.perfetto.dev"), std::string::npos);
  // The embedded trace: between the script tags, JSON (the \u003c escapes are JSON's own).
  const std::string open = "<script type=\"application/json\" id=\"nest-trace\">";
  const std::size_t a = page.find(open), b = page.find("</script>", a);
  ASSERT_NE(a, std::string::npos);
  const Json trace = parse_json(page.substr(a + open.size(), b - a - open.size()), "embedded trace");
  EXPECT_TRUE(test::trace_format_problems(trace).empty());
  EXPECT_GT(trace["traceEvents"].size(), 100u);
  expect_valid_svg(test::read_all(svg), "evaluate-svg");
  if (have("python3")) {
    const auto c =
        test::run_command("python3 '" + std::string(NEST_SOURCE_DIR) + "/tests/tools/check_markup.py' html '" + html + "'");
    EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  }
  const std::string browser = chromium();
  if (browser.empty()) GTEST_SKIP() << "no chromium: the screenshot check is skipped (apt-get install chromium)";
  const std::string png = dir + "/report.png";
  const auto shot = test::run_command("timeout 120 " + browser + " --headless --no-sandbox --disable-gpu --hide-scrollbars " +
                                      "--window-size=1100,2200 --screenshot='" + png + "' 'file://" + html + "'");
  EXPECT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(std::filesystem::exists(png)) << shot.err;
  EXPECT_GT(std::filesystem::file_size(png), 20000u);  // a rendered page, not a blank one
}

TEST(Figures, CompareShowsWhatDiffersAndWhereTimeGoes) {
  const std::string dir = test::temp_dir();
  const std::string base = "evaluate --model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 32 --seq-len 4096 --zero 1 ";
  ASSERT_EQ(test::run_nest(base + "--tp 2 --pp 4 --out '" + dir + "/a.json'").exit_code, 0);
  ASSERT_EQ(test::run_nest(base + "--tp 4 --pp 2 --microbatch 2 --out '" + dir + "/b.json'").exit_code, 0);
  auto r = test::run_nest("compare '" + dir + "/a.json' '" + dir + "/b.json' --svg '" + dir + "/cmp.svg' --html '" + dir +
                          "/cmp.html'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"what differs", "tp", "2 -> 4", "pp", "4 -> 2", "microbatch", "1 -> 2", "where the time goes",
                        "pipeline bubble", "memory of the fullest GPU", "activations", "in short"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  expect_valid_svg(test::read_all(dir + "/cmp.svg"), "compare");
  EXPECT_TRUE(test::html_problems(test::read_all(dir + "/cmp.html")).empty());
  r = test::run_nest("compare '" + dir + "/a.json' '" + dir + "/b.json' --json");
  ASSERT_EQ(r.exit_code, 0);
  const Json j = parse_json(r.out, "compare");
  EXPECT_EQ(j["schema"], "nest.compare/1");
  // The deltas are B's breakdown minus A's.
  const Json a = read_json_file(dir + "/a.json"), b = read_json_file(dir + "/b.json");
  EXPECT_NEAR(j["time_delta_s"]["pipeline bubble"].get<double>(),
              b["prediction"]["breakdown_s"]["bubble"].get<double>() - a["prediction"]["breakdown_s"]["bubble"].get<double>(),
              1e-12);
  EXPECT_NEAR(j["step_time_ratio"].get<double>(),
              b["prediction"]["step_time_s"].get<double>() / a["prediction"]["step_time_s"].get<double>(), 1e-12);
  r = test::run_nest("compare '" + dir + "/a.json' '" + dir + "/a.json'");
  EXPECT_NE(r.out.find("nothing (the same plan)"), std::string::npos);
  // Bad input: one line naming the file, exit 2, nothing written.
  std::string a_text = test::read_all(dir + "/a.json");
  a_text.replace(a_text.find("\"llama3-8b\""), 11, "\"llama3-70b\"");
  const std::string other_model = test::write_temp("other-model.json", a_text);
  const std::string broken = test::write_temp("broken.json", "{\"schema\": \"nest.plan/1\",\n");
  for (const std::string& bad : {std::string("/nonexistent.json"), other_model, broken}) {
    r = test::run_nest("compare '" + dir + "/a.json' '" + bad + "' --svg '" + dir + "/bad.svg'");
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(bad.substr(bad.rfind('/') + 1)), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir + "/bad.svg"));
  }
  r = test::run_nest("compare '" + dir + "/a.json'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
}

TEST(Figures, ExplainRerunsTheSearchPerDimension) {
  const std::string dir = test::temp_dir();
  const std::string problem = "--model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 32 --seq-len 4096 ";
  const auto r =
      test::run_nest("plan " + problem + "--explain --json --html '" + dir + "/plan.html' --svg '" + dir + "/plan.svg'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = parse_json(r.out, "plan");
  ASSERT_TRUE(j.contains("explain"));
  std::set<std::string> dims;
  for (const Json& e : j["explain"]) {
    dims.insert(e["dimension"]);
    if (e["outcome"] == "loses") {
      // The winner is optimal: nothing with another value is faster.
      EXPECT_GE(e["alternative"]["loss"].get<double>(), -1e-12) << e.dump();
      EXPECT_NE(e["alternative"]["value"], e["value"]) << e.dump();
    }
  }
  for (const char* d : {"tp", "pp", "cp", "ep", "dp", "dp-shard", "microbatch", "zero", "recompute", "schedule", "sp",
                        "precision", "overlap-grad-reduce", "overlap-param-gather", "tp-comm-overlap", "offload-optimizer",
                        "offload-activations", "rank order"})
    EXPECT_TRUE(dims.count(d)) << d;
  // The tp alternative is the best plan of the space restricted to its tp.
  for (const Json& e : j["explain"]) {
    if (e["dimension"] != "tp" || e["outcome"] != "loses") continue;
    const auto alt = test::run_nest("plan " + problem + "--json --tp " + e["alternative"]["value"].get<std::string>());
    ASSERT_EQ(alt.exit_code, 0) << alt.err;
    EXPECT_NEAR(parse_json(alt.out, "alt")["prediction"]["step_time_s"].get<double>(),
                e["alternative"]["step_time_s"].get<double>(), 1e-12);
  }
  EXPECT_TRUE(test::html_problems(test::read_all(dir + "/plan.html")).empty());
  expect_valid_svg(test::read_all(dir + "/plan.svg"), "plan-cli");
  // The text report says it in words.
  const auto t = test::run_nest("plan " + problem + "--explain");
  EXPECT_NE(t.out.find("why each value won"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("no other value in the search space"), std::string::npos) << t.out;  // ep of a dense model
}

TEST(Figures, ProfileExportToSvg) {
  const std::string dir = test::temp_dir();
  const std::string logs = std::string(NEST_TEST_DATA) + "/nccl-tests/h100x8_1node_5colls_nccltests-2.17.8.txt";
  ASSERT_EQ(test::run_nest("profile import --nccl-tests '" + logs + "' --out '" + dir + "/p.json' --svg '" + dir + "/import.svg'")
                .exit_code,
            0);
  const auto r = test::run_nest("profile export --profile '" + dir + "/p.json' --to svg --out '" + dir + "/p.svg'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string exported = test::read_all(dir + "/p.svg");
  expect_valid_svg(exported, "profile-cli");
  // The same picture either way but for the source it names (the profile file, or the one import wrote).
  EXPECT_EQ(test::read_all(dir + "/import.svg"), exported);
}

}  // namespace
}  // namespace nest
