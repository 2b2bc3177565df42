// Hardening at the boundary (nest/core/limits.hpp, the JSON layer, the output writer): numbers out
// of range, special output targets, directories given as files. Each is one line and exit 2,
// never a crash, a hang, a wrong exit code or a replaced file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;

const std::string kSizes = " --global-batch 128 --seq-len 4096";

void expect_bad_input(const test::RunResult& r, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
}

TEST(InputLimits, GpuCountsBeyondTheLimitAreRefused) {
  // 2^26 GPUs used to die of SIGFPE in the placement; 10^20 overflowed to dp -1.
  for (const char* gpus : {"67108864", "99999999999999999999", "9223372036854775807"})
    expect_bad_input(run_nest(std::string("plan --model llama3-8b --cluster dgx-h100 --gpus ") + gpus + kSizes), "--gpus");
  expect_bad_input(run_nest("plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 2000000000 --seq-len 4096"),
                   "--global-batch: must be at most");
  expect_bad_input(run_nest("plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 100000000"),
                   "--seq-len: must be at most");
}

TEST(InputLimits, ClusterFiguresBeyondAnyMachineAreRefused) {
  struct Case {
    const char* json;
    const char* fragment;
  } cases[] = {
      {R"({"gpu": {"memory_GB": 1e30, "peak_bf16_TFLOPs": 989, "hbm_GBps": 3350}, "levels": [{"size": 8, "bandwidth_GBps": 100, "latency_s": 1e-6}]})",
       "field 'gpu.memory_GB': must be at most"},
      {R"({"gpu": "h100-sxm", "levels": [{"size": 8, "bandwidth_GBps": 100, "latency_s": 1e300}]})",
       "field 'levels[0].latency_s': must be between"},
      {R"({"gpu": "h100-sxm", "levels": [{"size": 9223372036854775807, "bandwidth_GBps": 100, "latency_s": 1e-6}]})",
       "field 'levels[0].size': must be at most"},
      {R"({"gpu": "h100-sxm", "levels": [{"size": 18446744073709551615, "bandwidth_GBps": 100, "latency_s": 1e-6}]})",
       "field 'levels[0].size': must be at most"},
      {R"({"gpu": "h100-sxm", "levels": [{"size": 8, "bandwidth_GBps": 1e20, "latency_s": 1e-6}]})",
       "field 'levels[0].bandwidth_GBps': must be at most"},
      {R"({"gpu": "h100-sxm", "levels": [{"size": 8, "bandwidth_GBps": 1e400, "latency_s": 1e-6}]})", "out of range"},
  };
  int n = 0;
  for (const Case& c : cases) {
    const std::string path = test::write_temp("limits_cluster" + std::to_string(n++) + ".json", c.json);
    expect_bad_input(run_nest("evaluate --model llama3-8b --cluster '" + path + "' --gpus 8 --global-batch 8 --seq-len 128"),
                     c.fragment);
  }
}

TEST(InputLimits, ModelDimensionsBeyondAnyModelAreRefused) {
  // 2^31 layers used to hang the planner at 10 GB; 1e12 layers and a 1e400 literal exited 3.
  const std::string base =
      R"("model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 14336, "vocab_size": 128256)";
  for (const std::string layers : {"2147483648", "1e12", "1e400"}) {
    const std::string path = test::write_temp("limits_model.json", "{" + base + R"(, "num_hidden_layers": )" + layers + "}");
    const auto r = run_nest("evaluate --model '" + path + "' --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 128");
    EXPECT_EQ(r.exit_code, 2) << layers << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  }
  const std::string wide =
      test::write_temp("limits_wide.json", "{" + base + R"(, "num_hidden_layers": 2, "num_key_value_heads": 9999999999})");
  expect_bad_input(run_nest("evaluate --model '" + wide + "' --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 128"),
                   "field 'num_key_value_heads': must be at most");
}

TEST(InputLimits, PlanFilesAreCheckedAsStrictlyAsFlags) {
  const std::string plan = test::write_temp(
      "limits_plan.json",
      R"({"schema": "nest.plan/1", "model": "llama3-8b", "cluster": "dgx-h100", "gpus": 99999999999, "global_batch": 8, "seq_len": 128,
          "parallelism": {"tp": 1, "pp": 1, "dp": 8, "microbatch": 1, "num_microbatches": 1, "zero": 1, "recompute": "none", "schedule": "1f1b"}})");
  expect_bad_input(run_nest("evaluate --plan '" + plan + "'"), "field 'gpus': must be at most");
  const std::string layers = test::write_temp(
      "limits_layers.json",
      R"({"schema": "nest.plan/1", "model": "llama3-8b", "cluster": "dgx-h100", "gpus": 8, "global_batch": 8, "seq_len": 128,
          "parallelism": {"tp": 1, "pp": 1, "dp": 8, "microbatch": 1, "num_microbatches": 1, "zero": 1, "recompute": "none", "schedule": "1f1b"},
          "layers_per_stage": [1e300]})");
  expect_bad_input(run_nest("evaluate --plan '" + layers + "'"), "field 'layers_per_stage'");
}

