#include "nest/plan/plan.hpp"

#include <algorithm>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

const char* dim_name(Dim d) {
  switch (d) {
    case Dim::TP:
      return "tp";
    case Dim::CP:
      return "cp";
    case Dim::EP:
      return "ep";
    case Dim::DP:
      return "dp";
    case Dim::PP:
      return "pp";
  }
  return "";
}

}  // namespace

RankOrder RankOrder::parse(const std::string& text, const std::string& where) {
  RankOrder o;
  const std::vector<std::string> parts = split(text, '-');
  const std::string expect =
      "a permutation of tp, cp, ep, dp, pp joined by '-', with ep directly before dp (e.g. tp-cp-ep-dp-pp)";
  if (parts.size() != 5) throw_bad_input(where, "'" + text + "' is not " + expect);
  bool seen[5] = {};
  for (std::size_t i = 0; i < 5; ++i) {
    int k = -1;
    for (int d = 0; d < 5; ++d)
      if (parts[i] == dim_name(static_cast<Dim>(d))) k = d;
    if (k < 0 || seen[k]) throw_bad_input(where, "'" + text + "' is not " + expect);
    seen[k] = true;
    o.dims[i] = static_cast<Dim>(k);
  }
  for (std::size_t i = 0; i < 5; ++i)
    if (o.dims[i] == Dim::EP && (i + 1 >= 5 || o.dims[i + 1] != Dim::DP))
      throw_bad_input(where, "'" + text + "' is not " + expect);
  return o;
}

std::string RankOrder::str() const {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s.push_back('-');
    s.append(dim_name(dims[i]));
  }
  return s;
}

std::vector<RankOrder> all_rank_orders() {
  // Permute the four units tp, cp, (ep-dp), pp.
  std::vector<int> units = {0, 1, 2, 3};
  std::vector<RankOrder> out;
  do {
    RankOrder o;
    std::size_t k = 0;
    for (int u : units) {
      switch (u) {
        case 0:
          o.dims[k++] = Dim::TP;
          break;
        case 1:
          o.dims[k++] = Dim::CP;
          break;
        case 2:
          o.dims[k++] = Dim::EP;
          o.dims[k++] = Dim::DP;
          break;
        case 3:
          o.dims[k++] = Dim::PP;
          break;
      }
    }
    out.push_back(o);
  } while (std::next_permutation(units.begin(), units.end()));
  return out;  // the first permutation is tp-cp-ep-dp-pp
}

const char* to_string(Recompute r) {
  switch (r) {
    case Recompute::None:
      return "none";
    case Recompute::Selective:
      return "selective";
    case Recompute::Full:
      return "full";
  }
  return "";
}

const char* to_string(Schedule s) {
  switch (s) {
    case Schedule::OneFOneB:
      return "1f1b";
    case Schedule::Interleaved:
      return "interleaved";
  }
  return "";
}

const char* to_string(Precision p) {
  switch (p) {
    case Precision::Bf16:
      return "bf16";
    case Precision::Fp8:
      return "fp8";
    case Precision::Mxfp8:
      return "mxfp8";
    case Precision::Nvfp4:
      return "nvfp4";
  }
  return "";
}

Precision parse_precision(const std::string& s, const std::string& where) {
  for (int p = 0; p < kernels::kPrecisions; ++p)
    if (s == to_string(static_cast<Precision>(p))) return static_cast<Precision>(p);
  throw_bad_input(where, "'" + s + "' is not one of bf16, fp8, mxfp8, nvfp4");
}

int parse_auto_on_off(const std::string& s, const std::string& where) {
  if (s == "auto") return -1;
  if (s == "off") return 0;
  if (s == "on") return 1;
  throw_bad_input(where, "'" + s + "' is not one of auto, on, off");
}

const char* auto_on_off_text(int v) { return v < 0 ? "auto" : v ? "on" : "off"; }

