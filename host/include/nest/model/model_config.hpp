// A model as nest sees it: one description of a decoder block read from a Hugging Face
// config.json (the format of presets/models/ too). Every family's own field names map to it
// through one alias table and one table of family traits (host/src/model/hf_config.cpp); the
// decoder-only families of 2019-2026 read: Llama 2/3/4, Mistral, Mixtral, Qwen2/2-MoE/3/3-MoE,
// DeepSeek-V2/V3, GPT-OSS, Gemma 1/2/3, Phi-3/4, Nemotron, GPT-2/3, GPT-J, GPT-NeoX, Falcon,
// BLOOM, OPT; and BERT. Encoder-decoder (T5) and state-space / hybrid (Mamba, Jamba,
// Nemotron-H) architectures are refused in one line, as are unknown types and missing fields.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nest {

struct JsonSetting;  // nest/io/json.hpp

// Style of the network around the blocks (position embeddings, head, attention direction).
enum class ModelFamily { Llama, Gpt, Bert };
enum class MlpKind { Gelu, SwiGlu, GeGlu, Relu, SquaredRelu };
enum class AttentionKind { Mha, Gqa, Mqa, Mla };

struct ModelConfig {
  std::string name;        // preset name or the file's stem
  std::string source;      // the file it came from
  std::string model_type;  // Hugging Face model_type (of the text model for multimodal wrappers)
  std::string note;        // what nest leaves out of the model (e.g. a vision encoder), or empty
  ModelFamily family = ModelFamily::Llama;

  std::int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t ffn = 0;  // dense MLP intermediate size
  std::int64_t vocab = 0;
  std::int64_t max_positions = 0;    // learned position rows (GPT, BERT) or the context length
  std::int64_t position_offset = 0;  // extra learned position rows (OPT: 2)
  std::int64_t type_vocab = 0;       // BERT token types
  bool tied_embeddings = false;
  bool learned_positions = false;
  bool alibi = false;  // ALiBi biases instead of position embeddings (BLOOM)
  MlpKind mlp = MlpKind::SwiGlu;
  bool gated_mlp = true;     // SwiGLU or GeGLU (three matrices)
  bool layernorm = false;    // LayerNorm (else RMSNorm)
  bool linear_bias = false;  // biases on every linear layer
  bool qkv_bias = false;     // biases on Q, K, V
  bool out_bias = false;     // bias on the attention output projection
  bool mlp_bias = false;     // biases on the MLP projections
  bool causal = true;
  double dropout = 0;               // largest dropout probability in the config
  std::int64_t sliding_window = 0;  // the window of the windowed layers; 0: full attention everywhere
  // Per block: the keys a query may see (0: all) and whether that is a chunk (Llama 4) rather
  // than a sliding window. Gemma 2 alternates, Gemma 3 has one full layer in six, GPT-OSS
  // alternates, Mistral / Phi-3 slide everywhere.
  std::vector<std::int64_t> layer_window;
  bool chunked_attention = false;
  // Read for the framework exports only (the cost model does not depend on them).
  double rope_theta = 0;           // rotary base (0: no rotary embeddings)
  double rope_scaling_factor = 0;  // Llama 3.1 rope_scaling {"rope_type": "llama3", "factor": f}; 0: none
  double norm_eps = 1e-5;          // RMSNorm / LayerNorm epsilon

  // Block layout
  int norms_per_block = 2;       // Gemma 2/3: 4 (two of them on the outputs); GPT-J, Falcon-7B: 1
  bool sandwich_norms = false;   // Gemma 2/3: norms on the attention and MLP outputs too
  bool parallel_block = false;   // attention and MLP side by side (GPT-J, GPT-NeoX, Falcon)
  int qk_norm = 0;               // 0 none, 1 RMSNorm over the head dim (Qwen3, Gemma 3), 2 L2 (Llama 4)
  bool attention_sinks = false;  // learned per-head sink logits (GPT-OSS)
  bool embedding_norm = false;   // LayerNorm after the embedding (BLOOM)
  bool lm_head_bias = false;     // GPT-J

  // Multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank > 0 marks it. head_dim is then
  // qk_nope_head_dim + qk_rope_head_dim.
  std::int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_rope_head_dim = 0, qk_nope_head_dim = 0, v_head_dim = 0;

  // Mixture of experts
  std::int64_t experts = 0, experts_per_token = 0, moe_ffn = 0;
  std::int64_t shared_expert_ffn = 0;  // all shared experts together (DeepSeek: n_shared_experts x moe size)
  bool shared_expert_gate = false;     // Qwen2-MoE
  // GPT-OSS's router bias (a trained parameter). DeepSeek-V3's score-correction bias is not one:
  // Megatron-Core (moe/router.py:188-193) and torchtitan 0.3 keep it as a buffer that the
  // load-balancing update sets, outside the optimizer.
  bool router_bias = false;
  // Routing, read for the framework exports only (the cost model does not depend on it): the
  // score function (DeepSeek-V3: sigmoid), softmax over all experts before the top-k without
  // renormalising the chosen (DeepSeek-V2, Qwen2-MoE: norm_topk_prob false), the routed scale,
  // the aux-loss-free expert bias (topk_method noaux_tc) and group-limited routing.
  bool router_sigmoid = false;
  bool router_pre_softmax = false;
  double router_scale = 1;
  bool router_expert_bias = false;
  std::int64_t router_groups = 0, router_group_topk = 0;
  std::vector<bool> moe_layer;  // per block: MoE (true) or dense MLP
  int mtp_layers = 0;           // DeepSeek-V3 multi-token-prediction modules (num_nextn_predict_layers)

  bool is_moe() const { return experts > 0; }
  AttentionKind attention() const {
    if (kv_lora_rank > 0) return AttentionKind::Mla;
    if (kv_heads == heads) return AttentionKind::Mha;
    return kv_heads == 1 ? AttentionKind::Mqa : AttentionKind::Gqa;
  }
  bool windowed() const;  // some layer attends to a window or chunk
};

const char* to_string(MlpKind k);
const char* to_string(AttentionKind k);
// "dense", "moe", "dense+sliding", ...: the kinds of blocks in the stack, with their counts
// ("3 dense, 58 moe"); for the plan file's model_info and `nest presets`.
std::string layer_kinds(const ModelConfig& m);
// The same as (kind, count) pairs in stack order of first appearance; DeepSeek-V3's MTP modules
// last as ("mtp", n).
std::vector<std::pair<std::string, int>> layer_kind_counts(const ModelConfig& m);
// One block's description ("moe, window 128"), for layer names.
std::string block_kind(const ModelConfig& m, std::int64_t block);

// Architecture features beyond a pre-norm Llama-style block that a framework's model may lack;
// each framework's export names those it cannot build (docs/frameworks.md §6).
enum class ModelFeature {
  QkNorm,            // query and key norms (qk_norm > 0)
  OtherNormLayout,   // norms other than one before attention and one before the MLP (sandwich, single)
  ParallelBlock,     // attention and MLP side by side
  AttentionSinks,    // learned per-head sink logits
  ChunkedAttention,  // Llama 4's attention chunks
  LatentAttention,   // MLA
  Alibi,             // ALiBi position biases
  EmbeddingNorm,     // a norm after the embedding
  LmHeadBias,        // a bias on the LM head
  Mtp,               // multi-token-prediction modules
  GegluOrRelu,       // a GeGLU or ReLU MLP
};
// The descriptions of the features among `features` the model has, in that order.
std::vector<std::string> model_features(const ModelConfig& m, std::initializer_list<ModelFeature> features);

// Reads a Hugging Face config.json (or a preset in that format).
ModelConfig read_model_config(const std::string& path, const std::string& name);
// The same with fields of the config set before it is read (io/json.hpp; a calibration row's
// model_set: the same architecture at another depth or width).
ModelConfig read_model_config(const std::string& path, const std::string& name, const std::vector<JsonSetting>& settings);
// `spec` is a preset name (presets/models/<spec>.json) or a path to a config.json.
ModelConfig load_model(const std::string& spec);
ModelConfig load_model(const std::string& spec, const std::vector<JsonSetting>& settings);

}  // namespace nest
