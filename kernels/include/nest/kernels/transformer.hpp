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

// Dimensions of one layer node. experts == 0 means a dense block.
struct LayerDims {
  LayerKind kind = LayerKind::Block;
  double hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, ffn = 0;
  double vocab = 0, positions = 0, type_vocab = 0;  // positions: learned position rows (0: rotary)
  double experts = 0, topk = 0, moe_ffn = 0, shared_ffn = 0;
  double attention_window = 0;  // 0: the whole sequence
  int gated_mlp = 1;            // SwiGLU (3 matrices) or GeLU (2)
  int layernorm = 0;            // LayerNorm (weight + bias) or RMSNorm (weight)
  int linear_bias = 0;          // biases on every linear layer (GPT-2/3, BERT)
  int qkv_bias = 0;             // biases on Q, K, V only (Qwen2)
  int rotary = 1;
  int dropout = 0;    // dropout after attention and MLP (masks are stored)
  int lm_weight = 1;  // head holds a vocab x hidden matrix (untied, or a pipeline copy)
  int bert_head = 0;  // BERT pooler + MLM transform instead of a final norm
  int causal = 1;     // causal self-attention (decoders); BERT attends both ways
};

// The slice quantities a layer's cost depends on.
struct ParallelShape {
  double microbatch = 1, seq_len = 1;
  double tp = 1, cp = 1, ep = 1;
  double dp = 1;   // dense gradient-sync group size (data x context parallel)
  double edp = 1;  // expert gradient-sync group size (dp / ep)
  int sp = 0;
  Recompute recompute = Recompute::None;
  int zero = 0;
};

// Training-precision and framework settings (docs/cost-model.md §5).
struct TrainingSettings {
  double act_bytes = 2;           // bf16 activations
  double param_bytes = 2;         // bf16 weights
  double grad_bytes = 4;          // fp32 main gradients (Megatron default with bf16)
  double optimizer_bytes = 12;    // fp32 master weights + two Adam moments
  double grad_reduce_bytes = 4;   // gradients are reduced in fp32
  double optimizer_traffic = 30;  // HBM bytes per parameter touched by one Adam step
  double capacity_factor = 1;     // MoE tokens per expert relative to perfect balance
  int flash_attention = 1;        // attention scores never stored (FlashAttention)
  int tp_comm_overlap = 0;        // TP collectives overlapped with GEMMs (TE userbuffers)
  int zero3_prefetch_layers = 2;  // ZeRO-3 keeps this many gathered layers in memory
};

