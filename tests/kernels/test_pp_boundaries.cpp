// The level each pipeline boundary crosses (pp_boundaries.hpp) against brute force: every rank
// of the sending stage paired with its partner, on random layouts with non-power-of-two sizes,
// partly filled top domains and unbounded top levels.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "nest/kernels/pp_boundaries.hpp"

namespace nest::kernels {
namespace {

// Lowest level whose domain holds both ranks of every pair of the boundary, by enumeration.
int brute_force_level(const PipelineLayout& x, int b) {
  const long long s = x.stride, p = x.stages;
  int worst = 0;
  for (long long r = 0; r < x.gpus; ++r) {
    const long long stage = (r / s) % p;
    long long partner = -1;
    if (b < p - 1 && stage == b) partner = r + s;
    if (b == p - 1 && stage == p - 1) partner = r - (p - 1) * s;  // the wrap: back to stage 0
    if (partner < 0) continue;
    int level = 0;
    while (r / x.domain[level] != partner / x.domain[level]) ++level;
    worst = std::max(worst, level);
  }
  return worst;
}

// Cumulative domains as Cluster::domain_sizes builds them: capped at the job, levels above it
// dropped, a size of 0 holding everything.
PipelineLayout layout_of(int stages, long long stride, long long outer, const std::vector<long long>& sizes) {
  PipelineLayout x;
  x.stages = stages;
  x.stride = stride;
  x.gpus = stride * stages * outer;
  long long below = 1;
  for (long long size : sizes) {
    if (size == 0 || below * size >= x.gpus) {
      x.domain[x.num_levels++] = x.gpus;
      return x;
    }
    below *= size;
    x.domain[x.num_levels++] = below;
  }
  x.num_levels = 0;  // the cluster is too small for the job
  return x;
}

TEST(PpBoundaries, TheIssueExample) {
  // 16 GPUs, 8 per node, tp 4 then pp 4: stages 0,1 in node 0, stages 2,3 in node 1.
  const PipelineLayout x = layout_of(4, 4, 1, {8, 32, 0});
  EXPECT_EQ(pp_boundary_level(x, 0), 0);
  EXPECT_EQ(pp_boundary_level(x, 1), 1);
  EXPECT_EQ(pp_boundary_level(x, 2), 0);
  EXPECT_EQ(pp_boundary_level(x, 3), 1);  // the wrap, stage 3 back to stage 0
  // tp 8: every stage fills a node, every boundary leaves it.
  const PipelineLayout y = layout_of(4, 8, 1, {8, 32, 0});
  for (int b = 0; b < 4; ++b) EXPECT_EQ(pp_boundary_level(y, b), 1) << b;
  // pp innermost: the four stages share a node, the wrap too.
  const PipelineLayout z = layout_of(4, 1, 4, {8, 32, 0});
  for (int b = 0; b < 4; ++b) EXPECT_EQ(pp_boundary_level(z, b), 0) << b;
  EXPECT_EQ(pp_boundary_level(layout_of(1, 4, 4, {8, 0}), 0), -1);  // no pipeline
}

TEST(PpBoundaries, PartlyFilledDomains) {
  // 12 GPUs in nodes of 8 (the second node half used), pp stride 3: ranks 0-2 | 3-5 | 6-8 | 9-11.
  const PipelineLayout x = layout_of(4, 3, 1, {8, 0});
  EXPECT_EQ(pp_boundary_level(x, 0), 0);
  EXPECT_EQ(pp_boundary_level(x, 1), 1);  // 5 -> 8 leaves node 0
  EXPECT_EQ(pp_boundary_level(x, 2), 1);  // 6, 7 -> 9, 10 leave node 0
  EXPECT_EQ(pp_boundary_level(x, 3), 1);
}

TEST(PpBoundaries, EqualsBruteForceOnRandomLayouts) {
  std::mt19937 rng(31337);
  auto draw = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int mixed = 0, partial = 0;
  for (int t = 0; t < 20000; ++t) {
    const int stages = draw(1, 9);
    const long long stride = draw(1, 7), outer = draw(1, 7);
    std::vector<long long> sizes;
    const int n = draw(1, 4);
    for (int l = 0; l + 1 < n; ++l) sizes.push_back(draw(1, 9));
    sizes.push_back(draw(0, 1) ? 0 : draw(2, 400));  // an unbounded top level or a large one
    const PipelineLayout x = layout_of(stages, stride, outer, sizes);
    if (x.num_levels == 0) continue;
    bool seen[kMaxLevels] = {};
    int distinct = 0;
    for (int b = 0; b < stages; ++b) {
      const int level = pp_boundary_level(x, b);
      if (stages == 1) {
        EXPECT_EQ(level, -1);
        continue;
      }
      ASSERT_EQ(level, brute_force_level(x, b))
          << "stages " << stages << " stride " << stride << " outer " << outer << " boundary " << b;
      if (b < stages - 1 && !seen[level]) {
        seen[level] = true;
        ++distinct;
      }
    }
    mixed += distinct > 1;
    for (int l = 0; l + 1 < x.num_levels; ++l) partial += x.gpus % x.domain[l] != 0;
  }
  // The random layouts do exercise what the closed form has to get right.
  EXPECT_GT(mixed, 1000);
  EXPECT_GT(partial, 1000);
}

}  // namespace
}  // namespace nest::kernels
