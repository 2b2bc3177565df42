// The launch script every framework export writes (docs/frameworks.md §6): a bash script that
// runs as printed, in one layout:
//
//   #!/usr/bin/env bash
//   # <framework release> launch written by nest export
//   # plan: <what the plan is>
//   # <how to run it>
//   set -euo pipefail
//   NODE_RANK=... MASTER_ADDR=... MASTER_PORT=...     (documented; set by the user)
//   export KEY=VALUE                                  (the environment the framework requires)
//   <files the command reads, written with here-documents>
//   torchrun
//     --nnodes N
//     ...
//     <entry point>
//     --flag value                                    (one argument per line, each but the last
//     --last-flag                                      ending in a backslash)
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/framework/framework.hpp"
#include "nest/plan/plan.hpp"

namespace nest::launch {

// torchrun's --nnodes and --nproc_per_node for the plan's GPUs on the cluster's hosts (its
// level-0 domain, or that domain's hosts: NetworkLevel::host_gpus). Bad input when the GPUs do
// not fill whole hosts (torchrun_refusal).
struct Nodes {
  long nnodes = 1, nproc_per_node = 1;
};
Nodes torchrun_nodes(const Problem& problem, const Parallelism& par);
// Why torchrun cannot start the plan's processes, the same number on every host; "" when it can.
std::string torchrun_refusal(const Problem& problem, const Parallelism& par);

// The launch refusal of a model the framework's model code (`builder`, e.g. "Megatron-LM
// core_v0.19's GPT model (pretrain_gpt.py)") cannot build, naming what it lacks: "<builder>
// cannot build <model>: <why, comma-separated>". Nothing when `why` is empty.
void refuse_unbuildable(const ModelConfig& m, const std::string& builder, const std::vector<std::string>& why,
                        std::vector<LaunchRefusal>& out);

// Bad input, the first of the framework's launch_refusals(), when the plan has one.
void require_launchable(const Framework& framework, const Problem& problem, const Plan& plan);

// Interleaved virtual stages of a plan (1 without interleaving).
int virtual_stages(const Plan& plan);
// Transformer blocks of the plan's split, chunk by chunk in model order (chunk k of stage i is
// the k * pp + i-th), each as [first, last] block index (inclusive; last < first when empty),
// with whether it holds the embedding and the head.
struct Chunk {
  int stage = 0, first = 0, last = -1;
  bool embedding = false, head = false;
  int blocks() const { return last - first + 1; }
};
std::vector<Chunk> model_chunks(const Plan& plan);

// One line describing the plan (degrees, batch, ZeRO, recomputation, precision, switches, split, order).
std::string plan_summary(const Problem& problem, const Plan& plan, const std::string& model_spec);

// A number as the shortest text that reads back to the same double ("3e-05", "500000").
std::string number(double x);
// Quotes a word for bash when it holds anything but [A-Za-z0-9_./:=,+@%-].
std::string shell_word(const std::string& word);

class Script {
 public:
  // `framework` names the release ("Megatron-LM core_v0.19 (pretrain_gpt.py)").
  Script(const std::string& framework, const Problem& problem, const Plan& plan, const std::string& model_spec);
  void comment(const std::string& text);  // "# text" (one line per '\n')
  void line(const std::string& raw);      // a raw shell line
  // `export KEY=VALUE` with the reason on the line above.
  void env(const std::string& key, const std::string& value, const std::string& why);
  // `cat > path <<'EOF' ... EOF` (no expansion inside).
  void here_document(const std::string& path_expression, const std::string& content);
  // The command's arguments after the entry point: a flag with no, one or several values.
  void arg(const std::string& flag);
  void arg(const std::string& flag, const std::string& value);
  void arg(const std::string& flag, const std::vector<std::string>& values);
  // A value that bash expands when the script runs ("\"$DS_CONFIG\""), written as given.
  void arg_expanded(const std::string& flag, const std::string& shell_value);
  // The full script: preamble, then `torchrun <nodes> <entry> <args...>` (the entry point's
  // words on one line).
  std::string str(const std::vector<std::string>& entry) const;

 private:
  std::string head_;
  std::vector<std::string> body_;
  std::vector<std::vector<std::string>> args_;
  Nodes nodes_;
};

// The caching allocator's expandable segments, which every export turns on: segments grow in
// place instead of stranding freed ones, the allocator mode of the measured peaks nest's 5%
// reserve agrees with (torchtitan's launcher sets it; docs/cost-model.md §7). `variable` is the
// name the framework reads (PYTORCH_CUDA_ALLOC_CONF, or PyTorch >= 2.9's PYTORCH_ALLOC_CONF);
// `source` says where the framework itself asks for it.
void expandable_segments(Script& s, const std::string& variable, const std::string& source);

}  // namespace nest::launch
