#include "nest/plan_file/plan_json.hpp"

#include <array>
#include <cmath>
#include <set>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/cost/placement.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/text.hpp"
#include "nest/model/layer_graph.hpp"

namespace nest {

namespace {

Json group_json(const Cluster& cluster, const kernels::GroupShape& g) {
  Json j;
  j["size"] = static_cast<long>(kernels::group_size(g) + 0.5);
  j["level"] = spanned_level(cluster, g);
  Json members = Json::array();
  for (int l = 0; l < g.num_levels; ++l) members.push_back(g.members[l]);
  j["members_per_level"] = members;
  return j;
}

Json memory_json(const MemoryBreakdown& m) {
  Json j{{"params", m.params},           {"grads", m.grads}, {"optimizer", m.optimizer}, {"activations", m.activations},
         {"working_set", m.working_set}, {"other", m.other}, {"total", m.total()}};
  if (m.grads_apart) j["grads_apart"] = true;  // the peak holds activations or gradients, the other is 0
  // Of params, grads and optimizer, the bytes in the framework's flat buffers (no allocator reserve).
  if (m.buffered > 0) j["in_buffers"] = m.buffered;
  return j;
}

// What the model is, for a reader of the plan file: its parameter counts (total and, for MoE,
// active per token; layer_graph.hpp's conventions), its blocks and their kinds. Written only; a
// plan is read back from `model` (the spec), so this cannot disagree with what is evaluated.
Json model_info_json(const ModelConfig& m) {
  const ParameterCount c = count_parameters(m);
  Json kinds = Json::array();
  for (const auto& [kind, count] : layer_kind_counts(m)) kinds.push_back(Json{{"kind", kind}, {"count", count}});
  Json j{{"model_type", m.model_type}, {"parameters", c.total}, {"active_parameters", c.active},
         {"layers", m.layers},         {"layer_kinds", kinds},  {"attention", to_string(m.attention())},
         {"mlp", to_string(m.mlp)}};
  if (c.mtp > 0) {
    j["mtp_parameters"] = c.mtp;
    j["parameters_without_mtp"] = c.main_total();
  }
  if (m.is_moe()) j["experts"] = Json{{"routed", m.experts}, {"per_token", m.experts_per_token}};
  return j;
}

}  // namespace

Json options_to_json(const TrainingOptions& o) {
  return Json{{"framework", to_string(o.framework)},
              {"flash_attention", o.flash_attention},
              {"attention_kernel", to_string(o.attention_kernel)},  // as given: auto is the framework's (framework.hpp)
              {"fp8_recipe", to_string(o.fp8_recipe)},              // as given, like attention_kernel
              {"cross_entropy", to_string(o.cross_entropy)},        // as given, like attention_kernel
              {"overlap_p2p", auto_on_off_text(o.overlap_p2p)},
              {"capacity_factor", o.capacity_factor},
              {"compile", o.compile},
              {"compile_loss", auto_on_off_text(o.compile_loss)},
              {"grad_reduce_in_bf16", o.grad_reduce_in_bf16},
              {"grad_bucket_size", o.grad_bucket_size},
              {"grad_accum_dtype", grad_accum_dtype_name(o)},
              {"store_param_remainders", o.store_param_remainders},
              {"loss_chunks", o.loss_chunks},
              {"fuse_qkv", o.fuse_qkv},
              {"pp_keeps_outputs", o.pp_keeps_outputs},
              {"pp_keeps_receive_buffers", o.pp_keeps_receive_buffers},
              {"document_length", o.document_length},
              {"pipeline_layout", o.pipeline_layout},
              {"repeat_kv", o.repeat_kv},
              {"expert_load", o.expert_load},
              {"moe_dispatch", o.moe_allgather ? "allgather" : "alltoall"}};
}

void options_from_json(const JsonObject& o, TrainingOptions& out) {
  if (o.has("framework")) out.framework = parse_framework(o.string("framework"), o.field_path("framework"));
  out.flash_attention = o.boolean_or("flash_attention", out.flash_attention);
  if (o.has("attention_kernel"))
    out.attention_kernel = parse_attention_kernel(o.string("attention_kernel"), o.field_path("attention_kernel"));
  if (o.has("fp8_recipe")) {
    out.fp8_recipe = parse_fp8_recipe(o.string("fp8_recipe"), o.field_path("fp8_recipe"));
    require_fp8_recipe(out, o.field_path("fp8_recipe"));
  }
  if (o.has("cross_entropy")) {
    out.cross_entropy = parse_cross_entropy(o.string("cross_entropy"), o.field_path("cross_entropy"));
    require_cross_entropy(out, o.field_path("cross_entropy"));
  }
  if (o.has("overlap_p2p")) {
    out.overlap_p2p = parse_auto_on_off(o.string("overlap_p2p"), o.field_path("overlap_p2p"));
    require_overlap_p2p(out, o.field_path("overlap_p2p"));
  }
  if (o.has("capacity_factor")) out.capacity_factor = o.number_in("capacity_factor", 1, 1e6);
  out.compile = o.boolean_or("compile", out.compile);
  if (o.has("compile_loss")) out.compile_loss = parse_auto_on_off(o.string("compile_loss"), o.field_path("compile_loss"));
  out.grad_reduce_in_bf16 = o.boolean_or("grad_reduce_in_bf16", out.grad_reduce_in_bf16);
  if (o.has("grad_bucket_size")) require_grad_bucket_size(o.number("grad_bucket_size"), out, o.field_path("grad_bucket_size"));
  if (o.has("grad_accum_dtype")) require_grad_accum_dtype(o.string("grad_accum_dtype"), out, o.field_path("grad_accum_dtype"));
  out.store_param_remainders = o.boolean_or("store_param_remainders", out.store_param_remainders);
  if (out.store_param_remainders && out.framework != FrameworkKind::Megatron)
    o.fail("store_param_remainders",
           "is Megatron's distributed optimizer's; this plan's framework is " + std::string(to_string(out.framework)));
  out.fuse_qkv = o.boolean_or("fuse_qkv", out.fuse_qkv);
  out.pp_keeps_outputs = o.boolean_or("pp_keeps_outputs", out.pp_keeps_outputs);
  out.pp_keeps_receive_buffers = o.boolean_or("pp_keeps_receive_buffers", out.pp_keeps_receive_buffers);
  if (o.has("document_length")) {
    out.document_length = static_cast<long>(o.number_in("document_length", 0, 1e9));
    if (static_cast<double>(out.document_length) != o.number("document_length"))
      o.fail("document_length", "must be a whole number of tokens");
    require_document_masks(out, o.field_path("document_length"));
  }
  out.pipeline_layout = o.boolean_or("pipeline_layout", out.pipeline_layout);
  out.repeat_kv = o.boolean_or("repeat_kv", out.repeat_kv);
  if (o.has("loss_chunks")) out.loss_chunks = static_cast<int>(o.number_in("loss_chunks", 0, 1 << 20));
  if (o.has("expert_load")) out.expert_load = o.number_in("expert_load", 1, 1e6);
  if (o.has("moe_dispatch")) {
    const std::string d = o.string("moe_dispatch");
    if (d != "alltoall" && d != "allgather") o.fail("moe_dispatch", "'" + d + "' is not alltoall or allgather");
    out.moe_allgather = d == "allgather";
  }
}

void write_outages(const Outages& out, Json& j) {
  if (!out.nodes.empty()) j["unavailable_nodes"] = out.nodes;
  if (!out.gpus.empty()) j["unavailable_gpus"] = out.gpus;
  if (!out.lost_switch.empty()) j["lost_switch"] = out.lost_switch;
  if (out.gpu_power_limit > 0) j["gpu_power_limit_W"] = out.gpu_power_limit;
  if (!out.settings.empty()) {
    Json set = Json::array();
    for (const ClusterSetting& s : out.settings) set.push_back(s.path + "=" + s.value);
    j["cluster_set"] = set;
  }
}

Json plan_to_json(const Problem& problem, const std::string& model_spec, const std::string& cluster_spec, const Plan& plan,
                  const Prediction& pr) {
  const Parallelism& p = plan.par;
  Json j;
  j["schema"] = kPlanSchema;
  j["model"] = model_spec;
  j["cluster"] = cluster_spec;
  if (!problem.profile.empty()) j["profile"] = problem.profile;
  write_outages(problem.outages, j);
  j["gpus"] = problem.gpus;
  j["global_batch"] = problem.global_batch;
  j["seq_len"] = problem.seq_len;
  // A NEST solver input has tabulated costs and no model description.
  if (problem.model.layers > 0) j["model_info"] = model_info_json(problem.model);
  j["feasible"] = pr.feasible;
  j["parallelism"] = Json{{"tp", p.tp},
                          {"pp", p.pp},
                          {"dp", p.dp},
                          {"cp", p.cp},
                          {"ep", p.ep},
                          {"etp", p.expert_tp()},
                          {"sp", p.sp},
                          {"microbatch", p.microbatch},
                          {"num_microbatches", p.num_microbatches},
                          {"zero", p.zero},
                          {"recompute", to_string(p.recompute)},
                          {"schedule", to_string(p.schedule)},
                          {"virtual_stages", p.virtual_stages},
                          {"precision", to_string(p.precision)},
                          {"overlap_grad_reduce", p.overlap_grad_reduce},
                          {"overlap_param_gather", p.overlap_param_gather},
                          {"tp_comm_overlap", p.tp_comm_overlap},
                          {"ep_comm_overlap", p.ep_comm_overlap},
                          {"offload_optimizer", p.offload_optimizer},
                          {"offload_activations", p.offload_activations},
                          {"offload_layers", p.offload_layers},
                          {"dp_shard", p.dp_shard}};
  if (p.recompute == Recompute::Selective) j["parallelism"]["recompute_modules"] = recompute_modules_text(p.recompute_modules);
  const Framework& fw = framework(problem.options.framework);
  j["framework"] = Json{{"name", to_string(problem.options.framework)}, {"release", fw.release()}};
  // Why its launch script cannot be written for this plan (nest export refuses with the first).
  if (pr.evaluated) {
    Json refusals = Json::array();
    for (const LaunchRefusal& r : fw.launch_refusals(problem, plan)) refusals.push_back(r.message);
    j["framework"]["launch_refusals"] = refusals;
  }
  j["layers_per_stage"] = plan.blocks_per_stage;
  j["options"] = options_to_json(problem.options);
  Json stages = Json::array();
  for (const StageReport& s : pr.stages) {
    Json chunks = Json::array();
    for (const auto& [a, b] : s.chunks) chunks.push_back(Json::array({a, b}));
    stages.push_back(Json{{"index", s.index},
                          {"layers", Json::array({s.chunks.front().first, s.chunks.front().second})},
                          {"chunks", chunks},
                          {"blocks", s.blocks},
                          {"devices", s.devices},
                          {"time_s", s.time},
                          {"time_breakdown_s", Json{{"compute", s.compute},
                                                    {"tp", s.tp},
                                                    {"cp", s.cp},
                                                    {"ep", s.ep},
                                                    {"pp", s.pp},
                                                    {"dp_microbatch", s.dp_microbatch},
                                                    {"offload", s.offload}}},
                          {"tail_s", s.tail},
                          {"memory_bytes", memory_json(s.memory)}});
    if (s.working_set_layer > -2) stages.back()["working_set_layer"] = s.working_set_layer;
  }
  j["stages"] = stages;
  Json placement;
  placement["order"] = plan.order.str();
  if (pr.evaluated) {
    const Cluster& c = problem.cluster;
    placement["groups"] = Json{{"tp", group_json(c, pr.placement.tp)},
                               {"cp", group_json(c, pr.placement.cp)},
                               {"ep", group_json(c, pr.placement.ep)},
                               {"dp", group_json(c, pr.placement.dp)},
                               {"pp", group_json(c, pr.placement.pp)}};
    if (p.folded()) {
      placement["groups"]["etp"] = group_json(c, pr.placement.etp);
      placement["groups"]["edp"] = group_json(c, pr.placement.edp);
    }
    // HSDP: the shard groups (parameters and gradients sharded) and the replicas (reduced across).
    if (p.dp_shard > 0 && p.dp_shard < p.dp) {
      placement["groups"]["dp_shard"] = group_json(c, pr.placement.dp_shard);
      placement["groups"]["dp_replicate"] = group_json(c, pr.placement.dp_replicate);
    }
    // One level name per pipeline boundary (stage i to i+1); the interleaved schedule adds the
    // wrap from the last stage back to the first as a last entry.
    Json levels = Json::array();
    for (int l : pp_boundary_levels(pr.placement, p.schedule == Schedule::Interleaved))
      levels.push_back(c.levels[static_cast<std::size_t>(l)].name);
    placement["pp_boundary_levels"] = levels;
    // On a topology, where the ranks physically are (the rank map's GPUs): the nodes (hosts, as
    // the rank map counts them) and local GPUs the job uses, and each pipeline stage's nodes.
    if (c.topology && !c.topology->spec().is_torus && !pr.placement.from_rank_map) {
      const std::vector<std::int64_t> gpu = c.topology->job_gpus(p.gpus());
      const std::int64_t g = gpus_per_host(c, p.gpus());
      const std::array<std::int64_t, 5> size = dense_grid_sizes(p);
      std::vector<std::set<std::int64_t>> stage_nodes(static_cast<std::size_t>(p.pp));
      std::set<std::int64_t> nodes, local;
      for (std::int64_t r = 0; r < p.gpus(); ++r) {
        const std::int64_t x = gpu[static_cast<std::size_t>(r)];
        const std::int64_t stage = rank_coordinates(plan.order, size, r)[static_cast<std::size_t>(Dim::PP)];
        stage_nodes[static_cast<std::size_t>(stage)].insert(x / g);
        nodes.insert(x / g);
        local.insert(x % g);
      }
      auto ranges = [](const std::set<std::int64_t>& xs) { return index_ranges({xs.begin(), xs.end()}); };
      Json stages_json = Json::array();
      for (const auto& s : stage_nodes) stages_json.push_back(ranges(s));
      placement["physical"] = Json{{"nodes", ranges(nodes)}, {"local_gpus", ranges(local)}, {"stage_nodes", stages_json}};
    }
  }
  j["placement"] = placement;
  if (pr.evaluated) {
    j["prediction"] = Json{{"step_time_s", pr.step_time},
                           {"tokens_per_s", pr.tokens_per_s},
                           {"mfu", pr.mfu},
                           {"model_tflops_per_gpu", pr.model_tflops_per_gpu},
                           {"hardware_tflops_per_gpu", pr.hardware_tflops_per_gpu},
                           {"bottleneck_stage", pr.bottleneck_stage},
                           {"bubble_sends_s", pr.breakdown.bubble_sends},
                           {"breakdown_s", Json{{"compute", pr.breakdown.compute},
                                                {"bubble", pr.breakdown.bubble},
                                                {"tp", pr.breakdown.tp},
                                                {"cp", pr.breakdown.cp},
                                                {"ep", pr.breakdown.ep},
                                                {"pp", pr.breakdown.pp},
                                                {"dp", pr.breakdown.dp},
                                                {"optimizer", pr.breakdown.optimizer}}}};
  }
  if (!pr.violations.empty()) j["violations"] = pr.violations;
  return j;
}

PlanFile read_plan_file(const std::string& path) {
  const Json j = read_json_file(path);
  const JsonObject o(j, path);
  const std::string schema = o.string("schema");
  if (schema != kPlanSchema) o.fail("schema", "'" + schema + "' is not " + kPlanSchema);
  PlanFile f;
  f.model_spec = o.string("model");
  f.cluster_spec = o.string("cluster");
  f.profile_spec = o.string_or("profile", "");
  for (const auto& [key, list] :
       {std::pair{"unavailable_nodes", &f.outages.nodes}, std::pair{"unavailable_gpus", &f.outages.gpus}})
    if (o.has(key))
      for (double n : o.numbers(key)) {
        if (n != std::floor(n) || n < 0 || n >= static_cast<double>(limits::kMaxGpus))
          o.fail(key, "must list indices (integers from 0)");
        list->push_back(static_cast<std::int64_t>(n));
      }
  f.outages.lost_switch = o.string_or("lost_switch", "");
  if (o.has("gpu_power_limit_W")) f.outages.gpu_power_limit = o.number_in("gpu_power_limit_W", 1, limits::kMaxGpuPowerWatts);
  if (o.has("cluster_set")) {
    if (!j["cluster_set"].is_array()) o.fail("cluster_set", "must be a list of \"PATH=VALUE\" strings");
    for (const Json& s : j["cluster_set"]) {
      if (!s.is_string()) o.fail("cluster_set", "must be a list of \"PATH=VALUE\" strings");
      f.outages.settings.push_back(parse_cluster_setting(s.get<std::string>(), path + ": field 'cluster_set'"));
    }
  }
  f.gpus = o.integer_in("gpus", 1, limits::kMaxGpus);
  f.global_batch = o.integer_in("global_batch", 1, limits::kMaxGlobalBatch);
  // A plan of a NEST solver input (model and cluster are the input file) has tabulated costs and
  // no sequence length.
  f.seq_len = o.integer_in("seq_len", f.model_spec == f.cluster_spec ? 0 : 1, limits::kMaxSeqLen);
  if (o.has("options")) options_from_json(o.object("options"), f.options);
  // `nest plan --out` records a search that found nothing (feasible false, no parallelism).
  if (!o.has("parallelism") && j.contains("feasible") && j["feasible"] == false)
    o.fail("parallelism", "missing: the file records a search that found no feasible plan");
  const JsonObject p = o.object("parallelism");
  // Degrees and counts of one plan: none can exceed the GPUs (or the batch) of a valid problem.
  auto degree = [&](const char* k) { return static_cast<int>(p.integer_in(k, 1, limits::kMaxGpus)); };
  auto degree_or_1 = [&](const char* k) { return p.has(k) ? degree(k) : 1; };
  Parallelism& par = f.plan.par;
  par.tp = degree("tp");
  par.pp = degree("pp");
  par.dp = degree("dp");
  par.cp = degree_or_1("cp");
  par.ep = degree_or_1("ep");
  // Plans written before expert tensor parallelism had its own degree: expert TP = tp.
  if (p.has("etp")) par.etp = degree("etp");
  par.sp = p.boolean_or("sp", false);
  par.microbatch = static_cast<int>(p.integer_in("microbatch", 1, limits::kMaxGlobalBatch));
  par.num_microbatches = static_cast<int>(p.integer_in("num_microbatches", 1, limits::kMaxGlobalBatch));
  par.zero = static_cast<int>(p.integer_in("zero", 0, 3));
  par.recompute = parse_recompute(p.string("recompute"), path + ": field 'parallelism.recompute'");
  if (p.has("recompute_modules")) {
    if (par.recompute != Recompute::Selective) p.fail("recompute_modules", "names modules, but recompute is not selective");
    par.recompute_modules =
        parse_recompute_modules(p.string("recompute_modules"), path + ": field 'parallelism.recompute_modules'");
  }
  par.schedule = parse_schedule(p.string("schedule"), path + ": field 'parallelism.schedule'");
  par.virtual_stages = static_cast<int>(p.has("virtual_stages") ? p.integer_in("virtual_stages", 1, limits::kMaxLayers) : 1);
  if (p.has("precision")) par.precision = parse_precision(p.string("precision"), p.field_path("precision"));
  par.overlap_grad_reduce = p.boolean_or("overlap_grad_reduce", par.overlap_grad_reduce);
  par.overlap_param_gather = p.boolean_or("overlap_param_gather", par.overlap_param_gather);
  par.tp_comm_overlap = p.boolean_or("tp_comm_overlap", par.tp_comm_overlap);
  par.ep_comm_overlap = p.boolean_or("ep_comm_overlap", par.ep_comm_overlap);
  par.offload_optimizer = p.boolean_or("offload_optimizer", par.offload_optimizer);
  par.offload_activations = p.boolean_or("offload_activations", par.offload_activations);
  if (p.has("offload_layers")) {
    par.offload_layers = static_cast<int>(p.integer_in("offload_layers", 0, limits::kMaxLayers));
    if (par.offload_layers > 0 && !par.offload_activations)
      p.fail("offload_layers", "offloads blocks, but offload_activations is false");
  }
  if (p.has("dp_shard")) par.dp_shard = static_cast<int>(p.integer_in("dp_shard", 0, limits::kMaxGpus));
  if (o.has("framework")) {
    const JsonObject fw = o.object("framework");
    f.options.framework = parse_framework(fw.string("name"), fw.field_path("name"));
  }
  if (o.has("layers_per_stage")) {
    for (double x : o.numbers("layers_per_stage")) {
      if (!(x >= 0 && x <= static_cast<double>(limits::kMaxLayers)) || x != std::floor(x))
        o.fail("layers_per_stage", "must list integers from 0 to " + std::to_string(limits::kMaxLayers));
      f.plan.blocks_per_stage.push_back(static_cast<int>(x));
    }
  } else {
    for (const JsonObject& s : o.objects("stages"))
      f.plan.blocks_per_stage.push_back(static_cast<int>(s.integer_in("blocks", 0, limits::kMaxLayers)));
  }
  if (o.has("placement")) {
    const JsonObject pl = o.object("placement");
    if (pl.has("order")) f.plan.order = RankOrder::parse(pl.string("order"), path + ": field 'placement.order'");
  }
  return f;
}

}  // namespace nest
