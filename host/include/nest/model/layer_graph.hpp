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
  double total = 0;             // every parameter once (tied embeddings counted once; MTP modules included)
  double active = 0;            // parameters one token passes through (MoE: top-k experts), input embedding included
  double embedding = 0;         // the input embedding (token, position and type tables)
  double active_embedding = 0;  // the part of `active` in the input embedding
  double mtp = 0;               // the multi-token-prediction modules' own parameters (DeepSeek-V3 counts them apart)
  double mtp_active = 0;        // their active part
  // Without the MTP modules: the model DeepSeek-V3 reports as 671B total / 37B active.
  double main_total() const { return total - mtp; }
  // Active without the input embedding (a lookup, not a product) and the MTP modules: the
  // convention of DeepSeek-V3 (36.6B) and GPT-OSS (3.6B / 5.1B); Mistral and Meta count the
  // embedding (Mixtral 12.9B, Llama 4 17B).
  double active_without_embedding() const { return active - active_embedding - mtp_active; }
};
ParameterCount count_parameters(const ModelConfig& m);

}  // namespace nest
