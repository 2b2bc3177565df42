// Prints docs/nest-comparison.md's table: for each of NEST's 13 reference instances, NEST's
// plan and nest's plan, both predicted by nest's evaluator, and nest's solve time (best of 5).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "nest/report/text_report.hpp"
#include "nest/search/nest_input.hpp"
#include "nest/search/planner.hpp"

int main() {
  using namespace nest;
  const std::vector<std::string>& names = bench::nest_reference_instances();
  std::printf(
      "| instance | NEST plan (t, pp, d) | NEST plan, nest's evaluator | nest plan | nest plan, nest's evaluator | nest / NEST | "
      "nest solve (2 threads) |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& name : names) {
    const std::string dir = bench::reference_dir() + name;
    const NestCostSource src(read_nest_input(dir + "/input.json"));
    double nest_own = 0;
    const Plan theirs = read_nest_output(dir + "/output.json", src.instance(), &nest_own);
    const Prediction pt = src.predict(theirs);
    PlannerOptions o;
    o.threads = 2;
    o.space.allow_idle = true;
    double best_s = 1e30;
    SearchResult r;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      r = search_plans(src, o);
      best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const Plan& ours = r.top.front().plan;
    const Prediction po = src.predict(ours);
    std::printf("| %s | t %d, pp %d, d %d | %.3f s%s | t %d, pp %d, dp %d, %s | %.3f s | %.3f | %.1f ms |\n", name.c_str(),
                theirs.par.tp, theirs.par.pp, theirs.par.dp / theirs.par.ep, pt.step_time, pt.feasible ? "" : " (out of memory)",
                ours.par.tp, ours.par.pp, ours.par.dp / ours.par.ep, to_string(ours.par.schedule), po.step_time,
                po.step_time / pt.step_time, best_s * 1e3);
  }
  return 0;
}
