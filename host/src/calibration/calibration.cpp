#include "nest/calibration/calibration.hpp"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/io/text.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

namespace {

// The GPT models of Megatron-LM's 2024 H100 table: GPT-3 architecture, vocabulary 131072,
// untied embeddings (the published parameter counts match untied), sequence 4096.
ModelConfig h100_table_model(const CalibrationRow& r) {
  ModelConfig m;
  m.name = "megatron-h100-gpt-" + r.label;
  m.source = "presets/calibration/megatron-lm-h100-weak-scaling.csv";
  m.model_type = "gpt2";
  m.family = ModelFamily::Gpt;
  m.hidden = r.hidden;
  m.layers = r.layers;
  m.heads = r.heads;
  m.kv_heads = r.heads;
  m.head_dim = r.hidden / r.heads;
  m.ffn = 4 * r.hidden;
  m.vocab = 131072;
  m.max_positions = 4096;
  m.learned_positions = true;
  m.gated_mlp = false;
  m.layernorm = true;
  m.linear_bias = true;
  m.dropout = 0;
  m.moe_layer.assign(static_cast<std::size_t>(r.layers), false);
  return m;
}

std::string sc21_preset(const std::string& label) {
  std::string s = label;
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "1008b") s = "1t";
  return "sc21-gpt-" + s;
}

}  // namespace

CalibrationSetup calibration_setup(CalibrationDataset d) {
  const std::string dir = presets_dir() + "/calibration/";
  switch (d) {
    case CalibrationDataset::MegatronSc21:
      return {d, dir + "megatron-sc21-table1.csv", "dgx-a100"};
    case CalibrationDataset::MegatronH100:
      return {d, dir + "megatron-lm-h100-weak-scaling.csv", "dgx-h100"};
  }
  return {};
}

std::vector<CalibrationRow> read_calibration_rows(const CalibrationSetup& setup) {
  const std::string text = read_text_file(setup.csv_path);
  std::stringstream ss(text);
  std::vector<std::string> header;
  std::vector<CalibrationRow> rows;
  int line_no = 0;
  for (std::string line; std::getline(ss, line);) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const auto cells = split(line, ',');
    if (header.empty()) {
      header = cells;
      continue;
    }
    auto col = [&](const char* name) -> double {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == name && i < cells.size()) return std::stod(cells[i]);
      throw_bad_input(setup.csv_path + ":" + std::to_string(line_no), std::string("no column '") + name + "'");
    };
    CalibrationRow r;
    r.label = cells[0];
    if (setup.dataset == CalibrationDataset::MegatronSc21) {
      const double billions = col("params_billion");
      r.label = billions >= 1000 ? "1T" : (std::ostringstream() << billions << "B").str();
      r.heads = static_cast<std::int64_t>(col("attention_heads"));
      r.hidden = static_cast<std::int64_t>(col("hidden_size"));
      r.layers = static_cast<std::int64_t>(col("num_layers"));
      r.tp = static_cast<std::int64_t>(col("tensor_parallel"));
      r.pp = static_cast<std::int64_t>(col("pipeline_parallel"));
      r.gpus = static_cast<std::int64_t>(col("gpus"));
      r.global_batch = static_cast<std::int64_t>(col("global_batch"));
      r.published_tflops = col("achieved_tflops_per_gpu");
    } else {
      r.label = (std::ostringstream() << col("params_b") << "B").str();
      r.heads = static_cast<std::int64_t>(col("heads"));
      r.hidden = static_cast<std::int64_t>(col("hidden"));
      r.layers = static_cast<std::int64_t>(col("layers"));
      r.tp = static_cast<std::int64_t>(col("tp"));
      r.pp = static_cast<std::int64_t>(col("pp"));
      r.gpus = static_cast<std::int64_t>(col("gpus"));
      r.global_batch = static_cast<std::int64_t>(col("global_batch"));
      r.published_tflops = col("tflops_per_gpu");
    }
    rows.push_back(r);
  }
  return rows;
}

