// Helpers of the export tests: plans on presets built as `nest evaluate` builds them, and the
// launch scripts run as printed by bash with a stand-in `torchrun` that records its arguments
// and environment (so the tests see exactly what the real torchrun would receive).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "nest/evaluate/evaluator.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "support/test_support.hpp"

namespace nest::test {

// A plan on presets, in the terms of `nest evaluate`'s flags.
struct PlanSpec {
  std::string name;                                            // for messages
  std::string model = "llama3-8b", cluster = "dgx-h100", gpu;  // gpu: replaces the cluster's GPU
  long gpus = 8, global_batch = 64, seq = 4096;
  int tp = 1, pp = 1, cp = 1, ep = 1, microbatch = 1, zero = 1, v = 1;
  int dp_shard = 0;  // HSDP shard group (0: none)
  int etp = 0;       // expert TP (0: tp)
  bool sp = false;
  Recompute recompute = Recompute::None;
  int recompute_modules = kernels::kRecomputeCoreAttn;  // with Recompute::Selective
  Precision precision = Precision::Bf16;
  std::vector<int> blocks;  // empty: the even split
  std::string order = "tp-cp-ep-dp-pp";
  int grad_reduce = -1, param_gather = -1, tp_comm = -1, ep_comm = -1;  // -1: the most switches the framework runs
  bool offload_optimizer = false, offload_activations = false;
  int offload_layers = 0;
  FrameworkKind framework = FrameworkKind::Megatron;
  bool compile = false, flash_attention = true;
  int loss_chunks = 0;
  int compile_loss = -1;  // -1: with compile
  AttentionKernel attention = AttentionKernel::Auto;
  CrossEntropy cross_entropy = CrossEntropy::Auto;
  int overlap_p2p = -1;
  Fp8Recipe fp8_recipe = Fp8Recipe::Auto;
  bool fuse_qkv = true;
  double capacity_factor = 1;
  bool store_param_remainders = false;  // Megatron: main weights as remainders of the bf16 weights
  bool grad_reduce_in_bf16 = false;     // Megatron: 16-bit main gradients
  long long grad_bucket_size = 0;       // Megatron: --ddp-bucket-size (0: its default)
  bool grad_accum_fp32 = false;         // DeepSpeed: data_types.grad_accum_dtype fp32
};

struct BuiltPlan {
  Problem problem;
  Plan plan;
  std::vector<std::string> violations;  // check_plan's
};

inline BuiltPlan build_plan(const PlanSpec& s) {
  BuiltPlan b;
  b.problem = preset_problem(s.model, s.cluster, s.gpus, s.global_batch, s.seq);
  if (!s.gpu.empty()) b.problem.cluster.gpu = load_gpu(s.gpu);
  b.problem.options.framework = s.framework;
  b.problem.options.compile = s.compile;
  b.problem.options.flash_attention = s.flash_attention;
  b.problem.options.loss_chunks = s.loss_chunks;
  b.problem.options.compile_loss = s.compile_loss;
  b.problem.options.attention_kernel = s.attention;
  b.problem.options.cross_entropy = s.cross_entropy;
  b.problem.options.overlap_p2p = s.overlap_p2p;
  b.problem.options.fp8_recipe = s.fp8_recipe;
  b.problem.options.fuse_qkv = s.fuse_qkv;
  b.problem.options.store_param_remainders = s.store_param_remainders;
  b.problem.options.grad_reduce_in_bf16 = s.grad_reduce_in_bf16;
  b.problem.options.grad_bucket_size = s.grad_bucket_size;
  b.problem.options.grad_accum_fp32 = s.grad_accum_fp32;
  b.problem.options.capacity_factor = s.capacity_factor;
  Parallelism& p = b.plan.par;
  p.tp = s.tp;
  p.pp = s.pp;
  p.cp = s.cp;
  p.ep = s.ep;
  p.etp = s.etp;
  p.dp_shard = s.dp_shard;
  p.sp = s.sp;
  p.microbatch = s.microbatch;
  p.zero = s.zero;
  p.recompute = s.recompute;
  p.recompute_modules = s.recompute_modules;
  p.precision = s.precision;
  p.schedule = s.v > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
  p.virtual_stages = s.v;
  p.offload_optimizer = s.offload_optimizer;
  p.offload_activations = s.offload_activations;
  p.offload_layers = s.offload_layers;
  p.dp = static_cast<int>(s.gpus / (static_cast<long>(s.tp) * s.cp * s.pp));
  p.num_microbatches = static_cast<int>(s.global_batch / (static_cast<long>(p.dp) * s.microbatch));
  b.plan.order = RankOrder::parse(s.order, "order");
  auto fixed = [](int x) { return x < 0 ? std::vector<bool>{} : std::vector<bool>{x == 1}; };
  choose_overlaps(b.problem, p, b.plan.order, fixed(s.grad_reduce), fixed(s.param_gather), fixed(s.tp_comm), fixed(s.ep_comm));
  b.plan.blocks_per_stage = s.blocks.empty() ? even_split(static_cast<int>(b.problem.model.layers), s.pp, s.v) : s.blocks;
  b.violations = check_plan(b.problem, b.plan);
  return b;
}

// What the stand-in torchrun received.
struct LaunchRun {
  int exit_code = -1;
  std::string err, dir;
  std::map<std::string, std::string> torchrun;  // --nnodes, --nproc_per_node, ...
  std::string entry;                            // "pretrain_gpt.py" or "-m torchtitan.train"
  std::vector<std::string> args;                // after the entry point
  std::map<std::string, std::string> env;       // the environment torchrun saw
  long world() const { return std::stol(torchrun.at("--nnodes")) * std::stol(torchrun.at("--nproc_per_node")); }
};

inline std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '\0') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  return out;
}

