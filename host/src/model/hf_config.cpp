// Hugging Face config.json -> ModelConfig: one reader for every family. Two tables drive it:
//
//   kAliases   each canonical field and the config.json names the families use for it (the
//              first one present wins), e.g. hidden size: hidden_size | n_embd | d_model;
//   kFamilies  per model_type, what its configuration class leaves implicit: the norm, the MLP
//              kind, biases, position embeddings, which layers slide or chunk their attention,
//              how the expert size is named, and the class's defaults for fields that published
//              config.json files omit.
//
// The field meanings and defaults are those of transformers' configuration_<family>.py and
// modeling_<family>.py (docs/models.md lists the families and this table). Encoder-decoder
// and state-space / hybrid architectures are refused in one line.
#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

namespace {

// ---------------------------------------------------------------------------------------------
// The alias table
// ---------------------------------------------------------------------------------------------

enum class F {
  Hidden,
  Layers,
  Heads,
  KvHeads,
  HeadDim,
  Ffn,
  Vocab,
  Positions,
  TypeVocab,
  Tied,
  NormEps,
  RopeTheta,
  Activation,
  AttentionBias,
  MlpBias,
  AllBias,
  Parallel,
  Window,
  WindowPattern,
  UseWindow,
  MaxWindowLayers,
  LayerTypes,
  Chunk,
  NoRopeLayers,
  NoRopeInterval,
  QkNorm,
  Experts,
  TopK,
  MoeFfn,
  SharedFfn,
  SharedExperts,
  FirstDense,
  MoeFreq,
  SparseStep,
  Interleave,
  MlpOnly,
  MoeLayers,
  QLora,
  KvLora,
  QkRope,
  QkNope,
  VHead,
  Mtp,
  Alibi,
  EmbedProj,
  ScoringFunc,
  TopkMethod,
  NormTopk,
  RoutedScale,
  Groups,
  GroupTopk,
};

struct Alias {
  F field;
  std::initializer_list<const char*> names;
};

// clang-format off
const Alias kAliases[] = {
    {F::Hidden,         {"hidden_size", "n_embd", "d_model"}},
    {F::Layers,         {"num_hidden_layers", "n_layer", "num_layers", "n_layers"}},
    {F::Heads,          {"num_attention_heads", "n_head", "num_heads"}},
    {F::KvHeads,        {"num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num"}},
    {F::HeadDim,        {"head_dim", "kv_channels"}},
    // dense MLP: Llama 4 names its dense layers' size apart from the experts'
    {F::Ffn,            {"intermediate_size_mlp", "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size"}},
    {F::Vocab,          {"vocab_size", "padded_vocab_size"}},
    {F::Positions,      {"max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"}},
    {F::TypeVocab,      {"type_vocab_size"}},
    {F::Tied,           {"tie_word_embeddings"}},
    {F::NormEps,        {"rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", "norm_eps"}},
    {F::RopeTheta,      {"rope_theta", "rotary_emb_base", "rope_base"}},
    {F::Activation,     {"hidden_act", "hidden_activation", "activation_function", "activation"}},
    {F::AttentionBias,  {"attention_bias"}},
    {F::MlpBias,        {"mlp_bias"}},
    {F::AllBias,        {"bias", "enable_bias", "use_bias"}},
    {F::Parallel,       {"use_parallel_residual", "parallel_attn"}},
    {F::Window,         {"sliding_window"}},
    {F::WindowPattern,  {"sliding_window_pattern"}},
    {F::UseWindow,      {"use_sliding_window"}},
    {F::MaxWindowLayers,{"max_window_layers"}},
    {F::LayerTypes,     {"layer_types"}},
    {F::Chunk,          {"attention_chunk_size"}},
    {F::NoRopeLayers,   {"no_rope_layers"}},
    {F::NoRopeInterval, {"no_rope_layer_interval"}},
    {F::QkNorm,         {"use_qk_norm", "qk_layernorm", "qk_norm"}},
    {F::Experts,        {"n_routed_experts", "num_local_experts", "num_experts", "moe_num_experts"}},
    {F::TopK,           {"num_experts_per_tok", "experts_per_token", "moe_top_k"}},
    {F::MoeFfn,         {"moe_intermediate_size", "expert_intermediate_size"}},
    {F::SharedFfn,      {"shared_expert_intermediate_size"}},
    {F::SharedExperts,  {"n_shared_experts", "num_shared_experts"}},
    {F::FirstDense,     {"first_k_dense_replace"}},
    {F::MoeFreq,        {"moe_layer_freq"}},
    {F::SparseStep,     {"decoder_sparse_step"}},
    {F::Interleave,     {"interleave_moe_layer_step"}},
    {F::MlpOnly,        {"mlp_only_layers"}},
    {F::MoeLayers,      {"moe_layers"}},
    {F::QLora,          {"q_lora_rank"}},
    {F::KvLora,         {"kv_lora_rank"}},
    {F::QkRope,         {"qk_rope_head_dim"}},
    {F::QkNope,         {"qk_nope_head_dim"}},
    {F::VHead,          {"v_head_dim"}},
    {F::Mtp,            {"num_nextn_predict_layers", "mtp_num_layers"}},
    {F::Alibi,          {"alibi"}},
    {F::EmbedProj,      {"word_embed_proj_dim"}},
    {F::ScoringFunc,    {"scoring_func"}},
    {F::TopkMethod,     {"topk_method"}},
    {F::NormTopk,       {"norm_topk_prob"}},
    {F::RoutedScale,    {"routed_scaling_factor"}},
    {F::Groups,         {"n_group"}},
    {F::GroupTopk,      {"topk_group"}},
};
// clang-format on

const Alias& alias(F f) {
  for (const Alias& a : kAliases)
    if (a.field == f) return a;
  throw_bad_input("", "internal: field without aliases");
}

// The config.json reader for canonical fields: the first alias present (and not null) is read.
class Fields {
 public:
  explicit Fields(const JsonObject& o) : o_(o) {}
  const JsonObject& json() const { return o_; }
  const char* key(F f) const {
    for (const char* n : alias(f).names)
      if (o_.has(n)) return n;
    return nullptr;
  }
  bool has(F f) const { return key(f) != nullptr; }
  const char* first(F f) const { return *alias(f).names.begin(); }
  std::int64_t positive(F f) const {
    const char* k = key(f);
    if (!k) o_.fail(first(f), "missing");
    return o_.integer_in(k, 1, upper(f));
  }
  std::int64_t positive_or(F f, std::int64_t dflt) const { return has(f) ? o_.integer_in(key(f), 1, upper(f)) : dflt; }
  std::int64_t non_negative_or(F f, std::int64_t dflt) const { return has(f) ? o_.integer_in(key(f), 0, upper(f)) : dflt; }
  double number_or(F f, double dflt) const { return has(f) ? o_.number(key(f)) : dflt; }
  bool boolean_or(F f, bool dflt) const {
    const char* k = key(f);
    if (!k) return dflt;
    const Json& v = o_.raw().at(k);
    if (v.is_number_integer()) return v.get<std::int64_t>() != 0;  // mlp_only style 0/1 flags
    return o_.boolean(k);
  }
  std::string string_or(F f, const std::string& dflt) const { return has(f) ? o_.string(key(f)) : dflt; }
  std::vector<std::int64_t> indices(F f, std::int64_t below) const {
    std::vector<std::int64_t> out;
    const char* k = key(f);
    if (!k) return out;
    for (double x : o_.numbers(k)) {
      if (x < 0 || x >= static_cast<double>(below) || x != static_cast<double>(static_cast<std::int64_t>(x)))
        o_.fail(k, "entries must be layer indices below " + std::to_string(below));
      out.push_back(static_cast<std::int64_t>(x));
    }
    return out;
  }
  [[noreturn]] void fail(F f, const std::string& problem) const {
    const char* k = key(f);
    o_.fail(k ? k : first(f), problem);
  }

