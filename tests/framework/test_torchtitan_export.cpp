// nest export --to torchtitan: the command line's shape (what torchtitan 0.3's tyro parser and
// pipeline split need, checked always) and, where a Python with torchtitan is given,
// torchtitan's own parser, ParallelDims, device mesh, model build and parallelisation on the
// exported command (tests/tools/validate_torchtitan.py, exit 0 expected).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "framework/export_test_support.hpp"
#include "nest/core/error.hpp"
#include "nest/io/text.hpp"
#include "nest/model/layer_graph.hpp"

namespace nest {
namespace {

using test::BuiltPlan;
using test::LaunchRun;
using test::PlanSpec;

std::vector<PlanSpec> torchtitan_plans() {
  std::vector<PlanSpec> v;
  auto add = [&](const std::string& name, PlanSpec s) {
    s.name = name;
    s.framework = FrameworkKind::Torchtitan;
    v.push_back(s);
  };
  PlanSpec s;
  s = {};
  s.gpus = 16, s.global_batch = 32, s.seq = 8192, s.tp = 2, s.pp = 2, s.sp = true, s.zero = 3, s.recompute = Recompute::Selective;
  add("llama3_8b, FSDP 4 x TP 2 x PP 2, 1F1B", s);
  s = {};
  s.gpus = 16, s.global_batch = 64, s.tp = 2, s.pp = 2, s.v = 2, s.sp = true, s.zero = 0, s.compile = true, s.tp_comm = 1;
  s.recompute = Recompute::Full, s.blocks = {14, 18};
  add("llama3-8b (written config module), replicate 4, interleaved uneven split, compile, async TP", s);
  s = {};
  s.gpus = 16, s.global_batch = 64, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.zero = 3;
  s.recompute = Recompute::Full, s.blocks = {7, 8, 8, 9};
  add("llama3_8b, interleaved, embedding and head chunks a block short", s);
  s = {};
  s.gpus = 16, s.global_batch = 12, s.tp = 2, s.pp = 4, s.v = 2, s.sp = true, s.zero = 3, s.recompute = Recompute::Full;
  add("llama3_8b, interleaved, 6 microbatches on 4 stages (one PyTorch round, no multiple of pp)", s);
  s = {};
  s.gpus = 8, s.global_batch = 16, s.pp = 2, s.v = 3, s.zero = 3, s.recompute = Recompute::Full, s.blocks = {4, 28};
  add("llama3_8b, interleaved v 3, the embedding alone in its chunk (two blocks short)", s);
  s = {};
  s.model = "llama2-7b", s.gpus = 8, s.global_batch = 32, s.tp = 2, s.cp = 2, s.sp = true, s.zero = 3;
  s.recompute = Recompute::Full, s.offload_optimizer = true, s.loss_chunks = 4;
  add("llama2-7b (written config module), CP 2, CPU offload", s);
  s = {};
  s.gpus = 8, s.global_batch = 16, s.tp = 2, s.sp = true, s.zero = 3, s.precision = Precision::Fp8;
  add("llama3-8b float8 (written config module)", s);
  s = {};
  s.gpus = 8, s.global_batch = 16, s.tp = 2, s.sp = true, s.zero = 3, s.precision = Precision::Fp8;
  s.fp8_recipe = Fp8Recipe::RowwiseGwHp, s.fuse_qkv = false, s.compile = true, s.tp_comm = 0;
  add("llama3-8b float8 rowwise_with_gw_hp, separate wq/wk/wv (written config module)", s);
  s = {};
  s.gpus = 32, s.global_batch = 64, s.tp = 2, s.sp = true, s.zero = 3, s.dp_shard = 4, s.recompute = Recompute::Selective;
  add("llama3_8b, HSDP: shards of 4 replicated 4 times x TP 2", s);
  s = {};
  s.gpus = 8, s.global_batch = 16, s.zero = 3, s.compile = true, s.compile_loss = 0;
  add("llama3_8b, FSDP 8, the model compiled without the loss", s);
  s = {};
  s.model = "qwen3-8b", s.gpus = 16, s.global_batch = 64, s.tp = 2, s.pp = 2, s.sp = true, s.zero = 3, s.compile = true;
  s.tp_comm = 1, s.recompute = Recompute::Selective;
  add("qwen3-8b (written config module on torchtitan's qwen3 model), FSDP 4 x TP 2 x PP 2, async TP", s);
  s = {};
  s.model = "qwen3-30b-a3b", s.gpus = 16, s.global_batch = 32, s.pp = 2, s.ep = 8, s.zero = 3, s.recompute = Recompute::Full;
  add("qwen3-30b-a3b (written config module, MoE on torchtitan's qwen3 model), FSDP 8 x PP 2, EP 8", s);
  s = {};
  s.model = "qwen3-30b-a3b", s.gpus = 32, s.global_batch = 64, s.ep = 8, s.zero = 3, s.dp_shard = 16;
  s.recompute = Recompute::Full;
  add("qwen3-30b-a3b, HSDP: shards of 16 replicated twice, EP 8 inside each shard group", s);
  s = {};
  s.model = "qwen3-30b-a3b", s.gpus = 16, s.global_batch = 32, s.ep = 8, s.zero = 3, s.recompute = Recompute::Full;
  s.precision = Precision::Fp8;
  add("qwen3-30b-a3b float8: linears and the experts' grouped GEMMs (Float8GroupedExpertsConverter), FSDP 16, EP 8", s);
  s = {};
  s.model = "qwen3-30b-a3b", s.cluster = "dgx-b200", s.gpus = 16, s.global_batch = 32, s.pp = 2, s.ep = 8, s.zero = 3;
  s.recompute = Recompute::Full, s.precision = Precision::Mxfp8, s.compile = true;
  add("qwen3-30b-a3b MXFP8 (MXFP8GroupedExpertsConverter), FSDP 8 x PP 2, EP 8, compiled", s);
  s = {};
  s.model = "gpt-oss-20b", s.gpus = 8, s.global_batch = 16, s.ep = 8, s.zero = 3, s.recompute = Recompute::Full;
  add("gpt_oss_20b (stock config: sinks, alternating windows, biases), FSDP 8, EP 8", s);
  s.precision = Precision::Fp8;
  add("gpt_oss_20b float8 (written module: the stock function with converters), FSDP 8, EP 8", s);
  s.precision = Precision::Bf16, s.cp = 2, s.ep = 4, s.seq = 8192;
  add("gpt_oss_20b, CP 2 (written module: the stock function on FlexAttention, which CP needs)", s);
  s = {};
  s.model = "deepseek-v3", s.gpus = 256, s.global_batch = 512, s.tp = 2, s.sp = true, s.ep = 128, s.zero = 3;
  s.recompute = Recompute::Selective;
  add("deepseek-v3 (written config module: torchtitan's 671B flavor with its MTP module and MTP loss), FSDP 128 x TP 2, EP 128",
      s);
  s.precision = Precision::Fp8;
  add("deepseek-v3 float8 (as torchtitan's deepseek_v3_671b_float8), FSDP 128 x TP 2, EP 128", s);
  return v;
}

struct Exported {
  BuiltPlan built;
  std::string script;
  LaunchRun run;
};

Exported export_plan(const PlanSpec& spec, const std::map<std::string, std::string>& env = {}) {
  Exported e;
  e.built = test::build_plan(spec);
  EXPECT_TRUE(e.built.violations.empty()) << spec.name << ": " << e.built.violations.front();
  e.script = framework(FrameworkKind::Torchtitan).launch(e.built.problem, e.built.plan, spec.model);
  e.run = test::run_launch(e.script, env);
  return e;
}

std::string value(const std::vector<std::string>& a, const std::string& flag) {
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == flag) return a[i + 1];
  return "";
}

// What torchtitan 0.3 needs of the command line and the plan says (NOTES of the framework:
// tyro flags, subcommand last, parts per stage, batch semantics).
void expect_shape(const Exported& e, const std::string& name) {
  const auto& a = e.run.args;
  const Parallelism& p = e.built.plan.par;
  ASSERT_FALSE(a.empty()) << name;
  EXPECT_EQ(e.run.entry, "-m torchtitan.train") << name;
  EXPECT_EQ(e.run.world(), p.gpus()) << name;
  // The activation-checkpoint subcommand is last (distributed/activation_checkpoint.py:332-337).
  EXPECT_EQ(a.back(), std::string("activation_checkpoint:") + to_string(p.recompute)) << name;
  for (std::size_t i = 0; i + 1 < a.size(); ++i) EXPECT_NE(a[i].rfind("activation_checkpoint:", 0), 0u) << name;
  // No TOML, no flags that 0.3 dropped, booleans without values.
  for (const std::string& w : a) {
    EXPECT_EQ(w.find(".toml"), std::string::npos) << name;
    EXPECT_EQ(w.find("pipeline_parallel_split_points"), std::string::npos) << name;
    EXPECT_EQ(w.find("--model."), std::string::npos) << name;
    EXPECT_NE(w, "true") << name;
    EXPECT_NE(w, "false") << name;
  }
  const long rep = std::stol(value(a, "--parallelism.data_parallel_replicate_degree"));
  const long shard = std::stol(value(a, "--parallelism.data_parallel_shard_degree"));
  const long tp = std::stol(value(a, "--parallelism.tensor_parallel_degree"));
  const long cp = std::stol(value(a, "--parallelism.context_parallel_degree"));
  const long pp = std::stol(value(a, "--parallelism.pipeline_parallel_degree"));
  EXPECT_EQ(rep * shard * tp * cp * pp, e.run.world()) << name;  // parallel_dims.py:170-189
  EXPECT_EQ(shard, p.zero >= 3 ? (p.dp_shard > 0 ? p.dp_shard : p.dp) : 1) << name;
  EXPECT_EQ(rep * shard, p.dp) << name;
  EXPECT_EQ(tp, p.tp) << name;
  EXPECT_EQ(cp, p.cp) << name;
  EXPECT_EQ(pp, p.pp) << name;
  const long local = std::stol(value(a, "--training.local_batch_size"));
  const long global = std::stol(value(a, "--training.global_batch_size"));
  EXPECT_EQ(global, e.built.problem.global_batch) << name;
  EXPECT_EQ(value(a, "--training.seq_len"), std::to_string(e.built.problem.seq_len)) << name;
  EXPECT_EQ(std::find(a.begin(), a.end(), "--training.disable_cuda_graphs") != a.end(), true) << name;
  EXPECT_EQ(global % (local * rep * shard), 0) << name;  // trainer.py:415-433
  if (p.pp > 1) {
    const long mb = std::stol(value(a, "--parallelism.pipeline_parallel_microbatch_size"));
    EXPECT_EQ(mb, p.microbatch) << name;
    EXPECT_EQ(local / mb, p.num_microbatches) << name;     // microbatches per step
    EXPECT_EQ(global / (local * rep * shard), 1) << name;  // no accumulation on top
    const int v = p.schedule == Schedule::Interleaved ? p.virtual_stages : 1;
    EXPECT_EQ(value(a, "--parallelism.pipeline_parallel_schedule"), v > 1 ? "Interleaved1F1B" : "1F1B") << name;
    // Parts: one word each, pp x v of them, in model order; layers ascending, all covered once.
    std::vector<std::string> parts;
    const auto at = std::find(a.begin(), a.end(), "--parallelism.module_fqns_per_model_part");
    ASSERT_NE(at, a.end()) << name;
    for (auto it = at + 1; it != a.end() && it->rfind("--", 0) != 0 && it->find(':') == std::string::npos; ++it)
      parts.push_back(*it);
    ASSERT_EQ(parts.size(), static_cast<std::size_t>(p.pp * v)) << name;
    int next = 0;
    std::vector<int> per_stage(static_cast<std::size_t>(p.pp), 0);
    // Each part holds the blocks of the chunk that was costed (the embedding's and the head's
    // chunks may be a block short: split.hpp).
    const auto layout = layout_stages(e.built.plan.blocks_per_stage, v);
    for (std::size_t k = 0; k < parts.size(); ++k) {
      const auto fqns = split(parts[k], ',');
      const auto [first_node, last_node] = layout[k % static_cast<std::size_t>(p.pp)].chunks[k / static_cast<std::size_t>(p.pp)];
      const int L = static_cast<int>(e.built.problem.model.layers);
      EXPECT_EQ(std::count_if(fqns.begin(), fqns.end(), [](const std::string& f) { return f.rfind("layers.", 0) == 0; }),
                std::min(last_node, L) - std::max(first_node, 1) + 1)
          << name << ": part " << k;
      for (const std::string& f : fqns) {
        if (f.rfind("layers.", 0) == 0) {
          EXPECT_EQ(std::stoi(f.substr(7)), next++) << name;
          ++per_stage[k % static_cast<std::size_t>(p.pp)];
        } else if (f == "tok_embeddings") {
          EXPECT_EQ(k, 0u) << name;
        } else {
          EXPECT_TRUE(f == "norm" || f == "lm_head") << name << ": " << f;
          EXPECT_EQ(k, parts.size() - 1) << name;
        }
      }
    }
    EXPECT_EQ(next, e.built.problem.model.layers) << name;
    EXPECT_EQ(per_stage, e.built.plan.blocks_per_stage) << name;
  } else {
    EXPECT_EQ(local, p.microbatch) << name;
    EXPECT_EQ(global / (local * rep * shard), p.num_microbatches) << name;  // torchtitan accumulates
  }
  const bool compile = std::find(a.begin(), a.end(), "--compile.enable") != a.end();
  EXPECT_EQ(compile, e.built.problem.options.compile) << name;
  // Async TP is the config module's dist_gemm GEMMs (the compile flag is read by no trainer code).
  const bool dist_gemm = e.script.find("tp_gemm_backend=\"dist_gemm\"") != std::string::npos ||
                         e.script.find("TP_GEMM_BACKEND = \"dist_gemm\"") != std::string::npos;
  EXPECT_EQ(dist_gemm, p.tp_comm_overlap) << name;
  EXPECT_EQ(value(a, "--parallelism.spmd_backend") == "spmd_types", p.tp_comm_overlap) << name;
  for (const std::string& w : a) EXPECT_EQ(w.find("async_tensor_parallel"), std::string::npos) << name;
  EXPECT_EQ(std::find(a.begin(), a.end(), "--training.enable_cpu_offload") != a.end(), p.offload_optimizer) << name;
  if (e.built.problem.options.loss_chunks > 0) {
    EXPECT_EQ(value(a, "--loss.num_chunks"), std::to_string(e.built.problem.options.loss_chunks)) << name;
  }
}

TEST(TorchtitanExport, CommandLineHasTheShapeTorchtitanNeeds) {
  for (const PlanSpec& spec : torchtitan_plans()) {
    const Exported e = export_plan(spec);
    ASSERT_EQ(e.run.exit_code, 0) << spec.name << "\n" << e.run.err << "\n" << e.script;
    expect_shape(e, spec.name);
  }
}

TEST(TorchtitanExport, StockConfigsForLlama3AndWrittenModulesOtherwise) {
  PlanSpec s;
  s.framework = FrameworkKind::Torchtitan, s.zero = 3;
  Exported e = export_plan(s);
  EXPECT_EQ(value(e.run.args, "--module"), "llama3");
  EXPECT_EQ(value(e.run.args, "--config"), "llama3_8b");
  // Past the stock RoPE table's 131,072 positions (decoder.py:165-172) the module is written.
  PlanSpec long_seq = s;
  long_seq.seq = 262144, long_seq.global_batch = 8, long_seq.gpus = 8;
  e = export_plan(long_seq);
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_llama3_8b");
  EXPECT_NE(e.script.find("max_seq_len=262144"), std::string::npos);
  // A Llama with MLP biases is not torchtitan's llama3 model (which would drop them).
  PlanSpec biased = s;
  biased.model = test::write_temp("llama-mlp-bias.json", R"({"model_type": "llama", "hidden_size": 1024,
      "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8, "intermediate_size": 2816,
      "vocab_size": 32000, "max_position_embeddings": 4096, "rope_theta": 10000, "mlp_bias": true})");
  e = export_plan(biased);
  EXPECT_NE(e.script.find("cannot express this model (linear biases)"), std::string::npos) << e.script;
  s.model = "llama2-7b";
  e = export_plan(s);
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_llama2_7b");
  EXPECT_TRUE(std::filesystem::exists(e.run.dir + "/nest_torchtitan/nest_tt_llama2_7b.py"));
  EXPECT_NE(e.run.env.at("PYTHONPATH").find(e.run.dir + "/nest_torchtitan"), std::string::npos);
  // Models the llama3 module cannot express: the script names the module it needs and stops
  // with that message until it is given.
  s.model = "mixtral-8x7b", s.gpus = 8, s.ep = 1;
  e = export_plan(s);
  EXPECT_NE(e.run.exit_code, 0);
  EXPECT_NE(e.run.err.find("NEST_TT_CONFIGS"), std::string::npos) << e.run.err;
  EXPECT_NE(e.script.find("REQUIRED: torchtitan 0.3's llama3 model cannot express this model (mixture of experts)"),
            std::string::npos)
      << e.script;
  e = export_plan(s, {{"NEST_TT_CONFIGS", "/opt/configs"}});
  EXPECT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_configs");
  EXPECT_EQ(value(e.run.args, "--config"), "nest_mixtral_8x7b");
  EXPECT_EQ(value(e.run.args, "--parallelism.expert_parallel_degree"), "1");
  EXPECT_NE(e.script.find("nor its qwen3 model (no query and key norms)"), std::string::npos) << e.script;
  // Qwen3's query and key norms are not the llama3 model's: torchtitan's qwen3 model with this
  // model's shape, dense or MoE.
  s.model = "qwen3-8b", s.gpus = 8;
  e = export_plan(s);
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_qwen3_8b");
  EXPECT_TRUE(std::filesystem::exists(e.run.dir + "/nest_torchtitan/nest_tt_qwen3_8b.py"));
  EXPECT_NE(e.script.find("torchtitan's qwen3 model with this model's shape"), std::string::npos) << e.script;
  s.model = "qwen3-30b-a3b", s.ep = 8;
  e = export_plan(s);
  EXPECT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_NE(e.script.find("qwen3._build_qwen3_moe_layers("), std::string::npos) << e.script;
  EXPECT_EQ(value(e.run.args, "--parallelism.expert_parallel_degree"), "8");
  // DeepSeek-V3 is torchtitan's 671B flavor with the model's MTP modules and the MTP loss.
  PlanSpec ds = s;
  ds.model = "deepseek-v3", ds.gpus = 256, ds.global_batch = 512, ds.ep = 128;
  e = export_plan(ds);
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_deepseek_v3");
  EXPECT_NE(e.script.find("num_mtp_layers=1"), std::string::npos) << e.script;
  EXPECT_NE(e.script.find("MTPLoss.Config"), std::string::npos) << e.script;
  // GPT-OSS as published is torchtitan's own gpt_oss model (its stock config functions).
  s.model = "gpt-oss-120b";
  e = export_plan(s);
  EXPECT_EQ(value(e.run.args, "--module"), "gpt_oss");
  EXPECT_EQ(value(e.run.args, "--config"), "gpt_oss_120b");
}

