// nest export --to deepspeed: the DeepSpeed config the script writes (here-document) against
// DeepSpeed 0.19.8's schema (tests/data/deepspeed-0.19.8/config-schema.json), the
// Megatron-DeepSpeed command against its parser's flags
// (tests/data/megatron-deepspeed_4efb479d/flags.json), both against the plan; and, where a
// Python with DeepSpeed is given, DeepSpeed's own DeepSpeedConfig on every exported config.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "framework/export_test_support.hpp"
#include "nest/io/json.hpp"

namespace nest {
namespace {

using test::BuiltPlan;
using test::LaunchRun;
using test::PlanSpec;

const std::string kData = std::string(NEST_TEST_DATA) + "/";

struct Exported {
  BuiltPlan built;
  LaunchRun run;
  Json config;
  std::string config_path, script;
};

std::string arg_value(const std::vector<std::string>& args, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag) return args[i + 1];
  return "";
}
bool has_arg(const std::vector<std::string>& args, const std::string& flag) {
  return std::find(args.begin(), args.end(), flag) != args.end();
}

Exported export_plan(const PlanSpec& spec) {
  Exported e;
  e.built = test::build_plan(spec);
  EXPECT_TRUE(e.built.violations.empty()) << spec.name << ": " << e.built.violations.front();
  e.script = framework(FrameworkKind::Deepspeed).launch(e.built.problem, e.built.plan, spec.model);
  e.run = test::run_launch(e.script, {{"DATA_PATH", "/data/nest-test_text_document"}});
  EXPECT_EQ(e.run.exit_code, 0) << spec.name << "\n" << e.run.err << "\n" << e.script;
  e.config_path = arg_value(e.run.args, "--deepspeed_config");
  e.config = read_json_file(e.config_path);
  return e;
}

std::vector<PlanSpec> deepspeed_plans() {
  std::vector<PlanSpec> v;
  auto add = [&](const std::string& name, PlanSpec s) {
    s.name = name;
    s.framework = FrameworkKind::Deepspeed;
    v.push_back(s);
  };
  PlanSpec s;
  s = {};
  s.gpus = 8, s.zero = 0, s.recompute = Recompute::Selective;
  add("ZeRO-0 data parallel", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.pp = 2, s.sp = true, s.zero = 1, s.global_batch = 64;
  add("ZeRO-1 tp2 pp2 (pipeline engine, overlap_comm off)", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.zero = 2, s.recompute = Recompute::Full;
  add("ZeRO-2 (--no-pipeline-parallel), full recompute", s);
  s = {};
  s.gpus = 8, s.zero = 3, s.microbatch = 2;
  add("ZeRO-3", s);
  s = {};
  s.gpus = 8, s.zero = 3, s.param_gather = 0;
  add("ZeRO-3 without parameter prefetch", s);
  s = {};
  s.gpus = 8, s.zero = 2, s.offload_optimizer = true;
  add("ZeRO-2 with optimizer offload", s);
  s = {};
  s.gpus = 8, s.zero = 3, s.offload_optimizer = true, s.tp = 2, s.sp = true;
  add("ZeRO-3 with optimizer offload", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.sp = true, s.zero = 1, s.recompute = Recompute::Full, s.offload_activations = true;
  add("ZeRO-1, activation checkpoints in host memory", s);
  s = {};
  s.model = "mixtral-8x7b", s.gpus = 32, s.global_batch = 64, s.tp = 2, s.pp = 2, s.ep = 4, s.zero = 1, s.sp = true;
  add("MoE ep4 tp2 pp2 ZeRO-1", s);
  s = {};
  s.model = "sc21-gpt-1.7b", s.gpus = 16, s.global_batch = 64, s.seq = 2048, s.tp = 2, s.zero = 1;
  add("GPT (LayerNorm, GELU, biases, learned positions, tied)", s);
  s = {};
  s.gpus = 16, s.tp = 2, s.pp = 2, s.sp = true, s.zero = 1, s.global_batch = 64, s.grad_accum_fp32 = true;
  add("ZeRO-1 with fp32 gradient accumulation (BF16_Optimizer)", s);
  return v;
}

// The DeepSpeed config against DeepSpeed 0.19.8's schema and the plan; "" when it holds.
std::vector<std::string> check_config(const Json& c, const LaunchRun& run, const BuiltPlan& b) {
  std::vector<std::string> bad;
  auto fail = [&](const std::string& why) { bad.push_back(why); };
  const Json schema = read_json_file(kData + "deepspeed-0.19.8/config-schema.json");
  const Parallelism& p = b.plan.par;
  // No "auto": DeepSpeed does not resolve it (runtime/config.py; config_utils.py:54-57).
  std::function<void(const Json&, const std::string&)> no_auto = [&](const Json& j, const std::string& where) {
    if (j.is_string() && j.get<std::string>() == "auto") fail(where + ": \"auto\"");
    if (j.is_object())
      for (const auto& [k, x] : j.items()) no_auto(x, where + "." + k);
  };
  no_auto(c, "config");
  for (const auto& [k, x] : c.items()) {
    (void)x;
    if (!schema["top_level"].contains(k)) fail("top-level key '" + k + "' is not one nest emits (ignored by DeepSpeed)");
  }
  for (const Json& k : schema["removed_top_level"])
    if (c.contains(k.get<std::string>())) fail("removed key " + k.get<std::string>() + " (runtime/config.py:133-141)");
  // Batch triple (runtime/config.py:590-605): the world size DeepSpeed sees is the data-parallel
  // size Megatron-DeepSpeed's mpu reports, world / (tp x pp).
  const long world = run.world();
  const long tp = std::stol(arg_value(run.args, "--tensor-model-parallel-size"));
  const long pp = std::stol(arg_value(run.args, "--pipeline-model-parallel-size"));
  const long dp = world / (tp * pp);
  for (const char* k : {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"})
    if (!c.contains(k) || !c[k].is_number_integer() || c[k].get<long>() <= 0) fail(std::string(k) + " missing or not positive");
  if (bad.empty()) {
    const long tb = c["train_batch_size"], mb = c["train_micro_batch_size_per_gpu"], gas = c["gradient_accumulation_steps"];
    if (tb != mb * gas * dp) fail("train_batch_size != micro x accumulation x dp");
    if (tb != std::stol(arg_value(run.args, "--global-batch-size"))) fail("train_batch_size != --global-batch-size");
    if (mb != std::stol(arg_value(run.args, "--micro-batch-size"))) fail("micro batch != --micro-batch-size");
    if (tb != b.problem.global_batch || mb != p.microbatch || gas != p.num_microbatches || dp != p.dp)
      fail("batch triple differs from the plan");
  }
  if (!c.contains("bf16") || !c["bf16"].value("enabled", false)) fail("bf16.enabled must be true");
  if (c.contains("fp16") && c["fp16"].value("enabled", false)) fail("fp16 with bf16 (runtime/config.py:511-512)");
  if (!c.contains("gradient_clipping") || !c["gradient_clipping"].is_number()) fail("gradient_clipping not stated");
  // fp32 accumulation selects the BF16_Optimizer at ZeRO-1 only; without ZeRO DeepSpeed raises
  // (engine.py:2305-2323 in the 0.19.8 sdist).
  const bool fp32_accum = c.contains("data_types") && c["data_types"].value("grad_accum_dtype", "") == "fp32";
  if (fp32_accum != b.problem.options.grad_accum_fp32) fail("data_types.grad_accum_dtype differs from the plan");
  if (fp32_accum && p.zero != 1) fail("fp32 gradient accumulation outside ZeRO-1");
  // zero_optimization: every key a field (or alias) of DeepSpeedZeroConfig, which forbids others.
  const Json& z = c["zero_optimization"];
  std::map<std::string, Json> fields;
  for (const Json& f : schema["zero_fields"]) {
    fields[f["name"].get<std::string>()] = f;
    if (f.contains("alias")) fields[f["alias"].get<std::string>()] = f;
  }
  for (const auto& [k, x] : z.items()) {
    if (!fields.count(k)) {
      fail("zero_optimization." + k + ": not a field of DeepSpeedZeroConfig (extra=forbid)");
      continue;
    }
    const Json& f = fields[k];
    const std::string type = f["type"].get<std::string>();
    if ((type == "bool" || type == "Optional[bool]") && !x.is_boolean()) fail("zero_optimization." + k + " must be a bool");
    if (type == "int" && !x.is_number_integer()) fail("zero_optimization." + k + " must be an integer");
    if (f.contains("constraint") && x.is_number()) {
      const double val = x.get<double>();
      if ((f["constraint"] == "gt0" && !(val > 0)) || (f["constraint"] == "ge0" && !(val >= 0)))
        fail("zero_optimization." + k + " out of range (" + f["constraint"].get<std::string>() + ")");
    }
  }
  for (const Json& k : schema["removed_zero"])
    if (z.contains(k.get<std::string>())) fail("removed zero key " + k.get<std::string>());
  for (const char* k : {"stage", "overlap_comm", "contiguous_gradients", "reduce_bucket_size"})
    if (!z.contains(k)) fail(std::string("zero_optimization.") + k + " not stated");
  const int stage = z.value("stage", -1);
  if (stage < 0 || stage > 3) fail("stage outside 0..3");
  if (stage != p.zero) fail("stage differs from the plan's ZeRO");
  if (stage != std::stoi(arg_value(run.args, "--zero-stage"))) fail("--zero-stage differs from the config's stage");
  if (z.value("overlap_comm", false) != p.overlap_grad_reduce) fail("overlap_comm differs from the plan");
  if (pp > 1 && z.value("overlap_comm", false)) fail("overlap_comm under PP (DeepSpeed turns it off, engine.py:2663-2666)");
  // Offload (runtime/zero/offload_config.py): the optimizer for stages 1-3, parameters for 3 only.
  if (z.contains("offload_optimizer")) {
    const Json& o = z["offload_optimizer"];
    std::set<std::string> ok;
    for (const Json& f : schema["offload_optimizer_fields"]) ok.insert(f["name"].get<std::string>());
    for (const auto& [k, x] : o.items()) {
      (void)x;
      if (!ok.count(k)) fail("offload_optimizer." + k + ": not a field");
    }
    const std::string dev = o.value("device", "none");
    if (dev != "cpu" && dev != "nvme" && dev != "none") fail("offload_optimizer.device " + dev);
    if (stage == 0) fail("offload_optimizer at stage 0");
  }
  if ((z.contains("offload_optimizer") && z["offload_optimizer"].value("device", "none") != "none") != p.offload_optimizer)
    fail("offload_optimizer differs from the plan");
  if (z.contains("offload_param") && stage != 3) fail("offload_param below stage 3 is silently ignored");
  // Pipeline engine and ZeRO (runtime/pipe/engine.py:76-77; Megatron-DeepSpeed --no-pipeline-parallel).
  const bool no_pipe = has_arg(run.args, "--no-pipeline-parallel");
  if (no_pipe && pp != 1) fail("--no-pipeline-parallel with pp > 1 (megatron/arguments.py:94-96)");
  if (!no_pipe && stage >= 2) fail("ZeRO-2/3 with DeepSpeed's pipeline engine (runtime/pipe/engine.py:76-77)");
  if (b.problem.model.is_moe() && stage == 3) fail("MoE with ZeRO-3 (runtime/engine.py:2197-2218)");
  return bad;
}

struct MdsFlag {
  std::string kind, nargs;
  std::vector<std::string> choices;
};

std::vector<std::string> check_flags(const std::vector<std::string>& args) {
  static const std::map<std::string, MdsFlag> table = [] {
    std::map<std::string, MdsFlag> t;
    const Json j = read_json_file(kData + "megatron-deepspeed_4efb479d/flags.json");
    for (const Json& f : j["flags"]) {
      MdsFlag d;
      d.kind = f["kind"].get<std::string>();
      if (f.contains("nargs")) d.nargs = f["nargs"].get<std::string>();
      if (f.contains("choices")) d.choices = f["choices"].get<std::vector<std::string>>();
      t[f["flag"].get<std::string>()] = d;
    }
    return t;
  }();
  std::vector<std::string> bad;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < args.size();) {
    const std::string flag = args[i++];
    const auto it = table.find(flag);
    if (it == table.end()) {
      bad.push_back(flag + ": not a Megatron-DeepSpeed@4efb479d / DeepSpeed flag");
      continue;
    }
    if (!seen.insert(flag).second) bad.push_back(flag + ": given twice");
    const MdsFlag& d = it->second;
    if (d.kind == "store_true" || d.kind == "store_false") continue;
    std::vector<std::string> values;
    while (i < args.size() && args[i].rfind("--", 0) != 0) {
      values.push_back(args[i++]);
      if (d.nargs.empty()) break;
    }
    if (values.empty()) bad.push_back(flag + ": needs a value");
    for (const std::string& x : values) {
      bool ok = true;
      if (d.kind == "int") ok = std::regex_match(x, std::regex("-?[0-9]+"));
      if (d.kind == "float") ok = std::regex_match(x, std::regex("-?[0-9.]+(e-?[0-9]+)?"));
      if (ok && !d.choices.empty()) ok = std::find(d.choices.begin(), d.choices.end(), x) != d.choices.end();
      if (!ok) bad.push_back(flag + " " + x + ": not a valid " + d.kind + " value");
    }
  }
  return bad;
}

void expect_faithful(const Exported& e, const std::string& name) {
  const auto& a = e.run.args;
  const ModelConfig& m = e.built.problem.model;
  const Parallelism& p = e.built.plan.par;
  EXPECT_EQ(e.run.entry, "pretrain_gpt.py") << name;
  EXPECT_EQ(e.run.world(), p.gpus()) << name;
  EXPECT_EQ(arg_value(a, "--num-layers"), std::to_string(m.layers)) << name;
  EXPECT_EQ(arg_value(a, "--hidden-size"), std::to_string(m.hidden)) << name;
  EXPECT_EQ(arg_value(a, "--num-attention-heads"), std::to_string(m.heads)) << name;
  EXPECT_EQ(arg_value(a, "--num-key-value-heads").empty() ? m.heads : std::stol(arg_value(a, "--num-key-value-heads")),
            m.kv_heads)
      << name;
  // _NullTokenizer adds one end-of-document token (megatron/tokenizer/tokenizer.py:510-514).
  EXPECT_EQ(std::stol(arg_value(a, "--vocab-size")) + 1, m.vocab) << name;
  EXPECT_EQ(arg_value(a, "--tensor-model-parallel-size"), std::to_string(p.tp)) << name;
  EXPECT_EQ(arg_value(a, "--pipeline-model-parallel-size"), std::to_string(p.pp)) << name;
  EXPECT_EQ(has_arg(a, "--sequence-parallel"), p.sp && p.tp > 1) << name;
  EXPECT_EQ(e.run.env.count("CUDA_DEVICE_MAX_CONNECTIONS") > 0, p.sp && p.tp > 1) << name;
  EXPECT_EQ(e.run.env.count("PYTORCH_CUDA_ALLOC_CONF") ? e.run.env.at("PYTORCH_CUDA_ALLOC_CONF") : "", "expandable_segments:True")
      << name;
  EXPECT_EQ(arg_value(a, "--seq-length"), std::to_string(e.built.problem.seq_len)) << name;
  EXPECT_EQ(has_arg(a, "--cpu-optimizer"), p.offload_optimizer) << name;
  EXPECT_EQ(has_arg(a, "--checkpoint-in-cpu"), p.offload_activations) << name;
  EXPECT_EQ(arg_value(a, "--recompute-granularity").empty() ? "none" : arg_value(a, "--recompute-granularity"),
            to_string(p.recompute))
      << name;
  if (m.is_moe()) {
    EXPECT_EQ(arg_value(a, "--num-experts"), std::to_string(m.experts)) << name;
    EXPECT_EQ(arg_value(a, "--topk"), std::to_string(m.experts_per_token)) << name;
    EXPECT_EQ(arg_value(a, "--moe-expert-parallel-size"), std::to_string(p.ep)) << name;
    const long interval = std::stol(arg_value(a, "--expert-interval"));
    for (std::size_t i = 0; i < m.moe_layer.size(); ++i) EXPECT_EQ(m.moe_layer[i], (i + 1) % interval == 0) << name;
  }
}

TEST(DeepspeedExport, ConfigMeetsTheSchemaAndCommandTheParser) {
  for (const PlanSpec& spec : deepspeed_plans()) {
    const Exported e = export_plan(spec);
    for (const std::string& why : check_config(e.config, e.run, e.built))
      ADD_FAILURE() << spec.name << ": " << why << "\n" << e.script;
    for (const std::string& why : check_flags(e.run.args)) ADD_FAILURE() << spec.name << ": " << why;
    expect_faithful(e, spec.name);
  }
}

// The checks catch what DeepSpeed refuses.
TEST(DeepspeedExport, SchemaCheckCatchesBadConfigs) {
  PlanSpec s;
  s.framework = FrameworkKind::Deepspeed;
  s.gpus = 8, s.zero = 2;
  const Exported e = export_plan(s);
  ASSERT_TRUE(check_config(e.config, e.run, e.built).empty());
  auto broken = [&](const std::function<void(Json&)>& edit) {
    Json c = e.config;
    edit(c);
    return !check_config(c, e.run, e.built).empty();
  };
  EXPECT_TRUE(broken([](Json& c) { c["train_batch_size"] = "auto"; }));
  EXPECT_TRUE(broken([](Json& c) { c["gradient_accumulation_steps"] = c["gradient_accumulation_steps"].get<long>() + 1; }));
  EXPECT_TRUE(broken([](Json& c) { c["zero_optimization"]["stage"] = 4; }));
  EXPECT_TRUE(broken([](Json& c) { c["zero_optimization"]["reduce_bucket_size"] = 0; }));
  EXPECT_TRUE(broken([](Json& c) { c["zero_optimization"]["mics_shard_size"] = 8; }));
  EXPECT_TRUE(broken([](Json& c) { c["zero_optimization"]["no_such_field"] = true; }));
  EXPECT_TRUE(broken([](Json& c) { c["zero_optimization"]["offload_param"] = Json{{"device", "cpu"}}; }));
  EXPECT_TRUE(broken([](Json& c) { c["elasticity"] = Json::object(); }));
  EXPECT_FALSE(check_flags({"--no-such-flag"}).empty());
  EXPECT_FALSE(check_flags({"--zero-stage", "two"}).empty());
}

// DeepSpeed's own DeepSpeedConfig on every exported config, where a Python with DeepSpeed is
// given (NEST_DEEPSPEED_PYTHON, or python3 when it imports deepspeed).
TEST(DeepspeedExport, DeepSpeedAcceptsExportedConfigs) {
  const std::string py = test::python_with("NEST_DEEPSPEED_PYTHON", "deepspeed");
  if (py.empty())
    GTEST_SKIP() << "DeepSpeed is not importable: set NEST_DEEPSPEED_PYTHON to a Python with deepspeed 0.19.8 to validate "
                    "exported configs with DeepSpeedConfig";
  const std::string validator = std::string(NEST_SOURCE_DIR) + "/tests/tools/validate_deepspeed.py";
  for (const PlanSpec& spec : deepspeed_plans()) {
    const Exported e = export_plan(spec);
    const Parallelism& p = e.built.plan.par;
    const auto r = test::run_command("'" + py + "' '" + validator + "' '" + e.config_path + "' --dp " + std::to_string(p.dp) +
                                     " --pp " + std::to_string(p.pp) + " --json");
    ASSERT_EQ(r.exit_code, 0) << spec.name << ": " << r.out << r.err;
    const Json j = parse_json(r.out.substr(r.out.find('{')), "validate_deepspeed.py");
    const Json& v = j["validation"];
    EXPECT_TRUE(v["ok"].get<bool>()) << spec.name << ": " << r.out;
    EXPECT_TRUE(v["warnings"].empty()) << spec.name << ": " << v["warnings"].dump();
    EXPECT_EQ(v["world_size"].get<long>(), p.dp) << spec.name;
    EXPECT_EQ(v["zero_stage"].get<int>(), p.zero) << spec.name;
    EXPECT_EQ(v["grad_accum_dtype"].is_null() ? "" : v["grad_accum_dtype"].get<std::string>(),
              e.built.problem.options.grad_accum_fp32 ? "fp32" : "")
        << spec.name;
    EXPECT_EQ(v["train_batch_size"].get<long>(), e.built.problem.global_batch) << spec.name;
    EXPECT_EQ(v["gradient_accumulation_steps"].get<long>(), p.num_microbatches) << spec.name;
    EXPECT_EQ(v["overlap_comm"].get<bool>(), p.overlap_grad_reduce) << spec.name;
    EXPECT_EQ(!v["offload_optimizer"].is_null() && v["offload_optimizer"] != "none", p.offload_optimizer) << spec.name;
  }
}

}  // namespace
}  // namespace nest
