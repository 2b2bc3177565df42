// The published runs of presets/calibration/: the two tables the model was first checked on
// (Megatron-LM SC21 on A100, Megatron-Core's 2024 H100 weak scaling) within what the README and
// docs/cost-model.md §9 claim, every published configuration predicted to fit; the shipped
// per-generation constants are what `nest calibrate --fit` fits; every dataset file loads and
// every row of it is evaluated or, for the 405B rows nest's even split cannot express, reported.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "nest/calibration/calibration.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

// The figures docs/cost-model.md §9.2 and the README state.
constexpr double kSc21Claim = 0.1015;
constexpr double kMegatronCoreH100Claim = 0.0943;

void expect_within(const std::string& dataset, double tolerance) {
  const RunDataset d = read_run_dataset(presets_dir() + "/calibration/runs/" + dataset + ".csv");
  ASSERT_FALSE(d.rows.empty());
  for (const RunRow& r : d.rows) {
    const RunResult res = predict_run(r);
    ASSERT_TRUE(res.prediction.evaluated) << r.id;
    EXPECT_TRUE(res.found && res.prediction.feasible) << dataset << " " << r.id << " is predicted not to fit";
    EXPECT_LE(std::fabs(res.error), tolerance)
        << dataset << " " << r.id << ": published " << r.published << ", predicted " << res.predicted;
  }
}

