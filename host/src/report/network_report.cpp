#include "nest/report/network_report.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/cost/placement.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/hardware/group_embedding.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/text.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

namespace {

// The groups of `dims` on the plan's physical GPUs; for {PP} every boundary's pairs, which send at
// once in the steady state (the wrap only under interleaving).
std::vector<std::vector<std::int64_t>> physical_groups(const Plan& plan, GroupKind kind, const std::vector<std::int64_t>& gpu) {
  if (kind != GroupKind::PP) return rank_groups(plan.par, plan.order, kind, gpu);
  std::vector<std::vector<std::int64_t>> groups;
  const auto boundaries = pipeline_pairs(plan.par, plan.order, gpu);
  const std::size_t used =
      plan.par.schedule == Schedule::Interleaved || boundaries.empty() ? boundaries.size() : boundaries.size() - 1;
  for (std::size_t b = 0; b < used; ++b) groups.insert(groups.end(), boundaries[b].begin(), boundaries[b].end());
  return groups;
}

// The link `groups` load most, all at once; false for groups the level formulas cannot price
// (not uniform on the graph), which have no link to name.
bool busiest_link(const Topology& topo, const std::vector<std::vector<std::int64_t>>& groups, LinkLoad& out) {
  std::vector<GroupEmbedding> e;
  try {
    e = embed_groups(topo, groups, {"placement"});
  } catch (const Error&) {
    return false;
  }
  for (const GroupEmbedding& g : e)
    for (std::size_t l = 1; l < g.congestion.size(); ++l)
      if (g.busiest[l].link >= 0 && g.congestion[l] > out.congestion) out = link_load(topo, g.busiest[l]);
  return true;
}

}  // namespace

NetworkExplanation explain_network(const Problem& problem, const Plan& plan, const Prediction& pr,
                                   const std::vector<std::int64_t>* gpu_of_rank) {
  NetworkExplanation n;
  n.step_time_s = pr.step_time;
  const Parallelism& par = plan.par;
  const Cluster& cluster = problem.cluster;
  const Placement& pl = pr.placement;
  const LayerGraph graph = build_layer_graph(problem.model, par.pp > 1);
  const SliceCosts sc = build_slice_costs(problem, graph, par, pl);
  // Bytes per GPU: every layer's collectives once per microbatch, the model's layers shared by
  // the pp stages (an average over them); the gradient reduction and parameter gather once per
  // step, or per microbatch where the parameters are sharded.
  double tp = 0, cp = 0, ep = 0, dp = 0, send = 0;
  for (const kernels::LayerCostDetail& d : sc.layers) {
    tp += d.tp_bytes_fwd + d.tp_bytes_bwd;
    cp += d.cp_bytes_fwd + d.cp_bytes_bwd;
    ep += d.ep_bytes_fwd + d.ep_bytes_bwd;
    // Once per step; under ZeRO-3 / FSDP per microbatch instead (gathers each pass, reduces each backward).
    dp += d.cost.dp_reduce_bytes + d.cost.edp_reduce_bytes + d.cost.dp_gather_bytes + d.cost.edp_gather_bytes +
          (d.dp_bytes_fwd + d.dp_bytes_bwd) * par.num_microbatches;
    send = std::max(send, d.cost.send_bytes);
  }
  const double m = par.num_microbatches, stages = par.pp;
  const double v = par.schedule == Schedule::Interleaved ? par.virtual_stages : 1;
  auto add = [&](const char* name, long size, const kernels::GroupShape& g, double bytes, double exposed) {
    if (size <= 1) return;
    NetworkGroupCost c;
    c.group = name;
    c.size = size;
    c.level = spanned_level(cluster, g);
    c.bytes_per_gpu = bytes;
    c.exposed_s = exposed;
    n.groups.push_back(c);
  };
  add("TP", par.tp, pl.tp, tp * m / stages, pr.breakdown.tp);
  add("CP", par.cp, pl.cp, cp * m / stages, pr.breakdown.cp);
  add("EP", par.ep, pl.ep, ep * m / stages, pr.breakdown.ep);
  add("DP", par.dp, pl.dp, dp / stages, pr.breakdown.dp);
  // Each stage but the last sends its activations forward and each but the first its gradients
  // back, once per microbatch and model chunk.
  add("PP", par.pp, pl.pp, 2 * send * m * v * (stages - 1) / stages, pr.breakdown.pp);
  if (const auto& topo = cluster.topology; topo && !topo->spec().is_torus) {
    const std::vector<std::int64_t> gpu = gpu_of_rank ? *gpu_of_rank : topo->job_gpus(par.gpus());
    const std::map<std::string, GroupKind> kinds = {
        {"TP", GroupKind::TP}, {"CP", GroupKind::CP}, {"EP", GroupKind::EP}, {"DP", GroupKind::DP}, {"PP", GroupKind::PP}};
    std::vector<std::vector<std::int64_t>> all;
    for (NetworkGroupCost& g : n.groups) {
      const auto groups = physical_groups(plan, kinds.at(g.group), gpu);
      if (busiest_link(*topo, groups, g.busiest))
        all.insert(all.end(), groups.begin(), groups.end());
      else
        g.uneven = true;
    }
    if (!all.empty()) (void)busiest_link(*topo, all, n.busiest_all_at_once);
  }
  std::map<std::string, double> by_level;
  for (const NetworkGroupCost& g : n.groups) by_level[g.level] += g.exposed_s;
  double busiest = 0;
  for (const auto& [level, t] : by_level)
    if (t > busiest) {
      busiest = t;
      n.busiest_level = level;
    }
  for (std::size_t l = 0; l < cluster.levels.size(); ++l) {
    Problem faster = problem;
    NetworkLevel& lv = faster.cluster.levels[l];
    lv.bandwidth *= 2;
    lv.p2p_bandwidth *= 2;
    lv.nvls_bandwidth *= 2;
    lv.alltoall_bandwidth *= 2;
    n.twice_as_fast.push_back({lv.name, evaluate_plan(faster, plan, pl.from_rank_map ? &pl : nullptr).step_time});
  }
  return n;
}