 private:
  // Each integer field's bound (nest/core/limits.hpp): layer counts bound the layer graph and the
  // split tables (2^31 layers used to hang the planner at 10 GB), vocabularies and contexts their
  // own published maxima, every width, head and expert count 2^20.
  static std::int64_t upper(F f) {
    switch (f) {
      case F::Layers:
      case F::MaxWindowLayers:
      case F::FirstDense:
      case F::MoeFreq:
      case F::SparseStep:
      case F::Interleave:
      case F::NoRopeInterval:
      case F::WindowPattern:
      case F::Mtp:
        return limits::kMaxLayers;
      case F::Vocab:
      case F::TypeVocab:
        return limits::kMaxVocab;
      case F::Positions:
      case F::Window:
      case F::Chunk:
        return limits::kMaxSeqLen;
      default:
        return limits::kMaxWidth;
    }
  }
  const JsonObject& o_;
};

// ---------------------------------------------------------------------------------------------
// The family table
// ---------------------------------------------------------------------------------------------

enum class Pos { Rotary, Learned, Alibi };
// Which layers attend to a window when the config has no layer_types list.
enum class Win {
  None,          // full attention everywhere
  All,           // sliding_window applies to every layer (Mistral, Mixtral, Phi-3)
  Alternate,     // layers 0, 2, 4, ... slide (Gemma 2: is_sliding = not layer_idx % 2; GPT-OSS)
  EveryNthFull,  // layer i is full when (i + 1) % sliding_window_pattern == 0 (Gemma 3: 5 local : 1 global)
  Qwen,          // with use_sliding_window, layers from max_window_layers on slide (Qwen2/3)
  Chunked,       // RoPE layers attend within attention_chunk_size chunks, NoPE layers fully (Llama 4)
};
enum class Rule { Plain, Falcon };  // Falcon: kv heads and norm count from new_decoder_architecture

struct Family {
  const char* type;
  ModelFamily style;
  bool layernorm;
  MlpKind mlp;  // with the default activation; hidden_act may turn GeLU into ReLU and so on
  int norms;
  bool sandwich;
  bool parallel;  // default of use_parallel_residual / parallel_attn (GPT-J: always)
  Pos pos;
  bool qkv_bias, out_bias, mlp_bias;  // defaults; attention_bias / mlp_bias / bias fields override
  bool tied;
  Win window;
  int qk_norm;                  // the norm's kind when on (1 RMSNorm with weights, 2 L2)
  bool qk_norm_default;         // on unless the config's flag says otherwise
  bool moe_every_layer;         // no stack field: every block is MoE (Mixtral, GPT-OSS)
  bool expert_is_intermediate;  // experts sized by intermediate_size (Mixtral, GPT-OSS, Llama 4)
  int shared_experts;           // shared experts of the expert size without a count field (Llama 4: 1)
  bool shared_gate, router_bias, expert_bias, sinks, embed_norm, lm_bias;
  std::int64_t position_offset;
  int ffn_mult;  // MLP size default: ffn_mult x hidden (0: required)
  std::int64_t head_dim_default, vocab_default, window_default, pattern_default;
  double dropout_default, rope_theta_default, eps_default;
  Rule rule;
};

using MF = ModelFamily;
using MK = MlpKind;

// clang-format off
// type           style    LN     mlp          norms sand  par    pos          qkv   out   mlp   tied   window            qk qkon  every  e=int shr gate  rbias ebias sinks enorm lmb  off mult hd   vocab   win   pat drop rope     eps    rule
const Family kFamilies[] = {
  {"llama",       MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"mistral",     MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::All,          0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"mixtral",     MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::All,          0, false, true,  true,  0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   1e6,     1e-5,  Rule::Plain},
  {"qwen2",       MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  true,  false, false, false, Win::Qwen,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"qwen2_moe",   MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  true,  false, false, false, Win::Qwen,         0, false, false, false, 0, true,  false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"qwen3",       MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::Qwen,         1, true,  false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"qwen3_moe",   MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::Qwen,         1, true,  false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"deepseek_v2", MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"deepseek_v3", MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"gpt_oss",     MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  true,  true,  false, false, Win::Alternate,    0, false, true,  true,  0, false, true,  true,  true,  false, false, 0, 0, 0,   0,      128,  0, 0,   150000,  1e-5,  Rule::Plain},
  {"gemma",       MF::Llama, false, MK::GeGlu,    2, false, false, Pos::Rotary,  false, false, false, true,  Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 256, 256000, 0,    0, 0,   10000,   1e-6,  Rule::Plain},
  {"gemma2",      MF::Llama, false, MK::GeGlu,    4, true,  false, Pos::Rotary,  false, false, false, true,  Win::Alternate,    0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 256, 256000, 4096, 0, 0,   10000,   1e-6,  Rule::Plain},
  {"gemma3_text", MF::Llama, false, MK::GeGlu,    4, true,  false, Pos::Rotary,  false, false, false, true,  Win::EveryNthFull, 1, true,  false, false, 0, false, false, false, false, false, false, 0, 0, 256, 262208, 4096, 6, 0,   1e6,     1e-6,  Rule::Plain},
  {"llama4_text", MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::Chunked,      2, true,  false, true,  1, false, false, false, false, false, false, 0, 0, 0,   202048, 8192, 0, 0,   500000,  1e-5,  Rule::Plain},
  {"phi3",        MF::Llama, false, MK::SwiGlu,   2, false, false, Pos::Rotary,  false, false, false, false, Win::All,          0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-5,  Rule::Plain},
  {"nemotron",    MF::Llama, true,  MK::SquaredRelu, 2, false, false, Pos::Rotary, false, false, false, false, Win::None,        0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-5,  Rule::Plain},
  {"gpt_neox",    MF::Llama, true,  MK::Gelu,     2, false, true,  Pos::Rotary,  true,  true,  true,  false, Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0,   10000,   1e-5,  Rule::Plain},
  {"gptj",        MF::Llama, true,  MK::Gelu,     1, false, true,  Pos::Rotary,  false, false, true,  false, Win::None,         0, false, false, false, 0, false, false, false, false, false, true,  0, 4, 0,   0,      0,    0, 0.1, 10000,   1e-5,  Rule::Plain},
  {"falcon",      MF::Llama, true,  MK::Gelu,     2, false, true,  Pos::Rotary,  false, false, false, true,  Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 4, 0,   0,      0,    0, 0,   10000,   1e-5,  Rule::Falcon},
  {"bloom",       MF::Llama, true,  MK::Gelu,     2, false, false, Pos::Alibi,   true,  true,  true,  true,  Win::None,         0, false, false, false, 0, false, false, false, false, true,  false, 0, 4, 0,   0,      0,    0, 0,   0,       1e-5,  Rule::Plain},
  {"opt",         MF::Gpt,   true,  MK::Relu,     2, false, false, Pos::Learned, true,  true,  true,  true,  Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 2, 0, 0,   0,      0,    0, 0,   0,       1e-5,  Rule::Plain},
  {"gpt2",        MF::Gpt,   true,  MK::Gelu,     2, false, false, Pos::Learned, true,  true,  true,  true,  Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 4, 0,   0,      0,    0, 0.1, 0,       1e-5,  Rule::Plain},
  {"bert",        MF::Bert,  true,  MK::Gelu,     2, false, false, Pos::Learned, true,  true,  true,  true,  Win::None,         0, false, false, false, 0, false, false, false, false, false, false, 0, 0, 0,   0,      0,    0, 0.1, 0,       1e-12, Rule::Plain},
};
// clang-format on

// Multimodal wrappers whose text model nest plans (the vision tower is left out, and said so).
struct Wrapper {
  const char* type;
  const char* text_type;
};
const Wrapper kWrappers[] = {{"gemma3", "gemma3_text"}, {"llama4", "llama4_text"}, {"mistral3", "mistral"}};

// Architectures refused in one line: what they are and why nest cannot plan them.
const char* const kEncoderDecoder[] = {"t5",
                                       "mt5",
                                       "umt5",
                                       "longt5",
                                       "switch_transformers",
                                       "bart",
                                       "mbart",
                                       "pegasus",
                                       "pegasus_x",
                                       "marian",
                                       "whisper",
                                       "led",
                                       "blenderbot",
                                       "m2m_100",
                                       "nllb_moe",
                                       "prophetnet",
                                       "fsmt",
                                       "encoder-decoder",
                                       "t5gemma",
                                       "seamless_m4t"};
const char* const kStateSpace[] = {"mamba",           "mamba2",    "falcon_mamba",     "jamba",   "zamba",  "zamba2", "bamba",
                                   "nemotron_h",      "falcon_h1", "granitemoehybrid", "rwkv",    "rwkv5",  "rwkv6",  "rwkv7",
                                   "recurrent_gemma", "lfm2",      "qwen3_next",       "minimax", "plamo2", "hymba",  "xlstm"};

std::string supported_list() {
  std::string s;
  for (const Family& f : kFamilies) s += (s.empty() ? "" : ", ") + std::string(f.type);
  for (const Wrapper& w : kWrappers) s += ", " + std::string(w.type);
  return s;
}

const Family* find_family(const std::string& type) {
  for (const Family& f : kFamilies)
    if (type == f.type) return &f;
  return nullptr;
}

void refuse_unsupported_architecture(const JsonObject& o, const std::string& type) {
  for (const char* t : kEncoderDecoder)
    if (type == t)
      o.fail("model_type", "'" + type +
                               "' is an encoder-decoder model (T5-style), which nest does not plan: it models decoder-only "
                               "transformers (and BERT encoders)");
  if (o.boolean_or("is_encoder_decoder", false))
    o.fail("is_encoder_decoder", "encoder-decoder models (T5-style) are not supported: nest plans decoder-only transformers");
  for (const char* t : kStateSpace)
    if (type == t)
      o.fail("model_type", "'" + type +
                               "' has state-space / recurrent (Mamba-style) or hybrid layers, which nest does not model: it "
                               "plans attention + MLP blocks only");
  for (const char* k : {"ssm_cfg", "hybrid_override_pattern", "attn_layer_period", "mamba_d_state", "ssm_state_size"})
    if (o.has(k))
      o.fail(k, "state-space (Mamba-style) or hybrid layers are not supported: nest plans attention + MLP blocks only");
}

MlpKind mlp_kind(const Family& fam, const Fields& f) {
  const bool gated = fam.mlp == MlpKind::SwiGlu || fam.mlp == MlpKind::GeGlu;
  if (!f.has(F::Activation)) return fam.mlp;
  std::string act = f.string_or(F::Activation, "");
  std::transform(act.begin(), act.end(), act.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool gelu = act.rfind("gelu", 0) == 0 || act == "gelu_new" || act == "gelu_fast";
  if (gated) {
    if (act == "silu" || act == "swish" || act == "swiglu") return MlpKind::SwiGlu;
    if (gelu || act == "geglu") return MlpKind::GeGlu;
  } else {
    if (gelu) return MlpKind::Gelu;
    if (act == "relu") return MlpKind::Relu;
    if (act == "relu2" || act == "squared_relu" || act == "squared-relu") return MlpKind::SquaredRelu;
  }
  f.fail(F::Activation, "'" + act + "' is not an activation nest knows for " + fam.type +
                            (gated ? " (gated MLP: silu, gelu*)" : " (gelu*, relu, relu2)"));
}

// ---------------------------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------------------------

void read_decoder(const Family& fam, const Fields& f, ModelConfig& m) {
  const JsonObject& o = f.json();
  m.family = fam.style;
  m.hidden = f.positive(F::Hidden);
  m.layers = f.positive(F::Layers);
  m.heads = f.positive(F::Heads);
  m.vocab = fam.vocab_default > 0 ? f.positive_or(F::Vocab, fam.vocab_default) : f.positive(F::Vocab);
  m.max_positions = f.positive_or(F::Positions, 0);
  m.layernorm = fam.layernorm;
  m.mlp = mlp_kind(fam, f);
  m.gated_mlp = m.mlp == MlpKind::SwiGlu || m.mlp == MlpKind::GeGlu;
  m.norm_eps = f.number_or(F::NormEps, fam.eps_default);
  m.tied_embeddings = f.boolean_or(F::Tied, fam.tied);

  // Attention heads
  m.kv_heads = f.positive_or(F::KvHeads, m.heads);
  if (fam.rule == Rule::Falcon && !o.boolean_or("new_decoder_architecture", false))
    m.kv_heads = o.boolean_or("multi_query", true) ? 1 : m.heads;
  m.head_dim = f.positive_or(F::HeadDim, fam.head_dim_default);
  if (f.has(F::KvLora) && f.positive_or(F::KvLora, 0) > 0) {
    m.kv_lora_rank = f.positive(F::KvLora);
    m.q_lora_rank = f.non_negative_or(F::QLora, 0);
    m.qk_rope_head_dim = f.positive(F::QkRope);
    m.qk_nope_head_dim = f.positive(F::QkNope);
    m.v_head_dim = f.positive(F::VHead);
    m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    m.kv_heads = m.heads;  // after the up-projection every query head has its own key and value
  }

  // Biases: a family's defaults, overridden by its attention_bias / mlp_bias / bias fields.
  const bool all = f.boolean_or(F::AllBias, fam.qkv_bias && fam.out_bias && fam.mlp_bias);
  const bool all_field = f.has(F::AllBias);
  m.qkv_bias = all_field ? all : f.boolean_or(F::AttentionBias, fam.qkv_bias);
  m.out_bias = all_field ? all : f.boolean_or(F::AttentionBias, fam.out_bias);
  m.mlp_bias = all_field ? all : f.boolean_or(F::MlpBias, fam.mlp_bias || fam.expert_bias);
  m.linear_bias = m.qkv_bias && m.out_bias && m.mlp_bias;

  // Block layout
  m.norms_per_block = fam.norms;
  m.sandwich_norms = fam.sandwich;
  m.parallel_block = f.boolean_or(F::Parallel, fam.parallel);
  if (fam.rule == Rule::Falcon) {
    const bool new_arch = o.boolean_or("new_decoder_architecture", false);
    m.parallel_block = new_arch || o.boolean_or("parallel_attn", true);
    m.norms_per_block =
        new_arch ? static_cast<int>((o.has("num_ln_in_parallel_attn") ? o.integer_in("num_ln_in_parallel_attn", 1, 2) : 2))
                 : (m.parallel_block ? 1 : 2);
  }
  if (std::string(fam.type) == "gptj") m.parallel_block = true;  // GPTJBlock: one ln_1 feeds both
  if (fam.qk_norm > 0 && f.boolean_or(F::QkNorm, fam.qk_norm_default)) m.qk_norm = fam.qk_norm;
  m.attention_sinks = fam.sinks;
  m.embedding_norm = fam.embed_norm;
  m.lm_head_bias = fam.lm_bias;

  // Positions
  m.alibi = fam.pos == Pos::Alibi || f.boolean_or(F::Alibi, false);
  m.learned_positions = fam.pos == Pos::Learned;
  if (m.learned_positions) {
    if (m.max_positions == 0) f.fail(F::Positions, "missing (learned position embeddings need it)");
    m.position_offset = fam.position_offset;
  } else if (!m.alibi) {
    double theta = f.number_or(F::RopeTheta, fam.rope_theta_default);
    if (o.has("rope_parameters") && o.raw().at("rope_parameters").is_object()) {
      const JsonObject rp = o.object("rope_parameters");
      theta = rp.number_or("rope_theta", theta);
    }
    m.rope_theta = theta;
    if (!(m.rope_theta > 0)) f.fail(F::RopeTheta, "must be positive");
  }
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (o.has(key) && o.raw().at(key).is_object()) {
      const JsonObject rs = o.object(key);
      const std::string type = rs.string_or("rope_type", rs.string_or("type", ""));
      if (type == "llama3") m.rope_scaling_factor = rs.number_or("factor", 8);
    }
  }
  if (f.has(F::EmbedProj) && f.positive(F::EmbedProj) != m.hidden)
    f.fail(F::EmbedProj, "an embedding projection (word_embed_proj_dim != hidden_size) is not modelled");

  // Dropout: the largest probability the config names (GPT-2 and BERT default to 0.1)
  double dropout = -1;
  for (const char* k : {"attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout",
                        "attention_probs_dropout_prob", "hidden_dropout_prob", "ffn_dropout"})
    if (o.has(k) && o.raw().at(k).is_number()) dropout = std::max(dropout, o.number(k));
  m.dropout = dropout >= 0 ? dropout : fam.dropout_default;

  // MLP and mixture of experts
  const std::int64_t experts = f.non_negative_or(F::Experts, 0);
  if (experts > 0) {
    m.experts = experts;
    m.experts_per_token = f.positive(F::TopK);
    if (f.has(F::MoeFfn))
      m.moe_ffn = f.positive(F::MoeFfn);
    else if (fam.expert_is_intermediate && o.has("intermediate_size"))
      m.moe_ffn = o.integer_in("intermediate_size", 1, limits::kMaxWidth);
    else
      f.fail(F::MoeFfn, "missing (the experts' MLP size)");
    if (f.has(F::SharedFfn))
      m.shared_expert_ffn = f.non_negative_or(F::SharedFfn, 0);
    else
      m.shared_expert_ffn = f.non_negative_or(F::SharedExperts, fam.shared_experts) * m.moe_ffn;
    m.shared_expert_gate = fam.shared_gate && m.shared_expert_ffn > 0;
    m.router_bias = fam.router_bias;
    m.mtp_layers = static_cast<int>(f.non_negative_or(F::Mtp, 0));
    // Routing (DeepSeek-V2/V3's MoEGate, Qwen2-MoE's norm_topk_prob): softmax unless sigmoid;
    // the chosen experts' weights renormalised unless norm_topk_prob is false (then the softmax
    // over every expert stands); noaux_tc is DeepSeek-V3's aux-loss-free expert bias.
    const std::string scoring = f.string_or(F::ScoringFunc, "softmax");
    if (scoring != "softmax" && scoring != "sigmoid") f.fail(F::ScoringFunc, "'" + scoring + "' is not softmax or sigmoid");
    m.router_sigmoid = scoring == "sigmoid";
    m.router_pre_softmax = !m.router_sigmoid && f.has(F::NormTopk) && !f.boolean_or(F::NormTopk, true);
    m.router_scale = f.number_or(F::RoutedScale, 1);
    if (!(m.router_scale > 0)) f.fail(F::RoutedScale, "must be positive");
    m.router_expert_bias = f.string_or(F::TopkMethod, "") == "noaux_tc";
    m.router_groups = f.non_negative_or(F::Groups, 0);
    m.router_group_topk = f.non_negative_or(F::GroupTopk, 0);
    if (m.router_groups > 1 &&
        (m.experts % m.router_groups != 0 || m.router_group_topk < 1 || m.router_group_topk > m.router_groups))
      f.fail(F::GroupTopk, "group-limited routing needs n_group dividing the experts and 1 <= topk_group <= n_group");
    if (m.router_groups <= 1) m.router_groups = m.router_group_topk = 0;
  }
  m.ffn = f.has(F::Ffn) ? f.positive(F::Ffn) : (fam.ffn_mult > 0 ? fam.ffn_mult * m.hidden : 0);
  if (fam.expert_is_intermediate && experts > 0 && !o.has("intermediate_size_mlp")) m.ffn = m.moe_ffn;
  if (m.ffn == 0) f.fail(F::Ffn, "missing (the MLP size)");

  // Which blocks are MoE: Llama 4's moe_layers list, or every block thinned by the stack
  // fields (DeepSeek first_k_dense_replace / moe_layer_freq, Qwen decoder_sparse_step /
  // mlp_only_layers, Llama 4 interleave_moe_layer_step).
  m.moe_layer.assign(static_cast<std::size_t>(m.layers), m.is_moe());
  if (m.is_moe()) {
    if (f.has(F::MoeLayers)) {
      m.moe_layer.assign(static_cast<std::size_t>(m.layers), false);
      for (std::int64_t i : f.indices(F::MoeLayers, m.layers)) m.moe_layer[static_cast<std::size_t>(i)] = true;
    } else {
      const std::int64_t first_dense = f.non_negative_or(F::FirstDense, 0);
      const std::int64_t freq = f.positive_or(F::MoeFreq, 1);
      const std::int64_t step = f.positive_or(F::SparseStep, f.positive_or(F::Interleave, 1));
      for (std::int64_t i = 0; i < m.layers; ++i)
        m.moe_layer[static_cast<std::size_t>(i)] = i >= first_dense && i % freq == 0 && (i + 1) % step == 0;
      for (std::int64_t i : f.indices(F::MlpOnly, m.layers)) m.moe_layer[static_cast<std::size_t>(i)] = false;
    }
  }

  // Attention windows per block
  m.layer_window.assign(static_cast<std::size_t>(m.layers), 0);
  const std::int64_t window = f.has(F::Window) ? f.non_negative_or(F::Window, 0) : fam.window_default;
  const char* types_key = f.key(F::LayerTypes);
  if (types_key) {
    const Json& types = o.raw().at(types_key);
    if (!types.is_array() || static_cast<std::int64_t>(types.size()) < m.layers)
      o.fail(types_key, "must list one attention type per layer");
    for (std::int64_t i = 0; i < m.layers; ++i) {
      const Json& t = types[static_cast<std::size_t>(i)];
      const std::string ty = t.is_string() ? t.get<std::string>() : "";
      if (ty == "full_attention" || ty == "attention") continue;
      if (ty == "sliding_attention") {
        m.layer_window[static_cast<std::size_t>(i)] = window;
      } else if (ty == "chunked_attention") {
        m.layer_window[static_cast<std::size_t>(i)] = f.positive_or(F::Chunk, fam.window_default);
        m.chunked_attention = true;
      } else {
        o.fail(types_key, "layer type '" + ty +
                              "' is not an attention layer: state-space, recurrent or linear-attention layers are not "
                              "supported (nest plans attention + MLP blocks only)");
      }
    }
  } else {
    for (std::int64_t i = 0; i < m.layers; ++i) {
      std::int64_t w = 0;
      switch (fam.window) {
        case Win::None:
          break;
        case Win::All:
          w = window;
          break;
        case Win::Alternate:
          w = i % 2 == 0 ? window : 0;
          break;
        case Win::EveryNthFull:
          w = (i + 1) % f.positive_or(F::WindowPattern, fam.pattern_default) == 0 ? 0 : window;
          break;
        case Win::Qwen:
          w = f.boolean_or(F::UseWindow, false) && i >= f.non_negative_or(F::MaxWindowLayers, 0) ? window : 0;
          break;
        case Win::Chunked: {
          const std::int64_t chunk = f.has(F::Chunk) ? f.non_negative_or(F::Chunk, 0) : fam.window_default;
          bool rope = (i + 1) % f.positive_or(F::NoRopeInterval, 4) != 0;
          if (f.has(F::NoRopeLayers)) {
            const std::vector<double> flags = o.numbers(f.key(F::NoRopeLayers));
            if (static_cast<std::int64_t>(flags.size()) < m.layers) f.fail(F::NoRopeLayers, "must list every layer");
            rope = flags[static_cast<std::size_t>(i)] != 0;
          }
          if (rope && chunk > 0) {
            w = chunk;
            m.chunked_attention = true;
          }
          break;
        }
      }
      m.layer_window[static_cast<std::size_t>(i)] = w;
    }
  }
  for (std::int64_t w : m.layer_window)
    if (w > 0) {
      m.sliding_window = w;
      break;
    }
}

void read_bert(const Fields& f, ModelConfig& m) {
  const Family& fam = *find_family("bert");
  read_decoder(fam, f, m);
  m.type_vocab = f.non_negative_or(F::TypeVocab, 2);
  m.causal = false;
}

}  // namespace

