// No framework (FrameworkKind::Any): Megatron-LM's memory recipe over the cost model's whole space.
#include "frameworks.hpp"
#include "launch_script.hpp"
#include "nest/core/error.hpp"

namespace nest {

kernels::TrainingSettings AnyFramework::settings(const Problem& problem, const Parallelism& par) const {
  kernels::TrainingSettings ts = MegatronFramework().settings(problem, par);
  // A row-wise FP8 recipe is torchao's: its casts, with Megatron's memory recipe.
  const Fp8Recipe r = fp8_recipe_of(problem);
  if (par.precision == Precision::Fp8 && (r == Fp8Recipe::Rowwise || r == Fp8Recipe::RowwiseGwHp))
    apply_torchao_casts(problem, par, ts);
  ts.document_length = static_cast<double>(problem.options.document_length);
  return ts;
}

void AnyFramework::check(const Problem&, const Parallelism& par, const RankOrder&, Refusals& out) const {
  // Only what is meaningless whatever the framework.
  if (par.dp_shard > 0 && (par.zero != 3 || par.folded()))
    out.add([&] { return std::string("HSDP is modelled for ZeRO-3, with expert TP equal to TP"); });
  if (par.offload_layers > 0 && par.pp > 1)
    out.add([&] {
      return std::string("offloading the first blocks only is modelled without pipelining (they would sit on the first stages)");
    });
}

void AnyFramework::check_switches(const Problem&, const Parallelism& par, Refusals& out) const {
  if (par.tp_comm_overlap && par.tp == 1) out.add([&] { return std::string("TP communication overlap needs tp > 1"); });
  if (par.ep_comm_overlap && par.ep == 1) out.add([&] { return std::string("EP communication overlap needs ep > 1"); });
  refuse_unpaired_ep_overlap(par, out);
  if (par.overlap_param_gather && par.zero == 0)
    out.add([&] { return std::string("without ZeRO there is no parameter all-gather to overlap"); });
}

void AnyFramework::check_launch(const Problem&, const Plan&, std::vector<LaunchRefusal>& out) const {
  out.push_back({"--to",
                 "a plan made with --framework any has no launch script; plan again with --framework megatron, torchtitan or "
                 "deepspeed"});
}

std::string AnyFramework::launch(const Problem& problem, const Plan& plan, const std::string&) const {
  launch::require_launchable(*this, problem, plan);
  return "";  // not reached: launch_refusals always has a reason
}

}  // namespace nest
