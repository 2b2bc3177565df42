// nest export --to megatron against Megatron-LM core_v0.19 itself, without Megatron: every
// exported pretrain_gpt.py command (run as printed, through bash and a stand-in torchrun) uses
// only flags of the core_v0.19 parser with values of their type and choices
// (tests/data/megatron-core_v0.19/flags.json), meets every startup rule of
// tests/data/megatron-core_v0.19/rules.json (one predicate per rule below), and says what the
// plan says (model shape, degrees, batch, split, switches).
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "framework/export_test_support.hpp"
#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"

namespace nest {
namespace {

using test::BuiltPlan;
using test::LaunchRun;
using test::PlanSpec;

const std::string kData = std::string(NEST_TEST_DATA) + "/megatron-core_v0.19/";

struct FlagDef {
  std::string kind, nargs, where, no_effect;
  std::vector<std::string> choices;
};

const std::map<std::string, FlagDef>& flag_table() {
  static const std::map<std::string, FlagDef> table = [] {
    std::map<std::string, FlagDef> t;
    const Json j = read_json_file(kData + "flags.json");
    for (const Json& f : j.at("flags")) {
      FlagDef d;
      d.kind = f.at("kind").get<std::string>();
      if (f.contains("nargs")) d.nargs = f.at("nargs").get<std::string>();
      if (f.contains("choices")) d.choices = f.at("choices").get<std::vector<std::string>>();
      if (f.contains("no_effect")) d.no_effect = f.at("no_effect").get<std::string>();
      d.where = f.at("file").get<std::string>() + ":" + std::to_string(f.at("line").get<int>());
      t[f.at("flag").get<std::string>()] = d;
    }
    return t;
  }();
  return table;
}

// The parsed command line, as argparse would see it.
struct Args {
  std::map<std::string, std::vector<std::string>> v;
  std::vector<std::string> errors;
  bool has(const std::string& f) const { return v.count(f) > 0; }
  std::string s(const std::string& f, const std::string& dflt = "") const {
    return has(f) && !v.at(f).empty() ? v.at(f).front() : dflt;
  }
  long i(const std::string& f, long dflt = 0) const { return has(f) ? std::stol(s(f)) : dflt; }
  double d(const std::string& f, double dflt = 0) const { return has(f) ? std::stod(s(f)) : dflt; }
};

bool is_int(const std::string& x) {
  static const std::regex re("-?[0-9]+");
  return std::regex_match(x, re);
}
bool is_float(const std::string& x) {
  char* end = nullptr;
  std::strtod(x.c_str(), &end);
  return !x.empty() && end == x.c_str() + x.size();
}

Args parse_args(const std::vector<std::string>& argv) {
  Args a;
  const auto& table = flag_table();
  for (std::size_t i = 0; i < argv.size();) {
    const std::string flag = argv[i++];
    const auto it = table.find(flag);
    if (it == table.end()) {
      a.errors.push_back(flag + ": not a flag of Megatron-LM core_v0.19");
      continue;
    }
    const FlagDef& def = it->second;
    if (a.has(flag)) a.errors.push_back(flag + ": given twice");
    std::vector<std::string> values;
    if (def.kind == "store_true" || def.kind == "store_false") {
      // no value
    } else if (def.nargs == "+" || def.nargs == "*") {
      while (i < argv.size() && argv[i].rfind("--", 0) != 0) values.push_back(argv[i++]);
      if (def.nargs == "+" && values.empty()) a.errors.push_back(flag + ": needs at least one value");
    } else if (i < argv.size() && argv[i].rfind("--", 0) != 0) {
      values.push_back(argv[i++]);
    } else {
      a.errors.push_back(flag + ": needs a value (" + def.where + ")");
    }
    for (const std::string& x : values) {
      bool ok = true;
      if (def.kind == "int") ok = is_int(x);
      if (def.kind == "float") ok = is_float(x);
      if (def.kind == "tuple_type") ok = std::regex_match(x, std::regex("\\(?-?[0-9]+,-?[0-9]+\\)?"));
      if (def.kind == "moe_freq_type") ok = is_int(x) || std::regex_match(x, std::regex("\\[[01](,[01])*\\]"));
      if (ok && !def.choices.empty()) ok = std::find(def.choices.begin(), def.choices.end(), x) != def.choices.end();
      if (!ok) a.errors.push_back(flag + " " + x + ": not a valid " + def.kind + " value (" + def.where + ")");
    }
    a.v[flag] = values;
  }
  return a;
}

// Megatron's --pipeline-model-parallel-layout syntax (pipeline_parallel_layer_layout.py:283-321).
std::vector<std::string> megatron_layout_stages(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  const std::regex group("\\(([^)]+)\\)\\*(\\d+)"), single("(.)\\*(\\d+)");
  for (const std::regex* re : {&group, &single}) {
    std::smatch m;
    while (std::regex_search(s, m, *re)) {
      std::string rep;
      for (int k = 0; k < std::stoi(m[2].str()); ++k) rep += m[1].str();
      s = m.prefix().str() + rep + m.suffix().str();
    }
  }
  std::vector<std::string> out = split(s, '|');
  if (s.empty()) out = {""};
  return out;
}

struct Ctx {
  const Args& a;
  std::map<std::string, std::string> env;
  long world = 1;
  int arch = 9;  // compute capability major of the plan's GPUs
  long tp() const { return a.i("--tensor-model-parallel-size", 1); }
  long pp() const { return a.i("--pipeline-model-parallel-size", 1); }
  long cp() const { return a.i("--context-parallel-size", 1); }
  long ep() const { return a.i("--expert-model-parallel-size", 1); }
  long etp() const { return a.i("--expert-tensor-parallel-size", tp()); }
  long dp() const { return world / (tp() * pp() * cp()); }
  long layers() const { return a.i("--num-layers"); }
  // num_layers with the embedding and the loss counted as a layer each where the account-for
  // flags say so (arguments.py:927-932).
  long counted_layers() const {
    return layers() + a.has("--account-for-embedding-in-pipeline-split") + a.has("--account-for-loss-in-pipeline-split");
  }
  bool account() const {
    return a.has("--account-for-embedding-in-pipeline-split") || a.has("--account-for-loss-in-pipeline-split");
  }
  long microbatches() const {
    return a.i("--global-batch-size", a.i("--micro-batch-size", 1) * dp()) / (a.i("--micro-batch-size", 1) * dp());
  }
  bool fsdp() const { return a.has("--use-torch-fsdp2") || a.has("--use-megatron-fsdp"); }
  bool distopt() const { return a.has("--use-distributed-optimizer") || a.has("--use-megatron-fsdp"); }
  bool uneven() const { return a.has("--decoder-first-pipeline-num-layers") || a.has("--decoder-last-pipeline-num-layers"); }
  // Whether selective recomputation recomputes `module` (--recompute-modules; core_attn by default).
  bool recomputes(const std::string& module) const {
    if (a.s("--recompute-granularity") != "selective") return false;
    if (!a.has("--recompute-modules")) return module == "core_attn";
    for (const std::string& m : a.v.at("--recompute-modules"))
      if (m == module) return true;
    return false;
  }
  // PYTORCH_CUDA_ALLOC_CONF holds expandable_segments:True (Megatron splits it on ',').
  bool expandable_segments() const {
    const auto it = env.find("PYTORCH_CUDA_ALLOC_CONF");
    if (it == env.end()) return false;
    std::stringstream list(it->second);
    for (std::string item; std::getline(list, item, ',');)
      if (item == "expandable_segments:True") return true;
    return false;
  }
  std::optional<std::string> cdmc() const {
    const auto it = env.find("CUDA_DEVICE_MAX_CONNECTIONS");
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  // virtual_pipeline_model_parallel_size as validate_args derives it (arguments.py:907-944), 0 for None.
  long vpp() const {
    long v = 0;
    if (a.has("--pipeline-model-parallel-layout"))
      v = static_cast<long>(megatron_layout_stages(a.s("--pipeline-model-parallel-layout")).size()) / pp();
    else if (a.has("--num-virtual-stages-per-pipeline-rank"))
      v = a.i("--num-virtual-stages-per-pipeline-rank");
    else if (a.has("--num-layers-per-virtual-pipeline-stage") && pp() > 0 && a.i("--num-layers-per-virtual-pipeline-stage") > 0)
      v = counted_layers() / pp() / a.i("--num-layers-per-virtual-pipeline-stage");
    return v == 1 ? 0 : v;
  }
};

using Rule = std::function<std::string(const Ctx&)>;

std::string need(bool ok, const std::string& why) { return ok ? "" : why; }

// One predicate per rule of rules.json: "" when the rule holds, else what breaks it.
const std::map<std::string, Rule>& rules() {
  static const std::map<std::string, Rule> r = {
      {"required_args",
       [](const Ctx& c) {
         for (const char* f : {"--num-layers", "--hidden-size", "--num-attention-heads", "--max-position-embeddings"})
           if (!c.a.has(f)) return std::string(f) + " missing ('argument is None')";
         return std::string();
       }},
      {"seq_length_required", [](const Ctx& c) { return need(c.a.has("--seq-length"), "--seq-length missing"); }},
      {"seq_le_max_pos",
       [](const Ctx& c) {
         return need(c.a.i("--max-position-embeddings") >= c.a.i("--seq-length"), "max_position_embeddings < seq_length");
       }},
      {"kv_channels_default",
       [](const Ctx& c) {
         return need(c.a.has("--kv-channels") || c.a.i("--num-attention-heads", 1) == 0 ||
                         c.a.i("--hidden-size") % c.a.i("--num-attention-heads", 1) == 0,
                     "hidden size not divisible by heads without --kv-channels");
       }},
      {"heads_div_tp", [](const Ctx& c) { return need(c.a.i("--num-attention-heads") % c.tp() == 0, "heads % tp != 0"); }},
      {"query_groups_tp",
       [](const Ctx& c) {
         const long g = c.a.has("--group-query-attention") ? c.a.i("--num-query-groups", 1) : c.a.i("--num-attention-heads");
         return need(g % c.tp() == 0 || c.tp() % g == 0, "query groups and tp do not divide each other");
       }},
      {"gqa_flag_needed",
       [](const Ctx& c) {
         return need(!c.a.has("--num-query-groups") || c.a.has("--group-query-attention"),
                     "--num-query-groups without --group-query-attention is ignored (multi-head attention)");
       }},
      {"fp16_bf16_exclusive", [](const Ctx& c) { return need(!(c.a.has("--fp16") && c.a.has("--bf16")), "--fp16 with --bf16"); }},
      {"world_div_model",
       [](const Ctx& c) { return need(c.world % (c.tp() * c.pp() * c.cp()) == 0, "world % (tp*pp*cp) != 0"); }},
      {"world_div_expert_grid",
       [](const Ctx& c) { return need(c.world % (c.etp() * c.ep() * c.pp()) == 0, "world % (etp*ep*pp) != 0"); }},
      {"expert_dp_eq_dp_unless_pp_last",
       [](const Ctx& c) {
         return need(!c.a.has("--use-tp-pp-dp-mapping") || c.pp() == 1 || c.world / (c.etp() * c.ep() * c.pp()) == c.dp(),
                     "tp-pp-dp mapping with pp > 1 and expert dp != dp");
       }},
      {"micro_batch_required",
       [](const Ctx& c) { return need(c.a.i("--micro-batch-size") > 0, "--micro-batch-size missing or 0"); }},
      {"gbs_div",
       [](const Ctx& c) {
         const long per = c.a.i("--micro-batch-size", 1) * c.dp();
         return need(per > 0 && c.a.i("--global-batch-size", per) % per == 0, "global batch % (micro x dp) != 0");
       }},
      {"vp_flags_exclusive",
       [](const Ctx& c) {
         const int n = c.a.has("--num-layers-per-virtual-pipeline-stage") + c.a.has("--num-virtual-stages-per-pipeline-rank") +
                       c.a.has("--pipeline-model-parallel-layout");
         return need(n <= 1, "more than one virtual-pipeline flag");
       }},
      {"layout_stages_div_pp",
       [](const Ctx& c) {
         return need(
             !c.a.has("--pipeline-model-parallel-layout") ||
                 megatron_layout_stages(c.a.s("--pipeline-model-parallel-layout")).size() % static_cast<std::size_t>(c.pp()) == 0,
             "layout stages % pp != 0");
       }},
      {"uneven_needs_nvspr",
       [](const Ctx& c) {
         return need(!(c.a.has("--num-layers-per-virtual-pipeline-stage") && c.uneven()),
                     "--num-layers-per-virtual-pipeline-stage with first/last stage layers");
       }},
      {"nlpvps_layers_div_pp",
       [](const Ctx& c) {
         return need(!c.a.has("--num-layers-per-virtual-pipeline-stage") || c.counted_layers() % c.pp() == 0, "layers % pp != 0");
       }},
      {"nlpvps_div",
       [](const Ctx& c) {
         const long n = c.a.i("--num-layers-per-virtual-pipeline-stage", 1);
         return need(!c.a.has("--num-layers-per-virtual-pipeline-stage") || (n > 0 && (c.counted_layers() / c.pp()) % n == 0),
                     "(layers / pp) % layers per virtual stage != 0");
       }},
      {"layers_div_pp",
       [](const Ctx& c) {
         const bool vp = c.a.has("--pipeline-model-parallel-layout") || c.a.has("--num-layers-per-virtual-pipeline-stage") ||
                         c.a.has("--num-virtual-stages-per-pipeline-rank");
         return need(vp || c.uneven() || c.counted_layers() % c.pp() == 0, "layers % pp != 0 without an uneven split");
       }},
      {"interleaved_pp_gt1_overlap",
       [](const Ctx& c) {
         return need(c.vpp() == 0 || (c.a.has("--no-overlap-p2p-communication") ? c.pp() > 2 : c.pp() > 1),
                     "interleaving needs pp > 1 (pp > 2 without p2p overlap)");
       }},
      {"interleaved_microbatch_range",
       [](const Ctx& c) {
         const long n = c.a.i("--microbatch-group-size-per-virtual-pipeline-stage", c.pp());
         return need(c.vpp() == 0 || (c.pp() <= n && n <= c.microbatches()), "microbatch group outside [pp, microbatches]");
       }},
      {"interleaved_microbatch_remainder",
       [](const Ctx& c) {
         const long n = c.a.i("--microbatch-group-size-per-virtual-pipeline-stage", c.pp());
         const long rest = c.microbatches() % n;
         return need(c.vpp() == 0 || rest == 0 || rest >= c.pp(), "microbatches % group in (0, pp)");
       }},
      {"uneven_first_positive",
       [](const Ctx& c) {
         for (const char* f : {"--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers"})
           if (c.a.has(f) && c.a.i(f) <= 0) return std::string(f) + " must be > 0";
         return std::string();
       }},
      {"uneven_first_div_vpp",
       [](const Ctx& c) {
         for (const char* f : {"--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers"})
           if (c.a.has(f) && c.vpp() > 0 && c.a.i(f) % c.vpp() != 0) return std::string(f) + " % vpp != 0";
         return std::string();
       }},
      {"uneven_middle",
       [](const Ctx& c) {
         if (!c.uneven() || c.a.has("--pipeline-model-parallel-layout")) return std::string();
         long layers = c.layers(), stages = c.pp();
         for (const char* f : {"--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers"})
           if (c.a.has(f)) {
             layers -= c.a.i(f);
             stages -= 1;
           }
         if ((layers != 0) != (stages != 0)) return std::string("middle layers and middle stages mismatch");
         if (stages > 0 && layers % stages != 0) return std::string("middle layers % middle stages != 0");
         if (stages > 0 && c.vpp() > 0 && (layers / stages) % c.vpp() != 0)
           return std::string("middle layers per rank % vpp != 0");
         return std::string();
       }},
      {"account_split_div",
       [](const Ctx& c) {
         if (!c.account()) return std::string();
         if (c.uneven()) return std::string("account-for split with first/last stage layers");
         if (c.a.has("--pipeline-model-parallel-layout")) return std::string("account-for split with a layout");
         if (c.counted_layers() % c.pp() != 0) return std::string("(layers + embedding + loss) % pp != 0");
         if (c.vpp() > 0 && (c.counted_layers() / c.pp()) % c.vpp() != 0)
           return std::string("(layers + embedding + loss) per rank % vpp != 0");
         return std::string();
       }},
      {"layout_conflicts",
       [](const Ctx& c) {
         return need(!(c.a.has("--pipeline-model-parallel-layout") && c.uneven()), "layout with first/last stage layers");
       }},
      {"layout_validate",
       [](const Ctx& c) {
         if (!c.a.has("--pipeline-model-parallel-layout")) return std::string();
         std::string flat;
         for (const std::string& st : megatron_layout_stages(c.a.s("--pipeline-model-parallel-layout"))) flat += st;
         if (flat.find_first_not_of("EtLm") != std::string::npos) return std::string("unknown layer character");
         if (flat.empty() || flat.front() != 'E' || flat.back() != 'L')
           return std::string("layout must start with E, end with L");
         if (std::count(flat.begin(), flat.end(), 'E') != 1 || std::count(flat.begin(), flat.end(), 'L') != 1)
           return std::string("E and L exactly once");
         if (std::count(flat.begin(), flat.end(), 't') != c.layers()) return std::string("count('t') != num_layers");
         if (std::count(flat.begin(), flat.end(), 'm') != c.a.i("--mtp-num-layers", 0))
           return std::string("count('m') != mtp_num_layers");
         const std::size_t first_m = flat.find('m');
         if (first_m != std::string::npos && flat.find('t', first_m) != std::string::npos)
           return std::string("a transformer layer after an MTP module");
         return std::string();
       }},
      {"sp_disabled_tp1",
       [](const Ctx& c) {
         return need(!c.a.has("--sequence-parallel") || c.tp() > 1, "--sequence-parallel with tp 1 is silently dropped");
       }},
      {"tp_comm_overlap_needs_sp",
       [](const Ctx& c) {
         return need(!c.a.has("--tp-comm-overlap") || (c.a.has("--sequence-parallel") && c.tp() > 1),
                     "--tp-comm-overlap without sequence parallelism");
       }},
      {"cuda_device_max_connections",
       [](const Ctx& c) {
         const bool required =
             (c.tp() > 1 || c.cp() > 1) && c.arch < 10 && !c.fsdp() && !c.a.has("--overlap-moe-expert-parallel-comm");
         return need(!required || c.cdmc() == std::optional<std::string>("1"), "CUDA_DEVICE_MAX_CONNECTIONS must be 1");
       }},
      {"expandable_segments_nccl_ub",
       [](const Ctx& c) {
         return need(!(c.a.has("--use-nccl-ub") && c.expandable_segments()),
                     "--use-nccl-ub with expandable segments (refused before PyTorch 2.11)");
       }},
      {"expandable_segments_te_cuda_graph",
       [](const Ctx& c) {
         const auto reg = c.env.find("NCCL_GRAPH_REGISTER");
         return need(c.a.s("--cuda-graph-impl") != "transformer_engine" || !c.expandable_segments() ||
                         (reg != c.env.end() && reg->second == "0"),
                     "Transformer Engine CUDA graphs with expandable segments need NCCL_GRAPH_REGISTER=0");
       }},
      {"ep_overlap_needs_ep",
       [](const Ctx& c) {
         return need(!c.a.has("--overlap-moe-expert-parallel-comm") || c.ep() > 1, "EP overlap without expert parallelism");
       }},
      {"ep_overlap_needs_vpp",
       [](const Ctx& c) {
         return need(!c.a.has("--overlap-moe-expert-parallel-comm") || c.pp() == 1 || c.vpp() > 0,
                     "EP overlap with pp > 1 and no virtual stages");
       }},
      {"ep_overlap_dispatcher",
       [](const Ctx& c) {
         const std::string d = c.a.has("--moe-token-dispatcher-type") ? c.a.s("--moe-token-dispatcher-type") : "allgather";
         return need(!c.a.has("--overlap-moe-expert-parallel-comm") || d == "alltoall" || d == "flex",
                     "EP overlap with the " + d + " dispatcher");
       }},
      {"ep_overlap_no_recompute",
       [](const Ctx& c) {
         if (!c.a.has("--overlap-moe-expert-parallel-comm")) return std::string();
         if (c.a.s("--recompute-granularity") == "full") return std::string("EP overlap with full recomputation");
         if (c.a.has("--recompute-method") || c.a.has("--recompute-num-layers"))
           return std::string("EP overlap with a recomputation method or layer count");
         if (c.a.has("--recompute-modules"))
           for (const std::string& m : c.a.v.at("--recompute-modules"))
             if (m == "moe") return std::string("EP overlap with moe recomputed");
         return std::string();
       }},
      {"expert_bias_needs_sigmoid",
       [](const Ctx& c) {
         const std::string f = c.a.s("--moe-router-score-function", "softmax");
         return need(!c.a.has("--moe-router-enable-expert-bias") || f == "sigmoid" || f == "sqrtsoftplus",
                     "expert bias with " + f + " scores");
       }},
      {"group_limited_routing",
       [](const Ctx& c) {
         if (!c.a.has("--moe-router-group-topk")) return std::string();
         const long groups = c.a.i("--moe-router-num-groups", 0), k = c.a.i("--moe-router-group-topk");
         if (groups <= 0) return std::string("group top-k without groups");
         if (c.a.i("--num-experts") % groups != 0) return std::string("experts not a multiple of the groups");
         return need(k <= groups, "group top-k above the groups");
       }},
      {"ep_overlap_mtp",
       [](const Ctx& c) {
         return need(!c.a.has("--overlap-moe-expert-parallel-comm") || c.a.i("--mtp-num-layers", 0) <= 1,
                     "EP overlap with more than one MTP layer");
       }},
      {"delay_wgrad_te",
       [](const Ctx& c) {
         // Transformer Engine >= 2.8 with --overlap-grad-reduce: the export targets core_v0.19's
         // TE (2.10, as the validation run below), so only the implementation is checked.
         return need(!c.a.has("--delay-wgrad-compute") || c.a.s("--transformer-impl") == "transformer_engine",
                     "--delay-wgrad-compute without Transformer Engine");
       }},
      {"opg_needs_distopt",
       [](const Ctx& c) {
         return need(!c.a.has("--overlap-param-gather") || c.distopt(),
                     "--overlap-param-gather without the distributed optimizer or Megatron-FSDP");
       }},
      {"opg_needs_ogr",
       [](const Ctx& c) {
         return need(!c.a.has("--overlap-param-gather") || c.a.has("--overlap-grad-reduce"),
                     "--overlap-param-gather without --overlap-grad-reduce");
       }},
      {"te_cross_entropy_rejected",
       [](const Ctx& c) {
         return need(!c.a.has("--cross-entropy-loss-fusion") || c.a.s("--cross-entropy-fusion-impl", "native") != "te",
                     "Transformer Engine's cross entropy");
       }},
      {"recompute_modules_known",
       [](const Ctx& c) {
         if (c.a.s("--recompute-granularity") != "selective" || !c.a.has("--recompute-modules")) return std::string();
         for (const std::string& m : c.a.v.at("--recompute-modules"))
           if (m != "core_attn" && m != "moe_act" && m != "layernorm" && m != "mla_up_proj" && m != "mlp" && m != "moe" &&
               m != "shared_experts" && m != "gdn_norm_out")
             return "unknown recompute module " + m;
         return std::string();
       }},
      {"moe_act_needs_grouped_gemm",
       [](const Ctx& c) {
         return need(!c.recomputes("moe_act") || c.a.has("--moe-grouped-gemm"), "moe_act recomputed without the grouped GEMM");
       }},
      {"mla_up_proj_needs_mla",
       [](const Ctx& c) {
         return need(!c.recomputes("mla_up_proj") || c.a.has("--multi-latent-attention"),
                     "mla_up_proj recomputed without multi-latent attention");
       }},
      {"delayed_fp8_no_moe_act_layernorm",
       [](const Ctx& c) {
         const bool delayed = c.a.has("--fp8-format") && c.a.s("--fp8-recipe", "delayed") == "delayed";
         return need(!delayed || !(c.recomputes("moe_act") || c.recomputes("layernorm")),
                     "moe_act or layernorm recomputed under FP8 delayed scaling");
       }},
      {"fsdp2_1", [](const Ctx& c) { return need(!c.a.has("--use-torch-fsdp2") || c.pp() == 1, "FSDP2 with pp > 1"); }},
      {"fsdp2_2", [](const Ctx& c) { return need(!c.a.has("--use-torch-fsdp2") || c.ep() == 1, "FSDP2 with ep > 1"); }},
      {"fsdp2_3",
       [](const Ctx& c) {
         return need(!c.a.has("--use-torch-fsdp2") || !c.a.has("--use-distributed-optimizer"),
                     "FSDP2 with the distributed optimizer");
       }},
      {"fsdp2_4",
       [](const Ctx& c) {
         return need(!c.a.has("--use-torch-fsdp2") || c.a.has("--no-gradient-accumulation-fusion"),
                     "FSDP2 with gradient accumulation fusion (on by default)");
       }},
      {"fsdp2_6",
       [](const Ctx& c) {
         return need(!c.a.has("--use-torch-fsdp2") || c.a.has("--untie-embeddings-and-output-weights"),
                     "FSDP2 needs untied embeddings");
       }},
      {"fsdp2_8",
       [](const Ctx& c) {
         return need(!c.a.has("--use-torch-fsdp2") || c.cdmc() != std::optional<std::string>("1"),
                     "FSDP2 with CUDA_DEVICE_MAX_CONNECTIONS=1");
       }},
      {"mfsdp_optimizer",
       [](const Ctx& c) {
         const std::string o = c.a.s("--optimizer", "adam");
         return need(!c.a.has("--use-megatron-fsdp") || o == "adam" || o == "sgd", "Megatron-FSDP needs adam or sgd");
       }},
      {"mfsdp_cdmc",
       [](const Ctx& c) {
         return need(!c.a.has("--use-megatron-fsdp") || c.cdmc() != std::optional<std::string>("1"),
                     "Megatron-FSDP with CUDA_DEVICE_MAX_CONNECTIONS=1");
       }},
      {"mfsdp_ckpt",
       [](const Ctx& c) {
         return need(!c.a.has("--use-megatron-fsdp") || c.a.s("--ckpt-format", "torch_dist") == "fsdp_dtensor",
                     "Megatron-FSDP needs --ckpt-format fsdp_dtensor");
       }},
      {"fsdp_dtensor_needs_mfsdp",
       [](const Ctx& c) {
         return need(c.a.s("--ckpt-format", "torch_dist") != "fsdp_dtensor" || c.a.has("--use-megatron-fsdp"),
                     "fsdp_dtensor checkpoints without Megatron-FSDP");
       }},
      {"precision_aware_needs",
       [](const Ctx& c) {
         return need(!c.a.has("--use-precision-aware-optimizer") || (c.a.s("--optimizer", "adam") == "adam" && c.distopt()),
                     "precision-aware optimizer without adam and the distributed optimizer");
       }},
      {"fp4_fp8_exclusive",
       [](const Ctx& c) {
         return need(!(c.a.has("--fp4-format") && c.a.has("--fp8-format")), "--fp4-format with --fp8-format");
       }},
      {"moe_grouped_gemm_cc",
       [](const Ctx& c) {
         return need(!c.a.has("--moe-grouped-gemm") || c.arch >= 8, "grouped GEMM below compute capability 8");
       }},
      {"selective_no_method_validate",
       [](const Ctx& c) {
         const bool selective = c.a.s("--recompute-granularity") == "selective" || c.a.has("--recompute-activations");
         return need(!selective || !c.a.has("--recompute-method"), "selective recompute with --recompute-method");
       }},
      {"recompute_activations_alias",
       [](const Ctx& c) {
         return need(!(c.a.has("--recompute-activations") && c.a.s("--recompute-granularity") == "full"),
                     "--recompute-activations turns full recomputation into selective");
       }},
      {"full_needs_method",
       [](const Ctx& c) {
         return need(c.a.s("--recompute-granularity") != "full" || c.a.has("--recompute-method"),
                     "full recompute without a method");
       }},
      {"full_needs_num_layers",
       [](const Ctx& c) {
         return need(c.a.s("--recompute-granularity") != "full" || c.a.has("--recompute-num-layers"),
                     "full recompute without --recompute-num-layers");
       }},
      {"selective_no_num_layers",
       [](const Ctx& c) {
         return need(c.a.s("--recompute-granularity") != "selective" || !c.a.has("--recompute-num-layers"),
                     "selective recompute with --recompute-num-layers");
       }},
      {"ep_needs_experts", [](const Ctx& c) { return need(c.ep() == 1 || c.a.has("--num-experts"), "ep > 1 without experts"); }},
      {"experts_div_ep",
       [](const Ctx& c) { return need(!c.a.has("--num-experts") || c.a.i("--num-experts") % c.ep() == 0, "experts % ep != 0"); }},
      {"moe_ffn_without_experts",
       [](const Ctx& c) {
         return need(!c.a.has("--moe-ffn-hidden-size") || c.a.has("--num-experts"), "--moe-ffn-hidden-size without experts");
       }},
      {"moe_bias_etp1",
       [](const Ctx& c) {
         return need(!c.a.has("--num-experts") || c.a.has("--disable-bias-linear") || c.etp() == 1,
                     "MoE with biases and expert tensor parallelism");
       }},
      {"moe_topk1_presoftmax",
       [](const Ctx& c) {
         return need(!c.a.has("--num-experts") || c.a.i("--moe-router-topk", 2) != 1 || c.a.has("--moe-router-pre-softmax"),
                     "top-1 routing without --moe-router-pre-softmax");
       }},
      {"moe_pad_needs_capacity",
       [](const Ctx& c) {
         return need(!c.a.has("--moe-pad-expert-input-to-capacity") || c.a.has("--moe-expert-capacity-factor"),
                     "padding to capacity without a capacity factor");
       }},
      {"cp_seq_div",
       [](const Ctx& c) { return need(c.cp() == 1 || c.a.i("--seq-length") % (2 * c.cp()) == 0, "seq % (2 cp) != 0"); }},
      {"cpu_offload_range",
       [](const Ctx& c) {
         const long n = c.a.i("--cpu-offloading-num-layers");
         return need(n >= 0 && n < std::max(1L, c.layers()), "offloaded layers outside [0, num_layers)");
       }},
      {"cpu_offload_pp",
       [](const Ctx& c) {
         return need(c.a.i("--cpu-offloading-num-layers") == 0 || c.pp() == 1, "activation offload with pp > 1");
       }},
      {"cpu_offload_recompute",
       [](const Ctx& c) {
         return need(c.a.i("--cpu-offloading-num-layers") == 0 ||
                         !(c.a.has("--recompute-granularity") || c.a.has("--recompute-activations")),
                     "activation offload with recomputation");
       }},
      {"optimizer_cpu_offload",
       [](const Ctx& c) {
         return need(!c.a.has("--optimizer-cpu-offload") || c.a.has("--use-precision-aware-optimizer"),
                     "--optimizer-cpu-offload without --use-precision-aware-optimizer");
       }},
      {"single_data_source",
       [](const Ctx& c) {
         return need(c.a.has("--mock-data") + c.a.has("--data-path") == 1,
                     "exactly one data source (--mock-data or --data-path)");
       }},
      {"tokenizer_default",
       [](const Ctx& c) { return need(c.a.has("--tokenizer-type"), "no --tokenizer-type: GPT2BPETokenizer needs vocab files"); }},
      {"null_tokenizer_vocab",
       [](const Ctx& c) {
         return need(c.a.s("--tokenizer-type") != "NullTokenizer" || c.a.has("--vocab-size"),
                     "NullTokenizer without --vocab-size");
       }},
      {"min_lr_le_lr", [](const Ctx& c) { return need(c.a.d("--min-lr", 0) <= c.a.d("--lr", 0), "--min-lr > --lr"); }},
      {"train_iters_or_samples",
       [](const Ctx& c) {
         return need(c.a.has("--train-iters") || c.a.has("--train-samples"), "no --train-iters / --train-samples");
       }},
      {"eval_interval_required", [](const Ctx& c) { return need(c.a.has("--eval-interval"), "no --eval-interval"); }},
      {"attention_backend_local",
       [](const Ctx& c) {
         return need(c.a.s("--attention-backend") != "local", "--attention-backend local needs --spec local");
       }},
      {"nest_no_effect_flags",
       [](const Ctx& c) {
         for (const auto& [flag, values] : c.a.v) {
           (void)values;
           const auto it = flag_table().find(flag);
           if (it != flag_table().end() && !it->second.no_effect.empty()) return flag + ": " + it->second.no_effect;
         }
         return std::string();
       }},
  };
  return r;
}

struct RuleRow {
  std::string id, where;
};
std::vector<RuleRow> rule_rows() {
  std::vector<RuleRow> rows;
  const Json j = read_json_file(kData + "rules.json");
  for (const Json& r : j.at("rules"))
    rows.push_back(
        {r.at("id").get<std::string>(), r.at("file").get<std::string>() + ":" + std::to_string(r.at("line").get<int>())});
  return rows;
}

// "rule (file:line): why" for every rule the command breaks, and every flag error.
std::vector<std::string> check_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                                       long world, int arch) {
  const Args a = parse_args(argv);
  std::vector<std::string> out = a.errors;
  const Ctx c{a, env, world, arch};
  for (const RuleRow& row : rule_rows()) {
    const auto it = rules().find(row.id);
    if (it == rules().end()) {
      out.push_back(row.id + ": no predicate");
      continue;
    }
    const std::string why = it->second(c);
    if (!why.empty()) out.push_back(row.id + " (" + row.where + "): " + why);
  }
  return out;
}

int arch_of(const GpuSpec& gpu) {
  if (gpu.generation == "blackwell") return 10;
  if (gpu.generation == "ampere") return 8;
  return 9;
}

// The blocks per (pp rank) Megatron builds from the command (the even split, first/last stage
// layers, or the layout), to compare with the plan's split.
std::vector<int> megatron_split(const Args& a, long pp) {
  const long L = a.i("--num-layers");
  std::vector<int> out(static_cast<std::size_t>(pp), 0);
  if (a.has("--pipeline-model-parallel-layout")) {
    const auto stages = megatron_layout_stages(a.s("--pipeline-model-parallel-layout"));
    for (std::size_t i = 0; i < stages.size(); ++i)
      out[i % static_cast<std::size_t>(pp)] += static_cast<int>(std::count(stages[i].begin(), stages[i].end(), 't'));
    return out;
  }
  if (a.has("--account-for-embedding-in-pipeline-split") || a.has("--account-for-loss-in-pipeline-split")) {
    // The embedding and the loss count as a layer each, the rest split evenly
    // (transformer_config.py:2062-2110).
    const int e = a.has("--account-for-embedding-in-pipeline-split"), l = a.has("--account-for-loss-in-pipeline-split");
    for (auto& n : out) n = static_cast<int>((L + e + l) / pp);
    out.front() -= e;
    out.back() -= l;
    return out;
  }
  long first = a.i("--decoder-first-pipeline-num-layers", -1), last = a.i("--decoder-last-pipeline-num-layers", -1);
  long middle = L, stages = pp;
  if (first >= 0) middle -= first, --stages;
  if (last >= 0) middle -= last, --stages;
  for (long i = 0; i < pp; ++i) out[static_cast<std::size_t>(i)] = static_cast<int>(stages > 0 ? middle / stages : 0);
  if (first >= 0) out.front() = static_cast<int>(first);
  if (last >= 0) out.back() = static_cast<int>(last);
  return out;
}

// The command says what the plan says.
void expect_faithful(const BuiltPlan& b, const LaunchRun& run, const std::string& name) {
  const Args a = parse_args(run.args);
  const ModelConfig& m = b.problem.model;
  const Parallelism& p = b.plan.par;
  EXPECT_EQ(run.world(), p.gpus()) << name;
  EXPECT_EQ(a.i("--num-layers"), m.layers) << name;
  // The attention kernel the plan was costed with: unfused without FlashAttention, flash for
  // FlashAttention-2, Transformer Engine's choice (cuDNN) otherwise.
  const char* backend = !b.problem.options.flash_attention                          ? "unfused"
                        : attention_kernel_of(b.problem) == AttentionKernel::Flash2 ? "flash"
                                                                                    : "auto";
  EXPECT_EQ(a.s("--attention-backend"), backend) << name;
  EXPECT_EQ(a.i("--hidden-size"), m.hidden) << name;
  EXPECT_EQ(a.i("--ffn-hidden-size"), m.ffn) << name;
  EXPECT_EQ(a.i("--num-attention-heads"), m.heads) << name;
  EXPECT_EQ(a.has("--group-query-attention") ? a.i("--num-query-groups") : m.heads, m.kv_heads) << name;
  // MLA's head dimensions are its own flags (below)
  if (m.attention() != AttentionKind::Mla) {
    EXPECT_EQ(a.i("--kv-channels", m.hidden / m.heads), m.head_dim) << name;
  }
  EXPECT_EQ(a.i("--vocab-size"), m.vocab) << name;
  EXPECT_EQ(a.has("--swiglu"), m.gated_mlp) << name;
  EXPECT_EQ(a.s("--normalization"), m.layernorm ? "LayerNorm" : "RMSNorm") << name;
  EXPECT_EQ(!a.has("--disable-bias-linear"), m.linear_bias) << name;
  EXPECT_EQ(a.has("--untie-embeddings-and-output-weights"), !m.tied_embeddings) << name;
  EXPECT_EQ(a.i("--num-experts"), m.experts) << name;
  if (m.is_moe()) {
    EXPECT_EQ(a.i("--moe-router-topk", 2), m.experts_per_token) << name;
    EXPECT_EQ(a.i("--moe-ffn-hidden-size"), m.moe_ffn) << name;
    EXPECT_EQ(a.i("--moe-shared-expert-intermediate-size"), m.shared_expert_ffn) << name;
    if (a.has("--moe-layer-freq")) {
      const std::string f = a.s("--moe-layer-freq");
      std::string want = "[";
      for (std::size_t i = 0; i < m.moe_layer.size(); ++i) want.append(i ? "," : "").append(m.moe_layer[i] ? "1" : "0");
      EXPECT_EQ(f, want + "]") << name;
    } else {
      for (bool x : m.moe_layer) EXPECT_TRUE(x) << name;
    }
  }
  EXPECT_EQ(a.i("--seq-length"), b.problem.seq_len) << name;
  EXPECT_EQ(a.i("--micro-batch-size"), p.microbatch) << name;
  EXPECT_EQ(a.i("--global-batch-size"), b.problem.global_batch) << name;
  EXPECT_EQ(a.i("--tensor-model-parallel-size", 1), p.tp) << name;
  EXPECT_EQ(a.i("--pipeline-model-parallel-size", 1), p.pp) << name;
  EXPECT_EQ(a.i("--context-parallel-size", 1), p.cp) << name;
  EXPECT_EQ(a.i("--expert-model-parallel-size", 1), p.ep) << name;
  EXPECT_EQ(a.i("--expert-tensor-parallel-size", p.tp), p.expert_tp()) << name;
  EXPECT_EQ(a.has("--sequence-parallel"), p.sp && p.tp > 1) << name;
  const Ctx c{a, run.env, run.world(), arch_of(b.problem.cluster.gpu)};
  EXPECT_EQ(std::max(1L, c.vpp()), b.plan.par.schedule == Schedule::Interleaved ? p.virtual_stages : 1) << name;
  EXPECT_EQ(megatron_split(a, p.pp), b.plan.blocks_per_stage) << name;
  int zero = 0;
  if (a.has("--use-distributed-optimizer")) zero = 1;
  if (a.s("--data-parallel-sharding-strategy") == "optim_grads") zero = 2;
  if (a.has("--use-megatron-fsdp") && a.s("--data-parallel-sharding-strategy", "optim_grads_params") == "optim_grads_params")
    zero = 3;
  EXPECT_EQ(zero, p.zero) << name;
  const std::string gran = a.s("--recompute-granularity", "none");
  EXPECT_EQ(gran, to_string(p.recompute)) << name;
  std::string modules = "core_attn";  // Megatron's default (transformer_config.py:1763-1764)
  if (a.has("--recompute-modules")) {
    modules.clear();
    for (const std::string& x : a.v.at("--recompute-modules")) modules += (modules.empty() ? "" : ",") + x;
  }
  if (p.recompute == Recompute::Selective) {
    EXPECT_EQ(modules, recompute_modules_text(p.recompute_modules)) << name;
  }
  EXPECT_EQ(a.has("--multi-latent-attention"), m.attention() == AttentionKind::Mla) << name;
  if (m.attention() == AttentionKind::Mla) {
    EXPECT_EQ(a.i("--q-lora-rank", 0), m.q_lora_rank) << name;
    EXPECT_EQ(a.i("--kv-lora-rank"), m.kv_lora_rank) << name;
    EXPECT_EQ(a.i("--qk-head-dim"), m.qk_nope_head_dim) << name;
    EXPECT_EQ(a.i("--qk-pos-emb-head-dim"), m.qk_rope_head_dim) << name;
    EXPECT_EQ(a.i("--v-head-dim"), m.v_head_dim) << name;
  }
  EXPECT_EQ(a.i("--mtp-num-layers", 0), m.mtp_layers) << name;
  EXPECT_EQ(a.has("--qk-layernorm"), m.qk_norm == 1) << name;
  EXPECT_EQ(a.has("--qk-l2-norm"), m.qk_norm == 2) << name;
  EXPECT_EQ(a.s("--softmax-type", "vanilla") == "learnable", m.attention_sinks) << name;
  EXPECT_EQ(a.has("--moe-shared-expert-gate"), m.shared_expert_gate) << name;
  if (m.is_moe()) {  // the router as the model routes (moe_utils.py:710-873)
    EXPECT_EQ(a.s("--moe-router-score-function", "softmax") == "sigmoid", m.router_sigmoid) << name;
    EXPECT_EQ(a.has("--moe-router-pre-softmax"), !m.router_sigmoid && (m.router_pre_softmax || m.experts_per_token == 1)) << name;
    EXPECT_EQ(a.has("--moe-router-enable-expert-bias"), m.router_expert_bias) << name;
    EXPECT_EQ(a.i("--moe-router-num-groups", 0), m.router_groups) << name;
    EXPECT_EQ(a.i("--moe-router-group-topk", 0), m.router_group_topk) << name;
    EXPECT_EQ(a.has("--moe-router-topk-scaling-factor") ? std::stod(a.s("--moe-router-topk-scaling-factor")) : 1.0,
              m.router_scale)
        << name;
  }
  EXPECT_EQ(a.has("--squared-relu"), m.mlp == MlpKind::SquaredRelu) << name;
  // the layers that slide: every one with --window-size alone, else the 0/1 list
  std::string sliding, every;
  for (std::int64_t w : m.layer_window) {
    sliding.append(sliding.empty() ? "[" : ",").append(w > 0 ? "1" : "0");
    every.append(every.empty() ? "[" : ",").append("1");
  }
  if (a.has("--window-size")) {
    EXPECT_EQ(a.s("--window-size"), std::to_string(m.sliding_window) + ",0") << name;
    EXPECT_EQ(a.s("--window-attn-skip-freq", every + "]"), sliding + "]") << name;
  } else {
    EXPECT_EQ(m.sliding_window, 0) << name;
  }
  std::string precision = "bf16";
  if (a.s("--fp8-recipe") == "delayed" || a.s("--fp8-recipe") == "tensorwise") precision = "fp8";
  if (a.s("--fp8-recipe") == "mxfp8") precision = "mxfp8";
  if (a.s("--fp4-recipe") == "nvfp4") precision = "nvfp4";
  EXPECT_EQ(precision, to_string(p.precision)) << name;
  EXPECT_EQ(a.has("--overlap-grad-reduce"), p.overlap_grad_reduce) << name;
  EXPECT_EQ(a.has("--overlap-param-gather"), p.overlap_param_gather) << name;
  EXPECT_EQ(a.has("--tp-comm-overlap"), p.tp_comm_overlap) << name;
  EXPECT_EQ(a.has("--overlap-moe-expert-parallel-comm"), p.ep_comm_overlap) << name;
  EXPECT_EQ(a.has("--delay-wgrad-compute"), p.ep_comm_overlap) << name;
  EXPECT_EQ(a.has("--optimizer-cpu-offload"), p.offload_optimizer) << name;
  // The precision-aware optimizer: the offload's, or the main weights as remainders, which the
  // distributed optimizer keeps of bf16 weights only (not of FP8/MXFP8 weights held quantised).
  const bool bf16_weights = p.precision == Precision::Bf16 || p.precision == Precision::Nvfp4;
  EXPECT_EQ(a.has("--use-precision-aware-optimizer"),
            p.offload_optimizer || (b.problem.options.store_param_remainders && p.zero == 1 && bf16_weights))
      << name;
  EXPECT_EQ(a.has("--grad-reduce-in-bf16"), b.problem.options.grad_reduce_in_bf16) << name;
  EXPECT_EQ(a.has("--ddp-bucket-size") ? a.i("--ddp-bucket-size") : 0, b.problem.options.grad_bucket_size) << name;
  EXPECT_EQ(a.i("--cpu-offloading-num-layers") > 0, p.offload_activations) << name;
  if (p.offload_activations) {
    EXPECT_EQ(a.i("--cpu-offloading-num-layers"), p.offload_layers > 0 ? p.offload_layers : m.layers - 1) << name;
  }
  EXPECT_EQ(a.has("--use-tp-pp-dp-mapping"), b.plan.order.str() == "tp-cp-pp-ep-dp") << name;
  EXPECT_EQ(a.has("--cross-entropy-loss-fusion"), b.problem.options.cross_entropy == CrossEntropy::Fused) << name;
  EXPECT_FALSE(a.has("--cross-entropy-fusion-impl")) << name;
  EXPECT_EQ(a.has("--no-overlap-p2p-communication"), c.vpp() > 1 && b.problem.options.overlap_p2p == 0) << name;
}

// A small DeepSeek-V3-style model: multi-latent attention, a dense first block, routed and shared
// experts with DeepSeek-V3's router (sigmoid scores, expert bias, 4 groups of which 2, scale
// 2.5), one MTP module.
std::string mla_moe_model() {
  return test::write_temp("mla-moe.json", R"({
    "model_type": "deepseek_v3", "hidden_size": 1024, "num_hidden_layers": 8, "num_attention_heads": 16,
    "num_key_value_heads": 16, "vocab_size": 32000, "max_position_embeddings": 4096, "intermediate_size": 2816,
    "moe_intermediate_size": 256, "n_routed_experts": 16, "num_experts_per_tok": 4, "n_shared_experts": 1,
    "first_k_dense_replace": 1, "q_lora_rank": 256, "kv_lora_rank": 128, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32,
    "v_head_dim": 64, "num_nextn_predict_layers": 1, "rms_norm_eps": 1e-6, "rope_theta": 10000, "tie_word_embeddings": false,
    "scoring_func": "sigmoid", "topk_method": "noaux_tc", "n_group": 4, "topk_group": 2, "routed_scaling_factor": 2.5,
    "norm_topk_prob": true})");
}

// A small Qwen2-MoE-style model: top-1 routing, a shared expert, MoE in every other block.
std::string mixed_moe_model() {
  return test::write_temp("mixed-moe.json", R"({
    "model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 8, "num_attention_heads": 16,
    "num_key_value_heads": 4, "vocab_size": 64000, "max_position_embeddings": 4096, "intermediate_size": 5632,
    "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 2816, "num_experts": 16, "num_experts_per_tok": 1,
    "decoder_sparse_step": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000, "tie_word_embeddings": false})");
}

