// The GEMM operands the operator profiler measures on: random-like, as training's are, not the
// collectives' repeating small integers (which let tensor cores clock higher).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "nest/profiler/collective_data.hpp"
#include "nest/profiler/operand_data.hpp"

namespace nest::profiler {

TEST(OperandData, UniformInMinusOneToOneAndCentred) {
  constexpr int kN = 1 << 16;
  double sum = 0, sum_sq = 0, lo = 1, hi = -1;
  for (std::uint64_t i = 0; i < kN; ++i) {
    const double v = operand_value(7, i);
    ASSERT_GE(v, -1.0);
    ASSERT_LT(v, 1.0);
    sum += v;
    sum_sq += v * v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // Uniform on [-1, 1): mean 0, variance 1/3; 65,536 samples put the mean within 0.01 and the
  // variance within 0.01 far beyond six standard errors.
  EXPECT_NEAR(sum / kN, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / kN, 1.0 / 3.0, 0.01);
  EXPECT_LT(lo, -0.999);
  EXPECT_GT(hi, 0.999);
}

TEST(OperandData, Bf16OperandsHaveTheEntropyOfRandomData) {
  // The collectives' pattern takes 4 values. Random operands take about a thousand of bf16's
  // values in 4,096 draws (128 mantissas per binade, both signs, the binades below 1/2 ever
  // rarer), and two seeds (the two operands of a GEMM) differ.
  std::set<std::uint16_t> random, pattern;
  int same = 0;
  for (std::uint64_t i = 0; i < 4096; ++i) {
    random.insert(float_to_bf16(operand_value(1, i)));
    pattern.insert(float_to_bf16(input_value(0, 1, i)));
    same += operand_value(1, i) == operand_value(2, i);
  }
  EXPECT_LE(pattern.size(), 4u);
  EXPECT_GT(random.size(), 800u);
  EXPECT_LT(same, 4);
}

TEST(OperandData, TheSameValuesOnEveryCall) {
  for (std::uint64_t i = 0; i < 100; ++i) EXPECT_EQ(operand_value(3, i * 1000003), operand_value(3, i * 1000003));
  EXPECT_NE(operand_value(3, 0), operand_value(4, 0));
}

}  // namespace nest::profiler
