#include "nest/report/plan_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "nest/core/units.hpp"
#include "nest/io/text.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

std::vector<std::pair<const char*, double>> breakdown_parts(const Breakdown& b) {
  return {{"compute", b.compute},  {"pipeline bubble", b.bubble}, {"TP communication", b.tp},   {"CP communication", b.cp},
          {"EP all-to-all", b.ep}, {"pipeline sends", b.pp},      {"data-parallel sync", b.dp}, {"optimizer step", b.optimizer}};
}

std::vector<std::pair<const char*, double>> memory_parts(const MemoryBreakdown& m) {
  return {{"parameters", m.params},       {"gradients", m.grads},         {"optimizer state", m.optimizer},
          {"activations", m.activations}, {"working set", m.working_set}, {"other", m.other}};
}

std::string explain_difference(const Prediction& a, const Prediction& b) {
  const auto pa = breakdown_parts(a.breakdown), pb = breakdown_parts(b.breakdown);
  std::vector<std::pair<double, const char*>> deltas;
  for (std::size_t i = 0; i < pa.size(); ++i) deltas.emplace_back(pb[i].second - pa[i].second, pa[i].first);
  std::sort(deltas.begin(), deltas.end(), [](auto& x, auto& y) { return std::fabs(x.first) > std::fabs(y.first); });
  std::string out;
  int said = 0;
  for (const auto& [d, name] : deltas) {
    if (said == 3 || std::fabs(d) < 1e-3 * a.step_time) break;
    out += std::string(said ? ", " : "") + (d > 0 ? "+" : "-") + format_duration(std::fabs(d)) + " " + name;
    ++said;
  }
  if (out.empty()) out = "the same breakdown within 0.1%";
  return out;
}

std::string explain_bottleneck(const Prediction& p, double capacity) {
  const auto pa = breakdown_parts(p.breakdown);
  const auto it = std::max_element(pa.begin(), pa.end(), [](auto& x, auto& y) { return x.second < y.second; });
  double fullest = 0;
  int stage = 0;
  for (const StageReport& s : p.stages)
    if (s.memory.total() > fullest) {
      fullest = s.memory.total();
      stage = s.index;
    }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%s takes %.0f%% of the step (stage %d sets the pace); the fullest GPU (stage %d) uses %.1f of %.1f GiB",
                it->first, 100 * it->second / p.step_time, p.bottleneck_stage, stage, fullest / kGiB, capacity / kGiB);
  return buf;
}

Json search_stats_json(const SearchStats& s) {
  Json j{{"backend", s.backend}, {"method", s.method}, {"slices", s.slices},   {"slices_solved", s.slices_solved},
         {"cells", s.cells},     {"splits", s.splits}, {"seconds", s.seconds}, {"threads", s.threads}};
  if (!s.backend_note.empty()) j["backend_note"] = s.backend_note;
  if (!s.device.empty()) {
    j["device"] = s.device;
    j["gpu_seconds"] = s.gpu_seconds;
  }
  return j;
}

}  // namespace nest