std::vector<PlanSpec> megatron_plans() {
  std::vector<PlanSpec> v;
  auto add = [&](const std::string& name, PlanSpec s) {
    s.name = name;
    v.push_back(s);
  };
  PlanSpec s;
  s = {};
  s.gpus = 16, s.global_batch = 128, s.seq = 8192, s.tp = 2, s.pp = 2, s.v = 2, s.sp = true, s.recompute = Recompute::Selective;
  add("dense tp2 pp2 interleaved even (num-layers-per-virtual-pipeline-stage)", s);
  s = {};
  s.model = "llama3-70b", s.gpus = 64, s.global_batch = 64, s.tp = 4, s.pp = 4, s.sp = true, s.recompute = Recompute::Selective;
  s.blocks = {19, 21, 21, 19};
  add("uneven first/last, no interleaving", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.blocks = {6, 10, 10, 6};
  add("uneven first/last with virtual stages (num-virtual-stages-per-pipeline-rank)", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.sp = true, s.blocks = {7, 9, 8, 8};
  add("uneven middle stages (layout)", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.blocks = {6, 10, 8, 8};
  add("uneven middle stages with virtual stages (layout)", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.sp = true, s.blocks = {0, 11, 11, 10};
  add("embedding-only first stage (layout)", s);
  s = {};
  s.model = "llama3-405b", s.gpus = 32, s.global_batch = 64, s.tp = 8, s.pp = 4, s.v = 4, s.sp = true;
  s.blocks = {31, 32, 32, 31};
  add("126 blocks with the embedding and the loss counted as layers (account-for split)", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.blocks = {5, 10, 8, 9};
  add("embedding and head chunks a block short, uneven middle (layout)", s);
  s = {};
  s.model = mla_moe_model(), s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 4, s.sp = true, s.ep = 4;
  s.blocks = {1, 3, 2, 2};
  add("MTP module with the loss in a layout (DeepSeek-V3's recipes: E t*4 | ... | t m L)", s);
  s = {};
  s.model = mla_moe_model(), s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 2, s.v = 3, s.sp = true, s.ep = 4;
  s.blocks = {4, 4};
  add("embedding and MTP-with-loss chunks without blocks, two short each (DeepSeek-V3's H100 recipe: Et|(tt|)*30mL)", s);
  s = {};
  s.gpus = 8, s.zero = 0;
  add("ZeRO-0 data parallel only", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.zero = 2;
  add("ZeRO-2 (Megatron-FSDP optim_grads)", s);
  s = {};
  s.gpus = 8, s.zero = 3, s.recompute = Recompute::Full;
  add("ZeRO-3 (Megatron-FSDP optim_grads_params), full recompute", s);
  s = {};
  s.gpus = 32, s.tp = 4, s.sp = true, s.precision = Precision::Fp8, s.global_batch = 64;
  add("fp8 tp4", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.gpu = "b200", s.precision = Precision::Mxfp8;
  add("mxfp8 on B200 (no CUDA_DEVICE_MAX_CONNECTIONS)", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.pp = 2, s.sp = true, s.gpu = "b200", s.precision = Precision::Nvfp4;
  add("nvfp4 on B200", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 64, s.global_batch = 256, s.tp = 2, s.sp = true, s.ep = 8, s.pp = 2;
  add("MoE tp2 ep8 pp2", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 32, s.global_batch = 64, s.tp = 4, s.sp = true, s.ep = 4, s.capacity_factor = 1.25;
  add("MoE with a capacity factor", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 32, s.global_batch = 64, s.tp = 4, s.sp = true, s.ep = 4, s.etp = 1;
  add("MoE with expert TP folded (etp 1, tp 4)", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 64, s.global_batch = 64, s.tp = 4, s.cp = 2, s.sp = true, s.ep = 4, s.etp = 2, s.pp = 2;
  add("MoE folded over context parallelism (etp 2, tp 4, cp 2, ep 4, pp 2)", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 16, s.global_batch = 64, s.tp = 8, s.sp = true, s.ep = 8, s.etp = 1;
  add("MoE with EP over the TP ranks, ep 8 not dividing dp 2 (etp 1, tp 8)", s);
  s = {};
  s.model = mixed_moe_model(), s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 8;
  add("mixed dense/MoE stack, shared expert, top-1", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 64, s.global_batch = 256, s.tp = 2, s.sp = true, s.ep = 8, s.pp = 2, s.v = 2;
  s.tp_comm = 0, s.ep_comm = 1;
  add("MoE all-to-all overlap, interleaved (CUDA_DEVICE_MAX_CONNECTIONS 8 with tp 2)", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 8, s.global_batch = 64, s.ep = 8, s.ep_comm = 1;
  add("MoE all-to-all overlap without pipelining", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 8;
  s.recompute = Recompute::Selective, s.recompute_modules = kernels::kRecomputeLayernorm | kernels::kRecomputeMoeAct;
  add("MoE recomputing its norm and expert activation (--recompute-modules layernorm moe_act)", s);
  s = {};
  s.model = "qwen3-30b-a3b", s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 8;
  add("Qwen3 MoE: query and key norms (--qk-layernorm)", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 8, s.precision = Precision::Fp8;
  add("MoE in FP8 (TransformerConfig's Transformer Engine version check for MoE FP8)", s);
  s = {};
  s.model = "gpt-oss-20b", s.gpus = 8, s.global_batch = 64, s.ep = 8;
  add("GPT-OSS: learned attention sinks, every other layer sliding (--softmax-type, --window-attn-skip-freq)", s);
  s = {};
  s.model = mla_moe_model(), s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 4, s.pp = 2;
  s.recompute = Recompute::Selective;
  s.recompute_modules = kernels::kRecomputeMlaUpProj | kernels::kRecomputeMlp | kernels::kRecomputeMoeAct;
  add("MLA, dense and MoE blocks, MTP; recomputing the MLA up-projections, dense MLP and expert activation", s);
  s = {};
  s.model = mixed_moe_model(), s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 8;
  s.recompute = Recompute::Selective, s.recompute_modules = kernels::kRecomputeMoe | kernels::kRecomputeMlp;
  add("recomputing the whole MoE layer and the dense MLP (--recompute-modules mlp moe)", s);
  s = {};
  s.model = mla_moe_model(), s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.ep = 4;
  s.recompute = Recompute::Selective, s.recompute_modules = kernels::kRecomputeSharedExperts | kernels::kRecomputeMoeAct;
  add("recomputing the shared experts and the expert activation (--recompute-modules moe_act shared_experts)", s);
  s = {};
  s.gpus = 16, s.seq = 8192, s.cp = 2, s.tp = 2, s.sp = true, s.recompute = Recompute::Selective;
  add("context parallel", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.pp = 2, s.sp = true, s.grad_reduce = 0, s.param_gather = 0, s.tp_comm = 0;
  add("overlap switches off", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.grad_reduce = 1, s.param_gather = 0, s.tp_comm = 1;
  add("grad-reduce and tp-comm overlap only", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.offload_optimizer = true;
  add("optimizer CPU offload", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.store_param_remainders = true, s.grad_reduce_in_bf16 = true;
  add("main weights as remainders, bf16 gradients", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.grad_bucket_size = 768000000;
  add("gradient buckets of 768M parameters", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.precision = Precision::Fp8, s.store_param_remainders = true;
  add("main weights as remainders asked for, FP8 weights held quantised: fp32 main weights", s);
  s = {};
  s.gpus = 8, s.tp = 2, s.sp = true, s.zero = 1, s.offload_activations = true;
  add("activation CPU offload", s);
  s = {};
  s.gpus = 8, s.tp = 2, s.sp = true, s.zero = 3, s.precision = Precision::Fp8, s.offload_activations = true,
  s.offload_layers = 12;
  add("activation CPU offload of the first 12 blocks, Megatron-FSDP, FP8", s);
  s = {};
  s.gpus = 16, s.global_batch = 64, s.tp = 2, s.pp = 2, s.sp = true, s.order = "tp-cp-pp-ep-dp";
  add("tp-pp-dp rank order", s);
  s = {};
  s.model = "sc21-gpt-1.7b", s.gpus = 16, s.global_batch = 64, s.seq = 2048, s.tp = 2, s.pp = 2, s.sp = true;
  add("GPT (LayerNorm, GELU, biases, learned positions, tied)", s);
  s = {};
  s.gpus = 8, s.tp = 2, s.sp = false, s.flash_attention = false, s.grad_reduce = 0;
  add("no sequence parallelism, unfused attention", s);
  s = {};
  s.gpus = 16, s.global_batch = 64, s.tp = 2, s.sp = true, s.attention = AttentionKernel::Flash2;
  add("dense tp2, FlashAttention-2 (--attention-backend flash)", s);
  s = {};
  s.gpus = 8, s.tp = 2, s.sp = true, s.cross_entropy = CrossEntropy::Fused;
  add("fused cross entropy (--cross-entropy-loss-fusion)", s);
  s = {};
  s.gpus = 32, s.global_batch = 128, s.seq = 8192, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.overlap_p2p = 0;
  add("interleaved, sends not overlapped (--no-overlap-p2p-communication)", s);
  return v;
}

// Transformer Engine's cross entropy is costed (Megatron-Bridge and NeMo 2 run it) but Megatron-LM
// core_v0.19 refuses it (arguments.py:1642-1647): the export says so instead of writing it.
TEST(MegatronExport, TransformerEngineCrossEntropyIsRefused) {
  PlanSpec s;
  s.gpus = 8, s.tp = 2, s.sp = true, s.cross_entropy = CrossEntropy::TransformerEngine;
  const BuiltPlan b = test::build_plan(s);
  ASSERT_TRUE(b.violations.empty()) << b.violations.front();
  try {
    (void)framework(FrameworkKind::Megatron).launch(b.problem, b.plan, s.model);
    ADD_FAILURE() << "exported a plan costed with Transformer Engine's cross entropy";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("arguments.py:1642"), std::string::npos) << e.what();
  }
}

// A model Megatron-LM's GPT model cannot build is refused, naming what it lacks, rather than
// exported as another model: Gemma 3's sandwich norms and GeGLU, BLOOM's ALiBi and embedding
// norm, GPT-J's parallel blocks and LM-head bias, Llama 4's chunked attention.
TEST(MegatronExport, ModelsItsGptCannotBuildAreRefused) {
  for (const auto& [model, lacks] :
       std::vector<std::pair<std::string, std::string>>{{"gemma3-27b", "norms other than one before attention"},
                                                        {"bloom-176b", "ALiBi"},
                                                        {"gpt-j-6b", "parallel blocks"},
                                                        {"llama4-scout", "chunked attention"}}) {
    PlanSpec s;
    s.model = model, s.gpus = 64, s.global_batch = 64, s.tp = 8, s.sp = true;
    if (model == "llama4-scout") s.ep = 8;
    const BuiltPlan b = test::build_plan(s);
    try {
      (void)framework(FrameworkKind::Megatron).launch(b.problem, b.plan, s.model);
      ADD_FAILURE() << "exported " << model;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot build"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(lacks), std::string::npos) << e.what();
    }
  }
}

TEST(MegatronExport, RuleTableAndPredicatesMatch) {
  std::set<std::string> ids;
  for (const RuleRow& r : rule_rows()) {
    EXPECT_TRUE(ids.insert(r.id).second) << r.id;
    EXPECT_TRUE(rules().count(r.id)) << "no predicate for " << r.id;
  }
  for (const auto& [id, rule] : rules()) {
    (void)rule;
    EXPECT_TRUE(ids.count(id)) << "predicate without a table row: " << id;
  }
}

TEST(MegatronExport, EveryExportMeetsEveryRuleAndSaysWhatThePlanSays) {
  for (const PlanSpec& spec : megatron_plans()) {
    const BuiltPlan b = test::build_plan(spec);
    ASSERT_TRUE(b.violations.empty()) << spec.name << ": " << b.violations.front();
    const std::string script = framework(FrameworkKind::Megatron).launch(b.problem, b.plan, spec.model);
    const LaunchRun run = test::run_launch(script);
    ASSERT_EQ(run.exit_code, 0) << spec.name << "\n" << run.err << "\n" << script;
    EXPECT_EQ(run.entry, "pretrain_gpt.py") << spec.name;
    const auto broken = check_command(run.args, run.env, run.world(), arch_of(b.problem.cluster.gpu));
    for (const std::string& why : broken) ADD_FAILURE() << spec.name << ": " << why << "\n" << script;
    expect_faithful(b, run, spec.name);
  }
}

// The exports this replaces: each breaks the rules the issue reported.
TEST(MegatronExport, TheOldExportsBreakTheRules) {
  struct Case {
    std::string file;
    long world;
    std::vector<std::string> broken;
  };
  const std::vector<Case> cases = {
      {"llama3-70b_64gpu_tp4_pp4_uneven.txt",
       64,
       {"required_args", "cuda_device_max_connections", "tokenizer_default", "train_iters_or_samples", "eval_interval_required",
        "single_data_source", "nest_no_effect_flags"}},
      {"llama3-8b_8gpu_zero3.txt", 8, {"required_args", "fsdp2_4", "fsdp2_6", "opg_needs_distopt"}},
      {"llama3-8b_32gpu_tp2_pp4_vpp2_uneven.txt", 32, {"required_args", "uneven_needs_nvspr", "cuda_device_max_connections"}},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv;
    std::istringstream in(test::read_all(kData + "old-exports/" + c.file));
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream words(line);
      for (std::string w; words >> w;)
        if (w != "\\") argv.push_back(w);
    }
    const auto broken = check_command(argv, {}, c.world, 9);
    for (const std::string& id : c.broken) {
      bool found = false;
      for (const std::string& b : broken) found = found || b.rfind(id + " (", 0) == 0;
      EXPECT_TRUE(found) << c.file << " should break " << id;
    }
  }
}

// The checker itself: a correct command passes, and one edit breaks the rule it should.
TEST(MegatronExport, CheckerCatchesSingleEdits) {
  PlanSpec s;
  s.gpus = 16, s.global_batch = 128, s.tp = 2, s.pp = 2, s.v = 2, s.sp = true;
  const BuiltPlan b = test::build_plan(s);
  const LaunchRun run = test::run_launch(framework(FrameworkKind::Megatron).launch(b.problem, b.plan, s.model));
  ASSERT_TRUE(check_command(run.args, run.env, 16, 9).empty());
  auto without = [&](const std::string& flag) {
    std::vector<std::string> a;
    for (std::size_t i = 0; i < run.args.size(); ++i) {
      if (run.args[i] == flag) {
        if (i + 1 < run.args.size() && run.args[i + 1].rfind("--", 0) != 0) ++i;
        continue;
      }
      a.push_back(run.args[i]);
    }
    return a;
  };
  auto breaks = [&](const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& id) {
    for (const std::string& w : check_command(argv, env, 16, 9))
      if (w.rfind(id + " (", 0) == 0) return true;
    return false;
  };
  EXPECT_TRUE(breaks(without("--hidden-size"), run.env, "required_args"));
  EXPECT_TRUE(breaks(run.args, {}, "cuda_device_max_connections"));
  EXPECT_TRUE(breaks(without("--group-query-attention"), run.env, "gqa_flag_needed"));
  EXPECT_TRUE(breaks(without("--eval-interval"), run.env, "eval_interval_required"));
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = run.args;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  // The export's allocator setting, and the two switches Megatron refuses it with.
  EXPECT_EQ(run.env.at("PYTORCH_CUDA_ALLOC_CONF"), "expandable_segments:True");
  EXPECT_TRUE(breaks(with({"--use-nccl-ub"}), run.env, "expandable_segments_nccl_ub"));
  const std::vector<std::string> te_graphs{"--cuda-graph-impl", "transformer_engine"};
  EXPECT_TRUE(breaks(with(te_graphs), run.env, "expandable_segments_te_cuda_graph"));
  std::map<std::string, std::string> unregistered = run.env;
  unregistered["NCCL_GRAPH_REGISTER"] = "0";
  EXPECT_FALSE(breaks(with(te_graphs), unregistered, "expandable_segments_te_cuda_graph"));
  std::map<std::string, std::string> cached = run.env;
  cached.erase("PYTORCH_CUDA_ALLOC_CONF");
  EXPECT_FALSE(breaks(with({"--use-nccl-ub"}), cached, "expandable_segments_nccl_ub"));
  EXPECT_TRUE(breaks(with({"--decoder-first-pipeline-num-layers", "14"}), run.env, "uneven_needs_nvspr"));
  EXPECT_TRUE(breaks(with({"--use-torch-fsdp2"}), run.env, "fsdp2_3"));
  EXPECT_TRUE(breaks(with({"--overlap-moe-expert-parallel-comm"}), run.env, "ep_overlap_needs_ep"));
  EXPECT_TRUE(breaks(with({"--overlap-moe-expert-parallel-comm"}), run.env, "ep_overlap_dispatcher"));
  EXPECT_TRUE(
      breaks(with({"--cross-entropy-loss-fusion", "--cross-entropy-fusion-impl", "te"}), run.env, "te_cross_entropy_rejected"));
  EXPECT_FALSE(breaks(with({"--cross-entropy-loss-fusion"}), run.env, "te_cross_entropy_rejected"));
  const std::vector<std::string> selective{"--recompute-granularity", "selective", "--recompute-modules"};
  auto recomputing = [&](std::vector<std::string> modules, std::vector<std::string> more = {}) {
    std::vector<std::string> extra = selective;
    extra.insert(extra.end(), modules.begin(), modules.end());
    extra.insert(extra.end(), more.begin(), more.end());
    return with(extra);
  };
  EXPECT_TRUE(breaks(recomputing({"attention"}), run.env, "recompute_modules_known"));
  EXPECT_TRUE(breaks(recomputing({"moe_act"}), run.env, "moe_act_needs_grouped_gemm"));
  EXPECT_TRUE(breaks(recomputing({"mla_up_proj"}), run.env, "mla_up_proj_needs_mla"));
  EXPECT_TRUE(breaks(recomputing({"layernorm"}, {"--fp8-format", "hybrid", "--fp8-recipe", "delayed"}), run.env,
                     "delayed_fp8_no_moe_act_layernorm"));
  EXPECT_FALSE(breaks(recomputing({"layernorm", "mlp"}), run.env, "recompute_modules_known"));
  EXPECT_FALSE(breaks(recomputing({"moe", "shared_experts"}), run.env, "recompute_modules_known"));
  EXPECT_TRUE(breaks(with({"--moe-router-enable-expert-bias"}), run.env, "expert_bias_needs_sigmoid"));
  EXPECT_FALSE(breaks(with({"--moe-router-enable-expert-bias", "--moe-router-score-function", "sigmoid"}), run.env,
                      "expert_bias_needs_sigmoid"));
  EXPECT_TRUE(breaks(with({"--moe-router-group-topk", "2"}), run.env, "group_limited_routing"));
  EXPECT_FALSE(parse_args(with({"--pipeline-parallel-split-points", "x"})).errors.empty());
  EXPECT_FALSE(parse_args(with({"--use-flash-attn"})).errors.size());                // a real flag ...
  EXPECT_TRUE(breaks(with({"--use-flash-attn"}), run.env, "nest_no_effect_flags"));  // ... that does nothing
}

// Megatron's own parser and validator (parse_and_validate_args, TransformerConfig, the
// interleaved schedule's checks) on exported commands, where a Python with Megatron-LM core_v0.19
// is given: NEST_MEGATRON_PYTHON (the interpreter) and NEST_MEGATRON_TREE (a core_v0.19.0 tree).
TEST(MegatronExport, MegatronValidatesExportedCommands) {
  const char* py = std::getenv("NEST_MEGATRON_PYTHON");
  const char* tree = std::getenv("NEST_MEGATRON_TREE");
  if (py == nullptr || tree == nullptr || *py == '\0' || *tree == '\0')
    GTEST_SKIP() << "set NEST_MEGATRON_PYTHON and NEST_MEGATRON_TREE (a Python with torch, and a Megatron-LM core_v0.19.0 "
                    "tree; .ci/install-validators makes both where it finds Python >= 3.12) to run Megatron's own "
                    "argument validation on exported commands";
  const std::string checker = std::string(NEST_SOURCE_DIR) + "/tests/tools/check_megatron_args.py";
  int checked = 0;
  for (const PlanSpec& spec : megatron_plans()) {
    if (const char* only = std::getenv("NEST_MEGATRON_CASES"); only != nullptr && spec.name.find(only) == std::string::npos)
      continue;
    const BuiltPlan b = test::build_plan(spec);
    ASSERT_TRUE(b.violations.empty()) << spec.name;
    const LaunchRun run = test::run_launch(framework(FrameworkKind::Megatron).launch(b.problem, b.plan, spec.model));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::string env = "WORLD_SIZE=" + std::to_string(run.world()) + " RANK=0";
    if (run.env.count("CUDA_DEVICE_MAX_CONNECTIONS"))
      env += " CUDA_DEVICE_MAX_CONNECTIONS=" + run.env.at("CUDA_DEVICE_MAX_CONNECTIONS");
    const auto r = test::run_command("cd '" + std::string(tree) + "' && env -u CUDA_DEVICE_MAX_CONNECTIONS " + env +
                                     " PYTHONPATH=. '" + py + "' '" + checker + "' --te-version 2.10 --arch " +
                                     std::to_string(arch_of(b.problem.cluster.gpu)) + " -- " + test::shell_join(run.args));
    EXPECT_EQ(r.exit_code, 0) << spec.name << ": " << r.out << r.err;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace nest
