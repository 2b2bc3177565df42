// nest calibrate: reproduce the published runs in presets/calibration/ and print the error of
// every row; --fit searches the GPU's efficiency parameters that minimise the largest error.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/calibration/calibration.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/report/text_report.hpp"

namespace nest::cli {

namespace {

double worst_error(const std::vector<CalibrationResult>& rs) {
  double w = 0;
  for (const auto& r : rs) w = std::max(w, std::fabs(r.error) + (r.prediction.feasible ? 0 : 1));
  return w;
}

// The generation's sustained fraction minimising the largest absolute relative error over the
// rows (an infeasible row counts as a 100% error): golden-section search on [0.3, 1].
GpuSpec fit_sustained(const CalibrationSetup& setup, Cluster cluster, const std::vector<CalibrationRow>& rows) {
  auto err = [&](double x) {
    cluster.gpu.sustained = x;
    return worst_error(run_calibration(setup, cluster, rows));
  };
  double lo = 0.3, hi = 1.0;
  const double phi = 0.6180339887498949;
  double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), fa = err(a), fb = err(b);
  while (hi - lo > 1e-4) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - phi * (hi - lo);
      fa = err(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + phi * (hi - lo);
      fb = err(b);
    }
  }
  cluster.gpu.sustained = 0.5 * (lo + hi);
  return cluster.gpu;
}

}  // namespace

void register_calibrate(CLI::App& app, std::function<int()>& run) {
  struct Flags {
    std::string dataset = "all";
    bool fit = false, json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("calibrate", "compare predictions with published training runs (presets/calibration)");
  sub->add_option("--dataset", f->dataset, "sc21 (Megatron-LM SC21, A100) | h100 (Megatron-Core 2024, H100) | all")
      ->check(CLI::IsMember({"sc21", "h100", "all"}));
  sub->add_flag("--fit", f->fit, "search the GPU efficiency parameters that minimise the largest error");
  sub->add_flag("--json", f->json, "print the rows as JSON");
  sub->callback([f, &run] {
    run = [f]() -> int {
      std::vector<CalibrationDataset> sets;
      if (f->dataset != "h100") sets.push_back(CalibrationDataset::MegatronSc21);
      if (f->dataset != "sc21") sets.push_back(CalibrationDataset::MegatronH100);
      Json all = Json::array();
      double worst = 0;
      for (CalibrationDataset d : sets) {
        const CalibrationSetup setup = calibration_setup(d);
        Cluster cluster = load_cluster(setup.cluster);
        const auto rows = read_calibration_rows(setup);
        if (f->fit) {
          cluster.gpu = fit_sustained(setup, cluster, rows);
          std::printf("fitted %s (%s): sustained %.3f\n", cluster.gpu.name.c_str(), cluster.gpu.generation.c_str(),
                      cluster.gpu.sustained);
        }
        const auto results = run_calibration(setup, cluster, rows);
        if (!f->json) {
          std::printf("%s on %s (%s): %s\n",
                      d == CalibrationDataset::MegatronSc21 ? "Megatron-LM SC21 Table 1" : "Megatron-Core H100 weak scaling",
                      cluster.name.c_str(), cluster.gpu.name.c_str(), setup.csv_path.c_str());
          std::printf("%-8s %5s %4s %4s %3s %6s %-10s %10s %10s %8s %7s %9s %s\n", "model", "GPUs", "tp", "pp", "v", "batch",
                      "recompute", "published", "predicted", "error", "MFU", "peak GiB", "feasible");
        }
        for (const auto& r : results) {
          double peak = 0;
          for (const auto& s : r.prediction.stages) peak = std::max(peak, s.memory.total());
          worst = std::max(worst, std::fabs(r.error));
          if (!r.prediction.feasible) worst = std::max(worst, 1.0);
          if (f->json) {
            all.push_back(Json{{"dataset", d == CalibrationDataset::MegatronSc21 ? "sc21" : "h100"},
                               {"model", r.row.label},
                               {"gpus", r.row.gpus},
                               {"tp", r.plan.par.tp},
                               {"pp", r.plan.par.pp},
                               {"dp", r.plan.par.dp},
                               {"virtual_stages", r.plan.par.virtual_stages},
                               {"recompute", to_string(r.plan.par.recompute)},
                               {"published_tflops", r.row.published_tflops},
                               {"predicted_tflops", r.predicted_tflops},
                               {"error", r.error},
                               {"mfu", r.prediction.mfu},
                               {"peak_memory_bytes", peak},
                               {"feasible", r.prediction.feasible}});
          } else {
            std::printf("%-8s %5lld %4d %4d %3d %6lld %-10s %10.1f %10.1f %+7.1f%% %6.1f%% %9.1f %s\n", r.row.label.c_str(),
                        static_cast<long long>(r.row.gpus), r.plan.par.tp, r.plan.par.pp, r.plan.par.virtual_stages,
                        static_cast<long long>(r.row.global_batch), to_string(r.plan.par.recompute), r.row.published_tflops,
                        r.predicted_tflops, 100 * r.error, 100 * r.prediction.mfu, peak / kGiB,
                        r.prediction.feasible ? "yes" : "NO");
          }
        }
        if (!f->json) std::printf("\n");
      }
      if (f->json)
        std::cout << dump_json(all);
      else
        std::printf("largest absolute error: %.1f%%\n", 100 * worst);
      return 0;
    };
  });
}

}  // namespace nest::cli