// Which groups a layer's collectives run over, on which network.
struct CommContext {
  Network net;
  GroupShape tp, cp, ep, dp, edp;
  int pp_level = -1;  // network level crossed by pipeline sends (-1: no pipeline)
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

NEST_HD_INLINE double norm_params(const LayerDims& d) { return d.layernorm ? 2 * d.hidden : d.hidden; }

NEST_HD_INLINE double mlp_params(const LayerDims& d, double ffn) {
  const double h = d.hidden;
  return (d.gated_mlp ? 3 : 2) * h * ffn;
}

NEST_HD_INLINE LayerParams layer_params(const LayerDims& d) {
  LayerParams p;
  const double h = d.hidden;
  switch (d.kind) {
    case LayerKind::Embedding:
      p.tp_split = d.vocab * h;  // vocab-parallel embedding
      p.replicated = (d.positions + d.type_vocab) * h + (d.bert_head ? 2 * h : 0);
      break;
    case LayerKind::Block: {
      const double q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
      p.tp_split = h * (q + 2 * kv) + q * h;
      if (d.linear_bias || d.qkv_bias) p.tp_split += q + 2 * kv;
      p.replicated = 2 * norm_params(d) + (d.linear_bias ? h : 0);
      if (d.experts > 0) {
        p.router = h * d.experts;
        p.replicated += p.router;
        p.expert = d.experts * mlp_params(d, d.moe_ffn);
        p.tp_split += mlp_params(d, d.shared_ffn);
      } else {
        p.tp_split += mlp_params(d, d.ffn);
        if (d.linear_bias) {
          p.tp_split += (d.gated_mlp ? 2 : 1) * d.ffn;
          p.replicated += h;
        }
      }
      break;
    }
    case LayerKind::Head:
      p.tp_split = d.lm_weight ? d.vocab * h : 0;
      if (d.bert_head) {
        // pooler (h x h + h), MLM transform (h x h + h, LayerNorm), decoder bias (vocab)
        p.replicated = 2 * (h * h + h) + 2 * h;
        p.tp_split += d.vocab;
      } else {
        p.replicated = norm_params(d);
      }
      break;
  }
  return p;
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
  double lowp_weight_elements = 0;              // weights quantised once per step (low-precision GEMMs)
  double fwd() const { return gemm_fwd + attention_fwd + memory_fwd; }
  double bwd() const { return gemm_bwd + attention_bwd + memory_bwd; }
};

NEST_HD_INLINE double tokens_per_gpu(const ParallelShape& s) { return s.microbatch * s.seq_len / s.cp; }

// Keys each query attends to in the MFU convention (Narayanan et al. SC21; PaLM): the whole
// sequence, or the sliding window.
NEST_HD_INLINE double attention_span(const LayerDims& d, const ParallelShape& s) {
  return d.attention_window > 0 ? min_of(d.attention_window, s.seq_len) : s.seq_len;
}

// Keys each query really attends to: under a causal mask query i sees i + 1 keys, (s + 1) / 2 on
// average; with a window w < s, w - w (w - 1) / (2 s). Load-balanced context parallelism keeps
// the average.
NEST_HD_INLINE double executed_attention_span(const LayerDims& d, const ParallelShape& s) {
  const double n = s.seq_len;
  if (!d.causal) return attention_span(d, s);
  if (d.attention_window > 0 && d.attention_window < n) {
    const double w = d.attention_window;
    return w - w * (w - 1) / (2 * n);
  }
  return (n + 1) / 2;
}

// Attention core FLOPs of one forward pass, QK^T and AV over `span` keys per query.
NEST_HD_INLINE double attention_core_flops(const LayerDims& d, const ParallelShape& s, double span) {
  return 4 * tokens_per_gpu(s) * span * (d.heads / s.tp) * d.head_dim;
}

NEST_HD_INLINE void add_linear(LayerWork& w, const GpuModel& g, bool low_precision, double T, double n_out, double k_in,
                               double count = 1) {
  const LinearTime l = linear_time(g, low_precision, T, n_out, k_in, count);
  w.gemm_fwd += l.fwd;
  w.gemm_bwd += l.bwd;
  w.memory_fwd += memory_time(g, l.cast_bytes_fwd);
  w.memory_bwd += memory_time(g, l.cast_bytes_bwd);
  w.gemm_flops += 2 * T * n_out * k_in * count;
  w.kernels_fwd += l.cast_bytes_fwd > 0 ? 2 : 1;
  if (low_precision && g.precision != Precision::Bf16) w.lowp_weight_elements += n_out * k_in * count;
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
      elem = tok_sp * h * eb * (2 + (d.positions > 0 ? 3 : 0) + (d.type_vocab > 0 ? 3 : 0) + (d.bert_head ? 2 : 0));
      if (d.dropout) elem += tok_sp * h * (2 * eb + 1);
      elem_kernels = 1 + (d.positions > 0) + (d.type_vocab > 0) + d.dropout;
      break;
    case LayerKind::Block: {
      const double q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
      add_linear(w, g, true, T, (q + 2 * kv) / t, h);
      add_linear(w, g, true, T, h, q / t);
      const double span = attention_span(d, s), exec_span = executed_attention_span(d, s);
      w.attention_flops = attention_core_flops(d, s, span);
      w.attention_exec_flops = attention_core_flops(d, s, exec_span);
      if (ts.flash_attention) {
        w.attention_fwd = flash_attention_fwd_time(g, w.attention_exec_flops, span, d.causal);
        w.attention_bwd = flash_attention_bwd_time(g, w.attention_exec_flops, span, d.causal);
        w.kernels_fwd += 1;
      } else {
        // classic kernel (SC21): batched GEMMs QK^T (K = head dim) and AV per head over the whole
        // score matrix (the mask is applied, not skipped), the scores through memory: softmax
        // reads and writes them, dropout adds a pass and a mask; the backward twice the forward.
        const double heads = d.heads / t, seqs = s.microbatch;
        w.attention_fwd = gemm_time(g, T / s.microbatch, span, d.head_dim, seqs * heads) +
                          gemm_time(g, T / s.microbatch, d.head_dim, span, seqs * heads);
        const double scores = T * span * heads;
        w.attention_fwd += memory_time(g, scores * (2 * eb + (d.dropout ? 2 * eb + 1 : 0)));
        w.attention_bwd = 2 * w.attention_fwd;
        w.attention_exec_flops = w.attention_flops;
        w.attention_bwd_factor = 2;
        w.kernels_fwd += 3 + d.dropout;
      }
      const double up = d.gated_mlp ? 2 : 1;
      if (d.experts > 0) {
        const double local_experts = d.experts / s.ep;
        const double assignments = T * d.topk * ts.capacity_factor;  // token copies this GPU computes
        const double per_expert = assignments / local_experts;
        add_linear(w, g, false, T, d.experts, h);  // router (bf16)
        add_linear(w, g, true, per_expert, up * d.moe_ffn / t, h, local_experts);
        add_linear(w, g, true, per_expert, h, d.moe_ffn / t, local_experts);
        elem += 2 * 2 * assignments * h * eb;                 // permute + unpermute
        elem += (up + 1) * assignments * d.moe_ffn / t * eb;  // activation function
        elem_kernels += 4;                                    // softmax/top-k, permute, unpermute, activation
        if (d.shared_ffn > 0) {
          add_linear(w, g, true, T, up * d.shared_ffn / t, h);
          add_linear(w, g, true, T, h, d.shared_ffn / t);
          elem += (up + 1) * T * d.shared_ffn / t * eb;
          elem_kernels += 1;
        }
      } else {
        add_linear(w, g, true, T, up * d.ffn / t, h);
        add_linear(w, g, true, T, h, d.ffn / t);
        elem += (up + 1) * T * d.ffn / t * eb;  // GeLU: read f, write f; SwiGLU: read 2f, write f
        elem_kernels += 1;
      }
      elem += 2 * 2 * tok_sp * h * eb;  // two norms: read + write
      elem += 2 * 3 * tok_sp * h * eb;  // two residual adds: read 2, write 1
      elem_kernels += 4;
      if (d.dropout) {
        elem += 2 * tok_sp * h * (2 * eb + 1);
        elem_kernels += 2;
      }
      if (d.rotary) {
        elem += 2 * T * (q + kv) / t * eb;
        elem_kernels += 1;
      }
      break;
    }
    case LayerKind::Head: {
      if (d.bert_head) {
        add_linear(w, g, false, T, h, h);  // MLM transform (the pooler sees one token)
        elem += 2 * 2 * T * h * eb;
        elem_kernels += 2;
      }
      add_linear(w, g, false, T, d.vocab / t, h);  // the LM head stays in bf16
      elem += 2 * tok_sp * h * eb;                 // final norm
      elem += T * d.vocab / t * (eb + 2 * 4);      // logits -> fp32 softmax -> loss
      elem_kernels += 3;
      break;
    }
  }
  w.memory_fwd += memory_time(g, elem);
  w.memory_bwd += memory_time(g, 2 * elem);
  w.kernels_fwd += elem_kernels;
  return w;
}