std::vector<std::string> model_features(const ModelConfig& m, std::initializer_list<ModelFeature> features) {
  std::vector<std::string> out;
  for (ModelFeature f : features) switch (f) {
      case ModelFeature::QkNorm:
        if (m.qk_norm > 0) out.emplace_back("query and key norms");
        break;
      case ModelFeature::OtherNormLayout:
        if (m.sandwich_norms || m.norms_per_block != 2)
          out.emplace_back("norms other than one before attention and one before the MLP");
        break;
      case ModelFeature::ParallelBlock:
        if (m.parallel_block) out.emplace_back("attention and MLP side by side (parallel blocks)");
        break;
      case ModelFeature::AttentionSinks:
        if (m.attention_sinks) out.emplace_back("attention sinks");
        break;
      case ModelFeature::ChunkedAttention:
        if (m.chunked_attention) out.emplace_back("chunked attention");
        break;
      case ModelFeature::LatentAttention:
        if (m.attention() == AttentionKind::Mla) out.emplace_back("multi-latent attention");
        break;
      case ModelFeature::Alibi:
        if (m.alibi) out.emplace_back("ALiBi position biases");
        break;
      case ModelFeature::EmbeddingNorm:
        if (m.embedding_norm) out.emplace_back("a norm after the embedding");
        break;
      case ModelFeature::LmHeadBias:
        if (m.lm_head_bias) out.emplace_back("an LM-head bias");
        break;
      case ModelFeature::Mtp:
        if (m.mtp_layers > 0) out.emplace_back("multi-token prediction");
        break;
      case ModelFeature::GegluOrRelu:
        if (m.mlp == MlpKind::GeGlu || m.mlp == MlpKind::Relu) out.emplace_back("a GeGLU or ReLU MLP");
        break;
    }
  return out;
}

