// The operator model (kernels/include/nest/kernels/operators.hpp, docs/cost-model.md §3) and the
// precision, capacity and framework facts the cost model builds on.
#include <gtest/gtest.h>

#include <cmath>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/model/layer_graph.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

kernels::LayerDims llama_block() {
  kernels::LayerDims d;
  d.kind = kernels::LayerKind::Block;
  d.hidden = 4096;
  d.heads = 32;
  d.kv_heads = 8;
  d.head_dim = 128;
  d.ffn = 14336;
  return d;
}

// DeepSpeed's BF16_Optimizer keeps its gradient buffer in memory-bound kernels after every
// backward: the block's backward moves grad_accum_traffic bytes per parameter of the GPU more
// (its tensor-parallel share here), nothing else, and the forward nothing.
TEST(Operators, GradientBufferUpdatesAreMemoryBoundBackwardWork) {
  const kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.tp = 2;
  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model();
  kernels::TrainingSettings ts;
  const kernels::LayerWork plain = kernels::layer_work(d, s, g, ts);
  ts.grad_accum_traffic = 26;
  const kernels::LayerWork kept = kernels::layer_work(d, s, g, ts);
  const kernels::LayerParams p = kernels::layer_params(d);
  EXPECT_DOUBLE_EQ(kept.memory_fwd, plain.memory_fwd);
  EXPECT_DOUBLE_EQ(kept.gemm_bwd, plain.gemm_bwd);
  EXPECT_NEAR(kept.memory_bwd - plain.memory_bwd, kernels::memory_time(g, 26 * (p.tp_split / 2 + p.replicated)),
              1e-12 * kept.memory_bwd);
  EXPECT_GT(kept.memory_bwd - plain.memory_bwd, 0.1 * plain.memory_bwd);  // 109M parameters a GPU: not noise
}

// A causal mask halves the attention FLOPs FlashAttention executes (query i sees i + 1 keys),
// not the model FLOPs MFU counts; a window w < s executes w - w(w-1)/(2s) keys per query.
TEST(Operators, CausalAttentionExecutesHalfTheScores) {
  kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 8192;
  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model();
  const kernels::TrainingSettings ts;
  const kernels::LayerWork w = kernels::layer_work(d, s, g, ts);
  EXPECT_DOUBLE_EQ(w.attention_flops, 4 * 8192.0 * 8192 * 32 * 128);
  EXPECT_DOUBLE_EQ(w.attention_exec_flops, 4 * 8192.0 * (8192 + 1) / 2 * 32 * 128);
  d.attention_window = 4096;
  const kernels::LayerWork sw = kernels::layer_work(d, s, g, ts);
  EXPECT_DOUBLE_EQ(sw.attention_exec_flops, 4 * 8192.0 * (4096 - 4096.0 * 4095 / (2 * 8192)) * 32 * 128);
  d.attention_window = 0;
  d.causal = 0;
  EXPECT_DOUBLE_EQ(kernels::layer_work(d, s, g, ts).attention_exec_flops, w.attention_flops);
}

// A mask per document (torchtitan 0.3): a sequence of 8,192 tokens is 3 documents of 2,500 and
// one of 692, each causal on its own; the kernel's efficiency is that of 2,500-key spans; model
// FLOPs (the MFU convention) do not change; documents at least as long as the sequence change
// nothing. With a window, the window inside each document.
TEST(Operators, DocumentMasksExecuteEachDocumentsOwnScores) {
  kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 8192;
  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model();
  kernels::TrainingSettings ts;
  const kernels::LayerWork whole = kernels::layer_work(d, s, g, ts);
  ts.document_length = 2500;
  const kernels::LayerWork docs = kernels::layer_work(d, s, g, ts);
  const double per_token = 4 * 32 * 128;  // QK^T and AV, forward, per (query, key)
  const double span = (3 * 2500 * 2501 / 2.0 + 692 * 693 / 2.0) / 8192;
  EXPECT_DOUBLE_EQ(docs.attention_exec_flops, 8192 * span * per_token);
  EXPECT_DOUBLE_EQ(docs.attention_flops, whole.attention_flops);
  EXPECT_NEAR(docs.attention_fwd, kernels::flash_attention_fwd_time(g, 8192 * span * per_token, 2500, true), 1e-15);
  EXPECT_LT(docs.attention_fwd + docs.attention_bwd, 0.5 * (whole.attention_fwd + whole.attention_bwd));
  ts.document_length = 8192;
  EXPECT_DOUBLE_EQ(kernels::layer_work(d, s, g, ts).attention_fwd, whole.attention_fwd);
  ts.document_length = 3000;
  d.attention_window = 1024;  // 2 documents of 3,000 and one of 2,192, each windowed
  auto windowed = [](double n) { return 1024 - 1024.0 * 1023 / (2 * n); };
  EXPECT_DOUBLE_EQ(kernels::layer_work(d, s, g, ts).attention_exec_flops,
                   (2 * 3000 * windowed(3000) + 2192 * windowed(2192)) * per_token);
  // Only torchtitan (and the unconstrained model) masks per document.
  TrainingOptions o;
  o.document_length = 2500;
  EXPECT_THROW(require_document_masks(o, "--document-length"), Error);
  o.framework = FrameworkKind::Torchtitan;
  EXPECT_NO_THROW(require_document_masks(o, "--document-length"));
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 16, 8192);
  p.options = o;
  Parallelism par;
  par.dp = 8;
  par.zero = 3;
  EXPECT_DOUBLE_EQ(framework(FrameworkKind::Torchtitan).settings(p, par).document_length, 2500);
}

// FlashAttention's backward runs 2.5x its forward FLOPs at the backward efficiency; both follow
// the kernel's sequence curve.
TEST(Operators, FlashAttentionTimesFollowTheMeasuredCurve) {
  const GpuSpec h100 = load_gpu("h100-sxm");
  const kernels::GpuModel g = h100.compute_model();
  const double F = 1e12, s = 8192;
  const double fwd = kernels::flash_attention_fwd_time(g, F, s, false);
  EXPECT_NEAR(F / fwd, g.bf16.peak * h100.ops.attention[0].fwd * s / (s + h100.ops.attention[0].half_span), 1e3);
  const double bwd = kernels::flash_attention_bwd_time(g, F, s, true);
  EXPECT_NEAR(
      2.5 * F / bwd,
      g.bf16.peak * h100.ops.attention[0].bwd * h100.ops.attention[0].causal_bwd * s / (s + h100.ops.attention[0].half_span_bwd),
      1e3);
  // Longer sequences are more efficient.
  EXPECT_GT(F / kernels::flash_attention_fwd_time(g, F, 16384, false), F / kernels::flash_attention_fwd_time(g, F, 1024, false));
}

// FlashAttention-2 (PyTorch <= 2.8's SDPA) is its own measured kernel: on H100 it reproduces the
// FlashAttention-3 paper's FlashAttention-2 bars (kernel-benchmarks.csv FA3-PAPER-FIG) within the
// fit's 2.3% and runs at about 57% of the fused kernel's speed at 8k; GPUs without a separate
// measurement (A100, whose fused kernel is FlashAttention-2) give one kernel for both.
TEST(Operators, FlashAttention2IsItsOwnMeasuredKernel) {
  const GpuSpec h100 = load_gpu("h100-sxm");
  const kernels::GpuModel fused = h100.compute_model(Precision::Bf16, AttentionKernel::Fused);
  const kernels::GpuModel fa2 = h100.compute_model(Precision::Bf16, AttentionKernel::Flash2);
  const double s = 8192, heads = 16, hd = 128, batch = 2;
  const double F = 4 * batch * s * s * heads * hd;  // non-causal forward FLOPs
  EXPECT_NEAR(F / kernels::flash_attention_fwd_time(fa2, F, s, false) / kTera, 370, 370 * 0.023);
  EXPECT_NEAR(2.5 * F / kernels::flash_attention_bwd_time(fa2, F, s, false) / kTera, 318, 318 * 0.023);
  const double ratio =
      kernels::flash_attention_fwd_time(fused, F, s, false) / kernels::flash_attention_fwd_time(fa2, F, s, false);
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 0.65);
  const GpuSpec a100 = load_gpu("a100-80gb");
  EXPECT_DOUBLE_EQ(kernels::flash_attention_fwd_time(a100.compute_model(Precision::Bf16, AttentionKernel::Flash2), F, s, true),
                   kernels::flash_attention_fwd_time(a100.compute_model(Precision::Bf16, AttentionKernel::Fused), F, s, true));
}

// Each framework calls its own kernel unless the problem names one: Megatron-LM (Transformer
// Engine) and torchtitan (its FlexAttention priced at the fused kernel's speed, docs/cost-model.md §3.2)
// the fused one, Megatron-DeepSpeed FlashAttention-2.
TEST(Operators, TheFrameworkChoosesTheAttentionKernel) {
  Problem p;
  p.options.framework = FrameworkKind::Megatron;
  EXPECT_EQ(attention_kernel_of(p), AttentionKernel::Fused);
  p.options.framework = FrameworkKind::Torchtitan;
  EXPECT_EQ(attention_kernel_of(p), AttentionKernel::Fused);
  p.options.framework = FrameworkKind::Deepspeed;
  EXPECT_EQ(attention_kernel_of(p), AttentionKernel::Flash2);
  p.options.attention_kernel = AttentionKernel::Fused;
  EXPECT_EQ(attention_kernel_of(p), AttentionKernel::Fused);
  EXPECT_EQ(parse_attention_kernel("flash2", "--attention-kernel"), AttentionKernel::Flash2);
  EXPECT_THROW(parse_attention_kernel("fa3", "--attention-kernel"), Error);
}