// ---------------------------------------------------------------------------------------------
// Activation memory (Korthikanti et al. 2022, §4, generalised)
// ---------------------------------------------------------------------------------------------

struct ActivationBytes {
  double stored = 0;  // kept per in-flight microbatch under the slice's recomputation
  double full = 0;    // the layer's activations without recomputation (working set when recomputed)
};

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
      a.stored = a.full;
      break;
    case LayerKind::Block: {
      const double q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
      // sequence-parallel regions: two norm inputs, QKV input, MLP input (+ two dropout masks)
      const double replicated = tok_sp * (4 * h * eb + (d.dropout ? 2 * h : 0));
      // tensor-parallel regions: Q, K, V, attention output; MLP intermediates
      double split = T * (2 * q + 2 * kv) / t * eb;
      const double up = d.gated_mlp ? 2 : 1;
      if (d.experts > 0) {
        const double assignments = T * d.topk * ts.capacity_factor;
        split += assignments * (h + (up + 1) * d.moe_ffn / t) * eb;  // expert inputs + intermediates
        split += T * d.experts * 4;                                  // router probabilities (fp32)
        if (d.shared_ffn > 0) split += T * (up + 1) * d.shared_ffn / t * eb;
      } else {
        split += T * (up + 1) * d.ffn / t * eb;
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
          a.stored = replicated + split;
          break;
        case Recompute::Full:
          a.stored = tok_sp * h * eb;
          break;  // the block's input only
      }
      break;
    }
    case LayerKind::Head:
      // final-norm input (sequence parallel), LM-head input, logits and their fp32 softmax
      a.full = tok_sp * h * eb + T * h * eb + T * d.vocab / t * (eb + 4);
      if (d.bert_head) a.full += 2 * T * h * eb;
      a.stored = a.full;
      break;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// A layer's own collectives (per microbatch, forward pass; the backward mirrors them)
