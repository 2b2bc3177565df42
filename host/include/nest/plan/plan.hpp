// A parallel plan: degrees, microbatching, ZeRO, recomputation, schedule, the layer split and
// the rank order that decides which network level each group spans.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nest/kernels/pipeline.hpp"
#include "nest/kernels/transformer.hpp"

namespace nest {

using kernels::Precision;
using kernels::Recompute;
using kernels::Schedule;

struct Parallelism {
  int tp = 1, pp = 1, dp = 1, cp = 1, ep = 1;  // dp includes the expert-parallel ranks (ep | dp)
  // Expert tensor parallelism (Megatron-Core's --expert-tensor-parallel-size): 0 or tp, the expert
  // layers use the attention's TP group; a divisor of tp below it, "parallel folding": the expert
  // layers re-split the tp x cp x dp ranks of a stage as etp x ep x edp (docs/cost-model.md §3).
  int etp = 0;
  bool sp = false;
  int microbatch = 1;
  int num_microbatches = 1;  // global batch / (dp * microbatch)
  int zero = 0;              // 0..3; 1 is Megatron's distributed optimizer
  Recompute recompute = Recompute::None;
  // With selective recomputation, what it recomputes: kernels::RecomputeModule bits (Megatron-Core's
  // --recompute-modules; the default, core_attn, is every framework's selective).
  int recompute_modules = kernels::kRecomputeCoreAttn;
  Schedule schedule = Schedule::OneFOneB;
  int virtual_stages = 1;
  Precision precision = Precision::Bf16;  // of the blocks' linear layers (GEMM inputs)
  // Framework knobs (searched where the framework has them; docs/frameworks.md).
  bool overlap_grad_reduce = true;   // gradient reduction overlapped with the backward
  bool overlap_param_gather = true;  // parameter all-gather overlapped with the forward
  bool tp_comm_overlap = false;      // TP collectives overlapped with the GEMMs
  // MoE all-to-alls overlapped batch-level: one microbatch's forward beside another's backward
  // (Megatron-Core's --overlap-moe-expert-parallel-comm).
  bool ep_comm_overlap = false;
  bool offload_optimizer = false;    // the optimizer step and its state on the host
  bool offload_activations = false;  // the blocks' stored activations on the host
  // With offload_activations: how many blocks offload theirs (Megatron's
  // --cpu-offloading-num-layers, the first ones of the model); 0: as many as the framework
  // offloads by default (Megatron: all but the last).
  int offload_layers = 0;
  // HSDP: ZeRO-3 shards over groups of dp_shard data-parallel ranks and replicates across the
  // dp / dp_shard groups (torchtitan's data_parallel_shard / replicate degrees); 0: one group.
  int dp_shard = 0;
  long gpus() const { return static_cast<long>(tp) * cp * pp * dp; }
  int expert_tp() const { return etp > 0 ? etp : tp; }
  bool folded() const { return etp > 0 && etp != tp; }  // expert TP apart from TP
  // Expert data-parallel size: the ranks holding the same expert shard, tp cp dp / (etp ep).
  long edp() const { return static_cast<long>(tp) * cp * dp / (static_cast<long>(expert_tp()) * ep); }
};

// Rank order, innermost first, in Megatron's notation ("tp-cp-ep-dp-pp"): ranks that differ
// only in the first dimension are adjacent. ep and dp together form the data-parallel
// dimension, so ep sits directly before dp.
enum class Dim : int { TP = 0, CP, EP, DP, PP };
struct RankOrder {
  std::array<Dim, 5> dims{Dim::TP, Dim::CP, Dim::EP, Dim::DP, Dim::PP};
  static RankOrder parse(const std::string& text, const std::string& where);
  std::string str() const;
  bool operator==(const RankOrder&) const = default;
};
// Every order with ep directly before dp (24 of them), the default first.
std::vector<RankOrder> all_rank_orders();

struct Plan {
  Parallelism par;
  std::vector<int> blocks_per_stage;  // transformer blocks per pipeline stage (sum = layers)
  RankOrder order;
};

const char* to_string(Precision p);
const char* to_string(Recompute r);
const char* to_string(Schedule s);
Precision parse_precision(const std::string& s, const std::string& where);
// "auto" -1, "off" 0, "on" 1 (a setting whose default follows another).
int parse_auto_on_off(const std::string& s, const std::string& where);
// The text parse_auto_on_off reads: -1 auto, 0 off, 1 on.
const char* auto_on_off_text(int v);
Recompute parse_recompute(const std::string& s, const std::string& where);
// Recomputed modules as Megatron-Core names them ("core_attn,moe_act"; "core_attn" for the
// default), and back from such a comma- (or space-) separated list.
std::string recompute_modules_text(int modules);
int parse_recompute_modules(const std::string& s, const std::string& where);
Schedule parse_schedule(const std::string& s, const std::string& where);

// Interleaved schedule (v > 1): a stage's blocks are cut into v equal chunks, except that the
// chunk holding the embedding (chunk 0 of the first stage) and the one holding the head (chunk
// v-1 of the last stage) may hold fewer, the embedding or the head standing in for the blocks
// they lack, down to none: Megatron-LM's --account-for-embedding-in-pipeline-split and
// --account-for-loss-in-pipeline-split (one block each), the Llama 3 405B split (126 blocks in
// 16 stages, one fewer on the first and the last), and Megatron-LM layouts such as
// Megatron-Bridge's DeepSeek-V3 "Et|(tt|)*30mL" (a last chunk of only the MTP module and the
// loss: two fewer). This is how many blocks the stage's n lack: 0 when n is a multiple of v,
// v - n % v when an edge stage (`edge`: it holds the embedding or the head) is short of one and
// its edge chunk keeps no fewer than none, -1 when n does not split into v chunks at all.
int edge_chunk_deficit(int n, int v, bool edge);

// Which edge chunks can lack blocks for `blocks` blocks and v virtual stages: pairs (first,
// last) in [0, v)^2, each at most max_lack (negative: no limit but v - 1), with
// (blocks + first + last) a multiple of v, first ascending; only (0,0) when v == 1.
std::vector<std::pair<int, int>> edge_deficit_choices(int blocks, int v, int max_lack = -1);

// The even split Megatron uses by default: blocks spread as evenly as possible, extra blocks on
// the later stages; under interleaving each stage gets a multiple of v, and when v does not
// divide the blocks, the edge chunks lack one block each as far as that makes it divide (the
// account-for-embedding/loss split). Check with check_pipeline: not every shape has one.
std::vector<int> even_split(int blocks, int stages, int v);

// Sizes of the rank order's five dimensions (indexed by Dim) for the dense layers: tp, cp, ep,
// dp / ep, pp. When ep does not divide dp (expert parallelism over TP or CP ranks, which only the
// folded expert grid builds: cost/placement.hpp) the dense grid has no EP dimension: ep 1, dp dp.
std::array<std::int64_t, 5> dense_grid_sizes(const Parallelism& par);

// A rank's coordinate along each dimension (indexed by Dim) on a grid of `sizes`, laid out in
// `order`, innermost first.
std::array<std::int64_t, 5> rank_coordinates(const RankOrder& order, const std::array<std::int64_t, 5>& sizes, std::int64_t rank);

// Megatron-Core's expert grid applies (parallel folding, cost/placement.hpp): tp first among the
// four data dimensions tp, cp, ep, dp, which are adjacent (pp outermost or innermost).
bool on_expert_grid(const RankOrder& order);

// Node index ranges (inclusive) of a stage's model chunks, in the stage's own order. Node 0 is
// the embedding, 1..L the blocks, L+1 the head.
struct StageLayout {
  std::vector<std::pair<int, int>> chunks;
  int blocks = 0;
};

// Chunks of every stage for `blocks_per_stage` and v virtual stages (each stage's blocks are cut
// into v equal chunks; the model runs chunk 0 of every stage, then chunk 1, ...). The embedding
// joins the model's first chunk, the head its last.
std::vector<StageLayout> layout_stages(const std::vector<int>& blocks_per_stage, int v);

// The parallel layout in one line, as the text reports print it ("tp 4  pp 2  dp 8 ...").
std::string describe_parallelism(const Parallelism& p);

}  // namespace nest
