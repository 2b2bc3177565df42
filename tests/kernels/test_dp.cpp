// Hand-made cases for the DP kernels, where the answer is known by inspection.
#include <gtest/gtest.h>

#include <vector>

#include "nest/kernels/dp/general.hpp"
#include "nest/kernels/dp/interleaved.hpp"

namespace nest::kernels::dp {
namespace {

// Nodes [e, x, y, h] with times 0, 10, 10, 0 and a cut before y that costs 5 per side.
// {e}|{x y h}: stage times 0 and 20 (B 20, S 20); {e x}|{y h}: 15 and 15 (B 15, S 30).
// With few microbatches (c = m - 1 small) the larger bottleneck wins through the smaller sum,
// so the search may not stop at the smallest feasible B.
struct Case {
  std::vector<double> base, tail, mem, act, send;
  std::vector<int> inflight{2, 1};
  std::vector<int> boundary_level{0};  // the one boundary crosses level 0: send is its row
  GeneralSlice s;
  Case(double c) {
    const int N = 4, W = N + 1;
    const double t[4] = {0, 10, 10, 0};
    base.assign(W * W, 0);
    tail.assign(W * W, 0);
    mem.assign(W * W, 0);
    act.assign(W * W, 0);
    send = {0, 0, 5, 0, 0};
    for (int a = 0; a < N; ++a) {
      double sum = 0;
      for (int j = a + 1; j <= N; ++j) {
        sum += t[j - 1];
        base[a * W + j] = sum;
      }
    }
    s.p = 2;
    s.N = N;
    s.c = c;
    s.base_time = base.data();
    s.tail = tail.data();
    s.static_mem = mem.data();
    s.act = act.data();
    s.send = send.data();
    s.boundary_level = boundary_level.data();
    s.inflight = inflight.data();
    s.capacity = 1;
  }
};

TEST(GeneralDp, LargerBottleneckCanWinThroughASmallerSum) {
  for (double c : {0.0, 1.0}) {
    Case k(c);
    const double Bc[] = {15, 20}, Rc[] = {0};
    std::vector<double> f(2 * 5);
    std::vector<int> arg(2 * 5);
    const GeneralSolution sol = solve_general(k.s, Bc, 2, Rc, 1, /*s_lb=*/20, 1e300, f.data(), arg.data());
    ASSERT_TRUE(sol.feasible);
    EXPECT_DOUBLE_EQ(sol.B, 20) << "c=" << c;
    EXPECT_DOUBLE_EQ(sol.objective, 20 + c * 20) << "c=" << c;
    general_dp(k.s, sol.B, sol.R, f.data(), arg.data(), nullptr);
    int starts[2];
    general_split(k.s, arg.data(), starts);
    EXPECT_EQ(starts[0], 0);
    EXPECT_EQ(starts[1], 1);
  }
  // With many microbatches the balanced split wins: 30 + 7*15 < 20 + 7*20.
  Case k(7.0);
  const double Bc[] = {15, 20}, Rc[] = {0};
  std::vector<double> f(10);
  std::vector<int> arg(10);
  const GeneralSolution sol = solve_general(k.s, Bc, 2, Rc, 1, 20, 1e300, f.data(), arg.data());
  EXPECT_DOUBLE_EQ(sol.B, 15);
  EXPECT_DOUBLE_EQ(sol.objective, 30 + 7 * 15);
}

// The interleaved DP: 2 stages, 3 units per round. Splitting the units 1 | 2 gives stage times
// 10 and 10 (B 10, S 20), 2 | 1 gives 11 and 1 (B 11, S 12). With v = 2 and m = 2 (c = 1.5) the
// objective S/v + c B is 25 against 22.5: the larger bottleneck wins through the smaller sum.
// With m = 8 (c = 7.5) the balanced split wins: 10 + 75 < 6 + 82.5.
TEST(InterleavedDp, LargerBottleneckCanWinThroughASmallerSum) {
  for (const int m : {2, 8}) {
    InterleavedSlice x;
    x.p = 2;
    x.K = 3;
    x.v = 2;
    x.c = m - 1.0 / x.v;
    const std::size_t n = static_cast<std::size_t>(islots(x));
    std::vector<double> time(n, 0), tail(n, 0);
    std::vector<int> fits(n, 1);
    time[static_cast<std::size_t>(islot(x, 0, 0, 1))] = 10;
    time[static_cast<std::size_t>(islot(x, 1, 1, 2))] = 10;
    time[static_cast<std::size_t>(islot(x, 0, 0, 2))] = 11;
    time[static_cast<std::size_t>(islot(x, 1, 2, 1))] = 1;
    x.time = time.data();
    x.tail = tail.data();
    x.fits = fits.data();
    const double Bc[] = {1, 10, 11}, Rc[] = {0};
    std::vector<double> f(12), g(12);  // (p + 1) (K + 1)
    std::vector<int> arg(12);
    int units[2] = {0, 0};
    const double s_lb = interleaved_least_sum(x, kInfinity, kInfinity, f.data(), arg.data(), nullptr);
    EXPECT_DOUBLE_EQ(s_lb, 12);
    const InterleavedSolution sol = solve_interleaved(x, Bc, 3, Rc, 1, s_lb, kInfinity, f.data(), g.data(), arg.data(), units);
    ASSERT_TRUE(sol.feasible);
    if (m == 2) {
      EXPECT_DOUBLE_EQ(sol.objective, 12 / 2.0 + 1.5 * 11);
      EXPECT_EQ(units[0], 2);
      EXPECT_EQ(units[1], 1);
    } else {
      EXPECT_DOUBLE_EQ(sol.objective, 20 / 2.0 + 7.5 * 10);
      EXPECT_EQ(units[0], 1);
      EXPECT_EQ(units[1], 2);
    }
    // A memory cap that rules the balanced stage out leaves the other split.
    fits[static_cast<std::size_t>(islot(x, 1, 1, 2))] = 0;
    const InterleavedSolution capped = solve_interleaved(x, Bc, 3, Rc, 1, s_lb, kInfinity, f.data(), g.data(), arg.data(), units);
    ASSERT_TRUE(capped.feasible);
    EXPECT_EQ(units[0], 2);
  }
}

}  // namespace
}  // namespace nest::kernels::dp