TEST(InputLimits, ExportRefusesAPlanThatBreaksTheRules) {
  // tp 3 on 24 GPUs of a 32-head model, and a split with 40 layers of a 32-layer model.
  const std::string tp3 = test::write_temp(
      "export_tp3.json",
      R"({"schema": "nest.plan/1", "model": "llama3-8b", "cluster": "dgx-h100", "gpus": 24, "global_batch": 24, "seq_len": 128,
          "parallelism": {"tp": 3, "pp": 1, "dp": 8, "microbatch": 1, "num_microbatches": 3, "zero": 1, "recompute": "none", "schedule": "1f1b"}})");
  EXPECT_EQ(run_nest("export --plan '" + tp3 + "' --to megatron --out " + test::temp_dir() + "/tp3.sh").exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(test::temp_dir() + "/tp3.sh"));
  const std::string layers = test::write_temp(
      "export_layers.json",
      R"({"schema": "nest.plan/1", "model": "llama3-8b", "cluster": "dgx-h100", "gpus": 16, "global_batch": 16, "seq_len": 128,
          "parallelism": {"tp": 1, "pp": 2, "dp": 8, "microbatch": 1, "num_microbatches": 2, "zero": 1, "recompute": "none", "schedule": "1f1b"},
          "layers_per_stage": [20, 20]})");
  const auto r = run_nest("export --plan '" + layers + "' --to megatron");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
}

TEST(OutputFiles, SpecialTargetsAreRefusedAndLeftAlone) {
  const std::string args =
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 128 --tp 8 --json --out ";
  const std::string dir = test::temp_dir() + "/out_dir";
  std::filesystem::create_directories(dir);
  expect_bad_input(run_nest(args + "'" + dir + "'"), "is a directory");

  const std::string target = test::write_temp("link_target.json", "keep");
  const std::string link = test::temp_dir() + "/out_link.json";
  std::filesystem::remove(link);
  std::filesystem::create_symlink(target, link);
  expect_bad_input(run_nest(args + "'" + link + "'"), "symbolic link");
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  std::ifstream in(target);
  std::string kept;
  in >> kept;
  EXPECT_EQ(kept, "keep");

  const std::string fifo = test::temp_dir() + "/out_fifo";
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_bad_input(run_nest(args + "'" + fifo + "'"), "not a regular file");
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));

  expect_bad_input(run_nest(args + "/dev/null"), "not a regular file");

  if (::geteuid() != 0) {  // root may write anything
    const std::string ro = test::write_temp("read_only.json", "keep");
    std::filesystem::permissions(ro, std::filesystem::perms::owner_read);
    expect_bad_input(run_nest(args + "'" + ro + "'"), "cannot write file");
    EXPECT_EQ(std::filesystem::status(ro).permissions() & std::filesystem::perms::owner_write, std::filesystem::perms::none);
  }
  // A regular file is replaced whole.
  const std::string regular = test::write_temp("regular.json", "old");
  const auto ok = run_nest(args + "'" + regular + "'");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_GT(std::filesystem::file_size(regular), 100u);
}

TEST(InputFiles, ADirectoryGivenAsAFileSaysSo) {
  const std::string dir = test::temp_dir() + "/model_dir";
  std::filesystem::create_directories(dir);
  expect_bad_input(run_nest("evaluate --model '" + dir + "' --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 128"),
                   "is a directory");
}

TEST(Backend, NoDeviceIsQuietUnlessAskedFor) {
  // Without a GPU (here and in CI) --backend auto runs on the CPU; the plan says so, stderr stays
  // clean unless -v; --backend cuda is an error naming the missing device.
  const std::string plan = "plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 2048";
  const auto quiet = run_nest(plan);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  if (quiet.out.find("on cuda") != std::string::npos) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_TRUE(quiet.err.empty()) << quiet.err;
  EXPECT_EQ(quiet.err.find("driver version"), std::string::npos);
  EXPECT_NE(quiet.out.find("on cpu (auto: "), std::string::npos) << quiet.out;
  const auto verbose = run_nest(plan + " -v");
  EXPECT_NE(verbose.err.find("using the CPU backend"), std::string::npos) << verbose.err;
  const auto cuda = run_nest(plan + " --backend cuda");
  EXPECT_EQ(cuda.exit_code, 3) << cuda.err;
  EXPECT_EQ(test::count_lines(cuda.err), 1) << cuda.err;
}

}  // namespace
}  // namespace nest
