// nest sweep: one row per point in the axes' order, each the plan `nest plan` finds there, the
// Pareto front marked and drawn, bad axes refused before anything runs; an interrupted sweep
// (NEST_SWEEP_STOP_AFTER, or SIGINT to the process) resumed to the same file; under mpirun with
// 1, 2 and 4 ranks the same files as one process.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <thread>

#include "nest/io/json.hpp"
#include "support/markup_check.hpp"
#include "profiler/profile_test_support.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;
using test::run_nest_env;

const std::string kBase = "--model llama3-8b --cluster dgx-h100 --global-batch 64 --seq-len 4096";

std::vector<std::vector<std::string>> read_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(SweepCli, EveryPointIsThePlanOfThatPoint) {
  const std::string svg = test::temp_dir() + "/front.svg";
  const auto r = run_nest("sweep " + kBase + " --vary gpus=8,16 --vary seq_len=2048,8192 --svg '" + svg + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;
  const auto& h = rows[0];
  EXPECT_EQ(h[0], "gpus");
  EXPECT_EQ(h[1], "seq_len");
  // The axes' order: the last axis varies fastest.
  const std::vector<std::pair<std::string, std::string>> want = {{"8", "2048"}, {"8", "8192"}, {"16", "2048"}, {"16", "8192"}};
  int on_front = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), h.size());
    EXPECT_EQ(row[0], want[i].first);
    EXPECT_EQ(row[1], want[i].second);
    EXPECT_EQ(row[column(h, "status")], "ok");
    on_front += row[column(h, "pareto")] == "yes" ? 1 : 0;
  }
  EXPECT_GE(on_front, 1);
  // Point (16, 8192) is what `nest plan` finds there.
  const auto p = run_nest("plan --model llama3-8b --cluster dgx-h100 --global-batch 64 --seq-len 8192 --gpus 16 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const Json j = parse_json(p.out, "plan");
  EXPECT_NEAR(std::stod(rows[4][column(h, "step_time_s")]) / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-8);
  EXPECT_EQ(rows[4][column(h, "tp")], std::to_string(j["parallelism"]["tp"].get<int>()));
  const std::string text = read_text_file(svg);
  EXPECT_TRUE(test::xml_problems(text).empty()) << test::xml_problems(text).front();
}

