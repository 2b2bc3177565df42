// --explain-compute (host/src/report/compute_report.cpp): each run of identical layers with one
// microbatch's forward and backward taken apart. The parts must add up to what the plan is priced
// with, the GEMM FLOPs must be the model's linear layers, and recomputation must be the forward
// again under full recomputation and nothing without it.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "nest/io/json.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

const char* kPlan =
    "evaluate --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 16 --seq-len 8192 --tp 2 --sp on --zero 1 "
    "--microbatch 1 --explain-compute";

// The plan JSON of `nest <args> --json`, which must carry the explanation.
Json explained_plan(const std::string& args) {
  const auto r = test::run_nest(args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_TRUE(j.contains("compute")) << r.out;
  return j;
}
Json explained(const std::string& extra) { return explained_plan(std::string(kPlan) + " " + extra); }

// The blocks' recomputation (Llama 3 8B's one kind of block, the second entry).
double block_recompute(const Json& layers) { return layers.at(1).at("backward").at("recompute_s").get<double>(); }

// What a stage holding every layer spends per microbatch by the explanation: each kind's passes
// times its count.
double layers_time(const Json& layers) {
  double t = 0;
  for (const Json& l : layers)
    t += l.at("count").get<double>() *
         (l.at("forward").at("total_s").get<double>() + l.at("backward").at("total_s").get<double>());
  return t;
}

double sum_of_parts(const Json& pass) {
  double s = pass.at("compute_s").get<double>() + pass.at("recompute_s").get<double>();
  for (const char* k : {"tp_s", "cp_s", "ep_s", "dp_s", "offload_s"}) s += pass.at(k).get<double>();
  return s;
}

TEST(ComputeReport, PartsAddUpToTheStepThePlanIsPricedWith) {
  const Json j = explained("--recompute full");
  const Json& c = j.at("compute");
  const Json& layers = c.at("layers");
  ASSERT_EQ(layers.size(), 3u) << c.dump();
  EXPECT_EQ(layers[0].at("layers"), "embedding");
  EXPECT_EQ(layers[1].at("layers"), "blocks 0-31");
  EXPECT_EQ(layers[1].at("count"), 32);
  EXPECT_EQ(layers[2].at("layers"), "head");
  const double sustained = c.at("sustained").get<double>();
  for (const Json& l : layers) {
    for (const char* name : {"forward", "backward"}) {
      const Json& p = l.at(name);
      const double total = p.at("total_s").get<double>();
      EXPECT_NEAR(sum_of_parts(p), total, 1e-12 * total) << l.dump();
      // A pass computes its kernels' time slowed to the sustained fraction, never less than
      // its launches take.
      const double kernels =
          p.at("gemm_s").get<double>() + p.at("attention_s").get<double>() + p.at("memory_bound_s").get<double>();
      EXPECT_NEAR(p.at("compute_s").get<double>(), std::max(kernels / sustained, p.at("launch_floor_s").get<double>()),
                  1e-12 * total)
          << l.dump();
    }
  }
  // One stage: its time per microbatch is its layers' passes, which `all_layers` adds up.
  const double per_microbatch = j.at("stages").at(0).at("time_s").get<double>();
  EXPECT_NEAR(layers_time(layers), per_microbatch, 1e-9 * per_microbatch);
  const Json& all = c.at("all_layers");
  EXPECT_NEAR(all.at("total_s").get<double>(), per_microbatch, 1e-9 * per_microbatch);
  double attention = 0;
  for (const Json& l : layers)
    attention += l.at("count").get<double>() *
                 (l.at("forward").at("attention_s").get<double>() + l.at("backward").at("attention_s").get<double>());
  EXPECT_NEAR(all.at("attention_s").get<double>(), attention, 1e-12 * attention);
  EXPECT_NEAR(all.at("recompute_s").get<double>(), 32 * block_recompute(layers), 1e-12 * per_microbatch);
  // Llama 3 8B's block: q 4096x4096, k and v 4096x1024 each, o 4096x4096, three 4096x14336 MLP
  // matrices, 218,103,808 weights, half of them on each of 2 TP ranks; 2 FLOP per weight and
  // token, 8192 tokens.
  EXPECT_NEAR(layers[1].at("gemm_flops_fwd").get<double>(), 2.0 * 8192 * 218103808 / 2, 1.0);
  // Full recomputation runs each block's forward again in its backward.
  const Json& block = layers[1];
  EXPECT_NEAR(block.at("backward").at("recompute_s").get<double>(), block.at("forward").at("compute_s").get<double>(),
              1e-12 * block.at("forward").at("compute_s").get<double>());
  EXPECT_GT(block.at("forward").at("attention_s").get<double>(), 0);
  EXPECT_GT(block.at("forward").at("tp_s").get<double>(), 0);  // TP 2 with SP: its all-gathers and reduce-scatters
}

// Gemma 2 alternates windowed and global attention: two kinds of blocks, 23 each, named by their
// ids; the windowed ones attend to fewer keys. Their passes still add up to the stage's time.
TEST(ComputeReport, AlternatingBlocksAreTwoKinds) {
  const Json j = explained_plan(
      "evaluate --model gemma2-27b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 8192 --tp 8 --sp on --zero 1 "
      "--microbatch 1 --explain-compute");
  const Json& layers = j.at("compute").at("layers");
  ASSERT_EQ(layers.size(), 4u) << layers.dump();
  EXPECT_EQ(layers[1].at("layers"), "blocks 0, 2, 4, 6, 8, 10, ...");
  EXPECT_EQ(layers[2].at("layers"), "blocks 1, 3, 5, 7, 9, 11, ...");
  EXPECT_EQ(layers[1].at("count"), 23);
  EXPECT_EQ(layers[2].at("count"), 23);
  EXPECT_LT(layers[1].at("attention_flops_fwd").get<double>(), layers[2].at("attention_flops_fwd").get<double>());
  const double per_microbatch = j.at("stages").at(0).at("time_s").get<double>();
  EXPECT_NEAR(layers_time(layers), per_microbatch, 1e-9 * per_microbatch);
}

TEST(ComputeReport, NothingIsRecomputedWithoutRecomputation) {
  const Json full = explained("--recompute full").at("compute"), none = explained("--recompute none").at("compute");
  for (std::size_t i = 0; i < none.at("layers").size(); ++i) {
    const Json& a = none.at("layers")[i].at("backward");
    const Json& b = full.at("layers")[i].at("backward");
    EXPECT_EQ(a.at("recompute_s").get<double>(), 0.0);
    EXPECT_DOUBLE_EQ(a.at("compute_s").get<double>(), b.at("compute_s").get<double>());  // the same kernels
  }
}

TEST(ComputeReport, TextNamesEveryRunAndTheSustainedFraction) {
  const auto r = test::run_nest(kPlan);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"compute    one microbatch on one GPU (8192 tokens)", "blocks 0-31 (32 alike, each)", "embedding", "head",
                        "sustained fraction", "forward ", "backward", "every layer, forward and backward: gemm "})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(ComputeReport, TabulatedCostsAreRefused) {
  const std::string dir = std::string(NEST_TEST_DATA) + "/nest-reference/tpuv4-bert-64";
  for (const std::string& args :
       {"plan --nest-input '" + dir + "/input.json' --explain-compute",
        "evaluate --nest-input '" + dir + "/input.json' --nest-output '" + dir + "/output.json' --explain-compute"}) {
    const auto r = test::run_nest(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("--explain-compute: needs the analytic cost model"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace nest
