// torchtitan 0.3 launch script: torchrun -m torchtitan.train --module M --config F <overrides>
// activation_checkpoint:<mode>. File:line citations are at the torchtitan 0.3.0 wheel
// (paths under torchtitan/), torch 2.15; docs/frameworks.md §6.2.
//
// torchtitan 0.3 takes no TOML: a config function chooses the model (config/manager.py:48-158),
// and CLI overrides (tyro, manager.py:34-45) set the rest. The stock functions cover Llama 3 8B
// and 70B in bf16 (models/llama3/config_registry.py); any other dense Llama-family shape, a
// low-precision recipe or async TP gets a config module that the script writes next to itself,
// as do a Qwen3-style model (query and key norms; dense, or MoE in every block) on torchtitan's
// qwen3 model, DeepSeek-V3 on its 671B flavor, and GPT-OSS in low precision or with CP; models
// none of these express (GPT-2 style, biases, sliding windows, shared experts ...) need a module
// the user provides, which the script names and describes.
#include <cctype>
#include <sstream>

#include "frameworks.hpp"
#include "launch_script.hpp"
#include "nest/core/error.hpp"

namespace nest {

namespace {

using launch::Script;

std::string str(long x) { return std::to_string(x); }

// Positions of the stock config functions' RoPE tables (below).
constexpr long kStockRopePositions = 131072;

// Async tensor parallelism in torchtitan 0.3's trainer is the model's tp_gemm_backend
// "dist_gemm": the TP all-gather / reduce-scatter folded into the attention and MLP GEMMs over
// symmetric memory (models/common/config_utils.py:199-230, 287; it needs the spmd_types backend
// and sequence parallelism, models/common/dist_gemm.py:88-110). --compile.enable_async_tensor_parallel
// is validated (config/configs.py:303-310) but read only by experiments/graph_trainer (passes.py:337),
// so the export sets the backend in the config module instead.

// The stock config function of a model shape (models/llama3/__init__.py:236-349; the stock
// functions are Llama 3.1: RoPE theta 5e5 with llama scaling, which changes no shape).
std::string stock_config(const ModelConfig& m) {
  const bool llama3 = m.family == ModelFamily::Llama && !m.is_moe() && m.vocab == 128256 && m.kv_heads == 8 &&
                      !m.tied_embeddings && m.rope_theta == 500000 && !m.linear_bias && !m.qkv_bias && m.sliding_window == 0 &&
                      m.head_dim * m.heads == m.hidden && m.dropout == 0;
  if (!llama3) return "";
  if (m.hidden == 4096 && m.layers == 32 && m.heads == 32 && m.ffn == 14336) return "llama3_8b";
  if (m.hidden == 8192 && m.layers == 80 && m.heads == 64 && m.ffn == 28672) return "llama3_70b";
  return "";
}

// The stock GPT-OSS config functions (models/gpt_oss/config_registry.py:70-129; flavors 20b and
// 120b of models/gpt_oss/__init__.py:293-386): 64 query and 8 key/value heads of 64 (fixed in
// _make_gptoss_attn_config, :69-79), sinks, a 128-token window on the even layers (:209), biases
// on every linear layer and expert, YaRN RoPE (factor 32, no shape). Empty when the model is not
// one of them.
std::string stock_gpt_oss(const ModelConfig& m) {
  if (!m.is_moe() || !m.attention_sinks || !m.router_bias || m.tied_embeddings || m.hidden != 2880 || m.heads != 64 ||
      m.kv_heads != 8 || m.head_dim != 64 || m.moe_ffn != 2880 || m.experts_per_token != 4 || m.vocab != 201088 ||
      m.shared_expert_ffn != 0 || m.rope_theta != 150000)
    return "";
  if (static_cast<std::int64_t>(m.layer_window.size()) != m.layers) return "";
  for (std::int64_t i = 0; i < m.layers; ++i)
    if (m.layer_window[static_cast<std::size_t>(i)] != (i % 2 == 0 ? 128 : 0) || !m.moe_layer[static_cast<std::size_t>(i)])
      return "";
  if (m.layers == 24 && m.experts == 32) return "gpt_oss_20b";
  if (m.layers == 36 && m.experts == 128) return "gpt_oss_120b";
  return "";
}

// torchtitan 0.3's DeepSeek-V3 671B flavor (models/deepseek_v3/__init__.py:533-614: MLA with
// q_lora 1536 / kv_lora 512 / 128 + 64 query-key and 128 value dimensions, 3 dense blocks of
// 18,432, then 256 routed experts of 2,048, top-8, one shared expert, DeepSeek-V3's router),
// its MTP modules built by
// model_registry's num_mtp_layers (:291-316, 616-650), when the model is that one; empty
// otherwise. Its RoPE table holds 16,384 positions (:577).
constexpr long kDeepSeekV3RopePositions = 4096 * 4;
bool torchtitan_deepseek_v3_671b(const ModelConfig& m) {
  if (m.attention() != AttentionKind::Mla || !m.is_moe() || m.hidden != 7168 || m.layers != 61 || m.vocab != 129280 ||
      m.heads != 128 || m.q_lora_rank != 1536 || m.kv_lora_rank != 512 || m.qk_nope_head_dim != 128 || m.qk_rope_head_dim != 64 ||
      m.v_head_dim != 128 || m.ffn != 18432 || m.moe_ffn != 2048 || m.experts != 256 || m.experts_per_token != 8 ||
      m.shared_expert_ffn != 2048 || m.tied_embeddings)
    return false;
  // its router (:566-571): sigmoid scores, 8 groups of which 4, scale 2.5, the expert bias
  if (!m.router_sigmoid || m.router_groups != 8 || m.router_group_topk != 4 || m.router_scale != 2.5 || !m.router_expert_bias)
    return false;
  for (std::int64_t i = 0; i < m.layers; ++i)
    if (m.moe_layer[static_cast<std::size_t>(i)] != (i >= 3)) return false;
  return true;
}

// What neither of torchtitan 0.3's decoders nest writes modules for (llama3, qwen3) has: both are
// pre-norm RMSNorm / SwiGLU / RoPE blocks without biases, dropout, windows or the features below.
std::vector<std::string> not_plain_decoder(const ModelConfig& m) {
  std::vector<std::string> why;
  if (m.family != ModelFamily::Llama || m.layernorm || !m.gated_mlp) why.push_back("LayerNorm / GELU MLP (GPT-2 style)");
  if (m.learned_positions || m.rope_theta <= 0) why.push_back("learned position embeddings");
  if (m.linear_bias || m.qkv_bias || m.out_bias || m.mlp_bias) why.push_back("linear biases");
  if (m.sliding_window > 0) why.push_back("sliding-window attention");
  if (m.dropout > 0) why.push_back("dropout");
  using F = ModelFeature;
  for (std::string& w : model_features(m, {F::OtherNormLayout, F::ParallelBlock, F::AttentionSinks, F::ChunkedAttention,
                                           F::LatentAttention, F::Alibi, F::EmbeddingNorm, F::LmHeadBias, F::Mtp}))
    why.push_back(std::move(w));
  return why;
}

// Why torchtitan 0.3's llama3 model (dense, no query/key norms, head_dim = dim / heads, Llama 3.1
// RoPE scaling) cannot express the model; empty when it can.
std::vector<std::string> not_llama3(const ModelConfig& m) {
  std::vector<std::string> why;
  if (m.is_moe()) why.push_back("mixture of experts");
  if (m.head_dim * m.heads != m.hidden) why.push_back("head_dim != hidden / heads");
  for (std::string& w : model_features(m, {ModelFeature::QkNorm})) why.push_back(std::move(w));
  for (std::string& w : not_plain_decoder(m)) why.push_back(std::move(w));
  return why;
}

// Why torchtitan 0.3's qwen3 model (models/qwen3/__init__.py:91-195: RMSNorm query and key norms,
// RoPE without scaling; dense, or routed experts in every block with softmax top-k routing and no
// shared expert) cannot express the model as nest writes it; empty when it can. torchtitan
// converts experts to float8 or MXFP8, not NVFP4, and async TP is written for the attention and
// dense MLP only.
std::vector<std::string> not_qwen3(const ModelConfig& m, Precision precision, bool dist_gemm) {
  std::vector<std::string> why;
  if (m.qk_norm == 0) why.push_back("no query and key norms");
  if (m.qk_norm == 2) why.push_back("L2 query and key norms");
  if (m.rope_scaling_factor > 0) why.push_back("RoPE scaling");
  if (m.is_moe()) {
    for (bool moe : m.moe_layer)
      if (!moe) {
        why.push_back("dense and MoE blocks mixed");
        break;
      }
    if (m.shared_expert_ffn > 0) why.push_back("shared experts");
    if (m.router_bias) why.push_back("a router bias");
    // its router: softmax over every expert, top-k renormalised (route_norm), no scale or groups
    if (m.router_sigmoid || m.router_pre_softmax || m.router_scale != 1 || m.router_expert_bias || m.router_groups > 1)
      why.push_back("another routing (sigmoid scores, no renormalisation, a routed scale, an expert bias or groups)");
    if (precision == Precision::Nvfp4) why.push_back("nvfp4 experts");
    if (dist_gemm) why.push_back("async tensor parallelism with experts");
  }
  for (std::string& w : not_plain_decoder(m)) why.push_back(std::move(w));
  return why;
}

std::string python_name(const std::string& text) {
  std::string out;
  for (char c : text) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_');
  return out;
}

// The config module's _converters(): low precision as model converters, as in the stock
// llama3_8b_mxfp8 / llama3_405b functions (models/llama3/config_registry.py:242-310). With
// experts, as the stock deepseek_v3_671b_float8 / deepseek_v3_debugmodel_mxfp8 functions
// (models/deepseek_v3/config_registry.py:82-105, 246-268): the router gate stays bf16 (nest
// prices it so) and the experts' grouped GEMMs get their own converter (torchao's grouped ops,
// the recipe nest prices them with: kernels/operators.hpp CastRecipe::TorchaoGrouped).
std::string converters_function(const Problem& problem, Precision precision) {
  std::ostringstream py;
  py << "def _converters():\n";
  const bool compile = problem.options.compile;
  const bool moe = problem.model.is_moe();
  const char* compiled = compile ? "True" : "False";
  switch (precision) {
    case Precision::Bf16:
      py << "    return None\n";
      break;
    case Precision::Fp8:
      // The blocks' linear layers in float8 (the plan's row-wise recipe), lm_head in bf16 as
      // llama3_405b does.
      py << "    from torchtitan.components.quantization import Float8LinearConverter"
         << (moe ? ", Float8GroupedExpertsConverter" : "") << "\n\n"
         << "    # NEST_TORCHTITAN_EMULATE_FLOAT8=1 emulates float8 (checks the configuration on a machine without an\n"
         << "    # SM89+ GPU, torchtitan components/quantization/float8.py:77-103); never for training.\n";
      if (moe) py << "    # The experts' converter has no emulation (float8.py:222-235): it needs the GPU either way.\n";
      py << "    emulate = os.environ.get(\"NEST_TORCHTITAN_EMULATE_FLOAT8\") == \"1\"\n"
         << "    return [Float8LinearConverter.Config(recipe_name=\""
         << (fp8_recipe_of(problem) == Fp8Recipe::RowwiseGwHp ? "rowwise_with_gw_hp" : "rowwise")
         << "\", filter_fqns=[\"lm_head\"" << (moe ? ", \"router.gate\"" : "") << "], emulate=emulate,\n"
         << "                                         model_compile_enabled=" << compiled << " and not emulate)"
         << (moe ? ",\n            Float8GroupedExpertsConverter.Config(model_compile_enabled=" + std::string(compiled) + ")"
                 : "")
         << "]\n";
      break;
    case Precision::Mxfp8:
      py << "    from torchtitan.components.quantization import MXFP8LinearConverter"
         << (moe ? ", MXFP8GroupedExpertsConverter" : "") << "\n\n";
      if (moe)
        // The MTP modules' projection too (mtp.py:123: nest prices it in the blocks' precision);
        // pad_multiple 128: the CuTeDSL quantisation kernel on SM100 needs it (mx.py:162-165).
        py << "    return [MXFP8LinearConverter.Config(fqns=[\"attention\", \"shared_experts\", \"feed_forward\""
           << (problem.model.mtp_layers > 0 ? ", \"eh_proj\"" : "") << "], model_compile_enabled=" << compiled << "),\n"
           << "            MXFP8GroupedExpertsConverter.Config(pad_multiple=128, model_compile_enabled=" << compiled << ")]\n";
      else
        py << "    return [MXFP8LinearConverter.Config(fqns=[\"layers.\"], model_compile_enabled=" << compiled << ")]\n";
      break;
    case Precision::Nvfp4:
      py << "    from torchtitan.components.quantization import NVFP4LinearConverter\n\n"
         << "    return [NVFP4LinearConverter.Config(fqns=[\"layers.\"], model_compile_enabled=" << compiled << ")]\n";
      break;
  }
  return py.str();
}

// A config module for a dense Llama-family shape: torchtitan's llama3 model (the flavor
// builders of models/llama3/__init__.py:66-349) with this model's dimensions, registered as a
// flavor of model_registry (:359-390), and the llama3_8b trainer settings around it with the loss
// sized to the vocabulary (config_registry.py:186-191). Low precision is a model converter, as
// in the stock llama3_8b_mxfp8 / llama3_405b functions (config_registry.py:242-310).
std::string llama3_module(const Problem& problem, const Precision precision, bool dist_gemm, const std::string& flavor,
                          const std::string& model_spec) {
  const ModelConfig& m = problem.model;
  const long max_seq = std::max<long>(kStockRopePositions, problem.seq_len);
  std::ostringstream py;
  py << "\"\"\"torchtitan 0.3 config for " << model_spec << " (" << to_string(precision)
     << (dist_gemm ? ", async tensor parallelism" : "") << "), written by nest export.\n\n"
     << "torchtitan's llama3 model with this model's shape, registered as the llama3 flavor '" << flavor << "'.\n"
     << "\"\"\"\n"
     << "import os\n\n"
     << "import torchtitan.models.llama3 as llama3\n"
     << "from torchtitan.components.loss import ChunkedLossWrapper, CrossEntropyLoss\n"
     << "from torchtitan.models.common import ComplexRoPE, Embedding, Linear, RMSNorm\n"
     << "from torchtitan.models.common.config_utils import decoder_vocab_size\n"
     << "from torchtitan.models.llama3.config_registry import llama3_8b\n"
     << "from torchtitan.models.llama3.model import Llama3Model\n\n"
     << "FLAVOR = \"" << flavor << "\"\n\n\n"
     << "def _model(attn_backend, tp_gemm_backend=\"default\"):\n"
     << "    dim, n_layers, n_heads, n_kv_heads = " << m.hidden << ", " << m.layers << ", " << m.heads << ", " << m.kv_heads
     << "\n"
     << "    vocab, ffn, eps = " << m.vocab << ", " << m.ffn << ", " << launch::number(m.norm_eps) << "\n"
     << "    rope = ComplexRoPE.Config(dim=dim // n_heads, max_seq_len=" << max_seq << ", theta=" << launch::number(m.rope_theta);
  if (m.rope_scaling_factor > 0)
    py << ", scaling=\"llama\", scaling_factor=" << launch::number(m.rope_scaling_factor) << ")\n";
  else
    py << ", scaling=\"none\")\n";
  py << "    layers = llama3._build_llama3_layers(\n"
     << "        fuse_qkv=" << (problem.options.fuse_qkv ? "True" : "False")
     << ", n_layers=n_layers, dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads, hidden_dim=ffn,\n"
     << "        rope=rope, attn_backend=attn_backend, tp_gemm_backend=tp_gemm_backend)\n"
     << "    for layer in layers:\n"
     << "        layer.attention_norm.eps = eps\n"
     << "        layer.ffn_norm.eps = eps\n"
     << "    return Llama3Model.Config(\n"
     << "        dim=dim,\n"
     << "        vocab_size=vocab,\n"
     << "        enable_weight_tying=" << (m.tied_embeddings ? "True" : "False") << ",\n"
     << "        tok_embeddings=Embedding.Config(num_embeddings=vocab, embedding_dim=dim, param_init=llama3."
     << (m.tied_embeddings ? "_EMBEDDING_SKIP_INIT" : "_EMBEDDING_INIT") << "),\n"
     << "        norm=RMSNorm.Config(normalized_shape=dim, eps=eps, param_init=llama3._NORM_INIT),\n"
     << "        lm_head=Linear.Config(in_features=dim, out_features=vocab, param_init=llama3._output_linear_init(dim)),\n"
     << "        layers=layers,\n"
     << "    )\n\n\n"
     << "llama3.llama3_configs[FLAVOR] = _model\n\n\n"
     << converters_function(problem, precision);
  py << "\n\n"
     << "def config():\n"
     << "    c = llama3_8b()\n"
     << "    c.model_spec = llama3.model_registry(FLAVOR, " << (dist_gemm ? "tp_gemm_backend=\"dist_gemm\", " : "")
     << "converters=_converters())\n"
     << "    c.loss = ChunkedLossWrapper.Config(\n"
     << "        loss_fn=CrossEntropyLoss.Config(global_vocab_size=decoder_vocab_size(c.model_spec)))\n"
     << "    return c\n";
  return py.str();
}

// A config module for a Qwen3-style shape: torchtitan's qwen3 model (models/qwen3/__init__.py:
// 91-195, its dense and MoE layer builders, and model_registry :613-635) with this model's
// dimensions, registered as a qwen3 flavor, and the qwen3_30b_a3b trainer settings (its Qwen3
// tokenizer assets) around it with the loss sized to the vocabulary. Dense layers are written out
// as _build_qwen3_layers writes them, with the TP GEMM backend the plan runs (async TP: dist_gemm);
// MoE layers come from _build_qwen3_moe_layers.
std::string qwen3_module(const Problem& problem, const Precision precision, bool dist_gemm, const std::string& flavor,
                         const std::string& model_spec) {
  const ModelConfig& m = problem.model;
  const long max_seq = std::max<long>(m.max_positions > 0 ? m.max_positions : 40960, problem.seq_len);
  const char* fuse = problem.options.fuse_qkv ? "True" : "False";
  std::ostringstream py;
  py << "\"\"\"torchtitan 0.3 config for " << model_spec << " (" << to_string(precision)
     << (dist_gemm ? ", async tensor parallelism" : "") << "), written by nest export.\n\n"
     << "torchtitan's qwen3 model with this model's shape, registered as the qwen3 flavor '" << flavor << "'.\n"
     << "\"\"\"\n"
     << "import os\n\n"
     << "import torchtitan.models.qwen3 as qwen3\n"
     << "from torchtitan.components.loss import ChunkedLossWrapper, CrossEntropyLoss\n"
     << "from torchtitan.models.common import CosSinRoPE, Embedding, Linear\n"
     << "from torchtitan.models.common.config_utils import (\n"
     << "    decoder_vocab_size, get_attention_config, make_ffn_config, make_gqa_config)\n"
     << "from torchtitan.models.qwen3.config_registry import qwen3_30b_a3b\n"
     << "from torchtitan.models.qwen3.model import Qwen3Model, Qwen3TransformerBlock\n\n"
     << "FLAVOR = \"" << flavor << "\"\n"
     << "TP_GEMM_BACKEND = \"" << (dist_gemm ? "dist_gemm" : "default") << "\"\n\n\n"
     << "def _model(attn_backend, moe_comm_backend=\"standard\"):\n"
     << "    dim, n_layers, n_heads, n_kv_heads, head_dim = " << m.hidden << ", " << m.layers << ", " << m.heads << ", "
     << m.kv_heads << ", " << m.head_dim << "\n"
     << "    vocab, eps = " << m.vocab << ", " << launch::number(m.norm_eps) << "\n"
     << "    rope = CosSinRoPE.Config(dim=head_dim, max_seq_len=" << max_seq << ", theta=" << launch::number(m.rope_theta)
     << ")\n";
  if (m.is_moe()) {
    py << "    layers = qwen3._build_qwen3_moe_layers(\n"
       << "        fuse_qkv=" << fuse << ", n_layers=n_layers, dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads,\n"
       << "        head_dim=head_dim, moe_hidden_dim=" << m.moe_ffn << ", num_experts=" << m.experts
       << ", top_k=" << m.experts_per_token << ",\n"
       << "        attn_backend=attn_backend, rope=rope, moe_comm_backend=moe_comm_backend)\n";
  } else {
    py << "    layers = [\n"
       << "        Qwen3TransformerBlock.Config(\n"
       << "            attention_norm=qwen3._qwen3_norm(dim),\n"
       << "            ffn_norm=qwen3._qwen3_norm(dim),\n"
       << "            attention=make_gqa_config(\n"
       << "                dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=head_dim,\n"
       << "                wqkv_param_init=qwen3._LINEAR_INIT, wo_param_init=qwen3._LINEAR_INIT,\n"
       << "                inner_attention=get_attention_config(attn_backend), fuse_qkv=" << fuse << ", rope=rope,\n"
       << "                qk_norm=qwen3._qwen3_norm(head_dim), tp_gemm_backend=TP_GEMM_BACKEND),\n"
       << "            feed_forward=make_ffn_config(\n"
       << "                dim=dim, hidden_dim=" << m.ffn << ", w1_param_init=qwen3._LINEAR_INIT,\n"
       << "                w2w3_param_init=qwen3._LINEAR_INIT, tp_gemm_backend=TP_GEMM_BACKEND),\n"
       << "        )\n"
       << "        for _ in range(n_layers)\n"
       << "    ]\n";
  }
  py << "    for layer in layers:\n"
     << "        layer.attention_norm.eps = eps\n"
     << "        layer.ffn_norm.eps = eps\n"
     << "        layer.attention.qk_norm.eps = eps\n"
     << "    norm = qwen3._qwen3_norm(dim)\n"
     << "    norm.eps = eps\n"
     << "    return Qwen3Model.Config(\n"
     << "        vocab_size=vocab,\n"
     << "        dim=dim,\n"
     << "        norm=norm,\n"
     << "        enable_weight_tying=" << (m.tied_embeddings ? "True" : "False") << ",\n"
     << "        tok_embeddings=Embedding.Config(num_embeddings=vocab, embedding_dim=dim, param_init=qwen3."
     << (m.tied_embeddings ? "_EMBEDDING_SKIP_INIT" : "_EMBEDDING_INIT") << "),\n"
     << "        lm_head=Linear.Config(in_features=dim, out_features=vocab, param_init=qwen3._LINEAR_INIT),\n"
     << "        layers=layers,\n"
     << "    )\n\n\n"
     << "qwen3.qwen3_configs[FLAVOR] = _model\n\n\n"
     << converters_function(problem, precision) << "\n\n"
     << "def config():\n"
     << "    c = qwen3_30b_a3b()\n"
     << "    c.model_spec = qwen3.model_registry(FLAVOR, converters=_converters())\n"
     << "    c.loss = ChunkedLossWrapper.Config(\n"
     << "        loss_fn=CrossEntropyLoss.Config(global_vocab_size=decoder_vocab_size(c.model_spec)))\n"
     << "    return c\n";
  return py.str();
}

// A config module for DeepSeek-V3 on torchtitan's deepseek_v3 model: the stock deepseek_v3_671b
// function (models/deepseek_v3/config_registry.py:206-243) with the model's MTP modules and, with
// them, the MTP loss (MTPLoss, mtp.py:324-343, as deepseek_v3_debugmodel_mtp does,
// config_registry.py:73-79); compilation reset to torchtitan's defaults so that the command's
// --compile flags mean what the plan costed (the stock function compiles the loss alone).
std::string deepseek_v3_module(const Problem& problem, const Precision precision, const std::string& model_spec) {
  const int mtp = static_cast<int>(problem.model.mtp_layers);
  std::ostringstream py;
  py << "\"\"\"torchtitan 0.3 config for " << model_spec << " (" << to_string(precision) << "), written by nest export.\n\n"
     << "torchtitan's deepseek_v3 671B flavor with " << mtp << " MTP module" << (mtp == 1 ? "" : "s") << ".\n"
     << "\"\"\"\n"
     << "import os\n\n"
     << "import torchtitan.models.deepseek_v3 as deepseek_v3\n"
     << "from torchtitan.components.loss import ChunkedLossWrapper, CrossEntropyLoss\n"
     << "from torchtitan.config import CompileConfig\n"
     << "from torchtitan.models.common.config_utils import decoder_vocab_size\n"
     << "from torchtitan.models.deepseek_v3.config_registry import deepseek_v3_671b\n"
     << "from torchtitan.models.deepseek_v3.mtp import MTPLoss\n\n\n"
     << converters_function(problem, precision) << "\n\n"
     << "def config():\n"
     << "    c = deepseek_v3_671b()\n"
     << "    c.model_spec = deepseek_v3.model_registry(\"671B\", attn_backend=\"flex\", num_mtp_layers=" << mtp
     << ", converters=_converters())\n";
  if (mtp > 0)
    py << "    c.loss = MTPLoss.Config(global_vocab_size=decoder_vocab_size(c.model_spec))\n";
  else
    py << "    c.loss = ChunkedLossWrapper.Config(\n"
       << "        loss_fn=CrossEntropyLoss.Config(global_vocab_size=decoder_vocab_size(c.model_spec)))\n";
  py << "    c.compile = CompileConfig()\n"
     << "    return c\n";
  return py.str();
}

// A config module for GPT-OSS in low precision or with context parallelism: the stock
// gpt_oss_20b / gpt_oss_120b function (models/gpt_oss/config_registry.py:70-129) with its model
// rebuilt through model_registry (models/gpt_oss/__init__.py:388-410) with the converters (the
// experts are GptOssGroupedExperts, whose _grouped_mm seam the MXFP8 converter overrides,
// mx.py:104-146, and whose GroupedExperts base the float8 converter quantises, float8.py:179-209)
// and, under CP, FlexAttention: the stock varlen attention refuses CP
// (distributed/full_dtensor.py:44-53; gpt_oss_debugmodel_flex runs the model on flex).
std::string gpt_oss_module(const Problem& problem, const Precision precision, bool flex, const std::string& function,
                           const std::string& model_spec) {
  const std::string flavor = function.substr(function.rfind('_') + 1);  // gpt_oss_120b -> 120b
  std::ostringstream py;
  py << "\"\"\"torchtitan 0.3 config for " << model_spec << " (" << to_string(precision) << "), written by nest export.\n\n"
     << "torchtitan's stock " << function << " with its model in " << to_string(precision)
     << (flex ? " on FlexAttention (context parallelism)" : "") << ".\n"
     << "\"\"\"\n"
     << "import os\n\n"
     << "import torchtitan.models.gpt_oss as gpt_oss\n"
     << "from torchtitan.models.gpt_oss.config_registry import " << function << "\n\n\n"
     << converters_function(problem, precision) << "\n\n"
     << "def config():\n"
     << "    c = " << function << "()\n"
     << "    c.model_spec = gpt_oss.model_registry(\"" << flavor << "\", " << (flex ? "attn_backend=\"flex\", " : "")
     << "converters=_converters())\n"
     << "    return c\n";
  return py.str();
}

std::string user_module_requirements(const Problem& problem, const Precision precision, bool dist_gemm,
                                     const std::string& function, const std::vector<std::string>& why,
                                     const std::vector<std::string>& why_qwen3) {
  const ModelConfig& m = problem.model;
  std::ostringstream r;
  r << "REQUIRED: torchtitan 0.3's llama3 model cannot express this model (";
  for (std::size_t i = 0; i < why.size(); ++i) r << (i ? ", " : "") << why[i];
  r << ") nor its qwen3 model (";
  for (std::size_t i = 0; i < why_qwen3.size(); ++i) r << (i ? ", " : "") << why_qwen3[i];
  r << "), and nest writes no other model code.\n"
    << "Put a module nest_tt_configs.py in the directory $NEST_TT_CONFIGS defining " << function
    << "() -> torchtitan.trainer.Trainer.Config\n"
    << "(--module accepts any importable module, torchtitan config/manager.py:125-142) whose model_spec builds:\n"
    << "  " << m.layers << " blocks, hidden " << m.hidden << ", " << m.heads << " heads (" << m.kv_heads
    << " key/value, head_dim " << m.head_dim << "), vocabulary " << m.vocab << ", " << (m.tied_embeddings ? "tied" : "untied")
    << " embeddings, " << (m.layernorm ? "LayerNorm" : "RMSNorm") << " eps " << launch::number(m.norm_eps) << ", "
    << (m.gated_mlp ? "SwiGLU" : "GELU") << " MLP " << m.ffn;
  if (m.learned_positions) r << ", learned positions " << m.max_positions;
  if (m.rope_theta > 0 && !m.learned_positions) r << ", RoPE theta " << launch::number(m.rope_theta);
  if (m.linear_bias) r << ", biases on every linear layer";
  if (m.qkv_bias && !m.linear_bias) r << ", biases on q/k/v";
  if (m.sliding_window > 0) r << ", sliding window " << m.sliding_window;
  if (m.dropout > 0) r << ", dropout " << launch::number(m.dropout);
  if (m.is_moe()) {
    int moe_layers = 0;
    for (bool b : m.moe_layer) moe_layers += b;
    r << ";\n  " << m.experts << " experts, top-" << m.experts_per_token << ", expert MLP " << m.moe_ffn;
    if (m.shared_expert_ffn > 0) r << ", shared expert MLP " << m.shared_expert_ffn;
    r << ", MoE in " << moe_layers << " of " << m.layers << " blocks";
  }
  r << ";\n  blocks named layers.<i>, then norm and lm_head (the FQNs of --parallelism.module_fqns_per_model_part)";
  if (precision != Precision::Bf16)
    r << ";\n  the blocks' linear layers" << (m.is_moe() ? " and the experts' grouped GEMMs" : "") << " converted to "
      << to_string(precision);
  if (dist_gemm) r << ";\n  async tensor parallelism: the TP collectives fused into the GEMMs (tp_gemm_backend \"dist_gemm\")";
  r << ".\nExamples of such functions: models/*/config_registry.py in torchtitan 0.3 and docs/frameworks.md §6.2.";
  return r.str();
}

}  // namespace

void TorchtitanFramework::check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const {
  const Parallelism& p = plan.par;
  if (p.precision == Precision::Fp8 && fp8_recipe_of(problem) == Fp8Recipe::Tensorwise)
    out.push_back({"fp8_recipe",
                   "tensorwise: torchtitan 0.3's float8 converter has the recipes rowwise and rowwise_with_gw_hp only "
                   "(components/quantization/float8.py:58); plan with --fp8-recipe rowwise or rowwise-gw-hp"});
  if (problem.options.repeat_kv)
    out.push_back({"repeat_kv",
                   "on describes torchtitan before 2026-01-27; torchtitan 0.3 runs grouped-query SDPA without repeating "
                   "K and V (enable_gqa, models/common/attention.py:901, 942), so this plan cannot be exported for it: plan "
                   "with --repeat-kv off"});
  if (p.tp_comm_overlap && p.tp > 1 && !problem.options.fuse_qkv)
    out.push_back({"fuse_qkv",
                   "off with async tensor parallelism: torchtitan 0.3's dist_gemm backend needs q, k and v fused "
                   "(models/common/config_utils.py:220-226); plan with --fuse-qkv on or --tp-comm-overlap off"});
}

std::string TorchtitanFramework::launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const {
  launch::require_launchable(*this, problem, plan);
  const ModelConfig& m = problem.model;
  const Parallelism& p = plan.par;
  const int v = launch::virtual_stages(plan);
  Script s(std::string(release()) + " (torchtitan.train)", problem, plan, model_spec);
  const bool dist_gemm = p.tp_comm_overlap && p.tp > 1;
  const std::vector<std::string> why = not_llama3(m);
  const std::vector<std::string> why_qwen3 = not_qwen3(m, p.precision, dist_gemm);
  // The stock functions' RoPE tables hold 131,072 positions (models/llama3/__init__.py:138-349,
  // models/gpt_oss/__init__.py:280-368), which the trainer checks the sequence against
  // (models/common/decoder.py:165-172); longer sequences need a written module.
  const bool stock_shape_ok = !dist_gemm && problem.options.fuse_qkv && problem.seq_len <= kStockRopePositions;
  const bool stock_ok = p.precision == Precision::Bf16 && stock_shape_ok;
  // GPT-OSS in float8 or MXFP8, or with CP: the stock function, its model rebuilt (gpt_oss_module).
  const std::string gpt_oss = stock_shape_ok && p.precision != Precision::Nvfp4 ? stock_gpt_oss(m) : "";
  const bool qwen3 = !why.empty() && why_qwen3.empty() && gpt_oss.empty();
  const bool deepseek_v3 = p.precision != Precision::Nvfp4 && !dist_gemm && problem.seq_len <= kDeepSeekV3RopePositions &&
                           torchtitan_deepseek_v3_671b(m);
  // The tokenizer of the config function the command starts from.
  std::string assets = "./assets/hf/Llama-3.1-8B";
  if (qwen3) assets = "./assets/hf/Qwen3-30B-A3B";
  if (deepseek_v3) assets = "./assets/hf/DeepSeek-V3.1-Base";
  if (!gpt_oss.empty()) assets = gpt_oss == "gpt_oss_20b" ? "./assets/hf/gpt-oss-20b" : "./assets/hf/gpt-oss-120b";
  s.comment(
      "Needs torchtitan 0.3 (PyPI torchtitan==0.3.0) and its tokenizer assets (--hf_assets_path, by default the config\n"
      "function's " +
      assets + "); the data are the config function's (allenai/c4, streamed).");
  // What the run's attention does against what the plan priced: torchtitan 0.3's language models
  // mask each document of the data on its own, with FlexAttention (GPT-OSS without CP: varlen
  // attention), whose Triton kernel nest has no measurement of.
  {
    const bool varlen = !gpt_oss.empty() && p.cp == 1;
    const long doc = problem.options.document_length;
    std::string text = std::string("Attention: torchtitan 0.3 runs ") + (varlen ? "varlen attention" : "FlexAttention") +
                       " with a causal mask per document of the data\n(models/common/config_utils.py:71-96, "
                       "models/common/decoder.py:277-305, hf_datasets/text_datasets.py:144-156).\n";
    if (doc > 0 && doc < problem.seq_len)
      text += "The plan was costed for documents of " + std::to_string(doc) +
              " tokens (--document-length, their size-weighted mean length),\n";
    else
      text +=
          "The plan was costed with one causal mask over each whole sequence (--document-length 0): where the data's\n"
          "documents are shorter, attention does less work than costed (plan with --document-length, their size-weighted\n"
          "mean length),\n";
    text += std::string("at the ") + to_string(attention_kernel_of(problem)) + " attention kernel's measured speed" +
            (varlen ? "." : "; FlexAttention's Triton kernel is not measured here.");
    s.comment(text);
  }
  launch::expandable_segments(s, "PYTORCH_ALLOC_CONF", "as torchtitan's own run_train.sh sets it");

  std::string module, function;
  // The stock configs fuse q, k and v (models/llama3/__init__.py:131-339).
  const std::string stock = stock_ok ? stock_config(m) : "";
  const std::string name = python_name(m.name) +
                           (p.precision == Precision::Bf16 ? "" : "_" + std::string(to_string(p.precision))) +
                           (dist_gemm ? "_async_tp" : "");
  if (!stock.empty()) {
    module = "llama3";
    function = stock;
  } else if (!gpt_oss.empty() && p.precision == Precision::Bf16 && p.cp == 1) {
    module = "gpt_oss";
    function = gpt_oss;
  } else if (why.empty() || qwen3 || deepseek_v3 || !gpt_oss.empty()) {
    // A config module the script writes next to itself and puts on PYTHONPATH.
    module = "nest_tt_" + name;
    function = "config";
    const std::string what = why.empty()   ? "torchtitan's llama3 model with this model's shape"
                             : qwen3       ? "torchtitan's qwen3 model with this model's shape"
                             : deepseek_v3 ? "torchtitan's deepseek_v3 671B model with this model's MTP modules"
                                           : "torchtitan's " + gpt_oss + " rebuilt in " + to_string(p.precision) +
                                                 (p.cp > 1 ? " on FlexAttention" : "");
    s.comment("The config module (" + what + "), written next to the script:");
    s.line("NEST_TT_DIR=\"${NEST_TT_DIR:-$PWD/nest_torchtitan}\"");
    s.line("mkdir -p \"$NEST_TT_DIR\"");
    s.here_document("\"$NEST_TT_DIR/" + module + ".py\"",
                    why.empty()   ? llama3_module(problem, p.precision, dist_gemm, "nest_" + name, model_spec)
                    : qwen3       ? qwen3_module(problem, p.precision, dist_gemm, "nest_" + name, model_spec)
                    : deepseek_v3 ? deepseek_v3_module(problem, p.precision, model_spec)
                                  : gpt_oss_module(problem, p.precision, p.cp > 1, gpt_oss, model_spec));
    s.line("export PYTHONPATH=\"$NEST_TT_DIR${PYTHONPATH:+:$PYTHONPATH}\"");
  } else {
    module = "nest_tt_configs";
    function = "nest_" + name;
    s.comment(user_module_requirements(problem, p.precision, dist_gemm, function, why, why_qwen3));
    s.line(
        "export PYTHONPATH=\"${NEST_TT_CONFIGS:?set NEST_TT_CONFIGS to the directory of nest_tt_configs.py (see "
        "above)}${PYTHONPATH:+:$PYTHONPATH}\"");
  }
  s.arg("--module", module);
  s.arg("--config", function);

  // Parallelism (config/configs.py:111-287). The data-parallel degree is replicate x shard
  // (trainer.py:324-328): FSDP2 shards over it for ZeRO-3, replicates otherwise.
  // HSDP (dp_shard > 0): shards of dp_shard ranks, replicated dp / dp_shard times.
  const int shard = p.zero >= 3 ? (p.dp_shard > 0 ? p.dp_shard : p.dp) : 1;
  s.arg("--parallelism.data_parallel_replicate_degree", str(p.dp / shard));
  s.arg("--parallelism.data_parallel_shard_degree", str(shard));
  s.arg("--parallelism.tensor_parallel_degree", str(p.tp));
  s.arg("--parallelism.context_parallel_degree", str(p.cp));
  s.arg("--parallelism.pipeline_parallel_degree", str(p.pp));
  if (m.is_moe()) s.arg("--parallelism.expert_parallel_degree", str(p.ep));
  if (p.pp > 1) {
    // One part per (virtual) stage in model order; part k runs on pp rank k % pp ("loop" stage
    // mapping, distributed/pipeline_parallel.py:559-576). tok_embeddings in the first part,
    // norm and lm_head in the last (pipeline_parallel.py:396, 465; trainer.py:513-519).
    s.arg("--parallelism.pipeline_parallel_schedule", v > 1 ? "Interleaved1F1B" : "1F1B");
    s.arg("--parallelism.pipeline_parallel_microbatch_size", str(p.microbatch));
    std::vector<std::string> parts;
    for (const launch::Chunk& c : launch::model_chunks(plan)) {
      std::string part;
      auto add = [&](const std::string& fqn) { part.append(part.empty() ? "" : ",").append(fqn); };
      if (c.embedding) add("tok_embeddings");
      for (int b = c.first; b <= c.last; ++b) add("layers." + str(b));
      if (c.head) {
        add("norm");
        add("lm_head");
      }
      parts.push_back(part);
    }
    // Parts are separate words, the FQNs of a part joined by commas (config/manager.py:233-246).
    s.arg("--parallelism.module_fqns_per_model_part", parts);
  }
  // Batch (trainer.py:414-439): local_batch_size is per data-parallel rank and accumulation
  // step; under PP it is cut into local / microbatch_size microbatches. The global batch makes
  // torchtitan accumulate global / (local x dp) steps: 1 under PP, the microbatch count otherwise.
  s.arg("--training.local_batch_size", str(p.pp > 1 ? static_cast<long>(p.microbatch) * p.num_microbatches : p.microbatch));
  s.arg("--training.global_batch_size", str(problem.global_batch));
  s.arg("--training.seq_len", str(problem.seq_len));
  // CUDA graphs are on by default and refuse PP (trainer.py:179-187) and most EP; they also keep
  // gradients allocated between steps (trainer.py:874); nest's memory recipe has them freed (torchtitan.cpp).
  s.arg("--training.disable_cuda_graphs");
  // Compile (configs.py:290-301): set explicitly, the stock functions differ. Async TP is the
  // config module's dist_gemm backend (above), which runs under the spmd_types backend.
  s.arg(problem.options.compile ? "--compile.enable" : "--compile.no_enable");
  // compile.components defaults to model and loss (config/configs.py:298); an uncompiled loss
  // keeps the model alone.
  if (problem.options.compile && problem.options.compile_loss == 0) s.arg("--compile.components", "model");
  if (dist_gemm) s.arg("--parallelism.spmd_backend", "spmd_types");
  if (p.offload_optimizer) s.arg("--training.enable_cpu_offload");
  // (MTPLoss, the loss of a model with MTP modules, has no chunks: torchtitan.cpp refuses more than one.)
  if (problem.options.loss_chunks > 0 && m.mtp_layers == 0) s.arg("--loss.num_chunks", str(problem.options.loss_chunks));
  // Activation checkpointing is a tyro subcommand and must come last
  // (distributed/activation_checkpoint.py:332-337).
  s.arg(std::string("activation_checkpoint:") + to_string(p.recompute));
  return s.str({"-m", "torchtitan.train"});
}

}  // namespace nest
