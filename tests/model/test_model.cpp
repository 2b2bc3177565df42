// Parameter counts of the presets against published figures, and HF config parsing errors.
#include <gtest/gtest.h>

#include "nest/core/error.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/model/model_config.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

double total_params(const std::string& preset) { return count_parameters(load_model(preset)).total; }

// Published counts: Llama 3 70B 70.6B (Meta model card), GPT-3 175B (Brown et al. 2020),
// Mixtral 8x7B 46.7B total / 12.9B active (Mistral AI announcement), Mixtral 8x22B 141B / 39B,
// Llama 3.1 405B 405B, Llama 2 7B 6.7B, Llama 3 8B 8.0B, BERT-large 340M (Devlin et al.).
TEST(ParameterCount, MatchesPublishedWithinOnePercent) {
  struct Case {
    const char* preset;
    double published;
  };
  for (const Case c :
       {Case{"llama3-70b", 70.6e9}, Case{"gpt3-175b", 175e9}, Case{"mixtral-8x7b", 46.7e9}, Case{"mixtral-8x22b", 141e9},
        Case{"llama3-405b", 405e9}, Case{"llama2-7b", 6.74e9}, Case{"llama3-8b", 8.03e9}}) {
    const double n = total_params(c.preset);
    EXPECT_NEAR(n / c.published, 1.0, 0.01) << c.preset << ": " << n;
  }
}

TEST(ParameterCount, MixtralActiveParameters) {
  const ParameterCount c = count_parameters(load_model("mixtral-8x7b"));
  EXPECT_NEAR(c.active / 12.9e9, 1.0, 0.01) << c.active;
  const ParameterCount c22 = count_parameters(load_model("mixtral-8x22b"));
  EXPECT_NEAR(c22.active / 39e9, 1.0, 0.01) << c22.active;
}

TEST(ParameterCount, BertLargeWithPoolerAndMlmHead) {
  // 335.1M for bert-large-uncased with pooler and MLM transform (340M is the paper's rounding).
  const double n = total_params("bert-large");
  EXPECT_NEAR(n / 336.2e6, 1.0, 0.01) << n;
}

TEST(ParameterCount, Llama3_70bExactFormula) {
  // 80 x (attention 8192*(8192+2*1024) + 8192*8192, SwiGLU 3*8192*28672, two RMSNorms)
  // + embedding and untied LM head 2*128256*8192 + final norm.
  const double h = 8192, blocks = 80;
  const double block = h * (h + 2 * 1024) + h * h + 3 * h * 28672 + 2 * h;
  const double expected = blocks * block + 2 * 128256 * h + h;
  EXPECT_DOUBLE_EQ(total_params("llama3-70b"), expected);
}

TEST(LayerGraph, DistinctNodesAndNestNumbering) {
  const ModelConfig m = load_model("llama3-8b");
  const LayerGraph g = build_layer_graph(m, true);
  ASSERT_EQ(g.nodes.size(), 34u);
  EXPECT_EQ(g.nodes.front().id, -1);
  EXPECT_EQ(g.nodes.front().dims.kind, kernels::LayerKind::Embedding);
  EXPECT_EQ(g.nodes[1].id, 0);
  EXPECT_EQ(g.nodes.back().id, 32);
  EXPECT_EQ(g.nodes.back().dims.kind, kernels::LayerKind::Head);
  EXPECT_TRUE(g.homogeneous_blocks());
  EXPECT_EQ(g.num_blocks(), 32);
}

TEST(LayerGraph, TiedHeadCarriesACopyOnlyWhenPipelined) {
  const ModelConfig m = load_model("gpt3-175b");
  EXPECT_EQ(build_layer_graph(m, false).nodes.back().dims.lm_weight, 0);
  EXPECT_EQ(build_layer_graph(m, true).nodes.back().dims.lm_weight, 1);
}

