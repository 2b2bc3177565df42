#include "nest/search/nest_input.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/evaluate/split.hpp"
#include "nest/io/json.hpp"

namespace nest {

namespace {

constexpr double kMs = 1e-3;  // NEST's per-layer latencies are in milliseconds

std::string instance_name(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.stem() == "input" && p.has_parent_path()) return p.parent_path().filename().string();
  return p.stem().string();
}

}  // namespace

NestInstance read_nest_input(const std::string& path) {
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  NestInstance in;
  in.name = instance_name(path);
  in.source = path;
  in.max_devices = o.positive_integer("maxDevices");
  in.memory_bytes = o.positive_number("maxMemoryPerDevice");
  for (double x : o.numbers("devices_per_level")) {
    if (x < 1 || x != std::floor(x)) o.fail("devices_per_level", "must list positive integers");
    in.devices_per_level.push_back(static_cast<std::int64_t>(x));
  }
  in.bandwidth = o.numbers("bws");
  in.latency = o.numbers("latency_per_level");
  if (in.bandwidth.size() != in.devices_per_level.size() || in.latency.size() != in.devices_per_level.size())
    o.fail("bws", "devices_per_level, bws and latency_per_level must have the same length");
  for (double b : in.bandwidth)
    if (b <= 0) o.fail("bws", "bandwidths must be positive");
  for (double l : in.latency)
    if (l < 0) o.fail("latency_per_level", "latencies must not be negative");
  in.microbatches = o.positive_number("mbsInBatch");
  in.recompute = o.boolean("activationRecomputation");
  const std::string opt = o.string("optimizerAlgorithm");
  if (opt != "SGD" && opt != "Adam") o.fail("optimizerAlgorithm", "must be SGD or Adam");
  in.adam = opt == "Adam";
  in.ep = static_cast<int>(o.positive_integer_or("ep_degree", 1));
  in.cp = static_cast<int>(o.positive_integer_or("cp_degree", 1));
  in.sp =
      o.has("sp_enabled") && o.raw().at("sp_enabled").is_boolean() ? o.boolean("sp_enabled") : o.integer_or("sp_enabled", 0) != 0;

  const JsonObject nodes = o.object("nodes");
  const JsonObject edges = o.object("edges");
  std::vector<int> order_ref;
  for (const auto& [key, arr] : nodes.raw().items()) {
    int width = 0;
    try {
      width = std::stoi(key);
    } catch (...) {
      nodes.fail(key, "keys must be tensor-parallel widths");
    }
    if (width < 1) nodes.fail(key, "widths must be positive");
    if (!edges.has(key)) edges.fail(key, "missing (every width in 'nodes' needs its edges)");
    std::map<int, NestNode> by_id;
    for (const JsonObject& n : nodes.objects(key)) {
      NestNode x;
      x.id = static_cast<int>(n.integer("id"));
      x.param_bytes = n.non_negative_number("parameterSize");
      x.activation_bytes = n.non_negative_number("activationSize");
      x.fw_ms = n.non_negative_number("optimalLatencyFw");
      x.bw_ms = n.non_negative_number("optimalLatencyBw");
      if (!by_id.emplace(x.id, x).second) n.fail("id", "duplicate layer id " + std::to_string(x.id));
    }
    // Topological order (Kahn, smallest id first) and per-source output bytes.
    std::map<int, std::vector<std::pair<int, double>>> out;
    std::map<int, int> indeg;
    for (const auto& [id, x] : by_id) indeg[id] = 0;
    for (const JsonObject& e : edges.objects(key)) {
      const int a = static_cast<int>(e.integer("sourceId")), b = static_cast<int>(e.integer("destId"));
      if (!by_id.count(a) || !by_id.count(b))
        e.fail("sourceId", "edge between unknown layers " + std::to_string(a) + " -> " + std::to_string(b));
      out[a].emplace_back(b, e.non_negative_number("communicationCost"));
      ++indeg[b];
    }
    std::set<int> ready;
    for (const auto& [id, d] : indeg)
      if (d == 0) ready.insert(id);
    std::vector<int> order;
    while (!ready.empty()) {
      const int v = *ready.begin();
      ready.erase(ready.begin());
      order.push_back(v);
      for (const auto& [w, bytes] : out[v])
        if (--indeg[w] == 0) ready.insert(w);
    }
    if (order.size() != by_id.size()) edges.fail(key, "the layer graph has a cycle");
    if (order_ref.empty())
      order_ref = order;
    else if (order != order_ref)
      nodes.fail(key, "layer ids differ between widths");
    std::map<int, int> pos;
    for (std::size_t i = 0; i < order.size(); ++i) pos[order[i]] = static_cast<int>(i);
    // A source's output crosses the cut before position j when a consumer lies at or after j;
    // it is sent once however many consumers are behind the cut.
    const int n = static_cast<int>(order.size());
    std::vector<double> cut(static_cast<std::size_t>(n + 1), 0);
    for (const auto& [u, list] : out) {
      for (int jcut = pos[u] + 1; jcut <= n; ++jcut) {
        double largest = 0;
        for (const auto& [w, bytes] : list)
          if (pos[w] >= jcut) largest = std::max(largest, bytes);
        cut[static_cast<std::size_t>(jcut)] += largest;
      }
    }
    std::vector<NestNode> seq;
    for (int id : order) seq.push_back(by_id[id]);
    in.widths.push_back(width);
    in.nodes.push_back(seq);
    in.cut_bytes.push_back(cut);
  }
  if (in.widths.empty()) o.fail("nodes", "has no tensor-parallel width");
  in.order_ids = order_ref;
  if (order_ref.size() < 3) o.fail("nodes", "needs at least three layers (first, one to split, last)");
  return in;
}