// On NVL72 racks a point searches the job's share of each rack as nest plan does, and a
// levels.0.size axis sets it (nothing left to search); gpus_per_domain says which it is.
TEST(SweepCli, APointSearchesTheDomainShareAsPlanDoes) {
  const std::string base = "--model llama3.1-8b --cluster gb200-nvl72 --global-batch 128 --seq-len 8192";
  const auto r = run_nest("sweep " + base + " --vary gpus=64,512 --no-search-time");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  const auto& h = rows[0];
  EXPECT_EQ(rows[1][column(h, "gpus_per_domain")], "64");  // one rack holds 64 GPUs
  const auto p = run_nest("plan " + base + " --gpus 512 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const Json j = parse_json(p.out, "plan");
  EXPECT_NEAR(std::stod(rows[2][column(h, "step_time_s")]) / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(rows[2][column(h, "gpus_per_domain")], std::to_string(j["domain_share"]["gpus_per_domain"].get<int>()));
  const auto pinned = run_nest("sweep " + base + " --gpus 512 --vary levels.0.size=72,64,66 --no-search-time");
  ASSERT_EQ(pinned.exit_code, 0) << pinned.err;
  const auto prow = read_csv(pinned.out);
  ASSERT_EQ(prow.size(), 4u) << pinned.out;
  EXPECT_EQ(prow[1][column(prow[0], "gpus_per_domain")], "72");
  EXPECT_EQ(prow[2][column(prow[0], "gpus_per_domain")], "64");
  EXPECT_EQ(prow[3][column(prow[0], "status")], "invalid");  // 66 GPUs are not whole 4-GPU hosts
  EXPECT_NE(prow[3][column(prow[0], "note")].find("not whole hosts of 4"), std::string::npos) << pinned.out;
}

TEST(SweepCli, AFasterNetworkIsNeverSlowerAndPriceGivesCost) {
  const auto r = run_nest("sweep " + kBase + " --gpus 64 --vary levels.1.bandwidth_GBps=12.5,50,200 --gpu-hour-price 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 4u);
  const auto& h = rows[0];
  double last = 1e300;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const double t = std::stod(rows[i][column(h, "step_time_s")]);
    EXPECT_LE(t, last * (1 + 1e-12)) << rows[i][0];
    last = t;
    // USD per million tokens = price x GPUs / 3600 / tokens per second x 1e6
    const double tokens = std::stod(rows[i][column(h, "tokens_per_s")]);
    EXPECT_NEAR(std::stod(rows[i][column(h, "cost_per_mtok_usd")]), 2.0 * 64 / 3600 / tokens * 1e6, 1e-9);
  }
}

// A power-cap axis: each point equals nest plan with that --gpu-power-limit, and a lower cap is
// never faster; with a gpu axis the cap applies to whichever GPU the point has.
TEST(SweepCli, PowerCapAxisIsThePlanUnderThatCap) {
  const auto r = run_nest("sweep " + kBase + " --gpus 8 --vary gpu=h100-sxm,b200 --vary gpu_power_limit_W=800,500,350");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 7u);
  const auto& h = rows[0];
  for (std::size_t i = 1; i < rows.size(); i += 3) {
    double last = 0;
    for (std::size_t j = i; j < i + 3; ++j) {
      const double t = std::stod(rows[j][column(h, "step_time_s")]);
      EXPECT_GE(t, last * (1 - 1e-12)) << rows[j][0] << " " << rows[j][1];
      last = t;
    }
  }
  const auto p = run_nest("plan " + kBase + " --gpus 8 --gpu-power-limit 500 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NEAR(std::stod(rows[2][column(h, "step_time_s")]) / parse_json(p.out, "plan")["prediction"]["step_time_s"].get<double>(),
              1.0, 1e-8);
}

// A document-length axis: each torchtitan point is nest plan with that --document-length, shorter
// documents never slower; a framework that attends across documents makes the point invalid,
// with the reason.
TEST(SweepCli, DocumentLengthAxisIsThePlanWithThoseMasks) {
  const auto r = run_nest("sweep " + kBase + " --gpus 8 --vary framework=torchtitan,megatron --vary document_length=0,4096,1024");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 7u) << r.out;
  const auto& h = rows[0];
  double last = 1e300;
  for (std::size_t i = 1; i <= 3; ++i) {
    ASSERT_EQ(rows[i][column(h, "status")], "ok") << r.out;
    const double t = std::stod(rows[i][column(h, "step_time_s")]);
    EXPECT_LE(t, last * (1 + 1e-12)) << rows[i][1];
    last = t;
  }
  EXPECT_EQ(rows[4][column(h, "status")], "ok");  // megatron, one mask per sequence
  for (std::size_t i = 5; i <= 6; ++i) {
    EXPECT_EQ(rows[i][column(h, "status")], "invalid");
    EXPECT_NE(rows[i][column(h, "note")].find("across the documents"), std::string::npos) << rows[i][column(h, "note")];
  }
  const auto p = run_nest("plan " + kBase + " --gpus 8 --framework torchtitan --document-length 1024 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NEAR(std::stod(rows[3][column(h, "step_time_s")]) / parse_json(p.out, "plan")["prediction"]["step_time_s"].get<double>(),
              1.0, 1e-8);
}