// The config module carries the plan's float8 recipe and QKV layout; a tensorwise plan (costed
// for earlier torchtitan) is refused: torchtitan 0.3 has no tensorwise recipe.
TEST(TorchtitanExport, Float8RecipeAndQkvLayoutAsPlanned) {
  PlanSpec s;
  s.framework = FrameworkKind::Torchtitan, s.zero = 3, s.tp = 2, s.sp = true, s.precision = Precision::Fp8, s.tp_comm = 0;
  Exported e = export_plan(s);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  const std::string& module = e.script;  // the config module is written by the script
  EXPECT_NE(module.find("recipe_name=\"rowwise\""), std::string::npos) << module;
  EXPECT_NE(module.find("fuse_qkv=True"), std::string::npos) << module;
  s.fp8_recipe = Fp8Recipe::RowwiseGwHp, s.fuse_qkv = false;
  e = export_plan(s);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  const std::string& gw = e.script;
  EXPECT_NE(gw.find("recipe_name=\"rowwise_with_gw_hp\""), std::string::npos) << gw;
  EXPECT_NE(gw.find("fuse_qkv=False"), std::string::npos) << gw;
  auto refused = [](const PlanSpec& spec, const std::string& why) {
    const BuiltPlan b = test::build_plan(spec);
    try {
      (void)framework(FrameworkKind::Torchtitan).launch(b.problem, b.plan, spec.model);
      ADD_FAILURE() << "expected bad input: " << why;
    } catch (const Error& err) {
      EXPECT_EQ(err.code(), ExitCode::BadInput);
      EXPECT_NE(std::string(err.what()).find(why), std::string::npos) << err.what();
    }
  };
  // torchtitan 0.3 has no tensorwise recipe; its async TP (dist_gemm) needs fused q, k, v.
  PlanSpec t = s;
  t.fp8_recipe = Fp8Recipe::Tensorwise;
  refused(t, "float8.py:58");
  PlanSpec a = s;
  a.compile = true, a.tp_comm = 1;
  refused(a, "config_utils.py:220-226");
}

