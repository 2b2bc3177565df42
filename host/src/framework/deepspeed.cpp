// DeepSpeed 0.19.8 with Megatron-DeepSpeed (deepspeedai/Megatron-DeepSpeed@4efb479d): memory
// recipe and the plans it runs. Every figure cites the 0.19.8 sdist; docs/frameworks.md §4.
#include "frameworks.hpp"

#include <algorithm>

#include "nest/core/units.hpp"

namespace nest {

namespace {

// runtime/zero/config.py:113: reduce_bucket_size = 5e8 elements of the gradient dtype (bf16),
// one bucket (overlap_comm is off for stages 1 and 2, config.py:383-387; stage 3 keeps one
// contiguous bucket, stage3.py:779-784).
constexpr double kReduceBucketElements = 5e8;
// runtime/zero/config.py:245: stage3_max_live_parameters = 1e9 gathered elements at most.
constexpr double kMaxLiveParameters = 1e9;

}  // namespace

kernels::TrainingSettings DeepspeedFramework::settings(const Problem& problem, const Parallelism& par) const {
  kernels::TrainingSettings ts;
  ts.flash_attention = problem.options.flash_attention;
  ts.capacity_factor = problem.options.capacity_factor;
  ts.expert_imbalance = problem.options.expert_load;
  // Megatron-DeepSpeed pads the vocabulary as Megatron-LM does (megatron/tokenizer/tokenizer.py,
  // _vocab_size_with_padding: a multiple of --make-vocab-size-divisible-by 128 x tp).
  ts.vocab_multiple = kMegatronVocabMultiple;
  ts.act_bytes = 2;
  ts.saved_gemm_input_bytes = 2;
  // Gradients accumulate in the model dtype (grad_accum_dtype None -> bf16,
  // runtime/constants.py:384-385) and are communicated in it (communication_data_type None -> bf16,
  // engine.py:1719-1730).
  ts.grad_bytes = 2;
  ts.grad_reduce_bytes = 2;
  ts.param_gather_bytes = 2;
  ts.weight_bytes = 2;
  // fp32 master partition (4) + Adam moments (8) + the fp32 copy of the gradient partition the
  // step makes (4, stage_1_and_2.py:3107-3126; stage3.py:1302-1306): DeepSpeed's estimators count
  // the same 16 (stage_1_and_2.py:4029-4031).
  ts.optimizer_bytes = 16;
  ts.optimizer_sharded = par.zero >= 1;
  // DeepSpeed's BF16_Optimizer: at ZeRO-0 for a PipelineModule in bf16 (below), and at ZeRO-1
  // when gradients accumulate in fp32 (data_types.grad_accum_dtype; engine.py:2305-2310 in the
  // 0.19.8 sdist: bf16 model, fp32 accumulation, stage 1, no offload), as BigScience's 2022 fork ran
  // every bf16 job ("bf16 must use z0! it implements its own zero stage 1 equivalent").
  const bool bf16_optimizer = par.zero == 0 || (par.zero == 1 && problem.options.grad_accum_fp32 && !par.offload_optimizer);
  switch (bf16_optimizer ? 0 : par.zero) {
    case 0:
      // At ZeRO-0 the model is DeepSpeed's PipelineModule (deepspeed_pipeline_module), which
      // DeepSpeed trains in bf16 with its BF16_Optimizer (engine.py:1967-1974 at
      // v0.19.5: gradients accumulated in the model's dtype, pipeline_parallelism -> BFLOAT16),
      // which implements its own ZeRO-1 (bf16_optimizer.py:140-212): the bf16 weights as one
      // flat buffer, the fp32 master weights partitioned over the data-parallel group with Adam's
      // moments on them, and a flat gradient buffer of the whole model in the accumulation dtype
      // (:176) beside autograd's bf16 gradients, which it zeroes rather than frees
      // (clear_lp_grads, :473-487) and adds into the buffer after every backward
      // (update_hp_grads, :356-400; pipe/engine.py:861-884). The step casts the gradient
      // partition to fp32 (:329-333). The whole buffer is all-reduced after the pipeline drains
      // (pipe/engine.py:296-307, buffered_allreduce_fallback) and the updated bf16 partitions
      // all-gathered (update_lp_params, :454-464).
      // With fp32 accumulation the buffer holds 4 bytes a parameter (bf16_optimizer.py:191 in the
      // 0.19.8 sdist) and the step takes its partition as the gradient, no copy (:414-417); the
      // sync stays one all-reduce of the whole buffer (pipe/engine.py:297-298,
      // _bf16_reduce_grads), cast to bf16 for it (communication_data_type's default,
      // engine.py:1719-1730; allreduce_bucket, :3795-3800).
      ts.grad_bytes = problem.options.grad_accum_fp32 ? 2 + 4 : 2 + 2;
      ts.optimizer_bytes = problem.options.grad_accum_fp32 ? 4 + 8 : 4 + 8 + 4;
      ts.optimizer_sharded = 1;
      ts.weights_in_buffer = 1;
      ts.optimizer_in_buffer = 1;
      ts.grad_allreduce = 1;
      // update_hp_grads adds each bf16 gradient into the buffer as `hp_grad.add_(lp.grad.to(
      // hp_grad.dtype))` after every backward (bf16_optimizer.py:523, pipe/engine.py:862): with an
      // fp32 buffer each add makes an fp32 copy of the gradient first.
      if (problem.options.grad_accum_fp32) ts.grad_cast_bytes = 4;
      // Every backward (pipe/engine.py:838-864 in the 0.19.8 sdist) first zeroes autograd's bf16
      // gradients (clear_lp_grads, a write of 2 bytes), autograd adds the new ones into them in
      // place (read 2 + 2, write 2), and update_hp_grads adds them into the buffer: read 2, read
      // and write the buffer's 2 + 2, or with an fp32 buffer write and read the fp32 copy, 4 + 4,
      // and read and write the buffer's 4 + 4.
      ts.grad_accum_traffic = 2 + 6 + (problem.options.grad_accum_fp32 ? 2 + 8 + 8 : 2 + 4);
      break;
    case 1:
      // Stage 1 keeps every gradient whole until the accumulation boundary and a contiguous
      // bf16 partition buffer (stage_1_and_2.py:955-990, 2184-2195): counted with the optimizer.
      ts.optimizer_bytes += 2;
      ts.stage_buffer_bytes = kReduceBucketElements * 2;
      // Until the boundary the gradient hooks leave the gradients to autograd
      // (reduce_ready_partitions_and_remove_grads, stage_1_and_2.py:2293-2295 in the 0.19.8 sdist),
      // which adds each microbatch's after the first into `.grad` in place (read 2 + 2, write 2);
      // the step's zero_grad frees them, so the first of the next step writes them afresh.
      ts.grad_accum_traffic = 6.0 * (par.num_microbatches - 1) / std::max(1, par.num_microbatches);
      break;
    case 2:
      // Stage 2 reduces gradients bucket by bucket during every backward into a bf16 partition
      // and frees the rest (stage_1_and_2.py:2262-2274).
      ts.grad_sharded = 1;
      ts.grad_reduce_every_microbatch = 1;
      ts.stage_buffer_bytes = kReduceBucketElements * 2;
      break;
    default:
      // Stage 3: 16-bit parameter and gradient partitions (stage3.py:972, 786-801), modules
      // gathered one at a time with prefetch (partitioned_param_coordinator.py:452-454).
      ts.weight_sharded = 1;
      ts.grad_sharded = 1;
      ts.gathered_weight_bytes = 2;
      ts.gathered_grad_bytes = 2;
      ts.gathered_layers = 2;
      ts.stage_buffer_bytes = kReduceBucketElements * 2;
      break;
  }
  // ZeRO keeps its model state flat: the 16-bit weights as one flattened buffer per parameter
  // group (stage_1_and_2.py:436-439; stage 3's partitions, stage3.py:918), the fp32 partition the
  // optimizer steps on and hence its Adam moments (stage_1_and_2.py:506, 816-830; stage3.py:1079),
  // stage 2's gradient partition (stage_1_and_2.py:1651) and stage 3's (stage3.py:711), all at
  // v0.19.5: a few allocations each rounded to 2 MiB, which take no share of the allocator's
  // reserve. Stage 1's whole gradients are autograd's, one tensor per parameter, and do.
  if (!bf16_optimizer) {
    ts.weights_in_buffer = 1;
    ts.optimizer_in_buffer = 1;
    ts.grads_in_buffer = par.zero >= 2;
  }
  (void)kMaxLiveParameters;
  ts.offload_optimizer = par.offload_optimizer;
  // ZeRO-Offload moves the gradient partition to pinned host memory with the fp32 state
  // (stage_1_and_2.py:640-662; stage3.py:786-801); stage 1 still accumulates whole 16-bit
  // gradients on the GPU until the accumulation boundary.
  if (par.offload_optimizer && par.zero >= 2) ts.grad_bytes = 0;
  // Activation checkpoints in host memory (--checkpoint-in-cpu: deepspeed.checkpointing's
  // cpu_checkpointing, Megatron-DeepSpeed megatron/initialize.py:186-194). Without partitioned
  // activations DeepSpeed 0.19.8 drives its offload engine: the checkpoint goes out on a side
  // stream during the forward and comes back on demand in the backward, which waits for it
  // (runtime/activation_checkpointing/offload_activations.py:232-285, _restore_tensor; the last
  // one stays on the GPU, checkpointing.py:510). The checkpoints are the blocks' stored inputs
  // under full recomputation.
  ts.offload_activations = par.offload_activations;
  ts.offload_restore_exposed = 1;
  ts.host_link_bandwidth = problem.cluster.gpu.host_link_bandwidth;
  ts.host_memory_bandwidth = problem.cluster.host_memory_bandwidth;
  ts.comm_sm_fraction = comm_sm_fraction(problem.cluster.gpu);
  // The loss: Megatron-DeepSpeed's vocab_parallel_cross_entropy of output.float()
  // (megatron/model/gpt_model.py:68; megatron/core/tensor_parallel/cross_entropy.py:17-68, 124),
  // the unfused kernels of Megatron's, except that the max is subtracted out of place
  // (cross_entropy.py:25): at the forward's peak the bf16 logits, their fp32 copy and the fp32
  // difference are alive at once.
  apply_cross_entropy(CrossEntropy::Unfused, ts);
  ts.loss_bytes_per_logit = 2 + 4 + 4;
  return ts;
}

void DeepspeedFramework::check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const {
  refuse_recompute_modules(*this, par, out);
  if (problem.options.flash_attention && attention_kernel_of(problem) == AttentionKernel::Fused)
    out.add([&] {
      return std::string(
          "Megatron-DeepSpeed's fused attention is the flash-attn 2 package (--use-flash-attn-v2): use --attention-kernel "
          "flash2 (or auto)");
    });
  if (par.folded())
    out.add([&] {
      return std::string(
          "DeepSpeed MoE shards experts over the whole tp group (--enable-expert-tensor-parallelism, "
          "deepspeed/moe/layer.py:34) or keeps each expert whole on every TP rank, which nest does not model; it has no "
          "expert TP degree apart from tp");
    });
  if (par.dp_shard > 0)
    out.add([&] {
      return std::string(
          "DeepSpeed's hierarchical partitioning (ZeRO++ hpZ) shards only a secondary weight copy; nest models no HSDP "
          "for it");
    });
  if (par.pp > 1 && par.zero >= 2)
    out.add([&] {
      return std::string("DeepSpeed's pipeline engine refuses ZeRO-" + std::to_string(par.zero) +
                         " (deepspeed/runtime/pipe/engine.py:76-77, 0.19.8: \"ZeRO-2 and ZeRO-3 are incompatible with pipeline "
                         "parallelism\")");
    });
  if (par.schedule == Schedule::Interleaved)
    out.add([&] {
      return std::string("DeepSpeed's pipeline engine runs the 1F1B TrainSchedule only (deepspeed/runtime/pipe/schedule.py)");
    });
  if (par.precision != Precision::Bf16)
    out.add([&] {
      return std::string(std::string("DeepSpeed has no ") + to_string(par.precision) +
                         " training recipe; nest exports bf16 runs");
    });
  if (par.cp > 1)
    out.add([&] {
      return std::string(
          "Megatron-DeepSpeed has no ring-attention context parallelism (it offers Ulysses sequence parallelism "
          "instead)");
    });
  if (par.offload_optimizer && par.zero == 0) out.add([&] { return std::string("ZeRO-Offload needs ZeRO stage 1, 2 or 3"); });
  if (problem.options.grad_accum_fp32 && par.zero == 0)
    out.add([&] {
      return std::string(
          "DeepSpeed refuses fp32 gradient accumulation of a bf16 model without ZeRO (engine.py:2323, 0.19.8: "
          "\"unsupported mix\"); at ZeRO-1 it runs its BF16_Optimizer with an fp32 buffer");
    });
  if (problem.options.grad_accum_fp32 && (par.zero >= 2 || par.offload_optimizer))
    out.add([&] {
      return std::string(
          "fp32 gradient accumulation under ZeRO-2/3 or ZeRO-Offload runs DeepSpeed's ZeRO optimizer with fp32 "
          "partitions (stage_1_and_2.py, stage3.py: gradient_accumulation_dtype), which nest does not model; it prices ZeRO-1's "
          "BF16_Optimizer");
    });
  if (par.offload_activations && par.recompute != Recompute::Full)
    out.add([&] {
      return std::string(
          "DeepSpeed offloads activation checkpoints (--checkpoint-in-cpu), which exist under full recomputation only "
          "(--deepspeed-activation-checkpointing)");
    });
  // What Megatron-DeepSpeed (4efb479d) cannot build of the model is no reason to refuse the plan:
  // as for Megatron-LM and torchtitan it is priced as DeepSpeed would run it (BigScience's fork
  // built ALiBi and the embedding norm) and its launch script is refused (check_launch).
  const ModelConfig& m = problem.model;
  if (m.is_moe() && par.zero == 3)
    out.add([&] {
      return std::string("DeepSpeed MoE is not supported with ZeRO stage 3 (deepspeed/runtime/engine.py:2197-2218, 0.19.8)");
    });
  if (!(order == RankOrder{}))
    out.add([&] {
      return std::string("Megatron-DeepSpeed builds tp-dp-pp ranks (megatron/core/parallel_state.py); rank order " + order.str() +
                         " cannot be set");
    });
}

void DeepspeedFramework::check_switches(const Problem&, const Parallelism& par, Refusals& out) const {
  if (par.tp_comm_overlap) out.add([&] { return std::string("Megatron-DeepSpeed has no TP communication overlap"); });
  if (par.ep_comm_overlap)
    out.add(
        [&] { return std::string("Megatron-DeepSpeed has no batch-level overlap of the MoE all-to-alls (Megatron-Core's)"); });
  if (par.overlap_param_gather && par.zero <= 2)
    out.add([&] {
      return std::string(
          "DeepSpeed gathers the updated parameters after the step (ZeRO-1/2, and the BF16_Optimizer it runs at ZeRO-0) "
          "without overlapping the next forward");
    });
  // A PipelineModule's gradients are reduced by the pipeline engine after the pipeline drains
  // (pipe/engine.py:296-307 at v0.19.5), and DeepSpeed turns overlap_comm off for it at ZeRO-1/2
  // (engine.py:2346-2349 at v0.19.5).
  if (par.overlap_grad_reduce && deepspeed_pipeline_module(par))
    out.add([&] {
      return std::string(
          "DeepSpeed's pipeline engine, which runs the model under pipeline parallelism and at ZeRO-0/1, reduces gradients "
          "after the last backward and turns overlap_comm off (deepspeed/runtime/engine.py:2663-2666)");
    });
}

}  // namespace nest
