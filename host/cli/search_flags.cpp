#include "search_flags.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/plan/plan.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/report/plan_report.hpp"
#include "nest/report/text_report.hpp"
#include "nest/report/compute_report.hpp"
#include "nest/report/network_report.hpp"
#include "nest/report/explain.hpp"
#include "nest/search/nest_input.hpp"

namespace nest::cli {

void add_search_flags(CLI::App* sub, SearchFlags& f) {
  sub->add_option("--search", f.search, "dp (exact DP, default) | exhaustive (every split through the evaluator)")
      ->check(CLI::IsMember({"dp", "exhaustive"}));
  sub->add_option("--backend", f.backend, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  sub->add_option("--threads", f.threads, "CPU threads (default: all cores)");
  sub->add_option("--gpu-mem-limit", f.gpu_mem_limit_gb,
                  "GB of device memory the CUDA backend may use (default: 80% of the free memory)");
  sub->add_option("--top", f.top, "also list the K best plans");
  sub->add_option("--tp", f.tp, "tensor-parallel degrees to consider, e.g. 1,2,4,8");
  sub->add_option("--pp", f.pp, "pipeline-parallel degrees to consider");
  sub->add_option("--cp", f.cp, "context-parallel degrees to consider");
  sub->add_option("--ep", f.ep, "expert-parallel degrees to consider");
  sub->add_option("--etp", f.etp,
                  "expert tensor-parallel degrees to consider (divisors of tp; Megatron-Core's parallel folding; "
                  "default: tp only; e.g. --etp 1,8 searches folding for MoE models under megatron)");
  sub->add_option("--dp-shard", f.dp_shard, "HSDP shard group sizes to consider (0: shard over the whole dp)");
  sub->add_option("--microbatch", f.microbatch, "microbatch sizes to consider");
  sub->add_option("--zero", f.zero, "ZeRO stages to consider (0,1,2,3)");
  sub->add_option("--recompute", f.recompute, "recomputation modes: none,selective,full");
  sub->add_option("--recompute-modules", f.recompute_modules,
                  "what selective recomputation recomputes, one set "
                  "(core_attn,layernorm,moe_act,mla_up_proj,mlp,moe,shared_experts; Megatron-Core's "
                  "--recompute-modules); default: every set that does something in the model, under megatron and any");
  sub->add_option("--schedule", f.schedule, "pipeline schedules: 1f1b,interleaved");
  sub->add_option("--virtual-stages", f.virtual_stages, "virtual stages to consider for the interleaved schedule");
  sub->add_option("--sp", f.sp, "sequence parallelism: on,off");
  sub->add_option("--order", f.order, "rank orders to consider, comma-separated (default: all)");
  sub->add_flag("--allow-idle", f.allow_idle, "allow plans that leave GPUs unused");
  sub->add_flag("--json", f.json, "print the plan JSON");
  sub->add_flag("-v,--verbose", f.verbose, "say which backend ran and why (e.g. why --backend auto fell back to the CPU)");
  sub->add_option("--out", f.out, "write the plan JSON to this file");
  sub->add_option("--nest-input", f.nest_input, "solve a NEST solver input (its model and cluster) instead of --model/--cluster");
  add_picture_flags(sub, f.pictures);
  sub->add_flag("--explain", f.explain,
                "say for each dimension why its value won: the best plan with it changed (one more exact search per dimension)");
  sub->add_flag("--explain-network", f.explain_network,
                "per communicating group: the level it crosses, bytes and waited time; the busiest level; what each level "
                "twice as fast would buy");
  sub->add_flag("--explain-compute", f.explain_compute,
                "per layer of the best plan, one microbatch's forward and backward taken apart: GEMMs, attention, "
                "memory-bound kernels, the sustained fraction, recomputation and the collectives each pass waits for");
}

namespace {

// What losing one node (one level-0 domain) costs the job: the best plan again with that node's
// GPUs gone. A topology file takes the last node of the job's footprint out (its levels are
// derived again); a hierarchical cluster only shrinks the job, its nodes being interchangeable
// and its top level unbounded.
struct NodeLoss {
  std::int64_t node_gpus = 0, gpus_before = 0, gpus_after = 0;
  std::int64_t node = -1;  // the topology node taken out (-1: hierarchical)
  bool found = false;
  double step_before = 0, step_after = 0, tokens_before = 0, tokens_after = 0;
  std::string plan;
};

// The best plan of a changed problem (a node or a switch out): its step time, throughput and
// parallelism; found false when nothing fits.
struct Replanned {
  bool found = false;
  double step = 0, tokens = 0;
  std::string plan;
};

Replanned replan(const Problem& changed, const PlannerOptions& opts) {
  PlannerOptions o = opts;
  o.top_k = 1;
  o.progress = false;
  const AnalyticCostSource source(changed);
  const SearchResult r = search_plans(source, o);
  Replanned out;
  if (r.top.empty()) return out;
  const Prediction after = source.predict(r.top.front().plan);
  out.found = true;
  out.step = after.step_time;
  out.tokens = after.tokens_per_s;
  out.plan = describe_parallelism(r.top.front().plan.par) + " (" + r.top.front().plan.order.str() + ")";
  return out;
}

NodeLoss node_loss(const PlanningInput& in, const PlannerOptions& opts, const Prediction& pred) {
  NodeLoss l;
  const Problem& p = in.problem;
  // a host of a hierarchy's domain where it states them (an NVL72 rack's tray), else the domain
  const NetworkLevel* domain = p.cluster.levels.empty() ? nullptr : &p.cluster.levels.front();
  l.node_gpus = !domain ? 0 : (domain->host_gpus > 0 && !p.cluster.topology ? domain->host_gpus : domain->size);
  l.gpus_before = p.gpus;
  l.step_before = pred.step_time;
  l.tokens_before = pred.tokens_per_s;
  if (l.node_gpus <= 0 || p.gpus <= l.node_gpus)
    throw_bad_input("--explain-failures", "the job has no node to lose (" + std::to_string(p.gpus) + " GPUs, " +
                                              std::to_string(l.node_gpus) + " per node)");
  Problem shrunk = p;
  shrunk.gpus = p.gpus - l.node_gpus;
  if (p.cluster.max_gpus > 0) {
    const std::optional<TopologySpec> spec = load_topology_spec(in.cluster_spec);
    if (spec && spec->is_torus)
      throw_bad_input("--explain-failures", in.cluster_spec +
                                                " is a torus: a chip out leaves no torus (TPU slices re-form from whole "
                                                "cubes), so there is no node to lose");
    // A topology: the last node of the job's footprint (Topology::job_gpus) is taken out, so
    // the job moves onto the nodes the cluster still offers it (possibly across a switch
    // domain, or onto a whole domain elsewhere) and shrinks by a node if there are none.
    const std::shared_ptr<const Topology>& topo = p.cluster.topology;
    if (!topo) throw_runtime("a cluster with a GPU count of its own has no topology");
    l.node = topo->job_gpus(p.gpus).back() / topo->spec().node_gpus;
    if (!p.profile.empty())
      throw_bad_input("--explain-failures",
                      "with --profile on a topology file: the profile's levels would not follow the node "
                      "taken out; plan with --unavailable-nodes instead");
    shrunk.outages.nodes.push_back(l.node);
    std::sort(shrunk.outages.nodes.begin(), shrunk.outages.nodes.end());
    shrunk.cluster = load_cluster(in.cluster_spec, shrunk.outages);
    // the job keeps its size where the cluster still holds it
    if (shrunk.cluster.max_gpus >= p.gpus) shrunk.gpus = p.gpus;
  }
  l.gpus_after = shrunk.gpus;
  const Replanned r = replan(shrunk, opts);
  l.found = r.found;
  l.step_after = r.step;
  l.tokens_after = r.tokens;
  l.plan = r.plan;
  return l;
}

// What losing one switch of each tier that states its switches costs (a topology file only):
// the tier's first domain, where the job starts, loses one (lost_switch_capacity), the levels are
// derived again and the job planned again; where the switch cut nodes off and the cluster no
// longer holds the job, it shrinks to whole nodes of what is left.
struct SwitchLoss {
  std::string tier;
  std::int64_t switches = 0;
  bool per_rail = false;     // `switches` counts one rail's (rail-optimised tier)
  double capacity_kept = 1;  // of the first domain at that tier (0: cut off, its nodes out)
  std::int64_t gpus_after = 0;
  Replanned after;
};

std::vector<SwitchLoss> switch_losses(const PlanningInput& in, const PlannerOptions& opts) {
  std::vector<SwitchLoss> out;
  const Problem& p = in.problem;
  const std::optional<TopologySpec> spec = load_topology_spec(in.cluster_spec);
  if (!spec || !p.profile.empty() || !p.outages.lost_switch.empty()) return out;
  for (std::size_t t = 0; t < spec->tiers.size(); ++t) {
    const TopologyTier& tier = spec->tiers[t];
    if (tier.switches <= 0) continue;
    SwitchLoss s;
    s.tier = tier.name;
    s.switches = tier.switches;
    s.per_rail = tier.rail_optimized;
    s.capacity_kept = std::max(0.0, lost_switch_capacity(*spec, t));
    Problem changed = p;
    changed.outages.lost_switch = tier.name;
    changed.cluster = load_cluster(in.cluster_spec, changed.outages);
    if (changed.cluster.max_gpus < p.gpus) {
      const std::int64_t node = std::max<std::int64_t>(1, spec->node_gpus);
      changed.gpus = changed.cluster.max_gpus / node * node;
    }
    s.gpus_after = changed.gpus;
    if (changed.gpus > 0) s.after = replan(changed, opts);
    out.push_back(std::move(s));
  }
  return out;
}

Json switch_losses_json(const std::vector<SwitchLoss>& losses, const Prediction& pred) {
  Json a = Json::array();
  for (const SwitchLoss& s : losses) {
    Json j{{"tier", s.tier},
           {"switches", s.switches},
           {"capacity_kept", s.capacity_kept},
           {"gpus_after", s.gpus_after},
           {"feasible", s.after.found}};
    if (s.after.found) {
      j["step_time_s"] = s.after.step;
      j["tokens_per_s"] = s.after.tokens;
      j["step_time_change"] = s.after.step / pred.step_time - 1;
      j["tokens_per_s_change"] = s.after.tokens / pred.tokens_per_s - 1;
      j["parallelism"] = s.after.plan;
    }
    a.push_back(j);
  }
  return a;
}

std::string switch_losses_text(const std::vector<SwitchLoss>& losses, const Prediction& pred) {
  std::ostringstream t;
  for (const SwitchLoss& s : losses) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "           losing one %s switch (1 of %lld%s%s): ", s.tier.c_str(),
                  static_cast<long long>(s.switches), s.per_rail ? " on its rail" : "",
                  s.capacity_kept > 0 ? "" : ", its domain cut off");
    t << buf;
    if (!s.after.found) {
      t << "no plan fits on " << s.gpus_after << " GPUs\n";
      continue;
    }
    std::snprintf(buf, sizeof buf, "%.0f%% of that domain's capacity, %lld GPUs, step %s (%+.1f%%), tokens/s %+.1f%%\n",
                  100 * s.capacity_kept, static_cast<long long>(s.gpus_after), format_duration(s.after.step).c_str(),
                  100 * (s.after.step / pred.step_time - 1), 100 * (s.after.tokens / pred.tokens_per_s - 1));
    t << buf;
  }
  return t.str();
}

Json node_loss_json(const NodeLoss& l) {
  Json j{{"node_gpus", l.node_gpus}, {"gpus_before", l.gpus_before}, {"gpus_after", l.gpus_after}, {"feasible", l.found}};
  if (l.node >= 0) j["node_taken_out"] = l.node;
  if (l.found) {
    j["step_time_s"] = l.step_after;
    j["tokens_per_s"] = l.tokens_after;
    j["step_time_change"] = l.step_after / l.step_before - 1;
    j["tokens_per_s_change"] = l.tokens_after / l.tokens_before - 1;
    j["parallelism"] = l.plan;
  }
  return Json{{"node_lost", j}};
}

std::string node_loss_text(const NodeLoss& l) {
  std::ostringstream t;
  t << "failures   losing one node (" << l.node_gpus << " GPUs";
  if (l.node >= 0) t << ", topology node " << l.node << " taken out";
  t << "): ";
  if (!l.found) {
    t << "no plan fits on " << l.gpus_after << " GPUs\n";
    return t.str();
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld GPUs, step %s (%+.1f%%), tokens/s %+.1f%%", static_cast<long long>(l.gpus_after),
                format_duration(l.step_after).c_str(), 100 * (l.step_after / l.step_before - 1),
                100 * (l.tokens_after / l.tokens_before - 1));
  t << buf << "\n           with " << l.plan << "\n";
  return t.str();
}

Json domain_share_json(const DomainShare& share) {
  Json searched = Json::array();
  const DomainShareOption* chosen = share.chosen();
  for (const DomainShareOption& o : share.options) {
    Json j{{"gpus_per_domain", o.gpus_per_domain}, {"feasible", o.feasible}};
    if (o.feasible) {
      j["step_time_s"] = o.step_time;
      if (chosen) j["step_time_change"] = o.step_time / chosen->step_time - 1;
      j["parallelism"] = o.parallelism;
    }
    searched.push_back(j);
  }
  Json j{{"level", share.level}, {"domain_gpus", share.domain_gpus}, {"host_gpus", share.host_gpus}};
  if (chosen) {
    j["gpus_per_domain"] = share.gpus_per_domain;
    j["domains"] = share.domains;
  }
  j["searched"] = searched;
  return j;
}

// The share chosen and what each other share costs against it (one line, no newline).
std::string domain_share_text(const DomainShare& share) {
  std::ostringstream t;
  const DomainShareOption* chosen = share.chosen();
  std::vector<std::string> others;
  for (const DomainShareOption& o : share.options) {
    if (&o == chosen) continue;
    char buf[96];
    if (!o.feasible)
      std::snprintf(buf, sizeof buf, "%lld per domain: no plan fits", static_cast<long long>(o.gpus_per_domain));
    else
      std::snprintf(buf, sizeof buf, "%lld per domain %+.2f%%", static_cast<long long>(o.gpus_per_domain),
                    100 * (o.step_time / chosen->step_time - 1));
    others.push_back(buf);
  }
  if (!chosen) {
    t << "no share of the " << share.domain_gpus << "-GPU " << share.level << " domains has a plan that fits (searched: ";
  } else {
    t << share.gpus_per_domain << " of the " << share.domain_gpus << " GPUs of each " << share.level << " domain ("
      << share.gpus_per_domain / share.host_gpus << " hosts of " << share.host_gpus << "), " << share.domains
      << " domains (searched: ";
  }
  for (std::size_t i = 0; i < others.size(); ++i) t << (i ? ", " : "") << others[i];
  bool faster = false;  // a smaller share within kDomainShareMinGain, left for fewer domains
  for (const DomainShareOption& o : share.options) faster = faster || (chosen && o.feasible && o.step_time < chosen->step_time);
  if (faster) t << "; a share less than " << 100 * kDomainShareMinGain << "% faster is not worth more domains";
  t << ")";
  return t.str();
}

}  // namespace