// Low-precision experts: the linears' converter skips the router gate and lm_head (nest prices
// them in bf16) and the experts get torchtitan's grouped-experts converter, as its
// deepseek_v3_671b_float8 / deepseek_v3_debugmodel_mxfp8 functions do; GPT-OSS in low
// precision is its stock function with the converters; NVFP4 experts are not in torchtitan's
// space (it has no such converter).
TEST(TorchtitanExport, LowPrecisionExpertsGetTheGroupedExpertsConverter) {
  PlanSpec s;
  s.framework = FrameworkKind::Torchtitan, s.model = "qwen3-30b-a3b", s.gpus = 16, s.global_batch = 32, s.ep = 8;
  s.zero = 3, s.precision = Precision::Fp8;
  Exported e = export_plan(s);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_qwen3_30b_a3b_fp8");
  EXPECT_NE(e.script.find("filter_fqns=[\"lm_head\", \"router.gate\"]"), std::string::npos) << e.script;
  EXPECT_NE(e.script.find("Float8GroupedExpertsConverter.Config("), std::string::npos) << e.script;
  s.cluster = "dgx-b200", s.precision = Precision::Mxfp8;
  e = export_plan(s);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_NE(e.script.find("MXFP8LinearConverter.Config(fqns=[\"attention\", \"shared_experts\", \"feed_forward\"]"),
            std::string::npos)
      << e.script;
  EXPECT_NE(e.script.find("MXFP8GroupedExpertsConverter.Config(pad_multiple=128"), std::string::npos) << e.script;
  // A dense model keeps the whole blocks' list.
  PlanSpec dense = s;
  dense.model = "qwen3-8b", dense.ep = 1;
  e = export_plan(dense);
  EXPECT_NE(e.script.find("MXFP8LinearConverter.Config(fqns=[\"layers.\"]"), std::string::npos) << e.script;
  EXPECT_EQ(e.script.find("GroupedExpertsConverter"), std::string::npos) << e.script;
  PlanSpec g = s;
  g.model = "gpt-oss-20b", g.gpus = 8, g.global_batch = 16, g.cluster = "dgx-h100", g.precision = Precision::Fp8;
  e = export_plan(g);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_gpt_oss_20b_fp8");
  EXPECT_NE(e.script.find("c = gpt_oss_20b()"), std::string::npos) << e.script;
  EXPECT_NE(e.script.find("gpt_oss.model_registry(\"20b\", converters=_converters())"), std::string::npos) << e.script;
  // Under CP its model runs on FlexAttention (the stock varlen attention refuses CP).
  g.precision = Precision::Bf16, g.cp = 2, g.ep = 4;
  e = export_plan(g);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_EQ(value(e.run.args, "--module"), "nest_tt_gpt_oss_20b");
  EXPECT_NE(e.script.find("gpt_oss.model_registry(\"20b\", attn_backend=\"flex\", converters=_converters())"), std::string::npos)
      << e.script;
  PlanSpec ds = s;
  ds.model = "deepseek-v3", ds.gpus = 256, ds.global_batch = 512, ds.ep = 128, ds.cluster = "dgx-h100";
  ds.precision = Precision::Fp8;
  e = export_plan(ds);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_NE(e.script.find("num_mtp_layers=1, converters=_converters())"), std::string::npos) << e.script;
  EXPECT_NE(e.script.find("Float8GroupedExpertsConverter.Config("), std::string::npos) << e.script;
  // NVFP4 experts: refused by torchtitan's space, with the reason.
  PlanSpec n = s;
  n.precision = Precision::Nvfp4;
  const BuiltPlan b = test::build_plan(n);
  ASSERT_FALSE(b.violations.empty());
  EXPECT_NE(b.violations.front().find("no NVFP4 experts"), std::string::npos) << b.violations.front();
}