// More link speeds per space than one bound call takes (kBoundPointsPerCall, 16): the points
// past it bound their slices themselves, and every point is still nest plan at its speeds.
TEST(SweepCli, ASpaceWithMoreLinkSpeedsThanOneBoundCallTakes) {
  std::string speeds;
  for (int b = 1; b <= 20; ++b) {
    if (b > 1) speeds += ",";
    speeds += std::to_string(15 + 5 * b);
  }
  const auto r = run_nest("sweep " + kBase + " --gpus 64 --vary levels.1.bandwidth_GBps=" + speeds +
                          " --vary levels.0.latency_s=1e-6,4e-6 --no-search-time --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 41u) << r.out;
  const auto& h = rows[0];
  for (const std::size_t i : {std::size_t{1}, std::size_t{16}, std::size_t{33}, std::size_t{40}}) {
    ASSERT_EQ(rows[i][column(h, "status")], "ok") << r.out;
    const auto p = run_nest("plan " + kBase + " --gpus 64 --cluster-set levels.1.bandwidth_GBps=" + rows[i][0] +
                            " --cluster-set levels.0.latency_s=" + rows[i][1] + " --json");
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const Json j = parse_json(p.out, "plan");
    EXPECT_NEAR(std::stod(rows[i][column(h, "step_time_s")]) / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-9)
        << rows[i][0] << " " << rows[i][1];
    EXPECT_EQ(rows[i][column(h, "tp")], std::to_string(j["parallelism"]["tp"].get<int>()));
  }
}

// A cluster.PATH axis sets a field of the cluster or topology file at each point: each point is
// nest plan with --cluster-set PATH=VALUE, a value the file's reader refuses fails before any
// point runs, and one that fails only beside another axis's value makes that point invalid.
TEST(SweepCli, ClusterFieldAxisIsThePlanWithThatFieldSet) {
  const std::string base = "--model llama3-8b --cluster fattree-2to1 --gpus 64 --global-batch 64 --seq-len 4096";
  const auto r = run_nest("sweep " + base + " --vary cluster.networks.0.tiers.spine.oversubscription=1,8 " +
                          "--vary cluster.networks.0.nic_bandwidth_GBps=12.5,50 --no-search-time");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;
  const auto& h = rows[0];
  EXPECT_EQ(h[0], "cluster.networks.0.tiers.spine.oversubscription");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i][column(h, "status")], "ok") << r.out;
    const auto p = run_nest("plan " + base + " --cluster-set networks.0.tiers.spine.oversubscription=" + rows[i][0] +
                            " --cluster-set networks.0.nic_bandwidth_GBps=" + rows[i][1] + " --json");
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const Json j = parse_json(p.out, "plan");
    EXPECT_NEAR(std::stod(rows[i][column(h, "step_time_s")]) / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-9)
        << rows[i][0] << " " << rows[i][1];
  }
  // 8:1 on a slow NIC is slower than 1:1 on a fast one.
  EXPECT_GT(std::stod(rows[3][column(h, "step_time_s")]), std::stod(rows[2][column(h, "step_time_s")]));
  const auto bad = run_nest("sweep " + base + " --vary cluster.networks.0.tiers.spine.oversubscription=1,0");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(test::count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("--vary cluster.networks.0.tiers.spine.oversubscription=0"), std::string::npos) << bad.err;
  const auto nowhere = run_nest("sweep " + base + " --vary cluster.networks.0.tiers.top.latency_s=1e-6");
  EXPECT_EQ(nowhere.exit_code, 2) << nowhere.err;
  EXPECT_NE(nowhere.err.find("--vary cluster.networks.0.tiers.top.latency_s"), std::string::npos) << nowhere.err;
  // 6 GPUs per node is refused beside 8 NICs but accepted beside 2: that point is invalid.
  const std::string base48 = "--model llama3-8b --cluster fattree-2to1 --gpus 48 --global-batch 64 --seq-len 4096";
  const auto mixed = run_nest("sweep " + base48 + " --vary cluster.node.gpus=4,6 --vary cluster.networks.0.nics_per_node=2,8");
  ASSERT_EQ(mixed.exit_code, 2) << mixed.err;  // 6 alone, beside the file's 8 NICs, is refused up front
  const auto combo = run_nest("sweep " + base48 + " --cluster-set networks.0.nics_per_node=2 " +
                              "--vary cluster.node.gpus=4,6 --vary cluster.networks.0.nics_per_node=2,8 --no-search-time");
  ASSERT_EQ(combo.exit_code, 0) << combo.err;
  const auto crows = read_csv(combo.out);
  ASSERT_EQ(crows.size(), 5u) << combo.out;
  EXPECT_EQ(crows[1][column(crows[0], "status")], "ok");       // 4 GPUs, 2 NICs
  EXPECT_EQ(crows[2][column(crows[0], "status")], "ok");       // 4 GPUs, 8 NICs
  EXPECT_EQ(crows[3][column(crows[0], "status")], "ok");       // 6 GPUs, 2 NICs
  EXPECT_EQ(crows[4][column(crows[0], "status")], "invalid");  // 6 GPUs, 8 NICs
}

