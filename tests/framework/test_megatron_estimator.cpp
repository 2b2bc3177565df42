// --framework megatron's model-state memory against Megatron-LM's own estimator, written down
// from the code: compute_weight_and_optimizer_memory (megatron/training/theoretical_memory_usage.py
// at core_v0.19.0, the dense, non-MLA path), the bytes of the most loaded pipeline stage (the
// first: 1/pp of the blocks and the embedding; with pp = 1 and untied embeddings the output layer
// too) for the distributed optimizer, bf16 parameters and fp32 main gradients:
//   attention  2 h^2 (1 + groups / heads) (kv_channels heads / h)
//   MLP        2 h ffn (3/2 with SwiGLU)
//   norms      2 h per block (RMSNorm: weight only), h for the final norm
//   embedding  h x padded vocabulary (ceil(V / (128 tp)) 128 tp)
//   tp-sharded = ((attention + MLP) L / pp + embedding) / tp, replicated = (norms L + final) / pp
//   bytes      (tp-sharded + replicated) (6 + 12 / dp)
// The estimator spreads the final norm over the stages where Megatron keeps it on the last one:
// h / pp parameters, which the tolerance covers.
#include <gtest/gtest.h>

#include <cmath>

#include "nest/cost/slice_costs.hpp"
#include "nest/model/layer_graph.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

struct Shape {
  int tp = 1, pp = 1, dp = 1;
};

// nest: the first stage's parameters, gradients and optimizer states under an even split.
double nest_first_stage(const Problem& p, const Shape& s) {
  Parallelism par;
  par.tp = s.tp;
  par.pp = s.pp;
  par.dp = s.dp;
  par.sp = s.tp > 1;
  par.zero = 1;
  par.num_microbatches = static_cast<int>(p.global_batch / s.dp);
  const LayerGraph g = build_layer_graph(p.model, false);
  const SliceCosts sc = build_slice_costs(p, g, par, RankOrder{});
  const std::size_t blocks = static_cast<std::size_t>(p.model.layers / s.pp);
  double bytes = 0;
  // Layer 0 is the embedding; with pp = 1 the stage holds every layer, head included.
  const std::size_t last = s.pp == 1 ? sc.layers.size() : 1 + blocks;
  for (std::size_t i = 0; i < last; ++i) {
    const auto& c = sc.layers[i].cost;
    bytes += c.weight_bytes + c.grad_bytes + c.optimizer_bytes;
  }
  return bytes;
}

// Megatron-LM core_v0.19.0's compute_weight_and_optimizer_memory for a dense Llama-style model.
double megatron_estimate(const ModelConfig& m, const Shape& s) {
  const double h = static_cast<double>(m.hidden), heads = static_cast<double>(m.heads);
  const double groups = static_cast<double>(m.kv_heads), kv_channels = static_cast<double>(m.head_dim);
  const double L = static_cast<double>(m.layers), ffn = static_cast<double>(m.ffn);
  const double attention = 2 * h * h * ((1 + groups / heads) * (kv_channels * heads / h));
  const double mlp = 2 * h * ffn * 1.5;  // SwiGLU
  const double norms = 2 * h, final_norm = h;
  const double multiple = 128.0 * s.tp;
  const double padded_vocab = std::ceil(static_cast<double>(m.vocab) / multiple) * multiple;
  const double embedding = h * padded_vocab;
  double tp_sharded = ((attention + mlp) * L / s.pp + embedding) / s.tp;
  const double replicated = (norms * L + final_norm) / s.pp;
  if (s.pp == 1) tp_sharded += embedding / s.tp;  // untied output layer
  return (tp_sharded + replicated) * (6 + 12.0 / s.dp);
}

TEST(MegatronEstimator, ModelStatesAgreeWithMegatronsTheoreticalMemory) {
  struct Case {
    const char* model;
    Shape shape;
  };
  for (const Case& c :
       {Case{"llama3-8b", {1, 1, 8}}, Case{"llama3-8b", {2, 1, 4}}, Case{"llama3-8b", {4, 2, 2}}, Case{"llama2-7b", {8, 1, 16}},
        Case{"llama3-70b", {8, 4, 4}}, Case{"llama3-70b", {4, 8, 32}}, Case{"llama3-405b", {8, 9, 8}}}) {
    const long gpus = static_cast<long>(c.shape.tp) * c.shape.pp * c.shape.dp;
    Problem p = test::preset_problem(c.model, "dgx-h100", gpus, 4L * c.shape.dp, 4096);
    p.options.framework = FrameworkKind::Megatron;
    ASSERT_FALSE(p.model.tied_embeddings) << c.model;
    const double nest = nest_first_stage(p, c.shape), megatron = megatron_estimate(p.model, c.shape);
    EXPECT_NEAR(nest / megatron, 1.0, 1e-4) << c.model << " tp " << c.shape.tp << " pp " << c.shape.pp << " dp " << c.shape.dp
                                            << ": nest " << nest << " B, Megatron " << megatron << " B";
  }
}

}  // namespace
}  // namespace nest