NestCostSource::NestCostSource(NestInstance inst) : inst_(std::move(inst)) {
  cluster_.name = "nest-input:" + inst_.name;
  cluster_.source = inst_.source;
  cluster_.gpu.name = "nest-device";
  cluster_.gpu.memory_bytes = inst_.memory_bytes;
  cluster_.memory_bytes = inst_.memory_bytes;
  for (std::size_t l = 0; l < inst_.devices_per_level.size(); ++l) {
    NetworkLevel lv;
    lv.name = "level" + std::to_string(l);
    lv.size = l + 1 == inst_.devices_per_level.size() ? 0 : inst_.devices_per_level[l];
    lv.bandwidth = inst_.bandwidth[l];
    lv.latency = inst_.latency[l];
    cluster_.levels.push_back(lv);
  }
  // Identical blocks in every width table (and identical cuts between them)?
  for (std::size_t w = 0; w < inst_.widths.size(); ++w) {
    const auto& seq = inst_.nodes[w];
    for (std::size_t i = 2; i + 1 < seq.size(); ++i) {
      const NestNode &a = seq[i], &b = seq[1];
      if (a.param_bytes != b.param_bytes || a.activation_bytes != b.activation_bytes || a.fw_ms != b.fw_ms || a.bw_ms != b.bw_ms)
        uniform_ = false;
    }
    const auto& cut = inst_.cut_bytes[w];
    for (std::size_t j = 2; j + 1 < cut.size(); ++j)  // cuts after the first .. before the last node
      if (cut[j] != cut[1]) uniform_ = false;
  }
}

std::int64_t NestCostSource::global_batch() const { return static_cast<std::int64_t>(std::ceil(inst_.microbatches)) * inst_.ep; }

// NEST traced the head into every block, so its graphs have no head node: the first node (the
// embedding) is pinned to the first stage and the last node to the last stage, and the nodes
// between them are the "blocks" the split distributes.
int NestCostSource::num_blocks() const { return static_cast<int>(inst_.order_ids.size()) - 2; }

int NestCostSource::width_index(int tp) const {
  for (std::size_t i = 0; i < inst_.widths.size(); ++i)
    if (inst_.widths[i] == tp) return static_cast<int>(i);
  return -1;
}