// Eager PyTorch runs RMSNorm, complex rotary and SiLU-times-gate as separate fp32-upcasting
// kernels: exactly the bytes docs/cost-model.md §3.3 counts more than the fused kernels, and
// nothing more for a LayerNorm GeLU model without rotary (native single kernels).
TEST(Operators, EagerElementwiseOpsMoveTheirExtraBytes) {
  const GpuSpec h100 = load_gpu("h100-sxm");
  const kernels::GpuModel g = h100.compute_model();
  kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 8192;
  kernels::TrainingSettings fused;
  kernels::TrainingSettings eager = fused;
  eager.fused_elementwise = 0;
  const double T = 8192, h = 4096, eb = 2;
  const double extra = 2 * T * h * (2 * eb + 28)  // two RMSNorms
                       + T * (4096 + 1024) * 16   // rotary on q and k
                       + 2 * eb * T * 14336;      // SiLU output written and read again
  const double bw = g.hbm_bandwidth * g.memory_efficiency;
  EXPECT_NEAR(kernels::layer_work(d, s, g, eager).memory_fwd - kernels::layer_work(d, s, g, fused).memory_fwd, extra / bw, 1e-12);
  d.layernorm = 1;
  d.rotary = 0;
  d.gated_mlp = 0;
  d.ffn = 16384;
  EXPECT_DOUBLE_EQ(kernels::layer_work(d, s, g, eager).memory_fwd, kernels::layer_work(d, s, g, fused).memory_fwd);
}

// Overlapped TP communication of a standard sequence-parallel block hides each collective behind
// its own GEMM only, (tp-1)/tp of it: the exposed time is the sum over the four pairs, not
// max(0, all comm - all GEMMs), which would hide it all here.
TEST(Operators, TpOverlapHidesEachCollectiveBehindItsOwnGemm) {
  const kernels::GpuModel g = test::simple_gpu();
  const kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 8192;
  s.microbatch = 4;
  s.tp = 8;
  s.sp = 1;
  kernels::CommContext c;
  c.net.num_levels = 1;
  c.net.level[0].bandwidth = 150e9;
  c.tp.num_levels = 1;
  c.tp.members[0] = 8;
  kernels::TrainingSettings ts;
  ts.tp_comm_overlap = 1;
  const kernels::LayerCostDetail r = kernels::layer_cost(d, s, g, ts, c);
  const double T = kernels::tokens_per_gpu(s), act = T * 4096 * 2;
  const double ag = kernels::allgather_time(c.net, c.tp, act), rs = kernels::reduce_scatter_time(c.net, c.tp, act);
  const double share = 7.0 / 8 / g.sustained;
  auto gemm = [&](double n, double k) {
    return kernels::linear_time(g, true, kernels::CastRecipe::FusedCastTranspose, true, T, n, k).fwd * share;
  };
  const double want = std::max(0.0, ag - gemm((4096 + 2 * 1024) / 8.0, 4096)) + std::max(0.0, rs - gemm(4096, 4096 / 8.0)) +
                      std::max(0.0, ag - gemm(2 * 14336 / 8.0, 4096)) + std::max(0.0, rs - gemm(4096, 14336 / 8.0));
  EXPECT_GT(want, 0);
  EXPECT_NEAR(r.tp_fwd, want, 1e-12);
  // All four collectives together are shorter than all four GEMMs: the pooled form hid them all.
  EXPECT_LT(2 * (ag + rs), kernels::layer_work(d, s, g, ts).gemm_fwd / g.sustained);
}

// Megatron-Core's batch-level EP overlap: a forward and another microbatch's backward run as a
// pair, the all-to-alls of both beside the compute of both; the pair waits for what the compute
// does not cover, plus the SMs the all-to-alls take. Without it each pass waits for its own.
TEST(Operators, EpOverlapHidesTheAllToAllsBehindThePairedPasses) {
  const kernels::GpuModel g = test::simple_gpu();
  kernels::LayerDims d = llama_block();
  d.experts = 64;
  d.topk = 8;
  d.moe_ffn = 1024;
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.microbatch = 2;
  s.ep = 8;
  kernels::CommContext c;
  c.net.num_levels = 2;
  c.net.level[0].bandwidth = 150e9;
  c.net.level[1].bandwidth = 5e9;  // slow enough that the all-to-alls outlast the compute
  c.ep.num_levels = 2;
  c.ep.members[0] = 2;
  c.ep.members[1] = 4;
  kernels::TrainingSettings ts;
  ts.comm_sm_fraction = 0.1;
  const kernels::LayerCostDetail off = kernels::layer_cost(d, s, g, ts, c);
  ts.ep_comm_overlap = 1;
  const kernels::LayerCostDetail on = kernels::layer_cost(d, s, g, ts, c);
  const double tokens = kernels::tokens_per_gpu(s);
  const double a2a = kernels::alltoall_time(c.net, c.ep, tokens * 8 * 4096 * 2);  // dispatch (combine the same)
  EXPECT_NEAR(off.ep_fwd, 2 * a2a, 1e-12);
  EXPECT_NEAR(off.ep, 4 * a2a, 1e-12);
  const double compute = off.compute_fwd + off.compute_bwd;
  EXPECT_EQ(on.compute_fwd + on.compute_bwd, compute);
  const double want = std::max(0.0, 4 * a2a - compute) + 0.1 * std::min(4 * a2a, compute);
  EXPECT_GT(4 * a2a, compute);
  EXPECT_NEAR(on.ep, want, 1e-12);
  EXPECT_NEAR(on.ep_fwd, want / 2, 1e-12);
  // Fast links: the all-to-alls hide entirely, only the slowed compute is left.
  c.net.level[1].bandwidth = 400e9;
  const kernels::LayerCostDetail fast = kernels::layer_cost(d, s, g, ts, c);
  const double a = kernels::alltoall_time(c.net, c.ep, tokens * 8 * 4096 * 2);
  EXPECT_LT(4 * a, fast.compute_fwd + fast.compute_bwd);
  EXPECT_NEAR(fast.ep, 0.1 * 4 * a, 1e-12);
}