Recompute parse_recompute(const std::string& s, const std::string& where) {
  if (s == "none") return Recompute::None;
  if (s == "selective") return Recompute::Selective;
  if (s == "full") return Recompute::Full;
  throw_bad_input(where, "'" + s + "' is not one of none, selective, full");
}

namespace {
// Megatron-Core's names of the RecomputeModule bits, in bit order (transformer_config.py:546-561).
constexpr const char* kRecomputeModuleNames[kernels::kRecomputeModuleCount] = {
    "core_attn", "layernorm", "moe_act", "mla_up_proj", "mlp", "moe", "shared_experts"};
constexpr const char* kRecomputeModuleList = "core_attn, layernorm, moe_act, mla_up_proj, mlp, moe, shared_experts";
}  // namespace

std::string recompute_modules_text(int modules) {
  std::string out;
  for (int i = 0; i < kernels::kRecomputeModuleCount; ++i)
    if (modules & (1 << i)) {
      if (!out.empty()) out += ',';
      out += kRecomputeModuleNames[i];
    }
  return out;
}

int parse_recompute_modules(const std::string& s, const std::string& where) {
  int modules = 0;
  std::string word;
  auto take = [&] {
    if (word.empty()) return;
    int bit = -1;
    for (int i = 0; i < kernels::kRecomputeModuleCount; ++i)
      if (word == kRecomputeModuleNames[i]) bit = i;
    if (bit < 0) throw_bad_input(where, "'" + word + "' is not one of " + kRecomputeModuleList);
    modules |= 1 << bit;
    word.clear();
  };
  for (char c : s) {
    if (c == ',' || c == ' ')
      take();
    else
      word += c;
  }
  take();
  if (modules == 0) throw_bad_input(where, std::string("names no module (") + kRecomputeModuleList + ")");
  return modules;
}

Schedule parse_schedule(const std::string& s, const std::string& where) {
  if (s == "1f1b") return Schedule::OneFOneB;
  if (s == "interleaved") return Schedule::Interleaved;
  throw_bad_input(where, "'" + s + "' is not one of 1f1b, interleaved");
}

int edge_chunk_deficit(int n, int v, bool edge) {
  if (v <= 1 || n % v == 0) return 0;
  if (!edge) return -1;
  // The edge chunk holds c - lack blocks of the stage's c per chunk: never fewer than none.
  const int lack = v - n % v, c = (n + lack) / v;
  return c >= lack ? lack : -1;
}

std::vector<std::pair<int, int>> edge_deficit_choices(int blocks, int v, int max_lack) {
  if (v <= 1) return {{0, 0}};
  const int most = max_lack < 0 ? v - 1 : std::min(v - 1, max_lack);
  std::vector<std::pair<int, int>> out;
  for (int first = 0; first <= most; ++first) {
    const int last = (v - (blocks + first) % v) % v;  // the one that makes the total a multiple of v
    if (last <= most) out.emplace_back(first, last);
  }
  return out;
}

std::vector<int> even_split(int blocks, int stages, int v) {
  std::vector<int> out(static_cast<std::size_t>(stages), 0);
  if (stages <= 0) return out;
  // The fewest lacking edge blocks that make v divide the blocks: none, the head's, or both.
  const int lack = v > 1 && stages > 1 ? (v - blocks % v) % v : 0;
  const int first = lack == 2 ? 1 : 0, last = lack >= 1 && lack <= 2 ? 1 : 0;
  const int total = blocks + first + last;
  const int units = total / v;  // chunks of v blocks
  for (int i = 0; i < stages; ++i) out[static_cast<std::size_t>(i)] = (units / stages) * v;
  int rest = units % stages;
  for (int i = stages - 1; i >= 0 && rest > 0; --i, --rest) out[static_cast<std::size_t>(i)] += v;
  out.back() += total - units * v;
  out.front() -= first;
  out.back() -= last;
  return out;
}

