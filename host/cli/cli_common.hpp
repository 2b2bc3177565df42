// Flags shared by the subcommands, and their conversion into a Problem. Values are checked
// here so that bad input fails with one line naming the flag.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "nest/cost/placement.hpp"
#include "nest/problem/problem.hpp"
#include "nest/plan/plan.hpp"
#include "nest/search/cost_source.hpp"

namespace nest::cli {

struct ProblemFlags {
  std::string model, cluster, profile;
  Outages outages;                       // from a plan file
  std::string unavailable_nodes_text;    // --unavailable-nodes, as given
  std::string unavailable_gpus_text;     // --unavailable-gpus, as given
  std::string lost_switch;               // --lost-switch TIER
  double gpu_power_limit = 0;            // --gpu-power-limit W
  std::vector<std::string> cluster_set;  // --cluster-set PATH=VALUE, as given
  long gpus = 0, global_batch = 0, seq_len = 0;
  std::string framework = "megatron", flash_attention = "on", attention_kernel = "auto", fp8_recipe = "auto",
              cross_entropy = "auto", overlap_p2p = "auto", compile = "off", compile_loss = "auto", grad_reduce_in_bf16 = "off",
              store_param_remainders = "off", fuse_qkv = "on", pp_keeps_outputs = "off", pp_keeps_receive_buffers = "off",
              repeat_kv = "off", pipeline_layout = "on", grad_accum_dtype = "bf16";
  int loss_chunks = 0;
  double grad_bucket_size = 0;
  long document_length = 0;
  double capacity_factor = 1.0;
  double expert_load = 1.0;
  std::string moe_dispatch = "alltoall";
  // Plan knobs: a value for evaluate, a comma list for plan (empty: evaluate takes the best the
  // framework runs, plan searches them).
  std::string precision, overlap_grad_reduce, overlap_param_gather, tp_comm_overlap, ep_comm_overlap, offload_optimizer,
      offload_activations;
};

void add_problem_flags(CLI::App* app, ProblemFlags& f);
void add_option_flags(CLI::App* app, ProblemFlags& f);
Problem make_problem(const ProblemFlags& f);
// --cluster-set PATH=VALUE texts, in order (bad input naming the flag otherwise).
std::vector<ClusterSetting> cluster_settings(const std::vector<std::string>& texts);
TrainingOptions make_options(const ProblemFlags& f);

// "3,17,40-47" -> {3, 17, 40, ..., 47}: node or GPU indices and inclusive ranges.
std::vector<std::int64_t> parse_index_list(const std::string& text, const std::string& flag);

// "1,2,4" -> {1,2,4}; bad input naming `flag` otherwise.
std::vector<int> parse_int_list(const std::string& text, const std::string& flag, int min_value);
bool parse_on_off(const std::string& text, const std::string& flag);
// "4096", "64K", "16M", "1G" (binary multiples, like nccl-tests' -b/-e); bad input naming `flag` otherwise.
double parse_bytes(const std::string& text, const std::string& flag);
std::vector<bool> parse_on_off_list(const std::string& text, const std::string& flag);
std::vector<Precision> parse_precision_list(const std::string& text, const std::string& flag, const GpuSpec& gpu);

// A plan file with everything needed to cost it again: the problem it names (or NEST's
// instance, for plans of NEST solver inputs) and the cost source.
struct LoadedPlan {
  Problem problem;
  Plan plan;
  std::string path, model_spec, cluster_spec;
  std::unique_ptr<CostSource> source;
};
LoadedPlan load_plan(const std::string& path);
// Bad input naming the file when its plan cannot be costed on the problem it names (layers that
// do not add up to its model, degrees that do not divide, ...); a plan that only runs out of
// memory is costed.
void require_costable(const LoadedPlan& lp);

// The placement a rank map CSV gives `plan` on `problem`'s cluster (nest evaluate and trace
// --rank-map; cost/placement.hpp place_rank_map), each rank's GPU in `gpu_of_rank`: on the
// cluster's topology, or for a hierarchy on its own topology with the settings it was read with.
// Bad input naming the file for a map that does not fit the plan or the cluster.
Placement rank_map_placement(const Problem& problem, const Plan& plan, const std::string& path,
                             std::vector<std::int64_t>& gpu_of_rank);

// Bad input under `flag`: an explanation that needs the analytic cost model was asked of a NEST
// input's tabulated costs (`inputs`: how the analytic model is given to this command).
[[noreturn]] void refuse_tabulated_costs(const std::string& flag, const std::string& inputs);

// Whether standard error is a terminal (progress lines go there only then).
bool stderr_is_terminal();

}  // namespace nest::cli
