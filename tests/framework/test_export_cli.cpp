// nest export end to end through the real binary: launch scripts written atomically and
// executable, plans checked as strictly as computed ones under the framework they go to, one
// line and exit 2 for anything refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "framework/export_test_support.hpp"
#include "nest/io/json.hpp"

namespace nest {
namespace {

using test::run_nest;

std::string evaluate_to(const std::string& name, const std::string& args) {
  const std::string out = test::temp_dir() + "/" + name;
  const auto r = run_nest("evaluate " + args + " --out '" + out + "'");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err << r.out;
  return out;
}

int lines(const std::string& s) { return test::count_lines(s); }

TEST(ExportCliFrameworks, ScriptsAreWrittenAtomicallyAndRunAsPrinted) {
  const std::string plan = evaluate_to(
      "cli_mlm.json",
      "--model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096 --tp 2 --pp 2 --sp on --zero 1");
  const std::string dir = test::temp_dir() + "/cli_exports";
  std::filesystem::create_directories(dir);
  for (const char* to : {"megatron", "torchtitan", "deepspeed"}) {
    const std::string out = dir + "/launch_" + std::string(to) + ".sh";
    // The plan is Megatron's: ZeRO-1 has no torchtitan equivalent, and DeepSpeed has no TP comm overlap.
    const auto r = run_nest("export --plan '" + plan + "' --to " + to + " --out '" + out + "'");
    if (std::string(to) != "megatron") {
      EXPECT_EQ(r.exit_code, 2) << to << r.out << r.err;
      EXPECT_EQ(lines(r.err), 1) << r.err;
      EXPECT_FALSE(std::filesystem::exists(out)) << to;
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.out.empty());
    const std::string text = test::read_all(out);
    EXPECT_EQ(text.rfind("#!/usr/bin/env bash\n# Megatron-LM core_v0.19", 0), 0u) << text;
    const auto perms = std::filesystem::status(out).permissions();
    EXPECT_NE(perms & std::filesystem::perms::owner_exec, std::filesystem::perms::none);
    const test::LaunchRun run = test::run_launch(text);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.entry, "pretrain_gpt.py");
    EXPECT_EQ(run.env.at("CUDA_DEVICE_MAX_CONNECTIONS"), "1");
    // Standard output gives the same script.
    const auto s = run_nest("export --plan '" + plan + "' --to megatron");
    EXPECT_EQ(s.exit_code, 0);
    EXPECT_EQ(s.out, text);
  }
  // No temporary file is left behind.
  for (const auto& f : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
}

TEST(ExportCliFrameworks, AnotherFrameworkRechecksThePlanAndNamesTheRule) {
  // A torchtitan plan (FSDP) runs on Megatron as Megatron-FSDP ...
  const std::string tt = evaluate_to("cli_tt.json",
                                     "--framework torchtitan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 32 "
                                     "--seq-len 4096 --zero 3 --recompute full");
  const auto m = run_nest("export --plan '" + tt + "' --to megatron");
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find("--use-megatron-fsdp"), std::string::npos);
  EXPECT_NE(m.out.find("--data-parallel-sharding-strategy optim_grads_params"), std::string::npos);
  const auto t = run_nest("export --plan '" + tt + "' --to torchtitan");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("--parallelism.data_parallel_shard_degree 8"), std::string::npos) << t.out;
  // ... but a Megatron plan with the tp-pp-dp order cannot run on torchtitan or DeepSpeed.
  const std::string mlm = evaluate_to("cli_order.json",
                                      "--model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096 --tp 2 "
                                      "--pp 2 --sp on --zero 0 --order tp-cp-pp-ep-dp --tp-comm-overlap off");
  const auto mm = run_nest("export --plan '" + mlm + "' --to megatron");
  ASSERT_EQ(mm.exit_code, 0) << mm.err;
  EXPECT_NE(mm.out.find("--use-tp-pp-dp-mapping"), std::string::npos);
  const auto bad = run_nest("export --plan '" + mlm + "' --to torchtitan");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(lines(bad.err), 1) << bad.err;
  EXPECT_NE(bad.err.find("cannot run on torchtitan"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("rank order tp-cp-pp-ep-dp"), std::string::npos) << bad.err;
  const auto ds = run_nest("export --plan '" + mlm + "' --to deepspeed");
  EXPECT_EQ(ds.exit_code, 2);
  EXPECT_EQ(lines(ds.err), 1) << ds.err;
  EXPECT_NE(ds.err.find("cannot run on deepspeed"), std::string::npos) << ds.err;
}

TEST(ExportCliFrameworks, BadPlansAreRefusedInOneLine) {
  const std::string plan = evaluate_to(
      "cli_bad.json", "--model llama3-8b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096 --tp 2 --pp 2 --zero 1");
  Json j = read_json_file(plan);
  // The plan is Megatron's: its own framework and the rank map see the broken rule first.
  auto refused = [&](const Json& edited, const std::string& expect) {
    const std::string path = test::write_temp("cli_bad_edit.json", dump_json(edited));
    for (const char* to : {"megatron", "rankmap"}) {
      const auto r = run_nest("export --plan '" + path + "' --to " + to);
      EXPECT_EQ(r.exit_code, 2) << to << ": " << r.out;
      EXPECT_EQ(lines(r.err), 1) << r.err;
      EXPECT_NE(r.err.find(expect), std::string::npos) << to << ": " << r.err;
      EXPECT_TRUE(r.out.empty());
    }
  };
  Json e = j;
  e["parallelism"]["tp"] = 3;
  e["parallelism"]["dp"] = 2;
  refused(e, "does not divide");
  e = j;
  e["layers_per_stage"] = Json::array({16, 15});
  refused(e, "layers per stage sum to 31");
  e = j;
  e["parallelism"]["num_microbatches"] = 3;
  refused(e, "num_microbatches 3");
  e = j;
  e["parallelism"]["zero"] = 7;
  refused(e, "field 'parallelism.zero': must be at most 3");
}

TEST(ExportCliFrameworks, NestInputPlansExportOnlyRankMaps) {
  const std::string in = std::string(NEST_TEST_DATA) + "/nest-reference/tpuv4-gpt3-128/input.json";
  const std::string out = test::temp_dir() + "/nest_input_plan.json";
  const auto p = run_nest("plan --nest-input '" + in + "' --out '" + out + "'");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(run_nest("export --plan '" + out + "' --to rankmap").exit_code, 0);
  const auto m = run_nest("export --plan '" + out + "' --to megatron");
  EXPECT_EQ(m.exit_code, 2);
  EXPECT_NE(m.err.find("rankmap only"), std::string::npos) << m.err;
  // The plan says so where it is made, with the export's words and nothing else.
  EXPECT_NE(p.out.find("caveat     nest export refuses this plan: a plan of a NEST solver input"), std::string::npos) << p.out;
  const Json refusals = read_json_file(out).at("framework").at("launch_refusals");
  ASSERT_EQ(refusals.size(), 1u) << dump_json(refusals);
  EXPECT_NE(m.err.find(refusals.front().get<std::string>()), std::string::npos) << m.err;
}

TEST(ExportCliFrameworks, EncodersAreRefused) {
  const std::string plan =
      evaluate_to("cli_bert.json", "--model bert-large --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 512 --zero 3");
  for (const char* to : {"megatron", "torchtitan", "deepspeed"}) {
    const auto r = run_nest("export --plan '" + plan + "' --to " + to);
    EXPECT_EQ(r.exit_code, 2) << to;
    EXPECT_NE(r.err.find("encoder"), std::string::npos) << r.err;
  }
  EXPECT_EQ(run_nest("export --plan '" + plan + "' --to rankmap").exit_code, 0);
}

// What stops a plan's launch script is said where the plan is made: plan and evaluate print
// each reason as a caveat and the plan file lists them (framework.launch_refusals), the same
// text nest export then refuses with; a plan that launches has none.
TEST(ExportCliFrameworks, PlansSayWhatStopsTheirLaunchScript) {
  struct Case {
    std::string name, args, to, expect;
  };
  const std::vector<Case> cases{
      {"gpt-j's parallel blocks under Megatron-LM",
       "--model gpt-j-6b --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048", "megatron", "parallel blocks"},
      {"Transformer Engine's cross entropy under Megatron-LM",
       "--model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048 --cross-entropy te", "megatron",
       "arguments.py:1642-1647"},
      {"tensorwise float8 under torchtitan 0.3",
       "--framework torchtitan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048 --zero 3 "
       "--precision fp8 --fp8-recipe tensorwise",
       "torchtitan", "rowwise_with_gw_hp only"},
      {"an encoder", "--framework torchtitan --model bert-large --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 512",
       "torchtitan", "is an encoder"},
      {"12 GPUs on 8-GPU hosts", "--model llama3-8b --cluster dgx-h100 --gpus 12 --global-batch 48 --seq-len 2048", "megatron",
       "do not fill whole nodes of 8 GPUs"},
      {"Gemma 3's sliding windows under Megatron-DeepSpeed",
       "--framework deepspeed --model gemma3-27b --cluster dgx-h100 --gpus 16 --global-batch 64 --seq-len 4096", "deepspeed",
       "cannot build gemma3-27b: sliding-window attention"},
      {"no framework", "--framework any --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048",
       "megatron", "has no launch script"},
  };
  for (const Case& c : cases) {
    const std::string out = test::temp_dir() + "/cli_caveat.json";
    const auto p = run_nest("plan " + c.args + " --out '" + out + "'");
    ASSERT_EQ(p.exit_code, 0) << c.name << "\n" << p.err << p.out;
    const std::size_t at = p.out.find("caveat     nest export refuses this plan: ");
    ASSERT_NE(at, std::string::npos) << c.name << "\n" << p.out;
    EXPECT_NE(p.out.find(c.expect, at), std::string::npos) << c.name << "\n" << p.out;
    const Json j = read_json_file(out);
    const Json& refusals = j.at("framework").at("launch_refusals");
    ASSERT_FALSE(refusals.empty()) << c.name;
    const std::string first = refusals.front().get<std::string>();
    EXPECT_NE(first.find(c.expect), std::string::npos) << c.name << ": " << first;
    // The export of the plan's own framework refuses with the first, in one line (a plan of no
    // framework is exported to another one, which has its own rules, and so says nothing here).
    if (j.at("framework").at("name") == "any") continue;
    const auto x = run_nest("export --plan '" + out + "' --to " + c.to);
    EXPECT_EQ(x.exit_code, 2) << c.name << "\n" << x.out;
    EXPECT_EQ(lines(x.err), 1) << x.err;
    EXPECT_NE(x.err.find(first), std::string::npos) << c.name << "\n" << x.err;
  }
  // A plan that launches says nothing of the kind, and lists no refusal.
  const std::string out = test::temp_dir() + "/cli_no_caveat.json";
  const auto ok =
      run_nest("plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 32 --seq-len 2048 --out '" + out + "'");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.find("nest export refuses"), std::string::npos) << ok.out;
  EXPECT_TRUE(read_json_file(out).at("framework").at("launch_refusals").empty());
  EXPECT_EQ(run_nest("export --plan '" + out + "' --to megatron").exit_code, 0);
}

}  // namespace
}  // namespace nest
