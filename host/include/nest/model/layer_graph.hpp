// The layer graph: distinct nodes for the embedding (id -1), each transformer block (0..L-1)
// and the final norm + LM head + loss (id L), the numbering NEST uses. Each node carries the
// dimensions the cost model needs (kernels/include/nest/kernels/transformer.hpp).
#pragma once

#include <string>
#include <vector>

#include "nest/kernels/transformer.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

struct LayerNode {
  int id = 0;        // -1 embedding, 0..L-1 blocks, L head
  std::string name;  // "embedding", "block 12 (moe)", "head"
  kernels::LayerDims dims;
};

struct LayerGraph {
  std::vector<LayerNode> nodes;  // in execution order: embedding, blocks, head
  // repeats[i]: node i has the same dimensions as node i-1 (runs of identical blocks cost the
  // same, so the cost model evaluates each run once)
  std::vector<char> repeats;
  int num_blocks() const { return static_cast<int>(nodes.size()) - 2; }
  // True when every block has the same dimensions (the DP's fast path applies).
  bool homogeneous_blocks() const;
};

// `pipelined`: with pipeline parallelism and tied embeddings the last stage keeps its own copy
// of the embedding matrix for the LM head (Megatron), so the head node carries that weight.
LayerGraph build_layer_graph(const ModelConfig& m, bool pipelined);
bool same_layer_dims(const kernels::LayerDims& a, const kernels::LayerDims& b);

struct ParameterCount {
  double total = 0;   // every parameter once (tied embeddings counted once)
  double active = 0;  // parameters one token passes through (MoE: top-k experts)
  double embedding = 0;
};
ParameterCount count_parameters(const ModelConfig& m);

}  // namespace nest