std::string network_text(const NetworkExplanation& n) {
  std::ostringstream o;
  o << "network (per step; bytes per GPU averaged over the pipeline stages):\n";
  if (n.groups.empty()) o << "  no group communicates (one GPU per replica and no data parallelism)\n";
  for (const NetworkGroupCost& g : n.groups) {
    o << format_text("  %-3s %6ld GPUs  across %-10s %10.3g GB  waited for %s\n", g.group.c_str(), g.size, g.level.c_str(),
                     g.bytes_per_gpu / 1e9, format_duration(g.exposed_s).c_str());
    if (!g.busiest.link.empty()) o << "      busiest link " << link_load_text(g.busiest) << "\n";
    if (g.uneven) o << "      uneven across the graph's domains: priced by the busiest one, links not traced\n";
  }
  o << "  busiest level: " << (n.busiest_level.empty() ? std::string("none (every collective is hidden)") : n.busiest_level)
    << "\n";
  if (!n.busiest_all_at_once.link.empty())
    o << "  every group at once: busiest link " << link_load_text(n.busiest_all_at_once) << "\n";
  for (const LevelSpeedup& s : n.twice_as_fast) {
    const double gain = n.step_time_s - s.step_time_s;
    o << format_text("  %-10s twice as fast: step %s (%+.1f%%)\n", s.level.c_str(), format_duration(s.step_time_s).c_str(),
                     n.step_time_s > 0 ? -100 * gain / n.step_time_s : 0.0);
  }
  return o.str();
}

Json network_json(const NetworkExplanation& n) {
  Json groups = Json::array();
  for (const NetworkGroupCost& g : n.groups) {
    Json row{
        {"group", g.group}, {"size", g.size}, {"level", g.level}, {"bytes_per_gpu", g.bytes_per_gpu}, {"exposed_s", g.exposed_s}};
    if (!g.busiest.link.empty()) row["busiest_link"] = link_load_json(g.busiest);
    if (g.uneven) row["uneven"] = true;
    groups.push_back(row);
  }
  Json faster = Json::array();
  for (const LevelSpeedup& s : n.twice_as_fast) faster.push_back(Json{{"level", s.level}, {"step_time_s", s.step_time_s}});
  Json out{
      {"step_time_s", n.step_time_s}, {"groups", groups}, {"busiest_level", n.busiest_level}, {"level_twice_as_fast", faster}};
  if (!n.busiest_all_at_once.link.empty()) out["busiest_link_all_groups"] = link_load_json(n.busiest_all_at_once);
  return out;
}

PlacementComparison compare_rank_orders(const Problem& problem, const Plan& plan, const Prediction& pr) {
  PlacementComparison c;
  c.plan_order = plan.order.str();
  c.plan_step_time = pr.step_time;
  std::vector<Placement> seen;  // the search's own test of one placement (same_placement)
  for (const RankOrder& order : all_rank_orders()) {
    Plan other = plan;
    other.order = order;
    const Prediction p = evaluate_plan(problem, other);
    if (!p.feasible) {
      ++c.infeasible;
      continue;
    }
    if (std::any_of(seen.begin(), seen.end(), [&](const Placement& x) { return same_placement(x, p.placement); })) continue;
    seen.push_back(p.placement);
    c.orders.push_back({order.str(), p.step_time});
  }
  std::stable_sort(c.orders.begin(), c.orders.end(),
                   [](const OrderCost& a, const OrderCost& b) { return a.step_time < b.step_time; });
  return c;
}

std::string placement_text(const PlacementComparison& c) {
  std::ostringstream t;
  t << "placement  this plan's rank order " << c.plan_order << ": " << format_duration(c.plan_step_time) << "\n";
  if (c.orders.empty()) {
    t << "           no rank order the framework runs fits\n";
    return t.str();
  }
  char buf[200];
  const OrderCost& best = c.orders.front();
  const OrderCost& worst = c.orders.back();
  std::snprintf(buf, sizeof buf, "           best %s: %s (%+.1f%% against this plan); worst %s: %s (%+.1f%%)\n",
                best.order.c_str(), format_duration(best.step_time).c_str(), 100 * (best.step_time / c.plan_step_time - 1),
                worst.order.c_str(), format_duration(worst.step_time).c_str(), 100 * (worst.step_time / c.plan_step_time - 1));
  t << buf << "           " << c.orders.size()
    << (c.orders.size() == 1 ? " distinct placement fits" : " distinct placements fit");
  if (c.infeasible > 0) t << "; " << c.infeasible << " rank orders refused or out of memory";
  t << "\n";
  return t.str();
}

Json placement_json(const PlacementComparison& c) {
  Json orders = Json::array();
  for (const OrderCost& o : c.orders) orders.push_back(Json{{"order", o.order}, {"step_time_s", o.step_time}});
  Json j{{"plan_order", c.plan_order},
         {"plan_step_time_s", c.plan_step_time},
         {"orders", orders},
         {"infeasible_orders", c.infeasible}};
  if (!c.orders.empty()) j["best_change"] = c.orders.front().step_time / c.plan_step_time - 1;
  return j;
}

}  // namespace nest
