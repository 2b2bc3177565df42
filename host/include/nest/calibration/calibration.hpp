// Validation against published training runs (presets/calibration/runs/*.csv for step time,
// presets/calibration/memory/*.csv for peak memory). Each row is a run's published
// configuration; settings it did not publish are left to `nest plan` (an exact search restricted
// to what was published), exactly as a user reproducing the run would. The model's single
// fitted end-to-end constant per GPU generation (presets/calibration/generations.json) is fitted
// here, and every error is reported twice: in sample (the constant fitted on every dataset of
// the generation) and out of sample (leave one dataset out: fitted on the others).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

// What a dataset publishes per run.
// PeakMemoryGiB: the fullest stage's reserved memory (PyTorch's `reserved_bytes.all.peak`, what
// torchtitan logs). PeakAllocatedGiB: one pipeline stage's allocated peak (`max_memory_allocated`)
// as the rank that logs it sees it: Megatron-LM's `mem-max-allocated-bytes` (its last rank) or
// MLPerf's `max_memory_usage` (rank 0, the first stage): model state, activations and working
// set, without the allocator's reserve. TransientPeakGiB: that peak less what stays allocated
// between steps (`mem-max-allocated-bytes` - `mem-allocated-bytes`): the activations and working
// set, without the model state, so without the data-parallel size that shards it.
// DeviceUsedGiB: what nvidia-smi reports in use on a stage's GPUs (MiB / 1024): the stage's whole
// memory, the caching allocator's reserve, the CUDA context and NCCL's buffers included; the
// fullest stage, or the first or last (RunRow::logged_stage) where the run read only those GPUs.
enum class RunMetric {
  TokensPerSecondPerGpu,
  ModelTflopsPerGpu,
  HardwareTflopsPerGpu,
  StepTime,
  PeakMemoryGiB,
  PeakAllocatedGiB,
  TransientPeakGiB,
  DeviceUsedGiB
};
// Whether a metric is a memory figure (read from presets/calibration/memory, evaluated as published).
bool is_memory_metric(RunMetric m);
// Its name in the dataset files ("peak_allocated_GiB").
const char* metric_name(RunMetric m);

struct RunRow {
  std::string dataset, id, source;
  int line = 0;  // in the dataset's file
  std::string model, cluster;
  std::int64_t gpus = 0, global_batch = 0, seq_len = 0;
  // Published degrees and settings; 0 / empty: not published (searched).
  int tp = 0, pp = 0, cp = 0, ep = 0, vp = 0, microbatch = 0, zero = -1;
  int etp = 0;  // expert TP degree (Megatron's --expert-tensor-parallel-size); 0: tp
  std::string precision, recompute, sp;
  std::string recompute_modules;  // Megatron-Core's --recompute-modules of a selective row ("layernorm moe_act"), or empty
  // Transformer blocks per pipeline stage where the run split them by hand (Megatron's
  // --pipeline-model-parallel-layout); empty: the even split. Fully published rows only.
  std::vector<int> blocks_per_stage;
  TrainingOptions options;
  double gpu_power_limit = 0;  // W, the run's board power cap (0: the cluster's)
  std::vector<bool> overlap_grad_reduce, overlap_param_gather, tp_comm_overlap, ep_comm_overlap;  // dataset-level switches
  std::vector<bool> offload_activations;  // searched where the dataset says so (empty: off)
  RunMetric metric = RunMetric::TokensPerSecondPerGpu;
  // PeakAllocatedGiB and TransientPeakGiB: the rank that logged it is on the first pipeline stage
  // (`# logged_stage: first`, MLPerf's rank 0) rather than the last (Megatron-LM's last rank).
  // DeviceUsedGiB: `logged_stage` names the stage read (first or last; neither: the fullest).
  bool first_stage_logged = false;
  bool last_stage_logged = false;
  // Fields of the model's config set before it is read (`model_set` column: "num_hidden_layers=106
  // hidden_size=12288"), for runs of one architecture at several depths and widths.
  std::vector<JsonSetting> model_set;
  double published = 0;
};

struct RunDataset {
  std::string name, path, generation, description;
  FrameworkKind framework = FrameworkKind::Megatron;
  // `# role: validation`: never fitted on, whatever its framework (its errors are out of sample).
  bool validation_only = false;
  std::vector<RunRow> rows;
};

// Reads one dataset file (the header's `# key: value` lines give its defaults, docs/cost-model.md §9).
RunDataset read_run_dataset(const std::string& path);
// Every dataset under presets/calibration/<kind> ("runs" or "memory").
std::vector<RunDataset> read_run_datasets(const std::string& kind);

