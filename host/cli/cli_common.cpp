#include "cli_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/export/export.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/text.hpp"
#include "nest/model/model_config.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/profiler/profile.hpp"
#include "nest/search/nest_input.hpp"

namespace nest::cli {

void add_problem_flags(CLI::App* app, ProblemFlags& f) {
  app->add_option("--model", f.model, "model preset name or path to a Hugging Face config.json");
  app->add_option("--cluster", f.cluster, "cluster or topology: a preset name or a JSON file path");
  app->add_option("--unavailable-nodes", f.unavailable_nodes_text,
                  "topology nodes that are out (a list such as 3,17,40-47): plan on the rest");
  app->add_option("--unavailable-gpus", f.unavailable_gpus_text,
                  "topology GPUs that are out inside their nodes (global indices, a list such as 3,17): every node then "
                  "offers the local GPUs up on all of them");
  app->add_option("--lost-switch", f.lost_switch,
                  "a topology tier (leaf, spine, ...) with one switch out: TIER (its first domain, where the job starts) or "
                  "TIER:DOMAIN (a job that does not reach that domain loses nothing)");
  app->add_option("--gpu-power-limit", f.gpu_power_limit,
                  "board power cap of every GPU in watts (nvidia-smi -pl): tensor-core throughput scales with the cube root "
                  "of cap / TDP (docs/cost-model.md §3.6)");
  app->add_option("--cluster-set", f.cluster_set,
                  "PATH=VALUE (repeatable): a field of the cluster or topology file set before it is read, e.g. "
                  "networks.0.tiers.spine.oversubscription=2 or levels.1.bandwidth_GBps=50 (docs/inputs.md §8)");
  app->add_option("--gpus", f.gpus, "number of GPUs");
  app->add_option("--global-batch", f.global_batch, "global batch size in sequences");
  app->add_option("--seq-len", f.seq_len, "sequence length in tokens");
  app->add_option("--profile", f.profile, "a profile from nest profile: measured bandwidths, latencies and GPU efficiencies");
  add_option_flags(app, f);
}

void add_option_flags(CLI::App* app, ProblemFlags& f) {
  const auto on_off = CLI::IsMember({"on", "off"});
  app->add_option("--framework", f.framework,
                  "megatron (default) | torchtitan | deepspeed: what runs the plan; any: no framework's restrictions")
      ->check(CLI::IsMember({"megatron", "torchtitan", "deepspeed", "any"}));
  app->add_option("--precision", f.precision, "linear layers' format: bf16 (default) | fp8 | mxfp8 | nvfp4 (plan: a list)");
  app->add_option("--overlap-grad-reduce", f.overlap_grad_reduce, "gradient reduction overlapped with the backward (on|off)");
  app->add_option("--overlap-param-gather", f.overlap_param_gather, "parameter all-gather overlapped with the forward (on|off)");
  app->add_option("--tp-comm-overlap", f.tp_comm_overlap, "TP collectives overlapped with the GEMMs (on|off)");
  app->add_option("--ep-comm-overlap", f.ep_comm_overlap,
                  "MoE all-to-alls overlapped with another microbatch's compute (on|off; Megatron-Core "
                  "--overlap-moe-expert-parallel-comm)");
  app->add_option("--offload-optimizer", f.offload_optimizer, "optimizer state and step on the host (on|off)");
  app->add_option("--offload-activations", f.offload_activations, "stored activations on the host (on|off)");
  app->add_option("--flash-attention", f.flash_attention, "FlashAttention: no stored attention scores (on|off)")->check(on_off);
  app->add_option("--attention-kernel", f.attention_kernel,
                  "fused attention kernel: auto (the framework's, default) | fused (cuDNN / FlashAttention-3/4) | flash2 "
                  "(FlashAttention-2: PyTorch <= 2.8's SDPA, the flash-attn 2 package)")
      ->check(CLI::IsMember({"auto", "fused", "flash2"}));
  app->add_option("--fp8-recipe", f.fp8_recipe,
                  "FP8 scaling: auto (the framework's, default: Transformer Engine per tensor; torchtitan 0.3 rowwise) | "
                  "tensorwise | rowwise | rowwise-gw-hp (torchao's)")
      ->check(CLI::IsMember({"auto", "tensorwise", "rowwise", "rowwise-gw-hp"}));
  app->add_option(
         "--cross-entropy", f.cross_entropy,
         "Megatron's loss: auto (the framework's, default: unfused) | unfused | fused (--cross-entropy-loss-fusion) | te "
         "(Transformer Engine's, as Megatron-Bridge and NeMo 2 run it)")
      ->check(CLI::IsMember({"auto", "unfused", "fused", "te"}));
  app->add_option("--overlap-p2p", f.overlap_p2p,
                  "Megatron's interleaved schedule overlaps pipeline sends with compute: auto (the framework's, default: on) | "
                  "on | off (--no-overlap-p2p-communication; Megatron-LM before 2023-10)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app->add_option("--compile", f.compile, "torchtitan --compile.enable (on|off; default off)")->check(on_off);
  app->add_option("--compile-loss", f.compile_loss,
                  "torchtitan compiles its loss: auto (with --compile, as torchtitan since 2025-04) | on | off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app->add_option("--grad-reduce-in-bf16", f.grad_reduce_in_bf16, "Megatron: 16-bit main gradients (on|off; default off)")
      ->check(on_off);
  app->add_option("--store-param-remainders", f.store_param_remainders,
                  "Megatron: the distributed optimizer keeps each fp32 main weight as its bf16 weight plus a 16-bit "
                  "remainder (--use-precision-aware-optimizer; NeMo 1.x's distributed_fused_adam) (on|off; default off)")
      ->check(on_off);
  app->add_option("--grad-accum-dtype", f.grad_accum_dtype,
                  "DeepSpeed data_types.grad_accum_dtype: bf16 (default, the model's) | fp32 (ZeRO-1 then runs the "
                  "BF16_Optimizer with an fp32 gradient buffer)")
      ->check(CLI::IsMember({"bf16", "fp32"}));
  app->add_option("--grad-bucket-size", f.grad_bucket_size,
                  "Megatron --ddp-bucket-size: parameters per gradient bucket of the first pipeline stage (default: "
                  "Megatron's, max(40M, 1M x data x context-parallel ranks))");
  app->add_option("--loss-chunks", f.loss_chunks, "torchtitan --loss.num_chunks (default: the framework's, 8)");
  app->add_option("--fuse-qkv", f.fuse_qkv,
                  "torchtitan: q, k, v as one linear (on, default: torchtitan 0.3) or three (off: torchtitan before 2026-06)")
      ->check(on_off);
  app->add_option("--repeat-kv", f.repeat_kv,
                  "torchtitan: attention repeats K and V to every query head before the kernel (on: torchtitan before "
                  "2026-01-27; off, default: torchtitan 0.3's grouped-query SDPA)")
      ->check(on_off);
  app->add_option("--pp-keeps-outputs", f.pp_keeps_outputs,
                  "torchtitan with pipelining: the last stage keeps every microbatch's logits until the step ends (on: "
                  "torchtitan before 2025-10; off, default: torchtitan 0.3)")
      ->check(on_off);
  app->add_option("--pp-keeps-receive-buffers", f.pp_keeps_receive_buffers,
                  "torchtitan with pipelining: every stage keeps a receive buffer per microbatch and each input "
                  "gradient until the next step (on: PyTorch before 2026-08; off, default: lazy buffers)")
      ->check(on_off);
  app->add_option("--document-length", f.document_length,
                  "torchtitan: the documents packed in a sequence are attended to each on its own (a causal mask per "
                  "document, as torchtitan 0.3's dataloader and FlexAttention run); their size-weighted mean length "
                  "E[L^2]/E[L] in tokens (0, default: one causal mask over the whole sequence)");
  app->add_option("--pipeline-layout", f.pipeline_layout,
                  "interleaved edge chunks may lack more than one block (on, default: Megatron-LM's "
                  "--pipeline-model-parallel-layout from core_v0.13, torchtitan) or one at most (off: Megatron-LM before it)")
      ->check(on_off);
  app->add_option("--capacity-factor", f.capacity_factor, "MoE tokens per expert relative to perfect balance (default 1)");
  app->add_option("--expert-load", f.expert_load,
                  "MoE dropless routing: the busiest expert's tokens relative to the mean (default 1: balanced)");
  app->add_option("--moe-dispatch", f.moe_dispatch, "MoE token dispatch: alltoall (default) | allgather (Megatron)")
      ->check(CLI::IsMember({"alltoall", "allgather"}));
}

bool parse_on_off(const std::string& text, const std::string& flag) {
  if (text == "on") return true;
  if (text == "off") return false;
  throw_bad_input(flag, "'" + text + "' is not on or off");
}

std::vector<bool> parse_on_off_list(const std::string& text, const std::string& flag) {
  std::vector<bool> out;
  for (const auto& w : split(text, ',')) out.push_back(parse_on_off(w, flag));
  return out;
}

std::vector<Precision> parse_precision_list(const std::string& text, const std::string& flag, const GpuSpec& gpu) {
  std::vector<Precision> out;
  for (const auto& w : split(text, ',')) {
    const Precision p = parse_precision(w, flag);
    if (!gpu.supports(p)) {
      // What the GPU's preset does have: each format is a datasheet peak there (presets/gpus).
      std::string has;
      for (int x = 0; x < kernels::kPrecisions; ++x)
        if (gpu.supports(static_cast<Precision>(x)))
          has += (has.empty() ? "" : ", ") + std::string(to_string(static_cast<Precision>(x)));
      throw_bad_input(flag, "'" + w + "': " + gpu.name + " has no " + w + " tensor cores (its preset has " + has + ")");
    }
    out.push_back(p);
  }
  return out;
}

TrainingOptions make_options(const ProblemFlags& f) {
  TrainingOptions o;
  o.framework = parse_framework(f.framework, "--framework");
  o.flash_attention = parse_on_off(f.flash_attention, "--flash-attention");
  o.attention_kernel = parse_attention_kernel(f.attention_kernel, "--attention-kernel");
  o.fp8_recipe = parse_fp8_recipe(f.fp8_recipe, "--fp8-recipe");
  require_fp8_recipe(o, "--fp8-recipe");
  o.cross_entropy = parse_cross_entropy(f.cross_entropy, "--cross-entropy");
  require_cross_entropy(o, "--cross-entropy");
  o.overlap_p2p = parse_auto_on_off(f.overlap_p2p, "--overlap-p2p");
  require_overlap_p2p(o, "--overlap-p2p");
  o.compile = parse_on_off(f.compile, "--compile");
  o.compile_loss = parse_auto_on_off(f.compile_loss, "--compile-loss");
  o.grad_reduce_in_bf16 = parse_on_off(f.grad_reduce_in_bf16, "--grad-reduce-in-bf16");
  o.store_param_remainders = parse_on_off(f.store_param_remainders, "--store-param-remainders");
  if (o.store_param_remainders && o.framework != FrameworkKind::Megatron)
    throw_bad_input("--store-param-remainders", std::string("on is Megatron's distributed optimizer's; ") +
                                                    to_string(o.framework) + " keeps its fp32 weights whole");
  o.fuse_qkv = parse_on_off(f.fuse_qkv, "--fuse-qkv");
  if (!o.fuse_qkv && o.framework != FrameworkKind::Torchtitan)
    throw_bad_input("--fuse-qkv", std::string("off is torchtitan's (separate wq, wk, wv); ") + to_string(o.framework) +
                                      " fuses q, k and v into one linear");
  o.repeat_kv = parse_on_off(f.repeat_kv, "--repeat-kv");
  if (o.repeat_kv && o.framework != FrameworkKind::Torchtitan)
    throw_bad_input("--repeat-kv", std::string("on is torchtitan's (before 2026-01-27); ") + to_string(o.framework) +
                                       " runs grouped-query attention on the K and V heads");
  o.pp_keeps_outputs = parse_on_off(f.pp_keeps_outputs, "--pp-keeps-outputs");
  if (o.pp_keeps_outputs && o.framework != FrameworkKind::Torchtitan)
    throw_bad_input("--pp-keeps-outputs", std::string("on is PyTorch pipelining's (torchtitan); ") + to_string(o.framework) +
                                              " frees each microbatch's output after its backward");
  o.pp_keeps_receive_buffers = parse_on_off(f.pp_keeps_receive_buffers, "--pp-keeps-receive-buffers");
  if (o.pp_keeps_receive_buffers && o.framework != FrameworkKind::Torchtitan)
    throw_bad_input("--pp-keeps-receive-buffers", std::string("on is PyTorch pipelining's (torchtitan); ") +
                                                      to_string(o.framework) + " receives into buffers it frees");
  o.pipeline_layout = parse_on_off(f.pipeline_layout, "--pipeline-layout");
  if (f.document_length < 0 || f.document_length > 1000000000)
    throw_bad_input("--document-length", "must be a whole number of tokens (0: one document per sequence)");
  o.document_length = f.document_length;
  require_document_masks(o, "--document-length");
  if (f.loss_chunks < 0 || f.loss_chunks > (1 << 20)) throw_bad_input("--loss-chunks", "must be a small non-negative integer");
  o.loss_chunks = f.loss_chunks;
  require_grad_bucket_size(f.grad_bucket_size, o, "--grad-bucket-size");
  require_grad_accum_dtype(f.grad_accum_dtype, o, "--grad-accum-dtype");
  if (!std::isfinite(f.capacity_factor) || f.capacity_factor < 1)
    throw_bad_input("--capacity-factor", "must be a finite number of at least 1");
  o.capacity_factor = f.capacity_factor;
  if (!std::isfinite(f.expert_load) || f.expert_load < 1)
    throw_bad_input("--expert-load", "must be a finite number of at least 1 (the busiest expert's tokens over the mean)");
  if (f.expert_load > 1 && f.capacity_factor > 1)
    throw_bad_input("--expert-load",
                    "applies to dropless routing; with --capacity-factor every expert is padded to the capacity");
  o.expert_load = f.expert_load;
  o.moe_allgather = f.moe_dispatch == "allgather";
  // torchtitan (moe/moe.py TokenReorderer + all-to-all) and DeepSpeed MoE (_AllToAll) dispatch
  // by all-to-all only.
  if (o.moe_allgather && o.framework != FrameworkKind::Megatron && o.framework != FrameworkKind::Any)
    throw_bad_input("--moe-dispatch", std::string("allgather is Megatron's dispatcher; ") + to_string(o.framework) +
                                          " dispatches MoE tokens by all-to-all");
  return o;
}

std::vector<ClusterSetting> cluster_settings(const std::vector<std::string>& texts) {
  std::vector<ClusterSetting> out;
  for (const std::string& text : texts) out.push_back(parse_cluster_setting(text, "--cluster-set"));
  return out;
}

Problem make_problem(const ProblemFlags& f) {
  if (f.model.empty()) throw_bad_input("--model", "is required");
  if (f.cluster.empty()) throw_bad_input("--cluster", "is required");
  auto positive = [](long v, const char* flag, std::int64_t max) {
    if (v <= 0)
      throw_bad_input(flag,
                      v == 0 ? "is required (a positive integer)" : "must be a positive integer (got " + std::to_string(v) + ")");
    if (v > max) throw_bad_input(flag, "must be at most " + std::to_string(max) + " (got " + std::to_string(v) + ")");
  };
  positive(f.gpus, "--gpus", limits::kMaxGpus);
  positive(f.global_batch, "--global-batch", limits::kMaxGlobalBatch);
  positive(f.seq_len, "--seq-len", limits::kMaxSeqLen);
  Problem p;
  p.model = load_model(f.model);
  p.outages = f.outages;
  auto add_list = [](std::vector<std::int64_t>& to, const std::string& text, const char* flag) {
    if (!text.empty()) {
      const std::vector<std::int64_t> more = parse_index_list(text, flag);
      to.insert(to.end(), more.begin(), more.end());
    }
    std::sort(to.begin(), to.end());
    to.erase(std::unique(to.begin(), to.end()), to.end());
  };
  add_list(p.outages.nodes, f.unavailable_nodes_text, "--unavailable-nodes");
  add_list(p.outages.gpus, f.unavailable_gpus_text, "--unavailable-gpus");
  if (!f.lost_switch.empty()) p.outages.lost_switch = f.lost_switch;
  if (f.gpu_power_limit != 0) p.outages.gpu_power_limit = f.gpu_power_limit;
  // --cluster-set first: a sweep's cluster.PATH axis, already in f.outages, sets its field after them.
  const std::vector<ClusterSetting> settings = cluster_settings(f.cluster_set);
  p.outages.settings.insert(p.outages.settings.begin(), settings.begin(), settings.end());
  p.outages.job_gpus = f.gpus;
  p.cluster = load_cluster(f.cluster, p.outages);
  p.gpus = f.gpus;
  p.global_batch = f.global_batch;
  p.seq_len = f.seq_len;
  p.options = make_options(f);
  (void)p.cluster.domain_sizes(p.gpus);  // --gpus must fit the cluster's levels
  if (!f.profile.empty()) {
    const profiler::Profile prof = profiler::read_profile(f.profile);
    std::vector<std::string> warnings;
    profiler::check_profile_hardware(prof, p.cluster.gpu, f.profile, warnings);
    for (const std::string& w : profiler::profile_warnings(prof)) warnings.push_back(f.profile + ": " + w);
    for (const std::string& w : warnings) std::cerr << "nest: warning: " << w << "\n";
    Json cm = profiler::cost_model_json(prof);
    // Point-to-point streams (pipeline sends) get the level's own send/recv fit when there is one.
    for (auto& level : cm["levels"]) {
      const int index = level["name"] == "node" ? 0 : 1;
      for (const profiler::CollectiveFit& fit : prof.fits)
        if (fit.level == index && fit.collective == "send_recv" && fit.fit.bandwidth_resolved && fit.fit.bandwidth > 0)
          level["p2p_bandwidth_GBps"] = fit.fit.bandwidth / kGB;
    }
    std::vector<std::string> notes;
    apply_cost_model(cm, f.profile, p.cluster, &notes);
    for (const std::string& n : notes) std::cerr << "nest: warning: " << f.profile << ": " << n << "\n";
    p.profile = f.profile;
  }
  return p;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& flag, int min_value) {
  std::vector<int> out;
  for (const std::string& part : split(text, ',')) {
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(part, &used);
    } catch (...) {
      used = 0;
    }
    if (part.empty() || used != part.size() || v < min_value || v > (1L << 24))
      throw_bad_input(flag, "'" + text + "' is not a comma-separated list of integers >= " + std::to_string(min_value));
    out.push_back(static_cast<int>(v));
  }
  if (out.empty()) throw_bad_input(flag, "is empty");
  return out;
}

std::vector<std::int64_t> parse_index_list(const std::string& text, const std::string& flag) {
  std::vector<std::int64_t> out;
  std::stringstream ss(text);
  std::string part;
  auto bad = [&] { throw_bad_input(flag, "'" + text + "' is not a comma-separated list of indices or ranges (3,17,40-47)"); };
  auto number = [&](const std::string& s) -> std::int64_t {
    const std::optional<std::int64_t> v = parse_index(s);
    if (!v || *v >= limits::kMaxGpus) bad();
    return *v;
  };
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    const std::int64_t lo = number(part.substr(0, dash));
    const std::int64_t hi = dash == std::string::npos ? lo : number(part.substr(dash + 1));
    if (hi < lo) bad();
    for (std::int64_t n = lo; n <= hi; ++n) out.push_back(n);
  }
  if (out.empty()) bad();
  return out;
}

LoadedPlan load_plan(const std::string& path) {
  LoadedPlan lp;
  const PlanFile pf = read_plan_file(path);
  lp.path = path;
  lp.plan = pf.plan;
  lp.model_spec = pf.model_spec;
  lp.cluster_spec = pf.cluster_spec;
  if (pf.model_spec == pf.cluster_spec) {  // a NEST solver input names both
    auto src = std::make_unique<NestCostSource>(read_nest_input(pf.model_spec));
    lp.problem = src->as_problem();
    lp.source = std::move(src);
    return lp;
  }
  ProblemFlags flags;
  flags.model = pf.model_spec;
  flags.cluster = pf.cluster_spec;
  flags.gpus = pf.gpus;
  flags.global_batch = pf.global_batch;
  flags.seq_len = pf.seq_len;
  flags.profile = pf.profile_spec;
  flags.outages = pf.outages;
  lp.problem = make_problem(flags);
  lp.problem.options = pf.options;
  lp.source = std::make_unique<AnalyticCostSource>(lp.problem);
  return lp;
}

Placement rank_map_placement(const Problem& problem, const Plan& plan, const std::string& path,
                             std::vector<std::int64_t>& gpu_of_rank) {
  const Cluster& c = problem.cluster;
  gpu_of_rank = read_rank_map(path, plan.par.gpus(), gpus_per_host(c, plan.par.gpus()));
  const auto graph =
      topology_holding(c, *std::max_element(gpu_of_rank.begin(), gpu_of_rank.end()), path, problem.outages.settings);
  return place_rank_map(c, *graph, plan.par, plan.order, gpu_of_rank, path);
}

void require_costable(const LoadedPlan& lp) {
  const std::vector<std::string> why = lp.source->check(lp.plan);
  if (!why.empty()) throw_bad_input(lp.path, "the plan cannot be costed on " + lp.problem.model.name + ": " + why.front());
}

void refuse_tabulated_costs(const std::string& flag, const std::string& inputs) {
  throw_bad_input(flag, "needs the analytic cost model (" + inputs + "), not a NEST input's tabulated costs");
}

bool stderr_is_terminal() { return isatty(2) != 0; }

double parse_bytes(const std::string& text, const std::string& flag) {
  if (text.empty()) throw_bad_input(flag, "needs a size in bytes");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string suffix(end);
  double mult = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    mult = 1024.0;
  else if (suffix == "M" || suffix == "MiB")
    mult = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else if (!suffix.empty() && suffix != "B")
    throw_bad_input(flag, "'" + text + "' is not a size (bytes, or with K, M, G)");
  v *= mult;
  if (end == text.c_str() || !std::isfinite(v) || v < 0)
    throw_bad_input(flag, "'" + text + "' is not a size (bytes, or with K, M, G)");
  return std::floor(v);
}

}  // namespace nest::cli