TEST(HfConfig, QwenMoeHeterogeneousStack) {
  const std::string path = test::write_temp("qwen_moe.json", R"({
    "model_type": "qwen2_moe", "hidden_size": 1024, "num_hidden_layers": 6, "num_attention_heads": 16,
    "num_key_value_heads": 4, "intermediate_size": 2816, "vocab_size": 32000, "num_experts": 8,
    "num_experts_per_tok": 2, "moe_intermediate_size": 704, "shared_expert_intermediate_size": 2816,
    "decoder_sparse_step": 2, "mlp_only_layers": [5]})");
  const ModelConfig m = load_model(path);
  ASSERT_EQ(m.moe_layer.size(), 6u);
  EXPECT_EQ(m.moe_layer, (std::vector<bool>{false, true, false, true, false, false}));
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_FALSE(build_layer_graph(m, false).homogeneous_blocks());
}

void expect_bad_input(const std::string& json, const std::string& fragment) {
  const std::string path = test::write_temp("bad_config.json", json);
  try {
    (void)load_model(path);
    FAIL() << "expected an error mentioning " << fragment;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(HfConfig, ErrorsNameTheFieldOrArchitecture) {
  expect_bad_input(R"({"model_type": "xlnet", "hidden_size": 4096})", "'xlnet' is not supported");
  expect_bad_input(R"({"model_type": "falcon", "hidden_size": 4096})", "num_hidden_layers");
  expect_bad_input(R"({"hidden_size": 4096})", "model_type");
  expect_bad_input(R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 8,
                      "vocab_size": 10})",
                   "hidden_size");
  expect_bad_input(R"({"model_type": "llama", "hidden_size": -4096, "num_hidden_layers": 2, "num_attention_heads": 4,
                      "intermediate_size": 8, "vocab_size": 10})",
                   "must be a positive integer");
  expect_bad_input(R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32,
                      "num_key_value_heads": 5, "intermediate_size": 8, "vocab_size": 10})",
                   "num_key_value_heads");
  expect_bad_input(R"({"model_type": "llama", "hidden_size": 4096,)", "malformed JSON");
  // DeepSeek-style routing fields
  const std::string moe = R"({"model_type": "deepseek_v3", "hidden_size": 1024, "num_hidden_layers": 2,
      "num_attention_heads": 8, "vocab_size": 100, "intermediate_size": 64, "moe_intermediate_size": 32,
      "n_routed_experts": 16, "num_experts_per_tok": 4, )";
  expect_bad_input(moe + R"("scoring_func": "tanh"})", "scoring_func");
  expect_bad_input(moe + R"("n_group": 3, "topk_group": 2})", "topk_group");
  expect_bad_input(moe + R"("n_group": 4, "topk_group": 5})", "topk_group");
  expect_bad_input(moe + R"("routed_scaling_factor": 0})", "routed_scaling_factor");
}

// The router as the configs describe it (read for the exports): DeepSeek-V3's sigmoid scores,
// expert bias, groups and scale; Qwen2-MoE's softmax over every expert (norm_topk_prob false).
TEST(HfConfig, RoutingIsReadAsTheModelRoutes) {
  const ModelConfig ds = load_model("deepseek-v3");
  EXPECT_TRUE(ds.router_sigmoid);
  EXPECT_TRUE(ds.router_expert_bias);
  EXPECT_EQ(ds.router_groups, 8);
  EXPECT_EQ(ds.router_group_topk, 4);
  EXPECT_DOUBLE_EQ(ds.router_scale, 2.5);
  EXPECT_FALSE(ds.router_pre_softmax);
  const ModelConfig q3 = load_model("qwen3-30b-a3b");  // norm_topk_prob true: the default router
  EXPECT_FALSE(q3.router_sigmoid || q3.router_pre_softmax || q3.router_expert_bias || q3.router_groups > 0);
  EXPECT_DOUBLE_EQ(q3.router_scale, 1);
  const ModelConfig q2 = load_model(test::write_temp("qwen2-moe.json", R"({"model_type": "qwen2_moe", "hidden_size": 1024,
      "num_hidden_layers": 2, "num_attention_heads": 8, "vocab_size": 100, "intermediate_size": 64,
      "moe_intermediate_size": 32, "num_experts": 8, "num_experts_per_tok": 2, "norm_topk_prob": false})"));
  EXPECT_TRUE(q2.router_pre_softmax);
}

TEST(Presets, UnknownPresetListsTheKnownOnes) {
  try {
    (void)load_model("llama9-1t");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("llama3-70b"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nest