// Megatron-Core's --recompute-modules (transformer_config.py:546-561): each module drops what
// it would have kept and runs its forward again in the backward: core_attn the attention kernel,
// mlp the dense MLP's GEMMs, norm and activation with its TP region's collectives again,
// layernorm the separate norms (the MoE pre-MLP norm, MLA's input norm), moe_act the expert
// activation, mla_up_proj the up-projections and the rotary embedding.
TEST(Operators, RecomputeModulesDropWhatTheyRecomputeAndRunItAgain) {
  const kernels::GpuModel g = test::simple_gpu();
  kernels::TrainingSettings ts;  // FlashAttention, bf16 (2-byte saved GEMM inputs)
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.microbatch = 2;
  s.tp = 2;
  s.sp = 1;
  kernels::CommContext c;
  c.net.num_levels = 1;
  c.net.level[0].bandwidth = 100e9;
  c.tp.num_levels = 1;
  c.tp.members[0] = 2;
  const double T = kernels::tokens_per_gpu(s), t = s.tp, tok_sp = T / t, eb = 2;
  auto with = [&](const kernels::LayerDims& d, kernels::Recompute r, int modules) {
    kernels::ParallelShape x = s;
    x.recompute = r;
    x.recompute_modules = modules;
    return std::pair{kernels::activation_bytes(d, x, ts), kernels::layer_cost(d, x, g, ts, c)};
  };
  using kernels::Recompute;
  // Dense Llama block.
  const kernels::LayerDims dense = llama_block();
  const auto [a0, c0] = with(dense, Recompute::None, 0);
  const auto [a_core, c_core] = with(dense, Recompute::Selective, kernels::kRecomputeCoreAttn);
  EXPECT_DOUBLE_EQ(a0.stored - a_core.stored, T * dense.heads / t * 4);  // the fp32 log-sum-exp
  const kernels::LayerWork w = kernels::layer_work(dense, s, g, ts);
  EXPECT_NEAR(c_core.recompute, w.attention_fwd / g.sustained, 1e-15);
  const auto [a_mlp, c_mlp] = with(dense, Recompute::Selective, kernels::kRecomputeMlp);
  // the fused norm's output (FC1's input), gate and up outputs, the activation's output
  EXPECT_DOUBLE_EQ(a0.stored - a_mlp.stored, tok_sp * 4096 * eb + T * 14336 / t * (2 * eb + eb));
  kernels::LayerWork mlp;
  kernels::add_linear(mlp, g, ts, true, T, 2 * 14336 / t, 4096);
  kernels::add_linear(mlp, g, ts, true, T, 4096, 14336 / t);
  const double mlp_memory = kernels::memory_time(g, 3 * T * 14336 / t * eb + 2 * tok_sp * 4096 * eb);
  EXPECT_NEAR(c_mlp.recompute, (mlp.gemm_fwd + mlp.memory_fwd + mlp_memory) / g.sustained, 1e-15);
  EXPECT_NEAR(c_mlp.tp - c0.tp, 0.5 * c0.tp_fwd, 1e-15);  // the MLP's all-gather and reduce-scatter again
  EXPECT_DOUBLE_EQ(c_mlp.tp_bytes_bwd, 1.5 * c0.tp_bytes_bwd);
  // A dense block has no norm of its own (both fuse into the linear after them).
  const auto [a_ln, c_ln] = with(dense, Recompute::Selective, kernels::kRecomputeLayernorm);
  EXPECT_DOUBLE_EQ(a_ln.stored, a0.stored);
  EXPECT_DOUBLE_EQ(c_ln.recompute, 0);
  // MoE block: the pre-MLP norm is a module; the experts' activation output is FC2's input.
  kernels::LayerDims moe = llama_block();
  moe.experts = 64;
  moe.topk = 8;
  moe.moe_ffn = 1024;
  const auto [m0, mc0] = with(moe, Recompute::None, 0);
  const auto [m_ln, mc_ln] = with(moe, Recompute::Selective, kernels::kRecomputeLayernorm);
  EXPECT_DOUBLE_EQ(m0.stored - m_ln.stored, tok_sp * 4096 * eb);
  EXPECT_NEAR(mc_ln.recompute, kernels::memory_time(g, 2 * tok_sp * 4096 * eb) / g.sustained, 1e-15);
  const double rows = kernels::expert_rows(moe, s, ts);
  const auto [m_act, mc_act] = with(moe, Recompute::Selective, kernels::kRecomputeMoeAct);
  EXPECT_DOUBLE_EQ(m0.stored - m_act.stored, rows * 1024 / t * eb);
  EXPECT_NEAR(mc_act.recompute, kernels::memory_time(g, 3 * rows * 1024 / t * eb) / g.sustained, 1e-15);
  const auto [m_both, mc_both] = with(moe, Recompute::Selective, kernels::kRecomputeLayernorm | kernels::kRecomputeMoeAct);
  EXPECT_DOUBLE_EQ(m0.stored - m_both.stored, tok_sp * 4096 * eb + rows * 1024 / t * eb);
  EXPECT_NEAR(mc_both.recompute, mc_ln.recompute + mc_act.recompute, 1e-15);
  EXPECT_DOUBLE_EQ(mc_both.tp, mc0.tp);  // nothing of a TP region runs again
  // MLA block: Q, K and V after the up-projections.
  kernels::LayerDims mla = llama_block();
  mla.kv_heads = mla.heads = 32;
  mla.q_lora = 512;
  mla.kv_lora = 256;
  mla.rope_dim = 64;
  mla.head_dim = 192;
  mla.v_head_dim = 128;
  const auto [l0, lc0] = with(mla, Recompute::None, 0);
  const auto [l_up, lc_up] = with(mla, Recompute::Selective, kernels::kRecomputeMlaUpProj);
  EXPECT_DOUBLE_EQ(l0.stored - l_up.stored, T * (32 * 192 + 32 * 192 + 32 * 128) / t * eb);
  kernels::LayerWork up;
  kernels::add_linear(up, g, ts, true, T, 32 * 192 / t, 512);
  kernels::add_linear(up, g, ts, true, T, 32 * (192 - 64 + 128) / t, 256);
  const double rope = kernels::memory_time(g, 2 * T * 33 * 64 / t * eb);
  EXPECT_NEAR(lc_up.recompute, (up.gemm_fwd + up.memory_fwd + rope) / g.sustained, 1e-15);
  const auto [l_ln, lc_ln] = with(mla, Recompute::Selective, kernels::kRecomputeLayernorm);
  EXPECT_DOUBLE_EQ(l0.stored - l_ln.stored, tok_sp * 4096 * eb);  // MLA's input norm
  // Recomputed FLOPs count as executed: the up-projections' once more.
  kernels::ParallelShape x = s;
  x.recompute = Recompute::Selective;
  x.recompute_modules = kernels::kRecomputeMlaUpProj;
  EXPECT_DOUBLE_EQ(kernels::layer_flops(kernels::layer_work(mla, x, g, ts), mla, x).hardware,
                   kernels::layer_flops(kernels::layer_work(mla, s, g, ts), mla, s).hardware + up.gemm_flops);
}

// moe checkpoints the whole MoE layer (moe_layer.py:694-709): everything inside it is dropped
// (its input, the pre-MLP norm's output, stays) and its forward runs again, all-to-alls and
// TP collectives included; shared_experts checkpoints the shared experts alone (:510-524).
TEST(Operators, RecomputingTheMoeLayerRunsItsForwardAndCollectivesAgain) {
  const kernels::GpuModel g = test::simple_gpu();
  kernels::TrainingSettings ts;
  kernels::LayerDims d = llama_block();
  d.experts = 64;
  d.topk = 8;
  d.moe_ffn = 1024;
  d.shared_ffn = 2048;
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.microbatch = 2;
  s.tp = 2;
  s.sp = 1;
  s.ep = 4;
  kernels::CommContext c;
  c.net.num_levels = 2;
  c.net.level[0].bandwidth = 150e9;
  c.net.level[1].bandwidth = 25e9;
  c.tp.num_levels = 1;
  c.tp.members[0] = 2;
  c.ep.num_levels = 2;
  c.ep.members[0] = 2;
  c.ep.members[1] = 2;
  const double T = kernels::tokens_per_gpu(s), t = s.tp, tok_sp = T / t, eb = 2, h = 4096;
  auto with = [&](kernels::Recompute r, int modules) {
    kernels::ParallelShape x = s;
    x.recompute = r;
    x.recompute_modules = modules;
    return std::pair{kernels::activation_bytes(d, x, ts), kernels::layer_cost(d, x, g, ts, c)};
  };
  using kernels::Recompute;
  const auto [a0, c0] = with(Recompute::None, 0);
  // The layer's pieces, written out: router (bf16), experts, shared experts; the memory-bound
  // kernels: permute and unpermute, the two activations.
  const double rows = kernels::expert_rows(d, s, ts), local = 64.0 / s.ep;
  kernels::LayerWork routed, shared;
  kernels::add_linear(routed, g, ts, false, tok_sp, 64, h);
  kernels::add_linear(routed, g, ts, true, rows / local, 2 * 1024 / t, h, local);
  kernels::add_linear(routed, g, ts, true, rows / local, h, 1024 / t, local);
  kernels::add_linear(shared, g, ts, true, T, 2 * 2048 / t, h);
  kernels::add_linear(shared, g, ts, true, T, h, 2048 / t);
  const double routed_elem = 4 * rows * h * eb + 3 * rows * 1024 / t * eb, shared_elem = 3 * T * 2048 / t * eb;
  const double routed_saved = rows * (h * eb + 2 * 1024 / t * eb + 1024 / t * eb) + tok_sp * 64 * 4;
  const double shared_saved = T * 2048 / t * (2 * eb + eb);
  const kernels::LayerComm comm = kernels::layer_comm(d, s, ts, c);
  ASSERT_GT(comm.ep, 0);
  ASSERT_GT(comm.shared_tp, 0);
  ASSERT_GT(comm.moe_tp, comm.shared_tp);  // the expert tensor-parallel gathers too
  ASSERT_LT(comm.moe_tp, comm.tp);         // not the attention's region

  const auto [a_moe, c_moe] = with(Recompute::Selective, kernels::kRecomputeMoe);
  EXPECT_NEAR(a0.stored - a_moe.stored, routed_saved + shared_saved, 1e-6 * a0.stored);
  const double moe_fwd = routed.gemm_fwd + routed.memory_fwd + shared.gemm_fwd + shared.memory_fwd +
                         kernels::memory_time(g, routed_elem + shared_elem);
  EXPECT_NEAR(c_moe.recompute, moe_fwd / g.sustained, 1e-12 * moe_fwd);
  EXPECT_NEAR(c_moe.ep - c0.ep, comm.ep, 1e-15);  // dispatch and combine again
  EXPECT_NEAR(c_moe.tp - c0.tp, comm.moe_tp / comm.tp * c0.tp_fwd, 1e-15);
  EXPECT_DOUBLE_EQ(c_moe.ep_bytes_bwd, 2 * c0.ep_bytes_bwd);
  EXPECT_DOUBLE_EQ(c_moe.tp_bytes_bwd, c0.tp_bytes_bwd + comm.moe_tp_bytes);
  kernels::ParallelShape x = s;
  x.recompute = Recompute::Selective;
  x.recompute_modules = kernels::kRecomputeMoe;
  EXPECT_NEAR(kernels::layer_flops(kernels::layer_work(d, x, g, ts), d, x).hardware,
              kernels::layer_flops(kernels::layer_work(d, s, g, ts), d, s).hardware + routed.gemm_flops + shared.gemm_flops,
              1e-9 * (routed.gemm_flops + shared.gemm_flops));
  // moe_act and shared_experts are inside it: adding them changes nothing.
  const auto [a_all, c_all] =
      with(Recompute::Selective, kernels::kRecomputeMoe | kernels::kRecomputeMoeAct | kernels::kRecomputeSharedExperts);
  EXPECT_DOUBLE_EQ(a_all.stored, a_moe.stored);
  EXPECT_DOUBLE_EQ(c_all.cost.bwd, c_moe.cost.bwd);

  const auto [a_sh, c_sh] = with(Recompute::Selective, kernels::kRecomputeSharedExperts);
  EXPECT_NEAR(a0.stored - a_sh.stored, shared_saved, 1e-9 * a0.stored);
  const double shared_fwd = shared.gemm_fwd + shared.memory_fwd + kernels::memory_time(g, shared_elem);
  EXPECT_NEAR(c_sh.recompute, shared_fwd / g.sustained, 1e-12 * shared_fwd);
  EXPECT_DOUBLE_EQ(c_sh.ep, c0.ep);  // no all-to-all again
  EXPECT_NEAR(c_sh.tp - c0.tp, comm.shared_tp / comm.tp * c0.tp_fwd, 1e-15);
  EXPECT_DOUBLE_EQ(c_sh.tp_bytes_bwd, c0.tp_bytes_bwd + comm.shared_tp_bytes);
  // Each saves less and costs less than the whole layer.
  EXPECT_GT(a_sh.stored, a_moe.stored);
  EXPECT_LT(c_sh.cost.bwd, c_moe.cost.bwd);
  // A dense block has neither: nothing changes.
  const kernels::LayerDims dense = llama_block();
  kernels::ParallelShape y = s;
  y.ep = 1;
  const kernels::LayerCostDetail dense0 = kernels::layer_cost(dense, y, g, ts, c);
  const double dense_stored = kernels::activation_bytes(dense, y, ts).stored;
  y.recompute = Recompute::Selective;
  y.recompute_modules = kernels::kRecomputeMoe | kernels::kRecomputeSharedExperts;
  EXPECT_DOUBLE_EQ(kernels::layer_cost(dense, y, g, ts, c).cost.bwd, dense0.cost.bwd);
  EXPECT_DOUBLE_EQ(kernels::activation_bytes(dense, y, ts).stored, dense_stored);
}

