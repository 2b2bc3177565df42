// The frameworks behind nest/framework/framework.hpp. Each has its recipe and rules in
// <name>.cpp and its launch script in <name>_launch.cpp.
#pragma once

#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"

namespace nest {

// Fraction of the GPU's SMs a communication kernel running beside compute occupies: NCCL runs one
// CTA per channel (16 ring channels on 8-GPU NVLink nodes with a NIC per GPU) and Transformer
// Engine's userbuffers default to 16 SMs for the pipelined TP overlap.
double comm_sm_fraction(const GpuSpec& gpu);

// Megatron-LM's and Megatron-DeepSpeed's --make-vocab-size-divisible-by default: the embedding and
// LM head are padded to a multiple of this times tp.
inline constexpr double kMegatronVocabMultiple = 128;

// Megatron: whether the plan holds its weights quantised (FP8/MXFP8 weights gathered and kept in
// their format, --fp8-param-gather, with the distributed optimizer or Megatron-FSDP), and whether
// its distributed optimizer keeps the fp32 main weights as 16-bit remainders of bf16 weights
// (the --store-param-remainders option, where the weights are bf16 and the optimizer is Megatron's
// distributed optimizer). One place for both: the memory recipe and the launch script read them.
bool megatron_holds_quantised_weights(const Parallelism& par);
bool megatron_stores_param_remainders(const Problem& problem, const Parallelism& par);
// Megatron-Core's DDP (ZeRO-0 and the distributed optimizer) reduces in buckets under
// --overlap-grad-reduce; Megatron-FSDP (ZeRO-2/3) layer by layer.
inline bool megatron_buckets_gradients(const Parallelism& par) { return par.zero <= 1; }

// Megatron-DeepSpeed's --expert-interval for the model's MoE blocks (0: no interval expresses
// them), and the DeepSpeed config JSON of a plan (deepspeed_launch.cpp).
int deepspeed_expert_interval(const ModelConfig& model);
Json deepspeed_config(const Problem& problem, const Plan& plan);
// Whether Megatron-DeepSpeed builds the model as DeepSpeed's PipelineModule: always, but where
// the export writes --no-pipeline-parallel (one stage at ZeRO-2/3, which the pipeline engine
// refuses). A PipelineModule's gradients are reduced by the pipeline engine after the last
// backward, never overlapped, and at ZeRO-0 in bf16 DeepSpeed trains it with its BF16_Optimizer.
// One place: the memory recipe, the switch rules and the launch script read it.
bool deepspeed_pipeline_module(const Parallelism& par);

class MegatronFramework final : public Framework {
 public:
  FrameworkKind kind() const override { return FrameworkKind::Megatron; }
  const char* name() const override { return "megatron"; }
  const char* release() const override { return "Megatron-LM core_v0.19"; }
  kernels::TrainingSettings settings(const Problem& problem, const Parallelism& par) const override;
  // --tp-comm-overlap: Transformer Engine's userbuffers, allocated once at start
  // (megatron/training/initialize.py:159, 187-262 at core_v0.19.0) outside PyTorch's caching
  // allocator (cuMemCreate / cudaMalloc in register_user_buffer_collective); 0 at TP 1.
  double tp_overlap_bytes(const Problem& problem, const Parallelism& par) const override;
  bool buckets_gradients(const Parallelism& par) const override { return megatron_buckets_gradients(par); }
  void check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const override;
  void check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const override;
  std::vector<int> zero_stages() const override { return {0, 1, 3}; }
  std::vector<RankOrder> rank_orders() const override;
  bool has_tp_comm_overlap() const override { return true; }
  bool has_expert_tp() const override { return true; }
  bool has_optimizer_offload() const override { return true; }
  bool has_activation_offload() const override { return true; }
  bool has_partial_activation_offload() const override { return true; }
  bool has_recompute_modules() const override { return true; }
  std::string launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const override;
  void check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const override;
};

class TorchtitanFramework final : public Framework {
 public:
  FrameworkKind kind() const override { return FrameworkKind::Torchtitan; }
  const char* name() const override { return "torchtitan"; }
  const char* release() const override { return "torchtitan 0.3"; }
  // components/quantization/float8.py:58: recipe_name rowwise (default) | rowwise_with_gw_hp.
  // Tensorwise is costed for runs of earlier torchtitan (torchao's tensorwise recipe with the
  // FSDP float8 all-gather) but not exported.
  Fp8Recipe fp8_recipe() const override { return Fp8Recipe::Rowwise; }
  bool torch_pipeline_schedule() const override { return true; }  // ScheduleInterleaved1F1B (torch pipelining)
  bool tp_shards_sequence() const override { return true; }
  bool has_fp8_recipe(Fp8Recipe) const override { return true; }
  // Its dataloader gives per-document positions and its language models' FlexAttention / varlen
  // build a causal mask per document from them (hf_datasets/text_datasets.py:144-156,
  // trainer.py:725-750, models/common/decoder.py:277-305).
  bool masks_per_document() const override { return true; }
  kernels::TrainingSettings settings(const Problem& problem, const Parallelism& par) const override;
  void check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const override;
  void check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const override;
  std::vector<int> zero_stages() const override { return {0, 3}; }
  std::vector<RankOrder> rank_orders() const override { return {RankOrder{}}; }
  bool has_tp_comm_overlap() const override { return true; }
  bool has_hsdp() const override { return true; }
  bool has_optimizer_offload() const override { return true; }
  bool has_activation_offload() const override { return false; }
  std::string launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const override;
  void check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const override;
};

class DeepspeedFramework final : public Framework {
 public:
  FrameworkKind kind() const override { return FrameworkKind::Deepspeed; }
  // Megatron-DeepSpeed calls the flash-attn 2 package (--use-flash-attn-v2).
  AttentionKernel attention_kernel() const override { return AttentionKernel::Flash2; }
  const char* name() const override { return "deepspeed"; }
  const char* release() const override { return "DeepSpeed 0.19.8 with Megatron-DeepSpeed 4efb479d"; }
  kernels::TrainingSettings settings(const Problem& problem, const Parallelism& par) const override;
  void check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const override;
  void check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const override;
  std::vector<int> zero_stages() const override { return {0, 1, 2, 3}; }
  std::vector<RankOrder> rank_orders() const override { return {RankOrder{}}; }
  bool has_tp_comm_overlap() const override { return false; }
  bool has_optimizer_offload() const override { return true; }
  bool has_activation_offload() const override { return true; }
  std::string launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const override;
  void check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const override;
};

// No framework's rules (FrameworkKind::Any): Megatron-LM's recipe over the whole space.
class AnyFramework final : public Framework {
 public:
  FrameworkKind kind() const override { return FrameworkKind::Any; }
  const char* name() const override { return "any"; }
  const char* release() const override { return "no framework (the cost model's whole space)"; }
  bool has_fp8_recipe(Fp8Recipe) const override { return true; }
  bool masks_per_document() const override { return true; }
  kernels::TrainingSettings settings(const Problem& problem, const Parallelism& par) const override;
  // Megatron's memory recipe, buckets included (any.cpp).
  bool buckets_gradients(const Parallelism& par) const override { return megatron_buckets_gradients(par); }
  void check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const override;
  void check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const override;
  std::vector<int> zero_stages() const override { return {0, 1, 2, 3}; }
  bool has_tp_comm_overlap() const override { return true; }
  bool has_hsdp() const override { return true; }
  bool has_expert_tp() const override { return true; }
  bool has_optimizer_offload() const override { return true; }
  bool has_activation_offload() const override { return true; }
  bool has_partial_activation_offload() const override { return true; }
  bool has_recompute_modules() const override { return true; }
  std::string launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const override;
  void check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const override;
};

// How torchao's float8 / MX linears quantise their operands for this slice: the recipe, and
// under tensorwise scaling the float8 FSDP and TP all-gathers (torchtitan.cpp). Sets
// ts.cast_recipe, ts.expert_cast_recipe (MoE: torchao's grouped-GEMM ops), ts.lowp_param_gather_bytes
// and ts.lowp_tp_gather_bytes.
void apply_torchao_casts(const Problem& problem, const Parallelism& par, kernels::TrainingSettings& ts);

// The loss's HBM traffic and kept bytes per logit of a Megatron-style vocabulary-parallel cross
// entropy (megatron.cpp; Auto is Megatron-LM's default, unfused).
void apply_cross_entropy(CrossEntropy c, kernels::TrainingSettings& ts);

}  // namespace nest
