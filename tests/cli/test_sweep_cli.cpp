// nest sweep: one row per point in the axes' order, each the plan `nest plan` finds there, the
// Pareto front marked and drawn, bad axes refused before anything runs.
#include <gtest/gtest.h>

#include <sstream>

#include "nest/io/json.hpp"
#include "support/markup_check.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

using test::run_nest;

const std::string kBase = "--model llama3-8b --cluster dgx-h100 --global-batch 64 --seq-len 4096";

std::vector<std::vector<std::string>> read_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(SweepCli, EveryPointIsThePlanOfThatPoint) {
  const std::string svg = test::temp_dir() + "/front.svg";
  const auto r = run_nest("sweep " + kBase + " --vary gpus=8,16 --vary seq_len=2048,8192 --svg '" + svg + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 5u) << r.out;
  const auto& h = rows[0];
  EXPECT_EQ(h[0], "gpus");
  EXPECT_EQ(h[1], "seq_len");
  // The axes' order: the last axis varies fastest.
  const std::vector<std::pair<std::string, std::string>> want = {{"8", "2048"}, {"8", "8192"}, {"16", "2048"}, {"16", "8192"}};
  int on_front = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), h.size());
    EXPECT_EQ(row[0], want[i].first);
    EXPECT_EQ(row[1], want[i].second);
    EXPECT_EQ(row[column(h, "status")], "ok");
    on_front += row[column(h, "pareto")] == "yes" ? 1 : 0;
  }
  EXPECT_GE(on_front, 1);
  // Point (16, 8192) is what `nest plan` finds there.
  const auto p = run_nest("plan --model llama3-8b --cluster dgx-h100 --global-batch 64 --seq-len 8192 --gpus 16 --json");
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const Json j = parse_json(p.out, "plan");
  EXPECT_NEAR(std::stod(rows[4][column(h, "step_time_s")]) / j["prediction"]["step_time_s"].get<double>(), 1.0, 1e-8);
  EXPECT_EQ(rows[4][column(h, "tp")], std::to_string(j["parallelism"]["tp"].get<int>()));
  const std::string text = read_text_file(svg);
  EXPECT_TRUE(test::xml_problems(text).empty()) << test::xml_problems(text).front();
}

TEST(SweepCli, AFasterNetworkIsNeverSlowerAndPriceGivesCost) {
  const auto r = run_nest("sweep " + kBase + " --gpus 64 --vary levels.1.bandwidth_GBps=12.5,50,200 --gpu-hour-price 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = read_csv(r.out);
  ASSERT_EQ(rows.size(), 4u);
  const auto& h = rows[0];
  double last = 1e300;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const double t = std::stod(rows[i][column(h, "step_time_s")]);
    EXPECT_LE(t, last * (1 + 1e-12)) << rows[i][0];
    last = t;
    // USD per million tokens = price x GPUs / 3600 / tokens per second x 1e6
    const double tokens = std::stod(rows[i][column(h, "tokens_per_s")]);
    EXPECT_NEAR(std::stod(rows[i][column(h, "cost_per_mtok_usd")]), 2.0 * 64 / 3600 / tokens * 1e6, 1e-9);
  }
}

TEST(SweepCli, BadAxesAreOneLineBeforeAnythingRuns) {
  for (const char* vary : {"--vary foo=1", "--vary gpus=8,x", "--vary gpus", "--vary gpus=8 --vary gpus=16",
                           "--vary levels.9.size=2", "--vary levels.1.speed=2", "--vary gpu=nope", "--vary precision=fp3"}) {
    const auto r = run_nest("sweep " + kBase + " --gpus 8 " + vary);
    EXPECT_EQ(r.exit_code, 2) << vary << ": " << r.out;
    EXPECT_EQ(test::count_lines(r.err), 1) << vary << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << vary;
  }
}

}  // namespace
}  // namespace nest