// Runs `script` with bash in a fresh directory, a clean environment (PATH, HOME, NODE_RANK=0,
// MASTER_ADDR=localhost, plus `env`) and a stand-in torchrun first on PATH.
inline LaunchRun run_launch(const std::string& script, const std::map<std::string, std::string>& env = {}) {
  static int counter = 0;
  LaunchRun r;
  r.dir = temp_dir() + "/launch" + std::to_string(++counter);
  std::filesystem::create_directories(r.dir + "/bin");
  std::ofstream(r.dir + "/script.sh") << script;
  {
    std::ofstream t(r.dir + "/bin/torchrun");
    t << "#!/usr/bin/env bash\n"
         "for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$NEST_FAKE_OUT.argv\"\n"
         "env -0 > \"$NEST_FAKE_OUT.env\"\n";
  }
  std::filesystem::permissions(r.dir + "/bin/torchrun", std::filesystem::perms::owner_all);
  std::string cmd = "cd '" + r.dir + "' && env -i PATH='" + r.dir + "/bin:/usr/local/bin:/usr/bin:/bin' HOME='" + r.dir +
                    "' NEST_FAKE_OUT='" + r.dir + "/torchrun' NODE_RANK=0 MASTER_ADDR=localhost";
  for (const auto& [k, v] : env) cmd += " " + k + "='" + v + "'";
  cmd += " bash script.sh";
  const RunResult rr = run_command(cmd);
  r.exit_code = rr.exit_code;
  r.err = rr.err;
  const std::vector<std::string> argv = split_nul(read_all(r.dir + "/torchrun.argv"));
  std::size_t i = 0;
  while (i + 1 < argv.size() && (argv[i] == "--nnodes" || argv[i] == "--nproc_per_node" || argv[i] == "--node_rank" ||
                                 argv[i] == "--master_addr" || argv[i] == "--master_port")) {
    r.torchrun[argv[i]] = argv[i + 1];
    i += 2;
  }
  if (i < argv.size() && argv[i] == "-m" && i + 1 < argv.size()) {
    r.entry = "-m " + argv[i + 1];
    i += 2;
  } else if (i < argv.size()) {
    r.entry = argv[i++];
  }
  r.args.assign(argv.begin() + static_cast<long>(std::min(i, argv.size())), argv.end());
  for (const std::string& kv : split_nul(read_all(r.dir + "/torchrun.env"))) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos) r.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return r;
}

// The python with `module` importable: $<env_var>, else python3 when it imports it; empty otherwise.
inline std::string python_with(const std::string& env_var, const std::string& module) {
  if (const char* p = std::getenv(env_var.c_str()); p != nullptr && *p != '\0') return p;
  if (run_command("python3 -c 'import " + module + "'").exit_code == 0) return "python3";
  return "";
}

inline std::string shell_join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) {
    std::string q = "'";
    for (char c : w) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (out.empty() ? "" : " ") + q + "'";
  }
  return out;
}

}  // namespace nest::test
