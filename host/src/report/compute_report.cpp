#include "nest/report/compute_report.hpp"

#include <sstream>

#include "nest/cost/slice_costs.hpp"
#include "nest/framework/framework.hpp"
#include "nest/io/text.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/report/text_report.hpp"

namespace nest {

namespace {

// Layer ids as the stage table names them: -1 the embedding, 0 .. blocks-1, blocks the head. A
// group of blocks is named by its runs of consecutive ids ("blocks 0-31", "blocks 0, 2, 4, ...").
std::string group_name(const std::vector<int>& ids, int blocks) {
  if (ids.front() < 0) return "embedding";
  if (ids.front() >= blocks) return "head";
  if (ids.size() == 1) return "block " + std::to_string(ids.front());
  std::vector<std::string> runs;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    runs.push_back(i == j ? std::to_string(ids[i]) : std::to_string(ids[i]) + "-" + std::to_string(ids[j]));
    i = j + 1;
  }
  constexpr std::size_t kShownRuns = 6;  // then "..."
  std::string out = "blocks ";
  for (std::size_t r = 0; r < runs.size() && r < kShownRuns; ++r) out += (r ? ", " : "") + runs[r];
  if (runs.size() > kShownRuns) out += ", ...";
  return out;
}

// `into` += `count` times the times of `p` (kernel counts and the launch floor are per pass).
void add_times(PassOperators& into, const PassOperators& p, double count) {
  into.gemm_s += count * p.gemm_s;
  into.attention_s += count * p.attention_s;
  into.memory_s += count * p.memory_s;
  into.compute_s += count * p.compute_s;
  into.recompute_s += count * p.recompute_s;
  into.tp_s += count * p.tp_s;
  into.cp_s += count * p.cp_s;
  into.ep_s += count * p.ep_s;
  into.dp_s += count * p.dp_s;
  into.offload_s += count * p.offload_s;
  into.total_s += count * p.total_s;
}

PassOperators pass_of(double gemm, double attention, double memory, double kernels, double launch, double compute, double total) {
  PassOperators p;
  p.gemm_s = gemm;
  p.attention_s = attention;
  p.memory_s = memory;
  p.kernels = kernels;
  p.launch_floor_s = kernels * launch;
  p.compute_s = compute;
  p.total_s = total;
  return p;
}

Json pass_json(const PassOperators& p) {
  return Json{{"gemm_s", p.gemm_s},
              {"attention_s", p.attention_s},
              {"memory_bound_s", p.memory_s},
              {"kernels", p.kernels},
              {"launch_floor_s", p.launch_floor_s},
              {"compute_s", p.compute_s},
              {"recompute_s", p.recompute_s},
              {"tp_s", p.tp_s},
              {"cp_s", p.cp_s},
              {"ep_s", p.ep_s},
              {"dp_s", p.dp_s},
              {"offload_s", p.offload_s},
              {"total_s", p.total_s}};
}

std::string waits_text(const PassOperators& p) {
  std::string out;
  auto add = [&](const char* name, double s) {
    if (s > 0) out += std::string(out.empty() ? "" : ", ") + name + " " + format_duration(s);
  };
  add("tp", p.tp_s);
  add("cp", p.cp_s);
  add("ep", p.ep_s);
  add("dp", p.dp_s);
  add("offload", p.offload_s);
  return out.empty() ? "-" : out;
}

std::string rate(double flops, double seconds) { return format_text("%.0f TFLOP/s", flops / seconds / 1e12); }

}  // namespace