// Where Megatron-Core runs the EP overlap (transformer_config.py:2669-2713; arguments.py:1426-1435)
// and what it holds: one more microbatch in flight (schedules.py:939-943, combined_1f1b.py:34-60).
TEST(Operators, MegatronRunsTheEpOverlapWhereItsConfigAllowsIt) {
  Problem prob = test::preset_problem("mixtral-8x7b", "dgx-h100", 64, 256, 4096);
  Plan plan;
  Parallelism& par = plan.par;
  par.tp = 2, par.sp = true, par.pp = 2, par.ep = 8, par.dp = 16, par.zero = 1;
  par.schedule = Schedule::Interleaved, par.virtual_stages = 2;
  par.microbatch = 1, par.num_microbatches = 16;
  par.ep_comm_overlap = true;
  const Framework& mg = framework(FrameworkKind::Megatron);
  auto refused = [&](const std::string& what) {
    for (const std::string& r : mg.unsupported(prob, par, plan.order))
      if (r.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(mg.unsupported(prob, par, plan.order).empty());
  EXPECT_EQ(mg.settings(prob, par).ep_comm_overlap, 1);
  par.tp_comm_overlap = true;
  EXPECT_TRUE(refused("CUDA_DEVICE_MAX_CONNECTIONS"));  // Hopper: one value per launch
  Problem b200 = test::preset_problem("mixtral-8x7b", "dgx-b200", 64, 256, 4096);
  EXPECT_TRUE(mg.unsupported(b200, par, plan.order).empty());
  par.tp_comm_overlap = false;
  par.schedule = Schedule::OneFOneB, par.virtual_stages = 1;
  EXPECT_TRUE(refused("interleaved schedule"));
  par.pp = 1, par.dp = 32, par.num_microbatches = 8;
  EXPECT_TRUE(mg.unsupported(prob, par, plan.order).empty());  // without pipelining it pairs microbatches
  par.recompute = Recompute::Full;
  EXPECT_TRUE(refused("full recomputation"));
  par.recompute = Recompute::Selective;
  par.recompute_modules = kernels::kRecomputeMoe;
  EXPECT_TRUE(refused("moe in --recompute-modules"));
  par.recompute_modules = kernels::kRecomputeMoeAct;  // inside the layer, not around it: allowed
  EXPECT_TRUE(mg.unsupported(prob, par, plan.order).empty());
  par.recompute = Recompute::None;
  par.num_microbatches = 1;
  EXPECT_TRUE(refused("one microbatch"));
  par.num_microbatches = 8;
  prob.options.moe_allgather = true;
  EXPECT_TRUE(refused("alltoall token dispatcher"));
  prob.options.moe_allgather = false;
  par.ep = 1;
  EXPECT_TRUE(refused("expert parallelism"));
  par.ep = 8;
  EXPECT_FALSE(framework(FrameworkKind::Torchtitan).unsupported(prob, par, plan.order).empty());
  EXPECT_FALSE(framework(FrameworkKind::Deepspeed).unsupported(prob, par, plan.order).empty());

  // Memory: without pipelining a second microbatch's activations are alive; time: the all-to-alls
  // hide, so the step is no slower.
  plan.blocks_per_stage = {static_cast<int>(prob.model.layers)};
  const Prediction on = evaluate_plan(prob, plan);
  par.ep_comm_overlap = false;
  const Prediction off = evaluate_plan(prob, plan);
  ASSERT_TRUE(on.evaluated && off.evaluated);
  EXPECT_NEAR(on.stages[0].memory.activations, 2 * off.stages[0].memory.activations, 1e-6 * off.stages[0].memory.activations);
  EXPECT_LT(on.breakdown.ep, off.breakdown.ep);
  EXPECT_LT(on.step_time, off.step_time);
}

// FP8 GEMMs run at the FP8 peak with their own curve and add quantisation traffic; the layer's
// GEMMs get faster, the LM head stays bf16.
TEST(Operators, Fp8LinearsAreFasterAndCastTheirInputs) {
  const GpuSpec h100 = load_gpu("h100-sxm");
  const kernels::LayerDims d = llama_block();
  kernels::ParallelShape s;
  s.seq_len = 8192;
  const kernels::TrainingSettings ts;
  const kernels::LayerWork bf16 = kernels::layer_work(d, s, h100.compute_model(Precision::Bf16), ts);
  const kernels::LayerWork fp8 = kernels::layer_work(d, s, h100.compute_model(Precision::Fp8), ts);
  EXPECT_LT(fp8.gemm_fwd, 0.75 * bf16.gemm_fwd);
  EXPECT_GT(fp8.memory_fwd, bf16.memory_fwd);  // the casts
  EXPECT_DOUBLE_EQ(fp8.gemm_flops, bf16.gemm_flops);
  EXPECT_DOUBLE_EQ(fp8.attention_fwd, bf16.attention_fwd);
  kernels::LayerDims head = d;
  head.kind = kernels::LayerKind::Head;
  head.vocab = 128256;
  EXPECT_DOUBLE_EQ(kernels::layer_work(head, s, h100.compute_model(Precision::Fp8), ts).gemm_fwd,
                   kernels::layer_work(head, s, h100.compute_model(Precision::Bf16), ts).gemm_fwd);
  // An unfused cast reads its bf16 input again: 2 + 2q bytes per element instead of 2q.
  kernels::TrainingSettings eager = ts;
  eager.fused_casts = 0;
  EXPECT_GT(kernels::layer_work(d, s, h100.compute_model(Precision::Fp8), eager).memory_fwd, fp8.memory_fwd);
}

// Capacities are what the device reports, in bytes: an "80 GB" H100 has 81,559 MiB.
TEST(Operators, DeviceMemoryIsWhatNvidiaSmiReports) {
  EXPECT_DOUBLE_EQ(load_gpu("h100-sxm").memory_bytes, 81559 * kMiB);
  EXPECT_DOUBLE_EQ(load_gpu("h200").memory_bytes, 143771 * kMiB);
  EXPECT_DOUBLE_EQ(load_gpu("b200").memory_bytes, 183359 * kMiB);
  EXPECT_DOUBLE_EQ(load_gpu("a100-80gb").memory_bytes, 81920 * kMiB);
}

// A board power cap below the TDP slows the tensor cores by the cube root of cap / TDP
// (docs/cost-model.md §3.6); HBM and the datasheet peak MFU divides by stay.
TEST(Operators, PowerCapSlowsTheTensorCoresOnly) {
  GpuSpec h100 = load_gpu("h100-sxm");
  EXPECT_DOUBLE_EQ(h100.tdp_watts, 700);
  EXPECT_DOUBLE_EQ(h100.compute_power_fraction(), 1.0);
  const kernels::GpuModel full = h100.compute_model(Precision::Fp8);
  set_gpu_power_limit(h100, 500, "test");
  const double f = std::cbrt(500.0 / 700.0);
  EXPECT_NEAR(h100.compute_power_fraction(), f, 1e-15);
  const kernels::GpuModel capped = h100.compute_model(Precision::Fp8);
  EXPECT_NEAR(capped.linear.peak, f * full.linear.peak, 1e-6 * full.linear.peak);
  EXPECT_NEAR(capped.bf16.peak, f * full.bf16.peak, 1e-6 * full.bf16.peak);
  EXPECT_EQ(capped.hbm_bandwidth, full.hbm_bandwidth);
  EXPECT_EQ(h100.peak_flops[0], load_gpu("h100-sxm").peak_flops[0]);
  // A large GEMM is compute-bound: 1/f times as long; a memory-bound pass is not slowed.
  EXPECT_NEAR(kernels::gemm_time(capped, 8192, 8192, 8192) / kernels::gemm_time(full, 8192, 8192, 8192), 1 / f, 1e-9);
  EXPECT_EQ(kernels::memory_time(capped, 1e9), kernels::memory_time(full, 1e9));
  // A cap at or above the TDP changes nothing.
  set_gpu_power_limit(h100, 800, "test");
  EXPECT_DOUBLE_EQ(h100.compute_power_fraction(), 1.0);
  // The 96 GB HBM2e part of the torchtitan benchmarks runs at its 500 W default.
  EXPECT_NEAR(load_gpu("h100-96gb-hbm2e").compute_power_fraction(), f, 1e-15);
  // Bad caps, and a GPU that states no TDP, are bad input.
  EXPECT_THROW(set_gpu_power_limit(h100, 0, "test"), Error);
  EXPECT_THROW(set_gpu_power_limit(h100, -5, "test"), Error);
  GpuSpec tpu = load_gpu("tpu-v4");
  EXPECT_THROW(set_gpu_power_limit(tpu, 100, "test"), Error);
}

// MXFP8 and NVFP4 exist on Blackwell only; FP8 from Hopper on.
TEST(Operators, FormatsFollowTheTensorCores) {
  EXPECT_FALSE(load_gpu("a100-80gb").supports(Precision::Fp8));
  EXPECT_TRUE(load_gpu("h100-sxm").supports(Precision::Fp8));
  EXPECT_FALSE(load_gpu("h100-sxm").supports(Precision::Mxfp8));
  EXPECT_FALSE(load_gpu("h200").supports(Precision::Nvfp4));
  for (Precision p : {Precision::Fp8, Precision::Mxfp8, Precision::Nvfp4}) EXPECT_TRUE(load_gpu("b200").supports(p));
  const auto bad = test::run_nest(
      "plan --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 64 --seq-len 4096 --precision bf16,mxfp8");
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("mxfp8"), std::string::npos) << bad.err;
  // What the GPU has, from its preset (no list of GPU generations to go stale: MI355X has MXFP8).
  EXPECT_NE(bad.err.find("h100-sxm has no mxfp8 tensor cores (its preset has bf16, fp8)"), std::string::npos) << bad.err;
  EXPECT_TRUE(load_gpu("mi355x").supports(Precision::Mxfp8));
}

// NVLS all-reduce inside an NVLink domain that has it (480 GB/s on DGX H100), rings elsewhere.
TEST(Operators, NvlsAllReduceInsideTheNode) {
  const Cluster c = load_cluster("dgx-h100");
  const kernels::Network net = c.network();
  kernels::GroupShape node;
  node.num_levels = 2;
  node.members[0] = 8;
  node.members[1] = 1;
  const double S = 1e9;
  EXPECT_NEAR(kernels::allreduce_time(net, node, S), 2.0 * 7 / 8 * S / 480e9 + 2 * net.level[0].latency, 1e-12);
  kernels::GroupShape across = node;
  across.members[1] = 2;
  EXPECT_GT(kernels::allreduce_time(net, across, S), kernels::nvls_allreduce_time(net, node, S));
  EXPECT_GE(kernels::nvls_allreduce_time(net, across, S), 1e299);
}

// Framework recipes: Megatron's distributed optimizer shards only the optimizer state; FSDP2
// shards torchtitan's fp32 parameters, gradients and moments; DeepSpeed's ZeRO-2 the gradients too.
TEST(Operators, FrameworkRecipesShardWhatTheFrameworkShards) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 64, 4096);
  Parallelism par;
  par.dp = 8;
  par.zero = 1;
  const kernels::TrainingSettings mg = framework(FrameworkKind::Megatron).settings(p, par);
  EXPECT_EQ(mg.weight_sharded + mg.grad_sharded, 0);
  EXPECT_EQ(mg.optimizer_sharded, 1);
  EXPECT_DOUBLE_EQ(mg.grad_bytes, 4);
  par.zero = 3;
  const kernels::TrainingSettings tt = framework(FrameworkKind::Torchtitan).settings(p, par);
  EXPECT_EQ(tt.weight_sharded + tt.grad_sharded + tt.optimizer_sharded, 3);
  EXPECT_DOUBLE_EQ(tt.weight_bytes + tt.grad_bytes + tt.optimizer_bytes, 16);
  par.zero = 2;
  const kernels::TrainingSettings ds = framework(FrameworkKind::Deepspeed).settings(p, par);
  EXPECT_EQ(ds.grad_sharded, 1);
  EXPECT_EQ(ds.weight_sharded, 0);
  EXPECT_EQ(ds.grad_reduce_every_microbatch, 1);
}

