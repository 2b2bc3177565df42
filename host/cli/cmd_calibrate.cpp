// nest calibrate: predict the published runs of presets/calibration/{runs,memory}, print every
// row's error, fit the one end-to-end constant per GPU generation (--fit) and report the error
// out of sample (--loo: each dataset predicted with the constant fitted on the others).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/calibration/calibration.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/profiler/kernel_table.hpp"
#include "nest/io/text.hpp"
#include "nest/report/text_report.hpp"

namespace nest::cli {

namespace {

std::string config_of(const RunResult& r) {
  const Parallelism& p = r.plan.par;
  char buf[160];
  std::snprintf(buf, sizeof buf, "tp%d pp%d cp%d ep%d v%d mb%d z%d %s %s", p.tp, p.pp, p.cp, p.ep, p.virtual_stages, p.microbatch,
                p.zero, to_string(p.recompute), to_string(p.precision));
  std::string out = buf;
  if (p.recompute == Recompute::Selective && p.recompute_modules != kernels::kRecomputeCoreAttn)
    out += " (" + recompute_modules_text(p.recompute_modules) + ")";
  if (p.offload_activations) out += " offload " + (p.offload_layers > 0 ? std::to_string(p.offload_layers) : std::string("all"));
  return out;
}

// A published or predicted value in the table: tokens/s and TFLOP/s to a tenth, step times
// (MLPerf's 0.089 s) and GiB to four significant digits, so that small ones do not print as 0.1.
std::string metric_value(double v) {
  const double a = std::fabs(v);
  return format_text(a >= 1000 ? "%.1f" : a >= 100 ? "%.2f" : a >= 10 ? "%.3f" : a >= 1 ? "%.4f" : "%.4g", v);
}

// A memory row's stage in GiB, the parts summing to the prediction: of a reserved peak, what
// PyTorch's caching allocator holds (the reserve without the CUDA context and NCCL's buffers); of
// an allocated peak, the same without the reserve; of a transient peak, what the step allocates
// above the model state; of the memory in use, everything (other: the reserve, the CUDA context
// and NCCL's buffers).
std::vector<std::pair<const char*, double>> peak_memory_parts(const RunResult& r) {
  const MemoryBreakdown& m = r.prediction.stages.at(static_cast<std::size_t>(r.peak_stage)).memory;
  if (r.row.metric == RunMetric::TransientPeakGiB)
    return {{"activations", m.activations / kGiB}, {"working_set", m.working_set / kGiB}};
  if (r.row.metric == RunMetric::PeakAllocatedGiB)
    return {{"params", m.params / kGiB},
            {"grads", m.grads / kGiB},
            {"optimizer", m.optimizer / kGiB},
            {"activations", m.activations / kGiB},
            {"working_set", m.working_set / kGiB}};
  if (r.row.metric == RunMetric::DeviceUsedGiB)
    return {{"params", m.params / kGiB},           {"grads", m.grads / kGiB},
            {"optimizer", m.optimizer / kGiB},     {"activations", m.activations / kGiB},
            {"working_set", m.working_set / kGiB}, {"other", m.other / kGiB}};
  return {{"params", m.params / kGiB},           {"grads", m.grads / kGiB},
          {"optimizer", m.optimizer / kGiB},     {"activations", m.activations / kGiB},
          {"working_set", m.working_set / kGiB}, {"reserve", (m.other - r.outside_allocator) / kGiB}};
}

int print_kernel_comparison(bool json) {
  std::vector<GpuSpec> gpus;
  for (const auto& name : list_presets(PresetKind::Gpu)) gpus.push_back(load_gpu(name));
  const std::string csv = presets_dir() + "/calibration/kernel-benchmarks.csv";
  const profiler::KernelComparison c = profiler::compare_kernel_table(csv, gpus);
  if (json) {
    Json rows = Json::array();
    for (const auto& r : c.rows)
      rows.push_back(Json{{"line", r.line},
                          {"source", r.source_id},
                          {"gpu", r.preset},
                          {"kernel", r.kernel},
                          {"seq_len", r.seq},
                          {"causal", r.causal},
                          {"measured", r.measured},
                          {"predicted", r.predicted},
                          {"error", r.error},
                          {"role", r.fit ? "fit" : "held out"}});
    Json loso = Json::array();
    for (const auto& a : c.fa3_loso)
      loso.push_back(Json{{"fit_on", a.fit_on},
                          {"scored_on", a.scored_on},
                          {"fwd", a.efficiency},
                          {"half_span", a.half_span},
                          {"mean_abs_error", a.mean_abs_error},
                          {"max_abs_error", a.max_abs_error}});
    std::cout << dump_json(Json{{"rows", rows},
                                {"skipped", c.skipped},
                                {"fa3_forward_fit", Json{{"fwd", c.fa3_both.efficiency},
                                                         {"half_span", c.fa3_both.half_span},
                                                         {"mean_abs_error", c.fa3_both.mean_abs_error},
                                                         {"max_abs_error", c.fa3_both.max_abs_error}}},
                                {"fa3_leave_one_source_out", loso},
                                {"fa3_causal_forward_fit", Json{{"causal_fwd", c.fa3_causal_fwd.factor},
                                                                {"mean_abs_error", c.fa3_causal_fwd.mean_abs_error},
                                                                {"max_abs_error", c.fa3_causal_fwd.max_abs_error}}},
                                {"fa3_backward_fit", Json{{"bwd", c.fa3_bwd.efficiency},
                                                          {"half_span_bwd", c.fa3_bwd.half_span},
                                                          {"mean_abs_error", c.fa3_bwd.mean_abs_error},
                                                          {"max_abs_error", c.fa3_bwd.max_abs_error}}}});
    return 0;
  }
  std::printf("operator model against %s (%zu rows modelled, %d rows of other kernels or GPUs skipped)\n", csv.c_str(),
              c.rows.size(), c.skipped);
  std::printf("  %-5s %-14s %-10s %-32s %10s %10s %8s  %s\n", "line", "source", "GPU", "kernel", "measured", "predicted", "error",
              "role");
  for (const auto& r : c.rows)
    std::printf("  %-5d %-14s %-10s %-32s %10.1f %10.1f %+7.1f%%  %s\n", r.line, r.source_id.c_str(), r.preset.c_str(),
                r.kernel.substr(0, 32).c_str(), r.measured, r.predicted, 100 * r.error, r.fit ? "fit" : "held out");
  std::printf("FlashAttention-3 forward curve on every row: fwd %.3f, half_span %.0f; mean |error| %.1f%%, largest %.1f%%\n",
              c.fa3_both.efficiency, c.fa3_both.half_span, 100 * c.fa3_both.mean_abs_error, 100 * c.fa3_both.max_abs_error);
  for (const auto& a : c.fa3_loso)
    std::printf("  fitted on %s alone, scored on %s (out of sample): mean |error| %.1f%%, largest %.1f%%\n", a.fit_on.c_str(),
                a.scored_on.c_str(), 100 * a.mean_abs_error, 100 * a.max_abs_error);
  std::printf("FlashAttention-3 causal forward factor on its causal rows from 2k: %.3f; mean |error| %.1f%%, largest %.1f%%\n",
              c.fa3_causal_fwd.factor, 100 * c.fa3_causal_fwd.mean_abs_error, 100 * c.fa3_causal_fwd.max_abs_error);
  std::printf("FlashAttention-3 backward curve on every row: bwd %.3f, half_span_bwd %.0f; mean |error| %.1f%%, largest %.1f%%\n",
              c.fa3_bwd.efficiency, c.fa3_bwd.half_span, 100 * c.fa3_bwd.mean_abs_error, 100 * c.fa3_bwd.max_abs_error);
  return 0;
}

}  // namespace

void register_calibrate(CLI::App& app, std::function<int()>& run) {
  struct Flags {
    std::string kind = "runs", dataset;
    bool fit = false, loo = false, json = false, breakdown = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("calibrate", "compare predictions with published training runs (presets/calibration)");
  sub->add_option("--kind", f->kind, "runs (step time, default) | memory (peak memory) | kernels (operator model)")
      ->check(CLI::IsMember({"runs", "memory", "kernels"}));
  sub->add_option("--dataset", f->dataset, "only these datasets (comma list of file stems)");
  sub->add_flag("--fit", f->fit, "fit each GPU generation's sustained fraction on its datasets and print it");
  sub->add_flag("--loo", f->loo, "also predict each dataset with the constant fitted on the other datasets of its generation");
  sub->add_flag("--json", f->json, "print the rows as JSON");
  sub->add_flag("--breakdown", f->breakdown,
                "memory: under each row, the fullest stage's parameters, gradients, optimizer state, activations, "
                "working set and allocator reserve (an allocated peak: the logging rank's stage, the last or the "
                "first, without the reserve; a transient peak: its activations and working set; always in --json)");
  sub->callback([f, &run] {
    run = [f]() -> int {
      if (f->kind == "kernels") return print_kernel_comparison(f->json);
      std::vector<RunDataset> all = read_run_datasets(f->kind);
      if (!f->dataset.empty()) {
        std::vector<RunDataset> kept;
        const auto want = split(f->dataset, ',');
        for (auto& d : all)
          if (std::find(want.begin(), want.end(), d.name) != want.end()) kept.push_back(d);
        for (const auto& w : want)
          if (std::none_of(all.begin(), all.end(), [&](const RunDataset& d) { return d.name == w; }))
            throw_bad_input("--dataset", "'" + w + "' is not a dataset under presets/calibration/" + f->kind);
        all = kept;
      }
      std::map<std::string, std::vector<const RunDataset*>> by_generation;
      for (const auto& d : all) by_generation[d.generation].push_back(&d);
      std::map<std::string, double> fitted;
      if (f->fit && f->kind == "runs")
        for (const auto& [gen, ds] : by_generation) fitted[gen] = fit_sustained(fitting_datasets(ds));

      Json rows = Json::array();
      Json summary = Json::array();
      double worst = 0;
      std::vector<OutOfSampleRow> series_rows;
      for (const RunDataset& d : all) {
        const double s = fitted.count(d.generation) ? fitted[d.generation] : 0;
        std::vector<RunResult> results;
        for (const RunRow& r : d.rows) results.push_back(predict_run(r, s));
        std::vector<RunResult> oos;
        if (f->loo && f->kind == "runs") {
          // Out of sample: fitted on the generation's fitting datasets other than this one.
          if (const double so = sustained_without(d, by_generation[d.generation]); so > 0)
            for (const RunRow& r : d.rows) oos.push_back(predict_run(r, so));
        }
        const DatasetError e = dataset_error(results);
        worst = std::max(worst, e.max_abs);
        if (f->kind == "runs") append_out_of_sample_rows(d, results, oos, series_rows);
        if (!f->json) {
          std::printf("%s (%s%s, %s): %s\n", d.name.c_str(), d.generation.c_str(), d.validation_only ? ", never fitted on" : "",
                      d.description.c_str(), d.path.c_str());
          std::printf("  %-34s %6s  %-44s %10s %10s %8s %9s %s\n", "run", "GPUs", "configuration (published + searched)",
                      "published", "predicted", "error", "oos err", "fits");
        }
        for (std::size_t i = 0; i < results.size(); ++i) {
          const RunResult& r = results[i];
          const double oe = i < oos.size() ? oos[i].error : std::nan("");
          if (f->json) {
            Json j{{"dataset", d.name},
                   {"id", r.row.id},
                   {"gpus", r.row.gpus},
                   {"published", r.row.published},
                   {"predicted", r.predicted},
                   {"error", r.error},
                   {"fits", r.found && r.prediction.feasible},
                   {"configuration", config_of(r)},
                   {"metric", metric_name(r.row.metric)},
                   {"source", r.row.source}};
            if (i < oos.size()) j["out_of_sample_error"] = oe;
            if (!is_memory_metric(r.row.metric)) j["attention_share"] = r.attention_share;
            if (r.peak_stage >= 0) {
              j["peak_stage"] = r.peak_stage;
              Json parts = Json::object();
              for (const auto& [name, gib] : peak_memory_parts(r)) parts[name] = gib;
              j["peak_memory_GiB"] = parts;
            }
            rows.push_back(j);
          } else {
            char oos_buf[32] = "-";
            if (i < oos.size()) std::snprintf(oos_buf, sizeof oos_buf, "%+.1f%%", 100 * oe);
            std::printf("  %-34s %6lld  %-44s %10s %10s %+7.1f%% %9s %s\n", r.row.id.substr(0, 34).c_str(),
                        static_cast<long long>(r.row.gpus), config_of(r).c_str(), metric_value(r.row.published).c_str(),
                        metric_value(r.predicted).c_str(), 100 * r.error, oos_buf,
                        r.found && r.prediction.feasible ? "yes" : "NO");
            if (f->breakdown && r.peak_stage >= 0) {
              std::string line = "      stage " + std::to_string(r.peak_stage) + ":";
              for (const auto& [name, gib] : peak_memory_parts(r)) line += format_text("  %s %.2f", name, gib);
              std::printf("%s GiB\n", line.c_str());
            }
          }
        }
        const auto fit_set = fitting_datasets(by_generation[d.generation]);
        const bool fitted_on = std::find(fit_set.begin(), fit_set.end(), &d) != fit_set.end();
        Json sj{{"dataset", d.name},          {"generation", d.generation}, {"rows", e.rows}, {"mean_abs_error", e.mean_abs},
                {"max_abs_error", e.max_abs}, {"fitted_on", fitted_on}};
        if (!oos.empty()) {
          const DatasetError eo = dataset_error(oos);
          sj["out_of_sample_mean_abs_error"] = eo.mean_abs;
          sj["out_of_sample_max_abs_error"] = eo.max_abs;
        }
        summary.push_back(sj);
        if (!f->json) {
          std::printf("  mean |error| %.1f%%, largest %.1f%%", 100 * e.mean_abs, 100 * e.max_abs);
          if (!oos.empty())
            std::printf("; out of sample (constant fitted on the other %s datasets): mean %.1f%%, largest %.1f%%",
                        d.generation.c_str(), 100 * dataset_error(oos).mean_abs, 100 * dataset_error(oos).max_abs);
          std::printf("\n\n");
        }
      }
      // Out of sample by series, with --loo (without it the fitted datasets have no such figure).
      const bool series = f->loo && f->kind == "runs" && !series_rows.empty();
      const SeriesSummary every = summarize_series(series_rows, false), dense = summarize_series(series_rows, true);
      if (f->json) {
        Json j{{"rows", rows}, {"datasets", summary}};
        for (const auto& [gen, s] : fitted) j["fitted_sustained"][gen] = s;
        if (series) {
          auto as_json = [](const SeriesSummary& s) {
            return Json{{"rows", s.rows},
                        {"series", s.series},
                        {"mean_abs_error", s.mean_of_series},
                        {"max_abs_error", s.max_abs},
                        {"mfu_mean_abs_error", s.mfu_mean_of_series},
                        {"mfu_max_abs_error", s.mfu_max_abs}};
          };
          Json each = Json::array();
          for (const SeriesError& e : every.each)
            each.push_back(Json{{"model", e.model},
                                {"generation", e.generation},
                                {"moe", e.moe},
                                {"rows", e.rows},
                                {"mean_abs_error", e.mean_abs},
                                {"max_abs_error", e.max_abs},
                                {"mfu_mean_abs_error", e.mfu_mean_abs}});
          j["out_of_sample_by_series"] = Json{{"all", as_json(every)}, {"dense", as_json(dense)}, {"series", each}};
        }
        std::cout << dump_json(j);
      } else {
        for (const auto& [gen, s] : fitted) std::printf("fitted %s: sustained %.3f\n", gen.c_str(), s);
        std::printf("largest absolute error: %.1f%%\n", 100 * worst);
        if (series) {
          std::printf(
              "out of sample, each (model, GPU generation) series counted once (validation datasets as they are, fitted "
              "ones under the constant fitted without them): %d rows in %d series, mean %.1f%%, largest row %.1f%% "
              "(MFU: mean %.1f%%, largest %.1f%%); dense models: %d rows in %d series, mean %.1f%%, largest row %.1f%% "
              "(MFU: mean %.1f%%, largest %.1f%%)\n",
              every.rows, every.series, 100 * every.mean_of_series, 100 * every.max_abs, 100 * every.mfu_mean_of_series,
              100 * every.mfu_max_abs, dense.rows, dense.series, 100 * dense.mean_of_series, 100 * dense.max_abs,
              100 * dense.mfu_mean_of_series, 100 * dense.mfu_max_abs);
          std::vector<SeriesError> worst_first = every.each;
          std::stable_sort(worst_first.begin(), worst_first.end(),
                           [](const SeriesError& a, const SeriesError& b) { return a.mean_abs > b.mean_abs; });
          std::printf("series out of sample, worst first (mean |error|, largest row, MFU mean |error|):\n");
          for (const SeriesError& e : worst_first)
            std::printf("  %-34s %-10s %4d rows %s  %6.1f%% %6.1f%% %6.1f%%\n", e.model.c_str(), e.generation.c_str(), e.rows,
                        e.moe ? "MoE  " : "dense", 100 * e.mean_abs, 100 * e.max_abs, 100 * e.mfu_mean_abs);
        }
      }
      return 0;
    };
  });
}

}  // namespace nest::cli