ComputeExplanation explain_compute(const Problem& problem, const Plan& plan, const Prediction& pr) {
  const Parallelism& par = plan.par;
  const LayerGraph graph = build_layer_graph(problem.model, par.pp > 1);
  const SliceCosts sc = build_slice_costs(problem, graph, par, pr.placement);
  const kernels::TrainingSettings settings = framework(problem.options.framework).settings(problem, par);
  const kernels::GpuModel gpu = problem.cluster.gpu.compute_model(par.precision, attention_kernel_of(problem));
  ComputeExplanation out;
  out.gpu = problem.cluster.gpu.name;
  out.sustained = gpu.sustained;
  out.kernel_launch_s = gpu.kernel_launch;
  out.tokens = kernels::tokens_per_gpu(sc.shape);
  const int blocks = graph.num_blocks();
  // Layers with the same dimensions cost the same: one entry per kind, in order of first use
  // (alternating blocks, such as Gemma 2's windowed and global ones, give two).
  std::vector<std::vector<int>> groups;  // node indices
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    std::size_t g = 0;
    while (g < groups.size() &&
           !same_layer_dims(graph.nodes[static_cast<std::size_t>(groups[g].front())].dims, graph.nodes[i].dims))
      ++g;
    if (g == groups.size()) groups.emplace_back();
    groups[g].push_back(static_cast<int>(i));
  }
  for (const std::vector<int>& nodes : groups) {
    const std::size_t i = static_cast<std::size_t>(nodes.front());
    const kernels::LayerDims d = kernels::built_layer(graph.nodes[i].dims, sc.shape, settings);
    const kernels::LayerWork w = kernels::layer_work(d, sc.shape, gpu, settings);
    const kernels::LayerCostDetail& c = sc.layers[i];
    std::vector<int> ids;
    for (int n : nodes) ids.push_back(n - 1);
    LayerOperators l;
    l.layers = group_name(ids, blocks);
    l.count = static_cast<int>(nodes.size());
    l.gemm_flops = w.gemm_flops;
    l.attention_flops = w.attention_exec_flops;
    l.fwd = pass_of(w.gemm_fwd, w.attention_fwd, w.memory_fwd, w.kernels_fwd, gpu.kernel_launch, c.compute_fwd, c.cost.fwd);
    l.bwd = pass_of(w.gemm_bwd, w.attention_bwd, w.memory_bwd, 2 * w.kernels_fwd, gpu.kernel_launch, c.compute_bwd - c.recompute,
                    c.cost.bwd);
    l.bwd.recompute_s = c.recompute;
    l.fwd.tp_s = c.tp_fwd;
    l.fwd.cp_s = c.cp_fwd;
    l.fwd.ep_s = c.ep_fwd;
    l.fwd.dp_s = c.dp_fwd;
    l.fwd.offload_s = c.offload_fwd;
    l.bwd.tp_s = c.tp - c.tp_fwd;
    l.bwd.cp_s = c.cp - c.cp_fwd;
    l.bwd.ep_s = c.ep - c.ep_fwd;
    l.bwd.dp_s = c.dp_microbatch - c.dp_fwd;
    l.bwd.offload_s = c.offload - c.offload_fwd;
    for (const PassOperators* p : {&l.fwd, &l.bwd}) add_times(out.all_layers, *p, l.count);
    out.layers.push_back(l);
  }
  return out;
}

double attention_share(const ComputeExplanation& c) {
  const PassOperators& a = c.all_layers;
  const double kernels = a.gemm_s + a.attention_s + a.memory_s;
  return kernels > 0 ? a.attention_s / kernels : 0;
}

std::string compute_text(const ComputeExplanation& c) {
  std::ostringstream o;
  o << "compute    one microbatch on one GPU (" << format_text("%.0f", c.tokens)
    << " tokens), per layer; kernel-level times, then divided by the sustained fraction " << format_text("%.3f", c.sustained)
    << " (" << c.gpu << ", docs/cost-model.md §3.5)\n";
  for (const LayerOperators& l : c.layers) {
    o << "  " << l.layers << (l.count > 1 ? format_text(" (%d alike, each)", l.count) : "") << "\n";
    const auto line = [&](const char* name, const PassOperators& p, bool forward) {
      o << "    " << name;
      if (p.gemm_s > 0) o << "  gemm " << format_duration(p.gemm_s) << (forward ? " (" + rate(l.gemm_flops, p.gemm_s) + ")" : "");
      if (p.attention_s > 0)
        o << "  attention " << format_duration(p.attention_s)
          << (forward ? " (" + rate(l.attention_flops, p.attention_s) + ")" : "");
      o << "  memory-bound " << format_duration(p.memory_s) << "  ->  compute " << format_duration(p.compute_s);
      if (p.launch_floor_s >= p.compute_s && p.launch_floor_s > 0)
        o << " (launch floor: " << format_text("%.0f", p.kernels) << " kernels)";
      if (p.recompute_s > 0) o << " + recompute " << format_duration(p.recompute_s);
      o << "  waits " << waits_text(p) << "  =  " << format_duration(p.total_s) << "\n";
    };
    line("forward ", l.fwd, true);
    line("backward", l.bwd, false);
  }
  const PassOperators& a = c.all_layers;
  const double kernels = a.gemm_s + a.attention_s + a.memory_s;
  const auto share = [&](double s) { return format_text("%.0f%%", kernels > 0 ? 100 * s / kernels : 0.0); };
  o << "  every layer, forward and backward: gemm " << format_duration(a.gemm_s) << " (" << share(a.gemm_s) << "), attention "
    << format_duration(a.attention_s) << " (" << share(a.attention_s) << "), memory-bound " << format_duration(a.memory_s) << " ("
    << share(a.memory_s) << ")  ->  compute " << format_duration(a.compute_s);
  if (a.recompute_s > 0) o << " + recompute " << format_duration(a.recompute_s);
  o << "  waits " << waits_text(a) << "  =  " << format_duration(a.total_s) << "\n";
  return o.str();
}

Json compute_json(const ComputeExplanation& c) {
  Json layers = Json::array();
  for (const LayerOperators& l : c.layers)
    layers.push_back(Json{{"layers", l.layers},
                          {"count", l.count},
                          {"gemm_flops_fwd", l.gemm_flops},
                          {"attention_flops_fwd", l.attention_flops},
                          {"forward", pass_json(l.fwd)},
                          {"backward", pass_json(l.bwd)}});
  return Json{{"gpu", c.gpu},
              {"sustained", c.sustained},
              {"kernel_launch_s", c.kernel_launch_s},
              {"tokens_per_microbatch", c.tokens},
              {"layers", layers},
              {"all_layers", pass_json(c.all_layers)}};
}

}  // namespace nest
