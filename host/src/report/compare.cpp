#include "nest/report/compare.hpp"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <tuple>

#include "nest/io/text.hpp"
#include "nest/core/units.hpp"
#include "nest/framework/framework.hpp"
#include "nest/report/plan_report.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

namespace {

std::string signed_duration(double d) {
  std::string s = d >= 0 ? "+" : "-";
  return s += format_duration(std::fabs(d));
}
std::string gib(double b) { return format_text("%.2f GiB", b / kGiB); }
std::string signed_gib(double b) { return format_text("%+.2f GiB", b / kGiB); }

std::string list(const std::vector<int>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

const StageReport* fullest(const Prediction& p) {
  const StageReport* best = nullptr;
  for (const StageReport& s : p.stages)
    if (!best || s.memory.total() > best->memory.total()) best = &s;
  return best;
}

}  // namespace

std::vector<std::tuple<std::string, std::string, std::string>> plan_differences(const ComparedPlan& a, const ComparedPlan& b) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  auto add = [&](const std::string& field, const std::string& x, const std::string& y) {
    if (x != y) out.emplace_back(field, x, y);
  };
  const Problem &qa = *a.problem, &qb = *b.problem;
  add("model", qa.model.name, qb.model.name);
  add("cluster", qa.cluster.name, qb.cluster.name);
  add("gpus", std::to_string(qa.gpus), std::to_string(qb.gpus));
  add("global batch", std::to_string(qa.global_batch), std::to_string(qb.global_batch));
  add("sequence length", std::to_string(qa.seq_len), std::to_string(qb.seq_len));
  add("framework", to_string(qa.options.framework), to_string(qb.options.framework));
  const Parallelism &x = a.plan->par, &y = b.plan->par;
  auto n = [](long v) { return std::to_string(v); };
  auto onoff = [](bool v) { return std::string(v ? "on" : "off"); };
  add("tp", n(x.tp), n(y.tp));
  add("pp", n(x.pp), n(y.pp));
  add("dp", n(x.dp), n(y.dp));
  add("dp shard (HSDP)", n(x.dp_shard), n(y.dp_shard));
  add("cp", n(x.cp), n(y.cp));
  add("ep", n(x.ep), n(y.ep));
  if (x.folded() || y.folded()) add("etp", n(x.expert_tp()), n(y.expert_tp()));
  add("sp", onoff(x.sp), onoff(y.sp));
  add("microbatch", n(x.microbatch), n(y.microbatch));
  add("microbatches", n(x.num_microbatches), n(y.num_microbatches));
  add("zero", n(x.zero), n(y.zero));
  add("recompute", to_string(x.recompute), to_string(y.recompute));
  if (x.recompute == Recompute::Selective || y.recompute == Recompute::Selective)
    add("recompute modules", x.recompute == Recompute::Selective ? recompute_modules_text(x.recompute_modules) : std::string("-"),
        y.recompute == Recompute::Selective ? recompute_modules_text(y.recompute_modules) : std::string("-"));
  add("schedule", to_string(x.schedule), to_string(y.schedule));
  add("virtual stages", n(x.virtual_stages), n(y.virtual_stages));
  add("precision", to_string(x.precision), to_string(y.precision));
  add("overlap grad reduce", onoff(x.overlap_grad_reduce), onoff(y.overlap_grad_reduce));
  add("overlap param gather", onoff(x.overlap_param_gather), onoff(y.overlap_param_gather));
  add("tp comm overlap", onoff(x.tp_comm_overlap), onoff(y.tp_comm_overlap));
  add("ep comm overlap", onoff(x.ep_comm_overlap), onoff(y.ep_comm_overlap));
  add("offload optimizer", onoff(x.offload_optimizer), onoff(y.offload_optimizer));
  add("offload activations", onoff(x.offload_activations), onoff(y.offload_activations));
  add("offloading blocks", n(x.offload_layers), n(y.offload_layers));
  add("layers per stage", list(a.plan->blocks_per_stage), list(b.plan->blocks_per_stage));
  add("rank order", a.plan->order.str(), b.plan->order.str());
  return out;
}

