// The operator model against published kernel measurements (presets/calibration/
// kernel-benchmarks.csv): every row that measures an operator nest models on a GPU nest has a
// preset for, predicted by the same operators.hpp functions the planner uses, with its error.
// Each row is tagged by its role in the presets: `fit` (a preset value was read from or fitted
// on it) or `held out`; the FlashAttention-3 forward curve is also refitted on each source alone
// and scored on the other (leave one source out), its causal factor and its backward curve on the
// one source that sweeps them. docs/cost-model.md §3.
#pragma once

#include <string>
#include <vector>

#include "nest/hardware/cluster.hpp"

namespace nest::profiler {

struct KernelRow {
  int line = 0;
  std::string source_id, gpu_label, kernel, preset;  // preset: the GPU preset the row measures
  double m = 0, n = 0, k = 0, batch = 1, seq = 0, heads = 0, head_dim = 0;
  bool causal = false;
  double measured = 0;  // TFLOP/s or GB/s
  std::string units;
  double predicted = 0;
  double error = 0;  // (predicted - measured) / measured
  bool fit = false;  // used to set a preset value
};

struct AttentionRefit {
  std::string fit_on, scored_on;
  double efficiency = 0, half_span = 0;          // of the pass the rows measure: forward or backward
  double mean_abs_error = 0, max_abs_error = 0;  // on the other source
};

struct CausalFactorFit {
  double factor = 0;                             // causal over unmasked, at the same span
  double mean_abs_error = 0, max_abs_error = 0;  // on the causal rows it is fitted on
};

struct KernelComparison {
  std::vector<KernelRow> rows;  // modelled rows only
  int skipped = 0;              // rows of kernels or GPUs nest does not model
  AttentionRefit fa3_both;      // fitted on every FlashAttention-3 forward row (the preset's values)
  std::vector<AttentionRefit> fa3_loso;
  AttentionRefit fa3_bwd;          // fitted on every FlashAttention-3 backward row (the preset's bwd, half_span_bwd)
  CausalFactorFit fa3_causal_fwd;  // the preset's causal_fwd, against fa3_both's curve
};

// `gpus`: the GPU presets with the CSV labels that name each one (GpuSpec::kernel_labels).
KernelComparison compare_kernel_table(const std::string& csv_path, const std::vector<GpuSpec>& gpus);

}  // namespace nest::profiler
