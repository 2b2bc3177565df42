// A model as nest sees it: the dimensions read from a Hugging Face config.json (the format of
// presets/models/ too), for the Llama / Mistral / Mixtral / Qwen2 family, GPT-2/GPT-3 style and
// BERT. Unsupported architectures and missing fields are input errors that name them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nest {

enum class ModelFamily { Llama, Gpt, Bert };

struct ModelConfig {
  std::string name;        // preset name or the file's stem
  std::string source;      // the file it came from
  std::string model_type;  // Hugging Face model_type
  ModelFamily family = ModelFamily::Llama;

  std::int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t ffn = 0;  // dense MLP intermediate size
  std::int64_t vocab = 0;
  std::int64_t max_positions = 0;  // learned position rows (GPT, BERT) or the context length
  std::int64_t type_vocab = 0;     // BERT token types
  bool tied_embeddings = false;
  bool learned_positions = false;
  bool gated_mlp = true;     // SwiGLU
  bool layernorm = false;    // LayerNorm (else RMSNorm)
  bool linear_bias = false;  // biases on every linear layer
  bool qkv_bias = false;     // biases on Q, K, V only
  bool causal = true;
  double dropout = 0;               // largest dropout probability in the config
  std::int64_t sliding_window = 0;  // 0: full attention
  // Read for the framework exports only (the cost model does not depend on them).
  double rope_theta = 0;           // rotary base (0: no rotary embeddings)
  double rope_scaling_factor = 0;  // Llama 3.1 rope_scaling {"rope_type": "llama3", "factor": f}; 0: none
  double norm_eps = 1e-5;          // RMSNorm / LayerNorm epsilon

  // Mixture of experts
  std::int64_t experts = 0, experts_per_token = 0, moe_ffn = 0, shared_expert_ffn = 0;
  std::vector<bool> moe_layer;  // per block: MoE (true) or dense MLP

  bool is_moe() const { return experts > 0; }
};

// Reads a Hugging Face config.json (or a preset in that format).
ModelConfig read_model_config(const std::string& path, const std::string& name);
// `spec` is a preset name (presets/models/<spec>.json) or a path to a config.json.
ModelConfig load_model(const std::string& spec);

}  // namespace nest