PlanningInput make_planning_input(const SearchFlags& f) {
  PlanningInput in;
  if (!f.nest_input.empty()) {
    for (const auto* flag : {&f.problem.model, &f.problem.cluster})
      if (!flag->empty()) throw_bad_input("--nest-input", "describes the model and cluster itself; drop --model and --cluster");
    auto src = std::make_unique<NestCostSource>(read_nest_input(f.nest_input));
    in.problem = src->as_problem();
    in.source = std::move(src);
    in.model_spec = f.nest_input;
    in.cluster_spec = f.nest_input;
    return in;
  }
  in.problem = make_problem(f.problem);
  in.model_spec = f.problem.model;
  in.cluster_spec = f.problem.cluster;
  in.source = std::make_unique<AnalyticCostSource>(in.problem);
  return in;
}

PlannerOptions make_planner_options(const SearchFlags& f) {
  PlannerOptions o;
  o.method = f.search == "exhaustive" ? SearchMethod::Exhaustive : SearchMethod::Dp;
  o.backend = f.backend == "cpu" ? BackendKind::Cpu : (f.backend == "cuda" ? BackendKind::Cuda : BackendKind::Auto);
  if (f.threads < 0) throw_bad_input("--threads", "must not be negative");
  if (f.top < 1) throw_bad_input("--top", "must be at least 1");
  o.threads = f.threads;
  o.top_k = f.top;
  if (!(f.gpu_mem_limit_gb >= 0) || !std::isfinite(f.gpu_mem_limit_gb))
    throw_bad_input("--gpu-mem-limit", "must be a non-negative number of GB");
  o.gpu_memory_limit = f.gpu_mem_limit_gb * kGB;
  SearchOptions& s = o.space;
  if (!f.tp.empty()) s.tp = parse_int_list(f.tp, "--tp", 1);
  if (!f.pp.empty()) s.pp = parse_int_list(f.pp, "--pp", 1);
  if (!f.cp.empty()) s.cp = parse_int_list(f.cp, "--cp", 1);
  if (!f.ep.empty()) s.ep = parse_int_list(f.ep, "--ep", 1);
  if (!f.etp.empty()) s.etp = parse_int_list(f.etp, "--etp", 1);
  if (!f.dp_shard.empty()) s.dp_shard = parse_int_list(f.dp_shard, "--dp-shard", 0);
  if (!f.microbatch.empty()) s.microbatch = parse_int_list(f.microbatch, "--microbatch", 1);
  if (!f.zero.empty()) {
    s.zero = parse_int_list(f.zero, "--zero", 0);
    for (int z : s.zero)
      if (z > 3) throw_bad_input("--zero", "stages are 0, 1, 2, 3");
  }
  if (!f.virtual_stages.empty()) s.virtual_stages = parse_int_list(f.virtual_stages, "--virtual-stages", 2);
  for (const auto& w : split(f.recompute, ',')) s.recompute.push_back(parse_recompute(w, "--recompute"));
  if (!f.recompute_modules.empty()) s.recompute_modules = {parse_recompute_modules(f.recompute_modules, "--recompute-modules")};
  for (const auto& w : split(f.schedule, ',')) s.schedule.push_back(parse_schedule(w, "--schedule"));
  for (const auto& w : split(f.sp, ',')) s.sp.push_back(parse_on_off(w, "--sp"));
  for (const auto& w : split(f.order, ',')) s.orders.push_back(RankOrder::parse(w, "--order"));
  const ProblemFlags& pf = f.problem;
  if (!pf.overlap_grad_reduce.empty()) s.overlap_grad_reduce = parse_on_off_list(pf.overlap_grad_reduce, "--overlap-grad-reduce");
  if (!pf.overlap_param_gather.empty())
    s.overlap_param_gather = parse_on_off_list(pf.overlap_param_gather, "--overlap-param-gather");
  if (!pf.tp_comm_overlap.empty()) s.tp_comm_overlap = parse_on_off_list(pf.tp_comm_overlap, "--tp-comm-overlap");
  if (!pf.ep_comm_overlap.empty()) s.ep_comm_overlap = parse_on_off_list(pf.ep_comm_overlap, "--ep-comm-overlap");
  if (!pf.offload_optimizer.empty()) s.offload_optimizer = parse_on_off_list(pf.offload_optimizer, "--offload-optimizer");
  if (!pf.offload_activations.empty()) s.offload_activations = parse_on_off_list(pf.offload_activations, "--offload-activations");
  // NEST's solver may leave devices idle (e.g. 41 stages x 3 replicas on 128 devices); so
  // does nest on NEST's instances.
  s.allow_idle = f.allow_idle || !f.nest_input.empty();
  o.progress = !f.json;
  return o;
}

