// Per-layer cost of a transformer under one slice (tp, cp, ep, sp, microbatch, recomputation,
// ZeRO stage, placement): parameters, FLOPs, memory-bound bytes, stored activations and the
// layer's own collectives, composed into a LayerCost (stage.hpp). Every formula is derived in
// docs/cost-model.md with its source:
//   FLOPs       Narayanan et al. SC21 eq. 3, generalised to GQA, SwiGLU and top-k MoE
//   activations Korthikanti et al. 2022 §4 (Table 2), generalised the same way
//   collectives Megatron-LM tensor/sequence/context/expert parallelism, collectives.hpp
#pragma once

#include "nest/kernels/collectives.hpp"
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

// GPU compute model: roofline with efficiency curves (docs/cost-model.md §3).
struct GpuModel {
  double peak_flops = 0;       // dense bf16 FLOP/s
  double hbm_bandwidth = 0;    // bytes/s
  double gemm_efficiency = 1;  // asymptotic fraction of peak for large GEMMs
  double gemm_half_dim = 0;    // GEMM min(M,N,K) at which efficiency is half the asymptote
  double attention_efficiency = 1;
  double memory_efficiency = 1;  // fraction of HBM bandwidth reached by elementwise kernels
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
  PipelineLayout pp;  // where the pipeline stages sit (pp_boundaries.hpp); stages == 1: no pipeline
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
// Compute
// ---------------------------------------------------------------------------------------------

// Roofline time of one GEMM (M x K) * (K x N) in bf16: compute at an efficiency that grows with
// the smallest dimension, or HBM traffic, whichever is slower.
NEST_HD_INLINE double gemm_efficiency(const GpuModel& g, double m, double n, double k) {
  const double x = min_of(m, min_of(n, k));
  return g.gemm_efficiency * x / (x + g.gemm_half_dim);
}

NEST_HD_INLINE double gemm_time(const GpuModel& g, double m, double n, double k, double count = 1) {
  if (m <= 0 || n <= 0 || k <= 0 || count <= 0) return 0;
  const double flops = 2 * m * n * k * count;
  const double bytes = 2 * (m * k + k * n + m * n) * count;
  return max_of(flops / (g.peak_flops * gemm_efficiency(g, m, n, k)), bytes / (g.hbm_bandwidth * g.memory_efficiency));
}

NEST_HD_INLINE double memory_time(const GpuModel& g, double bytes) { return bytes / (g.hbm_bandwidth * g.memory_efficiency); }

// Forward cost pieces of one layer on one GPU for one microbatch.
struct ForwardWork {
  double gemm_time = 0;       // s
  double attention_time = 0;  // s, attention core (QK^T, softmax, AV)
  double memory_time = 0;     // s, memory-bound kernels
  double gemm_flops = 0;      // FLOP on this GPU
  double attention_flops = 0;
};

NEST_HD_INLINE double tokens_per_gpu(const ParallelShape& s) { return s.microbatch * s.seq_len / s.cp; }

NEST_HD_INLINE double attention_span(const LayerDims& d, const ParallelShape& s) {
  return d.attention_window > 0 ? min_of(d.attention_window, s.seq_len) : s.seq_len;
}

// Attention core FLOPs of one forward pass: QK^T and AV over the whole span (the Megatron/SC21
// convention, which counts the full s x s score matrix).
NEST_HD_INLINE double attention_core_flops(const LayerDims& d, const ParallelShape& s) {
  return 4 * tokens_per_gpu(s) * attention_span(d, s) * (d.heads / s.tp) * d.head_dim;
}

NEST_HD_INLINE ForwardWork forward_work(const LayerDims& d, const ParallelShape& s, const GpuModel& g,
                                        const TrainingSettings& ts) {
  ForwardWork w;
  const double T = tokens_per_gpu(s);
  const double t = s.tp;
  const double h = d.hidden;
  const double tok_sp = s.sp ? T / t : T;  // tokens in the sequence-parallel regions
  const double eb = ts.act_bytes;
  double elem = 0;  // memory-bound bytes
  switch (d.kind) {
    case LayerKind::Embedding:
      // gather rows, add positions / token types, write the output
      elem = tok_sp * h * eb * (2 + (d.positions > 0 ? 3 : 0) + (d.type_vocab > 0 ? 3 : 0) + (d.bert_head ? 2 : 0));
      if (d.dropout) elem += tok_sp * h * (2 * eb + 1);
      break;
    case LayerKind::Block: {
      const double q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
      w.gemm_time += gemm_time(g, T, (q + 2 * kv) / t, h);
      w.gemm_time += gemm_time(g, T, h, q / t);
      w.gemm_flops += 2 * T * h * (q + 2 * kv) / t + 2 * T * q * h / t;
      w.attention_flops = attention_core_flops(d, s);
      if (ts.flash_attention) {
        // one fused kernel; its efficiency is a GPU parameter
        w.attention_time = w.attention_flops / (g.peak_flops * g.attention_efficiency);
      } else {
        // classic kernel: batched GEMMs QK^T (K = head dim) and AV per head, then the scores
        // go through memory: softmax reads and writes them, dropout adds a pass and a mask
        const double span = attention_span(d, s), heads = d.heads / t, seqs = s.microbatch;
        w.attention_time = gemm_time(g, T / s.microbatch, span, d.head_dim, seqs * heads) +
                           gemm_time(g, T / s.microbatch, d.head_dim, span, seqs * heads);
        const double scores = T * span * heads;
        elem += scores * (2 * eb + (d.dropout ? 2 * eb + 1 : 0));
      }
      const double up = d.gated_mlp ? 2 : 1;
      if (d.experts > 0) {
        const double local_experts = d.experts / s.ep;
        const double assignments = T * d.topk * ts.capacity_factor;  // token copies this GPU computes
        const double per_expert = assignments / local_experts;
        w.gemm_time += gemm_time(g, T, d.experts, h);  // router
        w.gemm_time += gemm_time(g, per_expert, up * d.moe_ffn / t, h, local_experts);
        w.gemm_time += gemm_time(g, per_expert, h, d.moe_ffn / t, local_experts);
        w.gemm_flops += 2 * T * h * d.experts + 2 * assignments * h * d.moe_ffn * (up + 1) / t;
        elem += 2 * 2 * assignments * h * eb;                 // permute + unpermute
        elem += (up + 1) * assignments * d.moe_ffn / t * eb;  // activation function
        if (d.shared_ffn > 0) {
          w.gemm_time += gemm_time(g, T, up * d.shared_ffn / t, h) + gemm_time(g, T, h, d.shared_ffn / t);
          w.gemm_flops += 2 * T * h * d.shared_ffn * (up + 1) / t;
          elem += (up + 1) * T * d.shared_ffn / t * eb;
        }
      } else {
        w.gemm_time += gemm_time(g, T, up * d.ffn / t, h) + gemm_time(g, T, h, d.ffn / t);
        w.gemm_flops += 2 * T * h * d.ffn * (up + 1) / t;
        elem += (up + 1) * T * d.ffn / t * eb;  // GeLU: read f, write f; SwiGLU: read 2f, write f
      }
      elem += 2 * 2 * tok_sp * h * eb;  // two norms: read + write
      elem += 2 * 3 * tok_sp * h * eb;  // two residual adds: read 2, write 1
      if (d.dropout) elem += 2 * tok_sp * h * (2 * eb + 1);
      if (d.rotary) elem += 2 * T * (q + kv) / t * eb;
      break;
    }
    case LayerKind::Head: {
      if (d.bert_head) {
        w.gemm_time += gemm_time(g, T, h, h);  // MLM transform (the pooler sees one token)
        w.gemm_flops += 2 * T * h * h;
        elem += 2 * 2 * T * h * eb;
      }
      w.gemm_time += gemm_time(g, T, d.vocab / t, h);
      w.gemm_flops += 2 * T * h * d.vocab / t;
      elem += 2 * tok_sp * h * eb;             // final norm
      elem += T * d.vocab / t * (eb + 2 * 4);  // logits -> fp32 softmax -> loss
      break;
    }
  }
  w.memory_time = memory_time(g, elem);
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
  const ForwardWork w = forward_work(d, s, g, ts);
  const LayerComm comm = layer_comm(d, s, ts, c);
  const double fwd_compute = w.gemm_time + w.attention_time + w.memory_time;
  // Backward: data and weight gradients (2x the GEMM FLOPs), attention backward (2x), and twice
  // the memory-bound traffic.
  double bwd_compute = 2 * fwd_compute;
  double recompute = 0;
  if (d.kind == LayerKind::Block) {
    if (s.recompute == Recompute::Full) recompute = fwd_compute;
    if (s.recompute == Recompute::Selective) recompute = w.attention_time;
  }
  // TP collectives: forward once, backward once more (mirrored), once more again when the
  // whole block's forward is recomputed. Overlap hides them behind the GEMMs of the same pass.
  const double recompute_passes = (d.kind == LayerKind::Block && s.recompute == Recompute::Full) ? 1 : 0;
  auto exposed = [&](double comm_time, double hide) { return max_of(0.0, comm_time - hide); };
  const double tp_fwd = ts.tp_comm_overlap ? exposed(comm.tp, w.gemm_time) : comm.tp;
  const double tp_bwd = ts.tp_comm_overlap ? exposed(comm.tp, 2 * w.gemm_time) : comm.tp;
  const double tp_re = recompute_passes * tp_fwd;
  // Ring attention overlaps the K/V exchange with the attention core of the same pass.
  const double cp_fwd = exposed(comm.cp, w.attention_time);
  const double cp_bwd = exposed(2 * comm.cp, 2 * w.attention_time);  // K/V again, then dK/dV
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
  const double flops = w.gemm_flops + w.attention_flops;
  r.model_flops = 3 * flops;
  r.hardware_flops =
      3 * flops + (recompute_passes > 0
                       ? flops
                       : (s.recompute == Recompute::Selective && d.kind == LayerKind::Block ? w.attention_flops : 0));

  // Pipeline send of this layer's output (the gradient coming back has the same size). Each
  // TP rank sends its 1/tp share (sequence-parallel shard, or Megatron's scatter/gather
  // optimisation, SC21 §4.1), which without SP is all-gathered over TP after the receive. The
  // level it crosses depends on the boundary: stage.hpp's send_time prices it.
  const double boundary = tokens_per_gpu(s) * d.hidden * ts.act_bytes;
  if (c.pp.stages > 1) {
    r.cost.send_bytes = boundary / s.tp;
    r.cost.send_gather = s.sp ? 0 : allgather_time(c.net, c.tp, boundary);
  }

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
  r.cost.optimizer_time = memory_time(g, shard * ts.optimizer_traffic);
  return r;
}

}  // namespace nest::kernels