// Megatron's three loss implementations move and keep what docs/frameworks.md §2 counts from their
// code, per local logit; the head's memory-bound time differs by exactly those bytes at the
// achieved bandwidth, the blocks' not at all. The fused one's compiled backward writes a
// functional copy of the saved softmax (docs/tools/compiled_loss_buffers.py: 10 bytes at
// its peak); Megatron-DeepSpeed's is the unfused one with an out-of-place subtraction (10 bytes
// at its peak too). The choice is Megatron's alone.
TEST(Operators, MegatronLossKernelsMoveWhatTheirCodeMoves) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 64, 4096);
  Parallelism par;
  par.dp = 8;
  par.zero = 1;
  const Framework& mg = framework(FrameworkKind::Megatron);
  struct Expected {
    CrossEntropy c;
    double fwd, bwd, kept;
  };
  for (const Expected& e : {Expected{CrossEntropy::Auto, 38, 14, 6}, Expected{CrossEntropy::Unfused, 38, 14, 6},
                            Expected{CrossEntropy::Fused, 22, 14, 10}, Expected{CrossEntropy::TransformerEngine, 2, 4, 2}}) {
    p.options.cross_entropy = e.c;
    const kernels::TrainingSettings ts = mg.settings(p, par);
    EXPECT_DOUBLE_EQ(ts.loss_traffic_fwd, e.fwd) << to_string(e.c);
    EXPECT_DOUBLE_EQ(ts.loss_traffic_bwd, e.bwd) << to_string(e.c);
    EXPECT_DOUBLE_EQ(ts.loss_bytes_per_logit, e.kept) << to_string(e.c);
  }
  const kernels::TrainingSettings ds = framework(FrameworkKind::Deepspeed).settings(p, par);
  EXPECT_DOUBLE_EQ(ds.loss_traffic_fwd, 38);
  EXPECT_DOUBLE_EQ(ds.loss_traffic_bwd, 14);
  EXPECT_DOUBLE_EQ(ds.loss_bytes_per_logit, 10);

  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model();
  kernels::LayerDims head;
  head.kind = kernels::LayerKind::Head;
  head.hidden = 4096;
  head.vocab = 128256;
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.tp = 2;
  kernels::TrainingSettings a, b;
  b.loss_traffic_fwd = a.loss_traffic_fwd + 28;
  b.loss_traffic_bwd = a.loss_traffic_bwd - 6;
  const double logits = 4096.0 * 128256 / 2, bw = g.hbm_bandwidth * g.memory_efficiency;
  const kernels::LayerWork wa = kernels::layer_work(head, s, g, a), wb = kernels::layer_work(head, s, g, b);
  EXPECT_NEAR(wb.memory_fwd - wa.memory_fwd, logits * 28 / bw, 1e-12);
  EXPECT_NEAR(wb.memory_bwd - wa.memory_bwd, -logits * 6 / bw, 1e-12);
  const kernels::LayerDims block = llama_block();
  EXPECT_DOUBLE_EQ(kernels::layer_work(block, s, g, a).memory_fwd, kernels::layer_work(block, s, g, b).memory_fwd);

  TrainingOptions o;
  o.framework = FrameworkKind::Torchtitan;
  o.cross_entropy = CrossEntropy::Fused;
  EXPECT_THROW(require_cross_entropy(o, "--cross-entropy"), Error);
  o.framework = FrameworkKind::Any;
  EXPECT_NO_THROW(require_cross_entropy(o, "--cross-entropy"));
  EXPECT_EQ(parse_cross_entropy("te", "--cross-entropy"), CrossEntropy::TransformerEngine);
  EXPECT_THROW(parse_cross_entropy("liger", "--cross-entropy"), Error);
}

// llama3-8b on 16 GPUs (64 sequences): pp 4, dp 4, ZeRO-1, the interleaved schedule with 2
// chunks per stage, 16 microbatches of 1.
Parallelism interleaved_pp4_v2() {
  Parallelism par;
  par.pp = 4;
  par.dp = 4;
  par.zero = 1;
  par.microbatch = 1;
  par.num_microbatches = 16;
  par.schedule = Schedule::Interleaved;
  par.virtual_stages = 2;
  return par;
}