namespace {

std::string describe_split(const Parallelism& par) {
  return "tp " + std::to_string(par.tp) + " cp " + std::to_string(par.cp) + " pp " + std::to_string(par.pp) + " dp " +
         std::to_string(par.dp);
}

// Why no slice is consistent, split by split: every tp x cp x pp x dp that uses the GPUs (the
// degrees the options allow, pp up to the blocks) under the least demanding settings the options
// leave (the first microbatch and recomputation asked for, else 1 and none; an offload asked for
// alone; 1F1B; the layers as even as possible; no TP overlap; each precision asked for, each ZeRO
// stage the framework has, sequence parallelism and the data-parallel overlaps on and off, as the
// options allow), checked as a plan is (check_plan); the `k` splits with the fewest violations,
// fewest first, each with its violations.
std::vector<std::pair<Parallelism, std::vector<std::string>>> nearest_splits(const Problem& problem, const CostSource& source,
                                                                             const SearchOptions& o, int k) {
  const auto allowed = [](const std::vector<int>& wanted, int x) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), x) != wanted.end();
  };
  const auto asked = [](const std::vector<bool>& wanted, bool x) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), x) != wanted.end();
  };
  const auto only_on = [](const std::vector<bool>& wanted) {
    return !wanted.empty() && std::find(wanted.begin(), wanted.end(), false) == wanted.end();
  };
  const std::vector<Precision> precisions = o.precision.empty() ? std::vector<Precision>{Precision::Bf16} : o.precision;
  const Framework& fw = framework(problem.options.framework);
  const int L = static_cast<int>(problem.model.layers);
  const std::int64_t n = problem.gpus;
  std::vector<std::pair<Parallelism, std::vector<std::string>>> found;
  std::vector<std::int64_t> divisors;  // of the GPU count: every degree is one
  for (std::int64_t d = 1; d * d <= n; ++d)
    if (n % d == 0) {
      divisors.push_back(d);
      if (d * d != n) divisors.push_back(n / d);
    }
  std::sort(divisors.begin(), divisors.end());
  // cp as the search takes it: the degrees asked for (an invalid one shows what it violates), else
  // the source's default range (CostSource::cp_candidates).
  const std::vector<int> default_cp = source.cp_candidates({});
  for (const std::int64_t tp : divisors)
    for (const std::int64_t cp : divisors)
      for (const std::int64_t pp : divisors) {
        if (pp > L || n % (tp * cp) != 0 || (n / (tp * cp)) % pp != 0 || !allowed(o.tp, static_cast<int>(tp)) ||
            !allowed(o.cp.empty() ? default_cp : o.cp, static_cast<int>(cp)) || !allowed(o.pp, static_cast<int>(pp)))
          continue;
        Plan plan;
        plan.par.tp = static_cast<int>(tp);
        plan.par.cp = static_cast<int>(cp);
        plan.par.pp = static_cast<int>(pp);
        plan.par.dp = static_cast<int>(n / (tp * cp * pp));
        plan.par.microbatch = o.microbatch.empty() ? 1 : o.microbatch.front();
        plan.par.num_microbatches =
            static_cast<int>(std::max<std::int64_t>(1, problem.global_batch / (std::int64_t{plan.par.dp} * plan.par.microbatch)));
        plan.par.recompute = o.recompute.empty() ? Recompute::None : o.recompute.front();
        // An offload asked for alone (on, not on|off) is part of every slice.
        plan.par.offload_optimizer = only_on(o.offload_optimizer);
        plan.par.offload_activations = only_on(o.offload_activations);
        if (!o.orders.empty()) plan.order = o.orders.front();
        plan.blocks_per_stage = even_split(L, plan.par.pp, 1);
        std::vector<std::string> fewest;
        bool first = true;
        for (const Precision precision : precisions)
          for (const int zero : fw.zero_stages())
            for (const bool sp : {false, true})
              for (const bool overlap : {false, true}) {
                if (!allowed(o.zero, zero) || !asked(o.sp, sp) || !asked(o.overlap_grad_reduce, overlap) ||
                    !asked(o.overlap_param_gather, overlap))
                  continue;
                plan.par.precision = precision;
                plan.par.zero = zero;
                plan.par.sp = sp && tp > 1;
                plan.par.overlap_grad_reduce = plan.par.overlap_param_gather = overlap;
                std::vector<std::string> v = check_plan(problem, plan);
                if (first || v.size() < fewest.size()) fewest = std::move(v);
                first = false;
              }
        if (!first) found.emplace_back(plan.par, std::move(fewest));
      }
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  if (found.size() > static_cast<std::size_t>(k)) found.resize(static_cast<std::size_t>(k));
  return found;
}

}  // namespace