std::vector<int> NestCostSource::ep_candidates(int dp) const {
  if (dp % inst_.ep != 0) return {};
  return {inst_.ep};
}

// NEST: each of the d pipelines runs ceil(mbsInBatch / d) microbatches.
int NestCostSource::microbatches(int dp, int microbatch) const {
  if (microbatch != 1 || dp % inst_.ep != 0) return 0;
  const int d = dp / inst_.ep;
  return static_cast<int>(std::ceil(inst_.microbatches / d - 1e-9));
}

std::vector<std::string> NestCostSource::check(const Plan& plan) const {
  std::vector<std::string> v;
  const Parallelism& p = plan.par;
  if (width_index(p.tp) < 0) v.push_back("tp " + std::to_string(p.tp) + " has no layer table in " + inst_.source);
  if (p.cp != inst_.cp) v.push_back("cp must be the instance's " + std::to_string(inst_.cp));
  if (p.ep != inst_.ep) v.push_back("ep must be the instance's " + std::to_string(inst_.ep));
  if (p.dp % inst_.ep != 0) v.push_back("dp must be a multiple of ep");
  if (p.gpus() > inst_.max_devices)
    v.push_back("the plan uses " + std::to_string(p.gpus()) + " devices of " + std::to_string(inst_.max_devices));
  if (p.microbatch != 1) v.push_back("NEST instances fix the microbatch");
  for (const std::string& why : check_pipeline(p, plan.blocks_per_stage, num_blocks())) v.push_back(why);
  return v;
}

kernels::SliceContext NestCostSource::context(const Parallelism& par, const Placement& placement) const {
  kernels::SliceContext ctx;
  ctx.net = cluster_.network();
  ctx.dp_group = placement.dp;
  ctx.shard_group = placement.dp_shard;
  ctx.replicate_group = placement.dp_replicate;
  ctx.edp_group = placement.edp;
  ctx.zero_stage = par.zero;
  ctx.overlap_grad_reduce = false;  // NEST adds the data-parallel all-reduce after the pipeline
  ctx.overlap_param_gather = false;
  ctx.p = par.pp;
  ctx.pp = placement.pp_layout;
  ctx.v = par.schedule == Schedule::Interleaved ? par.virtual_stages : 1;
  ctx.m = par.num_microbatches;
  ctx.memory_capacity = inst_.memory_bytes;
  ctx.other_bytes = 0;  // NEST counts no framework overhead
  return ctx;
}

// Node i of width w's table; `pp` > 1 adds the bytes sent to the next stage.
kernels::LayerCost NestCostSource::node_cost(int w, int i, int pp) const {
  const auto& seq = inst_.nodes[static_cast<std::size_t>(w)];
  const auto& cut = inst_.cut_bytes[static_cast<std::size_t>(w)];
  const NestNode& x = seq[static_cast<std::size_t>(i)];
  kernels::LayerCost c;
  c.fwd = x.fw_ms * kMs;
  c.bwd = x.bw_ms * kMs + (inst_.recompute ? x.fw_ms * kMs : 0);
  c.weight_bytes = x.param_bytes;
  c.grad_bytes = x.param_bytes;
  c.optimizer_bytes = inst_.adam ? 6 * x.param_bytes : 0;
  // Recomputation keeps each layer's input (the bytes crossing the cut before it) and needs
  // one layer's full activations while recomputing; otherwise all activations are kept.
  c.act_bytes = inst_.recompute ? cut[static_cast<std::size_t>(i)] : x.activation_bytes;
  c.work_bytes = inst_.recompute ? x.activation_bytes : 0;
  c.dp_reduce_bytes = x.param_bytes;
  if (i + 1 < static_cast<int>(seq.size()) && pp > 1) c.send_bytes = cut[static_cast<std::size_t>(i + 1)];
  return c;
}