TEST(SweepCli, BadAxesAreOneLineBeforeAnythingRuns) {
  for (const char* vary :
       {"--vary foo=1", "--vary gpus=8,x", "--vary gpus", "--vary gpus=8 --vary gpus=16", "--vary levels.9.size=2",
        "--vary levels.1.speed=2", "--vary gpu=nope", "--vary precision=fp3", "--vary gpu_power_limit_W=500,0"}) {
    const auto r = run_nest("sweep " + kBase + " --gpus 8 " + vary);
    EXPECT_EQ(r.exit_code, 2) << vary << ": " << r.out;
    EXPECT_EQ(test::count_lines(r.err), 1) << vary << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << vary;
  }
}

// A row without a plan has the header's columns too (it had one cell too many, which moved its
// pareto mark under search_s), and its note tells an empty search space from plans that do not fit.
TEST(SweepCli, RowsWithoutAPlanHaveTheHeadersColumns) {
  const auto r = run_nest("sweep " + kBase + " --vary gpus=8,100000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  for (const auto& row : rows) EXPECT_EQ(row.size(), rows[0].size()) << row[0];
  EXPECT_EQ(rows[2][column(rows[0], "status")], "infeasible");
  EXPECT_EQ(rows[2][column(rows[0], "pareto")], "no");
  // 100,000 GPUs with a global batch of 64: no split is consistent, which is not "no plan fits".
  EXPECT_EQ(rows[2][column(rows[0], "note")].rfind("no slice of the search space is consistent with this point", 0), 0u)
      << rows[2][column(rows[0], "note")];
  EXPECT_GT(std::stod(rows[2][column(rows[0], "search_s")]), 0);
  // A point searched whose plans all overflow memory: the 405B on 8 GPUs.
  const auto big = run_nest("sweep --model llama3-405b --cluster dgx-h100 --global-batch 64 --seq-len 4096 --vary gpus=8");
  ASSERT_EQ(big.exit_code, 0) << big.err;
  const auto big_rows = read_csv(big.out);
  ASSERT_EQ(big_rows.size(), 2u) << big.out;
  EXPECT_EQ(big_rows[1][column(big_rows[0], "status")], "infeasible");
  EXPECT_EQ(big_rows[1][column(big_rows[0], "note")], "no plan fits");
}

// A point whose plan its framework cannot launch says why, as nest plan's caveat does; a point
// that launches has an empty note.
TEST(SweepCli, APlanThatWillNotLaunchSaysWhyInTheNote) {
  const auto r = run_nest(
      "sweep --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048 --vary model=llama3-8b,gpt-j-6b --no-search-time");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  const std::size_t note = column(rows[0], "note"), status = column(rows[0], "status");
  EXPECT_EQ(rows[1][status], "ok");
  EXPECT_EQ(rows[1][note], "");
  EXPECT_EQ(rows[2][status], "ok");
  EXPECT_EQ(rows[2][note].rfind("nest export refuses this plan: Megatron-LM core_v0.19's GPT model (pretrain_gpt.py) cannot "
                                "build gpt-j-6b: ",
                                0),
            0u)
      << rows[2][note];
}

// ---------------------------------------------------------------- Ctrl-C and --resume

// 12 points: a plan at most of them, none at 100000 GPUs (infeasible), a row per kind. One
// thread, so that a process runs one point at a time and stops after the count it is told;
// with more, a process runs as many points at once as it has threads.
const std::string kTwelvePoints =
    "sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,100000 --vary global_batch=32,64 "
    "--vary levels.1.bandwidth_GBps=25,50 --no-search-time";
const std::string kResumable = kTwelvePoints + " --threads 1";

std::size_t records(const std::string& checkpoint) {
  // Three lines (what it is, the settings, the columns), then one record per point.
  return static_cast<std::size_t>(test::count_lines(test::read_all(checkpoint))) - 3;
}

TEST(SweepCli, AnInterruptedSweepResumesToTheSameFiles) {
  const std::string dir = test::temp_dir() + "/resume";
  std::filesystem::create_directories(dir);
  const auto straight = run_nest(kResumable + " --out '" + dir + "/straight.csv' --svg '" + dir + "/straight.svg'");
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/straight.csv.partial"));

  const std::string out = dir + "/sweep.csv", partial = out + ".partial";
  const std::string args = kTwelvePoints + " --out '" + out + "' --svg '" + dir + "/sweep.svg'";
  const auto stopped = run_nest_env("NEST_SWEEP_STOP_AFTER=5", args + " --threads 1");
  EXPECT_EQ(stopped.exit_code, 3) << stopped.err;
  EXPECT_EQ(test::count_lines(stopped.err), 1) << stopped.err;
  EXPECT_NE(stopped.err.find("after 5 of 12 points"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("--resume"), std::string::npos) << stopped.err;
  // The result is not there until every point has run; the checkpoint holds the five.
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(dir + "/sweep.svg"));
  EXPECT_EQ(records(partial), 5u);

  // Once more, stopped again: the checkpoint grows.
  const auto again = run_nest_env("NEST_SWEEP_STOP_AFTER=3", args + " --resume --threads 1");
  EXPECT_EQ(again.exit_code, 3) << again.err;
  EXPECT_NE(again.err.find("after 8 of 12 points"), std::string::npos) << again.err;
  EXPECT_EQ(records(partial), 8u);

  // Three points at once (a round cut short at the end): a point's plan does not depend on it.
  const auto resumed = run_nest(args + " --resume --threads 3");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(test::read_all(out), test::read_all(dir + "/straight.csv"));
  EXPECT_EQ(test::read_all(dir + "/sweep.svg"), test::read_all(dir + "/straight.svg"));
  EXPECT_FALSE(std::filesystem::exists(partial));
  EXPECT_NE(test::read_all(out).find(",yes"), std::string::npos);  // the front, over all 12 points
}

TEST(SweepCli, ResumeRefusesAnotherSweepsCheckpointInOneLine) {
  const std::string dir = test::temp_dir() + "/resume-other";
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/sweep.csv", partial = out + ".partial";
  const auto stopped = run_nest_env("NEST_SWEEP_STOP_AFTER=2", kResumable + " --out '" + out + "'");
  ASSERT_EQ(stopped.exit_code, 3) << stopped.err;
  const std::string before = test::read_all(partial);

  struct Case {
    std::string args, says;
  };
  const std::vector<Case> cases = {
      {"sweep --model llama3-8b --cluster dgx-h100 --seq-len 8192 --vary gpus=8,16,100000 --vary global_batch=32,64 "
       "--vary levels.1.bandwidth_GBps=25,50 --no-search-time",
       "--seq-len is '4096' there and '8192' here"},
      {"sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,100000 --vary global_batch=32,64 "
       "--no-search-time",
       "--vary is"},
      {"sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,100000 --vary global_batch=32,64 "
       "--vary levels.1.bandwidth_GBps=25,50",
       "--no-search-time is"},
  };
  for (const Case& c : cases) {
    const auto r = run_nest(c.args + " --out '" + out + "' --resume");
    EXPECT_EQ(r.exit_code, 2) << c.args << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(partial), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(test::read_all(partial), before);  // left as it was
    EXPECT_FALSE(std::filesystem::exists(out));
  }
  // Not a checkpoint at all, a record that is not one of the points, and --resume without --out.
  const std::string bogus = dir + "/bogus.csv";
  test::write_temp("resume-other/bogus.csv.partial", "gpus,status\n8,ok\n");
  auto r = run_nest(kResumable + " --out '" + bogus + "' --resume");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is not a nest sweep checkpoint"), std::string::npos) << r.err;
  std::string edited = before;
  edited.replace(edited.rfind("\n0,"), 3, "\n99,");
  test::write_temp("resume-other/edited.csv.partial", edited);
  r = run_nest(kResumable + " --out '" + dir + "/edited.csv' --resume");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("record 1: point '99' is not one of the 12 points"), std::string::npos) << r.err;
  r = run_nest(kResumable + " --resume");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--resume: needs --out"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST(SweepCli, ACheckpointCutShortLosesOnlyThePointBeingWritten) {
  const std::string dir = test::temp_dir() + "/resume-cut";
  std::filesystem::create_directories(dir);
  const auto straight = run_nest(kResumable + " --out '" + dir + "/straight.csv'");
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const std::string out = dir + "/sweep.csv", partial = out + ".partial";
  ASSERT_EQ(run_nest_env("NEST_SWEEP_STOP_AFTER=4", kResumable + " --out '" + out + "'").exit_code, 3);
  // As if the process was killed while writing its fourth record.
  std::string text = test::read_all(partial);
  text.resize(text.size() - 30);
  std::ofstream(partial, std::ios::trunc) << text;
  const auto resumed = run_nest(kResumable + " --out '" + out + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(test::read_all(out), test::read_all(dir + "/straight.csv"));
}

// Points go to the threads as they ask (run_round): a dispatching thread and workers. Held to one
// OpenMP thread, the process still runs every point, on that thread.
TEST(SweepCli, OneOpenMpThreadStillRunsEveryPoint) {
  const auto all = run_nest(kTwelvePoints + " --threads 3");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const auto one = run_nest_env("OMP_THREAD_LIMIT=1", kTwelvePoints + " --threads 3");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(one.out, all.out);
  EXPECT_EQ(read_csv(one.out).size(), 13u);
}

// --points-per-launch: the points searched at once hand their DP batches to the backend together
// (GatheringBackend); each point's plan, and so the file, is what it is alone.
TEST(SweepCli, PointsPerLaunchGatherCallsAndChangeNoRow) {
  const auto alone = run_nest(kTwelvePoints + " --threads 1");
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  for (const char* gathered : {" --threads 4 --points-per-launch 4 -v", " --threads 3 --points-per-launch 2 -v"}) {
    const auto r = run_nest(kTwelvePoints + gathered);
    ASSERT_EQ(r.exit_code, 0) << gathered << ": " << r.err;
    EXPECT_EQ(r.out, alone.out) << gathered;
    const std::size_t at = r.err.find("solve calls of the searches went to the backend in");
    ASSERT_NE(at, std::string::npos) << r.err;
    long long calls = 0, under = 0;
    ASSERT_EQ(std::sscanf(r.err.c_str() + r.err.rfind(':', at) + 1,
                          " %lld solve calls of the searches went to the backend in %lld", &calls, &under),
              2)
        << r.err;
    EXPECT_GT(calls, 0) << r.err;
    EXPECT_LE(under, calls) << r.err;
  }
  const auto bad = run_nest(kTwelvePoints + " --points-per-launch 0");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_EQ(test::count_lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("--points-per-launch"), std::string::npos) << bad.err;
}

TEST(SweepCli, ResumeWithoutACheckpointStartsFromTheFirstPoint) {
  const std::string dir = test::temp_dir() + "/resume-none";
  std::filesystem::create_directories(dir);
  const auto straight = run_nest(kResumable + " --out '" + dir + "/straight.csv'");
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const auto resumed = run_nest(kResumable + " --out '" + dir + "/sweep.csv' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(test::read_all(dir + "/sweep.csv"), test::read_all(dir + "/straight.csv"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/sweep.csv.partial"));
}