// A pipeline send overlapped with compute costs what the compute does not hide plus the share of
// the compute it slows; Megatron overlaps its sends under the interleaved schedule only (unless
// told not to), torchtitan and DeepSpeed are priced waiting for theirs.
TEST(Operators, InterleavedMegatronOverlapsItsPipelineSends) {
  kernels::Network net;
  net.num_levels = 1;
  net.level[0].bandwidth = 50e9;
  net.level[0].latency = 5e-6;
  kernels::LayerCost c;
  c.send_bytes = 64e6;
  const double whole = kernels::sendrecv_time(net, 0, c.send_bytes);
  EXPECT_DOUBLE_EQ(kernels::send_time(net, 0, c), whole);
  c.send_sm = 0.12;
  c.send_hide = whole / 4;  // the compute covers a quarter of it
  EXPECT_NEAR(kernels::send_time(net, 0, c), 0.75 * whole + 0.12 * whole / 4, 1e-15);
  c.send_hide = 10 * whole;  // hidden: only the slowed compute is left
  EXPECT_NEAR(kernels::send_time(net, 0, c), 0.12 * whole, 1e-15);

  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 64, 4096);
  Parallelism par = interleaved_pp4_v2();
  const Framework& mg = framework(FrameworkKind::Megatron);
  EXPECT_EQ(mg.settings(p, par).pp_send_overlap, 1);
  p.options.overlap_p2p = 0;
  EXPECT_EQ(mg.settings(p, par).pp_send_overlap, 0);
  p.options.overlap_p2p = -1;
  par.schedule = Schedule::OneFOneB;
  par.virtual_stages = 1;
  EXPECT_EQ(mg.settings(p, par).pp_send_overlap, 0);  // Megatron forces it off without interleaving
  par.schedule = Schedule::Interleaved;
  par.virtual_stages = 2;
  par.zero = 0;
  EXPECT_EQ(framework(FrameworkKind::Deepspeed).settings(p, par).pp_send_overlap, 0);
  par.zero = 3;
  EXPECT_EQ(framework(FrameworkKind::Torchtitan).settings(p, par).pp_send_overlap, 0);
  TrainingOptions o;
  o.framework = FrameworkKind::Torchtitan;
  o.overlap_p2p = 1;
  EXPECT_THROW(require_overlap_p2p(o, "--overlap-p2p"), Error);
}

// The fill and flush are chains: the first microbatch's forward and the last one's backward
// cross the model's p v - 1 chunk boundaries one after another, so there an overlapped send
// costs its whole time. The step adds what the hidden sends left out, once per boundary and
// direction; nothing where sends are waited for.
TEST(Operators, OverlappedSendsCostTheirWholeTimeOnTheFillAndFlush) {
  kernels::SliceContext ctx;
  ctx.net.num_levels = 2;
  ctx.net.level[0].bandwidth = 400e9;
  ctx.net.level[0].latency = 3e-6;
  ctx.net.level[1].bandwidth = 50e9;
  ctx.net.level[1].latency = 10e-6;
  ctx.p = 4;
  ctx.v = 3;
  // Two ranks per stage, 16 GPUs: an 8-GPU domain holds one replica's four stages, so every
  // boundary, the wrap included, stays inside it.
  ctx.pp.stages = 4;
  ctx.pp.stride = 2;
  ctx.pp.gpus = 16;
  ctx.pp.num_levels = 2;
  ctx.pp.domain[0] = 8;
  ctx.pp.domain[1] = 16;
  kernels::LayerCost c;
  c.send_bytes = 32e6;
  EXPECT_EQ(kernels::fill_flush_transit(ctx, c), 0);  // waited for: the stages pay it already
  c.send_sm = 0.12;
  c.send_hide = 1;  // hidden in the steady state
  const double whole = kernels::sendrecv_time(ctx.net, 0, c.send_bytes);
  EXPECT_NEAR(kernels::send_transit(ctx.net, 0, c), whole - 0.12 * whole, 1e-15);
  EXPECT_NEAR(kernels::fill_flush_transit(ctx, c), 2 * (4 * 3 - 1) * (1 - 0.12) * whole, 1e-12);
  // Two stages per 4-GPU domain: boundary 1 and the wrap cross level 1, each as often as the
  // chain crosses it (boundary 1: v times; the wrap: v - 1 times).
  ctx.pp.domain[0] = 4;
  ASSERT_EQ(kernels::pp_boundary_level(ctx.pp, 0), 0);
  ASSERT_EQ(kernels::pp_boundary_level(ctx.pp, 1), 1);
  ASSERT_EQ(kernels::pp_boundary_level(ctx.pp, 3), 1);
  const double far = kernels::sendrecv_time(ctx.net, 1, c.send_bytes);
  EXPECT_NEAR(kernels::fill_flush_transit(ctx, c), 2 * (1 - 0.12) * ((3 + 3) * whole + (3 + 2) * far), 1e-12);

  // In a plan: Megatron's interleaved schedule pays it in its pipeline time (the bubble), the
  // same schedule with its sends waited for does not.
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 64, 4096);
  const Parallelism par = interleaved_pp4_v2();
  const LayerGraph graph = build_layer_graph(p.model, true);
  const std::vector<StageLayout> layout = layout_stages({8, 8, 8, 8}, 2);
  const SliceCosts overlapped = build_slice_costs(p, graph, par, RankOrder{});
  const SplitEval a = evaluate_split(overlapped, layout);
  EXPECT_GT(a.fill_flush, 0);
  EXPECT_DOUBLE_EQ(a.fill_flush, kernels::fill_flush_transit(overlapped.ctx, overlapped.layers[1].cost));
  EXPECT_DOUBLE_EQ(a.pipeline_time, kernels::pipeline_time(a.sum_time, a.max_time, 16, 2) + a.fill_flush);
  EXPECT_DOUBLE_EQ(a.step_time, a.pipeline_time + a.max_tail);
  // The report says how much of the bubble it is.
  Plan plan;
  plan.par = par;
  plan.blocks_per_stage = {8, 8, 8, 8};
  const Prediction pr = evaluate_plan(p, plan);
  ASSERT_TRUE(pr.evaluated);
  EXPECT_DOUBLE_EQ(pr.breakdown.bubble_sends, a.fill_flush);
  EXPECT_GT(pr.breakdown.bubble, pr.breakdown.bubble_sends);
  p.options.overlap_p2p = 0;
  const SliceCosts waited = build_slice_costs(p, graph, par, RankOrder{});
  const SplitEval b = evaluate_split(waited, layout);
  EXPECT_EQ(b.fill_flush, 0);
  EXPECT_GT(b.step_time, a.step_time);  // waiting for every send costs more than for the chains'
}

// Megatron-LM reduces its first pipeline stage's gradients in buckets of bucket_size parameters
// (max(40M, 1M x dp x cp) by default, --grad-bucket-size to set it) and every other stage's in one
// bucket: the first stage waits at least for its last bucket.
TEST(Operators, MegatronBucketsTheFirstStagesGradientSync) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 64, 4096);
  Parallelism par;
  par.pp = 2;
  par.dp = 8;
  par.zero = 1;
  par.microbatch = 1;
  par.num_microbatches = 8;
  par.overlap_grad_reduce = par.overlap_param_gather = true;
  const LayerGraph graph = build_layer_graph(p.model, true);
  const std::vector<StageLayout> layout = layout_stages({16, 16}, 1);
  const SliceCosts costs = build_slice_costs(p, graph, par, RankOrder{});
  EXPECT_DOUBLE_EQ(costs.ctx.grad_bucket_bytes, 40e6 * 4);  // fp32 main gradients
  const SplitEval a = evaluate_split(costs, layout);
  const kernels::StageSums& first = a.stages[0].sums;
  const kernels::SyncTimes t0 = kernels::sync_times(costs.ctx, first, true);
  EXPECT_EQ(t0.buckets, static_cast<int>(std::ceil(first.dp_reduce_bytes / (40e6 * 4))));
  EXPECT_GT(t0.buckets, 50);  // about 4.5B parameters on stage 0
  EXPECT_EQ(kernels::sync_times(costs.ctx, a.stages[1].sums, false).buckets, 0);
  // Each bucket is a collective of its own over its share, with its own latency; the last
  // bucket's share is waited for at least.
  const kernels::SyncTimes whole = kernels::sync_times(costs.ctx, first, false);
  EXPECT_DOUBLE_EQ(t0.reduce, t0.buckets * kernels::gradient_sync_time(costs.ctx, first.dp_reduce_bytes / t0.buckets, 0));
  EXPECT_DOUBLE_EQ(t0.gather, t0.buckets * kernels::param_gather_time(costs.ctx, first.dp_gather_bytes / t0.buckets, 0));
  EXPECT_GT(t0.reduce, whole.reduce);
  EXPECT_GE(t0.reduce_exposed, t0.reduce / t0.buckets);
  EXPECT_GT(t0.reduce_exposed, whole.reduce_exposed);
  EXPECT_DOUBLE_EQ(a.stages[0].sync_exposed, t0.reduce_exposed + t0.gather_exposed);

  // One bucket for the whole stage: its reduction waits for the last backward, all exposed.
  p.options.grad_bucket_size = 100000000000;
  const SliceCosts one = build_slice_costs(p, graph, par, RankOrder{});
  const SplitEval b = evaluate_split(one, layout);
  const kernels::SyncTimes t1 = kernels::sync_times(one.ctx, b.stages[0].sums, true);
  EXPECT_EQ(t1.buckets, 1);
  EXPECT_DOUBLE_EQ(t1.reduce, whole.reduce);
  EXPECT_DOUBLE_EQ(t1.reduce_exposed, t1.reduce);
  EXPECT_GT(b.step_time, a.step_time);

  // Not overlapped: one bucket (Megatron's bucket_size None), which an overlapped parameter
  // all-gather waits for whole; not Megatron's DDP: no buckets.
  par.overlap_grad_reduce = false;
  const SliceCosts off = build_slice_costs(p, graph, par, RankOrder{});
  const SplitEval c = evaluate_split(off, layout);
  const kernels::SyncTimes t2 = kernels::sync_times(off.ctx, c.stages[0].sums, true);
  EXPECT_EQ(t2.buckets, 1);
  EXPECT_DOUBLE_EQ(t2.gather_exposed, t2.gather);
  EXPECT_DOUBLE_EQ(t2.reduce_exposed, t2.reduce);
  EXPECT_DOUBLE_EQ(t2.reduce, whole.reduce);

  // Buckets of 100,000 parameters: 45,000 latencies beside a short pass make the overlap
  // slower than one reduction after the step, which the search then keeps beside it
  // (Search.TheGradientOverlapIsDroppedWhereItsBucketsCostMore).
  par.overlap_grad_reduce = true;
  p.options.grad_bucket_size = 100000;
  const SplitEval tiny = evaluate_split(build_slice_costs(p, graph, par, RankOrder{}), layout);
  EXPECT_GT(tiny.step_time, c.step_time);
  par.zero = 3;
  EXPECT_EQ(build_slice_costs(p, graph, par, RankOrder{}).ctx.grad_bucket_bytes, 0);
  par.zero = 1;
  p.options.grad_bucket_size = 0;
  p.options.framework = FrameworkKind::Deepspeed;
  EXPECT_EQ(build_slice_costs(p, graph, par, RankOrder{}).ctx.grad_bucket_bytes, 0);
}