// A dataset file with `from` replaced by `to` is bad input: one error naming the file (`file`,
// the temporary copy's name) and each of `names`.
void expect_bad_dataset(const std::string& path, const std::string& from, const std::string& to, const std::string& file,
                        const std::vector<std::string>& names) {
  std::string text = test::read_all(path);
  ASSERT_NE(text.find(from), std::string::npos) << from;
  text.replace(text.find(from), from.size(), to);
  const std::string bad = test::write_temp(file, text);
  try {
    (void)read_run_dataset(bad);
    ADD_FAILURE() << "'" << to << "' was accepted in place of '" << from << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    for (const std::string& n : names) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(Calibration, MegatronSc21WithinTheClaim) { expect_within("megatron-sc21-a100", kSc21Claim); }

TEST(Calibration, MegatronCoreH100WithinTheClaim) { expect_within("megatron-core-h100-2024", kMegatronCoreH100Claim); }

// NVIDIA's MLPerf Training submissions (the mlperf-training datasets, never fitted on), as the
// README and docs/cost-model.md §9.2 state them (to the rounding of their last digit, as the
// claims above): every Llama 3.1 405B run within 3.8%, every other run within 13.1% except the
// one named outlier, Llama 3.1 8B on 512 GB200s, which stays more than 30% too fast (if it moves,
// the text that explains it must too).
TEST(Calibration, MlperfRunsWithinTheClaim) {
  constexpr double kLlama405bClaim = 0.0385, kMlperfClaim = 0.1311;
  const std::string outlier = "mlperf51-llama8b-gb200-512";
  int rows = 0;
  for (const char* name :
       {"mlperf-training-h100", "mlperf-training-b200", "mlperf-training-gb200", "mlperf-training-gb200-nvl72"}) {
    const RunDataset d = read_run_dataset(presets_dir() + "/calibration/runs/" + name + ".csv");
    for (const RunRow& row : d.rows) {
      const RunResult r = predict_run(row);
      ASSERT_TRUE(r.prediction.evaluated) << row.id;
      EXPECT_TRUE(r.found && r.prediction.feasible) << row.id << " is predicted not to fit";
      ++rows;
      if (row.id == outlier) {
        EXPECT_LT(r.error, -0.3) << row.id << ": predicted " << r.predicted << " s, measured " << row.published;
        continue;
      }
      const double claim = row.id.find("llama405b") != std::string::npos ? kLlama405bClaim : kMlperfClaim;
      EXPECT_LE(std::fabs(r.error), claim) << name << " " << row.id << ": published " << row.published << ", predicted "
                                           << r.predicted;
    }
  }
  EXPECT_EQ(rows, 32);
  // Another submitter's 8B runs of NVIDIA's implementation on DGX B200, as the README states them:
  // within 17.7% each, nest too slow at two sequences per GPU and too fast with CP 2.
  constexpr double kB200EightBClaim = 0.1775;
  const RunDataset uf = read_run_dataset(presets_dir() + "/calibration/runs/mlperf-training-b200-8b.csv");
  ASSERT_EQ(uf.rows.size(), 6u);
  for (const RunRow& row : uf.rows) {
    const RunResult r = predict_run(row);
    ASSERT_TRUE(r.found && r.prediction.feasible) << row.id;
    EXPECT_LE(std::fabs(r.error), kB200EightBClaim) << row.id << ": published " << row.published << ", predicted " << r.predicted;
    EXPECT_EQ(r.error > 0, row.microbatch == 2) << row.id;
  }
}

// NVIDIA's DGX Cloud benchmarking recipes (never fitted on), as the README and
// docs/cost-model.md §9.2 state them: every one of the 100 runs predicted to fit as it ran (issue
// 9's examples among them: the Llama 3.1 8B BF16 run at CP 2, the 405B at TP 8 PP 9 CP 2 with
// the TP overlap); the v24.11.1 release (NeMo 24.09 / 24.05 and the NeMo 1.x launcher) within
// 14.8% each (14.75%: the claim to its last printed digit), the v25.04.01 release (NeMo 2.0 on
// 25.02.01) within 20.7% (20.74%) and every one of its runs too slow, v25.05.04's Llama 3.1 405B
// (NeMo 2.0 on 25.04.01) within 10.0% on GB200 (9.97%) and 5.7% on H100 (5.73%); the BF16 8B runs
// of both too slow by more than 10%. And the header's switch is read strictly: a value other than
// on or off is one error naming the file and the key.
TEST(Calibration, DgxCloudRecipesFitAsTheyRanWithinTheClaim) {
  const std::string dir = presets_dir() + "/calibration/runs/";
  const std::vector<std::pair<std::string, double>> claims = {
      {"dgxc-benchmarking-24.11-h100", 0.1476},      {"dgxc-benchmarking-24.11-nemotron4-h100", 0.1476},
      {"dgxc-benchmarking-24.11-gpt3-h100", 0.1476}, {"dgxc-benchmarking-25.04-h100", 0.2075},
      {"dgxc-benchmarking-25.05-gb200", 0.1000},     {"dgxc-benchmarking-25.05-h100", 0.0573}};
  int rows = 0;
  for (const auto& [name, claim] : claims) {
    const RunDataset d = read_run_dataset(dir + name + ".csv");
    EXPECT_TRUE(d.validation_only) << name;
    for (const RunRow& row : d.rows) {
      const RunResult r = predict_run(row);
      ASSERT_TRUE(r.prediction.evaluated) << row.id;
      EXPECT_TRUE(r.found && r.prediction.feasible) << row.id << " is predicted not to fit";
      EXPECT_LE(std::fabs(r.error), claim) << row.id << ": published " << row.published << ", predicted " << r.predicted;
      if (name == "dgxc-benchmarking-25.04-h100") {
        EXPECT_GT(r.error, 0) << row.id;
      }
      if (row.id.find("-8b-bf16") != std::string::npos) {
        EXPECT_GT(r.error, 0.1) << row.id;
      }
      ++rows;
    }
  }
  EXPECT_EQ(rows, 100);
  expect_bad_dataset(dir + "dgxc-benchmarking-24.11-h100.csv", "# store_param_remainders: on", "# store_param_remainders: yes",
                     "dgxc_bad_remainders.csv", {"store_param_remainders", "yes"});
}

// The README's figure for every published run not fitted on, dense models, each (model, GPU
// generation) series counted once: 6.7% (6.733%: the claim is that figure to its fourth digit),
// as `nest calibrate --loo` computes it.
TEST(Calibration, DenseSeriesOutOfSampleWithinTheClaim) {
  constexpr double kDenseSeriesClaim = 0.0674;
  const std::vector<RunDataset> all = read_run_datasets("runs");
  std::map<std::string, std::vector<const RunDataset*>> by_generation;
  for (const RunDataset& d : all) by_generation[d.generation].push_back(&d);
  std::vector<OutOfSampleRow> rows;
  for (const RunDataset& d : all) {
    std::vector<RunResult> results, loo;
    const double without = d.validation_only ? 0 : sustained_without(d, by_generation[d.generation]);
    for (const RunRow& row : d.rows) {
      if (d.validation_only) results.push_back(predict_run(row));
      if (without > 0) loo.push_back(predict_run(row, without));
    }
    append_out_of_sample_rows(d, results, loo, rows);
  }
  const SeriesSummary dense = summarize_series(rows, true);
  EXPECT_GT(dense.series, 30);
  EXPECT_LE(dense.mean_of_series, kDenseSeriesClaim) << dense.series << " series, " << dense.rows << " rows";
  // The same predictions' MFU error (README: 7.2%, 7.169%): larger, as a step time predicted 42%
  // short is an MFU 72% high.
  constexpr double kDenseSeriesMfuClaim = 0.0717;
  EXPECT_LE(dense.mfu_mean_of_series, kDenseSeriesMfuClaim) << dense.series << " series, " << dense.rows << " rows";
}

// Each (model, generation) series weighs once, however many rows it has; the largest row is over
// every row; dense_only leaves the mixture-of-experts rows out.
TEST(Calibration, SeriesSummaryCountsEachSeriesOnce) {
  const std::vector<OutOfSampleRow> rows = {{"gpt3", "hopper", false, 0.10, -0.5},
                                            {"gpt3", "hopper", false, -0.30, 0.1},
                                            {"gpt3", "blackwell", false, 0.05, 0.05},
                                            {"llama", "hopper", false, 0.0, 0.0},
                                            {"mixtral", "hopper", true, 1.0, -0.5}};
  const SeriesSummary every = summarize_series(rows, false), dense = summarize_series(rows, true);
  EXPECT_EQ(every.rows, 5);
  EXPECT_EQ(every.series, 4);
  EXPECT_DOUBLE_EQ(every.mean_of_series, (0.2 + 0.05 + 0.0 + 1.0) / 4);
  EXPECT_DOUBLE_EQ(every.max_abs, 1.0);
  EXPECT_EQ(dense.rows, 4);
  EXPECT_EQ(dense.series, 3);
  EXPECT_DOUBLE_EQ(dense.mean_of_series, (0.2 + 0.05 + 0.0) / 3);
  EXPECT_DOUBLE_EQ(dense.max_abs, 0.30);
  EXPECT_DOUBLE_EQ(every.mfu_mean_of_series, (0.3 + 0.05 + 0.0 + 0.5) / 4);
  EXPECT_DOUBLE_EQ(every.mfu_max_abs, 0.5);
  EXPECT_DOUBLE_EQ(dense.mfu_mean_of_series, (0.3 + 0.05 + 0.0) / 3);
  EXPECT_EQ(summarize_series({}, false).series, 0);
  // Each series by itself, in (model, generation) order: the figures the summary's means average.
  ASSERT_EQ(every.each.size(), 4u);
  const SeriesError& gpt3_hopper = every.each[1];
  EXPECT_EQ(gpt3_hopper.model, "gpt3");
  EXPECT_EQ(gpt3_hopper.generation, "hopper");
  EXPECT_EQ(gpt3_hopper.rows, 2);
  EXPECT_DOUBLE_EQ(gpt3_hopper.mean_abs, 0.2);
  EXPECT_DOUBLE_EQ(gpt3_hopper.max_abs, 0.30);
  EXPECT_DOUBLE_EQ(gpt3_hopper.mfu_mean_abs, 0.3);
  EXPECT_EQ(every.each[0].generation, "blackwell");
  EXPECT_TRUE(every.each[3].moe);
  EXPECT_EQ(dense.each.size(), 3u);
}

// A run's MFU error is its predicted MFU against the MFU of the published figure under the same
// configuration (the same model FLOPs, GPUs and peak): for a step-time row the published MFU is
// the predicted one scaled by predicted over published step time, for a throughput row by
// published over predicted throughput. Checked on one row of each kind against the prediction's
// own MFU; memory rows have none.
TEST(Calibration, MfuErrorIsThePredictedMfuAgainstThePublishedRunsMfu) {
  int checked[2] = {0, 0};
  for (const RunDataset& d : read_run_datasets("runs")) {
    for (const RunRow& row : d.rows) {
      const bool step = row.metric == RunMetric::StepTime;
      if (checked[step ? 0 : 1] > 0 || (!step && row.metric != RunMetric::TokensPerSecondPerGpu)) continue;
      const RunResult r = predict_run(row);
      if (!r.prediction.evaluated) continue;
      const Prediction& p = r.prediction;
      const double published_mfu =
          step ? p.mfu * p.step_time / row.published : p.mfu * row.published / (p.tokens_per_s / static_cast<double>(row.gpus));
      EXPECT_NEAR(mfu_error(row.metric, r.error), p.mfu / published_mfu - 1, 1e-12) << row.id;
      ++checked[step ? 0 : 1];
    }
  }
  EXPECT_EQ(checked[0], 1);
  EXPECT_EQ(checked[1], 1);
  EXPECT_DOUBLE_EQ(mfu_error(RunMetric::StepTime, 0.25), -0.2);
  EXPECT_DOUBLE_EQ(mfu_error(RunMetric::ModelTflopsPerGpu, 0.25), 0.25);
  EXPECT_TRUE(std::isnan(mfu_error(RunMetric::PeakMemoryGiB, 0.1)));
}

// presets/calibration/generations.json holds what the fit gives (to its 3 decimals).
TEST(Calibration, ShippedConstantsAreTheFit) {
  const std::vector<RunDataset> all = read_run_datasets("runs");
  std::map<std::string, std::vector<const RunDataset*>> by_generation;
  for (const auto& d : all) by_generation[d.generation].push_back(&d);
  const std::string path = presets_dir() + "/calibration/generations.json";
  const Json shipped = read_json_file(path);
  for (const char* gen : {"ampere", "hopper", "blackwell"}) {
    ASSERT_TRUE(by_generation.count(gen)) << gen;
    const double fitted = fit_sustained(fitting_datasets(by_generation[gen]));
    EXPECT_NEAR(shipped.at(gen).at("sustained").get<double>(), fitted, 1.5e-3) << gen;
  }
}

// The fused attention kernel's backward (docs/cost-model.md §3.2): on Hopper the presets carry the
// curve fitted on FlashAttention-3's isolated backward rows, and the in-step forward+backward
// figures, read in their source's model-FLOPs convention (the backward counted twice the
// forward), agree: H200's held out within 0.3% (+0.32%), B200's (the one its backward is read from) exact;
// the causal forward factor is the fit of FlashAttention-3's own causal bars.
TEST(Calibration, AttentionBackwardIsTheFitAndHoldsInStep) {
  const test::RunResult cli = test::run_nest("calibrate --kind kernels --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const Json out = parse_json(cli.out, "stdout");
  const Json& fit = out.at("fa3_backward_fit");
  for (const char* gpu : {"h100-sxm", "h100-96gb-hbm2e", "h200", "h800"}) {
    const GpuSpec g = load_gpu(gpu);
    const auto& fused = g.ops.attention[static_cast<int>(AttentionKernel::Fused)];
    EXPECT_NEAR(fused.bwd, fit.at("bwd").get<double>(), 5e-4) << gpu;
    EXPECT_NEAR(fused.half_span_bwd, fit.at("half_span_bwd").get<double>(), 0.5) << gpu;
    EXPECT_NEAR(fused.causal_fwd, out.at("fa3_causal_forward_fit").at("causal_fwd").get<double>(), 5e-4) << gpu;
  }
  EXPECT_LE(fit.at("max_abs_error").get<double>(), 0.0275);
  EXPECT_LE(out.at("fa3_causal_forward_fit").at("max_abs_error").get<double>(), 0.0465);
  int in_step = 0;
  for (const Json& row : out.at("rows")) {
    if (row.at("source") != "MLE-UPG") continue;
    ++in_step;
    const bool hopper = row.at("gpu") == "h200";
    EXPECT_EQ(row.at("role"), hopper ? "held out" : "fit") << row.at("kernel");
    EXPECT_LE(std::fabs(row.at("error").get<double>()), hopper ? 0.0035 : 0.0005) << row.at("kernel");
  }
  EXPECT_EQ(in_step, 2);
  // cuDNN's fused attention, which Megatron-LM runs and the fused curves stand in for, is scored
  // against them and never fitted on; on the lent H200 its causal backward is within 3%.
  std::map<std::string, int> cudnn_rows;
  for (const Json& row : out.at("rows")) {
    const std::string kernel = row.at("kernel");
    if (kernel.rfind("cudnn", 0) != 0) continue;
    ++cudnn_rows[row.at("gpu")];
    EXPECT_EQ(row.at("role"), "held out") << kernel;
    if (row.at("source") == "NEST-H200-TORCH" && kernel == "cudnn_sdpa_bwd" && row.at("causal").get<bool>()) {
      EXPECT_LE(std::fabs(row.at("error").get<double>()), 0.03) << row.at("seq_len");
    }
  }
  for (const char* gpu : {"h100-sxm", "h200", "b200", "gb200"}) EXPECT_GT(cudnn_rows[gpu], 0) << gpu;
}

TEST(Calibration, EveryDatasetLoadsAndEvaluates) {
  for (const char* kind : {"runs", "memory"}) {
    const std::vector<RunDataset> all = read_run_datasets(kind);
    ASSERT_FALSE(all.empty()) << kind;
    for (const auto& d : all) {
      int evaluated = 0;
      for (const RunRow& r : d.rows) evaluated += predict_run(r).prediction.evaluated ? 1 : 0;
      EXPECT_GT(evaluated, 0) << d.name;
    }
  }
}

// A peak-memory row's prediction is its fullest stage, less what lives outside PyTorch's caching
// allocator; `nest calibrate --kind memory --json` breaks that stage down into parts that sum to it.
TEST(Calibration, MemoryRowsAreTheirFullestStage) {
  const RunDataset d = read_run_dataset(presets_dir() + "/calibration/memory/torchtitan-2024-12-h100-memory.csv");
  const RunRow& pipelined = d.rows.at(12);  // 405B, PP 8: the head's stage is the fullest
  ASSERT_EQ(pipelined.pp, 8);
  const RunResult r = predict_run(pipelined);
  ASSERT_TRUE(r.prediction.evaluated);
  ASSERT_EQ(r.peak_stage, 7);
  for (const auto& st : r.prediction.stages) EXPECT_LE(st.memory.total(), r.prediction.stages[7].memory.total());
  EXPECT_GT(r.outside_allocator, 0);
  EXPECT_NEAR(r.predicted * kGiB, r.prediction.stages[7].memory.total() - r.outside_allocator, 1e-3);
  const test::RunResult cli = test::run_nest("calibrate --kind memory --dataset torchtitan-2024-12-h100-memory --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const Json rows = parse_json(cli.out, "stdout")["rows"];
  ASSERT_EQ(rows.size(), d.rows.size());
  for (const Json& row : rows) {
    double sum = 0;
    for (const auto& [name, gib] : row.at("peak_memory_GiB").items()) sum += gib.get<double>();
    EXPECT_NEAR(sum, row.at("predicted").get<double>(), 1e-9) << row.at("id");
  }
  EXPECT_EQ(rows[12].at("peak_stage"), 7);
}

// Megatron-LM's functional tests log, from the last rank, the allocated peak and what stays
// allocated between steps. An allocated-peak row is the last stage's model state, activations
// and working set; a transient-peak row (the difference) its activations and working set; a row's
// `metric` column says which, the file's header otherwise. `nest calibrate --kind memory --json`
// gives those parts.
// DeepSpeed's memory in use (nvidia-smi on the first node): the first stage's whole memory, of
// the model each row's model_set makes of the preset; the fp32-accumulating rows hold 4 bytes of
// gradient buffer per parameter beside the bf16 gradients. Bad settings name the column.
TEST(Calibration, InUseRowsAreTheFirstStagesWholeMemory) {
  const std::string path = presets_dir() + "/calibration/memory/bigscience-prequel-a100-memory.csv";
  const RunDataset d = read_run_dataset(path);
  ASSERT_EQ(d.rows.size(), 18u);
  int fp32 = 0;
  for (const RunRow& row : d.rows) {
    ASSERT_EQ(row.metric, RunMetric::DeviceUsedGiB) << row.id;
    ASSERT_EQ(row.model_set.size(), 3u) << row.id;
    const RunResult r = predict_run(row);
    ASSERT_TRUE(r.prediction.evaluated) << row.id;
    ASSERT_EQ(r.peak_stage, 0) << row.id;
    const MemoryBreakdown& m = r.prediction.stages.front().memory;
    EXPECT_NEAR(r.predicted * kGiB, m.total(), 1e-6 * m.total()) << row.id;
    EXPECT_NEAR(m.grads / m.params, row.options.grad_accum_fp32 ? 3.0 : 1.0, 1e-9) << row.id;
    fp32 += row.options.grad_accum_fp32;
  }
  EXPECT_EQ(fp32, 17);
  // The widths and depths differ row to row: the first and last rows' stage 0 weights.
  EXPECT_NE(predict_run(d.rows.front()).prediction.stages.front().memory.params,
            predict_run(d.rows.back()).prediction.stages.front().memory.params);
  expect_bad_dataset(path, "n_layer=70 hidden_size=14336 n_head=112", "n_layer", "bad_model_set.csv",
                     {"model_set", "PATH=VALUE"});
  expect_bad_dataset(path, ",1,fp32,", ",1,fp16,", "bad_accum.csv", {"grad_accum_dtype", "fp16"});
  expect_bad_dataset(path, "# metric: device_used_GiB", "# metric: device_used_GB", "bad_metric.csv", {"device_used_GB"});
}

TEST(Calibration, MegatronsLoggedPeaksAreTheLastStagesParts) {
  const RunDataset d = read_run_dataset(presets_dir() + "/calibration/memory/megatron-tests-h100-memory.csv");
  ASSERT_FALSE(d.rows.empty());
  int transient = 0, allocated = 0;
  for (const RunRow& row : d.rows) {
    const RunResult r = predict_run(row);
    ASSERT_TRUE(r.prediction.evaluated) << row.id;
    ASSERT_EQ(r.peak_stage, row.pp - 1) << row.id;
    const MemoryBreakdown& m = r.prediction.stages.back().memory;
    EXPECT_GT(m.activations, 0) << row.id;
    const double state = m.params + m.grads + m.optimizer;
    ASSERT_TRUE(row.metric == RunMetric::TransientPeakGiB || row.metric == RunMetric::PeakAllocatedGiB) << row.id;
    const bool whole = row.metric == RunMetric::PeakAllocatedGiB;
    (whole ? allocated : transient) += 1;
    EXPECT_NEAR(r.predicted * kGiB, (whole ? state : 0) + m.activations + m.working_set, 1e-3) << row.id;
    EXPECT_LT(r.predicted * kGiB, m.total() - (whole ? 0 : state)) << row.id;  // no allocator reserve
  }
  EXPECT_EQ(allocated, 2);  // the two memory_speed cases; the release cases publish no GPU count
  EXPECT_EQ(transient, 3);
  const test::RunResult cli = test::run_nest("calibrate --kind memory --dataset megatron-tests-h100-memory --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const Json rows = parse_json(cli.out, "stdout")["rows"];
  ASSERT_EQ(rows.size(), d.rows.size());
  for (const Json& row : rows) {
    const Json& parts = row.at("peak_memory_GiB");
    ASSERT_TRUE(parts.size() == 2u || parts.size() == 5u) << row.at("id");
    EXPECT_FALSE(parts.contains("reserve")) << row.at("id");
    double sum = 0;
    for (const auto& [name, gib] : parts.items()) sum += gib.get<double>();
    EXPECT_NEAR(sum, row.at("predicted").get<double>(), 1e-9) << row.at("id");
    EXPECT_FALSE(row.contains("attention_share")) << row.at("id");
    EXPECT_EQ(row.at("metric").get<std::string>(), parts.size() == 5u ? "peak_allocated_GiB" : "transient_peak_GiB")
        << row.at("id");
  }
  // A row's metric column is read as the header's is: a bad one names the file, line and column.
  expect_bad_dataset(presets_dir() + "/calibration/memory/megatron-tests-h100-memory.csv", ",peak_allocated_GiB,", ",peak_GiB,",
                     "bad-metric.csv", {"bad-metric.csv:", "column metric"});
}

// MLPerf's logs print the allocated peak of global rank 0, which every rank order puts on the
// first pipeline stage (`# logged_stage: first`): that stage's model state, activations and
// working set, without the allocator's reserve. Never fitted on: docs/cost-model.md §9.4 states
// the errors (the H100 405B runs 0.9-1.1% under, Cisco's 8B runs 0.7-0.8% under; the GB200 405B
// runs, whose step is one CUDA graph with its own memory pool nest does not model, -2.3..+3.7%),
// and this holds each dataset to its largest.
TEST(Calibration, MlperfRankZeroPeaksAreTheFirstStagesParts) {
  const std::map<std::string, double> claim = {{"mlperf-h100-memory", 0.012}, {"mlperf-gb200-memory", 0.038}};
  int rows = 0;
  for (const auto& [name, bound] : claim) {
    const RunDataset d = read_run_dataset(presets_dir() + "/calibration/memory/" + name + ".csv");
    ASSERT_TRUE(d.validation_only) << name;
    for (const RunRow& row : d.rows) {
      ASSERT_TRUE(row.first_stage_logged) << row.id;
      ASSERT_EQ(row.metric, RunMetric::PeakAllocatedGiB) << row.id;
      const RunResult r = predict_run(row);
      ASSERT_TRUE(r.prediction.evaluated) << row.id;
      ASSERT_EQ(r.peak_stage, 0) << row.id;
      const MemoryBreakdown& m = r.prediction.stages.front().memory;
      EXPECT_NEAR(r.predicted * kGiB, m.params + m.grads + m.optimizer + m.activations + m.working_set, 1e-3) << row.id;
      if (row.pp > 1) {
        EXPECT_NE(m.total(), r.prediction.stages.back().memory.total()) << row.id;  // not the last stage's
      }
      EXPECT_LE(std::fabs(r.error), bound) << name << " " << row.id << ": measured " << row.published << ", predicted "
                                           << r.predicted;
      ++rows;
    }
  }
  EXPECT_EQ(rows, 12);
  // The field takes first or last, and only for an allocated or transient peak.
  const std::string path = presets_dir() + "/calibration/memory/mlperf-h100-memory.csv";
  expect_bad_dataset(path, "# logged_stage: first", "# logged_stage: middle", "bad-logged-stage.csv",
                     {"bad-logged-stage.csv:", "logged_stage", "'middle' is not first or last"});
  expect_bad_dataset(path, "# metric: peak_allocated_GiB", "# metric: peak_memory_GiB", "bad-logged-metric.csv",
                     {"bad-logged-metric.csv:", "logged_stage", "peak_memory_GiB"});
}

// The GPU count of those runs is not published; the figure must not depend on it: the model
// state, which the data-parallel size shards, is not in it, and the last stage holds the same
// microbatches in flight while there are enough of them (the interleaved warm-up is capped at
// m v passes).
TEST(Calibration, TransientPeakDoesNotDependOnTheGpuCount) {
  for (const char* name : {"megatron-tests-h100-memory", "megatron-tests-a100-memory", "megatron-tests-gb200-memory"}) {
    const RunDataset d = read_run_dataset(presets_dir() + "/calibration/memory/" + name + ".csv");
    ASSERT_FALSE(d.rows.empty()) << name;
    for (const RunRow& row : d.rows) {
      if (row.metric != RunMetric::TransientPeakGiB) continue;  // the allocated peaks' GPU count is published
      const RunResult as_given = predict_run(row);
      ASSERT_TRUE(as_given.prediction.evaluated) << row.id;
      int others = 0;
      for (const std::int64_t gpus : {row.gpus / 2, row.gpus * 2}) {
        RunRow other = row;
        other.gpus = gpus;
        const RunResult r = predict_run(other);
        if (!r.prediction.evaluated) continue;  // a data-parallel size the configuration cannot take
        ++others;
        EXPECT_NEAR(r.predicted, as_given.predicted, 1e-9 * as_given.predicted) << row.id << " on " << gpus << " GPUs";
        EXPECT_NE(r.prediction.stages.back().memory.optimizer, as_given.prediction.stages.back().memory.optimizer) << row.id;
      }
      EXPECT_GE(others, 1) << row.id;
    }
  }
}

// docs/cost-model.md §9.4: Megatron-LM's measured peaks, never fitted on, each dataset within
// the largest error stated there (H100 7.4%, A100 13.0%: Mixtral's dropless routing and the
// older container; GB200 2.3%, with the fused loss's compiled backward counted).
TEST(Calibration, MegatronMeasuredPeaksWithinTheClaim) {
  const std::map<std::string, double> claim = {
      {"megatron-tests-h100-memory", 0.075}, {"megatron-tests-a100-memory", 0.131}, {"megatron-tests-gb200-memory", 0.024}};
  for (const auto& [name, bound] : claim) {
    const RunDataset d = read_run_dataset(presets_dir() + "/calibration/memory/" + name + ".csv");
    for (const RunRow& row : d.rows) {
      const RunResult r = predict_run(row);
      ASSERT_TRUE(r.prediction.evaluated) << row.id;
      EXPECT_LE(std::fabs(r.error), bound) << name << " " << row.id << ": measured " << row.published << ", predicted "
                                           << r.predicted;
    }
  }
}

// A step-time row carries the attention core's share of its kernel-level compute: near 0 for a
// short-sequence model, most of the step for Llama 3.1 8B at 262,144 tokens (torchtitan 2024-12,
// CP 8), and the same figure in `nest calibrate --json`.
TEST(Calibration, StepTimeRowsCarryTheirAttentionShare) {
  const RunDataset d = read_run_dataset(presets_dir() + "/calibration/runs/torchtitan-2024-12-h100.csv");
  const RunRow& short_seq = d.rows.at(0);  // 8B at 8192 tokens
  const RunRow& longest = d.rows.at(6);    // 8B at 262,144 tokens, CP 8
  ASSERT_EQ(longest.seq_len, 262144);
  const double a = predict_run(short_seq).attention_share, b = predict_run(longest).attention_share;
  EXPECT_GT(a, 0.05);
  EXPECT_LT(a, 0.5);
  EXPECT_GT(b, 0.9);
  EXPECT_LT(b, 1.0);
  const test::RunResult cli = test::run_nest("calibrate --dataset torchtitan-2024-12-h100 --json");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const Json rows = parse_json(cli.out, "stdout")["rows"];
  EXPECT_DOUBLE_EQ(rows.at(6).at("attention_share").get<double>(), b);
}

// A run's power cap (a header key or a column) reaches its cluster's GPU; a bad one names the
// file, line and key.
TEST(Calibration, PowerCapOfARunReachesItsGpu) {
  const RunDataset b200 = read_run_dataset(presets_dir() + "/calibration/runs/torchao-mx-b200.csv");
  ASSERT_FALSE(b200.rows.empty());
  for (const RunRow& r : b200.rows) EXPECT_EQ(r.gpu_power_limit, 750);
  expect_bad_dataset(presets_dir() + "/calibration/runs/torchao-mx-b200.csv", "# gpu_power_limit_W: 750",
                     "# gpu_power_limit_W: -3", "bad-power.csv", {"gpu_power_limit_W"});
}

// A run split by hand (Megatron-Bridge's DeepSeek-V3 recipe: the embedding and 4 blocks, 14
// stages of 4, the last block with the MTP module and the loss) is evaluated with its split; a
// split that is not the row's pipeline or model is bad input naming the file and the column.
TEST(Calibration, ARunSplitByHandKeepsItsSplit) {
  const std::string path = presets_dir() + "/calibration/runs/megatron-bridge-25.11-moe-b200.csv";
  const RunDataset d = read_run_dataset(path);
  const RunRow* ds = nullptr;
  for (const RunRow& r : d.rows)
    if (r.model == "deepseek-v3") ds = &r;
  ASSERT_NE(ds, nullptr);
  std::vector<int> want(15, 4);
  want.push_back(1);
  EXPECT_EQ(ds->blocks_per_stage, want);
  const RunResult res = predict_run(*ds);
  ASSERT_TRUE(res.found && res.prediction.evaluated);
  EXPECT_EQ(res.plan.blocks_per_stage, want);
  RunRow uneven = *ds;
  uneven.blocks_per_stage = {};
  EXPECT_NE(predict_run(uneven).plan.blocks_per_stage, want);  // the even split otherwise
  RunRow short_of_blocks = *ds;
  short_of_blocks.blocks_per_stage.back() = 0;
  try {
    (void)predict_run(short_of_blocks);
    ADD_FAILURE() << "a split of 60 blocks was accepted for 61";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks_per_stage"), std::string::npos) << e.what();
  }
  for (const char* bad_split : {"4 4 4 4 1", "4 x 4"})
    expect_bad_dataset(path, "4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 1", bad_split, "bad-split.csv", {"blocks_per_stage"});
}

// `# role: validation`: a dataset that is never fitted on, whatever its framework; its rows carry
// what they published (expert TP, the EP overlap) to the plan. Another role is bad input.
TEST(Calibration, ValidationDatasetsAreNeverFittedOn) {
  const std::string path = presets_dir() + "/calibration/runs/megatron-bridge-25.11-moe-h100.csv";
  const RunDataset moe = read_run_dataset(path);
  EXPECT_TRUE(moe.validation_only);
  EXPECT_EQ(moe.framework, FrameworkKind::Megatron);
  const std::vector<RunDataset> all = read_run_datasets("runs");
  std::vector<const RunDataset*> hopper;
  for (const auto& d : all)
    if (d.generation == "hopper") hopper.push_back(&d);
  const std::vector<const RunDataset*> fit = fitting_datasets(hopper);
  EXPECT_FALSE(fit.empty());
  for (const RunDataset* d : fit) EXPECT_FALSE(d->validation_only) << d->name;
  for (const RunRow& r : moe.rows) {
    const RunResult res = predict_run(r);
    ASSERT_TRUE(res.found && res.prediction.evaluated) << r.id;
    EXPECT_EQ(res.plan.par.expert_tp(), 1) << r.id;
    EXPECT_EQ(res.plan.par.ep_comm_overlap, r.id.find("Qwen3") != std::string::npos) << r.id;
  }
  expect_bad_dataset(path, "# role: validation", "# role: held-out", "bad-role.csv", {"role"});
}

}  // namespace
}  // namespace nest
