// The published runs of presets/calibration/: every row of Megatron-LM SC21 Table 1 within 15%
// of its published teraFLOP/s per GPU (counted the paper's way, with the recomputation pass)
// and feasible in memory; the same bound for Megatron-Core's 2024 H100 table.
#include <gtest/gtest.h>

#include <cmath>

#include "nest/calibration/calibration.hpp"
#include "nest/hardware/cluster.hpp"

namespace nest {
namespace {

void check_dataset(CalibrationDataset d, std::size_t expected_rows) {
  const CalibrationSetup setup = calibration_setup(d);
  const auto rows = read_calibration_rows(setup);
  ASSERT_EQ(rows.size(), expected_rows);
  const auto results = run_calibration(setup, load_cluster(setup.cluster), rows);
  for (const auto& r : results) {
    EXPECT_TRUE(r.prediction.feasible) << r.row.label << ": published configuration predicted out of memory";
    EXPECT_LT(std::fabs(r.error), 0.15) << r.row.label << ": predicted " << r.predicted_tflops << " vs published "
                                        << r.row.published_tflops;
    EXPECT_EQ(r.plan.par.tp, r.row.tp);
    EXPECT_EQ(r.plan.par.pp, r.row.pp);
    EXPECT_EQ(r.plan.par.gpus(), r.row.gpus);
  }
}

TEST(Calibration, MegatronSc21Table1) { check_dataset(CalibrationDataset::MegatronSc21, 10); }
TEST(Calibration, MegatronCoreH100WeakScaling) { check_dataset(CalibrationDataset::MegatronH100, 9); }

TEST(Calibration, Sc21UsesThePublishedSettings) {
  const CalibrationSetup setup = calibration_setup(CalibrationDataset::MegatronSc21);
  const auto results = run_calibration(setup, load_cluster(setup.cluster), read_calibration_rows(setup));
  for (const auto& r : results) {
    EXPECT_EQ(r.plan.par.microbatch, 1);
    EXPECT_EQ(r.plan.par.recompute, Recompute::Full);
    EXPECT_EQ(r.plan.par.num_microbatches * r.plan.par.dp, r.row.global_batch);
    if (r.row.pp > 1) {
      EXPECT_EQ(r.plan.par.schedule, Schedule::Interleaved) << r.row.label;
    }
  }
}

}  // namespace
}  // namespace nest