int report_search(const SearchFlags& f, const PlanningInput& in, const PlannerOptions& opts, const SearchResult& res,
                  const std::optional<DomainShare>& share) {
  if (f.verbose && !res.stats.backend_note.empty())
    std::cerr << "nest: note: " << res.stats.backend_note << "; using the CPU backend\n";
  const CostSource& src = *in.source;
  const double capacity = src.cluster().memory_bytes;
  if (res.top.empty()) {
    Json j{{"schema", kPlanSchema},
           {"model", in.model_spec},
           {"cluster", in.cluster_spec},
           {"gpus", src.gpus()},
           {"global_batch", src.global_batch()},
           {"seq_len", in.problem.seq_len},
           {"feasible", false}};
    write_outages(in.problem.outages, j);
    std::string why;
    if (res.closest) {
      const Closest& c = *res.closest;
      char buf[512];
      std::snprintf(buf, sizeof buf,
                    "closest plan: %s, layers per stage as even as possible; its stage %d needs %.2f GiB more per GPU than the "
                    "%.2f GiB available",
                    describe_parallelism(c.plan.par).c_str(), c.stage, c.overflow_bytes / kGiB, capacity / kGiB);
      why = buf;
      j["closest"] =
          Json{{"parallelism", describe_parallelism(c.plan.par)}, {"stage", c.stage}, {"lacks_bytes", c.overflow_bytes}};
      // Megatron's distributed optimizer can keep the fp32 main weights as 16-bit remainders of the
      // bf16 weights, lossless and off by default: say so where that alone makes the closest plan fit.
      const auto* analytic = dynamic_cast<const AnalyticCostSource*>(&src);
      if (analytic && in.problem.options.framework == FrameworkKind::Megatron && !in.problem.options.store_param_remainders) {
        Problem with = analytic->problem();
        with.options.store_param_remainders = true;
        const Prediction p = AnalyticCostSource(with).predict(c.plan);
        const bool fits = p.evaluated && p.feasible;
        j["closest"]["fits_with_store_param_remainders"] = fits;
        if (fits)
          why +=
              "; with --store-param-remainders on (Megatron-LM's --use-precision-aware-optimizer: the fp32 main weights "
              "kept as 16-bit remainders of the bf16 weights) it fits";
      }
    } else {
      why = "no slice of the search space is consistent with the model, GPU count and batch";
      // What the framework refuses of the model itself: the reasons it gives for every plan of
      // data parallelism alone (each ZeRO stage it has, the overlaps on and off), where there
      // are any.
      const Framework& fw = framework(in.problem.options.framework);
      std::vector<std::string> refused;
      bool first = true;
      for (const int zero : fw.zero_stages())
        for (const int overlaps : {0, 1, 2, 3}) {
          Parallelism plain;
          plain.dp = static_cast<int>(src.gpus());
          plain.zero = zero;
          plain.overlap_grad_reduce = (overlaps & 1) != 0;
          plain.overlap_param_gather = (overlaps & 2) != 0;
          const std::vector<std::string> r = fw.unsupported(in.problem, plain, RankOrder{});
          if (first) refused = r;
          std::erase_if(refused, [&](const std::string& x) { return std::find(r.begin(), r.end(), x) == r.end(); });
          first = false;
        }
      if (!refused.empty()) {
        why += "; " + std::string(fw.name()) + " refuses even data parallelism alone:";
        for (std::size_t i = 0; i < refused.size(); ++i) {
          why += i ? "; " : " ";
          why += refused[i];
        }
      }
      // The splits of the GPUs that come nearest, and what each violates (analytic problems: a
      // NEST instance's tabulated costs have no model to check a split against).
      Json nearest = Json::array();
      const auto* analytic = dynamic_cast<const AnalyticCostSource*>(&src);
      const auto splits = analytic ? nearest_splits(analytic->problem(), src, opts.space, 3)
                                   : std::vector<std::pair<Parallelism, std::vector<std::string>>>{};
      if (analytic && splits.empty())
        why += "\nno split of the " + std::to_string(src.gpus()) +
               " GPUs into tp x cp x pp x dp has the degrees asked for (--tp, --cp, --pp; pp at most the model's " +
               std::to_string(in.problem.model.layers) + " blocks)";
      if (!splits.empty() && splits.front().second.empty())
        why += "\nthe split " + describe_split(splits.front().first) +
               " is consistent under the least demanding settings: what rules every slice out is a setting asked for "
               "(--schedule, --virtual-stages, --recompute, --microbatch, --offload-*, the overlaps) or the framework's "
               "rules on it";
      for (const auto& [par, violations] : splits) {
        if (violations.empty()) continue;
        const std::string split = describe_split(par);
        std::string list;
        for (const std::string& v : violations) list += (list.empty() ? "" : "; ") + v;
        why += (nearest.empty() ? "\nthe nearest splits of the " + std::to_string(src.gpus()) + " GPUs:\n  " : "\n  ") + split +
               ": " + list;
        nearest.push_back(Json{{"split", split}, {"violations", violations}});
      }
      if (!nearest.empty()) j["nearest_splits"] = nearest;
    }
    // How many GPUs would do: the same search on 2x, 4x, ... the GPUs (analytic problems).
    if (const auto* analytic = dynamic_cast<const AnalyticCostSource*>(&src)) {
      for (std::int64_t factor = 2; factor <= 64; factor *= 2) {
        Problem bigger = analytic->problem();
        bigger.gpus *= factor;
        try {
          (void)bigger.cluster.domain_sizes(bigger.gpus);
        } catch (const Error&) {
          break;
        }
        PlannerOptions o = opts;
        o.top_k = 1;
        o.progress = false;
        const SearchResult r = search_plans(AnalyticCostSource(bigger), o);
        if (!r.top.empty()) {
          why += "; with " + std::to_string(bigger.gpus) + " GPUs (" + std::to_string(bigger.gpus - src.gpus()) +
                 " more) a plan fits: " + describe_parallelism(r.top.front().plan.par);
          j["gpus_needed"] = bigger.gpus;
          break;
        }
      }
    }
    if (share) {
      j["domain_share"] = domain_share_json(*share);
      why += "; " + domain_share_text(*share);
    }
    j["violations"] = Json::array({"no feasible plan in the search space", why});
    // (j["closest"] and j["gpus_needed"] say what is missing)
    j["search"] = search_stats_json(res.stats);
    if (!f.out.empty()) write_file_atomic(f.out, dump_json(j));
    if (f.json)
      std::cout << dump_json(j);
    else
      std::cout << "no feasible plan (" << res.stats.slices << " slices searched in " << format_duration(res.stats.seconds)
                << ")\n"
                << why << "\n";
    return static_cast<int>(ExitCode::Infeasible);
  }
  const RankedPlan& best = res.top.front();
  const Prediction pred = src.predict(best.plan);
  Json j = plan_to_json(in.problem, in.model_spec, in.cluster_spec, best.plan, pred);
  j["search"] = search_stats_json(res.stats);
  j["search"]["dp_value_s"] = best.dp_value;
  Json alts = Json::array();
  std::vector<Prediction> preds;
  for (const RankedPlan& r : res.top) {
    const Prediction p = src.predict(r.plan);
    preds.push_back(p);
    alts.push_back(Json{{"parallelism", describe_parallelism(r.plan.par)},
                        {"order", r.plan.order.str()},
                        {"layers_per_stage", r.plan.blocks_per_stage},
                        {"step_time_s", p.step_time},
                        {"mfu", p.mfu}});
  }
  j["alternatives"] = alts;
  if (share) j["domain_share"] = domain_share_json(*share);
  std::vector<DimensionExplanation> explanation;
  if (f.explain) {
    const bool show = stderr_is_terminal() && !f.json;
    explanation = explain_plan(src, opts, best.plan, pred, [&](int k, int n, const std::string& dim) {
      if (show) std::fprintf(stderr, "\r\033[Kexplain: searching again without the winner's %s (%d/%d)", dim.c_str(), k, n);
    });
    if (show) std::fprintf(stderr, "\r\033[K");
    j["explain"] = explanation_json(explanation);
  }
  NetworkExplanation network;
  if (f.explain_network) {
    if (!f.nest_input.empty()) refuse_tabulated_costs("--explain-network", "--model/--cluster");
    network = explain_network(in.problem, best.plan, pred);
    j["network"] = network_json(network);
  }
  ComputeExplanation compute;
  if (f.explain_compute) {
    if (!f.nest_input.empty()) refuse_tabulated_costs("--explain-compute", "--model/--cluster");
    compute = explain_compute(in.problem, best.plan, pred);
    j["compute"] = compute_json(compute);
  }
  std::string failures;
  if (f.explain_failures) {
    if (!f.nest_input.empty()) refuse_tabulated_costs("--explain-failures", "--model/--cluster");
    const NodeLoss loss = node_loss(in, opts, pred);
    j["failures"] = node_loss_json(loss);
    failures = node_loss_text(loss);
    const std::vector<SwitchLoss> switches = switch_losses(in, opts);
    if (!switches.empty()) {
      j["failures"]["switch_lost"] = switch_losses_json(switches, pred);
      failures += switch_losses_text(switches, pred);
    }
  }
  if (!f.out.empty()) write_file_atomic(f.out, dump_json(j));
  std::ostringstream text;
  std::string prediction = format_prediction(in.problem, best.plan, pred);
  // The domain share under the placement line: which GPUs of each domain the groups are placed on.
  if (share) {
    const std::string line = "domains    " + domain_share_text(*share) + "\n";
    const std::size_t at = prediction.find("\nplacement ");
    const std::size_t end = at == std::string::npos ? std::string::npos : prediction.find('\n', at + 1);
    prediction.insert(end == std::string::npos ? prediction.size() : end + 1, line);
  }
  text << prediction;
  text << "\nbottleneck " << explain_bottleneck(pred, capacity) << "\n";
  if (res.top.size() > 1) {
    const Prediction& second = preds[1];
    char buf[128];
    std::snprintf(buf, sizeof buf, "%+.2f%%", 100 * (second.step_time / pred.step_time - 1));
    text << "runner-up  " << describe_parallelism(res.top[1].plan.par) << " (" << res.top[1].plan.order.str() << "), " << buf
         << ": " << explain_difference(pred, second) << "\n";
    text << "\ntop " << res.top.size() << " plans\n";
    for (std::size_t i = 0; i < res.top.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%2zu  %10s  MFU %5.1f%%  ", i + 1, format_duration(preds[i].step_time).c_str(),
                    100 * preds[i].mfu);
      text << buf << describe_parallelism(res.top[i].plan.par) << "  " << res.top[i].plan.order.str() << "\n";
    }
  }
  if (f.explain) text << "\n" << format_explanation(explanation, pred);
  if (f.explain_network) text << "\n" << network_text(network);
  if (f.explain_compute) text << "\n" << compute_text(compute);
  if (f.explain_failures) text << "\n" << failures;
  const SearchStats& st = res.stats;
  text << "\nsearch     " << st.method << " on " << st.backend
       << (st.backend_note.empty() ? "" : " (auto: " + st.backend_note + ")") << " (" << st.threads << " threads): " << st.slices
       << " slices, " << st.slices_solved << " solved, the rest pruned by lower bounds; " << st.cells << " DP cells; "
       << format_duration(st.seconds)
       << (share ? ", over " + std::to_string(share->options.size()) + " shares of the " + share->level + " domains" : "")
       << "\n";
  if (f.json)
    std::cout << dump_json(j);
  else
    std::cout << text.str();
  write_pictures(f.pictures, in.problem, src, best.plan, in.model_spec, in.cluster_spec, {{"Plan", text.str()}});
  return 0;
}

}  // namespace nest::cli