std::vector<CalibrationResult> run_calibration(const CalibrationSetup& setup, const Cluster& cluster,
                                               const std::vector<CalibrationRow>& rows) {
  std::vector<CalibrationResult> out;
  for (const CalibrationRow& r : rows) {
    Problem problem;
    problem.cluster = cluster;
    problem.gpus = r.gpus;
    problem.global_batch = r.global_batch;
    Parallelism base;
    base.tp = static_cast<int>(r.tp);
    base.pp = static_cast<int>(r.pp);
    base.dp = static_cast<int>(r.gpus / (r.tp * r.pp));
    base.microbatch = 1;
    base.num_microbatches = static_cast<int>(r.global_batch / base.dp);
    std::vector<Parallelism> candidates;
    if (setup.dataset == CalibrationDataset::MegatronSc21) {
      // SC21 (2021 Megatron-LM): full recomputation, microbatch 1, interleaved schedule for the
      // pipelined runs, no sequence parallelism, no distributed optimizer, the classic
      // attention kernel, data-parallel all-reduce after the pipeline drains, TP collectives
      // not overlapped. Not published: the number of virtual stages (the fastest valid one).
      problem.model = load_model(sc21_preset(r.label));
      problem.seq_len = 2048;
      problem.options.overlap_grad_reduce = false;
      problem.options.overlap_param_gather = false;
      problem.options.settings.flash_attention = 0;
      problem.options.settings.tp_comm_overlap = 0;
      base.recompute = Recompute::Full;
      base.zero = 0;
      candidates.push_back(base);
    } else {
      // Megatron-Core r0.8 on H100 (2024): data-parallel, TP and pipeline communication
      // overlapped, distributed optimizer, FlashAttention; not published: microbatch,
      // recomputation, sequence parallelism, virtual stages; we take sequence parallelism with
      // TP and the fastest feasible microbatch, recomputation and virtual stages.
      problem.model = h100_table_model(r);
      problem.seq_len = 4096;
      problem.options.overlap_grad_reduce = true;
      problem.options.overlap_param_gather = true;
      problem.options.settings.flash_attention = 1;
      problem.options.settings.tp_comm_overlap = 1;
      base.zero = 1;
      base.sp = base.tp > 1;
      const int per_rank = static_cast<int>(r.global_batch / base.dp);
      for (int mb = 1; mb <= per_rank; ++mb) {
        if (per_rank % mb != 0) continue;
        for (Recompute rc : {Recompute::None, Recompute::Selective, Recompute::Full}) {
          Parallelism p = base;
          p.recompute = rc;
          p.microbatch = mb;
          p.num_microbatches = per_rank / mb;
          candidates.push_back(p);
        }
      }
    }
    CalibrationResult best;
    bool have = false;
    const int L = static_cast<int>(r.layers);
    for (const Parallelism& c : candidates) {
      std::vector<int> vs = {1};
      if (c.pp > 1)
        for (int v = 2; v <= L / c.pp; ++v)
          if ((L / c.pp) % v == 0 && L % c.pp == 0 && c.num_microbatches % c.pp == 0) vs.push_back(v);
      for (int v : vs) {
        Plan plan;
        plan.par = c;
        if (v > 1) {
          plan.par.schedule = Schedule::Interleaved;
          plan.par.virtual_stages = v;
        }
        plan.blocks_per_stage = even_split(L, c.pp, v);
        const Prediction pr = evaluate_plan(problem, plan);
        if (!pr.evaluated) continue;
        const double tflops =
            setup.dataset == CalibrationDataset::MegatronSc21 ? pr.hardware_tflops_per_gpu : pr.model_tflops_per_gpu;
        const bool better = !have || (pr.feasible && !best.prediction.feasible) ||
                            (pr.feasible == best.prediction.feasible && pr.step_time < best.prediction.step_time);
        if (better) {
          best.row = r;
          best.plan = plan;
          best.prediction = pr;
          best.predicted_tflops = tflops;
          have = true;
        }
      }
    }
    if (!have) throw_runtime("calibration row " + r.label + ": no configuration could be evaluated");
    best.error = (best.predicted_tflops - r.published_tflops) / r.published_tflops;
    out.push_back(best);
  }
  return out;
}

}  // namespace nest
