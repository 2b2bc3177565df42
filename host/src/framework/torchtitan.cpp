// torchtitan 0.3 (FSDP2 + TP + PP + CP + EP in PyTorch): memory recipe and the plans it runs.
// File:line citations are at torchtitan 0.3.0 (PyPI wheel); docs/frameworks.md §3.
#include <algorithm>

#include "frameworks.hpp"

namespace nest {

void apply_torchao_casts(const Problem& problem, const Parallelism& par, kernels::TrainingSettings& ts) {
  using kernels::CastRecipe;
  if (par.precision == Precision::Bf16) return;
  // The routed experts run torchao's grouped-GEMM training ops whatever the linears' recipe:
  // torchtitan's Float8GroupedExpertsConverter (components/quantization/float8.py:179-264: dynamic
  // float8 rowwise, torchao's default Float8TrainingOpConfig) and MXFP8GroupedExpertsConverter
  // (mx.py:104-206, mxfp8_rceil: the weight gradient in MXFP8 too).
  if (problem.model.is_moe()) ts.expert_cast_recipe = static_cast<int>(CastRecipe::TorchaoGrouped);
  if (par.precision != Precision::Fp8) {
    ts.cast_recipe = static_cast<int>(CastRecipe::TorchaoMx);
    return;
  }
  switch (fp8_recipe_of(problem)) {
    case Fp8Recipe::Auto:
    case Fp8Recipe::Rowwise:
      ts.cast_recipe = static_cast<int>(CastRecipe::TorchaoRowwise);
      break;
    case Fp8Recipe::RowwiseGwHp:
      ts.cast_recipe = static_cast<int>(CastRecipe::TorchaoRowwiseGwHp);
      break;
    case Fp8Recipe::Tensorwise: {
      // torchao's tensorwise recipe as its benchmark runs it (benchmarks/float8/training/llama3.sh:35-36:
      // enable_fsdp_float8_all_gather, precompute_float8_dynamic_scale_for_fsdp): FSDP gathers the
      // blocks' linear weights in float8. torchtitan's float8 TP (Float8ColwiseParallel /
      // Float8RowwiseParallel, used with tensorwise scaling only) all-gathers float8 activations.
      const bool fsdp = par.zero >= 3;
      ts.cast_recipe = static_cast<int>(fsdp ? CastRecipe::TorchaoTensorwiseGathered : CastRecipe::TorchaoTensorwise);
      if (fsdp) ts.lowp_param_gather_bytes = kernels::operand_bytes(Precision::Fp8);
      if (par.tp > 1) ts.lowp_tp_gather_bytes = kernels::operand_bytes(Precision::Fp8);
      break;
    }
  }
}

kernels::TrainingSettings TorchtitanFramework::settings(const Problem& problem, const Parallelism& par) const {
  kernels::TrainingSettings ts;
  ts.flash_attention = problem.options.flash_attention;
  ts.capacity_factor = problem.options.capacity_factor;
  ts.expert_imbalance = problem.options.expert_load;
  ts.act_bytes = 2;
  // Parameters are created in fp32 (training.dtype float32, config/configs.py:78) and sharded by
  // FSDP2 over the data-parallel shard group; gradients are reduce-scattered in fp32
  // (mixed_precision_reduce, distributed/fsdp.py:165-169) into the same sharding; AdamW keeps two
  // fp32 moments per sharded parameter (components/optimizer.py:109-126). The fp32 parameters are
  // the master copy: nothing else is kept.
  ts.weight_bytes = 4;
  ts.grad_bytes = 4;
  ts.optimizer_bytes = 8;
  ts.grad_reduce_bytes = 4;
  // The step starts with optimizers.zero_grad(set_to_none=training.disable_cuda_graphs)
  // (trainer.py:874), and nest's export disables CUDA graphs (torchtitan_launch.cpp); releases
  // before CUDA graphs called zero_grad() with torch.optim's default set_to_none=True. The
  // fused AdamW (components/optimizer/optimizer.py:109-111, the default) steps in place.
  ts.grads_freed_each_step = 1;
  ts.param_gather_bytes = 2;             // param_dtype bf16: layers are all-gathered in bf16
  ts.optimizer_traffic = 4 + 8 + 8 + 4;  // fused AdamW: read the fp32 gradient, read and write parameter and moments
  ts.optimizer_sharded = par.zero >= 3;
  if (par.zero >= 3) {
    ts.weight_sharded = 1;
    ts.grad_sharded = 1;
    // fully_shard per transformer block: the running layer and the prefetched one are gathered
    // in bf16; the layer's gradient is reduce-scattered from an fp32 copy.
    ts.gathered_weight_bytes = 2;
    ts.gathered_layers = 2;
    ts.gathered_grad_bytes = 4;
    // reshard_after_forward "default" is False under pipeline parallelism (distributed/fsdp.py:54-78):
    // every local stage stays gathered in bf16 through the step, and its gradients accumulate
    // unsharded over the microbatches, in FSDP2's reduce dtype (fp32 here: torch
    // distributed/fsdp/_fully_shard/_fsdp_param.py:1163-1169, unsharded_grad_dtype), and are
    // reduce-scattered once.
    if (par.pp > 1) {
      ts.stage_stays_gathered = 1;
      ts.gathered_grad_bytes = 4;
    }
  }
  // Eager PyTorch (no compile): SiLU(w1 x) * w3 x keeps the SiLU output besides both projections.
  ts.eager_ffn_copies = problem.options.compile ? 0 : 1;
  ts.selective_op_policy = 1;
  // ChunkedLossWrapper: lm_head and the fp32 cross entropy over 8 sequence chunks, each chunk's
  // forward and backward before the next (models/llama3/config_registry.py:187-191,
  // --loss.num_chunks; components/loss.py:741-766). Eager, F.cross_entropy of the fp32 upcast
  // (components/loss.py:60-63) peaks in its backward: the log-softmax output it saved, NLL's
  // gradient (a dense fp32 tensor) and log-softmax's gradient, 12 bytes per logit, above the
  // forward's bf16 logits, fp32 upcast and log-softmax (10). Under TP the loss is
  // vocabulary-parallel (_LossParallelCrossEntropy, components/loss.py:68-220; before it torch's
  // loss_parallel, torch/distributed/tensor/parallel/loss.py:451-518, the same backward): its
  // backward computes (zeros + exp(log_probs)) * grad with the saved log-probabilities, the
  // zeros with the target's -1 and the sum alive at once, 16 bytes per local logit. The bf16
  // logits' 2 bytes stay reserved on top: the wrapper's `logits` is alive through the chunk's
  // backward; releases before it (--loss-chunks 1) deleted them (`del pred`, train.py at
  // 9dec370), but the caching allocator keeps their segment, too small for any of the fp32
  // requests that follow (it does not merge segments), until the backward's bf16 gradient takes
  // it. Compiled (compile.components "loss", config/configs.py:298), Inductor fuses upcast,
  // log-softmax and NLL and recomputes them in the backward from the bf16 logits, which are
  // alive with their bf16 gradient (no fp32 buffer of the logits' size in either graph:
  // docs/tools/compiled_loss_buffers.py, PyTorch 2.6.0 and 2.9.1).
  const bool loss_compiled = problem.options.compile_loss < 0 ? problem.options.compile : problem.options.compile_loss > 0;
  ts.loss_chunks = problem.options.loss_chunks > 0 ? problem.options.loss_chunks : 8;
  // With MTP modules the loss is MTPLoss, one cross entropy over all logits, unchunked
  // (models/deepseek_v3/mtp.py:324-343; the export writes it, torchtitan_launch.cpp).
  if (problem.model.mtp_layers > 0) ts.loss_chunks = 1;
  const double eager_loss_backward = par.tp > 1 ? 4 + 4 + 4 + 4 : 4 + 4 + 4;
  ts.loss_bytes_per_logit = loss_compiled ? 2 + 2 : eager_loss_backward + 2;
  // torchao float8/MX linears quantise weights every pass from the high-precision copy (no
  // cache); compiled, the amax of an activation is fused into its producer.
  ts.fused_casts = problem.options.compile;
  apply_torchao_casts(problem, par, ts);
  // feed_forward.py:49-54: w1 and w3 are separate linears; attention.py:746-764 (QKVLinear) or
  // 787-830 (FusedQKVLinear, llama3's default in 0.3).
  ts.separate_gate_up = 1;
  ts.separate_qkv = problem.options.fuse_qkv ? 0 : 1;
  // PyTorch pipelining's stage appended every forward output to output_chunks for step() to
  // return (torch/distributed/pipelining/stage.py, forward_one_chunk); torchtitan passes
  // return_outputs=False since e5ef99aab (trainer.py:862 in 0.3), and only then is the last
  // stage's logits tensor freed after its backward.
  ts.pp_keeps_outputs = problem.options.pp_keeps_outputs && par.pp > 1;
  // Until its receive buffers became lazy (pytorch/pytorch#193872, #196463; 2026-08/09) a stage
  // allocated one per microbatch and chunk at setup (_prepare_forward_infra, and
  // _prepare_backward_infra through _create_grad_recv_info) and kept every input gradient in its
  // buffer's .grad until clear_runtime_states at the next step (stage.py).
  ts.pp_keeps_receive_buffers = problem.options.pp_keeps_receive_buffers && par.pp > 1;
  // Every version holds a chunk's output, the tensor it sent, until that microbatch's backward
  // runs autograd from it (stage.py: fwd_cache, popped by backward_one_chunk).
  ts.pp_holds_outputs = par.pp > 1 ? 1 : 0;
  // Context parallelism: PyTorch's ring attention (distributed/context_parallel/api.py wraps SDPA
  // in CP DTensors) with its default all-gather rotater; torchtitan sets no other rotate method.
  ts.cp_ring_allgather = 1;
  // Before pytorch/torchtitan@ff0829c10 (2026-01-27, "GQA without kv repeats") the attention
  // repeated K and V to every query head (repeat_kv) and called SDPA on those: ring attention
  // exchanged the repeated K and V, and eager autograd saved them (models/llama/model.py:201-209
  // at 9dec370).
  ts.kv_repeated = problem.options.repeat_kv;
  // A causal mask per document packed in the sequence (torchtitan 0.3: FlexAttention / varlen
  // over its dataloader's per-document positions, trainer.py:725-750, models/common/decoder.py:
  // 277-305); the documents' length is the data's, an input.
  ts.document_length = static_cast<double>(problem.options.document_length);
  // Without torch.compile the norms, rotary embedding and SwiGLU run as eager PyTorch ops
  // (nn.RMSNorm's composite F.rms_norm, the complex RoPE of models/common/rope.py:255-265,
  // F.silu(w1 x) * w3 x of models/common/feed_forward.py:54).
  ts.fused_elementwise = problem.options.compile;
  ts.tp_comm_overlap = par.tp_comm_overlap;
  ts.offload_optimizer = par.offload_optimizer;
  ts.host_link_bandwidth = problem.cluster.gpu.host_link_bandwidth;
  ts.host_memory_bandwidth = problem.cluster.host_memory_bandwidth;
  ts.comm_sm_fraction = comm_sm_fraction(problem.cluster.gpu);
  return ts;
}

void TorchtitanFramework::check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const {
  refuse_recompute_modules(*this, par, out);
  if (!problem.options.compile && problem.options.compile_loss > 0)
    out.add([&] {
      return std::string(
          "torchtitan compiles the loss only with the model (--compile.enable; compile.components, config/configs.py:298)");
    });
  if (par.zero == 1 || par.zero == 2)
    out.add([&] {
      return std::string("torchtitan shards with FSDP2 (ZeRO-3) or not at all; it has no ZeRO-" + std::to_string(par.zero) +
                         " (data_parallel_replicate_degree / data_parallel_shard_degree, config/configs.py:113-124)");
    });
  if (par.dp_shard > 0 && par.zero != 3)
    out.add([&] {
      return std::string(
          "HSDP (data_parallel_replicate_degree > 1 with data_parallel_shard_degree > 1) shards with FSDP2: ZeRO-3");
    });
  if (par.folded())
    out.add([&] {
      return std::string(
          "torchtitan 0.3 has no expert tensor-parallel degree (its expert mesh is pp, dp_replicate, efsdp, ep: "
          "distributed/parallel_dims.py:336-340, config/configs.py:279-287)");
    });
  if (tp_shards_sequence() && par.sp != (par.tp > 1))
    out.add([&] { return std::string("torchtitan's tensor parallelism always shards the sequence (sequence parallel)"); });
  if (par.precision == Precision::Nvfp4 && problem.model.is_moe())
    out.add([&] {
      return std::string(
          "torchtitan 0.3 has no NVFP4 experts (components/quantization/nvfp4.py converts linear layers only; the grouped "
          "experts converters are float8's and MXFP8's, float8.py:212, mx.py:149)");
    });
  if (par.offload_activations)
    out.add([&] {
      return std::string(
          "torchtitan 0.3 has no activation offloading (its one offload switch is FSDP's, config/configs.py:61-64)");
    });
  if (par.offload_optimizer && par.zero != 3)
    out.add([&] {
      return std::string("FSDP CPU offload (--training.enable_cpu_offload) needs FSDP (ZeRO-3) (distributed/fsdp.py:173-174)");
    });
  // The export shards over the data-parallel group for ZeRO-3 (over the HSDP shard group with
  // dp_shard) and replicates over it otherwise (dp_shard = 1), so experts spread over dp only
  // under ZeRO-3.
  const long dp_shard = par.zero >= 3 ? (par.dp_shard > 0 ? par.dp_shard : par.dp) : 1;
  if (par.ep > 1 && (dp_shard * par.cp * par.tp) % par.ep != 0)
    out.add([&] {
      return std::string(
          "expert parallelism must divide dp_shard * cp * tp (torchtitan distributed/parallel_dims.py:279); dp_shard is " +
          std::to_string(dp_shard) + " for ZeRO-" + std::to_string(par.zero));
    });
  if (par.cp > 1 && problem.seq_len % (2L * par.cp * (par.tp > 1 ? par.tp : 1)) != 0)
    out.add([&] { return std::string("the sequence must split into 2 cp x tp chunks (torchtitan trainer.py:306-315)"); });
  // DeepSeek-V3's multi-token prediction in torchtitan 0.3 (MTPDecoder.Config.update_from_config);
  // its loss (MTPLoss) is not chunked.
  if (problem.model.mtp_layers > 0 && problem.options.loss_chunks > 1)
    out.add([&] {
      return std::string("torchtitan 0.3's MTP loss is not chunked (MTPLoss, models/deepseek_v3/mtp.py:324-343): --loss-chunks " +
                         std::to_string(problem.options.loss_chunks));
    });
  if (problem.model.mtp_layers > 0 && par.pp > 1)
    out.add([&] {
      return std::string(
          "torchtitan 0.3 runs multi-token prediction without pipeline parallelism only (models/deepseek_v3/mtp.py:199-204)");
    });
  if (problem.model.mtp_layers > 0 && par.cp > 1)
    out.add([&] {
      return std::string(
          "torchtitan 0.3 runs multi-token prediction without context parallelism only (models/deepseek_v3/mtp.py:205-209)");
    });
  if (par.pp > 1 && problem.model.tied_embeddings)
    out.add([&] {
      return std::string("torchtitan does not tie embeddings under pipeline parallelism (models/common/decoder.py:139-142)");
    });
  if (par.schedule == Schedule::Interleaved && par.num_microbatches % std::max(1, par.num_microbatches / par.pp) != 0)
    out.add([&] {
      return std::string(
          "Interleaved1F1B needs the microbatches to be a multiple of max(1, microbatches / pp) "
          "(torch/distributed/pipelining/schedules.py)");
    });
  if (par.pp > 1 && par.schedule == Schedule::OneFOneB && par.num_microbatches < par.pp)
    out.add([&] {
      return std::string(
          "Schedule1F1B needs at least as many microbatches as stages (torch/distributed/pipelining/schedules.py:1440-1444)");
    });
  // Device mesh (pp, dp_replicate, dp_shard, cp, tp), experts inside dp_shard x cp x tp
  // (distributed/parallel_dims.py:208-279): innermost first, tp-cp-ep-dp-pp.
  if (!(order == RankOrder{}))
    out.add([&] {
      return std::string(
          "torchtitan's device mesh is tp-cp-ep-dp-pp (innermost first, distributed/parallel_dims.py:208-279); rank order " +
          order.str() + " cannot be set");
    });
}

void TorchtitanFramework::check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const {
  if (par.ep_comm_overlap)
    out.add([&] { return std::string("torchtitan has no batch-level overlap of the MoE all-to-alls (Megatron-Core's)"); });
  if (par.tp_comm_overlap && par.tp == 1)
    out.add([&] { return std::string("async tensor parallelism needs tp > 1 (models/llama3/config_registry.py:80-88)"); });
  // 0.3's async TP is the dist_gemm GEMM backend, which only the grouped-query attention and the
  // dense MLP builders take (make_gqa_config / make_ffn_config, models/common/config_utils.py:187-310);
  // no MoE, MLA or GPT-OSS layer builder has it.
  if (par.tp_comm_overlap && (problem.model.is_moe() || problem.model.attention() == AttentionKind::Mla))
    out.add([&] {
      return std::string(
          "torchtitan 0.3's async tensor parallelism (tp_gemm_backend dist_gemm) exists for dense grouped-query blocks only "
          "(models/common/config_utils.py:187-310)");
    });
  // Not a rule here: async TP with separate q, k, v is what torchtitan ran before 0.3 (torch.compile's
  // micro-pipelined TP), which --fuse-qkv off models; 0.3's dist_gemm needs them fused, so the
  // export refuses that combination (torchtitan_launch.cpp).
  if (!par.overlap_grad_reduce || par.overlap_param_gather != (par.zero >= 3))
    out.add([&] {
      return std::string(
          "FSDP2 always overlaps its reduce-scatters (and DDP its all-reduces) with the backward, and its "
          "parameter gathers with the forward");
    });
}

}  // namespace nest
