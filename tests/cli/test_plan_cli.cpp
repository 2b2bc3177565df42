// nest plan and nest export end to end through the real binary.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "nest/io/json.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;

Json plan_json(const std::string& args) {
  const auto r = run_nest("plan " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  return parse_json(r.out, "stdout");
}

// The DP's own value equals the evaluator's on the plan it returns, on presets.
TEST(PlanCli, DpValueEqualsEvaluateOnPresets) {
  for (const std::string args :
       {"--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 4096",
        "--model mixtral-8x7b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096",
        "--model gpt3-175b --cluster dgx-a100 --gpus 1024 --global-batch 1536 --seq-len 2048",
        "--model llama3-70b --cluster dgx-h100 --gpus 1024 --global-batch 1024 --seq-len 8192 --pp 4,8 --zero 1",
        "--model bert-large --cluster nest-tpuv4-fattree --gpus 64 --global-batch 4096 --seq-len 512",
        // MLA, dense-then-MoE stack, MTP head, on DeepSeek-V3's published layout (docs/models.md)
        "--model deepseek-v3 --cluster dgx-h800 --gpus 2048 --global-batch 15360 --seq-len 4096 --tp 1 --pp 16 --ep 64 "
        "--zero 1 --precision fp8"}) {
    const std::string out = test::temp_dir() + "/preset_plan.json";
    const Json j = plan_json(args + " --out '" + out + "'");
    const double dp_value = j["search"]["dp_value_s"].get<double>();
    const double predicted = j["prediction"]["step_time_s"].get<double>();
    EXPECT_NEAR(dp_value / predicted, 1.0, 1e-9) << args;
    const auto e = run_nest("evaluate --plan '" + out + "' --json");
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_NEAR(parse_json(e.out, "evaluate")["prediction"]["step_time_s"].get<double>() / dp_value, 1.0, 1e-9) << args;
    for (const char* k : {"backend", "slices", "cells", "seconds", "method"}) EXPECT_TRUE(j["search"].contains(k)) << k;
    EXPECT_EQ(j["search"]["method"], "dp");
  }
}

TEST(PlanCli, RestrictionsAreObeyedAndTopKIsSorted) {
  const Json j = plan_json(
      "--model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq-len 4096 --tp 8 --pp 4 --zero 1 "
      "--recompute none,selective --schedule 1f1b --top 4");
  EXPECT_EQ(j["parallelism"]["tp"], 8);
  EXPECT_EQ(j["parallelism"]["pp"], 4);
  EXPECT_EQ(j["parallelism"]["zero"], 1);
  EXPECT_EQ(j["parallelism"]["schedule"], "1f1b");
  EXPECT_NE(j["parallelism"]["recompute"], "full");
  ASSERT_EQ(j["alternatives"].size(), 4u);
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_LE(j["alternatives"][i - 1]["step_time_s"].get<double>(), j["alternatives"][i]["step_time_s"].get<double>());
}

// Through the CLI, end to end (the exactness suites compare the DP with enumeration in depth).
// Pipelines up to 4 stages: with 8 the enumeration of 34 layers' splits took 135 s of the suite.
TEST(PlanCli, ExhaustiveEqualsDpOnASmallPreset) {
  const std::string args =
      "--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 16 --seq-len 2048 --tp 1,2 --pp 1,2,4 --microbatch 1 --cp 1 "
      "--zero 0,1";
  const Json dp = plan_json(args);
  const Json ex = plan_json(args + " --search exhaustive");
  EXPECT_EQ(ex["search"]["method"], "exhaustive");
  EXPECT_NEAR(dp["prediction"]["step_time_s"].get<double>() / ex["prediction"]["step_time_s"].get<double>(), 1.0, 1e-9);
}

TEST(PlanCli, TextReportExplainsTheWinner) {
  const auto r = run_nest("plan --model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq-len 4096 --top 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"step time", "bottleneck", "runner-up", "top 3 plans", "search     dp on cpu"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(PlanCli, NoFeasiblePlanReportsTheClosestAndTheGpusNeeded) {
  const auto r = run_nest("plan --model llama3-405b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 8192 --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const Json j = parse_json(r.out, "stdout");
  EXPECT_FALSE(j["feasible"].get<bool>());
  EXPECT_GT(j["closest"]["lacks_bytes"].get<double>(), 0);
  EXPECT_GT(j["gpus_needed"].get<long>(), 16);
  const auto t = run_nest("plan --model llama3-405b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 8192");
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_NE(t.out.find("closest plan"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("GiB more per GPU"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("GPUs ("), std::string::npos) << t.out;
}

// A search space that the framework empties for the problem itself says why: its reasons for
// every plan of data parallelism alone (Transformer Engine's fused attention asked of
// Megatron-DeepSpeed, which has flash-attn 2 only); an empty space from the restrictions alone
// names no framework reason.
TEST(PlanCli, AnEmptySearchSpaceSaysWhatTheFrameworkRefuses) {
  const std::string args = "plan --model gemma3-27b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096 --json";
  const auto r = run_nest(args + " --framework deepspeed --attention-kernel fused");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string why = parse_json(r.out, "stdout")["violations"].back().get<std::string>();
  EXPECT_NE(why.find("deepspeed refuses even data parallelism alone: Megatron-DeepSpeed's fused attention is the flash-attn 2 "
                     "package"),
            std::string::npos)
      << why;
  const auto t = run_nest(args + " --framework megatron --tp 3");
  EXPECT_EQ(t.exit_code, 1) << t.err;
  const std::string plain = parse_json(t.out, "stdout")["violations"].back().get<std::string>();
  EXPECT_NE(plain.find("no slice of the search space"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("refuses"), std::string::npos) << plain;
  // The search's record (--out) is no plan to export or evaluate, and says so.
  const std::string file = test::temp_dir() + "/empty-space-plan.json";
  ASSERT_EQ(run_nest(args + " --framework deepspeed --attention-kernel fused --out '" + file + "'").exit_code, 1);
  const auto e = run_nest("export --plan '" + file + "' --to deepspeed");
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find("found no feasible plan"), std::string::npos) << e.err;
}

// Where nothing is consistent, the splits of the GPUs that come nearest say what each violates:
// BERT-large (tied embeddings) under torchtitan on 72 GPUs with a global batch of 256 has no
// data-parallel degree dividing the batch without pipelining the 9 left over, and torchtitan does
// not pipeline tied embeddings. The restrictions count: --tp 3 names the heads it does not divide.
TEST(PlanCli, AnEmptySearchSpaceNamesTheNearestSplitsAndWhatTheyViolate) {
  // The nearest splits a search without a consistent slice reports (exit 1), in its JSON.
  const auto nearest_of = [](const std::string& args) {
    const auto r = run_nest("plan --json " + args);
    EXPECT_EQ(r.exit_code, 1) << args << ": " << r.err;
    const Json j = parse_json(r.out, "stdout");
    EXPECT_TRUE(j.contains("nearest_splits") && !j["nearest_splits"].empty()) << args << ": " << r.out;
    return j.contains("nearest_splits") ? j["nearest_splits"] : Json::array();
  };
  const std::string bert =
      "--model bert-large --cluster gb200-nvl72 --gpus 72 --global-batch 256 --seq-len 512 --framework torchtitan";
  bool batch = false, tied = false;
  for (const Json& s : nearest_of(bert)) {
    ASSERT_FALSE(s["violations"].empty()) << s.dump();
    for (const Json& v : s["violations"]) {
      batch = batch || v.get<std::string>().find("is not a multiple of dp*microbatch") != std::string::npos;
      tied = tied || v.get<std::string>().find("does not tie embeddings under pipeline parallelism") != std::string::npos;
    }
  }
  EXPECT_TRUE(batch && tied);
  const auto text = run_nest("plan " + bert);
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("the nearest splits of the 72 GPUs:\n  tp 1 cp 1 pp 1 dp 72: global batch 256"), std::string::npos)
      << text.out;
  const std::string gemma = "--model gemma3-27b --cluster dgx-h100 --global-batch 64 --seq-len 4096 --tp 3";
  for (const Json& s : nearest_of(gemma + " --gpus 24")) {
    EXPECT_NE(s["split"].get<std::string>().find("tp 3 "), std::string::npos) << s.dump();
    EXPECT_NE(s["violations"].dump().find("tp 3 does not divide the 32 attention heads"), std::string::npos) << s.dump();
  }
  // A setting asked for that the framework refuses on every split is named on each.
  for (const Json& s : nearest_of("--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 4096 "
                                  "--framework deepspeed --precision fp8"))
    EXPECT_NE(s["violations"].dump().find("DeepSpeed has no fp8 training recipe"), std::string::npos) << s.dump();
  // An offload asked for alone counts too: jean-zay-a100 states no host memory bandwidth.
  for (const Json& s : nearest_of("--model llama2-7b --cluster jean-zay-a100 --gpus 64 --global-batch 128 --seq-len 4096 "
                                  "--framework deepspeed --zero 1 --offload-optimizer on"))
    EXPECT_NE(s["violations"].dump().find("optimizer offload needs the host memory bandwidth"), std::string::npos) << s.dump();
  // No split of 16 GPUs has tp 3: said so.
  const auto none = run_nest("plan " + gemma + " --gpus 16");
  EXPECT_EQ(none.exit_code, 1) << none.err;
  EXPECT_NE(none.out.find("no split of the 16 GPUs into tp x cp x pp x dp has the degrees asked for"), std::string::npos)
      << none.out;
}

// --cp names context-parallel degrees outside the default range (powers of two up to 32) and the
// search takes them where the model admits them (they had been filtered out of the default range
// to nothing); one the sequence does not split for is named with its violation.
TEST(PlanCli, AskedContextParallelDegreesOutsideTheDefaultRangeAreSearched) {
  const auto plan_of = [](const std::string& args) {
    const auto r = run_nest("plan --model llama3-8b --cluster dgx-h100 --json " + args);
    EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err << r.out;
    return parse_json(r.out, "stdout");
  };
  EXPECT_EQ(plan_of("--gpus 64 --global-batch 1 --seq-len 131072 --cp 64")["parallelism"]["cp"], 64);
  EXPECT_EQ(plan_of("--gpus 24 --global-batch 8 --seq-len 12288 --cp 3")["parallelism"]["cp"], 3);
  const Json some = plan_of("--gpus 24 --global-batch 8 --seq-len 12288 --cp 1,3,6,3");
  const int cp = some["parallelism"]["cp"].get<int>();
  EXPECT_TRUE(cp == 1 || cp == 3 || cp == 6) << cp;
  const auto r = run_nest("plan --model llama3-8b --cluster dgx-h100 --gpus 40 --global-batch 8 --seq-len 12288 --cp 5 --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const Json near = parse_json(r.out, "stdout")["nearest_splits"];
  ASSERT_FALSE(near.empty()) << r.out;
  EXPECT_NE(near[0]["violations"].dump().find("cp 5: the sequence length 12288 must split into 2*cp equal chunks"),
            std::string::npos)
      << near.dump();
}

TEST(PlanCli, BadFlagsAreOneLineExitTwo) {
  const std::string base = "plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 16 --seq-len 2048 ";
  for (const std::string bad : {"--tp 0", "--tp 1,x", "--zero 5", "--search magic", "--recompute lots", "--schedule gpipe",
                                "--top 0", "--order tp-dp-pp", "--threads -1", "--sp maybe"}) {
    const auto r = run_nest(base + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << bad << ": " << r.err;
  }
}

// The plan file states the model's counts and block kinds (model_info), and a plan file with
// them still reads back (evaluate, export).
// --gpu-power-limit: a slower step, recorded in the plan file, honoured by evaluate --plan;
// the same cap from a cluster file's gpu_power_limit_W; bad caps are one line, exit 2.
TEST(PlanCli, GpuPowerLimitIsPricedAndRecorded) {
  const std::string args =
      "--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 4096 --tp 1 --pp 1 --zero 1";
  const Json full = plan_json(args);
  const std::string out = test::temp_dir() + "/capped_plan.json";
  const Json capped = plan_json(args + " --gpu-power-limit 500 --out '" + out + "'");
  const double t_full = full["prediction"]["step_time_s"].get<double>();
  const double t_capped = capped["prediction"]["step_time_s"].get<double>();
  EXPECT_GT(t_capped, t_full * 1.02);
  EXPECT_LT(t_capped, t_full / std::cbrt(500.0 / 700.0) * (1 + 1e-9));  // only the tensor-core part slows
  const Json file = parse_json(test::read_all(out), out);
  EXPECT_EQ(file["gpu_power_limit_W"].get<double>(), 500);
  const auto e = run_nest("evaluate --plan '" + out + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(parse_json(e.out, "evaluate")["prediction"]["step_time_s"].get<double>() / t_capped, 1.0, 1e-12);
  // The launch script says how to set the cap the plan assumes.
  const auto x = run_nest("export --plan '" + out + "' --to megatron");
  ASSERT_EQ(x.exit_code, 0) << x.err;
  EXPECT_NE(x.out.find("#   nvidia-smi -pl 500\n"), std::string::npos) << x.out;
  // A cluster file stating the cap gives the same step.
  Json cluster = parse_json(test::read_all(std::string(NEST_SOURCE_DIR) + "/presets/clusters/dgx-h100.json"), "dgx-h100");
  cluster["gpu_power_limit_W"] = 500;
  const std::string cluster_path = test::write_temp("dgx-h100-500w.json", cluster.dump());
  const Json from_file = plan_json("--model llama3-8b --cluster '" + cluster_path +
                                   "' --gpus 8 --global-batch 64 --seq-len 4096 --tp 1 --pp 1 --zero 1");
  EXPECT_NEAR(from_file["prediction"]["step_time_s"].get<double>() / t_capped, 1.0, 1e-12);
  for (const std::string bad : {" --gpu-power-limit -5", " --gpu-power-limit 0.0001e9", " --gpu-power-limit x"}) {
    const auto r = run_nest("plan " + args + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << bad << ": " << r.err;
  }
  const auto tpu = run_nest(
      "plan --model bert-large --cluster nest-tpuv4-fattree --gpus 64 --global-batch 4096 --seq-len 512 --gpu-power-limit 100");
  EXPECT_EQ(tpu.exit_code, 2) << tpu.err;
  EXPECT_NE(tpu.err.find("tdp_W"), std::string::npos) << tpu.err;
}

// --cluster-set: the plan on a topology with a field set is the plan on the file edited by hand;
// the plan file records the settings, so that evaluate --plan and export cost the same cluster;
// --plan refuses new settings.
// A job on NVL72 racks may take 16 of each rack's 18 hosts (Slurm's --segment) instead of
// filling racks: nest plan searches the share, reports what the others cost, records the one it
// took so that evaluate and export replay it, and leaves a share the user set alone.
TEST(PlanCli, DomainShareIsSearchedRecordedAndReplayed) {
  const std::string args = "--model llama3.1-8b --cluster gb200-nvl72 --gpus 512 --global-batch 128 --seq-len 8192";
  const std::string out = test::temp_dir() + "/domain_share_plan.json";
  const Json j = plan_json(args + " --out '" + out + "'");
  ASSERT_TRUE(j.contains("domain_share")) << j.dump();
  const Json& share = j["domain_share"];
  EXPECT_EQ(share["level"], "nvlink");
  EXPECT_EQ(share["domain_gpus"], 72);
  EXPECT_EQ(share["host_gpus"], 4);
  ASSERT_EQ(share["searched"].size(), 2u);
  EXPECT_EQ(share["searched"][0]["gpus_per_domain"], 72);
  EXPECT_EQ(share["searched"][1]["gpus_per_domain"], 64);
  const double t = j["prediction"]["step_time_s"].get<double>();
  // Each share as the user would pin it, searched alone.
  const Json filled = plan_json(args + " --cluster-set levels.0.size=72");
  const Json segment = plan_json(args + " --cluster-set levels.nvlink.size=64");
  EXPECT_FALSE(filled.contains("domain_share"));
  EXPECT_FALSE(segment.contains("domain_share"));
  const double t72 = filled["prediction"]["step_time_s"].get<double>(), t64 = segment["prediction"]["step_time_s"].get<double>();
  EXPECT_EQ(share["searched"][0]["step_time_s"].get<double>(), t72);
  EXPECT_EQ(share["searched"][1]["step_time_s"].get<double>(), t64);
  // the larger share unless the smaller one is more than 1% faster (kDomainShareMinGain)
  const int chosen = share["gpus_per_domain"].get<int>();
  EXPECT_EQ(chosen, t72 <= std::min(t72, t64) * 1.01 ? 72 : 64);
  EXPECT_EQ(t, chosen == 72 ? t72 : t64);
  EXPECT_EQ(share["domains"], (512 + chosen - 1) / chosen);
  const Json file = parse_json(test::read_all(out), out);
  if (chosen == 64) {
    EXPECT_EQ(file["cluster_set"], Json::array({"levels.0.size=64"}));
  } else {
    EXPECT_FALSE(file.contains("cluster_set"));
  }
  const auto e = run_nest("evaluate --plan '" + out + "' --json --explain-placement");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Json ej = parse_json(e.out, "evaluate");
  EXPECT_EQ(ej["prediction"]["step_time_s"].get<double>(), t);
  // --explain-placement prices the same plan on every share, its own among them.
  const Json& costs = ej["placement_comparison"]["domain_shares"];
  ASSERT_EQ(costs.size(), 2u) << ej["placement_comparison"].dump();
  for (const Json& c : costs) {
    ASSERT_TRUE(c["feasible"].get<bool>()) << c.dump();
    if (c["gpus_per_domain"] == chosen) {
      EXPECT_EQ(c["step_time_s"].get<double>(), t);
    }
    // never faster than the best plan of that share
    EXPECT_GE(c["step_time_s"].get<double>(), c["gpus_per_domain"] == 72 ? t72 : t64);
  }
  // The launch runs one process per GPU of each 4-GPU host, and says which share to ask for.
  const auto x = run_nest("export --plan '" + out + "' --to megatron");
  ASSERT_EQ(x.exit_code, 0) << x.err;
  EXPECT_NE(x.out.find("--nproc_per_node 4"), std::string::npos) << x.out;
  EXPECT_NE(x.out.find("--nnodes 128"), std::string::npos) << x.out;
  if (chosen == 64) {
    EXPECT_NE(x.out.find("sbatch --segment=16"), std::string::npos) << x.out;
  }
  // The text report's line.
  const auto text = run_nest("plan " + args);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("domains    " + std::to_string(chosen) + " of the 72 GPUs of each nvlink domain"), std::string::npos)
      << text.out;
  // One rack holds the job: nothing to choose.
  EXPECT_FALSE(plan_json("--model llama3.1-8b --cluster gb200-nvl72 --gpus 64 --global-batch 128 --seq-len 8192")
                   .contains("domain_share"));
}

TEST(PlanCli, ClusterSetIsRecordedAndReplayed) {
  const std::string args = "--model llama3-70b --cluster fattree-2to1 --gpus 512 --global-batch 512 --seq-len 8192";
  const std::string set =
      " --cluster-set networks.0.tiers.spine.oversubscription=4 --cluster-set networks.0.nic_bandwidth_GBps=25";
  const std::string out = test::temp_dir() + "/cluster_set_plan.json";
  const Json given = plan_json(args + set + " --out '" + out + "'");
  Json edited = parse_json(test::read_all(std::string(NEST_SOURCE_DIR) + "/presets/topologies/fattree-2to1.json"), "fattree");
  edited["networks"][0]["tiers"][1]["oversubscription"] = 4;
  edited["networks"][0]["nic_bandwidth_GBps"] = 25;
  const std::string path = test::write_temp("fattree-4to1.json", edited.dump());
  const Json by_hand = plan_json("--model llama3-70b --cluster '" + path + "' --gpus 512 --global-batch 512 --seq-len 8192");
  const double t = given["prediction"]["step_time_s"].get<double>();
  EXPECT_EQ(t, by_hand["prediction"]["step_time_s"].get<double>());
  EXPECT_EQ(given["parallelism"], by_hand["parallelism"]);
  EXPECT_GT(t, plan_json(args)["prediction"]["step_time_s"].get<double>());  // a slower network
  const Json file = parse_json(test::read_all(out), out);
  ASSERT_TRUE(file.contains("cluster_set"));
  EXPECT_EQ(file["cluster_set"], Json::array({"networks.0.tiers.spine.oversubscription=4", "networks.0.nic_bandwidth_GBps=25"}));
  const auto e = run_nest("evaluate --plan '" + out + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(parse_json(e.out, "evaluate")["prediction"]["step_time_s"].get<double>(), t);
  const auto again = run_nest("evaluate --plan '" + out + "' --cluster-set gpu=h200");
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_EQ(test::count_lines(again.err), 1) << again.err;
  // A plan file whose settings are not PATH=VALUE strings, or lead nowhere: one line naming it.
  for (const Json& bad : {Json::array({5}), Json::array({"bogus"}), Json::array({"networks.0.tiers.top.latency_s=1"})}) {
    Json broken = file;
    broken["cluster_set"] = bad;
    const std::string broken_path = test::write_temp("broken_cluster_set.json", broken.dump());
    const auto r = run_nest("evaluate --plan '" + broken_path + "'");
    EXPECT_EQ(r.exit_code, 2) << bad.dump() << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("broken_cluster_set.json"), std::string::npos) << r.err;
  }
  for (const std::string bad : {" --cluster-set nodes", " --cluster-set networks.0.tiers.bogus.latency_s=1e-6",
                                " --cluster-set networks.0.nic_bandwidth_GBps=-1"}) {
    const auto r = run_nest("plan " + args + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << bad << ": " << r.err;
  }
}

TEST(PlanCli, PlanFileStatesTheModelsCounts) {
  const std::string out = test::temp_dir() + "/model_info_plan.json";
  const Json j = plan_json(
      "--model deepseek-v3 --cluster dgx-h800 --gpus 1024 --global-batch 1024 --seq-len 4096 "
      "--tp 1 --pp 16 --ep 64 --zero 1 --out '" +
      out + "'");
  const Json& mi = j["model_info"];
  EXPECT_EQ(mi["model_type"], "deepseek_v3");
  EXPECT_EQ(mi["layers"], 61);
  // 671B without the 11.5B MTP module (README_WEIGHTS.md; test_families.cpp checks the counts)
  EXPECT_NEAR(mi["parameters_without_mtp"].get<double>() / 671e9, 1.0, 0.01);
  EXPECT_NEAR(mi["parameters"].get<double>(), mi["parameters_without_mtp"].get<double>() + mi["mtp_parameters"].get<double>(),
              1.0);
  EXPECT_LT(mi["active_parameters"].get<double>(), 0.1 * mi["parameters"].get<double>());
  ASSERT_EQ(mi["layer_kinds"].size(), 3u);
  EXPECT_EQ(mi["layer_kinds"][0]["kind"], "dense");
  EXPECT_EQ(mi["layer_kinds"][0]["count"], 3);
  EXPECT_EQ(mi["layer_kinds"][1]["kind"], "moe");
  EXPECT_EQ(mi["layer_kinds"][1]["count"], 58);
  EXPECT_EQ(mi["layer_kinds"][2]["kind"], "mtp");
  EXPECT_EQ(mi["experts"]["routed"], 256);
  EXPECT_EQ(mi["experts"]["per_token"], 8);
  const auto e = run_nest("evaluate --plan '" + out + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const Json ej = parse_json(e.out, "evaluate");
  EXPECT_EQ(ej["model_info"], mi);
  EXPECT_NEAR(ej["prediction"]["step_time_s"].get<double>() / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(run_nest("export --plan '" + out + "' --to megatron").exit_code, 0);

  // A dense model: active = total; no experts or MTP fields.
  const Json d = plan_json("--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 16 --seq-len 2048 --tp 1,2");
  EXPECT_EQ(d["model_info"]["parameters"], d["model_info"]["active_parameters"]);
  EXPECT_FALSE(d["model_info"].contains("experts"));
  EXPECT_FALSE(d["model_info"].contains("mtp_parameters"));
  EXPECT_EQ(d["model_info"]["layer_kinds"][0]["count"], 32);
}

// MoE routing inputs: the expert load imbalance of dropless routing scales the busiest GPU's
// expert tokens exactly as a capacity factor of the same size pads them (one formula,
// transformer.hpp expert_load); the all-gather dispatcher moves the EP group's tokens instead of
// the routed copies. Both are recorded in the plan file, read back and exported.
TEST(PlanCli, ExpertLoadAndTokenDispatch) {
  const std::string args =
      "--model mixtral-8x7b --cluster dgx-h100 --gpus 64 --global-batch 256 --seq-len 4096 --tp 2 --pp 1 --cp 1 --ep 8 "
      "--sp on --microbatch 1 --zero 1 --recompute full --schedule 1f1b --json";
  auto evaluate = [&](const std::string& extra) {
    const auto r = run_nest("evaluate " + args + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parse_json(r.out, "evaluate");
  };
  const Json base = evaluate(""), skewed = evaluate("--expert-load 1.5"), padded = evaluate("--capacity-factor 1.5");
  auto br = [](const Json& j, const char* k) { return j["prediction"]["breakdown_s"][k].get<double>(); };
  EXPECT_GT(br(skewed, "ep"), br(base, "ep"));
  EXPECT_GT(br(skewed, "compute"), br(base, "compute"));
  EXPECT_DOUBLE_EQ(skewed["prediction"]["step_time_s"].get<double>(), padded["prediction"]["step_time_s"].get<double>());
  EXPECT_EQ(skewed["options"]["expert_load"], 1.5);

  const std::string out = test::temp_dir() + "/allgather_plan.json";
  const Json gathered = evaluate("--moe-dispatch allgather --out '" + out + "'");
  EXPECT_EQ(gathered["options"]["moe_dispatch"], "allgather");
  EXPECT_NE(br(gathered, "ep"), br(base, "ep"));
  EXPECT_DOUBLE_EQ(br(gathered, "compute"), br(base, "compute"));
  const auto back = run_nest("evaluate --plan '" + out + "' --json");
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_DOUBLE_EQ(parse_json(back.out, "back")["prediction"]["step_time_s"].get<double>(),
                   gathered["prediction"]["step_time_s"].get<double>());
  const auto ex = run_nest("export --plan '" + out + "' --to megatron");
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  EXPECT_NE(ex.out.find("--moe-token-dispatcher-type allgather"), std::string::npos) << ex.out;

  for (const std::string bad : {"--expert-load 0.5", "--expert-load 1.2 --capacity-factor 1.5",
                                "--framework torchtitan --moe-dispatch allgather", "--moe-dispatch ring"}) {
    const auto r = run_nest("evaluate " + args + " " + bad);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  }
}

TEST(PlanCli, NestInputPlansAndEvaluates) {
  const std::string dir = std::string(NEST_TEST_DATA) + "/nest-reference/tpuv4-gpt3-128";
  const Json ours = plan_json("--nest-input '" + dir + "/input.json'");
  const auto theirs = run_nest("evaluate --nest-input '" + dir + "/input.json' --nest-output '" + dir + "/output.json' --json");
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  const Json t = parse_json(theirs.out, "theirs");
  EXPECT_LE(ours["prediction"]["step_time_s"].get<double>(), t["prediction"]["step_time_s"].get<double>());
  EXPECT_NEAR(t["nest"]["finalTimePerBatch"].get<double>(), 5010533.64, 0.01);
  const auto bad = run_nest("plan --nest-input '" + dir + "/input.json' --model llama3-8b");
  EXPECT_EQ(bad.exit_code, 2);
}

// A profile imported from real nccl-tests logs replaces the preset's link figures; the plan
// file remembers it, so evaluating the plan file gives the same prediction.
TEST(PlanCli, ImportedProfileFeedsPlanAndEvaluate) {
  const std::string data = std::string(NEST_TEST_DATA) + "/nccl-tests/";
  const std::string prof = test::temp_dir() + "/h100_profile.json";
  const auto imp = run_nest("profile import --nccl-tests '" + data + "h100x8_1node_5colls_nccltests-2.17.8.txt' '" + data +
                            "h100x80_10node_5colls_nccltests-2.17.8.txt' --out '" + prof + "'");
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  const std::string args =
      "--model llama3-70b --cluster dgx-h100 --gpus 512 --global-batch 512 --seq-len 4096 --pp 4 --tp 8 --zero 1";
  const Json base = plan_json(args);
  const std::string out = test::temp_dir() + "/profiled_plan.json";
  const Json with = plan_json(args + " --profile '" + prof + "' --out '" + out + "'");
  EXPECT_EQ(with["profile"], prof);
  EXPECT_NE(with["prediction"]["step_time_s"].get<double>(), base["prediction"]["step_time_s"].get<double>());
  const auto e = run_nest("evaluate --plan '" + out + "' --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(parse_json(e.out, "e")["prediction"]["step_time_s"].get<double>() / with["prediction"]["step_time_s"].get<double>(),
              1.0, 1e-12);
  const auto bad = run_nest("plan " + args + " --profile /nonexistent.json");
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(ExportCli, MegatronTorchtitanAndRankMap) {
  const std::string out = test::temp_dir() + "/export_plan.json";
  const auto p = run_nest(
      "evaluate --model llama3-70b --cluster dgx-h100 --gpus 64 --global-batch 64 --seq-len 4096 --tp 4 --pp 4 "
      "--sp on --zero 1 --recompute selective --layers-per-stage 19,21,21,19 --out '" +
      out + "'");
  ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
  const auto m = run_nest("export --plan '" + out + "' --to megatron");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  for (const char* s :
       {"--tensor-model-parallel-size 4", "--pipeline-model-parallel-size 4", "--sequence-parallel", "--micro-batch-size 1",
        "--global-batch-size 64", "--recompute-granularity selective", "--use-distributed-optimizer", "--num-layers 80",
        "--hidden-size 8192", "--seq-length 4096", "export CUDA_DEVICE_MAX_CONNECTIONS=1", "pretrain_gpt.py"})
    EXPECT_NE(m.out.find(s), std::string::npos) << s << "\n" << m.out;
  // Even middle stages (21, 21) with free first and last stages: the first/last-stage flags.
  EXPECT_NE(m.out.find("--decoder-first-pipeline-num-layers 19"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("--decoder-last-pipeline-num-layers 19"), std::string::npos) << m.out;

  // ZeRO-1 is Megatron's distributed optimizer; torchtitan has no ZeRO-1.
  const auto t = run_nest("export --plan '" + out + "' --to torchtitan");
  EXPECT_EQ(t.exit_code, 2) << t.out;
  EXPECT_NE(t.err.find("no ZeRO-1"), std::string::npos) << t.err;

  const std::string csv = test::temp_dir() + "/rankmap.csv";
  const auto r = run_nest("export --plan '" + out + "' --to rankmap --out '" + csv + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(test::read_all(csv));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "global_rank,node,local_gpu,tp,cp,ep,dp,pp,stage_layers");
  std::set<std::string> coords;
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    // tp,cp,ep,dp,pp coordinates identify a rank uniquely
    std::vector<std::string> c;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) c.push_back(x);
    ASSERT_EQ(c.size(), 9u) << line;
    EXPECT_TRUE(coords.insert(c[3] + "," + c[4] + "," + c[5] + "," + c[6] + "," + c[7]).second) << line;
    EXPECT_EQ(std::stoi(c[1]), std::stoi(c[0]) / 8);
    if (c[7] == "0") {
      EXPECT_EQ(c[8], "-1..18");
    }
    if (c[7] == "3") {
      EXPECT_EQ(c[8], "61..80");
    }
  }
  EXPECT_EQ(rows, 64);
  // DeepSpeed has no TP communication overlap, which the plan switched on.
  const auto bad = run_nest("export --plan '" + out + "' --to deepspeed");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(test::count_lines(bad.err), 1) << bad.err;
}

TEST(ExportCli, UnevenMiddleStagesUseTheLayoutFlag) {
  const std::string out = test::temp_dir() + "/export_uneven.json";
  const auto p = run_nest(
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 32 --global-batch 32 --seq-len 4096 --tp 2 --pp 4 "
      "--zero 1 --layers-per-stage 7,9,8,8 --out '" +
      out + "'");
  ASSERT_EQ(p.exit_code, 0) << p.err << p.out;
  const auto m = run_nest("export --plan '" + out + "' --to megatron");
  EXPECT_NE(m.out.find("--pipeline-model-parallel-layout 'Et*7|t*9|t*8|t*8L'"), std::string::npos) << m.out;
}

// --explain-failures re-plans without one node; its figures are those of a plain `nest plan`
// on the cluster it describes (the job one node smaller; a topology with the node taken out).
TEST(PlanCli, ExplainFailuresIsThePlanWithoutOneNode) {
  const std::string h = "--model llama3-8b --cluster dgx-h100 --global-batch 64 --seq-len 4096";
  const Json j = plan_json(h + " --gpus 32 --explain-failures");
  const Json& lost = j["failures"]["node_lost"];
  EXPECT_EQ(lost["node_gpus"], 8);
  EXPECT_EQ(lost["gpus_after"], 24);
  ASSERT_TRUE(lost["feasible"].get<bool>());
  const Json direct = plan_json(h + " --gpus 24");
  EXPECT_EQ(lost["step_time_s"].get<double>(), direct["prediction"]["step_time_s"].get<double>());
  EXPECT_NEAR(lost["step_time_change"].get<double>(),
              direct["prediction"]["step_time_s"].get<double>() / j["prediction"]["step_time_s"].get<double>() - 1, 1e-12);

  // A topology: the job's last node (31 for 256 GPUs on 8-GPU nodes) comes out; the cluster has
  // spares, so the job keeps its size and shifts onto node 32.
  const std::string t = "--model llama3-8b --cluster superpod-h100 --global-batch 256 --seq-len 4096 --gpus 256";
  const Json tj = plan_json(t + " --explain-failures");
  const Json& tl = tj["failures"]["node_lost"];
  EXPECT_EQ(tl["node_taken_out"], 31);
  EXPECT_EQ(tl["gpus_after"], 256);
  const Json tdirect = plan_json(t + " --unavailable-nodes 31");
  EXPECT_EQ(tl["step_time_s"].get<double>(), tdirect["prediction"]["step_time_s"].get<double>());

  const auto text = run_nest("plan " + h + " --gpus 32 --explain-failures");
  EXPECT_NE(text.out.find("losing one node (8 GPUs): 24 GPUs"), std::string::npos) << text.out;
  const auto none = run_nest("plan " + h + " --gpus 8 --explain-failures");
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("--explain-failures"), std::string::npos) << none.err;
}

// Losing a switch: each tier that states its switches is priced, and the figure is `nest plan
// --lost-switch TIER`'s; the plan file records it, so evaluate costs the same degraded network.
TEST(PlanCli, ExplainFailuresPricesALostSwitchOfEachTier) {
  const std::string t = "--model llama3-8b --cluster superpod-h100 --global-batch 512 --seq-len 4096 --gpus 1024";
  const Json j = plan_json(t + " --explain-failures");
  const Json& lost = j["failures"]["switch_lost"];
  ASSERT_EQ(lost.size(), 2u) << lost.dump();
  for (const Json& s : lost) {
    const std::string tier = s["tier"];
    ASSERT_TRUE(s["feasible"].get<bool>()) << tier;
    EXPECT_EQ(s["gpus_after"], 1024);
    EXPECT_DOUBLE_EQ(s["capacity_kept"].get<double>(), tier == "leaf" ? 7.0 / 8 : 0.5);
    const Json direct = plan_json(t + " --lost-switch " + tier);
    EXPECT_EQ(s["step_time_s"].get<double>(), direct["prediction"]["step_time_s"].get<double>()) << tier;
    EXPECT_GE(s["step_time_s"].get<double>(), j["prediction"]["step_time_s"].get<double>()) << tier;
  }
  const std::string plan = test::temp_dir() + "/lost-spine.plan.json";
  const Json p = plan_json(t + " --lost-switch spine --out '" + plan + "'");
  EXPECT_EQ(read_json_file(plan)["lost_switch"], "spine");
  const auto ev = run_nest("evaluate --plan '" + plan + "' --json");
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_EQ(parse_json(ev.out, "evaluate")["prediction"]["step_time_s"].get<double>(),
            p["prediction"]["step_time_s"].get<double>());
  const auto text = run_nest("plan " + t + " --explain-failures");
  EXPECT_NE(text.out.find("losing one spine switch (1 of 2 on its rail): 50% of that domain's capacity"), std::string::npos)
      << text.out;
  const auto torus =
      run_nest("plan --model llama3-8b --cluster tpuv4-torus --gpus 512 --global-batch 512 --seq-len 4096 --explain-failures");
  EXPECT_EQ(torus.exit_code, 2);
  EXPECT_EQ(torus.err.rfind("nest: --explain-failures: ", 0), 0u) << torus.err;
}

}  // namespace
}  // namespace nest
