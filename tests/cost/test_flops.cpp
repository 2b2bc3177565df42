// FLOP counts against the closed forms they generalise.
#include <gtest/gtest.h>

#include "nest/problem/problem.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/model/layer_graph.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

Problem problem_for(const std::string& model, long batch, long seq) {
  return test::preset_problem(model, "dgx-a100", 8, batch, seq);
}

// Narayanan et al. SC21 eq. 3: with full recomputation, FLOPs per iteration are
// 96 B s l h^2 (1 + s/(6h) + V/(16 l h)). Our count is exactly this: matmuls only (bias adds
// and norms are memory-bound work, timed but not counted as FLOPs, as in the paper).
TEST(Flops, Sc21FormulaWithRecomputation) {
  for (const char* preset : {"sc21-gpt-1.7b", "sc21-gpt-39.1b", "sc21-gpt-1t"}) {
    Problem p = problem_for(preset, 512, 2048);
    p.options.flash_attention = false;  // SC21's classic kernel computes the whole score matrix
    const LayerGraph g = build_layer_graph(p.model, false);
    const StepFlops f = step_flops(p, g, Parallelism{.recompute = Recompute::Full});
    const double B = 512, s = 2048, l = static_cast<double>(p.model.layers), h = static_cast<double>(p.model.hidden),
                 V = static_cast<double>(p.model.vocab);
    const double paper = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
    EXPECT_NEAR(f.hardware / paper, 1.0, 1e-12) << preset;
    // Without recomputation the blocks run 3 passes instead of 4.
    const double model_paper = 72 * B * s * l * h * h * (1 + s / (6 * h)) + 6 * B * s * h * V;
    EXPECT_NEAR(f.model / model_paper, 1.0, 1e-12) << preset;
  }
}

// The exact part: matmul FLOPs of one GPT block per token are 2 * 12 h^2 (QKV 3h^2, output
// h^2, MLP 8h^2), attention 4 s h, with no other terms.
TEST(Flops, GptBlockExact) {
  kernels::LayerDims d;
  d.kind = kernels::LayerKind::Block;
  d.hidden = 1024;
  d.heads = 16;
  d.kv_heads = 16;
  d.head_dim = 64;
  d.ffn = 4096;
  d.gated_mlp = 0;
  kernels::ParallelShape s;
  s.seq_len = 512;
  const kernels::GpuModel gpu = test::simple_gpu();
  const kernels::TrainingSettings ts;
  const kernels::LayerWork w = kernels::layer_work(d, s, gpu, ts);
  EXPECT_DOUBLE_EQ(w.gemm_flops, 512 * 2 * 12 * 1024.0 * 1024);
  EXPECT_DOUBLE_EQ(w.attention_flops, 4 * 512.0 * 512 * 1024);
  // Tensor parallelism divides both; context parallelism divides the queries, not the keys.
  s.tp = 4;
  s.cp = 2;
  const kernels::LayerWork w2 = kernels::layer_work(d, s, gpu, ts);
  EXPECT_DOUBLE_EQ(w2.gemm_flops, w.gemm_flops / 8);
  EXPECT_DOUBLE_EQ(w2.attention_flops, w.attention_flops / 8);
}

// Llama-style models: 6 N per token plus attention (the PaLM/Chinchilla convention) where N
// counts the matmul weights (no embedding lookup).
TEST(Flops, LlamaMatchesSixNPlusAttention) {
  const Problem p = problem_for("llama3-8b", 8, 8192);
  const LayerGraph g = build_layer_graph(p.model, false);
  const StepFlops f = step_flops(p, g, Parallelism{});
  const ParameterCount c = count_parameters(p.model);
  const double matmul_params = c.total - 128256.0 * 4096 - (2 * 32 + 1) * 4096.0;  // no lookup table, no norms
  const double tokens = 8.0 * 8192;
  const double attention = 3 * 4 * 8192.0 * 4096 * 32;  // per token: 3 passes x 4 s h x layers
  EXPECT_NEAR(f.model / (tokens * (6 * matmul_params + attention)), 1.0, 1e-9);
}

}  // namespace
}  // namespace nest
