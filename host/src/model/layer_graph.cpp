#include "nest/model/layer_graph.hpp"

#include <tuple>

namespace nest {

namespace {

kernels::LayerDims base_dims(const ModelConfig& m) {
  kernels::LayerDims d;
  d.hidden = static_cast<double>(m.hidden);
  d.heads = static_cast<double>(m.heads);
  d.kv_heads = static_cast<double>(m.kv_heads);
  d.head_dim = static_cast<double>(m.head_dim);
  d.ffn = static_cast<double>(m.ffn);
  d.vocab = static_cast<double>(m.vocab);
  d.gated_mlp = m.gated_mlp;
  d.layernorm = m.layernorm;
  d.linear_bias = m.linear_bias;
  d.qkv_bias = m.qkv_bias;
  d.out_bias = m.out_bias;
  d.mlp_bias = m.mlp_bias;
  d.rotary = !m.learned_positions && !m.alibi;
  d.dropout = m.dropout > 0;
  d.bert_head = m.family == ModelFamily::Bert;
  d.causal = m.causal;
  d.v_head_dim = m.v_head_dim > 0 ? static_cast<double>(m.v_head_dim) : 0;
  d.q_lora = static_cast<double>(m.q_lora_rank);
  d.kv_lora = static_cast<double>(m.kv_lora_rank);
  d.rope_dim = static_cast<double>(m.qk_rope_head_dim);
  d.qk_norm = m.qk_norm;
  d.sinks = m.attention_sinks;
  d.norms = m.norms_per_block;
  d.sandwich = m.sandwich_norms;
  d.parallel_block = m.parallel_block;
  d.embed_norm = m.embedding_norm;
  d.lm_bias = m.lm_head_bias;
  return d;
}

// The MoE part of a block's dimensions.
void set_moe(const ModelConfig& m, kernels::LayerDims& d) {
  d.experts = static_cast<double>(m.experts);
  d.topk = static_cast<double>(m.experts_per_token);
  d.moe_ffn = static_cast<double>(m.moe_ffn);
  d.shared_ffn = static_cast<double>(m.shared_expert_ffn);
  d.shared_gate = m.shared_expert_gate;
  d.router_bias = m.router_bias;
}

}  // namespace

bool same_layer_dims(const kernels::LayerDims& a, const kernels::LayerDims& b) {
  auto key = [](const kernels::LayerDims& d) {
    return std::tie(d.kind, d.hidden, d.heads, d.kv_heads, d.head_dim, d.ffn, d.vocab, d.positions, d.type_vocab, d.experts,
                    d.topk, d.moe_ffn, d.shared_ffn, d.attention_window, d.attention_chunked, d.gated_mlp, d.layernorm,
                    d.linear_bias, d.qkv_bias, d.out_bias, d.mlp_bias, d.rotary, d.dropout, d.lm_weight, d.bert_head, d.causal,
                    d.v_head_dim, d.q_lora, d.kv_lora, d.rope_dim, d.qk_norm, d.sinks, d.norms, d.sandwich, d.parallel_block,
                    d.shared_gate, d.router_bias, d.embed_norm, d.lm_bias, d.mtp);
  };
  return key(a) == key(b);
}

bool LayerGraph::homogeneous_blocks() const {
  for (std::size_t i = 2; i + 1 < nodes.size(); ++i)
    if (!repeats[i]) return false;
  return true;
}

LayerGraph build_layer_graph(const ModelConfig& m, bool pipelined) {
  LayerGraph g;
  const kernels::LayerDims base = base_dims(m);

  LayerNode emb{-1, "embedding", base};
  emb.dims.kind = kernels::LayerKind::Embedding;
  emb.dims.positions = m.learned_positions ? static_cast<double>(m.max_positions + m.position_offset) : 0;
  emb.dims.type_vocab = static_cast<double>(m.type_vocab);
  emb.dims.tied_copy = m.tied_embeddings && pipelined ? 1 : 0;
  g.nodes.push_back(emb);

  for (int i = 0; i < m.layers; ++i) {
    LayerNode b{i, "block " + std::to_string(i), base};
    b.dims.kind = kernels::LayerKind::Block;
    const std::size_t k = static_cast<std::size_t>(i);
    if (m.is_moe() && m.moe_layer[k]) set_moe(m, b.dims);
    if (k < m.layer_window.size() && m.layer_window[k] > 0) {
      b.dims.attention_window = static_cast<double>(m.layer_window[k]);
      b.dims.attention_chunked = m.chunked_attention;
    }
    if (b.dims.experts > 0 || b.dims.attention_window > 0) b.name += " (" + block_kind(m, i) + ")";
    g.nodes.push_back(b);
  }

  LayerNode head{static_cast<int>(m.layers), "head", base};
  head.dims.kind = kernels::LayerKind::Head;
  // The vocab x hidden matrices the head holds: the LM head unless tied (with pipelining the
  // last stage keeps its own copy, as Megatron does), and with MTP under pipelining a copy of
  // the embedding its modules look the shifted tokens up in.
  head.dims.lm_weight = (!m.tied_embeddings || pipelined ? 1 : 0) + (m.mtp_layers > 0 && pipelined && !m.tied_embeddings ? 1 : 0);
  head.dims.tied_copy = emb.dims.tied_copy;
  if (m.mtp_layers > 0) {
    // DeepSeek-V3's MTP module's block is the last block's kind (an MoE layer)
    head.dims.mtp = m.mtp_layers;
    if (m.is_moe() && m.moe_layer.back()) set_moe(m, head.dims);
    head.name = "head (+" + std::to_string(m.mtp_layers) + " mtp)";
  }
  g.nodes.push_back(head);
  g.repeats.assign(g.nodes.size(), 0);
  for (std::size_t i = 1; i < g.nodes.size(); ++i) g.repeats[i] = same_layer_dims(g.nodes[i].dims, g.nodes[i - 1].dims);
  return g;
}

ParameterCount count_parameters(const ModelConfig& m) {
  ParameterCount c;
  const LayerGraph g = build_layer_graph(m, /*pipelined=*/false);
  for (const LayerNode& n : g.nodes) {
    c.total += kernels::layer_params(n.dims).total();
    c.active += kernels::active_params(n.dims);
    if (n.dims.kind == kernels::LayerKind::Embedding) {
      c.embedding += kernels::layer_params(n.dims).total();
      c.active_embedding += kernels::active_params(n.dims);
    }
    if (n.dims.kind == kernels::LayerKind::Head && n.dims.mtp > 0) {
      kernels::LayerDims plain = n.dims;
      plain.mtp = 0;
      c.mtp += kernels::layer_params(n.dims).total() - kernels::layer_params(plain).total();
      c.mtp_active += kernels::active_params(n.dims) - kernels::active_params(plain);
    }
  }
  return c;
}

}  // namespace nest