// The script says what attention the run does against what the plan priced: FlexAttention (GPT-OSS:
// varlen) with a mask per document, and the documents' length the plan assumed.
TEST(TorchtitanExport, AttentionMasksAssumedAreStated) {
  PlanSpec s;
  s.framework = FrameworkKind::Torchtitan, s.zero = 3;
  Exported e = export_plan(s);
  ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
  EXPECT_NE(e.script.find("torchtitan 0.3 runs FlexAttention with a causal mask per document"), std::string::npos) << e.script;
  EXPECT_NE(e.script.find("(--document-length 0)"), std::string::npos) << e.script;
  BuiltPlan b = test::build_plan(s);
  b.problem.options.document_length = 1500;
  const std::string docs = framework(FrameworkKind::Torchtitan).launch(b.problem, b.plan, s.model);
  EXPECT_NE(docs.find("costed for documents of 1500 tokens"), std::string::npos) << docs;
  s.model = "gpt-oss-20b", s.ep = 8;
  e = export_plan(s);
  EXPECT_NE(e.script.find("torchtitan 0.3 runs varlen attention"), std::string::npos) << e.script;
}

// torchtitan 0.3's MTP modules (DeepSeek-V3) refuse pipeline and context parallelism
// (models/deepseek_v3/mtp.py:199-209): such plans are not in its space.
TEST(TorchtitanExport, MultiTokenPredictionRunsWithoutPipelineOrContextParallelism) {
  const Problem prob = test::preset_problem("deepseek-v3", "dgx-h100", 256, 512, 4096);
  ASSERT_GT(prob.model.mtp_layers, 0);
  Plan plan;
  Parallelism& par = plan.par;
  par.zero = 3, par.ep = 8, par.dp = 256, par.microbatch = 1, par.num_microbatches = 2;
  const Framework& tt = framework(FrameworkKind::Torchtitan);
  auto refused = [&](const std::string& what) {
    for (const std::string& r : tt.unsupported(prob, par, plan.order))
      if (r.find(what) != std::string::npos) return true;
    return false;
  };
  EXPECT_FALSE(refused("multi-token prediction"));
  par.pp = 2, par.dp = 128, par.num_microbatches = 4;
  EXPECT_TRUE(refused("mtp.py:199-204"));
  par.pp = 1, par.cp = 2;
  EXPECT_TRUE(refused("mtp.py:205-209"));
  par.cp = 1;
  Problem no_mtp = prob;
  no_mtp.model.mtp_layers = 0;
  par.pp = 2;
  for (const std::string& r : tt.unsupported(no_mtp, par, plan.order)) EXPECT_EQ(r.find("multi-token"), std::string::npos) << r;
}

