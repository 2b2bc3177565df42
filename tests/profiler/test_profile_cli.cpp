// `nest profile` through the real binary: import and export, every error path as one line with
// exit code 2, and the MPI backend end to end under mpirun with 2 and 4 ranks (both network
// levels through --ranks-per-node), including an interrupted run finished with --resume.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/harness.hpp"
#include "nest/profiler/profile.hpp"
#include "profile_test_support.hpp"
#include "support/markup_check.hpp"

namespace nest {
namespace {

using test::run_nest;

const std::string kDir = std::string(NEST_TEST_DATA) + "/nccl-tests/";

void expect_one_line_error(const test::RunResult& r, int code, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, code) << r.err << r.out;
  EXPECT_EQ(test::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("nest: ", 0), 0u) << r.err;
}

TEST(ProfileCli, ImportThenExportEveryFormat) {
  const std::string out = test::temp_dir() + "/imported.json";
  const auto r = run_nest("profile import --nccl-tests '" + kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt' '" + kDir +
                          "h100x80_10node_5colls_nccltests-2.17.8.txt' '" + kDir +
                          "json/alltoall_2x4gpu_v3_noname.json' --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find("11 runs"), std::string::npos) << r.out;
  const Json j = read_json_file(out);
  EXPECT_EQ(j["schema"], "nest.profile/1");
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["cost_model"]["levels"].size(), 2u);

  const auto csv = run_nest("profile export --profile '" + out + "' --to csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("collective,level,", 0), 0u);
  const std::string yaml = test::temp_dir() + "/net.yml";
  const auto astra = run_nest("profile export --profile '" + out + "' --to astra-sim --out '" + yaml + "'");
  ASSERT_EQ(astra.exit_code, 0) << astra.err;
  const std::string y = test::read_all(yaml);
  for (const char* k : {"topology: [", "npus_count: [ 8, 10 ]", "bandwidth: [", "latency: ["})
    EXPECT_NE(y.find(k), std::string::npos) << k;
  const std::string txt = test::temp_dir() + "/tables.txt";
  const auto nt = run_nest("profile export --profile '" + out + "' --to nccl-tests --out '" + txt + "'");
  ASSERT_EQ(nt.exit_code, 0) << nt.err;
  const auto again = run_nest("profile import --nccl-tests '" + txt + "' --out '" + test::temp_dir() + "/again.json'");
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("11 runs"), std::string::npos) << again.out;
}

// A profile says what it cannot vouch for: wrong samples (kept, never fitted), a poor fit, and
// hardware other than the cluster's (operators from a CPU or another GPU are refused).
TEST(ProfileCli, WrongSamplesBadFitsAndOtherHardwareAreReported) {
  const std::string out = test::temp_dir() + "/checked.json";
  ASSERT_EQ(run_nest("profile import --nccl-tests '" + kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt' --out '" + out + "'")
                .exit_code,
            0);
  Json j = read_json_file(out);
  EXPECT_EQ(j["data_check"]["status"], "OK");
  EXPECT_GT(j["data_check"]["samples_checked"].get<long>(), 0);
  j["collectives"][0]["samples"][3]["wrong"] = 7;
  const std::string bad = test::write_temp("checked_wrong.json", dump_json(j));
  const profiler::Profile p = profiler::read_profile(bad);
  const profiler::DataCheck d = profiler::data_check(p);
  EXPECT_EQ(d.wrong_samples, 1);
  EXPECT_EQ(d.wrong_values, 7);
  const auto warnings = profiler::profile_warnings(p);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("data check FAILED: 1 of"), std::string::npos) << warnings[0];
  // The sample is out of the fit: the fit's sample count drops by one.
  const profiler::Profile clean = profiler::read_profile(out);
  int n_clean = 0, n_bad = 0;
  for (const auto& f : clean.fits) n_clean += f.fit.samples;
  for (const auto& f : p.fits) n_bad += f.fit.samples;
  EXPECT_EQ(n_bad, n_clean - 2);  // its own fit and the level's combined fit
  const auto r = run_nest(
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 512 --tp 8 --profile '" + bad + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("nest: warning: " + bad + ": data check FAILED"), std::string::npos) << r.err;

  // Hardware: operators timed elsewhere are refused, collectives measured elsewhere are warned about.
  const GpuSpec h100 = load_cluster("dgx-h100").gpu;
  profiler::Profile ops = clean;
  ops.operators.present = true;
  ops.operators.config = {{"device", {{"kind", "cpu"}, {"name", "AMD EPYC 7B13"}}}};
  std::vector<std::string> w;
  EXPECT_THROW(profiler::check_profile_hardware(ops, h100, "p.json", w), Error);
  ops.operators.config = {{"device", {{"kind", "gpu"}, {"name", "NVIDIA A100-SXM4-80GB"}}}};
  EXPECT_THROW(profiler::check_profile_hardware(ops, h100, "p.json", w), Error);
  ops.operators.config = {{"device", {{"kind", "gpu"}, {"name", "NVIDIA H100 80GB HBM3"}}}};
  EXPECT_NO_THROW(profiler::check_profile_hardware(ops, h100, "p.json", w));
  EXPECT_TRUE(w.empty());
  ops.machine = {{"devices", Json::array({{{"kind", "gpu"}, {"name", "NVIDIA A100-SXM4-80GB"}}})}};
  profiler::check_profile_hardware(ops, h100, "p.json", w);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("A100"), std::string::npos);
}

TEST(ProfileCli, BadInputIsOneLineExitTwo) {
  const std::string dir = test::temp_dir();
  expect_one_line_error(run_nest("profile import --nccl-tests '" + dir + "/missing.txt' --out '" + dir + "/x.json'"), 2,
                        "missing.txt");
  expect_one_line_error(run_nest("profile import --nccl-tests '" + test::write_temp("notes.txt", "just some text\n") +
                                 "' --out '" + dir + "/x.json'"),
                        2, "no nccl-tests result table");
  expect_one_line_error(run_nest("profile import --out '" + dir + "/x.json'"), 2, "--nccl-tests");
  expect_one_line_error(
      run_nest("profile export --profile '" + test::write_temp("bad.json", "{\"schema\": \"nest.profile/1\",\n") + "' --to csv"),
      2, "bad.json:");
  expect_one_line_error(
      run_nest("profile export --profile '" + test::write_temp("other.json", "{\"schema\": \"nest.plan/1\"}") + "' --to csv"), 2,
      "field 'schema'");
  expect_one_line_error(run_nest("profile export --profile '" + dir + "/none.json' --to csv"), 2, "none.json");
  expect_one_line_error(run_nest("profile export --profile '" + kDir + "json/README.md' --to yaml"), 2, "--to");
  expect_one_line_error(run_nest("profile --step-factor 1 --out '" + dir + "/p.json'"), 2, "--step-factor");
  expect_one_line_error(run_nest("profile --collectives all_reduce,broadcast --out '" + dir + "/p.json'"), 2, "broadcast");
  expect_one_line_error(run_nest("profile --min-bytes 12Q --out '" + dir + "/p.json'"), 2, "--min-bytes");
  expect_one_line_error(run_nest("profile --ops --out '" + dir + "/p.json'"), 2, "--model");
  expect_one_line_error(run_nest("profile --backend tpu --out '" + dir + "/p.json'"), 2, "--backend");
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/p.json"));
}

TEST(ProfileCli, NcclBackendWithoutAGpuFailsInOneLine) {
  const auto backends = profiler::available_backends();
  const auto r = run_nest("profile --backend nccl --out '" + test::temp_dir() + "/nccl.json'");
  if (std::find(backends.begin(), backends.end(), "nccl") == backends.end()) {
    expect_one_line_error(r, 2, "no nccl backend");
    return;
  }
#if NEST_PROFILER_HAVE_NCCL
  if (profiler::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present (the GPU suite covers it)";
#endif
  expect_one_line_error(r, 3, "no CUDA device");
}

// ---------------------------------------------------------------- under mpirun

bool have_mpi_backend() {
  const auto b = profiler::available_backends();
  return std::find(b.begin(), b.end(), "mpi") != b.end();
}

using test::have_mpirun;
using test::run_mpi;
using test::run_nest_env;

#define REQUIRE_MPI()                                                                            \
  do {                                                                                           \
    if (!have_mpi_backend()) GTEST_SKIP() << "this build has no MPI backend (NEST_MPI=OFF)";     \
    if (!have_mpirun()) GTEST_SKIP() << "mpirun is not installed (apt-get install openmpi-bin)"; \
  } while (0)

const std::string kQuick = " --backend mpi --min-bytes 1K --max-bytes 64K --step-factor 4 --iters 5 --warmup 1 --no-progress";

void expect_valid_profile(const Json& j, std::size_t levels, int ranks) {
  EXPECT_EQ(j["schema"], "nest.profile/1");
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["machine"]["ranks"], ranks);
  EXPECT_EQ(j["levels"].size(), levels);
  ASSERT_EQ(j["cost_model"]["levels"].size(), levels);
  for (const auto& l : j["cost_model"]["levels"]) {
    EXPECT_GT(l["bandwidth_GBps"].get<double>(), 0);
    EXPECT_GE(l["latency_s"].get<double>(), 0);
  }
  std::set<std::string> collectives;
  for (const auto& s : j["collectives"]) {
    collectives.insert(s["collective"].get<std::string>());
    EXPECT_EQ(s["samples"].size(), 4u) << s["group"];  // 1K, 4K, 16K, 64K
    for (const auto& x : s["samples"]) {
      EXPECT_EQ(x["wrong"], 0) << s["group"] << " " << s["collective"] << " " << x["bytes"];
      EXPECT_GT(x["time_s"].get<double>(), 0);
      EXPECT_GE(x["time_s"].get<double>(), x["fastest_rank_time_s"].get<double>());
      EXPECT_GT(x["busbw_GBps"].get<double>(), 0);
    }
  }
  EXPECT_EQ(collectives.size(), 5u);
  // A fit per level and collective plus the level's combined fit; above the node, the one-GPU-per-
  // host groups' own combined fit (a rail alone) beside the fuller groups'.
  const bool two_per_host_and_one = levels == 2 && j["machine"]["ranks"].get<int>() > 2;
  EXPECT_EQ(j["fits"]["collectives"].size(), 6 * levels + (two_per_host_and_one ? 1 : 0));
  for (const auto& f : j["fits"]["collectives"]) EXPECT_GT(f["samples"].get<int>(), 0);
}

TEST(ProfileMpi, TwoRanks) {
  REQUIRE_MPI();
  const std::string out = test::temp_dir() + "/mpi2.json", svg = test::temp_dir() + "/mpi2.svg";
  const auto r = run_mpi(2, "profile" + kQuick + " --out '" + out + "' --svg '" + svg + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  // --svg: the bus-bandwidth plot of what was measured, well-formed (tests/report checks the
  // plot itself), one panel per collective.
  const std::string picture = test::read_all(svg);
  const auto problems = test::xml_problems(picture);
  EXPECT_TRUE(problems.empty()) << problems.front();
  for (const char* c : {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"})
    EXPECT_NE(picture.find(std::string(">") + c + "<"), std::string::npos) << c;
  EXPECT_NE(r.out.find("complete"), std::string::npos) << r.out;
  const Json j = read_json_file(out);
  expect_valid_profile(j, 1, 2);
  EXPECT_EQ(j["collectives"].size(), 5u);  // node:2 only
  EXPECT_EQ(j["config"]["timing"], "MPI_Wtime around each iteration, after an MPI_Barrier of the group");
  EXPECT_TRUE(j["software"]["mpi"].get<std::string>().find("MPI") != std::string::npos);
}

TEST(ProfileMpi, FourRanksTwoPretendNodesBothLevelsAndOperators) {
  REQUIRE_MPI();
  const std::string out = test::temp_dir() + "/mpi4.json";
  const auto r = run_mpi(4, "profile" + kQuick +
                                " --ranks-per-node 2 --ops --model llama3-8b --tp 1,2 --microbatch 1 --seq-len 64 "
                                "--ops-iters 2 --ops-warmup 0 --out '" +
                                out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const Json j = read_json_file(out);
  expect_valid_profile(j, 2, 4);
  std::set<std::string> groups;
  for (const auto& s : j["collectives"]) groups.insert(s["group"].get<std::string>());
  EXPECT_EQ(groups, (std::set<std::string>{"node:2", "hosts:2", "all:4"}));
  EXPECT_EQ(j["cost_model"]["levels"][0]["name"], "node");
  EXPECT_EQ(j["cost_model"]["levels"][0]["group_size"], 2);
  EXPECT_EQ(j["cost_model"]["levels"][1]["name"], "network");
  EXPECT_EQ(j["cost_model"]["levels"][1]["group_size"], 4);
  // The network level is the all:4 groups' (2 GPUs of each host); hosts:2 gives the lone rate.
  EXPECT_EQ(j["cost_model"]["levels"][1]["gpus_per_node"], 2);
  EXPECT_GT(j["cost_model"]["levels"][1]["lone_bandwidth_GBps"].get<double>(), 0);
  EXPECT_TRUE(j["config"]["ranks_per_node_emulated"].get<bool>());
  ASSERT_TRUE(j["cost_model"].contains("gpu"));
  const Json& gpu = j["cost_model"]["gpu"];
  EXPECT_GT(gpu["gemm_efficiency"].get<double>(), 0);
  EXPECT_LE(gpu["gemm_efficiency"].get<double>(), 1);
  EXPECT_GT(gpu["peak_bf16_TFLOPs"].get<double>(), 0);
  EXPECT_GT(gpu["hbm_GBps"].get<double>(), 0);
  EXPECT_EQ(j["operators"]["gemm"].size(), 2u * 1 * 5 * 3);  // tp x microbatch x linears x passes
  EXPECT_EQ(j["operators"]["attention"].size(), 2u);
  EXPECT_GE(j["operators"]["memory"].size(), 2u);
  // Operators timed on this CPU do not describe an H100: the profile is refused for dgx-h100.
  const auto plan = test::run_nest(
      "plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 512 --profile '" + out + "' --json");
  EXPECT_EQ(plan.exit_code, 2) << plan.err;
  EXPECT_NE(plan.err.find("timed on a CPU"), std::string::npos) << plan.err;
}

TEST(ProfileMpi, InterruptedRunResumesToTheSameProfile) {
  REQUIRE_MPI();
  const std::string dir = test::temp_dir();
  const std::string args = "profile" + kQuick + " --collectives all_reduce,all_to_all --ranks-per-node 1";
  const auto straight = run_mpi(2, args + " --out '" + dir + "/straight.json'");
  ASSERT_EQ(straight.exit_code, 0) << straight.err;

  const std::string out = dir + "/resumed.json";
  const auto stopped = run_mpi(2, args + " --out '" + out + "'", "NEST_PROFILE_STOP_AFTER=3");
  EXPECT_EQ(stopped.exit_code, 3) << stopped.err << stopped.out;
  EXPECT_NE(stopped.err.find("--resume"), std::string::npos) << stopped.err;
  const Json partial = read_json_file(out);
  EXPECT_FALSE(partial["complete"].get<bool>());
  std::size_t samples = 0;
  for (const auto& s : partial["collectives"]) samples += s["samples"].size();
  EXPECT_EQ(samples, 3u);

  // Other settings do not resume.
  const auto mismatch = run_mpi(2, args + " --dtype fp32 --resume --out '" + out + "'");
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.err;
  EXPECT_NE(mismatch.err.find("different settings"), std::string::npos) << mismatch.err;

  const auto resumed = run_mpi(2, args + " --resume --out '" + out + "'");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const Json a = read_json_file(dir + "/straight.json"), b = read_json_file(out);
  EXPECT_TRUE(b["complete"].get<bool>());
  ASSERT_EQ(a["collectives"].size(), b["collectives"].size());
  for (std::size_t i = 0; i < a["collectives"].size(); ++i) {
    const Json &x = a["collectives"][i], &y = b["collectives"][i];
    EXPECT_EQ(x["group"], y["group"]);
    EXPECT_EQ(x["collective"], y["collective"]);
    EXPECT_EQ(x["members"], y["members"]);
    ASSERT_EQ(x["samples"].size(), y["samples"].size());
    for (std::size_t k = 0; k < x["samples"].size(); ++k) EXPECT_EQ(x["samples"][k]["bytes"], y["samples"][k]["bytes"]);
  }
  EXPECT_EQ(a["fits"]["collectives"].size(), b["fits"]["collectives"].size());
  EXPECT_EQ(a["cost_model"]["levels"].size(), b["cost_model"]["levels"].size());
  EXPECT_EQ(a["config"], b["config"]);
}

TEST(ProfileMpi, OneRankWithoutOperatorsHasNothingToMeasure) {
  REQUIRE_MPI();
  const auto r = run_mpi(1, "profile" + kQuick + " --out '" + test::temp_dir() + "/one.json'");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("nothing to measure"), std::string::npos) << r.err;
}

TEST(ProfileMpi, OperatorsAloneOnOneProcessAndResume) {
  if (!have_mpi_backend()) GTEST_SKIP() << "this build has no MPI backend";
  const std::string out = test::temp_dir() + "/ops.json";
  const std::string args =
      "profile --backend mpi --collectives none --ops --model bert-large --tp 1 --microbatch 1 --seq-len 32 "
      "--ops-iters 2 --ops-warmup 0 --no-progress --out '" +
      out + "'";
  const auto stopped = run_nest_env("NEST_PROFILE_STOP_AFTER=4", args);
  EXPECT_EQ(stopped.exit_code, 3) << stopped.err;
  EXPECT_EQ(test::count_lines(stopped.err), 1) << stopped.err;
  const Json partial = read_json_file(out);
  EXPECT_FALSE(partial["complete"].get<bool>());
  EXPECT_EQ(partial["operators"]["gemm"].size(), 4u);
  const auto resumed = run_nest(args + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const Json j = read_json_file(out);
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["operators"]["gemm"].size(), 15u);
  EXPECT_EQ(j["collectives"].size(), 0u);
  EXPECT_TRUE(j["cost_model"]["levels"].empty());
  EXPECT_TRUE(j["cost_model"].contains("gpu"));
}

// The operator profile nest measured on a lent H200 (tests/data/profiles): applied with
// --profile, its GEMM curve is restated against the datasheet peak (which stays, so MFU keeps its
// meaning), and its attention figure, the unfused core's batched GEMMs, leaves the fused kernels'
// curves alone (cuDNN's fused attention ran 1.6x faster than those GEMMs on that GPU).
TEST(ProfileCli, AMeasuredH200ProfileKeepsThePeakAndTheFusedAttention) {
  const std::string prof = std::string(NEST_TEST_DATA) + "/profiles/h200-ops-llama3-70b.json";
  const Json j = read_json_file(prof);
  const Json& g = j["cost_model"]["gpu"];
  const Cluster preset = load_cluster("dgx-h200");
  Cluster c = preset;
  apply_cost_model(j["cost_model"], prof, c);
  EXPECT_EQ(c.gpu.peak_bf16_flops(), preset.gpu.peak_bf16_flops());
  EXPECT_DOUBLE_EQ(c.gpu.ops.gemm[0].eta_max * c.gpu.peak_bf16_flops(),
                   g["gemm_efficiency"].get<double>() * g["peak_bf16_TFLOPs"].get<double>() * kTera);
  EXPECT_LT(c.gpu.ops.gemm[0].eta_max, preset.gpu.ops.gemm[0].eta_max);  // typical shapes: below the best-shape curve
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(c.gpu.ops.attention[k].fwd, preset.gpu.ops.attention[k].fwd) << k;
    EXPECT_EQ(c.gpu.ops.attention[k].bwd, preset.gpu.ops.attention[k].bwd) << k;
  }
  const std::string args =
      "evaluate --model llama3-8b --cluster dgx-h200 --gpus 32 --global-batch 64 --seq-len 8192 --framework torchtitan "
      "--zero 3 --microbatch 2 --json";
  for (const std::string& extra : {std::string(), " --profile '" + prof + "'"}) {
    const auto r = run_nest(args + extra);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Json p = parse_json(r.out, "evaluate")["prediction"];
    EXPECT_NEAR(p["mfu"].get<double>(), p["model_tflops_per_gpu"].get<double>() * kTera / preset.gpu.peak_bf16_flops(), 1e-12)
        << extra;
  }
}

}  // namespace
}  // namespace nest