// Ctrl-C for real: SIGINT to the running process once it has finished a point.
TEST(SweepCli, SigintKeepsTheFinishedPointsAndResumeFinishes) {
  const std::string dir = test::temp_dir() + "/sigint";
  std::filesystem::create_directories(dir);
  // Enough points (about 0.05 s each here) that the sweep is still running when the signal comes.
  const std::string args =
      "--model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,32,64,128 --vary global_batch=64,128,256,512 "
      "--vary levels.1.bandwidth_GBps=25,50,100,200,400 --no-search-time --threads 1";
  const auto straight = run_nest("sweep " + args + " --out '" + dir + "/straight.csv'");
  ASSERT_EQ(straight.exit_code, 0) << straight.err;

  const std::string out = dir + "/sweep.csv", partial = out + ".partial";
  const std::string command =
      std::string("exec '") + NEST_BINARY + "' sweep " + args + " --out '" + out + "' 2>'" + dir + "/err'";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(std::filesystem::exists(partial) && records(partial) >= 1) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 3) << test::read_all(dir + "/err");
  EXPECT_NE(test::read_all(dir + "/err").find("interrupted by signal 2"), std::string::npos) << test::read_all(dir + "/err");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_GE(records(partial), 1u);
  EXPECT_LT(records(partial), 100u);

  const auto resumed = run_nest("sweep " + args + " --out '" + out + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(test::read_all(out), test::read_all(dir + "/straight.csv"));
}