std::string format_comparison(const ComparedPlan& a, const ComparedPlan& b) {
  const Prediction &pa = *a.prediction, &pb = *b.prediction;
  std::ostringstream o;
  auto line = [&](const char* tag, const ComparedPlan& c) {
    o << tag << "  " << c.name << ": " << c.problem->model.name << " on " << c.problem->cluster.name << ", " << c.problem->gpus
      << " GPUs\n   " << describe_parallelism(c.plan->par) << "  " << c.plan->order.str() << "\n";
  };
  line("A", a);
  line("B", b);
  const auto diffs = plan_differences(a, b);
  o << "\nwhat differs" << (diffs.empty() ? ": nothing (the same plan)" : " (A -> B)") << "\n";
  for (const auto& [field, x, y] : diffs) {
    std::string f = "  " + field;
    f.resize(std::max<std::size_t>(f.size() + 1, 24), ' ');
    o << f << x << " -> " << y << "\n";
  }
  if (!pa.evaluated || !pb.evaluated) {
    o << "\n" << (pa.evaluated ? "B" : "A") << " cannot be costed: " << (pa.evaluated ? pb : pa).violations.front() << "\n";
    return o.str();
  }
  const double rel = pb.step_time / pa.step_time - 1;
  o << "\nstep time   A " << format_duration(pa.step_time) << "   B " << format_duration(pb.step_time) << "   ("
    << format_text("%+.2f%%", 100 * rel) << ");  MFU " << format_text("%.1f%%", 100 * pa.mfu) << " -> "
    << format_text("%.1f%%", 100 * pb.mfu) << ";  tokens/s " << format_text("%.0f", pa.tokens_per_s) << " -> "
    << format_text("%.0f", pb.tokens_per_s) << "\n";
  o << "\nwhere the time goes (critical path, docs/cost-model.md §8)\n";
  o << "                        A           B           B - A\n";
  const auto ta = breakdown_parts(pa.breakdown), tb = breakdown_parts(pb.breakdown);
  for (std::size_t i = 0; i < ta.size(); ++i) {
    if (ta[i].second == 0 && tb[i].second == 0) continue;
    std::string name = "  " + std::string(ta[i].first);
    name.resize(24, ' ');
    std::string va = format_duration(ta[i].second), vb = format_duration(tb[i].second);
    va.resize(12, ' ');
    vb.resize(12, ' ');
    o << name << va << vb << signed_duration(tb[i].second - ta[i].second) << "\n";
  }
  o << "  pace: A's stage " << pa.bottleneck_stage << " (" << format_duration(pa.stages[pa.bottleneck_stage].time)
    << " per microbatch), B's stage " << pb.bottleneck_stage << " (" << format_duration(pb.stages[pb.bottleneck_stage].time)
    << ")\n";
  const StageReport *fa = fullest(pa), *fb = fullest(pb);
  o << "\nmemory of the fullest GPU          A (stage " << fa->index << ")   B (stage " << fb->index << ")   B - A\n";
  const auto ma = memory_parts(fa->memory), mb = memory_parts(fb->memory);
  for (std::size_t i = 0; i < ma.size(); ++i) {
    std::string name = "  " + std::string(ma[i].first);
    name.resize(35, ' ');
    std::string va = gib(ma[i].second), vb = gib(mb[i].second);
    va.resize(14, ' ');
    vb.resize(14, ' ');
    o << name << va << vb << signed_gib(mb[i].second - ma[i].second) << "\n";
  }
  std::string total = "  total";
  total.resize(35, ' ');
  std::string va = gib(fa->memory.total()), vb = gib(fb->memory.total());
  va.resize(14, ' ');
  vb.resize(14, ' ');
  o << total << va << vb << signed_gib(fb->memory.total() - fa->memory.total()) << "\n";
  o << "  capacity: " << gib(a.problem->cluster.memory_bytes);
  if (b.problem->cluster.memory_bytes != a.problem->cluster.memory_bytes)
    o << " (A), " << gib(b.problem->cluster.memory_bytes) << " (B)";
  o << "\n";
  // One sentence each.
  o << "\nin short   B is " << format_text("%.2f%%", 100 * std::fabs(rel)) << (rel >= 0 ? " slower" : " faster") << " ("
    << explain_difference(pa, pb) << "); its fullest GPU holds " << signed_gib(fb->memory.total() - fa->memory.total());
  double biggest = 0;
  const char* what = nullptr;
  for (std::size_t i = 0; i < ma.size(); ++i)
    if (std::fabs(mb[i].second - ma[i].second) > std::fabs(biggest)) {
      biggest = mb[i].second - ma[i].second;
      what = ma[i].first;
    }
  if (what) o << " (mostly " << what << " " << signed_gib(biggest) << ")";
  o << "\n";
  for (const auto* c : {&a, &b})
    if (!c->prediction->feasible)
      o << "note       " << (c == &a ? "A" : "B") << " does not fit: " << c->prediction->violations.front() << "\n";
  return o.str();
}

Json comparison_json(const ComparedPlan& a, const ComparedPlan& b) {
  auto side = [](const ComparedPlan& c) {
    const Prediction& p = *c.prediction;
    Json j{{"name", c.name},
           {"parallelism", describe_parallelism(c.plan->par)},
           {"order", c.plan->order.str()},
           {"feasible", p.feasible}};
    if (p.evaluated) {
      j["step_time_s"] = p.step_time;
      j["mfu"] = p.mfu;
      j["tokens_per_s"] = p.tokens_per_s;
      Json t;
      for (const auto& [k, v] : breakdown_parts(p.breakdown)) t[k] = v;
      j["breakdown_s"] = t;
      const StageReport* f = fullest(p);
      Json m;
      for (const auto& [k, v] : memory_parts(f->memory)) m[k] = v;
      m["total"] = f->memory.total();
      j["fullest_stage"] = f->index;
      j["fullest_memory_bytes"] = m;
    }
    return j;
  };
  Json j{{"schema", "nest.compare/1"}, {"a", side(a)}, {"b", side(b)}};
  Json d = Json::array();
  for (const auto& [field, x, y] : plan_differences(a, b)) d.push_back(Json{{"field", field}, {"a", x}, {"b", y}});
  j["differences"] = d;
  if (a.prediction->evaluated && b.prediction->evaluated) {
    j["step_time_ratio"] = b.prediction->step_time / a.prediction->step_time;
    Json t;
    const auto ta = breakdown_parts(a.prediction->breakdown), tb = breakdown_parts(b.prediction->breakdown);
    for (std::size_t i = 0; i < ta.size(); ++i) t[ta[i].first] = tb[i].second - ta[i].second;
    j["time_delta_s"] = t;
  }
  return j;
}

}  // namespace nest
