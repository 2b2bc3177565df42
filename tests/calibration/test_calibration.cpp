// The published runs of presets/calibration/runs: Megatron-LM SC21 Table 1 (A100) and
// Megatron-Core's 2024 H100 table, every row within the 10% the README claims, with the shipped
// generation constants; every published configuration predicted to fit.
#include <gtest/gtest.h>

#include <cmath>

#include "nest/calibration/calibration.hpp"
#include "nest/io/presets.hpp"

namespace nest {
namespace {

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

TEST(Calibration, MegatronSc21WithinTenPercent) { expect_within("megatron-sc21-a100", 0.10); }

TEST(Calibration, MegatronCoreH100WithinTenPercent) { expect_within("megatron-core-h100-2024", 0.10); }

}  // namespace
}  // namespace nest