const char* to_string(MlpKind k) {
  switch (k) {
    case MlpKind::Gelu:
      return "gelu";
    case MlpKind::SwiGlu:
      return "swiglu";
    case MlpKind::GeGlu:
      return "geglu";
    case MlpKind::Relu:
      return "relu";
    case MlpKind::SquaredRelu:
      return "squared-relu";
  }
  return "?";
}

const char* to_string(AttentionKind k) {
  switch (k) {
    case AttentionKind::Mha:
      return "mha";
    case AttentionKind::Gqa:
      return "gqa";
    case AttentionKind::Mqa:
      return "mqa";
    case AttentionKind::Mla:
      return "mla";
  }
  return "?";
}

bool ModelConfig::windowed() const {
  for (std::int64_t w : layer_window)
    if (w > 0) return true;
  return false;
}

std::string block_kind(const ModelConfig& m, std::int64_t block) {
  const std::size_t i = static_cast<std::size_t>(block);
  std::string s = (i < m.moe_layer.size() && m.moe_layer[i]) ? "moe" : "dense";
  if (i < m.layer_window.size() && m.layer_window[i] > 0)
    s += std::string(m.chunked_attention ? ", chunk " : ", window ") + std::to_string(m.layer_window[i]);
  return s;
}

std::vector<std::pair<std::string, int>> layer_kind_counts(const ModelConfig& m) {
  std::vector<std::pair<std::string, int>> counts;
  for (std::int64_t i = 0; i < m.layers; ++i) {
    const std::string k = block_kind(m, i);
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == k; });
    if (it == counts.end())
      counts.emplace_back(k, 1);
    else
      ++it->second;
  }
  if (m.mtp_layers > 0) counts.emplace_back("mtp", m.mtp_layers);
  return counts;
}