// The progress line: on a terminal only (script(1) gives the sweep one), points done of the
// total, the rate and the time left.
TEST(SweepCli, ProgressLineOnATerminalOnly) {
  if (std::system("command -v script >/dev/null 2>&1") != 0) GTEST_SKIP() << "script(1) is not installed (util-linux)";
  const std::string args = "sweep " + kBase + " --vary gpus=8,16,32 --out '" + test::temp_dir() + "/progress.csv'";
  const auto plain = run_nest(args);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_TRUE(plain.err.empty()) << plain.err;
  const auto tty = test::run_command("script -qec \"'" + std::string(NEST_BINARY) + "' " + args + "\" /dev/null");
  ASSERT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("nest sweep: 3/3"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("/s  ~"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find(" left"), std::string::npos) << tty.out;
}

// ---------------------------------------------------------------- MPI

#ifndef NEST_BUILT_WITH_MPI
#define NEST_BUILT_WITH_MPI 0
#endif

#define REQUIRE_MPI()                                                                                     \
  do {                                                                                                    \
    if (!NEST_BUILT_WITH_MPI) GTEST_SKIP() << "nest is built without MPI (NEST_MPI=OFF or no MPI found)"; \
    if (!test::have_mpirun()) GTEST_SKIP() << "mpirun is not installed (apt-get install openmpi-bin)";    \
  } while (0)

// Every column but search_s (the search's wall time, which differs between runs).
std::string without_search_time(const std::string& csv) {
  const auto rows = read_csv(csv);
  const std::size_t drop = column(rows.at(0), "search_s");
  std::string out;
  for (auto row : rows) {
    row.erase(row.begin() + static_cast<std::ptrdiff_t>(drop));
    for (const auto& c : row) out += c + "|";
    out += "\n";
  }
  return out;
}

// `-v`'s "points per rank: a b ...;": how many ranks it lists, once it has checked that they ran
// the 12 points between them.
std::size_t points_per_rank(const std::string& err) {
  const std::string key = "points per rank:";
  const auto at = err.find(key);
  if (at == std::string::npos) return 0;
  std::istringstream in(err.substr(at + key.size(), err.find(';', at) - at - key.size()));
  std::size_t ranks = 0, total = 0;
  for (std::size_t n = 0; in >> n; ++ranks) total += n;
  EXPECT_EQ(total, 12u) << err;
  return ranks;
}

TEST(SweepMpi, OneTwoAndFourRanksWriteWhatOneProcessWrites) {
  REQUIRE_MPI();
  const std::string dir = test::temp_dir() + "/mpi";
  std::filesystem::create_directories(dir);
  const auto single = run_nest(kTwelvePoints + " --threads 2 --out '" + dir + "/single.csv' --svg '" + dir + "/single.svg'");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const std::string csv = test::read_all(dir + "/single.csv"), svg = test::read_all(dir + "/single.svg");
  ASSERT_EQ(read_csv(csv).size(), 13u);
  for (int ranks : {1, 2, 4}) {
    const std::string name = dir + "/ranks" + std::to_string(ranks);
    const auto r = test::run_mpi(ranks, kResumable + " -v --out '" + name + ".csv' --svg '" + name + ".svg'");
    ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
    EXPECT_EQ(test::read_all(name + ".csv"), csv) << ranks << " ranks";
    EXPECT_EQ(test::read_all(name + ".svg"), svg) << ranks << " ranks";
    EXPECT_TRUE(r.out.empty()) << r.out;  // only rank 0 writes, and here to files
    // Every point ran once, on whichever rank asked for it first (mpirun -np 1 is one process).
    EXPECT_EQ(points_per_rank(r.err), static_cast<std::size_t>(ranks)) << r.err;
  }
  // Two ranks of two points at once.
  const auto blocks = test::run_mpi(2, kTwelvePoints + " --threads 2 -v --out '" + dir + "/blocks.csv'");
  ASSERT_EQ(blocks.exit_code, 0) << blocks.err;
  EXPECT_EQ(test::read_all(dir + "/blocks.csv"), csv);
  EXPECT_EQ(points_per_rank(blocks.err), 2u) << blocks.err;
  // The same, each rank's two points handing their DP batches to the backend together.
  const auto gathered =
      test::run_mpi(2, kTwelvePoints + " --threads 2 --points-per-launch 2 -v --out '" + dir + "/gathered.csv'");
  ASSERT_EQ(gathered.exit_code, 0) << gathered.err;
  EXPECT_EQ(test::read_all(dir + "/gathered.csv"), csv);
  EXPECT_EQ(points_per_rank(gathered.err), 2u) << gathered.err;
  // To standard output, with the search time: the same but for that column.
  const auto timed = run_nest(
      "sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,100000 "
      "--vary global_batch=32,64 --vary levels.1.bandwidth_GBps=25,50");
  ASSERT_EQ(timed.exit_code, 0) << timed.err;
  const auto timed4 = test::run_mpi(4,
                                    "sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,100000 "
                                    "--vary global_batch=32,64 --vary levels.1.bandwidth_GBps=25,50");
  ASSERT_EQ(timed4.exit_code, 0) << timed4.err;
  EXPECT_EQ(without_search_time(timed4.out), without_search_time(timed.out));
  EXPECT_NE(timed4.out, timed.out);  // the search times differ (or this comparison proves nothing)
}

// Under mpirun each rank has its own cache of enumerations, so rank 0 hands out the points of one
// space (the same point but for the bandwidth) to one rank: 6 spaces of 4 points on 2 ranks take
// 6 enumerations plus the few a rank makes when it helps with another's run at a round's end;
// handed out in order, alternately, nearly every space would be enumerated on both ranks (12).
TEST(SweepMpi, ARankKeepsToThePointsOfOneSpace) {
  REQUIRE_MPI();
  const std::string sweep =
      "sweep --model llama3-8b --cluster dgx-h100 --seq-len 4096 --vary gpus=8,16,32 --vary global_batch=32,64 "
      "--vary levels.1.bandwidth_GBps=12.5,25,50,100 --no-search-time --threads 1 -v";
  const auto one = run_nest(sweep);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = test::run_mpi(2, sweep);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, one.out);
  auto enumerations = [](const std::string& err) {
    const std::string key = "enumerations per rank:";
    const auto at = err.find(key);
    std::istringstream in(at == std::string::npos ? "" : err.substr(at + key.size()));
    std::vector<long> n;
    for (long x = 0; in >> x;) n.push_back(x);
    return n;
  };
  EXPECT_EQ(enumerations(one.err), std::vector<long>{6}) << one.err;
  const std::vector<long> per_rank = enumerations(two.err);
  ASSERT_EQ(per_rank.size(), 2u) << two.err;
  EXPECT_GE(per_rank[0] + per_rank[1], 6) << two.err;
  EXPECT_LT(per_rank[0] + per_rank[1], 12) << two.err;
}

