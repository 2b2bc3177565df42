#include "nest/report/explain.hpp"

#include <cstdio>

#include "nest/core/units.hpp"
#include "nest/cost/placement.hpp"
#include "nest/io/text.hpp"
#include "nest/report/plan_report.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

namespace {

using Keep = std::function<bool(const Parallelism&, const RankOrder&, const Placement&)>;

struct Dimension {
  std::string name;
  std::function<std::string(const Parallelism&, const RankOrder&)> value;
  bool same_degrees_only = false;  // the rank order: other placements of the same degrees
};

std::string on_off(bool b) { return b ? "on" : "off"; }

std::vector<Dimension> dimensions() {
  auto i = [](auto get) { return [get](const Parallelism& p, const RankOrder&) { return std::to_string(get(p)); }; };
  return {
      {"tp", i([](const Parallelism& p) { return p.tp; })},
      {"pp", i([](const Parallelism& p) { return p.pp; })},
      {"cp", i([](const Parallelism& p) { return p.cp; })},
      {"ep", i([](const Parallelism& p) { return p.ep; })},
      {"etp", i([](const Parallelism& p) { return p.expert_tp(); })},
      {"dp", i([](const Parallelism& p) { return p.dp; })},
      {"dp-shard", i([](const Parallelism& p) { return p.dp_shard; })},
      {"microbatch", i([](const Parallelism& p) { return p.microbatch; })},
      {"zero", i([](const Parallelism& p) { return p.zero; })},
      {"recompute",
       [](const Parallelism& p, const RankOrder&) {
         return std::string(to_string(p.recompute)) +
                (p.recompute == Recompute::Selective ? " " + recompute_modules_text(p.recompute_modules) : std::string());
       }},
      {"schedule",
       [](const Parallelism& p, const RankOrder&) {
         return p.schedule == Schedule::Interleaved ? "interleaved v=" + std::to_string(p.virtual_stages) : std::string("1f1b");
       }},
      {"sp", [](const Parallelism& p, const RankOrder&) { return on_off(p.sp); }},
      {"precision", [](const Parallelism& p, const RankOrder&) { return std::string(to_string(p.precision)); }},
      {"overlap-grad-reduce", [](const Parallelism& p, const RankOrder&) { return on_off(p.overlap_grad_reduce); }},
      {"overlap-param-gather", [](const Parallelism& p, const RankOrder&) { return on_off(p.overlap_param_gather); }},
      {"tp-comm-overlap", [](const Parallelism& p, const RankOrder&) { return on_off(p.tp_comm_overlap); }},
      {"ep-comm-overlap", [](const Parallelism& p, const RankOrder&) { return on_off(p.ep_comm_overlap); }},
      {"offload-optimizer", [](const Parallelism& p, const RankOrder&) { return on_off(p.offload_optimizer); }},
      {"offload-activations", [](const Parallelism& p, const RankOrder&) { return on_off(p.offload_activations); }},
      {"rank order", [](const Parallelism&, const RankOrder& o) { return o.str(); }, true},
  };
}

}  // namespace

std::vector<DimensionExplanation> explain_plan(const CostSource& source, const PlannerOptions& options, const Plan& winner,
                                               const Prediction& winner_prediction,
                                               const std::function<void(int, int, const std::string&)>& progress) {
  const std::vector<Dimension> dims = dimensions();
  const Placement winner_placement = place_groups(source.cluster(), winner.par, winner.order);
  std::vector<DimensionExplanation> out;
  int k = 0;
  for (const Dimension& d : dims) {
    if (progress) progress(++k, static_cast<int>(dims.size()), d.name);
    DimensionExplanation e;
    e.dimension = d.name;
    e.value = d.value(winner.par, winner.order);
    PlannerOptions o = options;
    o.top_k = 1;
    o.progress = false;
    const std::string mine = e.value;
    const Parallelism w = winner.par;
    if (d.same_degrees_only) {
      o.space.keep = [&, w](const Parallelism& p, const RankOrder&, const Placement& pl) {
        return p.tp == w.tp && p.cp == w.cp && p.pp == w.pp && p.dp == w.dp && p.ep == w.ep && p.etp == w.etp &&
               p.dp_shard == w.dp_shard && !same_placement(pl, winner_placement);
      };
    } else {
      o.space.keep = [&d, mine](const Parallelism& p, const RankOrder& ord, const Placement&) { return d.value(p, ord) != mine; };
    }
    const SearchResult r = search_plans(source, o);
    e.slices = r.stats.slices;
    e.seconds = r.stats.seconds;
    if (!r.top.empty()) {
      e.outcome = DimensionExplanation::Outcome::Loses;
      e.plan = r.top.front().plan;
      e.prediction = source.predict(e.plan);
      e.other_value = d.value(e.plan.par, e.plan.order);
      e.loss = e.prediction.step_time / winner_prediction.step_time - 1;
    } else if (r.stats.slices > 0) {
      e.outcome = DimensionExplanation::Outcome::NothingFits;
      if (r.closest) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "closest: %s %s, stage %d lacks %.2f GiB", d.name.c_str(),
                      d.value(r.closest->plan.par, r.closest->plan.order).c_str(), r.closest->stage,
                      r.closest->overflow_bytes / kGiB);
        e.closest = buf;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::string format_explanation(const std::vector<DimensionExplanation>& dims, const Prediction& winner) {
  std::string o =
      "why each value won: the best plan with that one dimension changed (the exact search again, every other\n"
      "dimension free)\n";
  for (const DimensionExplanation& e : dims) {
    std::string head = "  " + e.dimension + " " + e.value;
    if (head.size() < 34) head += std::string(34 - head.size(), ' ');
    o += head + " ";
    switch (e.outcome) {
      case DimensionExplanation::Outcome::Loses: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%+.2f%%", 100 * e.loss);
        o += e.dimension + " " + e.other_value + ": " + format_duration(e.prediction.step_time) + " (" + buf +
             "): " + explain_difference(winner, e.prediction);
        if (e.dimension == "rank order" || e.dimension == "dp" || e.dimension == "pp" || e.dimension == "tp")
          o += "  [" + describe_parallelism(e.plan.par) + "]";
        break;
      }
      case DimensionExplanation::Outcome::NothingFits:
        o += "nothing else fits in memory" + (e.closest.empty() ? std::string() : " (" + e.closest + ")");
        break;
      case DimensionExplanation::Outcome::NoOtherValue:
        o += "no other value in the search space";
        break;
    }
    o += "\n";
  }
  return o;
}

Json explanation_json(const std::vector<DimensionExplanation>& dims) {
  Json arr = Json::array();
  for (const DimensionExplanation& e : dims) {
    Json j{{"dimension", e.dimension}, {"value", e.value}, {"slices", e.slices}, {"seconds", e.seconds}};
    switch (e.outcome) {
      case DimensionExplanation::Outcome::Loses:
        j["outcome"] = "loses";
        j["alternative"] = Json{{"value", e.other_value},
                                {"parallelism", describe_parallelism(e.plan.par)},
                                {"order", e.plan.order.str()},
                                {"layers_per_stage", e.plan.blocks_per_stage},
                                {"step_time_s", e.prediction.step_time},
                                {"loss", e.loss}};
        break;
      case DimensionExplanation::Outcome::NothingFits:
        j["outcome"] = "nothing_fits";
        if (!e.closest.empty()) j["closest"] = e.closest;
        break;
      case DimensionExplanation::Outcome::NoOtherValue:
        j["outcome"] = "no_other_value";
        break;
    }
    arr.push_back(j);
  }
  return arr;
}

}  // namespace nest
