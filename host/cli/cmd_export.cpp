// nest export: a plan file as Megatron-LM arguments, torchtitan TOML or a rank map CSV.
#include <iostream>

#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/export/export.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/search/nest_input.hpp"

namespace nest::cli {

void register_export(CLI::App& app, std::function<int()>& run) {
  struct Flags {
    std::string plan, to, out;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* sub = app.add_subcommand("export", "write a plan as Megatron-LM arguments, torchtitan TOML or a rank map");
  sub->add_option("--plan", f->plan, "plan file (nest.plan/1 JSON)")->required();
  sub->add_option("--to", f->to, "megatron | torchtitan | rankmap")
      ->required()
      ->check(CLI::IsMember({"megatron", "torchtitan", "rankmap"}));
  sub->add_option("--out", f->out, "write to this file instead of standard output");
  sub->callback([f, &run] {
    run = [f]() -> int {
      ExportInput in;
      in.file = read_plan_file(f->plan);
      // The node size comes from the plan's cluster (a preset, a cluster file, or a NEST input).
      if (in.file.cluster_spec == in.file.model_spec) {
        in.gpus_per_node = read_nest_input(in.file.cluster_spec).devices_per_level.front();
      } else {
        in.gpus_per_node = load_cluster(in.file.cluster_spec).levels.front().size;
        if (in.gpus_per_node == 0) in.gpus_per_node = in.file.gpus;
      }
      // Refuse plans that do not describe a runnable split.
      const Parallelism& p = in.file.plan.par;
      if (static_cast<int>(in.file.plan.blocks_per_stage.size()) != p.pp)
        throw_bad_input(f->plan, "layers_per_stage lists " + std::to_string(in.file.plan.blocks_per_stage.size()) +
                                     " stages, pp is " + std::to_string(p.pp));
      if (p.dp % p.ep != 0) throw_bad_input(f->plan, "field 'parallelism.dp': must be a multiple of ep");
      const std::string text =
          f->to == "megatron" ? export_megatron(in) : (f->to == "torchtitan" ? export_torchtitan(in) : export_rankmap(in));
      if (f->out.empty())
        std::cout << text;
      else
        write_file_atomic(f->out, text);
      return 0;
    };
  });
}

}  // namespace nest::cli
