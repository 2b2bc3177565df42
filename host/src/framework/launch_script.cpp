#include "launch_script.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/plan/plan.hpp"
#include "nest/io/text.hpp"

namespace nest::launch {

namespace {

// A node is a host: the level-0 domain, or its hosts where it spans several (an NVL72 rack's trays).
long gpus_per_host(const Problem& problem, const Parallelism& par) {
  const NetworkLevel* domain = problem.cluster.levels.empty() ? nullptr : &problem.cluster.levels.front();
  const long per_node = domain ? static_cast<long>(domain->host_gpus > 0 ? domain->host_gpus : domain->size) : 0;
  return per_node <= 0 || per_node > par.gpus() ? par.gpus() : per_node;
}

}  // namespace

std::string torchrun_refusal(const Problem& problem, const Parallelism& par) {
  const long gpus = par.gpus();
  const NetworkLevel* domain = problem.cluster.levels.empty() ? nullptr : &problem.cluster.levels.front();
  if (domain && domain->host_gpus > 0 && domain->size % domain->host_gpus != 0)
    return "the job's " + std::to_string(domain->size) + " GPUs of each " + domain->name + " domain of " + problem.cluster.name +
           " are not whole hosts of " + std::to_string(domain->host_gpus) +
           " GPUs: torchrun starts the same number of processes on every host";
  const long per_node = gpus_per_host(problem, par);
  if (gpus % per_node != 0)
    return "its " + std::to_string(gpus) + " GPUs do not fill whole nodes of " + std::to_string(per_node) + " GPUs (" +
           problem.cluster.name + "): torchrun starts the same number of processes on every node";
  return "";
}

Nodes torchrun_nodes(const Problem& problem, const Parallelism& par) {
  if (const std::string why = torchrun_refusal(problem, par); !why.empty()) throw_bad_input("plan", why);
  const long per_node = gpus_per_host(problem, par);
  return Nodes{par.gpus() / per_node, per_node};
}

void require_launchable(const Framework& framework, const Problem& problem, const Plan& plan) {
  const std::vector<LaunchRefusal> why = framework.launch_refusals(problem, plan);
  if (!why.empty()) throw_bad_input(why.front().field, why.front().message);
}

int virtual_stages(const Plan& plan) {
  return plan.par.schedule == Schedule::Interleaved ? std::max(1, plan.par.virtual_stages) : 1;
}

std::vector<Chunk> model_chunks(const Plan& plan) {
  const int v = virtual_stages(plan);
  const int p = static_cast<int>(plan.blocks_per_stage.size());
  int L = 0;
  for (int n : plan.blocks_per_stage) L += n;
  // The evaluator's layout (nodes: 0 the embedding, 1..L the blocks, L+1 the head), in model order.
  const std::vector<StageLayout> layout = layout_stages(plan.blocks_per_stage, v);
  std::vector<Chunk> out;
  for (int k = 0; k < v; ++k)
    for (int i = 0; i < p; ++i) {
      const auto [first_node, last_node] = layout[static_cast<std::size_t>(i)].chunks[static_cast<std::size_t>(k)];
      Chunk c;
      c.stage = i;
      c.first = std::max(first_node, 1) - 1;
      c.last = std::min(last_node, L) - 1;
      c.embedding = first_node == 0;
      c.head = last_node == L + 1;
      out.push_back(c);
    }
  return out;
}

void refuse_unbuildable(const ModelConfig& m, const std::string& builder, const std::vector<std::string>& why,
                        std::vector<LaunchRefusal>& out) {
  if (why.empty()) return;
  std::string list;
  for (const std::string& w : why) list += (list.empty() ? "" : ", ") + w;
  out.push_back({m.source, builder + " cannot build " + m.name + ": " + list});
}

std::string number(double x) {
  char buf[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

std::string shell_word(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string("_./:=,+@%-").find(c) != std::string::npos;
    plain = plain && ok;
  }
  if (plain) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

std::string plan_summary(const Problem& problem, const Plan& plan, const std::string& model_spec) {
  const Parallelism& p = plan.par;
  std::ostringstream s;
  auto on = [](bool b) { return b ? "on" : "off"; };
  s << model_spec << " on " << p.gpus() << " GPUs of " << problem.cluster.name << ": tp " << p.tp << ", cp " << p.cp << ", pp "
    << p.pp;
  if (virtual_stages(plan) > 1) s << " (interleaved, " << virtual_stages(plan) << " virtual stages)";
  s << ", dp " << p.dp << " (ep " << p.ep;
  if (p.folded()) s << ", expert tp " << p.etp;
  s << "), sp " << on(p.sp && p.tp > 1) << "; microbatch " << p.microbatch << " x " << p.num_microbatches << " (global batch "
    << problem.global_batch << ", seq " << problem.seq_len << "); ZeRO-" << p.zero;
  if (p.dp_shard > 0) s << " (HSDP: shards of " << p.dp_shard << ")";
  s << ", recompute " << to_string(p.recompute);
  if (p.recompute == Recompute::Selective && p.recompute_modules != kernels::kRecomputeCoreAttn)
    s << " (" << recompute_modules_text(p.recompute_modules) << ")";
  s << ", " << to_string(p.precision) << "; overlap grad-reduce " << on(p.overlap_grad_reduce) << ", param-gather "
    << on(p.overlap_param_gather) << ", tp-comm " << on(p.tp_comm_overlap)
    << (p.ep > 1 ? std::string(", ep-comm ") + on(p.ep_comm_overlap) : std::string()) << "; offload optimizer "
    << on(p.offload_optimizer) << ", activations " << on(p.offload_activations);
  if (p.offload_activations && p.offload_layers > 0) s << " (the first " << p.offload_layers << " blocks)";
  s << "; blocks per stage ";
  for (std::size_t i = 0; i < plan.blocks_per_stage.size(); ++i) s << (i ? "," : "") << plan.blocks_per_stage[i];
  s << "; rank order " << plan.order.str();
  return s.str();
}

Script::Script(const std::string& framework, const Problem& problem, const Plan& plan, const std::string& model_spec)
    : nodes_(torchrun_nodes(problem, plan.par)) {
  std::ostringstream h;
  h << "#!/usr/bin/env bash\n";
  h << "# " << framework << " launch, written by nest export.\n";
  h << "# plan: " << plan_summary(problem, plan, model_spec) << "\n";
  if (nodes_.nnodes > 1) {
    h << "# Run this script on each of the " << nodes_.nnodes << " nodes (" << nodes_.nproc_per_node
      << " GPUs each) with NODE_RANK (0.." << nodes_.nnodes - 1
      << ") and MASTER_ADDR (the address of node 0) set; MASTER_PORT defaults to 29500.\n";
  } else {
    h << "# Run this script on one node with " << nodes_.nproc_per_node << " GPUs; MASTER_PORT defaults to 29500.\n";
  }
  // Hosts of a rack-scale domain (an NVL72 rack's trays): which of them the job gets is part of
  // the plan (search/domain_share.hpp), and the scheduler is what sets it.
  if (const NetworkLevel* d = problem.cluster.levels.empty() ? nullptr : &problem.cluster.levels.front();
      d && d->host_gpus > 0 && plan.par.gpus() > d->size) {
    const NetworkLevel& domain = *d;
    const long hosts = static_cast<long>(domain.size / domain.host_gpus);
    if (plan.par.gpus() % domain.size == 0)
      h << "# Give the job " << hosts << " hosts of each " << domain.name << " domain (Slurm: sbatch --segment=" << hosts
        << "): the plan puts " << domain.size << " GPUs in each of " << plan.par.gpus() / domain.size << " domains.\n";
    else
      h << "# The plan fills " << domain.name << " domains of " << domain.size << " GPUs (" << hosts
        << " hosts each) in order, the last one in part.\n";
  }
  const GpuSpec& gpu = problem.cluster.gpu;
  if (gpu.compute_power_fraction() < 1) {
    const std::string watts = format_text("%g", gpu.power_limit_watts);
    h << "# The plan's times assume every GPU capped at " << watts << " W: set it on each node (as root) with\n"
      << "#   nvidia-smi -pl " << watts << "\n";
  }
  h << "set -euo pipefail\n";
  if (nodes_.nnodes > 1) {
    h << "NODE_RANK=\"${NODE_RANK:?set NODE_RANK to the index of this node, 0.." << nodes_.nnodes - 1 << "}\"\n";
    h << "MASTER_ADDR=\"${MASTER_ADDR:?set MASTER_ADDR to the address of node 0}\"\n";
  } else {
    h << "NODE_RANK=\"${NODE_RANK:-0}\"\n";
    h << "MASTER_ADDR=\"${MASTER_ADDR:-localhost}\"\n";
  }
  h << "MASTER_PORT=\"${MASTER_PORT:-29500}\"\n";
  head_ = h.str();
}

void Script::comment(const std::string& text) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) body_.push_back(l.empty() ? "#" : "# " + l);
}

void Script::line(const std::string& raw) { body_.push_back(raw); }

void Script::env(const std::string& key, const std::string& value, const std::string& why) {
  comment(why);
  body_.push_back("export " + key + "=" + shell_word(value));
}

void expandable_segments(Script& s, const std::string& variable, const std::string& source) {
  s.env(variable, "expandable_segments:True",
        "Segments grow in place, so freed memory is not stranded (" + source + "); nest's memory reserve assumes it.");
}

void Script::here_document(const std::string& path_expression, const std::string& content) {
  body_.push_back("cat > " + path_expression + " <<'NEST_EOF'");
  std::string c = content;
  if (!c.empty() && c.back() == '\n') c.pop_back();
  body_.push_back(c);
  body_.push_back("NEST_EOF");
}

void Script::arg(const std::string& flag) { args_.push_back({flag}); }
void Script::arg(const std::string& flag, const std::string& value) { args_.push_back({flag, value}); }
void Script::arg(const std::string& flag, const std::vector<std::string>& values) {
  std::vector<std::string> a{flag};
  a.insert(a.end(), values.begin(), values.end());
  args_.push_back(a);
}

void Script::arg_expanded(const std::string& flag, const std::string& shell_value) {
  args_.push_back({flag + " " + shell_value});
}

std::string Script::str(const std::vector<std::string>& entry) const {
  std::vector<std::string> lines = {"--nnodes " + std::to_string(nodes_.nnodes),
                                    "--nproc_per_node " + std::to_string(nodes_.nproc_per_node), "--node_rank \"$NODE_RANK\"",
                                    "--master_addr \"$MASTER_ADDR\"", "--master_port \"$MASTER_PORT\""};
  std::string entry_line;
  for (const std::string& e : entry) {
    if (!entry_line.empty()) entry_line.push_back(' ');
    entry_line.append(shell_word(e));
  }
  lines.push_back(entry_line);
  for (const auto& a : args_) {
    if (a.size() > 2) {
      // Several values: the flag, then one value per line.
      lines.push_back(a.front());
      for (std::size_t i = 1; i < a.size(); ++i) lines.push_back("  " + shell_word(a[i]));
      continue;
    }
    std::string l = a.front();
    if (a.size() == 2) l.append(" ").append(shell_word(a[1]));
    lines.push_back(l);
  }
  std::ostringstream out;
  out << head_;
  for (const std::string& l : body_) out << l << "\n";
  out << "torchrun \\\n";
  for (std::size_t i = 0; i < lines.size(); ++i) out << "  " << lines[i] << (i + 1 < lines.size() ? " \\\n" : "\n");
  return out.str();
}

}  // namespace nest::launch