SliceCosts NestCostSource::slice_costs(const Parallelism& par, const Placement& placement) const {
  const int w = width_index(par.tp);
  if (w < 0) throw_bad_input(inst_.source, "no layer table for tp " + std::to_string(par.tp));
  SliceCosts sc;
  sc.placement = placement;
  sc.ctx = context(par, placement);
  const int n = static_cast<int>(inst_.nodes[static_cast<std::size_t>(w)].size());
  sc.layers.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    kernels::LayerCostDetail d;
    d.cost = node_cost(w, i, par.pp);
    d.compute_fwd = d.cost.fwd;
    d.compute_bwd = d.cost.bwd;
    sc.layers.push_back(d);
  }
  sc.shape.tp = par.tp;
  sc.shape.cp = par.cp;
  sc.shape.ep = par.ep;
  sc.shape.dp = par.dp;
  return sc;
}

SliceSummary NestCostSource::slice_summary(const Parallelism& par, const Placement& placement) const {
  const int w = width_index(par.tp);
  if (w < 0) throw_bad_input(inst_.source, "no layer table for tp " + std::to_string(par.tp));
  SliceSummary s;
  s.ctx = context(par, placement);
  const int n = static_cast<int>(inst_.nodes[static_cast<std::size_t>(w)].size());
  for (int i = 0; i < n; ++i) s.add(node_cost(w, i, par.pp));
  return s;
}

Problem NestCostSource::as_problem() const {
  Problem p;
  p.model.name = inst_.name;
  p.model.source = inst_.source;
  p.model.layers = num_blocks();
  p.cluster = cluster_;
  p.gpus = inst_.max_devices;
  p.global_batch = global_batch();
  p.seq_len = 0;
  return p;
}

Prediction NestCostSource::predict(const Plan& plan) const {
  Prediction pr;
  pr.violations = check(plan);
  pr.gpus_used = plan.par.gpus();
  if (!pr.violations.empty()) return pr;
  const SliceCosts sc = slice_costs(plan.par, plan.order);
  const int v = plan.par.schedule == Schedule::Interleaved ? plan.par.virtual_stages : 1;
  const auto layout = layout_stages(plan.blocks_per_stage, v);
  const SplitEval ev = evaluate_split(sc, layout);
  return make_prediction(as_problem(), nullptr, plan, sc, layout, ev);
}

Plan read_nest_output(const std::string& path, const NestInstance& inst, double* nest_time) {
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  Plan plan;
  const int d = static_cast<int>(o.positive_integer("dataParallelDegree"));
  plan.par.tp = static_cast<int>(o.positive_integer("tensorParallelDegree"));
  plan.par.cp = inst.cp;
  plan.par.ep = inst.ep;
  plan.par.dp = d * inst.ep;
  plan.par.microbatch = 1;
  plan.par.num_microbatches = static_cast<int>(std::ceil(inst.microbatches / d - 1e-9));
  plan.par.recompute = inst.recompute ? Recompute::Full : Recompute::None;
  if (nest_time) *nest_time = o.number("finalTimePerBatch");
  std::map<int, int> pos;
  for (std::size_t i = 0; i < inst.order_ids.size(); ++i) pos[inst.order_ids[i]] = static_cast<int>(i);
  const auto stages = o.objects("stages");
  plan.par.pp = static_cast<int>(stages.size());
  int expect = 0;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const std::vector<double> ids = stages[s].numbers("nodes");
    if (ids.empty()) stages[s].fail("nodes", "a stage without layers");
    std::vector<int> p;
    for (double id : ids) {
      const auto it = pos.find(static_cast<int>(id));
      if (it == pos.end()) stages[s].fail("nodes", "unknown layer id " + std::to_string(static_cast<int>(id)));
      p.push_back(it->second);
    }
    std::sort(p.begin(), p.end());
    for (int x : p)
      if (x != expect++) stages[s].fail("nodes", "stages must cover the layers contiguously in order");
    const int blocks = static_cast<int>(p.size()) - (s == 0 ? 1 : 0) - (s + 1 == stages.size() ? 1 : 0);
    plan.blocks_per_stage.push_back(blocks);
  }
  if (expect != static_cast<int>(inst.order_ids.size())) o.fail("stages", "do not cover every layer");
  return plan;
}

}  // namespace nest