// An evaluated plan that torchtitan refuses for another reason (here TP without sequence
// parallelism) keeps the switches torchtitan takes with it: async TP stays off for a MoE model
// rather than adding a refusal of its own.
TEST(TorchtitanExport, SwitchesOfAPlanRefusedForAnotherReasonAreOnesTheFrameworkTakes) {
  Problem prob = test::preset_problem("qwen3-30b-a3b", "dgx-h100", 16, 64, 4096);
  prob.options.framework = FrameworkKind::Torchtitan;
  Plan plan;
  Parallelism& par = plan.par;
  par.tp = 2, par.sp = false, par.ep = 8, par.dp = 8, par.zero = 3, par.microbatch = 1, par.num_microbatches = 8;
  choose_overlaps(prob, par, plan.order, {}, {}, {}, {});
  EXPECT_FALSE(par.tp_comm_overlap);
  const std::vector<std::string> why = framework(FrameworkKind::Torchtitan).unsupported(prob, par, plan.order);
  ASSERT_EQ(why.size(), 1u);
  EXPECT_NE(why.front().find("sequence parallel"), std::string::npos) << why.front();
  // A dense model with sequence parallelism runs async TP: the most switches on.
  Problem dense = test::preset_problem("llama3-8b", "dgx-h100", 16, 64, 4096);
  dense.options.framework = FrameworkKind::Torchtitan;
  par.sp = true, par.ep = 1;
  choose_overlaps(dense, par, plan.order, {}, {}, {}, {});
  EXPECT_TRUE(par.tp_comm_overlap);
}

