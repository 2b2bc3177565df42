// The NCCL backend and the cuBLASLt operators on real GPUs. Compiled whenever the NCCL backend
// is; every test skips with the reason where the machine lacks what it needs.
#include <gtest/gtest.h>

#include <set>
#include <string>

#if NEST_PROFILER_HAVE_NCCL
#include <cublasLt.h>
#include <nccl.h>
#endif

#include "nest/io/json.hpp"
#include "nest/profiler/harness.hpp"
#include "profile_test_support.hpp"

namespace nest {
namespace {

#if NEST_PROFILER_HAVE_NCCL

const std::string kQuick = " --backend nccl --min-bytes 1K --max-bytes 4M --step-factor 4 --iters 5 --warmup 2 --no-progress";

void expect_measured(const Json& j, int ranks) {
  EXPECT_TRUE(j["complete"].get<bool>());
  EXPECT_EQ(j["machine"]["ranks"], ranks);
  EXPECT_EQ(j["config"]["backend"], "nccl");
  EXPECT_FALSE(j["cost_model"]["levels"].empty());
  for (const auto& s : j["collectives"])
    for (const auto& x : s["samples"]) {
      EXPECT_EQ(x["wrong"], 0) << s["group"] << " " << s["collective"] << " " << x["bytes"];
      EXPECT_GT(x["busbw_GBps"].get<double>(), 0);
    }
  for (const auto& f : j["fits"]["collectives"]) EXPECT_GT(f["bandwidth_GBps"].get<double>(), 0);
}

TEST(ProfileNccl, AllLocalGpusOneProcess) {
  const int n = profiler::cuda_device_count();
  if (n < 2) GTEST_SKIP() << (n == 0 ? "no CUDA device" : "one CUDA device; NCCL groups need two");
  const std::string out = test::temp_dir() + "/nccl_local.json";
  const auto r = test::run_nest_env("", "profile" + kQuick + " --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = read_json_file(out);
  expect_measured(j, n);
  EXPECT_EQ(j["cost_model"]["levels"][0]["group_size"], n);
}

TEST(ProfileNccl, PretendTwoNodes) {
  const int n = profiler::cuda_device_count();
  if (n < 4) GTEST_SKIP() << "needs four CUDA devices (has " << n << ")";
  const std::string out = test::temp_dir() + "/nccl_two_nodes.json";
  const auto r =
      test::run_nest_env("", "profile" + kQuick + " --ranks-per-node " + std::to_string(n / 2) + " --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = read_json_file(out);
  expect_measured(j, n);
  EXPECT_EQ(j["cost_model"]["levels"].size(), 2u);
}

TEST(ProfileNccl, UnderMpirunOneRankPerGpu) {
  const int n = profiler::cuda_device_count();
  if (n < 2) GTEST_SKIP() << "needs two CUDA devices (has " << n << ")";
  if (!test::have_mpirun()) GTEST_SKIP() << "mpirun is not installed";
  const std::string out = test::temp_dir() + "/nccl_mpi.json";
  const auto r = test::run_mpi(2, "profile" + kQuick + " --out '" + out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = read_json_file(out);
  expect_measured(j, 2);
  EXPECT_TRUE(j["software"].contains("mpi"));
}

TEST(ProfileNccl, CublasLtOperators) {
  if (profiler::cuda_device_count() < 1) GTEST_SKIP() << "no CUDA device";
  const std::string out = test::temp_dir() + "/nccl_ops.json";
  const auto r = test::run_nest_env("",
                                    "profile --backend nccl --collectives none --ops --model llama3-8b --tp 1,8 --microbatch 1 "
                                    "--seq-len 1024 --ops-iters 3 --no-progress --out '" +
                                        out + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = read_json_file(out);
  const Json& gpu = j["cost_model"]["gpu"];
  EXPECT_GT(gpu["gemm_efficiency"].get<double>(), 0.1);
  EXPECT_LE(gpu["gemm_efficiency"].get<double>(), 1.0);
  EXPECT_GT(gpu["peak_bf16_TFLOPs"].get<double>(), 10);  // any tensor-core GPU
  EXPECT_GT(gpu["hbm_GBps"].get<double>(), 100);
  EXPECT_GT(gpu["memory_efficiency"].get<double>(), 0.1);
  EXPECT_EQ(j["operators"]["config"]["dtype"], "bf16");
}

// The forwarders of nccl/lazy_libraries.cpp open the libraries on first use; calls that need no
// GPU run here too.
TEST(LazyLibraries, NcclAndCublasLtLoadOnFirstUse) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  // The library found at run time may be another release of the same major version than the
  // headers (an H200 machine here: 2.28.3 against 2.28.9 headers); the ABI is the major's.
  EXPECT_EQ(version / 10000, NCCL_VERSION_CODE / 10000) << "runtime NCCL " << version << ", headers " << NCCL_VERSION_CODE;
  EXPECT_STRNE(ncclGetErrorString(ncclInvalidArgument), "");
  const char* s = cublasLtGetStatusString(CUBLAS_STATUS_NOT_INITIALIZED);
  ASSERT_NE(s, nullptr);
  EXPECT_NE(std::string(s).find("not initialized"), std::string::npos) << s;
}

// `nest` itself does not load them: only the commands that measure on GPUs do.
TEST(LazyLibraries, TheBinaryDoesNotLinkThem) {
  const auto r = test::run_command("readelf -d '" + std::string(NEST_BINARY) + "'");
  if (r.exit_code != 0) GTEST_SKIP() << "readelf is not available: " << r.err;
  EXPECT_NE(r.out.find("NEEDED"), std::string::npos);
  EXPECT_EQ(r.out.find("libnccl"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("libcublasLt"), std::string::npos) << r.out;
}

#else

TEST(ProfileNccl, NotBuilt) { GTEST_SKIP() << "this build has no NCCL backend (no CUDA toolkit or no NCCL)"; }

#endif

}  // namespace
}  // namespace nest