// ---------------------------------------------------------------------------------------------

struct LayerComm {
  double tp = 0;            // s, forward
  double cp = 0;            // s, forward (ring attention K/V exchange)
  double ep = 0;            // s, forward (dispatch + combine all-to-all)
  double zero3_gather = 0;  // s, parameter all-gather before the pass
  double zero3_reduce = 0;  // s, gradient reduce-scatter after the backward
};

NEST_HD_INLINE LayerComm layer_comm(const LayerDims& d, const ParallelShape& s, const TrainingSettings& ts,
                                    const CommContext& c) {
  LayerComm r;
  const double T = tokens_per_gpu(s);
  const double h = d.hidden;
  const double eb = ts.act_bytes;
  const double act = T * h * eb;  // one full activation tensor of this GPU's tokens
  // Megatron TP: without SP an all-reduce per TP region; with SP an all-gather entering and a
  // reduce-scatter leaving it (same bytes). A block has two regions (attention, MLP).
  auto region = [&](void) {
    return s.sp ? allgather_time(c.net, c.tp, act) + reduce_scatter_time(c.net, c.tp, act) : allreduce_time(c.net, c.tp, act);
  };
  if (s.tp > 1) {
    switch (d.kind) {
      case LayerKind::Embedding:
        r.tp = s.sp ? reduce_scatter_time(c.net, c.tp, act) : allreduce_time(c.net, c.tp, act);
        break;
      case LayerKind::Block:
        r.tp = 2 * region();
        break;
      case LayerKind::Head:
        // input all-gather (SP) plus the three vocab-parallel cross-entropy all-reduces
        r.tp = (s.sp ? allgather_time(c.net, c.tp, act) : 0) + 3 * allreduce_time(c.net, c.tp, T * 4);
        break;
    }
  }
  if (d.kind == LayerKind::Block) {
    if (s.cp > 1) {
      // ring attention passes every rank's K and V chunk around the CP ring: the volume of an
      // all-gather of the whole sequence's K and V
      const double kv_bytes = s.cp * T * 2 * d.kv_heads * d.head_dim / s.tp * eb;
      r.cp = allgather_time(c.net, c.cp, kv_bytes);
    }
    if (d.experts > 0 && s.ep > 1) {
      const double tokens = (s.sp ? T / s.tp : T) * d.topk * ts.capacity_factor;
      r.ep = 2 * alltoall_time(c.net, c.ep, tokens * h * eb);
    }
  }
  if (s.zero == 3) {
    const LayerParams p = layer_params(d);
    const double dense = (p.tp_split / s.tp + p.replicated);
    const double expert = p.expert / (s.tp * s.ep);
    r.zero3_gather = allgather_time(c.net, c.dp, dense * ts.param_bytes) + allgather_time(c.net, c.edp, expert * ts.param_bytes);
    r.zero3_reduce = reduce_scatter_time(c.net, c.dp, dense * ts.grad_reduce_bytes) +
                     reduce_scatter_time(c.net, c.edp, expert * ts.grad_reduce_bytes);
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
};

NEST_HD_INLINE LayerFlops layer_flops(const LayerWork& w, const LayerDims& d, const ParallelShape& s) {
  LayerFlops f;
  f.model = 3 * (w.gemm_flops + w.attention_flops);
  f.hardware = 3 * w.gemm_flops + (1 + w.attention_bwd_factor) * w.attention_exec_flops;
  if (d.kind == LayerKind::Block) {
    if (s.recompute == Recompute::Full) f.hardware += w.gemm_flops + w.attention_exec_flops;
    if (s.recompute == Recompute::Selective) f.hardware += w.attention_exec_flops;
  }
  return f;
}

struct LayerCostDetail {
  LayerCost cost;
  double compute_fwd = 0, compute_bwd = 0;   // s, incl. recomputation
  double tp = 0, cp = 0, ep = 0, zero3 = 0;  // s, exposed, forward + backward
  double model_flops = 0;                    // FLOP per microbatch on this GPU, fwd + bwd, no recompute
  double hardware_flops = 0;                 // the same with recomputation
};

NEST_HD_INLINE LayerCostDetail layer_cost(const LayerDims& d, const ParallelShape& s, const GpuModel& g,
                                          const TrainingSettings& ts, const CommContext& c) {
  LayerCostDetail r;
  const LayerWork w = layer_work(d, s, g, ts);
  const LayerComm comm = layer_comm(d, s, ts, c);
  // Kernel-level times slowed to the sustained fraction; a pass never runs faster than the host
  // can issue its kernels (docs/cost-model.md §3.4).
  const double slow = 1 / g.sustained;
  const double gemm_fwd = w.gemm_fwd * slow, gemm_bwd = w.gemm_bwd * slow;
  const double att_fwd = w.attention_fwd * slow, att_bwd = w.attention_bwd * slow;
  const double fwd_compute = max_of(w.fwd() * slow, w.kernels_fwd * g.kernel_launch);
  const double bwd_compute = max_of(w.bwd() * slow, 2 * w.kernels_fwd * g.kernel_launch);
  double recompute = 0;
  if (d.kind == LayerKind::Block) {
    if (s.recompute == Recompute::Full) recompute = fwd_compute;
    if (s.recompute == Recompute::Selective) recompute = att_fwd;
  }
  // TP collectives: forward once, backward once more (mirrored), once more again when the
  // whole block's forward is recomputed. Overlap hides them behind the GEMMs of the same pass.
  const double recompute_passes = (d.kind == LayerKind::Block && s.recompute == Recompute::Full) ? 1 : 0;
  auto exposed = [&](double comm_time, double hide) { return max_of(0.0, comm_time - hide); };
  const double tp_fwd = ts.tp_comm_overlap ? exposed(comm.tp, gemm_fwd) : comm.tp;
  const double tp_bwd = ts.tp_comm_overlap ? exposed(comm.tp, gemm_bwd) : comm.tp;
  const double tp_re = recompute_passes * tp_fwd;
  // Ring attention overlaps the K/V exchange with the attention core of the same pass.
  const double cp_fwd = exposed(comm.cp, att_fwd);
  const double cp_bwd = exposed(2 * comm.cp, att_bwd);  // K/V again, then dK/dV
  const double cp_re = recompute_passes * cp_fwd;
  const double ep_fwd = comm.ep, ep_bwd = comm.ep, ep_re = recompute_passes * comm.ep;
  // ZeRO-3 prefetches the next layer's parameters while this one computes.
  const double z_fwd = exposed(comm.zero3_gather, fwd_compute);
  const double z_bwd = exposed(comm.zero3_gather + comm.zero3_reduce, bwd_compute + recompute);

  r.compute_fwd = fwd_compute;
  r.compute_bwd = bwd_compute + recompute;
  r.tp = tp_fwd + tp_bwd + tp_re;
  r.cp = cp_fwd + cp_bwd + cp_re;
  r.ep = ep_fwd + ep_bwd + ep_re;
  r.zero3 = z_fwd + z_bwd;
  r.cost.fwd = fwd_compute + tp_fwd + cp_fwd + ep_fwd + z_fwd;
  r.cost.bwd = r.compute_bwd + tp_bwd + tp_re + cp_bwd + cp_re + ep_bwd + ep_re + z_bwd;
  const LayerFlops f = layer_flops(w, d, s);
  r.model_flops = f.model;
  r.hardware_flops = f.hardware;

  // Pipeline send of this layer's output (the gradient coming back has the same size). Each
  // TP rank sends its 1/tp share (sequence-parallel shard, or Megatron's scatter/gather
  // optimisation, SC21 §4.1), which without SP is all-gathered over TP after the receive.
  const double boundary = tokens_per_gpu(s) * d.hidden * ts.act_bytes;
  if (c.pp_level >= 0)
    r.cost.p2p = sendrecv_time(c.net, c.pp_level, boundary / s.tp) + (s.sp ? 0 : allgather_time(c.net, c.tp, boundary));

  // Memory: dense parameters are sharded over the DP group, experts over the expert-DP group.
  const LayerParams p = layer_params(d);
  const double dense = p.tp_split / s.tp + p.replicated;
  const double expert = p.expert / (s.tp * s.ep);
  const double dp = s.dp, edp = s.edp;
  const double w_div_d = s.zero >= 3 ? dp : 1, w_div_e = s.zero >= 3 ? edp : 1;
  const double g_div_d = s.zero >= 2 ? dp : 1, g_div_e = s.zero >= 2 ? edp : 1;
  const double o_div_d = s.zero >= 1 ? dp : 1, o_div_e = s.zero >= 1 ? edp : 1;
  r.cost.weight_bytes = ts.param_bytes * (dense / w_div_d + expert / w_div_e);
  r.cost.grad_bytes = ts.grad_bytes * (dense / g_div_d + expert / g_div_e);
  r.cost.optimizer_bytes = ts.optimizer_bytes * (dense / o_div_d + expert / o_div_e);
  const ActivationBytes a = activation_bytes(d, s, ts);
  r.cost.act_bytes = a.stored;
  r.cost.work_bytes = (s.recompute != Recompute::None && d.kind == LayerKind::Block) ? a.full - a.stored : 0;
  if (s.zero >= 3) r.cost.work_bytes += ts.zero3_prefetch_layers * ts.param_bytes * (dense + expert);
  // Gradient sync once per step (ZeRO-3 reduces per layer and microbatch, above).
  if (s.zero <= 2) {
    r.cost.dp_reduce_bytes = ts.grad_reduce_bytes * dense;
    r.cost.edp_reduce_bytes = ts.grad_reduce_bytes * expert;
  }
  if (s.zero == 1 || s.zero == 2) {
    r.cost.dp_gather_bytes = ts.param_bytes * dense;
    r.cost.edp_gather_bytes = ts.param_bytes * expert;
  }
  const double shard = dense / o_div_d + expert / o_div_e;
  // The optimizer step over this GPU's shard, then (low-precision GEMMs) quantising every local
  // weight once for the next step's forward: read bf16, write a row-wise and a column-wise copy.
  r.cost.optimizer_time =
      memory_time(g, shard * ts.optimizer_traffic + w.lowp_weight_elements * (2 + 2 * operand_bytes(g.precision)));
  return r;
}

}  // namespace nest::kernels