// torchtitan's loss keeps the bf16 logits, their fp32 upcast and the fp32 log-softmax when it
// runs eager; compiled with the model (torchtitan since 2025-04, or --compile-loss on) only the
// bf16 logits and their bf16 gradient.
TEST(Operators, TorchtitanCompiledLossKeepsOnlyBf16Logits) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 64, 4096);
  p.options.framework = FrameworkKind::Torchtitan;
  Parallelism par;
  par.dp = 8;
  par.zero = 3;
  const Framework& tt = framework(FrameworkKind::Torchtitan);
  // Eager: the backward's saved log-softmax, NLL gradient and log-softmax gradient (12), plus the
  // bf16 logits (2): alive in the chunk wrapper, a stranded allocator segment after `del pred`.
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 14);
  p.options.loss_chunks = 1;
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 14);
  // Vocabulary-parallel under TP: the saved log-probabilities, the target's zeros, their sum with
  // exp(log_probs) and its product with the incoming gradient (16 per local logit), and the 2.
  par.tp = 8;
  par.dp = 1;
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 18);
  par.tp = 1;
  par.dp = 8;
  p.options.loss_chunks = 0;
  p.options.compile = true;
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 4);
  p.options.compile_loss = 0;
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 14);
  p.options.compile = false;
  p.options.compile_loss = 1;
  EXPECT_DOUBLE_EQ(tt.settings(p, par).loss_bytes_per_logit, 4);
  EXPECT_EQ(parse_auto_on_off("auto", "--compile-loss"), -1);
  EXPECT_THROW(parse_auto_on_off("yes", "--compile-loss"), Error);
}

// torchao's cast traffic per recipe is its own roofline's (torchao/testing/training/
// roofline_utils.py:131-300): bytes per element for an fp8 (q = 1) activation fused into its
// producer, summed over the passes, and per weight cast every pass.
TEST(Operators, TorchaoCastTrafficIsItsRooflines) {
  using kernels::CastRecipe;
  auto act = [](CastRecipe r, bool fused) {
    const kernels::CastBytes c = kernels::cast_bytes(r, 1, fused);
    return c.input_fwd + c.input_bwd;
  };
  auto weight = [](CastRecipe r) {
    const kernels::CastBytes c = kernels::cast_bytes(r, 1, true);
    return c.weight_fwd + c.weight_bwd;
  };
  // tensorwise: amax (2, 0 when fused), one kernel reading bf16 (2) and writing both copies (1 + 1)
  EXPECT_DOUBLE_EQ(act(CastRecipe::TorchaoTensorwise, true), 4);
  EXPECT_DOUBLE_EQ(act(CastRecipe::TorchaoTensorwise, false), 6);
  EXPECT_DOUBLE_EQ(weight(CastRecipe::TorchaoTensorwise), 2 + 3 + 3);
  // rowwise: (fp8 dim 0 + bf16 transpose) 1 + 2 (+2 unfused), then the dim-1 cast 2 + 1
  EXPECT_DOUBLE_EQ(act(CastRecipe::TorchaoRowwise, true), 6);
  EXPECT_DOUBLE_EQ(act(CastRecipe::TorchaoRowwise, false), 8);
  EXPECT_DOUBLE_EQ(kernels::cast_bytes(CastRecipe::TorchaoRowwise, 1, true).grad_bwd, 6);
  EXPECT_DOUBLE_EQ(weight(CastRecipe::TorchaoRowwise), 3 + 4 + 3);
  // rowwise_with_gw_hp: dim 0 only
  EXPECT_DOUBLE_EQ(act(CastRecipe::TorchaoRowwiseGwHp, true), 1);
  EXPECT_DOUBLE_EQ(weight(CastRecipe::TorchaoRowwiseGwHp), 3 + 3);
  // Transformer Engine: both copies written by the producer, weights once per step
  EXPECT_DOUBLE_EQ(act(CastRecipe::FusedCastTranspose, true), 2);
  EXPECT_DOUBLE_EQ(weight(CastRecipe::FusedCastTranspose), 0);
  EXPECT_DOUBLE_EQ(kernels::cast_bytes(CastRecipe::FusedCastTranspose, 1, true).weight_step, 2 + 2);
  EXPECT_DOUBLE_EQ(kernels::cast_bytes(CastRecipe::TorchaoRowwise, 1, true).weight_step, 0);  // every pass instead
}

// A torchtitan float8 plan costs torchtitan 0.3's rowwise recipe unless told otherwise: more
// cast traffic than tensorwise, its backward GEMMs rescaled, and (tensorwise only) float8 FSDP
// and TP all-gathers. rowwise_with_gw_hp runs the weight gradient in bf16.
TEST(Operators, Fp8RecipesCostWhatTheyMove) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 16, 64, 8192);
  p.options.framework = FrameworkKind::Torchtitan;
  p.options.compile = true;
  Parallelism par;
  par.tp = 2;
  par.dp = 8;
  par.sp = true;
  par.zero = 3;
  par.precision = Precision::Fp8;
  const Framework& tt = framework(FrameworkKind::Torchtitan);
  EXPECT_EQ(fp8_recipe_of(p), Fp8Recipe::Rowwise);
  const kernels::TrainingSettings row = tt.settings(p, par);
  EXPECT_EQ(row.cast_recipe, static_cast<int>(kernels::CastRecipe::TorchaoRowwise));
  EXPECT_DOUBLE_EQ(row.lowp_param_gather_bytes, 0);
  EXPECT_DOUBLE_EQ(row.lowp_tp_gather_bytes, 0);
  p.options.fp8_recipe = Fp8Recipe::Tensorwise;
  const kernels::TrainingSettings tensor = tt.settings(p, par);
  EXPECT_EQ(tensor.cast_recipe, static_cast<int>(kernels::CastRecipe::TorchaoTensorwiseGathered));
  EXPECT_DOUBLE_EQ(tensor.lowp_param_gather_bytes, 1);
  EXPECT_DOUBLE_EQ(tensor.lowp_tp_gather_bytes, 1);
  p.options.fp8_recipe = Fp8Recipe::RowwiseGwHp;
  const kernels::TrainingSettings gw = tt.settings(p, par);

  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model(Precision::Fp8);
  kernels::ParallelShape s;
  s.seq_len = 8192;
  s.tp = 2;
  s.sp = 1;
  s.dp = 8;
  s.zero = 3;
  const kernels::LayerDims d = llama_block();
  const kernels::LayerWork wr = kernels::layer_work(d, s, g, row);
  const kernels::LayerWork wt = kernels::layer_work(d, s, g, tensor);
  const kernels::LayerWork wg = kernels::layer_work(d, s, g, gw);
  EXPECT_GT(wr.memory_fwd + wr.memory_bwd, wt.memory_fwd + wt.memory_bwd);
  EXPECT_DOUBLE_EQ(wr.gemm_fwd, wt.gemm_fwd);
  EXPECT_GT(wg.gemm_bwd, wr.gemm_bwd);  // the bf16 weight gradient
  EXPECT_DOUBLE_EQ(wg.gemm_fwd, wr.gemm_fwd);

  // The TP all-gathers carry float8 under tensorwise scaling: half the bf16 bytes; the
  // reduce-scatters stay bf16.
  const Cluster& c = p.cluster;
  kernels::CommContext ctx;
  ctx.net = c.network();
  const double act = 8192.0 * d.hidden * 2;
  EXPECT_DOUBLE_EQ(kernels::layer_comm(d, s, row, ctx).tp_bytes, 2 * (act + act));
  EXPECT_DOUBLE_EQ(kernels::layer_comm(d, s, tensor, ctx).tp_bytes, 2 * (act / 2 + act));
  // Rowwise is not a Transformer Engine recipe.
  TrainingOptions o;
  o.fp8_recipe = Fp8Recipe::Rowwise;
  EXPECT_THROW(require_fp8_recipe(o, "--fp8-recipe"), Error);
  o.framework = FrameworkKind::Torchtitan;
  EXPECT_NO_THROW(require_fp8_recipe(o, "--fp8-recipe"));
}