std::string layer_kinds(const ModelConfig& m) {
  const auto counts = layer_kind_counts(m);
  std::ostringstream s;
  for (std::size_t i = 0; i < counts.size(); ++i) s << (i ? "; " : "") << counts[i].second << " x " << counts[i].first;
  return s.str();
}

ModelConfig read_model_config(const std::string& path, const std::string& name) { return read_model_config(path, name, {}); }

ModelConfig read_model_config(const std::string& path, const std::string& name, const std::vector<JsonSetting>& settings) {
  Json j = read_json_file(path);
  apply_json_settings(j, settings, path);
  const JsonObject top(j, path);
  ModelConfig m;
  m.name = name;
  m.source = path;
  if (!top.has("model_type")) top.fail("model_type", "missing (supported: " + supported_list() + ")");
  std::string type = top.string("model_type");
  refuse_unsupported_architecture(top, type);

  // Multimodal wrappers: the text model's config
  const JsonObject* cfg = &top;
  std::optional<JsonObject> text;
  for (const Wrapper& w : kWrappers) {
    if (type != w.type) continue;
    if (!top.has("text_config")) top.fail("text_config", "missing (the text model of '" + type + "')");
    text.emplace(top.object("text_config"));
    cfg = &*text;
    type = text->string_or("model_type", w.text_type);
    if (type == w.type) type = w.text_type;  // some text_configs repeat the wrapper's type
    refuse_unsupported_architecture(*text, type);
    m.note = "the text model of a multimodal '" + std::string(w.type) + "' config; its vision encoder is not modelled";
  }
  m.model_type = type;
  const Family* fam = find_family(type);
  if (!fam) cfg->fail("model_type", "'" + type + "' is not supported (supported: " + supported_list() + ")");
  const Fields f(*cfg);
  if (type == "bert")
    read_bert(f, m);
  else
    read_decoder(*fam, f, m);
  if (text && !cfg->has("tie_word_embeddings") && top.has("tie_word_embeddings"))
    m.tied_embeddings = top.boolean("tie_word_embeddings");

  if (m.head_dim == 0) {
    if (m.hidden % m.heads != 0) f.fail(F::Heads, "must divide the hidden size when head_dim is not given");
    m.head_dim = m.hidden / m.heads;
  }
  if (m.heads % m.kv_heads != 0) f.fail(F::KvHeads, "must divide num_attention_heads");
  if (m.dropout < 0 || m.dropout >= 1) cfg->fail("dropout", "probabilities must lie in [0, 1)");
  if (m.is_moe() && m.experts_per_token > m.experts) f.fail(F::TopK, "must not exceed the number of experts");
  if (m.kv_lora_rank > 0 && m.qk_rope_head_dim >= m.head_dim) f.fail(F::QkRope, "must be smaller than the head dimension");
  return m;
}

ModelConfig load_model(const std::string& spec) { return load_model(spec, {}); }

ModelConfig load_model(const std::string& spec, const std::vector<JsonSetting>& settings) {
  const std::string path = resolve_preset(PresetKind::Model, spec);
  std::string name = spec;
  if (path == spec) {
    const std::filesystem::path p(spec);
    name = p.stem() == "config" && p.has_parent_path() ? p.parent_path().filename().string() : p.stem().string();
  }
  return read_model_config(path, name, settings);
}

}  // namespace nest