std::array<std::int64_t, 5> dense_grid_sizes(const Parallelism& par) {
  std::array<std::int64_t, 5> size{};
  const bool ep_in_dp = par.ep > 0 && par.dp % par.ep == 0;
  size[static_cast<int>(Dim::TP)] = par.tp;
  size[static_cast<int>(Dim::CP)] = par.cp;
  size[static_cast<int>(Dim::EP)] = ep_in_dp ? par.ep : 1;
  size[static_cast<int>(Dim::DP)] = ep_in_dp ? par.dp / par.ep : par.dp;
  size[static_cast<int>(Dim::PP)] = par.pp;
  return size;
}

std::array<std::int64_t, 5> rank_coordinates(const RankOrder& order, const std::array<std::int64_t, 5>& sizes,
                                             std::int64_t rank) {
  std::array<std::int64_t, 5> c{};
  for (Dim d : order.dims) {
    c[static_cast<std::size_t>(d)] = rank % sizes[static_cast<std::size_t>(d)];
    rank /= sizes[static_cast<std::size_t>(d)];
  }
  return c;
}

bool on_expert_grid(const RankOrder& order) {
  int first = 0;
  while (order.dims[static_cast<std::size_t>(first)] == Dim::PP) ++first;
  return order.dims[static_cast<std::size_t>(first)] == Dim::TP && (order.dims[0] == Dim::PP || order.dims[4] == Dim::PP);
}

std::vector<StageLayout> layout_stages(const std::vector<int>& blocks_per_stage, int v) {
  const int p = static_cast<int>(blocks_per_stage.size());
  std::vector<StageLayout> out(static_cast<std::size_t>(p));
  int total = 0;
  for (int n : blocks_per_stage) total += n;
  int next = 1;  // first block node
  for (int k = 0; k < v; ++k) {
    for (int i = 0; i < p; ++i) {
      // The embedding's chunk (0 of stage 0) and the head's (v-1 of stage p-1) may lack a block
      // (plan.hpp, edge_chunk_deficit).
      const int n = blocks_per_stage[static_cast<std::size_t>(i)];
      const bool edge_chunk = (k == 0 && i == 0) || (k == v - 1 && i == p - 1);
      const int lack = std::max(0, edge_chunk_deficit(n, v, i == 0 || i == p - 1));
      const int size = (n + lack) / v - (edge_chunk ? lack : 0);
      int first = next, last = next + size - 1;
      if (k == 0 && i == 0) first = 0;                 // embedding
      if (k == v - 1 && i == p - 1) last = total + 1;  // head
      out[static_cast<std::size_t>(i)].chunks.emplace_back(first, last);
      next += size;
    }
  }
  for (int i = 0; i < p; ++i) out[static_cast<std::size_t>(i)].blocks = blocks_per_stage[static_cast<std::size_t>(i)];
  return out;
}

std::string describe_parallelism(const Parallelism& p) {
  std::ostringstream o;
  o << "tp " << p.tp << "  pp " << p.pp << "  dp " << p.dp << "  cp " << p.cp << "  ep " << p.ep;
  if (p.folded()) o << "  etp " << p.etp << " (edp " << p.edp() << ")";
  o << "  sp " << (p.sp ? "on" : "off") << "  microbatch " << p.microbatch << " x " << p.num_microbatches << "  ZeRO-" << p.zero;
  if (p.dp_shard > 0) o << " (HSDP: shards of " << p.dp_shard << ", " << p.dp / p.dp_shard << " replicas)";
  o << "  recompute " << to_string(p.recompute);
  if (p.recompute == Recompute::Selective && p.recompute_modules != kernels::kRecomputeCoreAttn)
    o << " (" << recompute_modules_text(p.recompute_modules) << ")";
  o << "  " << to_string(p.schedule);
  if (p.schedule == Schedule::Interleaved) o << " (v=" << p.virtual_stages << ")";
  if (p.ep_comm_overlap) o << "  all-to-alls overlapped";
  if (p.offload_optimizer) o << "  optimizer on the host";
  if (p.offload_activations) {
    o << "  activations offloaded";
    if (p.offload_layers > 0) o << " (the first " << p.offload_layers << " blocks)";
  }
  return o.str();
}

}  // namespace nest
