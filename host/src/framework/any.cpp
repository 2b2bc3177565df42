// No framework (FrameworkKind::Any): Megatron-LM's memory recipe over the cost model's whole space.
#include "frameworks.hpp"
#include "nest/core/error.hpp"

namespace nest {

kernels::TrainingSettings AnyFramework::settings(const Problem& problem, const Parallelism& par) const {
  return MegatronFramework().settings(problem, par);
}

std::vector<std::string> AnyFramework::unsupported(const Problem& problem, const Parallelism& par, const RankOrder&) const {
  // Only what is meaningless whatever the framework.
  std::vector<std::string> out;
  if (par.tp_comm_overlap && par.tp == 1) out.push_back("TP communication overlap needs tp > 1");
  if (par.dp_shard > 0 && (par.zero != 3 || par.ep > 1)) out.push_back("HSDP is modelled for ZeRO-3 without expert parallelism");
  if (par.overlap_param_gather && par.zero == 0) out.push_back("without ZeRO there is no parameter all-gather to overlap");
  if ((par.offload_optimizer || par.offload_activations) &&
      (problem.cluster.gpu.host_link_bandwidth <= 0 || (par.offload_optimizer && problem.cluster.host_memory_bandwidth <= 0)))
    out.push_back("offload needs host_link_GBps (GPU preset) and host_memory_GBps_per_gpu (cluster)");
  return out;
}

std::string AnyFramework::launch(const Problem&, const Plan&, const std::string&) const {
  throw_bad_input("--to",
                  "a plan made with --framework any has no launch script; plan again with --framework megatron, torchtitan "
                  "or deepspeed");
}

}  // namespace nest
