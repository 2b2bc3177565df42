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
  d.rotary = !m.learned_positions;
  d.dropout = m.dropout > 0;
  d.attention_window = static_cast<double>(m.sliding_window);
  d.bert_head = m.family == ModelFamily::Bert;
  return d;
}

}  // namespace

bool same_layer_dims(const kernels::LayerDims& a, const kernels::LayerDims& b) {
  auto key = [](const kernels::LayerDims& d) {
    return std::tie(d.kind, d.hidden, d.heads, d.kv_heads, d.head_dim, d.ffn, d.vocab, d.positions, d.type_vocab, d.experts,
                    d.topk, d.moe_ffn, d.shared_ffn, d.attention_window, d.gated_mlp, d.layernorm, d.linear_bias, d.qkv_bias,
                    d.rotary, d.dropout, d.lm_weight, d.bert_head);
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
  emb.dims.positions = m.learned_positions ? static_cast<double>(m.max_positions) : 0;
  emb.dims.type_vocab = static_cast<double>(m.type_vocab);
  g.nodes.push_back(emb);

  for (int i = 0; i < m.layers; ++i) {
    LayerNode b{i, "block " + std::to_string(i), base};
    b.dims.kind = kernels::LayerKind::Block;
    if (m.is_moe() && m.moe_layer[static_cast<std::size_t>(i)]) {
      b.dims.experts = static_cast<double>(m.experts);
      b.dims.topk = static_cast<double>(m.experts_per_token);
      b.dims.moe_ffn = static_cast<double>(m.moe_ffn);
      b.dims.shared_ffn = static_cast<double>(m.shared_expert_ffn);
      b.name += " (moe)";
    }
    g.nodes.push_back(b);
  }

  LayerNode head{static_cast<int>(m.layers), "head", base};
  head.dims.kind = kernels::LayerKind::Head;
  head.dims.lm_weight = (!m.tied_embeddings || pipelined) ? 1 : 0;
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
    if (n.dims.kind == kernels::LayerKind::Embedding) c.embedding += kernels::layer_params(n.dims).total();
  }
  return c;
}

}  // namespace nest