// torchtitan's experts run torchao's grouped-GEMM ops (fp8_grouped_mm.py, mxfp8_grouped_mm.py)
// whatever the linears' recipe: every operand cast from bf16 by its own kernel (fused or not),
// scales in the GEMM's epilogue, the weight gradient low precision even under
// rowwise_with_gw_hp; the router and the dense linears keep the linears' recipe; Megatron's
// experts keep Transformer Engine's.
TEST(Operators, TorchtitanExpertsRunTorchaosGroupedGemmOps) {
  using kernels::CastRecipe;
  for (const bool fused : {true, false}) {
    const kernels::CastBytes c = kernels::cast_bytes(CastRecipe::TorchaoGrouped, 1, fused);
    EXPECT_DOUBLE_EQ(c.input_fwd, 2 + 1);             // A rowwise: read bf16, write fp8
    EXPECT_DOUBLE_EQ(c.input_bwd, 2 + 1);             // the saved bf16 A, per-group column-wise
    EXPECT_DOUBLE_EQ(c.grad_bwd, (2 + 1) + (2 + 1));  // rowwise for dgrad, column-wise for wgrad
    EXPECT_DOUBLE_EQ(c.weight_fwd + c.weight_bwd, 2 * (2 + 1));
    EXPECT_DOUBLE_EQ(c.rescale_bwd, 0);
    EXPECT_FALSE(c.bf16_weight_grad);
  }
  Problem p = test::preset_problem("qwen3-30b-a3b", "dgx-h100", 16, 32, 4096);
  p.options.framework = FrameworkKind::Torchtitan;
  p.options.fp8_recipe = Fp8Recipe::RowwiseGwHp;
  Parallelism par;
  par.dp = 16;
  par.ep = 8;
  par.zero = 3;
  par.precision = Precision::Fp8;
  const kernels::TrainingSettings tt = framework(FrameworkKind::Torchtitan).settings(p, par);
  EXPECT_EQ(tt.cast_recipe, static_cast<int>(CastRecipe::TorchaoRowwiseGwHp));
  EXPECT_EQ(tt.expert_cast_recipe, static_cast<int>(CastRecipe::TorchaoGrouped));
  par.precision = Precision::Mxfp8;
  EXPECT_EQ(framework(FrameworkKind::Torchtitan).settings(p, par).expert_cast_recipe,
            static_cast<int>(CastRecipe::TorchaoGrouped));
  par.precision = Precision::Fp8;
  p.options.fp8_recipe = Fp8Recipe::Auto;
  p.options.framework = FrameworkKind::Megatron;
  EXPECT_EQ(framework(FrameworkKind::Megatron).settings(p, par).expert_cast_recipe, -1);

  // The experts' GEMMs and casts in the layer's work are the grouped recipe's; the rest is the
  // linears' (the same layer priced with every GEMM under rowwise_with_gw_hp differs by the
  // experts' terms alone).
  const kernels::GpuModel g = load_gpu("h100-sxm").compute_model(Precision::Fp8);
  kernels::ParallelShape s;
  s.seq_len = 4096;
  s.dp = 16;
  s.ep = 8;
  s.zero = 3;
  kernels::LayerDims d = llama_block();
  d.experts = 64;
  d.topk = 8;
  d.moe_ffn = 1024;
  kernels::TrainingSettings same = tt;
  same.expert_cast_recipe = -1;
  const kernels::LayerWork grouped = kernels::layer_work(d, s, g, tt);
  const kernels::LayerWork all_gw = kernels::layer_work(d, s, g, same);
  const double rows = kernels::expert_rows(d, s, tt), local = 64.0 / s.ep;
  kernels::LayerWork eg, egw;
  for (auto [w, r] : {std::pair{&eg, CastRecipe::TorchaoGrouped}, std::pair{&egw, CastRecipe::TorchaoRowwiseGwHp}}) {
    kernels::add_linear_as(*w, g, tt, r, true, rows / local, 2 * 1024, 4096, local);
    kernels::add_linear_as(*w, g, tt, r, true, rows / local, 4096, 1024, local);
  }
  EXPECT_LT(eg.gemm_bwd, egw.gemm_bwd);  // the weight gradient in fp8
  EXPECT_NEAR(grouped.gemm_bwd - all_gw.gemm_bwd, eg.gemm_bwd - egw.gemm_bwd, 1e-12);
  EXPECT_NEAR(grouped.memory_fwd - all_gw.memory_fwd, eg.memory_fwd - egw.memory_fwd, 1e-12);
  EXPECT_NEAR(grouped.memory_bwd - all_gw.memory_bwd, eg.memory_bwd - egw.memory_bwd, 1e-12);
  EXPECT_DOUBLE_EQ(grouped.gemm_fwd, all_gw.gemm_fwd);
}

// A tied embedding under pipelining: the first and the last stage all-reduce the gradients of
// their copies before the step, two ranks at the level the pipeline's wrap crosses; nothing
// without pipelining (one matrix) or untied (no copy).
TEST(Operators, TiedEmbeddingGradientsAreAllReducedAcrossThePipeline) {
  Problem p = test::preset_problem("nemo-gpt3-5b", "dgx-h100", 16, 64, 2048);
  ASSERT_TRUE(p.model.tied_embeddings);
  Parallelism par;
  par.tp = 1;
  par.pp = 2;
  par.dp = 8;
  par.zero = 1;
  par.num_microbatches = 8;
  auto tails = [&](const ModelConfig& m, const Parallelism& q) {
    const SliceCosts sc = build_slice_costs(p, build_layer_graph(m, q.pp > 1), q, RankOrder{});
    return std::pair{sc.layers.front().cost.optimizer_time, sc.layers.back().cost.optimizer_time};
  };
  ModelConfig untied = p.model;
  untied.tied_embeddings = false;
  const auto tied = tails(p.model, par), apart = tails(untied, par);
  // pp outermost: stage 0 on GPUs 0-7, stage 1 on 8-15, so the pair crosses level 1 (the network).
  const kernels::Network net = p.cluster.network();
  kernels::GroupShape pair;
  pair.num_levels = net.num_levels;
  for (int l = 0; l < pair.num_levels; ++l) pair.members[l] = l == 1 ? 2 : 1;
  const double vocab = std::ceil(static_cast<double>(p.model.vocab) / 128) * 128;
  const double expected = kernels::allreduce_time(net, pair, vocab * static_cast<double>(p.model.hidden) * 4);
  EXPECT_GT(expected, 0);
  EXPECT_NEAR(tied.first - apart.first, expected, 1e-12 * expected);
  EXPECT_NEAR(tied.second - apart.second, expected, 1e-12 * expected);
  par.pp = 1;
  par.dp = 16;
  const auto one = tails(p.model, par), one_apart = tails(untied, par);
  EXPECT_EQ(one.first, one_apart.first);
}

// torchtitan pipelines run PyTorch's ScheduleInterleaved1F1B, whose order differs from
// Megatron-LM's (kernels/pipeline.hpp); the slice says which, and the step's trace replays it.
TEST(Operators, TorchtitanRunsPyTorchsPipelineOrder) {
  Problem p = test::preset_problem("llama3-8b", "dgx-h100", 8, 8, 4096);
  Parallelism par;
  par.pp = 4;
  par.dp = 2;
  par.zero = 3;
  par.schedule = Schedule::Interleaved;
  par.virtual_stages = 2;
  par.microbatch = 1;
  par.num_microbatches = 4;
  const Placement placement = place_groups(p.cluster, par, RankOrder{});
  EXPECT_EQ(slice_context(p, par, placement).torch_order, 0);
  p.options.framework = FrameworkKind::Torchtitan;
  EXPECT_EQ(slice_context(p, par, placement).torch_order, 1);
  const std::string html = test::temp_dir() + "/torch_order.html";
  const auto r = test::run_nest(
      "evaluate --model llama3-8b --cluster dgx-h100 --gpus 8 --global-batch 8 --seq-len 4096 --framework torchtitan "
      "--zero 3 --pp 4 --schedule interleaved --virtual-stages 2 --microbatch 1 --html '" +
      html + "'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_all(html).find("traceEvents"), std::string::npos);
}

}  // namespace
}  // namespace nest
