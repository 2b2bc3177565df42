// nest export: a plan file as a framework's launch script (Megatron-LM, torchtitan, DeepSpeed)
// or a rank map CSV. The plan is checked as strictly as a computed one, under the framework it
// is exported to, before anything is written (docs/frameworks.md §6).
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/export/export.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/search/nest_input.hpp"

namespace nest::cli {

namespace {

// The plan file's problem (model, cluster, profile, sizes, options), as `nest evaluate --plan` builds it.
Problem plan_problem(const PlanFile& pf) {
  ProblemFlags flags;
  flags.model = pf.model_spec;
  flags.cluster = pf.cluster_spec;
  flags.profile = pf.profile_spec;
  flags.outages = pf.outages;
  flags.gpus = pf.gpus;
  flags.global_batch = pf.global_batch;
  flags.seq_len = pf.seq_len;
  Problem problem = make_problem(flags);
  problem.options = pf.options;
  return problem;
}

// Bad input naming the plan file and the first rule the plan breaks (and how many more).
[[noreturn]] void refuse(const std::string& path, const std::string& context, const std::vector<std::string>& why) {
  std::string more;
  if (why.size() > 1) more = " (and " + std::to_string(why.size() - 1) + " more: nest evaluate --plan lists them)";
  throw_bad_input(path, context + why.front() + more);
}

int export_rankmap_cli(const PlanFile& pf, const std::string& path, const std::string& out) {
  ExportInput in;
  in.file = pf;
  if (pf.cluster_spec == pf.model_spec) {
    // A plan of a NEST solver input: the instance holds the cluster; its costs are tabulated.
    const NestInstance instance = read_nest_input(pf.cluster_spec);
    in.gpus_per_node = instance.devices_per_level.front();
    const Parallelism& p = pf.plan.par;
    if (static_cast<int>(pf.plan.blocks_per_stage.size()) != p.pp)
      throw_bad_input(path, "layers_per_stage lists " + std::to_string(pf.plan.blocks_per_stage.size()) + " stages, pp is " +
                                std::to_string(p.pp));
    if (p.dp % p.ep != 0) throw_bad_input(path, "field 'parallelism.dp': must be a multiple of ep");
  } else {
    const Problem problem = plan_problem(pf);
    const std::vector<std::string> why = check_plan(problem, pf.plan);
    if (!why.empty()) refuse(path, "", why);
    in.gpus_per_node = gpus_per_host(problem.cluster, pf.gpus);
    // On a topology the ranks are the GPUs that are up, in the order the job takes them.
    if (const auto& topo = problem.cluster.topology; topo && !topo->spec().is_torus) in.physical_gpus = topo->job_gpus(pf.gpus);
  }
  const std::string text = export_rankmap(in);
  if (out.empty())
    std::cout << text;
  else
    write_file_atomic(out, text);
  return 0;
}

int export_framework(const PlanFile& pf, const std::string& path, const std::string& to, const std::string& out) {
  if (pf.cluster_spec == pf.model_spec) throw_bad_input(path, kNestInputHasNoLaunch);
  const FrameworkKind target = parse_framework(to, "--to");
  const FrameworkKind recorded = pf.options.framework;
  Problem problem = plan_problem(pf);
  problem.options.framework = target;
  // check_plan: degrees against GPUs, heads, experts and the batch, the split against the
  // layers, and every rule of the target framework (unsupported()).
  const std::vector<std::string> why = check_plan(problem, pf.plan);
  if (!why.empty())
    refuse(path,
           target == recorded
               ? ""
               : std::string("the plan (for ") + to_string(recorded) + ") cannot run on " + to_string(target) + ": ",
           why);
  // Memory is the framework's too: say so when the plan does not fit under it, export anyway.
  const Prediction pr = evaluate_plan(problem, pf.plan);
  for (const std::string& v : pr.violations) std::cerr << "nest export: warning: under " << to_string(target) << " " << v << "\n";
  const std::string text = framework(target).launch(problem, pf.plan, pf.model_spec);
  if (out.empty())
    std::cout << text;
  else
    write_file_atomic(out, text, /*executable=*/true);
  return 0;
}

}  // namespace

void register_export(CLI::App& app, std::function<int()>& run) {
  struct Flags {
    std::string plan, to, out;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub =
      app.add_subcommand("export", "write a plan as a launch script (Megatron-LM, torchtitan, DeepSpeed) or a rank map (CSV)");
  sub->add_option("--plan", f->plan, "plan file (nest.plan/1 JSON)")->required();
  sub->add_option("--to", f->to, "megatron | torchtitan | deepspeed | rankmap")
      ->required()
      ->check(CLI::IsMember({"megatron", "torchtitan", "deepspeed", "rankmap"}));
  sub->add_option("--out", f->out, "write to this file (atomically; scripts executable) instead of standard output");
  sub->callback([f, &run] {
    run = [f]() -> int {
      const PlanFile pf = read_plan_file(f->plan);
      if (f->to == "rankmap") return export_rankmap_cli(pf, f->plan, f->out);
      return export_framework(pf, f->plan, f->to, f->out);
    };
  });
}

}  // namespace nest::cli
