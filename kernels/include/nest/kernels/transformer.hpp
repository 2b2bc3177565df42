// Per-layer cost of a transformer under one slice (tp, cp, ep, sp, microbatch, recomputation,
// ZeRO stage, placement): parameters, FLOPs, memory-bound bytes, stored activations and the
// layer's own collectives, composed into a LayerCost (stage.hpp). Every formula is derived in
// docs/cost-model.md with its source:
//   FLOPs       Narayanan et al. SC21 eq. 3, generalised to GQA, SwiGLU and top-k MoE
//   activations Korthikanti et al. 2022 §4 (Table 2), generalised the same way
//   collectives Megatron-LM tensor/sequence/context/expert parallelism, collectives.hpp
#pragma once

#include "nest/kernels/collectives.hpp"
#include "nest/kernels/operators.hpp"
#include "nest/kernels/stage.hpp"

namespace nest::kernels {

enum class LayerKind : int { Embedding = 0, Block = 1, Head = 2 };
enum class Recompute : int { None = 0, Selective = 1, Full = 2 };

// What selective recomputation recomputes: Megatron-Core's --recompute-modules
// (megatron/core/transformer/transformer_config.py:546-561 at core_v0.19), one bit each. core_attn
// (the default), mlp, moe (the whole MoE layer: router, dispatch, experts, combine, shared
// experts; moe_layer.py:694-709) and shared_experts (moe_layer.py:510-524) are checkpointed (the
// input kept, the module's forward run again); layernorm, moe_act and mla_up_proj discard their
// output once its consumers have run and recompute it before their backward
// (CheckpointWithoutOutput). torchtitan's op-level policy ignores them
// (TrainingSettings::selective_op_policy).
enum RecomputeModule : int {
  kRecomputeCoreAttn = 1,
  kRecomputeLayernorm = 2,
  kRecomputeMoeAct = 4,
  kRecomputeMlaUpProj = 8,
  kRecomputeMlp = 16,
  kRecomputeMoe = 32,
  kRecomputeSharedExperts = 64,
};
constexpr int kRecomputeModuleCount = 7;

// Dimensions of one layer node. experts == 0 means a dense block. The attention is multi-head,
// grouped-query or multi-query by kv_heads, or multi-head latent attention (DeepSeek-V2/V3) when
// kv_lora > 0; docs/cost-model.md §1 gives every count.
struct LayerDims {
  LayerKind kind = LayerKind::Block;
  double hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  double vocab = 0, positions = 0, type_vocab = 0;  // positions: learned position rows (0: rotary)
  double experts = 0, topk = 0, moe_ffn = 0, shared_ffn = 0;
  double attention_window = 0;  // 0: the whole sequence
  int attention_chunked = 0;    // the window is a chunk (Llama 4): a query sees the earlier keys of its chunk
  int gated_mlp = 1;            // SwiGLU / GeGLU (3 matrices) or GeLU / ReLU / squared ReLU (2)
  int layernorm = 0;            // LayerNorm (weight + bias) or RMSNorm (weight)
  int linear_bias = 0;          // biases on every linear layer (GPT-2/3, BERT)
  int qkv_bias = 0;             // biases on Q, K, V (Qwen2)
  int out_bias = 0;             // bias on the attention output projection
  int mlp_bias = 0;             // biases on the MLP projections (dense, shared and routed experts)
  int rotary = 1;
  int dropout = 0;    // dropout after attention and MLP (masks are stored)
  int lm_weight = 1;  // vocab x hidden matrices the head holds (untied LM head, pipeline copies)
  // The embedding and the head hold copies of one tied matrix on the first and last pipeline
  // stage: their gradients are all-reduced between the two every step.
  int tied_copy = 0;
  int bert_head = 0;  // BERT pooler + MLM transform instead of a final norm
  int causal = 1;     // causal self-attention (decoders); BERT attends both ways
  // Attention variants
  double v_head_dim = 0;  // value head dimension (0: head_dim); head_dim is the query/key one
  double q_lora = 0;      // MLA: query down-projection rank (0: a full query projection)
  double kv_lora = 0;     // MLA: key/value latent rank (0: not MLA)
  double rope_dim = 0;    // MLA: decoupled RoPE key dimension, shared by the heads (part of head_dim)
  int qk_norm = 0;        // norm on queries and keys per head: 0 none, 1 RMSNorm with weights, 2 L2 (no weights)
  int sinks = 0;          // learned attention-sink logit per head (GPT-OSS)
  // Block layout
  double norms = 2;        // norms per block (Gemma 2/3: 4, GPT-J and Falcon-7B: 1)
  int sandwich = 0;        // two of them normalise the attention and MLP outputs (Gemma 2/3)
  int parallel_block = 0;  // attention and MLP read the same input and add to one residual (GPT-J, NeoX, Falcon)
  // Mixture of experts
  int shared_gate = 0;  // sigmoid gate on the shared expert (Qwen2-MoE): hidden parameters
  int router_bias = 0;  // router bias (GPT-OSS): one per expert
  // Embedding and head
  int embed_norm = 0;  // norm after the embedding (BLOOM)
  int lm_bias = 0;     // LM head bias (GPT-J)
  double mtp = 0;      // head: multi-token-prediction modules (DeepSeek-V3), each a block of these dimensions
};

// The slice quantities a layer's cost depends on.
struct ParallelShape {
  double microbatch = 1, seq_len = 1;
  double tp = 1, cp = 1, ep = 1;
  double etp = 0;    // expert tensor parallelism (0: tp; "parallel folding" when it differs)
  double dp = 1;     // dense gradient-sync group size (data x context parallel)
  double edp = 1;    // expert gradient-sync group size (tp cp dp / (etp ep))
  double shard = 0;  // HSDP: dense ZeRO / FSDP shard group size (dp_shard x cp); 0: the whole dp group
  int sp = 0;
  Recompute recompute = Recompute::None;
  int recompute_modules = kRecomputeCoreAttn;  // RecomputeModule bits, with Recompute::Selective
  int zero = 0;
};

// Whether the slice's selective recomputation recomputes `module` (a RecomputeModule).
NEST_HD_INLINE bool recomputes(const ParallelShape& s, int module) {
  return s.recompute == Recompute::Selective && (s.recompute_modules & module) != 0;
}

NEST_HD_INLINE double shard_size(const ParallelShape& s) { return s.shard > 0 ? s.shard : s.dp; }

// What the framework keeps and moves per parameter and per layer, for one slice: its memory
// recipe (host/src/framework/*.cpp fills this for Megatron-LM, torchtitan and DeepSpeed from their
// code; docs/frameworks.md cites it) and the precision and overlap settings (docs/cost-model.md §6-7).
struct TrainingSettings {
  double act_bytes = 2;  // bf16 activations
  // Model state per parameter of this GPU's share (after TP, EP and PP), and whether it is
  // divided over the data-parallel (ZeRO / FSDP shard) group.
  double weight_bytes = 2;  // resident weights (bf16; fp32 where the framework shards fp32 parameters)
  int weight_sharded = 0;   //
  double grad_bytes = 4;    // resident gradients (Megatron: fp32 main grads)
  int grad_sharded = 0;     //
  // The gradients are freed before every forward (PyTorch's zero_grad(set_to_none=True)) rather
  // than kept in a persistent buffer (Megatron's main_grad): in a step of one microbatch they
  // come into being during the backward as the activations go (SliceContext::grads_apart).
  int grads_freed_each_step = 0;
  // The weights (gradients, optimizer state) live in a few flat buffers (Megatron-Core's DDP
  // buffers, DeepSpeed's flattened partitions), not in tensors of their own: the allocator's
  // reserve does not apply to them (LayerCost::buffered_bytes).
  int weights_in_buffer = 0;
  int grads_in_buffer = 0;
  int optimizer_in_buffer = 0;
  double optimizer_bytes = 12;  // fp32 master weights (when kept apart from the weights) + two Adam moments
  int optimizer_sharded = 1;    //
  // The data-parallel gradient sync is one all-reduce of the whole gradients although the
  // optimizer is sharded (DeepSpeed's BF16_Optimizer at ZeRO-1, fp32 accumulation); otherwise the
  // ZeRO stage decides (SliceContext::zero_stage).
  int grad_allreduce = 0;
  // Bytes per element of the copy each gradient is cast to before it is added into an
  // accumulation buffer of another dtype (DeepSpeed's BF16_Optimizer with an fp32 buffer:
  // `hp_grad.add_(lp.grad.to(fp32))` after every backward); one tensor at a time, so the
  // largest weight's copy is the transient (largest_weight_elements). 0: no cast.
  double grad_cast_bytes = 0;
  // HBM bytes per parameter of this GPU that every microbatch's backward moves to keep a
  // framework's gradient buffer (DeepSpeed's BF16_Optimizer: zero autograd's gradients, add the
  // new ones into them, add those into the buffer); 0 where the gradient GEMMs write the buffer.
  double grad_accum_traffic = 0;
  double weight_cache_bytes = 0;  // low-precision weight copies kept across microbatches (TE FP8), not sharded
  int quantised_weights = 0;      // the blocks' linear weights are held in the low-precision format
  // Sharded weights (ZeRO-3 / FSDP): bytes per parameter of a gathered layer, the layers gathered
  // at once (the one running and the prefetched one), whether the stage keeps all its layers
  // gathered through the step (FSDP without resharding after forward, e.g. under pipelining), and
  // the layer's unsharded gradient before its reduce-scatter.
  double gathered_weight_bytes = 2;
  double gathered_layers = 2;
  int stage_stays_gathered = 0;
  double gathered_grad_bytes = 2;
  // Gradient reduction: dtype on the wire, once per step (bucketed, overlapped with the last
  // backward) or every microbatch (ZeRO-2 in DeepSpeed, FSDP).
  double grad_reduce_bytes = 4;
  double param_gather_bytes = 2;  // parameter all-gather dtype (bf16; FP8 all-gather: 1)
  int grad_reduce_every_microbatch = 0;
  // Parameters per gradient bucket of the step-end reduction on the first pipeline stage (Megatron
  // DDP's bucket_size); 0 where the reduction streams out layer by layer or is not bucketed.
  double grad_bucket_params = 0;
  double optimizer_traffic = 30;  // HBM bytes per parameter touched by one Adam step
  // Saved activations: bytes per element of a GEMM input kept for the weight gradient (the
  // activation precision, or 1 where the framework saves the FP8 copy) and extra bytes per token
  // and layer of hidden size kept by unfused (eager) kernels, in units of hidden x act_bytes.
  double saved_gemm_input_bytes = 2;
  double eager_hidden_copies = 0;
  double eager_ffn_copies = 0;
  int selective_op_policy = 0;      // selective recomputation: Megatron's attention core (0) or torchtitan's ops (1)
  double loss_bytes_per_logit = 6;  // bytes the LM head and loss keep per logit
  // HBM bytes per local logit the loss's memory-bound kernels move in its forward and in its
  // backward (the framework's loss implementation; docs/cost-model.md §3.3).
  double loss_traffic_fwd = 2 + 2 * 4;
  double loss_traffic_bwd = 2 * (2 + 2 * 4);
  int pp_send_overlap = 0;      // pipeline sends overlap the next chunk's compute (Megatron's interleaved schedule)
  double loss_chunks = 1;       // the loss runs over this many sequence chunks, one alive at a time
  int fused_casts = 1;          // low-precision casts fused into the kernels that produce their inputs
  int cast_recipe = 0;          // how low-precision GEMM operands are quantised (CastRecipe)
  int expert_cast_recipe = -1;  // the routed experts' grouped GEMMs' recipe (CastRecipe); -1: cast_recipe
  // Projections of one input run as separate linear layers (their own GEMM, their own casts):
  // q, k and v; the gated MLP's gate and up projections. Else one fused GEMM each.
  int separate_qkv = 0;
  int separate_gate_up = 0;
  // Bytes per parameter of the blocks' linear weights in the sharded-parameter all-gather when
  // they travel quantised (torchao's FSDP float8 all-gather); 0: param_gather_bytes.
  double lowp_param_gather_bytes = 0;
  // Bytes per element of the TP all-gathers when they carry the quantised copy (torchao's
  // Float8ColwiseParallel / Float8RowwiseParallel under tensorwise scaling; reduce-scatters stay
  // bf16); 0: the activation dtype.
  double lowp_tp_gather_bytes = 0;
  int fused_elementwise = 1;      // norms, rotary and gated activations as fused kernels (else eager PyTorch ops)
  double stage_buffer_bytes = 0;  // fixed communication buckets per GPU (DeepSpeed's reduce bucket)
  // The pipeline runtime keeps the last stage's output (the logits) of every microbatch until the
  // step ends, not only until its backward (PyTorch pipelining's output_chunks before step()
  // took return_outputs=False).
  int pp_keeps_outputs = 0;
  // The pipeline runtime allocates a receive buffer per microbatch and chunk at setup and keeps
  // them, with each input gradient in its buffer's .grad until the next step (PyTorch pipelining
  // before its buffers became lazy): SliceContext::receive_buffer_bytes, stage.hpp.
  int pp_keeps_receive_buffers = 0;
  // The pipeline runtime holds each chunk's output until that microbatch's backward (PyTorch
  // pipelining's fwd_cache): SliceContext::output_buffer_bytes.
  int pp_holds_outputs = 0;
  // Context parallelism by PyTorch's ring attention with its all-gather rotater: every CP rank's
  // K and V gathered, dQ, dK, dV accumulated in fp32 (ring_attention_work_bytes).
  int cp_ring_allgather = 0;
  // K and V repeated to every query head before the attention kernel (torchtitan before
  // 2026-01-27): ring attention exchanges and eager autograd saves the repeated tensors, and
  // the forward writes them (attention_kv_width).
  int kv_repeated = 0;
  // The attention masks each document packed in a sequence on its own (torchtitan 0.3), the
  // documents this long (their size-weighted mean length, tokens); 0: one mask per sequence.
  double document_length = 0;
  double capacity_factor = 1;   // MoE: > 1 pads every expert to this multiple of perfect balance
  double expert_imbalance = 1;  // MoE dropless routing (capacity 1): busiest expert's tokens / the mean
  int moe_allgather = 0;        // MoE token dispatch: all-to-all (0) or all-gather + reduce-scatter (1)
  double vocab_multiple = 0;    // the framework pads the vocabulary to a multiple of this x tp (0: none)
  int flash_attention = 1;      // attention scores never stored (FlashAttention)
  int tp_comm_overlap = 0;      // TP collectives overlapped with GEMMs (TE userbuffers, async TP)
  // MoE all-to-alls overlapped batch-level: the forward of one microbatch runs beside the
  // backward of another, each one's dispatch and combine beside the other's compute (Megatron-Core
  // --overlap-moe-expert-parallel-comm).
  int ep_comm_overlap = 0;
  // CPU offload: the optimizer step runs on the host (fp32 master and moments there), or the
  // blocks' stored activations move to host memory during the forward and back for the backward.
  int offload_optimizer = 0;
  int offload_activations = 0;
  // The share of the blocks that offload (Megatron's first --cpu-offloading-num-layers of L,
  // under pp 1): each block is costed as that share offloaded, which gives the stage's sums
  // exactly; one block's activations are in transit either way.
  double offload_share = 1;
  // The backward waits for each offloaded layer's copy back (restored on demand, no prefetch:
  // DeepSpeed's offload engine); else the copy back is hidden behind the backward like the way out.
  int offload_restore_exposed = 0;
  double host_link_bandwidth = 0;    // bytes/s per direction between a GPU and host memory
  double host_memory_bandwidth = 0;  // bytes/s of host memory per GPU (the host's Adam step)
  // Fraction of the SMs a concurrently running communication kernel takes (NCCL channels):
  // compute overlapped with communication slows by this fraction while both run.
  double comm_sm_fraction = 0;
};

// Which groups a layer's collectives run over, on which network.
struct CommContext {
  Network net;
  GroupShape tp, cp, ep, dp, edp;
  GroupShape etp;               // expert tensor-parallel group (the tp group unless folded)
  GroupShape shard, replicate;  // ZeRO / FSDP shard group and the HSDP replicas (one member without HSDP)
  PipelineLayout pp;            // where the pipeline stages sit (pp_boundaries.hpp); stages == 1: no pipeline
};

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

struct LayerParams {
  double tp_split = 0;    // sharded over tensor parallelism
  double replicated = 0;  // replicated on every TP rank (norms, row-parallel biases, positions)
  double expert = 0;      // expert weights: sharded over ep and tp
  double router = 0;      // part of replicated, kept apart for active-parameter counts
  NEST_HD double total() const { return tp_split + replicated + expert; }
};

NEST_HD_INLINE double norm_params(const LayerDims& d, double width) { return d.layernorm ? 2 * width : width; }
NEST_HD_INLINE double norm_params(const LayerDims& d) { return norm_params(d, d.hidden); }

NEST_HD_INLINE double mlp_params(const LayerDims& d, double ffn) {
  const double h = d.hidden;
  return (d.gated_mlp ? 3 : 2) * h * ffn;
}

// Per-token widths of the attention: queries and keys have head_dim per head, values v_head_dim;
// MLA's keys and values are per query head after the up-projection.
NEST_HD_INLINE double value_dim(const LayerDims& d) { return d.v_head_dim > 0 ? d.v_head_dim : d.head_dim; }
NEST_HD_INLINE bool latent_attention(const LayerDims& d) { return d.kv_lora > 0; }
NEST_HD_INLINE double q_width(const LayerDims& d) { return d.heads * d.head_dim; }
NEST_HD_INLINE double k_width(const LayerDims& d) { return (latent_attention(d) ? d.heads : d.kv_heads) * d.head_dim; }
NEST_HD_INLINE double v_width(const LayerDims& d) { return (latent_attention(d) ? d.heads : d.kv_heads) * value_dim(d); }
NEST_HD_INLINE double o_width(const LayerDims& d) { return d.heads * value_dim(d); }
// Width per token of the K and V the attention kernel reads: the projections', or every query
// head's where the framework repeats K and V first (TrainingSettings::kv_repeated).
NEST_HD_INLINE double attention_kv_width(const LayerDims& d, int kv_repeated) {
  return kv_repeated ? d.heads * (d.head_dim + value_dim(d)) : k_width(d) + v_width(d);
}
NEST_HD_INLINE bool has_qkv_bias(const LayerDims& d) { return d.linear_bias || d.qkv_bias; }
NEST_HD_INLINE bool has_out_bias(const LayerDims& d) { return d.linear_bias || d.out_bias; }
NEST_HD_INLINE bool has_mlp_bias(const LayerDims& d) { return d.linear_bias || d.mlp_bias; }

// One transformer block: attention (multi-head / grouped / multi-query / latent) and a dense MLP
// or an MoE layer (router, routed experts, shared experts).
NEST_HD_INLINE void add_block_params(const LayerDims& d, LayerParams& p) {
  const double h = d.hidden;
  const double qw = q_width(d), kw = k_width(d), vw = v_width(d), ow = o_width(d);
  if (latent_attention(d)) {
    // MLA (DeepSeek-V2 §2.1): W_DQ h x q_lora and W_DKV h x (kv_lora + rope) with RMSNorms on the
    // latents, replicated over TP (Megatron's linear_q_down_proj / linear_kv_down_proj are
    // duplicated); W_UQ q_lora x a d_qk, W_UKV kv_lora x a (d_nope + d_v) split by heads.
    if (d.q_lora > 0) {
      p.replicated += h * d.q_lora + norm_params(d, d.q_lora);
      p.tp_split += d.q_lora * qw;
    } else {
      p.tp_split += h * qw;
    }
    p.replicated += h * (d.kv_lora + d.rope_dim) + norm_params(d, d.kv_lora);
    p.tp_split += d.kv_lora * d.heads * (d.head_dim - d.rope_dim + value_dim(d));
  } else {
    p.tp_split += h * (qw + kw + vw);
  }
  p.tp_split += ow * h;
  if (has_qkv_bias(d)) p.tp_split += qw + kw + vw;
  if (has_out_bias(d)) p.replicated += h;
  if (d.qk_norm == 1) p.replicated += 2 * d.head_dim;
  if (d.sinks) p.tp_split += d.heads;
  p.replicated += d.norms * norm_params(d);
  const double up = d.gated_mlp ? 2 : 1;
  const bool bias = has_mlp_bias(d);
  if (d.experts > 0) {
    const double router = h * d.experts + (d.router_bias ? d.experts : 0);
    p.router += router;
    p.replicated += router;
    p.expert += d.experts * (mlp_params(d, d.moe_ffn) + (bias ? up * d.moe_ffn + h : 0));
    if (d.shared_ffn > 0) {
      p.tp_split += mlp_params(d, d.shared_ffn) + (bias ? up * d.shared_ffn : 0);
      p.replicated += (bias ? h : 0) + (d.shared_gate ? h : 0);
    }
  } else {
    p.tp_split += mlp_params(d, d.ffn);
    if (bias) {
      p.tp_split += up * d.ffn;
      p.replicated += h;
    }
  }
}

NEST_HD_INLINE LayerParams layer_params(const LayerDims& d) {
  LayerParams p;
  const double h = d.hidden;
  switch (d.kind) {
    case LayerKind::Embedding:
      p.tp_split = d.vocab * h;  // vocab-parallel embedding
      p.replicated = (d.positions + d.type_vocab) * h + (d.bert_head ? 2 * h : 0) + (d.embed_norm ? norm_params(d) : 0);
      break;
    case LayerKind::Block:
      add_block_params(d, p);
      break;
    case LayerKind::Head:
      p.tp_split = d.lm_weight * d.vocab * h + (d.lm_bias ? d.vocab : 0);
      if (d.bert_head) {
        // pooler (h x h + h), MLM transform (h x h + h, LayerNorm), decoder bias (vocab)
        p.replicated = 2 * (h * h + h) + 2 * h;
        p.tp_split += d.vocab;
      } else {
        p.replicated = norm_params(d);
      }
      // DeepSeek-V3 §2.2: each MTP module has RMSNorms on the embedding and on the previous
      // depth's output, the projection M (h x 2h), a transformer block and the output head's
      // norm; embedding and output head are shared with the main model.
      for (int k = 0; k < static_cast<int>(d.mtp); ++k) {
        p.replicated += 3 * norm_params(d);
        p.tp_split += 2 * h * h;
        add_block_params(d, p);
      }
      break;
  }
  return p;
}

// Elements of the layer's largest weight tensor on one GPU, as Megatron-style models hold them:
// the vocabulary-parallel embedding or LM head, the fused QKV, the output projection, the fused
// up (and gate) projection or its down projection, one expert's. MLA's latent projections are
// taken as the query and output ones; the norms and biases are never the largest.
NEST_HD_INLINE double largest_weight_elements(const LayerDims& d, double tp, double expert_tp) {
  const double h = d.hidden;
  switch (d.kind) {
    case LayerKind::Embedding:
      return d.vocab * h / tp;
    case LayerKind::Head:
      return d.lm_weight > 0 ? d.vocab * h / tp : 0;
    case LayerKind::Block:
      break;
  }
  const double up = d.gated_mlp ? 2 : 1;
  double largest = max_of(h * (q_width(d) + k_width(d) + v_width(d)), o_width(d) * h) / tp;
  if (d.experts > 0) {
    largest = max_of(largest, up * d.moe_ffn * h / expert_tp);
    if (d.shared_ffn > 0) largest = max_of(largest, up * d.shared_ffn * h / tp);
  } else {
    largest = max_of(largest, up * d.ffn * h / tp);
  }
  return largest;
}

// Parameters that take part in one token's forward pass (MoE: topk of the experts).
NEST_HD_INLINE double active_params(const LayerDims& d) {
  const LayerParams p = layer_params(d);
  if (d.experts <= 0) return p.total();
  return p.tp_split + p.replicated + p.expert * d.topk / d.experts;
}

// ---------------------------------------------------------------------------------------------
// Compute (docs/cost-model.md §2-3; operators.hpp)
// ---------------------------------------------------------------------------------------------

// Compute cost of one layer on one GPU for one microbatch. Times are kernel-level (operators.hpp);
// layer_cost applies the launch floor and the sustained fraction.
struct LayerWork {
  double gemm_fwd = 0, gemm_bwd = 0;            // s, linear layers (and the classic attention's GEMMs)
  double attention_fwd = 0, attention_bwd = 0;  // s, fused attention core
  double memory_fwd = 0, memory_bwd = 0;        // s, memory-bound kernels and quantisation casts
  double kernels_fwd = 0;                       // kernels launched by the forward pass (backward: twice)
  double gemm_flops = 0;                        // FLOP on this GPU, forward (MoE: with capacity padding)
  double attention_flops = 0;                   // FLOP, forward, full score matrix (the MFU convention)
  double attention_exec_flops = 0;              // FLOP, forward, as executed (causal mask, window)
  double attention_bwd_factor = 2.5;            // backward FLOPs / forward FLOPs of the attention core
  double lowp_weight_elements = 0;              // weights of the low-precision GEMMs
  // Selective recomputation: the forward work its modules run again in the backward
  // (kernel-level s), its FLOP, and the share of the block's forward TP collectives it repeats.
  double recompute_fwd = 0, recompute_flops = 0, recompute_tp_share = 0;
  NEST_HD double fwd() const { return gemm_fwd + attention_fwd + memory_fwd; }
  NEST_HD double bwd() const { return gemm_bwd + attention_bwd + memory_bwd; }
};

NEST_HD_INLINE double tokens_per_gpu(const ParallelShape& s) { return s.microbatch * s.seq_len / s.cp; }

// `x`'s GEMMs, casts and kernels added to `w` (the pieces a recomputed module is built from).
NEST_HD_INLINE void add_work(LayerWork& w, const LayerWork& x) {
  w.gemm_fwd += x.gemm_fwd;
  w.gemm_bwd += x.gemm_bwd;
  w.memory_fwd += x.memory_fwd;
  w.memory_bwd += x.memory_bwd;
  w.kernels_fwd += x.kernels_fwd;
  w.gemm_flops += x.gemm_flops;
  w.lowp_weight_elements += x.lowp_weight_elements;
}

// Norms Megatron-Core runs as modules of their own, which --recompute-modules layernorm
// recomputes: its Transformer Engine layer spec fuses a norm into the linear layer after it
// (TELayerNormColumnParallelLinear) except the MoE layer's pre-MLP norm (the router and the
// dispatcher read it) and the MLA input norm (two down-projections read it)
// (megatron/core/models/gpt/gpt_layer_specs.py; transformer_layer.py:450-511 at core_v0.19).
NEST_HD_INLINE double separate_norms(const LayerDims& d) { return (d.experts > 0 ? 1 : 0) + (latent_attention(d) ? 1 : 0); }

// Keys each query attends to in the MFU convention (Narayanan et al. SC21; PaLM): the whole
// sequence, or the sliding window / attention chunk.
NEST_HD_INLINE double attention_span(const LayerDims& d, const ParallelShape& s) {
  return d.attention_window > 0 ? min_of(d.attention_window, s.seq_len) : s.seq_len;
}

// Keys each query of a sequence of n tokens really attends to: under a causal mask query i sees
// i + 1 keys, (n + 1) / 2 on average; with a window w < n, w - w (w - 1) / (2 n); with chunks of
// c (n = k c + r), the earlier keys of its chunk: (k c (c + 1) / 2 + r (r + 1) / 2) / n. Without a
// causal mask, the window or the whole sequence.
NEST_HD_INLINE double masked_attention_span(const LayerDims& d, double n) {
  if (n <= 0) return 0;
  if (!d.causal) return d.attention_window > 0 ? min_of(d.attention_window, n) : n;
  if (d.attention_window > 0 && d.attention_window < n) {
    const double w = d.attention_window;
    if (d.attention_chunked) {
      const double full = static_cast<double>(static_cast<long long>(n / w));
      const double r = n - full * w;
      return (full * w * (w + 1) / 2 + r * (r + 1) / 2) / n;
    }
    return w - w * (w - 1) / (2 * n);
  }
  return (n + 1) / 2;
}

// The keys each query attends to as executed. With a mask per document (documents of D tokens:
// the sequence is k = floor(s / D) of them and one of r = s - k D), each document is masked on
// its own: (k D span(D) + r span(r)) / s; for a causal mask and documents of random lengths this
// is (E[L^2] + E[L]) / (2 E[L]), exact when D is their size-weighted mean E[L^2] / E[L].
// Load-balanced context parallelism keeps the average.
NEST_HD_INLINE double executed_attention_span(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts) {
  const double n = s.seq_len, D = ts.document_length;
  if (D <= 0 || D >= n) return masked_attention_span(d, n);
  const double k = static_cast<double>(static_cast<long long>(n / D));
  const double r = n - k * D;
  return (k * D * masked_attention_span(d, D) + r * masked_attention_span(d, r)) / n;
}

// Attention core FLOPs of one forward pass: QK^T over the query/key head dimension and AV over
// the value head dimension, `span` keys per query.
NEST_HD_INLINE double attention_core_flops(const LayerDims& d, const ParallelShape& s, double span) {
  return 2 * tokens_per_gpu(s) * span * (d.heads / s.tp) * (d.head_dim + value_dim(d));
}

NEST_HD_INLINE void add_linear_as(LayerWork& w, const GpuModel& g, const TrainingSettings& ts, CastRecipe recipe,
                                  bool low_precision, double T, double n_out, double k_in, double count = 1) {
  const LinearTime l = linear_time(g, low_precision, recipe, ts.fused_casts, T, n_out, k_in, count);
  w.gemm_fwd += l.fwd;
  w.gemm_bwd += l.bwd;
  w.memory_fwd += memory_time(g, l.cast_bytes_fwd);
  w.memory_bwd += memory_time(g, l.cast_bytes_bwd);
  w.gemm_flops += 2 * T * n_out * k_in * count;
  const bool separate_casts = !ts.fused_casts || recipe == CastRecipe::TorchaoGrouped;
  w.kernels_fwd += l.cast_bytes_fwd > 0 && separate_casts ? 2 : 1;
  if (low_precision && g.precision != Precision::Bf16) w.lowp_weight_elements += n_out * k_in * count;
}
NEST_HD_INLINE void add_linear(LayerWork& w, const GpuModel& g, const TrainingSettings& ts, bool low_precision, double T,
                               double n_out, double k_in, double count = 1) {
  add_linear_as(w, g, ts, static_cast<CastRecipe>(ts.cast_recipe), low_precision, T, n_out, k_in, count);
}
// The routed experts' grouped GEMMs may quantise their operands by another recipe than the
// framework's linear layers (torchtitan: torchao's grouped-GEMM ops beside its float8 linears).
NEST_HD_INLINE CastRecipe expert_cast_recipe(const TrainingSettings& ts) {
  return static_cast<CastRecipe>(ts.expert_cast_recipe >= 0 ? ts.expert_cast_recipe : ts.cast_recipe);
}

// MoE routing. Tokens per expert relative to perfect balance on the busiest GPU: the capacity
// (> 1: every expert padded to it, GShard / Megatron's --moe-pad-expert-input-to-capacity), or
// with dropless routing the busiest expert's share (an input, 1: perfectly balanced).
NEST_HD_INLINE double expert_load(const TrainingSettings& ts) {
  return ts.capacity_factor > 1 ? ts.capacity_factor : ts.expert_imbalance;
}
NEST_HD_INLINE double expert_tp(const ParallelShape& s) { return s.etp > 0 ? s.etp : s.tp; }
// Token copies one GPU's experts compute per microbatch: each rank routes its 1/tp share of
// the tokens (the sequence-parallel share, or without sequence parallelism the tokens its TP
// group replicates, split the same way), top-k copies each, gathered over the expert
// tensor-parallel group (Megatron's MoEAlltoAllTokenDispatcher).
NEST_HD_INLINE double expert_rows(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts) {
  return tokens_per_gpu(s) / s.tp * d.topk * expert_load(ts) * expert_tp(s);
}

// The work of one transformer block, added to `w` (the head adds its MTP modules' blocks too);
// `elem` and `elem_kernels` collect the memory-bound bytes and kernels of the forward pass.
NEST_HD_INLINE void add_block_work(LayerWork& w, double& elem, double& elem_kernels, const LayerDims& d, const ParallelShape& s,
                                   const GpuModel& g, const TrainingSettings& ts) {
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;  // tokens in the sequence-parallel regions
  const double eb = ts.act_bytes;
  const double qw = q_width(d), kw = k_width(d), vw = v_width(d), ow = o_width(d);
  if (latent_attention(d)) {
    // down-projections on the sequence-parallel tokens (weights replicated over TP), RMSNorms on
    // the latents, up-projections split by heads
    add_linear(w, g, ts, true, tok_sp, d.kv_lora + d.rope_dim, h);
    LayerWork up;  // the up-projections and the rotary embedding after them (mla_up_proj)
    if (d.q_lora > 0) {
      add_linear(w, g, ts, true, tok_sp, d.q_lora, h);
      add_linear(up, g, ts, true, T, qw / t, d.q_lora);
    } else {
      add_linear(up, g, ts, true, T, qw / t, h);
    }
    add_linear(up, g, ts, true, T, d.heads * (d.head_dim - d.rope_dim + value_dim(d)) / t, d.kv_lora);
    add_work(w, up);
    elem += 2 * T * (d.q_lora + d.kv_lora) * eb;
    elem_kernels += d.q_lora > 0 ? 2 : 1;
    if (recomputes(s, kRecomputeMlaUpProj)) {
      w.recompute_fwd += up.gemm_fwd + up.memory_fwd + memory_time(g, 2 * T * (d.heads + 1) * d.rope_dim / t * eb);
      w.recompute_flops += up.gemm_flops;
    }
  } else if (ts.separate_qkv) {
    // three projections of the same input, each its own GEMM and its own casts (torchtitan
    // before 0.3: wq, wk, wv)
    add_linear(w, g, ts, true, T, qw / t, h);
    add_linear(w, g, ts, true, T, kw / t, h);
    add_linear(w, g, ts, true, T, vw / t, h);
  } else {
    add_linear(w, g, ts, true, T, (qw + kw + vw) / t, h);
  }
  add_linear(w, g, ts, true, T, h, ow / t);
  const double span = attention_span(d, s), exec_span = executed_attention_span(d, s, ts);
  const double att_flops = attention_core_flops(d, s, span);
  double exec_flops = attention_core_flops(d, s, exec_span);
  const double attention_before = w.attention_fwd;
  if (ts.flash_attention) {
    // The kernel's key span, on which its efficiency depends: no longer than a document.
    const double kernel_span = ts.document_length > 0 ? min_of(span, ts.document_length) : span;
    w.attention_fwd += flash_attention_fwd_time(g, exec_flops, kernel_span, d.causal);
    w.attention_bwd += flash_attention_bwd_time(g, exec_flops, kernel_span, d.causal);
    w.kernels_fwd += 1;
  } else {
    // classic kernel (SC21): batched GEMMs QK^T (K = head dim) and AV per head over the whole
    // score matrix (the mask is applied, not skipped), the scores through memory: softmax
    // reads and writes them, dropout adds a pass and a mask; the backward twice the forward.
    const double heads = d.heads / t, seqs = s.microbatch;
    const double fwd = gemm_time(g, T / s.microbatch, span, d.head_dim, seqs * heads) +
                       gemm_time(g, T / s.microbatch, value_dim(d), span, seqs * heads) +
                       memory_time(g, T * span * heads * (2 * eb + (d.dropout ? 2 * eb + 1 : 0)));
    w.attention_fwd += fwd;
    w.attention_bwd += 2 * fwd;
    exec_flops = att_flops;
    w.attention_bwd_factor = 2;
    w.kernels_fwd += 3 + d.dropout;
  }
  w.attention_flops += att_flops;
  w.attention_exec_flops += exec_flops;
  // torchtitan's op-level policy is priced as its attention core recomputed
  if (recomputes(s, kRecomputeCoreAttn) || (s.recompute == Recompute::Selective && ts.selective_op_policy)) {
    w.recompute_fwd += w.attention_fwd - attention_before;
    w.recompute_flops += exec_flops;
  }
  if (recomputes(s, kRecomputeLayernorm)) w.recompute_fwd += memory_time(g, separate_norms(d) * 2 * tok_sp * h * eb);
  const double up = d.gated_mlp ? 2 : 1;
  if (d.experts > 0) {
    const double et = expert_tp(s);
    const double local_experts = d.experts / s.ep;
    const double rows = expert_rows(d, s, ts);
    const double per_expert = rows / local_experts;
    LayerWork moe;  // the MoE layer's GEMMs: router, experts, shared experts (moe recomputes them)
    add_linear(moe, g, ts, false, tok_sp, d.experts, h);  // router (bf16)
    add_linear_as(moe, g, ts, expert_cast_recipe(ts), true, per_expert, up * d.moe_ffn / et, h, local_experts);
    add_linear_as(moe, g, ts, expert_cast_recipe(ts), true, per_expert, h, d.moe_ffn / et, local_experts);
    const double act_elem = (up + 1) * rows * d.moe_ffn / et * eb;  // activation function
    const double routed_elem = 2 * 2 * rows * h * eb + act_elem;    // permute + unpermute, activation
    elem += routed_elem;
    elem_kernels += 4;  // softmax/top-k, permute, unpermute, activation
    LayerWork shared;   // the shared experts' GEMMs (shared_experts recomputes them)
    double shared_elem = 0;
    if (d.shared_ffn > 0) {
      add_linear(shared, g, ts, true, T, up * d.shared_ffn / t, h);
      add_linear(shared, g, ts, true, T, h, d.shared_ffn / t);
      shared_elem = (up + 1) * T * d.shared_ffn / t * eb;
      elem += shared_elem;
      elem_kernels += 1;
    }
    add_work(moe, shared);
    add_work(w, moe);
    if (recomputes(s, kRecomputeMoe)) {
      w.recompute_fwd += moe.gemm_fwd + moe.memory_fwd + memory_time(g, routed_elem + shared_elem);
      w.recompute_flops += moe.gemm_flops;
    } else {
      if (recomputes(s, kRecomputeMoeAct)) w.recompute_fwd += memory_time(g, act_elem);
      if (recomputes(s, kRecomputeSharedExperts)) {
        w.recompute_fwd += shared.gemm_fwd + shared.memory_fwd + memory_time(g, shared_elem);
        w.recompute_flops += shared.gemm_flops;
      }
    }
  } else {
    LayerWork mlp;  // the MLP's GEMMs (mlp recomputes them, with its norm and activation)
    if (d.gated_mlp && ts.separate_gate_up) {
      // gate and up projections as two GEMMs, each with its casts (torchtitan's w1, w3)
      add_linear(mlp, g, ts, true, T, d.ffn / t, h);
      add_linear(mlp, g, ts, true, T, d.ffn / t, h);
    } else {
      add_linear(mlp, g, ts, true, T, up * d.ffn / t, h);
    }
    add_linear(mlp, g, ts, true, T, h, d.ffn / t);
    add_work(w, mlp);
    elem += (up + 1) * T * d.ffn / t * eb;  // GeLU: read f, write f; SwiGLU / GeGLU: read 2f, write f
    elem_kernels += 1;
    if (recomputes(s, kRecomputeMlp)) {
      w.recompute_fwd += mlp.gemm_fwd + mlp.memory_fwd + memory_time(g, (up + 1) * T * d.ffn / t * eb + 2 * tok_sp * h * eb);
      w.recompute_flops += mlp.gemm_flops;
      w.recompute_tp_share = d.parallel_block ? 1 : 0.5;  // the MLP's region: one of the block's two
    }
  }
  elem += d.norms * 2 * tok_sp * h * eb;                     // norms: read + write
  elem += (d.parallel_block ? 4 : 2 * 3) * tok_sp * h * eb;  // residual adds: read 2 (3), write 1
  elem_kernels += d.norms + (d.parallel_block ? 1 : 2);
  if (!ts.fused_elementwise) {
    // Eager PyTorch runs the composite ops one kernel each, in fp32 where they upcast
    // (docs/cost-model.md §3.3): RMSNorm (F.rms_norm: upcast, square, mean, scale, downcast,
    // weight) moves 4 eb + 28 bytes per element against the fused kernel's 2 eb (LayerNorm is
    // one native kernel); complex rotary (upcast, complex multiply, downcast) 2 eb + 16 against
    // 2 eb; SiLU then multiply reads the gated input again and writes the SiLU output: 2 eb more
    // per FFN element.
    constexpr double f32 = 4;
    if (!d.layernorm) {
      elem += d.norms * tok_sp * h * (2 * eb + 7 * f32);
      elem_kernels += d.norms * 6;  // seven kernels for one
    }
    if (d.rotary && !latent_attention(d)) {
      elem += T * (qw + kw) / t * 4 * f32;
      elem_kernels += 5;  // upcast, multiply, downcast of q and of k for one
    }
    if (d.gated_mlp) {
      elem += 2 * eb * (d.experts > 0 ? expert_rows(d, s, ts) * d.moe_ffn / expert_tp(s) : T * d.ffn / t);
      elem_kernels += 1;
    }
  }
  if (d.dropout) {
    elem += 2 * tok_sp * h * (2 * eb + 1);
    elem_kernels += 2;
  }
  if (d.qk_norm) {
    elem += 2 * T * (qw + kw) / t * eb;
    elem_kernels += 2;
  }
  if (d.rotary) {
    elem += 2 * T * (latent_attention(d) ? (d.heads + 1) * d.rope_dim : qw + kw) / t * eb;
    elem_kernels += 1;
  }
  if (ts.kv_repeated && !latent_attention(d)) {
    // repeat_kv: K and V read, their repeated copies written; compiled, the rotary kernel writes
    // the repeated K in place of K, and V's copy is a kernel of its own
    const double repeated = attention_kv_width(d, 1) / t;
    elem += T * (repeated + (ts.fused_elementwise ? vw - kw : kw + vw) / t) * eb;
    elem_kernels += ts.fused_elementwise ? 1 : 2;
  }
}

// The head's final norm, LM head and loss (the MTP modules run it again).
NEST_HD_INLINE void add_head_work(LayerWork& w, double& elem, double& elem_kernels, const LayerDims& d, const ParallelShape& s,
                                  const GpuModel& g, const TrainingSettings& ts) {
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;
  const double eb = ts.act_bytes;
  add_linear(w, g, ts, false, T, d.vocab / t, h);  // the LM head stays in bf16
  elem += 2 * tok_sp * h * eb;                     // final norm
  // The loss's own traffic, forward and backward as the framework's implementation moves it.
  w.memory_fwd += memory_time(g, T * d.vocab / t * ts.loss_traffic_fwd);
  w.memory_bwd += memory_time(g, T * d.vocab / t * ts.loss_traffic_bwd);
  elem_kernels += 3;
}

NEST_HD_INLINE LayerWork layer_work(const LayerDims& d, const ParallelShape& s, const GpuModel& g, const TrainingSettings& ts) {
  LayerWork w;
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;  // tokens in the sequence-parallel regions
  const double eb = ts.act_bytes;
  double elem = 0;  // memory-bound bytes of the forward pass (the backward moves twice as many)
  double elem_kernels = 0;
  switch (d.kind) {
    case LayerKind::Embedding:
      // gather rows, add positions / token types, write the output
      elem = tok_sp * h * eb *
             (2 + (d.positions > 0 ? 3 : 0) + (d.type_vocab > 0 ? 3 : 0) + (d.bert_head ? 2 : 0) + (d.embed_norm ? 2 : 0));
      if (d.dropout) elem += tok_sp * h * (2 * eb + 1);
      elem_kernels = 1 + (d.positions > 0) + (d.type_vocab > 0) + d.dropout + d.embed_norm;
      break;
    case LayerKind::Block:
      add_block_work(w, elem, elem_kernels, d, s, g, ts);
      break;
    case LayerKind::Head: {
      if (d.bert_head) {
        add_linear(w, g, ts, false, T, h, h);  // MLM transform (the pooler sees one token)
        elem += 2 * 2 * T * h * eb;
        elem_kernels += 2;
      }
      add_head_work(w, elem, elem_kernels, d, s, g, ts);
      // MTP modules (DeepSeek-V3 §2.2): the shifted tokens' embedding rows, two norms, the
      // projection of the concatenation (2h -> h), a block, then the shared head and loss.
      for (int k = 0; k < static_cast<int>(d.mtp); ++k) {
        elem += tok_sp * h * eb * (2 + 2 * 2);
        elem_kernels += 3;
        add_linear(w, g, ts, true, T, h / t, 2 * h);
        add_block_work(w, elem, elem_kernels, d, s, g, ts);
        add_head_work(w, elem, elem_kernels, d, s, g, ts);
      }
      break;
    }
  }
  w.memory_fwd += memory_time(g, elem);
  w.memory_bwd += memory_time(g, 2 * elem);
  w.kernels_fwd += elem_kernels;
  if (ts.grad_accum_traffic > 0) {
    const LayerParams p = layer_params(d);
    w.memory_bwd += memory_time(g, ts.grad_accum_traffic * (p.tp_split / t + p.replicated + p.expert / (expert_tp(s) * s.ep)));
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// Activation memory (Korthikanti et al. 2022, §4, generalised)
// ---------------------------------------------------------------------------------------------

struct ActivationBytes {
  double stored = 0;  // kept per in-flight microbatch under the slice's recomputation
  double full = 0;    // the layer's activations without recomputation (working set when recomputed)
};

// Bytes per element that keep the attention output for the backward: the output projection's
// saved input (ts.saved_gemm_input_bytes) and, where that is a quantised copy, the fused
// attention kernel's own saved output in the activation dtype as well (Transformer Engine keeps
// `out` unless its FP8 attention is on: release_v1.14 transformer_engine/pytorch/attention.py:4190,
// v2.2 :3205; the FP8 linear keeps the transposed FP8 input: release_v1.14 module/linear.py:301).
// The classic kernel's backward reads the probabilities, not its output.
NEST_HD_INLINE double attention_output_saved_bytes(const TrainingSettings& ts) {
  const double gi = ts.saved_gemm_input_bytes;
  return ts.flash_attention && gi != ts.act_bytes ? gi + ts.act_bytes : gi;
}

// A block's saved activations (Korthikanti et al. Table 2, generalised): in the
// sequence-parallel regions the norm inputs (one shared input for parallel blocks; the
// sandwich norms' inputs on the attention and MLP outputs) and the pre-norm outputs, which are
// the QKV and MLP GEMM inputs (+ two dropout masks); in the tensor-parallel regions Q, K, V
// (MLA: and its latents, gathered over TP), the attention output (the output projection's
// input) and the MLP intermediates, of which the activation's output is the down projection's
// input. GEMM inputs are kept at the framework's saved-input precision (FP8 under Transformer
// Engine's FP8 recipes); unfused (eager) kernels keep extra copies (TrainingSettings).
NEST_HD_INLINE ActivationBytes block_activations(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts) {
  ActivationBytes a;
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;
  const double eb = ts.act_bytes;
  const double gi = ts.saved_gemm_input_bytes;
  const double qw = q_width(d), kw = k_width(d), vw = v_width(d), ow = o_width(d);
  const double pre_norms = d.norms - (d.sandwich ? 2 : 0);
  const double norm_inputs = (d.parallel_block ? 1 : 2) + (d.sandwich ? 2 : 0);
  const double replicated =
      tok_sp * (norm_inputs * h * eb + pre_norms * h * gi + (d.dropout ? 2 * h : 0) + ts.eager_hidden_copies * h * eb);
  // the attention's inputs: Q and the K and V the kernel reads (repeated where the framework
  // repeats them; the projections' own outputs are then not saved: rotary saves only its table),
  // and its output, the output projection's input. A fused attention kernel keeps that output in
  // the activation dtype for its backward (dO . O); the projection keeps its own quantised copy
  // where its saved-input precision differs (Transformer Engine without FP8 attention: both).
  const double o_kept = attention_output_saved_bytes(ts);
  double split = T * (qw + attention_kv_width(d, ts.kv_repeated)) / t * eb + T * ow / t * o_kept;
  if (latent_attention(d)) split += T * (d.q_lora + d.kv_lora + d.rope_dim) * (eb + gi);
  if (d.qk_norm) split += T * (qw + kw) / t * eb;
  const double up = d.gated_mlp ? 2 : 1;
  const double et = expert_tp(s);
  // what the MoE layer keeps inside it: the routed experts' inputs and intermediates with the
  // router probabilities (fp32), and the shared experts' intermediates
  double routed_saved = 0, shared_saved = 0;
  if (d.experts > 0) {
    const double rows = expert_rows(d, s, ts);
    routed_saved = rows * (h * gi + up * d.moe_ffn / et * eb + d.moe_ffn / et * gi) +
                   rows * ts.eager_ffn_copies * d.moe_ffn / et * eb + tok_sp * d.experts * 4;
    if (d.shared_ffn > 0) shared_saved = T * d.shared_ffn / t * (up * eb + gi + ts.eager_ffn_copies * eb);
    split += routed_saved + shared_saved;
  } else {
    split += T * d.ffn / t * (up * eb + gi + ts.eager_ffn_copies * eb);
  }
  // attention core: FlashAttention keeps the fp32 log-sum-exp; the classic kernel keeps the
  // softmax output (and dropout mask and output when dropout is on): 2 or 5 bytes per score.
  const double scores = T * attention_span(d, s) * d.heads / t;
  const double core = ts.flash_attention ? T * d.heads / t * 4 : scores * (d.dropout ? 5 : 2);
  a.full = replicated + split + core;
  switch (s.recompute) {
    case Recompute::None:
      a.stored = a.full;
      break;
    case Recompute::Selective:
      if (ts.selective_op_policy) {
        // torchtitan's op-level policy: the block input, the outputs of every other GEMM
        // (fused QKV and the MLP up projection saved, output and gate/down recomputed) and
        // the attention output; norms, activations and the rest are recomputed.
        a.stored = tok_sp * 2 * h * eb + T * (qw + kw + vw + ow) / t * eb + T * d.heads / t * 4 +
                   (d.experts > 0 ? expert_rows(d, s, ts) * d.moe_ffn / et : T * d.ffn / t) * eb;
      } else {
        // Megatron: what each recomputed module would have kept. core_attn: the kernel's own
        // saved tensors (its inputs are kept as the checkpoint's); layernorm: the separate norms'
        // outputs, which their consumers saved (under FP8 they save that input, not their
        // quantised copy: transformer_layer.py:499-509); moe_act: the activation's output, the
        // expert FC2 input (experts.py:268-275); mla_up_proj: the attention's Q, K and V
        // (multi_latent_attention.py:972-977); mlp: the dense MLP's fused-norm output and
        // intermediates (its input stays as the checkpoint's, and is the norm input already kept);
        // moe: everything inside the MoE layer (its input, the pre-MLP norm's output, stays as the
        // checkpoint's); shared_experts: the shared experts' intermediates.
        a.stored = a.full;
        // the recomputed kernel's output is then kept only as the projection's saved input
        if (recomputes(s, kRecomputeCoreAttn)) a.stored -= core + T * ow / t * (o_kept - gi);
        if (recomputes(s, kRecomputeLayernorm)) a.stored -= separate_norms(d) * tok_sp * h * gi;
        if (recomputes(s, kRecomputeMoe)) {
          a.stored -= routed_saved + shared_saved;
        } else {
          if (recomputes(s, kRecomputeMoeAct) && d.experts > 0) a.stored -= expert_rows(d, s, ts) * d.moe_ffn / et * gi;
          if (recomputes(s, kRecomputeSharedExperts)) a.stored -= shared_saved;
        }
        if (recomputes(s, kRecomputeMlaUpProj) && latent_attention(d))
          a.stored -= T * (qw + attention_kv_width(d, ts.kv_repeated)) / t * eb;
        if (recomputes(s, kRecomputeMlp) && d.experts <= 0)
          a.stored -= tok_sp * h * gi + T * d.ffn / t * (up * eb + gi + ts.eager_ffn_copies * eb);
      }
      break;
    case Recompute::Full:
      a.stored = tok_sp * h * eb;
      break;  // the block's input only
  }
  return a;
}

NEST_HD_INLINE ActivationBytes activation_bytes(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts) {
  ActivationBytes a;
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;
  const double eb = ts.act_bytes;
  switch (d.kind) {
    case LayerKind::Embedding:
      a.full = d.dropout ? tok_sp * h : 0;  // dropout mask; the output is the next layer's input
      if (d.embed_norm) a.full += tok_sp * h * eb;
      a.stored = a.full;
      break;
    case LayerKind::Block:
      a = block_activations(d, s, ts);
      break;
    case LayerKind::Head: {
      // final-norm input (sequence parallel), LM-head input, and the logits with what the loss
      // keeps of them (bf16 logits + fp32 softmax in Megatron's vocab-parallel cross entropy; one
      // chunk of them with torchtitan's chunked loss)
      const double head = tok_sp * h * eb + T * h * eb + T * d.vocab / t * ts.loss_bytes_per_logit / ts.loss_chunks;
      a.full = head;
      if (d.bert_head) a.full += 2 * T * h * eb;
      // MTP modules: the two norm inputs and the projection's input (2h), the block (not
      // recomputed) and another head
      if (d.mtp > 0) {
        ParallelShape kept = s;
        kept.recompute = Recompute::None;
        const ActivationBytes blk = block_activations(d, kept, ts);
        a.full += d.mtp * (tok_sp * 2 * h * eb + T * 2 * h * ts.saved_gemm_input_bytes + blk.full + head);
      }
      a.stored = a.full;
      break;
    }
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// A layer's own collectives (per microbatch, forward pass; the backward mirrors them)
// ---------------------------------------------------------------------------------------------

struct LayerComm {
  double tp = 0;                 // s, forward
  double cp = 0;                 // s, forward (ring attention K/V exchange)
  double ep = 0;                 // s, forward (dispatch + combine all-to-all)
  double microbatch_gather = 0;  // s, sharded-parameter all-gather before each pass
  double microbatch_reduce = 0;  // s, gradient reduce-scatter after each backward
  // Message bytes per GPU of the forward's collectives (the nccl-tests "size" of each, summed):
  // what the times above move (reports and traces only).
  double tp_bytes = 0, cp_bytes = 0, ep_bytes = 0;
  // The same for the sharded parameters: one all-gather's bytes (each pass) and the gradient
  // reduction's (each backward).
  double gather_bytes = 0, reduce_bytes = 0;
  // The MoE layer's share of `tp` and `tp_bytes` (its output all-reduce without SP, the expert
  // tensor-parallel gathers, the shared experts' region), and the shared experts' own share:
  // what the moe and shared_experts recomputation modules run again.
  double moe_tp = 0, moe_tp_bytes = 0, shared_tp = 0, shared_tp_bytes = 0;
};

// A block's TP, CP and EP collectives (forward). Megatron TP: without SP an all-reduce per TP
// region; with SP an all-gather entering and a reduce-scatter leaving it (same bytes). A block
// has two regions (attention, MLP); a parallel block one (both branches read the gathered input
// and their outputs are reduced together). MLA gathers its latents instead of the hidden state.
// An MoE layer with SP: the routed tokens are all-gathered over the expert tensor-parallel
// group after the dispatch and reduce-scattered before the combine; shared experts are a TP
// region of their own.
// TP all-gather volume relative to the activation dtype's.
NEST_HD_INLINE double tp_gather_scale(const TrainingSettings& ts) {
  return ts.lowp_tp_gather_bytes > 0 ? ts.lowp_tp_gather_bytes / ts.act_bytes : 1;
}

NEST_HD_INLINE void add_block_comm(LayerComm& r, const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts,
                                   const CommContext& c) {
  const double T = tokens_per_gpu(s);
  const double h = d.hidden;
  const double eb = ts.act_bytes;
  const double act = T * h * eb;  // one full activation tensor of this GPU's tokens
  const GroupShape& etp_group = c.etp.num_levels > 0 ? c.etp : c.tp;
  // torchao's float8 tensor parallelism gathers the quantised copy (forward: the input; backward:
  // the output gradient, the same volume); the reduce-scatters stay bf16.
  const double gather_scale = tp_gather_scale(ts);
  auto region = [&](double in_bytes) {
    r.tp_bytes += s.sp ? in_bytes * gather_scale + act : act;
    return s.sp ? allgather_time(c.net, c.tp, in_bytes * gather_scale) + reduce_scatter_time(c.net, c.tp, act)
                : allreduce_time(c.net, c.tp, act);
  };
  const double attn_in = latent_attention(d) ? T * (d.q_lora > 0 ? d.q_lora + d.kv_lora + d.rope_dim : h) * eb : act;
  if (s.tp > 1) {
    if (d.parallel_block && d.experts <= 0) {
      r.tp += region(act);
    } else {
      r.tp += region(attn_in);
      if (d.experts <= 0) {
        r.tp += region(act);
      } else if (!s.sp) {
        const double t_ar = allreduce_time(c.net, c.tp, act);
        r.tp += t_ar;
        r.tp_bytes += act;
        r.moe_tp += t_ar;
        r.moe_tp_bytes += act;
      } else if (d.shared_ffn > 0) {
        const double bytes_before = r.tp_bytes;
        const double t_shared = region(act);
        const double shared_bytes = r.tp_bytes - bytes_before;
        r.tp += t_shared;
        r.shared_tp += t_shared;
        r.shared_tp_bytes += shared_bytes;
        r.moe_tp += t_shared;
        r.moe_tp_bytes += shared_bytes;
      }
    }
  }
  if (d.experts > 0 && (s.sp || s.tp == 1) && expert_tp(s) > 1) {
    const double gathered = expert_rows(d, s, ts) * h * eb;
    const double t_etp = allgather_time(c.net, etp_group, gathered) + reduce_scatter_time(c.net, etp_group, gathered);
    r.tp += t_etp;
    r.tp_bytes += 2 * gathered;
    r.moe_tp += t_etp;
    r.moe_tp_bytes += 2 * gathered;
  }
  if (s.cp > 1) {
    // ring attention passes every rank's K and V chunk around the CP ring: the volume of an
    // all-gather of the whole sequence's K and V (repeated ones where the framework repeats them)
    const double kv_bytes = s.cp * T * attention_kv_width(d, ts.kv_repeated) / s.tp * eb;
    r.cp += allgather_time(c.net, c.cp, kv_bytes);
    r.cp_bytes += kv_bytes;
  }
  if (d.experts > 0 && s.ep > 1) {
    const double tokens_in = s.sp ? T / s.tp : T;  // tokens this rank routes
    if (ts.moe_allgather) {
      // all-gather dispatcher: every rank gathers the EP group's tokens, keeps those routed to
      // its experts, and reduce-scatters the outputs back
      const double gathered = s.ep * tokens_in * h * eb;
      r.ep += allgather_time(c.net, c.ep, gathered) + reduce_scatter_time(c.net, c.ep, gathered);
      r.ep_bytes += 2 * gathered;
    } else {
      const double routed = tokens_in * d.topk * expert_load(ts) * h * eb;
      r.ep += 2 * alltoall_time(c.net, c.ep, routed);
      r.ep_bytes += 2 * routed;
    }
  }
}

// Bytes per parameter of a layer's sharded-parameter all-gather: a block's linear weights
// quantised where the framework gathers them so (norm weights, a few thousand per block, are
// counted with them), else the framework's gather dtype.
NEST_HD_INLINE double param_gather_bytes(const LayerDims& d, const TrainingSettings& ts) {
  return d.kind == LayerKind::Block && ts.lowp_param_gather_bytes > 0 ? ts.lowp_param_gather_bytes : ts.param_gather_bytes;
}

// The attention's transient bytes under PyTorch's ring attention (torch/distributed/tensor/
// experimental/_context_parallel/_attention.py, torch 2.15: _templated_ring_attention_backward):
// the all-gather rotater (the default rotate_method) holds every CP rank's K and V (cp T (k + v)
// bf16); the gradients accumulate in fp32 (convert_to_f32): dQ, dK, dV (T (q + k + v) 4); and
// dK, dV travel the ring as an fp32 concatenation and its all-to-all copy (2 T (k + v) 4). The
// backward's set is the larger one (the forward holds the same gathered K, V and an fp32 output).
NEST_HD_INLINE double ring_attention_work_bytes(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts) {
  if (s.cp <= 1 || !ts.cp_ring_allgather || d.kind != LayerKind::Block) return 0;
  const double T = tokens_per_gpu(s);
  const double kv = attention_kv_width(d, ts.kv_repeated) / s.tp;
  return T * (s.cp * kv * ts.act_bytes + (q_width(d) / s.tp + kv) * 4 + 2 * kv * 4);
}

// Bytes per parameter of a layer held gathered: what arrives is what is kept (torchao's FSDP
// float8 all-gather leaves the unsharded linear weight a float8 tensor, fsdp_post_all_gather).
NEST_HD_INLINE double gathered_param_bytes(const LayerDims& d, const TrainingSettings& ts) {
  return d.kind == LayerKind::Block && ts.lowp_param_gather_bytes > 0 ? ts.lowp_param_gather_bytes : ts.gathered_weight_bytes;
}

NEST_HD_INLINE LayerComm layer_comm(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts,
                                    const CommContext& c) {
  LayerComm r;
  const double T = tokens_per_gpu(s);
  const double h = d.hidden;
  const double eb = ts.act_bytes;
  const double act = T * h * eb;  // one full activation tensor of this GPU's tokens
  // The head: input all-gather (SP) plus the three vocab-parallel cross-entropy all-reduces.
  const double head_tp = s.tp > 1 ? (s.sp ? allgather_time(c.net, c.tp, act) : 0) + 3 * allreduce_time(c.net, c.tp, T * 4) : 0;
  const double head_tp_bytes = s.tp > 1 ? (s.sp ? act : 0) + 3 * T * 4 : 0;
  switch (d.kind) {
    case LayerKind::Embedding:
      if (s.tp > 1) {
        r.tp = s.sp ? reduce_scatter_time(c.net, c.tp, act) : allreduce_time(c.net, c.tp, act);
        r.tp_bytes = act;
      }
      break;
    case LayerKind::Block:
      add_block_comm(r, d, s, ts, c);
      break;
    case LayerKind::Head:
      r.tp = head_tp;
      r.tp_bytes = head_tp_bytes;
      for (int k = 0; k < static_cast<int>(d.mtp); ++k) {
        // MTP module: the projection's output all-reduce / reduce-scatter, its block, its head
        if (s.tp > 1) {
          r.tp += s.sp ? reduce_scatter_time(c.net, c.tp, act) : allreduce_time(c.net, c.tp, act);
          r.tp_bytes += act;
        }
        add_block_comm(r, d, s, ts, c);
        r.tp += head_tp;
        r.tp_bytes += head_tp_bytes;
      }
      break;
  }
  // Sharded weights (ZeRO-3 / FSDP) are gathered before each pass and their gradients
  // reduce-scattered after each backward; ZeRO-2 in DeepSpeed reduce-scatters every microbatch too.
  // A stage that stays gathered through the step moves them once per step instead (stage tail).
  const bool gather_per_microbatch = ts.weight_sharded && !ts.stage_stays_gathered;
  if (gather_per_microbatch || ts.grad_reduce_every_microbatch) {
    const LayerParams p = layer_params(d);
    const double dense = (p.tp_split / s.tp + p.replicated);
    const double expert = p.expert / (expert_tp(s) * s.ep);
    if (gather_per_microbatch) {
      r.microbatch_gather = allgather_time(c.net, c.shard, dense * param_gather_bytes(d, ts)) +
                            allgather_time(c.net, c.edp, expert * param_gather_bytes(d, ts));
      r.gather_bytes = (dense + expert) * param_gather_bytes(d, ts);
    }
    // HSDP: the shard's gradient is then all-reduced across the replicas, the experts' too.
    r.microbatch_reduce = reduce_scatter_time(c.net, c.shard, dense * ts.grad_reduce_bytes) +
                          allreduce_time(c.net, c.replicate, dense * ts.grad_reduce_bytes / shard_size(s)) +
                          reduce_scatter_time(c.net, c.edp, expert * ts.grad_reduce_bytes) +
                          allreduce_time(c.net, c.replicate, expert * ts.grad_reduce_bytes / s.edp);
    r.reduce_bytes = (dense + expert) * ts.grad_reduce_bytes;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// The layer's LayerCost and the pieces the report breaks the step into
// ---------------------------------------------------------------------------------------------

// FLOPs of one microbatch on one GPU, forward + backward. Model FLOPs (MFU): three times the
// forward's GEMMs and attention over the whole score matrix (Narayanan et al. SC21; PaLM's MFU).
// Hardware FLOPs: what runs: the attention as executed (causal half; FlashAttention's backward
// 2.5x its forward) and the recomputation.
struct LayerFlops {
  double model = 0, hardware = 0;
  double hardware_fwd = 0;  // the forward pass's share of `hardware` (the rest is the backward's)
};

NEST_HD_INLINE LayerFlops layer_flops(const LayerWork& w, const LayerDims& d, const ParallelShape& s) {
  LayerFlops f;
  f.model = 3 * (w.gemm_flops + w.attention_flops);
  f.hardware = 3 * w.gemm_flops + (1 + w.attention_bwd_factor) * w.attention_exec_flops;
  f.hardware_fwd = w.gemm_flops + w.attention_exec_flops;
  if (d.kind == LayerKind::Block) {
    if (s.recompute == Recompute::Full) f.hardware += w.gemm_flops + w.attention_exec_flops;
    if (s.recompute == Recompute::Selective) f.hardware += w.recompute_flops;
  }
  return f;
}

struct LayerCostDetail {
  LayerCost cost;
  double compute_fwd = 0, compute_bwd = 0;  // s, incl. recomputation
  double recompute = 0;                     // s, the part of compute_bwd that repeats forward work
  double tp = 0, cp = 0, ep = 0;            // s, exposed, forward + backward
  double dp_microbatch = 0;                 // s, exposed per-microbatch data-parallel traffic (sharded weights)
  double offload = 0;                       // s, exposed activation offload traffic
  double model_flops = 0;                   // FLOP per microbatch on this GPU, fwd + bwd, no recompute
  double hardware_flops = 0;                // the same with recomputation
  // The forward's share of the pieces above (the backward's is the rest; reports and traces).
  double tp_fwd = 0, cp_fwd = 0, ep_fwd = 0, dp_fwd = 0, offload_fwd = 0;
  double hardware_flops_fwd = 0;
  double tp_bytes_fwd = 0, cp_bytes_fwd = 0, ep_bytes_fwd = 0;  // bytes per GPU of the passes' collectives (LayerComm)
  double tp_bytes_bwd = 0, cp_bytes_bwd = 0, ep_bytes_bwd = 0;
  double dp_bytes_fwd = 0, dp_bytes_bwd = 0;  // sharded parameters gathered and gradients reduced per microbatch
};

// The vocabulary the framework builds: Megatron-LM pads it to a multiple of
// make-vocab-size-divisible-by (128) x tp (megatron/training/tokenizer/tokenizer.py,
// _vocab_size_with_padding); nest's parameter counts keep the model's own.
NEST_HD_INLINE double padded_vocab(double vocab, const ParallelShape& s, const TrainingSettings& ts) {
  if (ts.vocab_multiple <= 0) return vocab;
  const double m = ts.vocab_multiple * s.tp;
  double q = static_cast<double>(static_cast<long long>(vocab / m));
  if (q * m < vocab) q += 1;
  return q * m;
}

// A block whose TP collectives are the four of a standard sequence-parallel block (all-gather
// before QKV and FC1, reduce-scatter after the output projection and FC2), each paired with
// one GEMM when overlapped; other blocks (MoE, MLA, parallel) hide behind the pass's GEMMs.
NEST_HD_INLINE bool tp_overlap_in_pairs(const LayerDims& d, const ParallelShape& s) {
  return d.kind == LayerKind::Block && s.sp && s.tp > 1 && d.experts <= 0 && !d.parallel_block && !latent_attention(d);
}

// The layer as the framework builds it (its padded vocabulary), which layer_cost prices.
NEST_HD_INLINE LayerDims built_layer(const LayerDims& model_dims, const ParallelShape& s, const TrainingSettings& ts) {
  LayerDims d = model_dims;
  if (d.kind != LayerKind::Block) d.vocab = padded_vocab(d.vocab, s, ts);
  return d;
}

// What layer_cost computes before it reads the communication context: the layer as built, its
// work, the GEMMs the TP collectives pair with, its FLOPs and memory. Points of a sweep that
// differ only in link speeds share it (dp/lower_bound.hpp: job_layer_sums_all_points).
struct LayerPrep {
  LayerDims d;
  LayerWork w;
  LinearTime pair[4];  // the GEMM each of the four paired TP collectives hides behind (tp_overlap_in_pairs)
  ActivationBytes act;
  bool offloaded = false;  // an offloading block's activations go to host memory
  LayerCostDetail base;    // the FLOPs, the model state, the activations and the optimizer step's HBM time
};

NEST_HD_INLINE LayerPrep layer_prep(const LayerDims& model_dims, const ParallelShape& s, const GpuModel& g,
                                    const TrainingSettings& ts) {
  LayerPrep prep;
  prep.d = built_layer(model_dims, s, ts);
  prep.w = layer_work(prep.d, s, g, ts);
  if (ts.tp_comm_overlap && tp_overlap_in_pairs(prep.d, s)) {
    const LayerDims& d = prep.d;
    const double T = tokens_per_gpu(s), t = s.tp;
    const double up = d.gated_mlp ? 2 : 1;
    const double pair_out[4] = {(q_width(d) + k_width(d) + v_width(d)) / t, d.hidden, up * d.ffn / t, d.hidden};
    const double pair_in[4] = {d.hidden, o_width(d) / t, d.hidden, d.ffn / t};
    for (int i = 0; i < 4; ++i)
      prep.pair[i] = linear_time(g, true, static_cast<CastRecipe>(ts.cast_recipe), ts.fused_casts, T, pair_out[i], pair_in[i]);
  }
  const LayerDims& d = prep.d;
  const LayerWork& w = prep.w;
  const bool block = d.kind == LayerKind::Block;
  prep.act = activation_bytes(d, s, ts);
  const ActivationBytes& a = prep.act;
  prep.offloaded = block && ts.offload_activations && ts.host_link_bandwidth > 0;
  const bool offloaded = prep.offloaded;
  LayerCostDetail& r = prep.base;
  const LayerFlops f = layer_flops(w, d, s);
  r.model_flops = f.model;
  r.hardware_flops = f.hardware;
  r.hardware_flops_fwd = f.hardware_fwd;

  // Model state: dense parameters are sharded over the data-parallel group, experts over the
  // expert-data-parallel group, each piece as the framework's recipe says.
  const LayerParams p = layer_params(d);
  const double dense = p.tp_split / s.tp + p.replicated;
  const double expert = p.expert / (expert_tp(s) * s.ep);
  auto held = [&](double bytes, int sharded) {
    return bytes * (sharded ? dense / shard_size(s) + expert / s.edp : dense + expert);
  };
  const bool gathered_stage = ts.weight_sharded && ts.stage_stays_gathered;
  // Linear weights held in the low-precision format save the rest of their width.
  const double quantised_saving =
      ts.quantised_weights && !ts.weight_sharded ? (ts.weight_bytes - operand_bytes(g.precision)) * w.lowp_weight_elements : 0;
  const double weights_held = held(ts.weight_bytes, ts.weight_sharded), grads_held = held(ts.grad_bytes, ts.grad_sharded);
  r.cost.weight_bytes = weights_held + ts.weight_cache_bytes * w.lowp_weight_elements +
                        (gathered_stage ? gathered_param_bytes(d, ts) * (dense + expert) : 0);
  if (quantised_saving > 0) r.cost.weight_bytes -= quantised_saving;
  r.cost.grad_bytes = grads_held + (gathered_stage ? ts.gathered_grad_bytes * (dense + expert) : 0);
  r.cost.optimizer_bytes = ts.offload_optimizer ? 0 : held(ts.optimizer_bytes, ts.optimizer_sharded);
  // In the framework's flat buffers: the resident weights (not the low-precision copies kept
  // beside them, Transformer Engine's per-module workspace, nor a stage's gathered copy), the
  // gradients, the optimizer state, as its recipe says.
  if (ts.weights_in_buffer) r.cost.buffered_bytes += weights_held - quantised_saving;
  if (ts.grads_in_buffer) r.cost.buffered_bytes += grads_held;
  if (ts.optimizer_in_buffer) r.cost.buffered_bytes += r.cost.optimizer_bytes;
  const bool head = d.kind == LayerKind::Head;
  r.cost.act_bytes = head ? 0 : offloaded ? (1 - ts.offload_share) * a.stored : a.stored;
  if (ts.pp_keeps_outputs && head) r.cost.kept_output_bytes = tokens_per_gpu(s) * d.vocab / s.tp * ts.act_bytes;
  // Transient bytes while the layer runs: the recomputed activations, an offloaded layer's
  // activations on their way, ring attention's gathered K, V and fp32 gradients, the gathered
  // weights (and one layer's unsharded gradients). The head's saved tensors (its inputs, the
  // logits and what the loss keeps) are transient too: its backward, the microbatch's first,
  // follows its forward and frees them before any block's backward runs (logits the pipeline
  // keeps are counted there). No schedule nest models runs the last stage's every forward first
  // (pipeline.hpp).
  r.cost.work_bytes = (s.recompute != Recompute::None && block) ? a.full - a.stored : 0;
  if (head) r.cost.work_bytes = a.stored - r.cost.kept_output_bytes / ts.loss_chunks;  // its logits are kept
  if (offloaded) r.cost.work_bytes += a.stored;
  r.cost.work_bytes += ring_attention_work_bytes(d, s, ts);
  if (ts.weight_sharded && !ts.stage_stays_gathered)
    r.cost.work_bytes +=
        ts.gathered_layers * gathered_param_bytes(d, ts) * (dense + expert) + ts.gathered_grad_bytes * (dense + expert);
  // After the stage's backward each gradient is cast for its accumulation buffer, the layer's
  // activations gone: a moment of its own, beside the others of the layer.
  if (ts.grad_cast_bytes > 0)
    r.cost.work_bytes = max_of(r.cost.work_bytes, ts.grad_cast_bytes * largest_weight_elements(d, s.tp, expert_tp(s)));
  // Gradient sync and parameter gather once per step, unless done per microbatch above.
  if (!ts.weight_sharded || ts.stage_stays_gathered) {
    if (!ts.grad_reduce_every_microbatch) {
      r.cost.dp_reduce_bytes = ts.grad_reduce_bytes * dense;
      r.cost.edp_reduce_bytes = ts.grad_reduce_bytes * expert;
    }
    if (ts.optimizer_sharded || gathered_stage) {
      r.cost.dp_gather_bytes = param_gather_bytes(d, ts) * dense;
      r.cost.edp_gather_bytes = param_gather_bytes(d, ts) * expert;
    }
  }
  const double shard = ts.optimizer_sharded ? dense / shard_size(s) + expert / s.edp : dense + expert;
  // The optimizer step over this GPU's shard: in HBM, or on the host (gradients down and weights
  // up over the host link, the Adam traffic in host memory). Then (low-precision GEMMs)
  // quantising every local weight once for the next step, where the recipe caches its weights
  // across microbatches (CastBytes::weight_step).
  const double step = ts.offload_optimizer ? shard * (ts.grad_reduce_bytes + ts.weight_bytes) / ts.host_link_bandwidth +
                                                 shard * ts.optimizer_traffic / ts.host_memory_bandwidth
                                           : memory_time(g, shard * ts.optimizer_traffic);
  const double weight_cast = cast_bytes(static_cast<CastRecipe>(ts.cast_recipe), operand_bytes(g.precision), true).weight_step;
  r.cost.optimizer_time = step + memory_time(g, w.lowp_weight_elements * weight_cast);
  return prep;
}

// The layer's cost from its prep (layer_prep of the same dims, shape, GPU and settings) on the
// communication context `c`.
NEST_HD_INLINE LayerCostDetail layer_cost(const LayerPrep& prep, const ParallelShape& s, const GpuModel& g,
                                          const TrainingSettings& ts, const CommContext& c) {
  LayerCostDetail r = prep.base;  // its FLOPs and memory
  const LayerDims& d = prep.d;
  const LayerWork& w = prep.w;
  const LayerComm comm = layer_comm(d, s, ts, c);
  // Kernel-level times slowed to the sustained fraction; a pass never runs faster than the host
  // can issue its kernels (docs/cost-model.md §3.4).
  const double slow = 1 / g.sustained;
  const double gemm_fwd = w.gemm_fwd * slow, gemm_bwd = w.gemm_bwd * slow;
  const double att_fwd = w.attention_fwd * slow, att_bwd = w.attention_bwd * slow;
  const double fwd_compute = max_of(w.fwd() * slow, w.kernels_fwd * g.kernel_launch);
  const double bwd_compute = max_of(w.bwd() * slow, 2 * w.kernels_fwd * g.kernel_launch);
  const bool block = d.kind == LayerKind::Block;
  double recompute = 0;
  if (block) {
    if (s.recompute == Recompute::Full) recompute = fwd_compute;
    if (s.recompute == Recompute::Selective) recompute = w.recompute_fwd * slow;
  }
  // A collective overlapped with compute costs what it does not hide, and slows the compute it
  // runs beside by the SMs its kernels occupy (docs/cost-model.md §6).
  auto overlapped = [&](double comm_time, double hide) {
    return max_of(0.0, comm_time - hide) + ts.comm_sm_fraction * min_of(comm_time, hide);
  };
  // TP collectives: forward once, backward once more (mirrored), once more again when the
  // whole block's forward is recomputed. Overlap hides them behind the GEMMs of the same pass.
  const double recompute_passes = (block && s.recompute == Recompute::Full) ? 1 : 0;
  // ... and the share of them selective recomputation repeats (the dense MLP's region)
  // and the MoE layer's (moe) or the shared experts' (shared_experts) collectives, as shares of
  // the block's forward TP time and bytes
  double tp_repeats = recompute_passes, tp_bytes_repeated = recompute_passes * comm.tp_bytes;
  bool moe_recomputed = false;
  if (block && s.recompute == Recompute::Selective) {
    tp_repeats += w.recompute_tp_share;
    tp_bytes_repeated += w.recompute_tp_share * comm.tp_bytes;
    moe_recomputed = recomputes(s, kRecomputeMoe) && d.experts > 0;
    const bool shared_recomputed = !moe_recomputed && recomputes(s, kRecomputeSharedExperts);
    const double share_tp = moe_recomputed ? comm.moe_tp : shared_recomputed ? comm.shared_tp : 0;
    if (comm.tp > 0) tp_repeats += share_tp / comm.tp;
    tp_bytes_repeated += moe_recomputed ? comm.moe_tp_bytes : shared_recomputed ? comm.shared_tp_bytes : 0;
  }
  double tp_fwd = ts.tp_comm_overlap ? overlapped(comm.tp, gemm_fwd) : comm.tp;
  double tp_bwd = ts.tp_comm_overlap ? overlapped(comm.tp, gemm_bwd) : comm.tp;
  if (ts.tp_comm_overlap && tp_overlap_in_pairs(d, s)) {
    // Transformer Engine's userbuffers and torchtitan's async TP split each collective into tp
    // chunks run beside the one GEMM that consumes (all-gather) or produces (reduce-scatter) it:
    // a collective hides only behind its own GEMM, and not behind the chunk computed on local
    // data (the first of an all-gather's, the last of a reduce-scatter's), so behind (tp-1)/tp
    // of it (docs/cost-model.md §6).
    const double T = tokens_per_gpu(s), t = s.tp, act = T * d.hidden * ts.act_bytes;
    const double ag = allgather_time(c.net, c.tp, act * tp_gather_scale(ts)), rs = reduce_scatter_time(c.net, c.tp, act);
    const double share = (t - 1) / t * slow;
    const double pair_comm[4] = {ag, rs, ag, rs};
    tp_fwd = tp_bwd = 0;
    for (int i = 0; i < 4; ++i) {
      const LinearTime& l = prep.pair[i];
      tp_fwd += overlapped(pair_comm[i], l.fwd * share);
      tp_bwd += overlapped(pair_comm[i], l.bwd * share);
    }
  }
  const double tp_re = tp_repeats * tp_fwd;
  // Ring attention overlaps the K/V exchange with the attention core of the same pass.
  const double cp_fwd = overlapped(comm.cp, att_fwd);
  const double cp_bwd = overlapped(2 * comm.cp, att_bwd);  // K/V again, then dK/dV
  const double cp_re = recompute_passes * cp_fwd;
  double ep_fwd = comm.ep, ep_bwd = comm.ep;
  // the dispatch and combine run again when the whole layer or the MoE layer is recomputed
  const double ep_passes = recompute_passes + (moe_recomputed ? 1 : 0);
  const double ep_re = ep_passes * comm.ep;
  if (ts.ep_comm_overlap) {
    // Batch-level overlap (Megatron-Core's combined 1F1B, megatron/core/models/gpt/
    // fine_grained_callables.py): a forward and another microbatch's backward run as one pair,
    // the all-to-alls of both on the communication stream beside the compute of both on the
    // compute stream, so the pair takes the longer of the two, plus the SMs the all-to-alls take.
    // Every pass is costed as paired (the warmup and cooldown passes, which run alone, are not
    // told apart); the exposed time splits evenly, as the two passes' all-to-alls are equal.
    const double pair = overlapped(2 * comm.ep, fwd_compute + bwd_compute + recompute);
    ep_fwd = ep_bwd = pair / 2;
  }
  // Sharded parameters are prefetched while the previous layer computes; gradients are
  // reduce-scattered while the next one runs its backward.
  const double dp_fwd = overlapped(comm.microbatch_gather, fwd_compute);
  const double dp_bwd = overlapped(comm.microbatch_gather + comm.microbatch_reduce, bwd_compute + recompute);

  // Activation offload: the stored activations go to host memory during the forward and come
  // back for the backward, each transfer hidden behind the pass it runs beside; an offloading
  // block's exposed time, for the share of the blocks that offload.
  const ActivationBytes& a = prep.act;
  const bool offloaded = prep.offloaded;
  const double offload_time = offloaded ? a.stored / ts.host_link_bandwidth : 0;
  const double off_fwd = offloaded ? ts.offload_share * overlapped(offload_time, fwd_compute) : 0;
  const double off_bwd =
      offloaded
          ? ts.offload_share * (ts.offload_restore_exposed ? offload_time : overlapped(offload_time, bwd_compute + recompute))
          : 0;

  r.compute_fwd = fwd_compute;
  r.compute_bwd = bwd_compute + recompute;
  r.recompute = recompute;
  r.tp = tp_fwd + tp_bwd + tp_re;
  r.cp = cp_fwd + cp_bwd + cp_re;
  r.ep = ep_fwd + ep_bwd + ep_re;
  r.dp_microbatch = dp_fwd + dp_bwd;
  r.offload = off_fwd + off_bwd;
  r.tp_fwd = tp_fwd;
  r.cp_fwd = cp_fwd;
  r.ep_fwd = ep_fwd;
  r.dp_fwd = dp_fwd;
  r.offload_fwd = off_fwd;
  r.tp_bytes_fwd = comm.tp_bytes;
  r.cp_bytes_fwd = comm.cp_bytes;
  r.ep_bytes_fwd = comm.ep_bytes;
  r.tp_bytes_bwd = comm.tp_bytes + tp_bytes_repeated;
  r.cp_bytes_bwd = (2 + recompute_passes) * comm.cp_bytes;
  r.ep_bytes_bwd = (1 + ep_passes) * comm.ep_bytes;
  r.dp_bytes_fwd = comm.gather_bytes;
  r.dp_bytes_bwd = comm.gather_bytes + comm.reduce_bytes;
  r.cost.fwd = fwd_compute + tp_fwd + cp_fwd + ep_fwd + dp_fwd + off_fwd;
  r.cost.bwd = r.compute_bwd + tp_bwd + tp_re + cp_bwd + cp_re + ep_bwd + ep_re + dp_bwd + off_bwd;

  // Pipeline send of this layer's output (the gradient coming back has the same size). Each
  // TP rank sends its 1/tp share (sequence-parallel shard, or Megatron's scatter/gather
  // optimisation, SC21 §4.1), which without SP is all-gathered over TP after the receive. The
  // level it crosses depends on the boundary: stage.hpp's send_time prices it.
  const double boundary = tokens_per_gpu(s) * d.hidden * ts.act_bytes;
  if (c.pp.stages > 1) {
    r.cost.send_bytes = boundary / s.tp;
    r.cost.send_gather = s.sp ? 0 : allgather_time(c.net, c.tp, boundary);
  }

  // A tied embedding under pipelining: before the optimizer step the first and the last stage
  // all-reduce the gradients of their copies (Megatron's _allreduce_word_embedding_grads,
  // DeepSpeed's tied-module reduction), two ranks at the level the pipeline's wrap crosses.
  if (d.tied_copy && (d.kind == LayerKind::Embedding || d.kind == LayerKind::Head) && c.pp.stages > 1) {
    const int level = pp_boundary_level(c.pp, c.pp.stages - 1);
    if (level >= 0) {
      GroupShape pair;
      pair.num_levels = c.net.num_levels;
      for (int l = 0; l < pair.num_levels; ++l) pair.members[l] = l == level ? 2 : 1;
      r.cost.optimizer_time += allreduce_time(c.net, pair, d.vocab * d.hidden / s.tp * ts.grad_reduce_bytes);
    }
  }
  return r;
}

NEST_HD_INLINE LayerCostDetail layer_cost(const LayerDims& model_dims, const ParallelShape& s, const GpuModel& g,
                                          const TrainingSettings& ts, const CommContext& c) {
  return layer_cost(layer_prep(model_dims, s, g, ts), s, g, ts, c);
}

}  // namespace nest::kernels
