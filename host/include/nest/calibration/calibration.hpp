// Calibration against published training runs (presets/calibration/): each row is evaluated
// with the configuration the paper ran, the settings it did not publish are filled in by a
// stated rule, and the predicted throughput is compared with the published one.
#pragma once

#include <string>
#include <vector>

#include "nest/cost/problem.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

enum class CalibrationDataset { MegatronSc21, MegatronH100 };

struct CalibrationRow {
  std::string label;  // "1.7B"
  std::int64_t heads = 0, hidden = 0, layers = 0, tp = 1, pp = 1, gpus = 0, global_batch = 0;
  double published_tflops = 0;  // per GPU, the paper's counting
};

struct CalibrationResult {
  CalibrationRow row;
  Plan plan;
  Prediction prediction;
  double predicted_tflops = 0;
  double error = 0;  // (predicted - published) / published
};

struct CalibrationSetup {
  CalibrationDataset dataset;
  std::string csv_path;
  std::string cluster;  // preset used for every row
};

CalibrationSetup calibration_setup(CalibrationDataset d);
std::vector<CalibrationRow> read_calibration_rows(const CalibrationSetup& setup);
// Evaluates every row on `cluster` (a GPU's efficiency parameters can be overridden there).
std::vector<CalibrationResult> run_calibration(const CalibrationSetup& setup, const Cluster& cluster,
                                               const std::vector<CalibrationRow>& rows);

}  // namespace nest
