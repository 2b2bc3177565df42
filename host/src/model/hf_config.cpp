// Hugging Face config.json -> ModelConfig. Field names follow transformers' configuration
// classes (LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen2MoeConfig, GPT2Config,
// BertConfig).
#include <algorithm>
#include <filesystem>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

namespace {

const char* kSupported = "llama, mistral, mixtral, qwen2, qwen2_moe, gpt2, bert";

void read_llama_family(const JsonObject& o, ModelConfig& m) {
  m.family = ModelFamily::Llama;
  m.hidden = o.positive_integer("hidden_size");
  m.layers = o.positive_integer("num_hidden_layers");
  m.heads = o.positive_integer("num_attention_heads");
  m.kv_heads = o.positive_integer_or("num_key_value_heads", m.heads);
  m.head_dim = o.positive_integer_or("head_dim", 0);
  m.vocab = o.positive_integer("vocab_size");
  m.max_positions = o.positive_integer_or("max_position_embeddings", 0);
  m.tied_embeddings = o.boolean_or("tie_word_embeddings", false);
  m.dropout = o.number_or("attention_dropout", 0);
  m.gated_mlp = true;
  m.layernorm = false;
  // transformers' LlamaConfig / MistralConfig / Qwen2Config default rope_theta = 10000.
  m.rope_theta = o.number_or("rope_theta", 10000);
  if (!(m.rope_theta > 0)) o.fail("rope_theta", "must be positive");
  m.norm_eps = o.number_or("rms_norm_eps", 1e-6);
  if (o.raw().contains("rope_scaling") && o.raw().at("rope_scaling").is_object()) {
    const JsonObject rs = o.object("rope_scaling");
    const std::string type = rs.string_or("rope_type", rs.string_or("type", ""));
    if (type == "llama3") m.rope_scaling_factor = rs.number_or("factor", 8);
  }
  m.qkv_bias = m.model_type == "qwen2" || m.model_type == "qwen2_moe" || o.boolean_or("attention_bias", false);
  // Mistral's sliding window applies when set; Qwen2 only with use_sliding_window.
  if (m.model_type == "mistral" || m.model_type == "mixtral" ||
      ((m.model_type == "qwen2" || m.model_type == "qwen2_moe") && o.boolean_or("use_sliding_window", false)))
    m.sliding_window = o.integer_or("sliding_window", 0) > 0 ? o.integer("sliding_window") : 0;

  if (m.model_type == "mixtral") {
    m.experts = o.positive_integer("num_local_experts");
    m.experts_per_token = o.positive_integer("num_experts_per_tok");
    m.moe_ffn = o.positive_integer("intermediate_size");
    m.ffn = m.moe_ffn;
    m.moe_layer.assign(static_cast<std::size_t>(m.layers), true);
  } else if (m.model_type == "qwen2_moe") {
    m.experts = o.positive_integer("num_experts");
    m.experts_per_token = o.positive_integer("num_experts_per_tok");
    m.moe_ffn = o.positive_integer("moe_intermediate_size");
    m.shared_expert_ffn = o.integer_or("shared_expert_intermediate_size", 0);
    m.ffn = o.positive_integer("intermediate_size");
    const std::int64_t step = o.positive_integer_or("decoder_sparse_step", 1);
    m.moe_layer.assign(static_cast<std::size_t>(m.layers), false);
    for (std::int64_t i = 0; i < m.layers; ++i) m.moe_layer[static_cast<std::size_t>(i)] = (i + 1) % step == 0;
    if (o.has("mlp_only_layers")) {
      for (double x : o.numbers("mlp_only_layers")) {
        if (x < 0 || x >= static_cast<double>(m.layers) || x != static_cast<double>(static_cast<std::int64_t>(x)))
          o.fail("mlp_only_layers", "entries must be layer indices below num_hidden_layers");
        m.moe_layer[static_cast<std::size_t>(x)] = false;
      }
    }
  } else {
    m.ffn = o.positive_integer("intermediate_size");
  }
}

void read_gpt2(const JsonObject& o, ModelConfig& m) {
  m.family = ModelFamily::Gpt;
  m.hidden = o.positive_integer("n_embd");
  m.layers = o.positive_integer("n_layer");
  m.heads = o.positive_integer("n_head");
  m.kv_heads = m.heads;
  m.vocab = o.positive_integer("vocab_size");
  m.max_positions = o.positive_integer("n_positions");
  m.ffn = o.has("n_inner") ? o.positive_integer("n_inner") : 4 * m.hidden;
  m.tied_embeddings = o.boolean_or("tie_word_embeddings", true);
  m.learned_positions = true;
  m.gated_mlp = false;
  m.layernorm = true;
  m.linear_bias = true;
  m.norm_eps = o.number_or("layer_norm_epsilon", 1e-5);
  m.dropout = std::max({o.number_or("resid_pdrop", 0.1), o.number_or("embd_pdrop", 0.1), o.number_or("attn_pdrop", 0.1)});
}

void read_bert(const JsonObject& o, ModelConfig& m) {
  m.family = ModelFamily::Bert;
  m.hidden = o.positive_integer("hidden_size");
  m.layers = o.positive_integer("num_hidden_layers");
  m.heads = o.positive_integer("num_attention_heads");
  m.kv_heads = m.heads;
  m.ffn = o.positive_integer("intermediate_size");
  m.vocab = o.positive_integer("vocab_size");
  m.max_positions = o.positive_integer("max_position_embeddings");
  m.type_vocab = o.integer_or("type_vocab_size", 2);
  m.tied_embeddings = o.boolean_or("tie_word_embeddings", true);
  m.learned_positions = true;
  m.gated_mlp = false;
  m.layernorm = true;
  m.linear_bias = true;
  m.causal = false;
  m.norm_eps = o.number_or("layer_norm_eps", 1e-12);
  m.dropout = std::max(o.number_or("hidden_dropout_prob", 0.1), o.number_or("attention_probs_dropout_prob", 0.1));
}

}  // namespace

