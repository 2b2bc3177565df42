// nest evaluate: predict a given plan's step time and memory, or list why it cannot run.
#include "commands.hpp"

#include <algorithm>
#include <iostream>
#include <optional>

#include "cli_common.hpp"
#include "pictures.hpp"
#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/export/export.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/report/compute_report.hpp"
#include "nest/report/network_report.hpp"
#include "nest/report/text_report.hpp"
#include "nest/search/domain_share.hpp"
#include "nest/search/nest_input.hpp"

namespace nest::cli {

namespace {

struct EvaluateFlags {
  ProblemFlags problem;
  std::string plan_file, nest_input, nest_output;
  int tp = 1, pp = 1, cp = 1, ep = 1, etp = 0, dp = 0, dp_shard = 0, microbatch = 1, zero = 0, virtual_stages = 0,
      offload_layers = 0;
  std::string sp, recompute = "none", recompute_modules, schedule = "1f1b", layers_per_stage, order = "tp-cp-ep-dp-pp";
  bool json = false, explain_network = false, explain_placement = false, explain_compute = false;
  std::string out, rank_map;
  PictureFlags pictures;
};

int evaluate_nest_output(const EvaluateFlags& f, CLI::App* sub) {
  if (f.nest_input.empty() || f.nest_output.empty())
    throw_bad_input("--nest-output", "needs --nest-input and --nest-output together");
  if (f.explain_placement) refuse_tabulated_costs("--explain-placement", "--model/--cluster or --plan");
  if (f.explain_network) refuse_tabulated_costs("--explain-network", "--model/--cluster or --plan");
  if (f.explain_compute) refuse_tabulated_costs("--explain-compute", "--model/--cluster or --plan");
  if (!f.rank_map.empty()) refuse_tabulated_costs("--rank-map", "--model/--cluster or --plan");
  for (const char* flag : {"--model", "--cluster", "--gpus", "--global-batch", "--seq-len", "--plan"})
    if (sub->count(flag) > 0) throw_bad_input(flag, "cannot be combined with --nest-input");
  const NestCostSource src(read_nest_input(f.nest_input));
  double nest_time = 0;
  const Plan plan = read_nest_output(f.nest_output, src.instance(), &nest_time);
  const Prediction pr = src.predict(plan);
  const Problem problem = src.as_problem();
  Json j = plan_to_json(problem, f.nest_input, f.nest_input, plan, pr);
  j["nest"] = Json{{"output", f.nest_output}, {"finalTimePerBatch", nest_time}};
  if (!f.out.empty()) write_file_atomic(f.out, dump_json(j));
  const std::string summary =
      format_prediction(problem, plan, pr) + "NEST's own estimate (finalTimePerBatch): " + std::to_string(nest_time) + "\n";
  if (f.json)
    std::cout << dump_json(j);
  else
    std::cout << summary;
  write_pictures(f.pictures, problem, src, plan, f.nest_input, f.nest_input, {{"Prediction", summary}});
  return pr.feasible ? 0 : static_cast<int>(ExitCode::Infeasible);
}

}  // namespace

void register_evaluate(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<EvaluateFlags>();
  CLI::App* sub = app.add_subcommand("evaluate", "predict a plan's step time and per-GPU memory");
  add_problem_flags(sub, f->problem);
  sub->add_option("--plan", f->plan_file, "plan file (nest.plan/1 JSON) instead of the flags below");
  sub->add_option("--nest-input", f->nest_input, "a NEST solver input (model and cluster with tabulated layer costs)");
  sub->add_option("--nest-output", f->nest_output,
                  "NEST's output for that input: evaluate NEST's chosen plan under nest's cost model");
  sub->add_option("--tp", f->tp, "tensor-parallel degree");
  sub->add_option("--pp", f->pp, "pipeline-parallel degree");
  sub->add_option("--cp", f->cp, "context-parallel degree");
  sub->add_option("--ep", f->ep, "expert-parallel degree (part of dp)");
  sub->add_option("--etp", f->etp, "expert tensor-parallel degree, a divisor of tp (default: tp)");
  sub->add_option("--dp", f->dp, "data-parallel degree (default: GPUs / (tp*cp*pp))");
  sub->add_option("--dp-shard", f->dp_shard, "HSDP: ZeRO-3 shard group size within dp (default 0: the whole dp)");
  sub->add_option("--sp", f->sp,
                  "sequence parallelism (on|off; default: on with --tp > 1 under torchtitan, whose TP always shards the "
                  "sequence, else off)")
      ->check(CLI::IsMember({"on", "off"}));
  sub->add_option("--microbatch", f->microbatch, "microbatch size in sequences");
  sub->add_option("--zero", f->zero, "ZeRO stage 0-3 (1 = distributed optimizer)");
  sub->add_option("--recompute", f->recompute, "activation recomputation: none|selective|full");
  sub->add_option("--recompute-modules", f->recompute_modules,
                  "with --recompute selective, what it recomputes "
                  "(core_attn,layernorm,moe_act,mla_up_proj,mlp,moe,shared_experts: Megatron-Core's "
                  "--recompute-modules; default core_attn)");
  sub->add_option("--schedule", f->schedule, "pipeline schedule: 1f1b|interleaved");
  sub->add_option("--virtual-stages", f->virtual_stages, "model chunks per stage (interleaved schedule)");
  sub->add_option("--offload-layers", f->offload_layers,
                  "with --offload-activations on: the first this many blocks offload (Megatron --cpu-offloading-num-layers; "
                  "default 0: the framework's, all but the last)");
  sub->add_option("--layers-per-stage", f->layers_per_stage, "transformer blocks per stage, e.g. 19,20,20,21");
  sub->add_option("--order", f->order, "rank order, innermost first (default tp-cp-ep-dp-pp)");
  sub->add_flag("--json", f->json, "print the plan JSON instead of the table");
  sub->add_flag(
      "--explain-placement", f->explain_placement,
      "what the plan's rank order costs: the same plan under every rank order the framework runs, the best and the worst");
  sub->add_flag("--explain-network", f->explain_network,
                "per communicating group: the level it crosses, bytes and waited time; the busiest level; what each level "
                "twice as fast would buy");
  sub->add_flag("--explain-compute", f->explain_compute,
                "per layer, one microbatch's forward and backward taken apart: GEMMs, attention, memory-bound kernels, "
                "the sustained fraction, recomputation and the collectives each pass waits for");
  sub->add_option("--out", f->out, "also write the plan JSON to this file");
  sub->add_option("--rank-map", f->rank_map,
                  "rank map CSV (global_rank,node,local_gpu, as nest export --to rankmap writes): evaluate with each rank on "
                  "the GPU it names, and compare with the rank orders");
  add_picture_flags(sub, f->pictures);
  sub->callback([sub, f, &run] {
    run = [sub, f]() -> int {
      if (!f->nest_input.empty() || !f->nest_output.empty()) return evaluate_nest_output(*f, sub);
      Problem problem;
      Plan plan;
      std::string model_spec = f->problem.model, cluster_spec = f->problem.cluster;
      if (!f->plan_file.empty()) {
        for (const char* flag : {"--model",
                                 "--cluster",
                                 "--gpus",
                                 "--global-batch",
                                 "--seq-len",
                                 "--tp",
                                 "--pp",
                                 "--cp",
                                 "--ep",
                                 "--etp",
                                 "--dp",
                                 "--dp-shard",
                                 "--sp",
                                 "--microbatch",
                                 "--zero",
                                 "--recompute",
                                 "--recompute-modules",
                                 "--schedule",
                                 "--virtual-stages",
                                 "--layers-per-stage",
                                 "--order"})
          if (sub->count(flag) > 0) throw_bad_input(flag, "cannot be combined with --plan");
        const PlanFile pf = read_plan_file(f->plan_file);
        ProblemFlags pflags = f->problem;
        pflags.model = model_spec = pf.model_spec;
        pflags.cluster = cluster_spec = pf.cluster_spec;
        pflags.gpus = pf.gpus;
        pflags.global_batch = pf.global_batch;
        pflags.seq_len = pf.seq_len;
        if (sub->count("--profile") == 0) pflags.profile = pf.profile_spec;
        for (const char* flag : {"--unavailable-nodes", "--unavailable-gpus", "--lost-switch", "--cluster-set"})
          if (sub->count(flag) > 0)
            throw_bad_input(flag, "cannot be combined with --plan (the plan file says what is out and what is set)");
        pflags.outages = pf.outages;
        problem = make_problem(pflags);
        problem.options = pf.options;
        for (const char* flag : {"--framework", "--flash-attention", "--compile", "--loss-chunks", "--capacity-factor"})
          if (sub->count(flag) > 0) problem.options = make_options(f->problem);
        plan = pf.plan;
        for (const char* flag : {"--precision", "--overlap-grad-reduce", "--overlap-param-gather", "--tp-comm-overlap",
                                 "--ep-comm-overlap", "--offload-optimizer", "--offload-activations", "--offload-layers"})
          if (sub->count(flag) > 0) throw_bad_input(flag, "cannot be combined with --plan (the plan file sets it)");
      } else {
        problem = make_problem(f->problem);
        Parallelism& p = plan.par;
        auto positive = [](int v, const char* flag) {
          if (v < 1) throw_bad_input(flag, "must be a positive integer (got " + std::to_string(v) + ")");
          return v;
        };
        p.tp = positive(f->tp, "--tp");
        p.pp = positive(f->pp, "--pp");
        p.cp = positive(f->cp, "--cp");
        p.ep = positive(f->ep, "--ep");
        if (sub->count("--etp") > 0) p.etp = positive(f->etp, "--etp") == p.tp ? 0 : f->etp;
        p.microbatch = positive(f->microbatch, "--microbatch");
        if (f->zero < 0 || f->zero > 3) throw_bad_input("--zero", "must be 0, 1, 2 or 3 (got " + std::to_string(f->zero) + ")");
        p.zero = f->zero;
        // default: the framework's (torchtitan's TP always shards the sequence), else off
        p.sp = f->sp.empty() ? framework(problem.options.framework).tp_shards_sequence() && p.tp > 1 : f->sp == "on";
        p.recompute = parse_recompute(f->recompute, "--recompute");
        if (!f->recompute_modules.empty()) {
          if (p.recompute != Recompute::Selective)
            throw_bad_input("--recompute-modules", "names what selective recomputation recomputes: give --recompute selective");
          p.recompute_modules = parse_recompute_modules(f->recompute_modules, "--recompute-modules");
        }
        p.schedule = parse_schedule(f->schedule, "--schedule");
        if (p.schedule == Schedule::Interleaved) {
          if (f->virtual_stages == 0) throw_bad_input("--virtual-stages", "is required with --schedule interleaved");
          p.virtual_stages = positive(f->virtual_stages, "--virtual-stages");
        } else {
          p.virtual_stages = f->virtual_stages == 0 ? 1 : positive(f->virtual_stages, "--virtual-stages");
        }
        plan.order = RankOrder::parse(f->order, "--order");
        auto single = [](const std::string& text, const char* flag) {
          if (text.find(',') != std::string::npos) throw_bad_input(flag, "takes one value here (a list is for nest plan)");
          return text;
        };
        if (!f->problem.precision.empty())
          p.precision = parse_precision_list(single(f->problem.precision, "--precision"), "--precision", problem.cluster.gpu)[0];
        if (!f->problem.offload_optimizer.empty())
          p.offload_optimizer = parse_on_off(single(f->problem.offload_optimizer, "--offload-optimizer"), "--offload-optimizer");
        if (!f->problem.offload_activations.empty())
          p.offload_activations =
              parse_on_off(single(f->problem.offload_activations, "--offload-activations"), "--offload-activations");
        if (f->offload_layers < 0) throw_bad_input("--offload-layers", "must not be negative");
        if (f->offload_layers > 0 && !p.offload_activations)
          throw_bad_input("--offload-layers", "needs --offload-activations on");
        p.offload_layers = f->offload_layers;
        const long model_parallel = static_cast<long>(p.tp) * p.cp * p.pp;
        if (f->dp != 0) {
          p.dp = positive(f->dp, "--dp");
        } else {
          p.dp = static_cast<int>(std::max<long>(1, problem.gpus / model_parallel));
        }
        if (f->dp_shard < 0) throw_bad_input("--dp-shard", "must not be negative");
        p.dp_shard = f->dp_shard;
        auto fixed = [&](const std::string& text, const char* flag) {
          return text.empty() ? std::vector<bool>{} : std::vector<bool>{parse_on_off(single(text, flag), flag)};
        };
        // The microbatch count first: framework rules on the switches depend on it (a schedule's
        // microbatches against its stages).
        const long per_step = static_cast<long>(p.dp) * p.microbatch;
        p.num_microbatches = static_cast<int>(std::max<long>(1, problem.global_batch / per_step));
        choose_overlaps(problem, p, plan.order, fixed(f->problem.overlap_grad_reduce, "--overlap-grad-reduce"),
                        fixed(f->problem.overlap_param_gather, "--overlap-param-gather"),
                        fixed(f->problem.tp_comm_overlap, "--tp-comm-overlap"),
                        fixed(f->problem.ep_comm_overlap, "--ep-comm-overlap"));
        if (!f->layers_per_stage.empty()) {
          plan.blocks_per_stage = parse_int_list(f->layers_per_stage, "--layers-per-stage", 0);
        } else {
          const int v = p.schedule == Schedule::Interleaved ? p.virtual_stages : 1;
          plan.blocks_per_stage = even_split(static_cast<int>(problem.model.layers), p.pp, v);
        }
      }
      // A rank map puts the groups where it says, on the cluster's graph (cost/placement.hpp).
      std::optional<Placement> mapped;
      std::vector<std::int64_t> gpu;  // the rank map's GPU of each rank
      if (!f->rank_map.empty()) {
        if (check_plan(problem, plan).empty()) mapped = rank_map_placement(problem, plan, f->rank_map, gpu);
      }
      Prediction pr = evaluate_plan(problem, plan, mapped ? &*mapped : nullptr);
      if (f->plan_file.empty() && f->dp == 0 &&
          problem.gpus % (static_cast<long>(plan.par.tp) * plan.par.cp * plan.par.pp) != 0) {
        pr.violations.insert(pr.violations.begin(),
                             "tp*cp*pp = " + std::to_string(static_cast<long>(plan.par.tp) * plan.par.cp * plan.par.pp) +
                                 " does not divide the " + std::to_string(problem.gpus) + " GPUs");
        pr.feasible = false;
      }
      Json j = plan_to_json(problem, model_spec, cluster_spec, plan, pr);
      std::string summary = format_prediction(problem, plan, pr);
      // The plan under its own rank order: what a rank map is compared with, and what
      // --explain-placement compares the other orders and domain shares with.
      const Prediction by_order = mapped && pr.evaluated ? evaluate_plan(problem, plan) : pr;
      std::optional<PlacementComparison> compared;  // the rank orders, once for both
      auto rank_orders = [&]() -> const PlacementComparison& {
        if (!compared) compared = compare_rank_orders(problem, plan, by_order);
        return *compared;
      };
      if (mapped && pr.evaluated) {
        // What the map costs against the plan's own rank order and the best one.
        const PlacementComparison& orders = rank_orders();
        Json m = {{"file", f->rank_map}, {"step_time_s", pr.step_time}, {"rank_order_step_time_s", by_order.step_time}};
        std::string line = "rank map   " + f->rank_map + ": step " + format_duration(pr.step_time) + "; the plan's order " +
                           orders.plan_order + ": " + format_duration(by_order.step_time);
        if (!orders.orders.empty()) {
          const OrderCost& best = orders.orders.front();
          m["best_order"] = best.order;
          m["best_order_step_time_s"] = best.step_time;
          line += format_text(", the best order %s: %s (the map costs %+.1f%% against it)", best.order.c_str(),
                              format_duration(best.step_time).c_str(), 100 * (pr.step_time / best.step_time - 1));
        }
        j["rank_map"] = m;
        summary += line + "\n";
      }
      if (f->explain_placement && by_order.feasible) {
        const PlacementComparison& placement = rank_orders();
        j["placement_comparison"] = placement_json(placement);
        summary += "\n" + placement_text(placement);
        // Where the cluster's domains are made of hosts: the same plan on each share of them.
        const std::vector<DomainShareCost> shares = compare_domain_shares(problem, cluster_spec, plan);
        if (!shares.empty()) {
          const NetworkLevel& domain = problem.cluster.levels.front();
          Json a = Json::array();
          std::string line =
              format_text("           this plan's %lld GPUs of each %s domain: %s; the same plan on",
                          static_cast<long long>(domain.size), domain.name.c_str(), format_duration(by_order.step_time).c_str());
          bool first = true;
          for (const DomainShareCost& c : shares) {
            Json e{{"gpus_per_domain", c.gpus_per_domain}, {"feasible", c.feasible}};
            if (c.feasible) {
              e["step_time_s"] = c.step_time;
              e["step_time_change"] = c.step_time / by_order.step_time - 1;
            }
            a.push_back(e);
            if (c.gpus_per_domain == domain.size) continue;  // the plan's own, above
            line += first ? " " : ", ";
            first = false;
            if (c.feasible)
              line += format_text("%lld per domain %s (%+.2f%%)", static_cast<long long>(c.gpus_per_domain),
                                  format_duration(c.step_time).c_str(), 100 * (c.step_time / by_order.step_time - 1));
            else
              line += format_text("%lld per domain: does not fit", static_cast<long long>(c.gpus_per_domain));
          }
          j["placement_comparison"]["domain_shares"] = a;
          summary += line + "\n";
        }
      }
      if (f->explain_network && pr.evaluated) {
        const NetworkExplanation network = explain_network(problem, plan, pr, mapped ? &gpu : nullptr);
        j["network"] = network_json(network);
        summary += "\n" + network_text(network);
      }
      if (f->explain_compute && pr.evaluated) {
        const ComputeExplanation compute = explain_compute(problem, plan, pr);
        j["compute"] = compute_json(compute);
        summary += "\n" + compute_text(compute);
      }
      if (!f->out.empty()) write_file_atomic(f->out, dump_json(j));
      if (f->json) {
        std::cout << dump_json(j);
      } else {
        std::cout << summary;
      }
      if (f->pictures.any())
        write_pictures(f->pictures, problem, AnalyticCostSource(problem), plan, model_spec, cluster_spec,
                       {{"Prediction", summary}}, mapped ? &pr : nullptr);
      return pr.feasible ? 0 : static_cast<int>(ExitCode::Infeasible);
    };
  });
}

}  // namespace nest::cli