struct RunResult {
  RunRow row;
  Plan plan;
  Prediction prediction;
  double predicted = 0;  // in the row's metric
  double error = 0;      // (predicted - published) / published
  bool found = false;    // a plan of the published configuration fits
  // Memory rows: the stage `predicted` is of. PeakMemoryGiB: the fullest stage, its memory less
  // what lives outside PyTorch's caching allocator (the CUDA context, NCCL's buffers).
  // PeakAllocatedGiB and TransientPeakGiB: the stage of the rank that logged it (the last, or the
  // first: RunRow::first_stage_logged), its model state, activations and working set, or the last two.
  // DeviceUsedGiB: the stage read (or the fullest), its whole memory.
  int peak_stage = -1;
  double outside_allocator = 0;  // bytes
  // Step-time rows: the attention core's share of the model's kernel-level compute time, one
  // microbatch (report/compute_report.hpp), to set errors against what the run spends its time on.
  double attention_share = 0;
  bool moe = false;  // the row's model has experts (read with the model the prediction loads)
};

// Predicts one row: the best plan of the published configuration (or the published plan when
// every setting is given) on the row's cluster with the GPU generation's `sustained` replaced
// by `sustained` when positive.
RunResult predict_run(const RunRow& row, double sustained = 0, const Plan* fixed_plan = nullptr);

struct DatasetError {
  double mean_abs = 0, max_abs = 0;
  int rows = 0, missing = 0;
};
DatasetError dataset_error(const std::vector<RunResult>& results);

// Out-of-sample step-time errors by series, each (model, GPU generation) pair counted once
// (issue 10's measure: a model series that many rows repeat weighs as much as one row). A row's
// out-of-sample error is its error in a validation dataset (never fitted on) or, in a fitted
// dataset, its error under the constant fitted without that dataset (`nest calibrate --loo`).
struct OutOfSampleRow {
  std::string model, generation;
  bool moe = false;
  double error = 0;
  double mfu_error = 0;  // the same prediction's MFU error (mfu_error below)
};
// One (model, GPU generation) series: its rows' mean absolute errors, each series counted once
// in the summary's means.
struct SeriesError {
  std::string model, generation;
  bool moe = false;
  int rows = 0;
  double mean_abs = 0, mfu_mean_abs = 0, max_abs = 0;
};
struct SeriesSummary {
  int rows = 0, series = 0;
  std::vector<SeriesError> each;                   // by model, then generation
  double mean_of_series = 0;                       // the mean over series of each series' mean absolute error
  double max_abs = 0;                              // the largest row
  double mfu_mean_of_series = 0, mfu_max_abs = 0;  // the same of the MFU errors
};
// A run's MFU error, (predicted - published) / published of its MFU, from its metric's error.
// MFU is model FLOPs / (step time x GPUs x peak), so for one configuration it is proportional to
// any throughput: a tokens/s or TFLOP/s error is the MFU error; a step time's error e gives
// 1 / (1 + e) - 1 (predicted 10% too slow is MFU 9.1% too low). NaN for a memory metric.
double mfu_error(RunMetric metric, double error);
// Over every row, or over the dense models' rows only.
SeriesSummary summarize_series(const std::vector<OutOfSampleRow>& rows, bool dense_only);
// Appends dataset d's evaluated rows with their out-of-sample error: `results` (its predictions)
// for a validation dataset, `loo` (the same rows under sustained_without) for a fitted one; a
// fitted dataset without `loo` (its generation's only one) adds nothing.
void append_out_of_sample_rows(const RunDataset& d, const std::vector<RunResult>& results, const std::vector<RunResult>& loo,
                               std::vector<OutOfSampleRow>& out);

// The datasets a generation's constant is fitted on: its Megatron-LM / NeMo runs (nest's default
// framework) when it has any, else all of its datasets; never one marked `# role: validation`.
// The others validate only.
std::vector<const RunDataset*> fitting_datasets(const std::vector<const RunDataset*>& generation);

// The sustained fraction of one generation minimising the mean over datasets of each dataset's
// mean absolute step-time error (each dataset counted once), with plans re-chosen until stable.
double fit_sustained(const std::vector<const RunDataset*>& datasets);

// Leave one dataset out: the constant fitted on the fitting datasets of `generation` (the
// datasets of d's generation) other than d; 0 where there are none (d is its generation's only
// fitted dataset, or none is fitted).
double sustained_without(const RunDataset& d, const std::vector<const RunDataset*>& generation);

}  // namespace nest