TEST(SweepMpi, StoppedOnTwoRanksResumedOnFour) {
  REQUIRE_MPI();
  const std::string dir = test::temp_dir() + "/mpi-resume";
  std::filesystem::create_directories(dir);
  const auto single = run_nest(kResumable + " --out '" + dir + "/single.csv'");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const std::string out = dir + "/sweep.csv";
  const auto stopped = test::run_mpi(2, kResumable + " --out '" + out + "'", "NEST_SWEEP_STOP_AFTER=3");
  EXPECT_EQ(stopped.exit_code, 3) << stopped.err;
  EXPECT_NE(stopped.err.find("after 3 of 12 points"), std::string::npos) << stopped.err;  // no point handed out past 3
  EXPECT_EQ(records(out + ".partial"), 3u);
  const auto resumed = test::run_mpi(4, kResumable + " --out '" + out + "' --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(test::read_all(out), test::read_all(dir + "/single.csv"));
}

TEST(SweepMpi, BadInputIsOneLineFromRankZero) {
  REQUIRE_MPI();
  const auto r = test::run_mpi(2, "sweep " + kBase + " --vary gpus=8,x");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const std::string line = "nest: --vary gpus: 'x' is not an integer";
  const auto first = r.err.find(line);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(line, first + 1), std::string::npos) << r.err;  // said once, not once per rank
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// A build without MPI started by mpirun would run every point on every rank: it says so instead
// (the launcher's environment, as mpirun -np 2 sets it).
TEST(SweepCli, WithoutMpiUnderMpirunSaysSo) {
  if (NEST_BUILT_WITH_MPI) GTEST_SKIP() << "nest is built with MPI (SweepMpi covers mpirun)";
  const auto r = run_nest_env("OMPI_COMM_WORLD_SIZE=2", "sweep " + kBase + " --vary gpus=8,16");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("built without MPI"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

}  // namespace
}  // namespace nest