ModelConfig read_model_config(const std::string& path, const std::string& name) {
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  ModelConfig m;
  m.name = name;
  m.source = path;
  if (!o.has("model_type")) o.fail("model_type", std::string("missing (supported: ") + kSupported + ")");
  m.model_type = o.string("model_type");
  if (m.model_type == "llama" || m.model_type == "mistral" || m.model_type == "mixtral" || m.model_type == "qwen2" ||
      m.model_type == "qwen2_moe") {
    read_llama_family(o, m);
  } else if (m.model_type == "gpt2") {
    read_gpt2(o, m);
  } else if (m.model_type == "bert") {
    read_bert(o, m);
  } else {
    o.fail("model_type", "'" + m.model_type + "' is not supported (supported: " + kSupported + ")");
  }

  if (m.head_dim == 0) {
    if (m.hidden % m.heads != 0) o.fail("num_attention_heads", "must divide the hidden size when head_dim is not given");
    m.head_dim = m.hidden / m.heads;
  }
  if (m.heads % m.kv_heads != 0) o.fail("num_key_value_heads", "must divide num_attention_heads");
  if (m.dropout < 0 || m.dropout >= 1) o.fail("dropout", "probabilities must lie in [0, 1)");
  if (m.is_moe()) {
    if (m.experts_per_token > m.experts) o.fail("num_experts_per_tok", "must not exceed the number of experts");
  } else {
    m.moe_layer.assign(static_cast<std::size_t>(m.layers), false);
  }
  if (m.max_positions == 0) m.max_positions = 0;
  return m;
}

ModelConfig load_model(const std::string& spec) {
  const std::string path = resolve_preset(PresetKind::Model, spec);
  std::string name = spec;
  if (path == spec) {
    const std::filesystem::path p(spec);
    name = p.stem() == "config" && p.has_parent_path() ? p.parent_path().filename().string() : p.stem().string();
  }
  return read_model_config(path, name);
}

}  // namespace nest