TEST(TorchtitanExport, EncodersAreRefused) {
  PlanSpec s;
  s.framework = FrameworkKind::Torchtitan, s.zero = 3, s.model = "bert-large", s.seq = 512;
  const BuiltPlan b = test::build_plan(s);
  try {
    (void)framework(FrameworkKind::Torchtitan).launch(b.problem, b.plan, s.model);
    FAIL() << "expected bad input";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(err.what()).find("encoder"), std::string::npos) << err.what();
  }
}

// An uncompiled loss beside a compiled model keeps the model alone in compile.components
// (default model and loss, config/configs.py:298); otherwise the default stands.
TEST(TorchtitanExport, UncompiledLossKeepsTheModelAloneCompiled) {
  for (const PlanSpec& spec : torchtitan_plans()) {
    const Exported e = export_plan(spec);
    ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
    EXPECT_EQ(value(e.run.args, "--compile.components"), spec.compile && spec.compile_loss == 0 ? "model" : "") << spec.name;
  }
}

// torchtitan's own parser and setup on the exported command lines, where torchtitan is
// importable (NEST_TORCHTITAN_PYTHON, or python3 when it imports torchtitan).
TEST(TorchtitanExport, TorchtitanAcceptsExportedCommands) {
  const std::string py = test::python_with("NEST_TORCHTITAN_PYTHON", "torchtitan");
  if (py.empty())
    GTEST_SKIP() << "torchtitan is not importable: set NEST_TORCHTITAN_PYTHON to a Python with torchtitan 0.3 (and "
                    "torchao for float8) to run torchtitan's own validation on exported commands";
  const std::string validator = std::string(NEST_SOURCE_DIR) + "/tests/tools/validate_torchtitan.py";
  for (const PlanSpec& spec : torchtitan_plans()) {
    const Exported e = export_plan(spec);
    ASSERT_EQ(e.run.exit_code, 0) << e.run.err;
    std::string env = "PYTHONPATH='" + (e.run.env.count("PYTHONPATH") ? e.run.env.at("PYTHONPATH") : std::string()) + "'";
    // float8 needs an SM89+ GPU when its config function runs: emulate it (same modules, no GPU).
    if (spec.precision == Precision::Fp8) env += " NEST_TORCHTITAN_EMULATE_FLOAT8=1";
    // The experts' and the MX converters have no emulation: their GPU check is answered as that
    // GPU would (validate_torchtitan.py assume_capability); the converted model is then checked.
    std::string checks = std::string(" --expect-precision ") + to_string(spec.precision);
    if (spec.precision == Precision::Fp8) checks += " --assume-capability 9.0";
    if (spec.precision == Precision::Mxfp8 || spec.precision == Precision::Nvfp4) checks += " --assume-capability 10.0";
    // The model torchtitan builds has the parameters of the model the plan was costed for.
    const long long params = std::llround(count_parameters(e.built.problem.model).total);
    const auto r = test::run_command("cd '" + e.run.dir + "' && env " + env + " '" + py + "' '" + validator + "' --world-size " +
                                     std::to_string(e.run.world()) + " --expect-params " + std::to_string(params) + checks +
                                     " -- " + test::shell_join(e.run.args));
    EXPECT_EQ(r.exit_code, 0) << spec.name << ":\n" << r.out << r.err;
  }
}

}  // namespace
}  // namespace nest
