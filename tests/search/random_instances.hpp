// Random small planning instances for the exactness tests: analytic ones (random transformer
// dimensions, dense/MoE mixtures, random multi-level clusters, tight memory) and tabulated
// ones (random per-layer costs in NEST's input format).
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "nest/io/json.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/nest_input.hpp"
#include "nest/search/search_space.hpp"
#include "support/test_support.hpp"

namespace nest::test {

struct RandomInstance {
  std::string description;
  std::unique_ptr<CostSource> source;
  SearchOptions space;  // kept small so the exhaustive search finishes
};

inline int pick(std::mt19937& rng, std::initializer_list<int> xs) {
  std::uniform_int_distribution<std::size_t> d(0, xs.size() - 1);
  return *(xs.begin() + d(rng));
}

inline double uniform(std::mt19937& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

inline Json random_gpu_json(std::mt19937& rng, double memory_gb) {
  return Json{
      {"memory_GB", memory_gb},
      {"generation", "random"},
      {"sustained", uniform(rng, 0.5, 1)},
      {"peak_TFLOPs", Json{{"bf16", uniform(rng, 50, 1000)}}},
      {"hbm_GBps", uniform(rng, 500, 4000)},
      {"host_link_GBps", 64.0},  // fixed (no draw): activation offload where an instance allows it
      {"operators", Json{{"gemm", Json{{"bf16", Json{{"eta_max", uniform(rng, 0.3, 0.9)}, {"half_dim", uniform(rng, 0, 300)}}}}},
                         {"attention", Json{{"kernel", "random"},
                                            {"fwd", uniform(rng, 0.2, 0.8)},
                                            {"bwd", uniform(rng, 0.2, 0.8)},
                                            {"half_span", uniform(rng, 0, 600)},
                                            {"causal_fwd", uniform(rng, 0.7, 1)},
                                            {"causal_bwd", uniform(rng, 0.7, 1)}}},
                         {"memory", Json{{"efficiency", uniform(rng, 0.5, 0.9)}}},
                         {"kernel_launch", Json{{"us", uniform(rng, 0, 10)}}}}}};
}

inline Json random_cluster_json(std::mt19937& rng, double memory_gb) {
  Json levels = Json::array();
  const int n = pick(rng, {1, 2, 3});
  for (int l = 0; l < n; ++l) {
    Json lv{{"name", std::string("l") + std::to_string(l)},
            {"bandwidth_GBps", uniform(rng, 2, 400)},
            {"latency_s", uniform(rng, 1e-6, 1e-4)}};
    if (l + 1 < n) lv["size"] = pick(rng, {2, 4});
    levels.push_back(lv);
  }
  return Json{{"name", "random"}, {"gpu", random_gpu_json(rng, memory_gb)}, {"levels", levels}};
}

// A random cluster of sizes.size() + 1 levels: level l < sizes.size() of a size drawn from
// sizes[l], the top level unbounded; random bandwidths, latencies and (half the time) a
// point-to-point bandwidth of its own.
inline Cluster random_levels_cluster(std::mt19937& rng, int id, double memory_gb, const std::vector<std::vector<int>>& sizes) {
  Json levels = Json::array();
  for (std::size_t l = 0; l <= sizes.size(); ++l) {
    Json lv{{"name", std::string("l") + std::to_string(l)},
            {"bandwidth_GBps", uniform(rng, 2, 400)},
            {"latency_s", uniform(rng, 1e-6, 1e-4)}};
    if (l < sizes.size()) lv["size"] = sizes[l][std::uniform_int_distribution<std::size_t>(0, sizes[l].size() - 1)(rng)];
    if (pick(rng, {0, 1}) == 1) lv["p2p_bandwidth_GBps"] = uniform(rng, 1, 100);
    levels.push_back(lv);
  }
  const Json cluster{{"name", "random"}, {"gpu", random_gpu_json(rng, memory_gb)}, {"levels", levels}};
  return load_cluster(write_temp(std::string("rand_cluster_") + std::to_string(id) + ".json", cluster.dump()));
}

// A random transformer (dense, uniform MoE or alternating dense/MoE), its depth one of
// `layer_choices`.
inline ModelConfig random_model(std::mt19937& rng, int id, std::initializer_list<int> layer_choices) {
  const int heads = pick(rng, {4, 8});
  const int kv = pick(rng, {1, 2, 4}) > heads ? heads : pick(rng, {2, 4});
  const int head_dim = pick(rng, {32, 64});
  const int hidden = heads * head_dim;
  const int layers = pick(rng, layer_choices);
  const int kind = pick(rng, {0, 0, 1, 2});  // dense, mixtral (uniform MoE), qwen2_moe (alternating)
  Json cfg{{"hidden_size", hidden},
           {"num_hidden_layers", layers},
           {"num_attention_heads", heads},
           {"num_key_value_heads", kv},
           {"vocab_size", pick(rng, {1000, 8000, 32000})},
           {"intermediate_size", hidden * pick(rng, {2, 3, 4})},
           {"tie_word_embeddings", pick(rng, {0, 1}) == 1}};
  if (kind == 0) cfg["model_type"] = "llama";
  if (kind == 1) {
    cfg["model_type"] = "mixtral";
    cfg["num_local_experts"] = pick(rng, {2, 4});
    cfg["num_experts_per_tok"] = 2;
  }
  if (kind == 2) {
    cfg["model_type"] = "qwen2_moe";
    cfg["num_experts"] = 4;
    cfg["num_experts_per_tok"] = pick(rng, {1, 2});
    cfg["moe_intermediate_size"] = hidden;
    cfg["decoder_sparse_step"] = 2;
  }
  return load_model(write_temp(std::string("rand_model_") + std::to_string(id) + ".json", cfg.dump()));
}

// Megatron-LM's gradient buckets (TrainingSettings::grad_bucket_params) on half the Megatron and
// framework-free instances: the model cut into 2 to 16 buckets' worth, so that first stages hold
// one bucket to many (Megatron's default, 40M parameters at least, is one bucket for these
// models). Drawn from the instance's id, not the shared generator, so the other draws stay.
inline void random_grad_buckets(Problem& p, int id) {
  if (p.options.framework != FrameworkKind::Megatron && p.options.framework != FrameworkKind::Any) return;
  std::mt19937 own(static_cast<unsigned>(id) * 2654435761u + 17u);
  const int cut = std::uniform_int_distribution<int>(0, 16)(own);
  if (cut < 2) return;
  p.options.grad_bucket_size = static_cast<long long>(count_parameters(p.model).total / cut) + 1;
}

// DeepSpeed's fp32 gradient accumulation (its BF16_Optimizer at ZeRO-1: an all-reduced fp32
// buffer and the cast of each gradient into it) on every other DeepSpeed instance; ZeRO-0/2/3
// plans are then refused. Drawn from the id, as the buckets are.
inline void random_grad_accum(Problem& p, int id) {
  if (p.options.framework == FrameworkKind::Deepspeed && id % 2 == 1) p.options.grad_accum_fp32 = true;
}

inline RandomInstance random_analytic(std::mt19937& rng, int id) {
  Problem p;
  p.model = random_model(rng, id, {2, 3, 4, 5, 6, 8});
  const int layers = static_cast<int>(p.model.layers);
  p.gpus = pick(rng, {2, 4, 8});
  p.global_batch = pick(rng, {2, 4, 8, 16});
  p.seq_len = pick(rng, {128, 256, 512});
  p.options.framework = static_cast<FrameworkKind>(pick(rng, {0, 1, 2, 3, 3}));
  p.options.flash_attention = pick(rng, {0, 1}) == 1;
  p.options.compile = pick(rng, {0, 1}) == 1;
  // Memory: from "nothing fits" to "everything fits", around the model state per GPU.
  const double state = count_parameters(p.model).total * 18.0 / static_cast<double>(p.gpus);
  // (plus what the CUDA context and NCCL take outside the model: 0.5 GiB and 128 MiB per communicator)
  const double runtime = 0.5 * 1073741824.0 + uniform(rng, 0, 5) * 134217728.0;
  const double memory_gb = (state * uniform(rng, 0.3, 6.0) + runtime) / 1e9 + 1e-3;
  const std::string cluster_path =
      write_temp(std::string("rand_cluster_") + std::to_string(id) + ".json", random_cluster_json(rng, memory_gb).dump());
  p.cluster = load_cluster(cluster_path);
  RandomInstance r;
  r.description = std::string("analytic #") + std::to_string(id) + " (" + p.model.model_type + std::string(", ") +
                  std::to_string(layers) + std::string(" layers, ") + std::to_string(p.gpus) + " GPUs)";
  random_grad_buckets(p, id);
  random_grad_accum(p, id);
  r.source = std::make_unique<AnalyticCostSource>(p);
  r.space.microbatch = {1, 2};
  r.space.orders = {RankOrder{}, RankOrder::parse("pp-ep-dp-cp-tp", "test"), RankOrder::parse("cp-ep-dp-tp-pp", "test"),
                    RankOrder::parse("tp-cp-pp-ep-dp", "test")};
  // Overlap switches: free (the search picks), or fixed on or off.
  const int sw = pick(rng, {0, 1, 2});
  if (sw > 0) r.space.overlap_grad_reduce = r.space.overlap_param_gather = {sw == 1};
  r.space.offload_optimizer = r.space.offload_activations = {false};
  return r;
}

// Pipelines whose boundaries cross different network levels: level-0 domains of 2-4 GPUs
// (some not dividing the job, which leaves the last domain partly filled), rank orders that put
// pp inside, between or outside tp and dp, so that pp strides of 1 to 8 meet them.
inline RandomInstance random_mixed_levels(std::mt19937& rng, int id) {
  Problem p;
  p.model = random_model(rng, id, {3, 4, 6, 8});
  p.gpus = pick(rng, {6, 8, 12, 16});
  p.global_batch = pick(rng, {4, 8, 12, 24});
  p.seq_len = pick(rng, {128, 256});
  // Every rank order: the framework-free space (--framework any).
  p.options.framework = FrameworkKind::Any;
  p.options.flash_attention = pick(rng, {0, 1}) == 1;
  const double state = count_parameters(p.model).total * 18.0 / static_cast<double>(p.gpus);
  const double runtime = 0.5 * 1073741824.0 + uniform(rng, 0, 5) * 134217728.0;
  const double memory_gb = (state * uniform(rng, 0.5, 6.0) + runtime) / 1e9 + 1e-3;
  const int n = pick(rng, {2, 3, 3});
  std::vector<std::vector<int>> sizes(static_cast<std::size_t>(n - 1), std::vector<int>{2, 3});
  sizes[0] = {2, 3, 4};
  p.cluster = random_levels_cluster(rng, id, memory_gb, sizes);
  RandomInstance r;
  r.description = std::string("mixed levels #") + std::to_string(id) + " (" + p.model.model_type + ", " +
                  std::to_string(p.model.layers) + " layers, " + std::to_string(p.gpus) + " GPUs, level 0 of " +
                  std::to_string(p.cluster.levels[0].size) + ")";
  random_grad_buckets(p, id);
  random_grad_accum(p, id);
  r.source = std::make_unique<AnalyticCostSource>(p);
  r.space.microbatch = {1};
  r.space.cp = {1};
  r.space.orders = {RankOrder{}, RankOrder::parse("pp-tp-cp-ep-dp", "test"), RankOrder::parse("tp-pp-cp-ep-dp", "test"),
                    RankOrder::parse("tp-cp-pp-ep-dp", "test")};
  return r;
}

// Tabulated instances: `blocks` and `devices` choices (the small defaults keep the planner's own
// exhaustive mode quick; the reference tests take up to 24 blocks on 64 devices).
// Larger instances for the independent reference (tests/search/reference_planner.hpp): 12-24
// blocks, 16-64 GPUs on three levels (level-0 domains of 2, 4 or 8 GPUs, some not dividing the
// job), every framework, both schedules, and pipelines kept to at most 4 stages on the deep
// models (at most 8 on 12 blocks) so that every split of every plan can be enumerated.
// `framework`: the instance's framework (default: one at random).
// `pytorch_buffers`: PyTorch pipelining's per-microbatch receive buffers and kept outputs (torchtitan
// on PyTorch before 2026-08; the framework must be torchtitan).
inline RandomInstance random_large_analytic(std::mt19937& rng, int id, std::optional<FrameworkKind> framework = std::nullopt,
                                            bool pytorch_buffers = false) {
  Problem p;
  p.model = random_model(rng, id, {12, 16, 20, 24});
  const int layers = static_cast<int>(p.model.layers);
  p.gpus = pick(rng, {16, 24, 32, 48, 64});
  p.global_batch = pick(rng, {32, 64, 128});
  p.seq_len = pick(rng, {256, 512});
  p.options.framework = static_cast<FrameworkKind>(pick(rng, {0, 1, 2, 3}));
  if (framework) p.options.framework = *framework;
  p.options.pp_keeps_receive_buffers = p.options.pp_keeps_outputs = pytorch_buffers;
  if (pytorch_buffers) {  // many long microbatches: buffers of a size that decides what fits
    p.global_batch = pick(rng, {256, 512});
    p.seq_len = pick(rng, {1024, 2048});
  }
  p.options.flash_attention = pytorch_buffers || pick(rng, {0, 1}) == 1;
  const double state = count_parameters(p.model).total * 18.0 / static_cast<double>(p.gpus);
  const double runtime = 0.5 * 1073741824.0 + uniform(rng, 0, 5) * 134217728.0;
  // The runtime's communicator buffers dominate these small models' state: add 0 to 1.5 GB of
  // room for activations, from "only full recomputation fits" to "everything fits".
  const double memory_gb =
      (state * uniform(rng, 1.0, 6.0) + runtime) / 1e9 + (pytorch_buffers ? uniform(rng, 1, 6) : uniform(rng, 0, 1.5));
  p.cluster = random_levels_cluster(rng, id, memory_gb, {{2, 4, 6, 8}, {2, 3, 4}});
  RandomInstance r;
  r.description = std::string("large analytic #") + std::to_string(id) + " (" + p.model.model_type + ", " +
                  std::to_string(layers) + " layers, " + std::to_string(p.gpus) + " GPUs, framework " +
                  std::to_string(static_cast<int>(p.options.framework)) + ")";
  random_grad_buckets(p, id);
  random_grad_accum(p, id);
  r.source = std::make_unique<AnalyticCostSource>(p);
  r.space.pp = layers <= 12 ? std::vector<int>{1, 2, 3, 4, 6, 8} : std::vector<int>{1, 2, 3, 4};
  r.space.microbatch = {1, 2};
  r.space.cp = {1, 2};
  r.space.recompute = {Recompute::None, Recompute::Full};
  // The framework's own rank orders, or two random ones of the 24 without a framework.
  const std::vector<RankOrder> all = all_rank_orders();
  if (p.options.framework == FrameworkKind::Any)
    for (int k = 0; k < 2; ++k) r.space.orders.push_back(all[std::uniform_int_distribution<std::size_t>(0, all.size() - 1)(rng)]);
  // Overlap switches free (the planner keeps the undominated ones) or fixed; TP overlap off (the
  // small instances search it).
  const int sw = pick(rng, {0, 1, 2});
  if (sw > 0) r.space.overlap_grad_reduce = r.space.overlap_param_gather = {sw == 1};
  r.space.tp_comm_overlap = {false};
  r.space.offload_optimizer = r.space.offload_activations = {false};
  return r;
}

inline RandomInstance random_tabulated(std::mt19937& rng, int id,
                                       std::initializer_list<int> block_choices = {2, 3, 4, 5, 6, 7, 8},
                                       std::initializer_list<int> device_choices = {2, 4, 8}) {
  const int blocks = pick(rng, block_choices);
  const bool uniform_blocks = pick(rng, {0, 1}) == 1;
  const int devices = pick(rng, device_choices);
  Json nodes = Json::object(), edges = Json::object();
  for (int width : {1, 2}) {
    Json ns = Json::array(), es = Json::array();
    const double base_fw = uniform(rng, 1, 50), base_p = uniform(rng, 1e8, 1e9), base_a = uniform(rng, 1e8, 2e9);
    for (int id2 = -1; id2 <= blocks; ++id2) {
      const bool same = uniform_blocks && id2 >= 0 && id2 < blocks;
      const double fw = same ? base_fw / width : uniform(rng, 0.5, 60) / width;
      ns.push_back(Json{{"id", id2},
                        {"parameterSize", same ? base_p / width : uniform(rng, 1e7, 1.2e9) / width},
                        {"activationSize", same ? base_a : uniform(rng, 1e7, 2e9)},
                        {"optimalLatencyFw", fw},
                        {"optimalLatencyBw", fw * (same ? 2.0 : uniform(rng, 1, 3))},
                        {"isTensorParallelized", width > 1}});
      if (id2 >= 0)
        es.push_back(
            Json{{"sourceId", id2 - 1}, {"destId", id2}, {"communicationCost", uniform_blocks ? 4e7 : uniform(rng, 1e6, 1e8)}});
    }
    nodes[std::to_string(width)] = ns;
    edges[std::to_string(width)] = es;
  }
  Json bws = Json::array(), lat = Json::array(), dpl = Json::array();
  const int levels = pick(rng, {1, 2, 3});
  for (int l = 0; l < levels; ++l) {
    bws.push_back(uniform(rng, 1e9, 5e11));
    lat.push_back(uniform(rng, 1e-6, 1e-3));
    dpl.push_back(l + 1 < levels ? pick(rng, {2, 4}) : std::max(8, devices));
  }
  const Json in{{"maxDevices", devices},
                {"maxMemoryPerDevice", uniform(rng, 2e9, 4e10)},
                {"devices_per_level", dpl},
                {"bws", bws},
                {"latency_per_level", lat},
                {"mbsInBatch", pick(rng, {1, 2, 3, 4, 8, 33})},
                {"activationRecomputation", pick(rng, {0, 1}) == 1},
                {"optimizerAlgorithm", pick(rng, {0, 1}) == 1 ? "Adam" : "SGD"},
                {"ep_degree", 1},
                {"cp_degree", 1},
                {"sp_enabled", false},
                {"nodes", nodes},
                {"edges", edges}};
  const std::string path = write_temp(std::string("rand_nest_") + std::to_string(id) + ".json", in.dump());
  RandomInstance r;
  r.description = std::string("tabulated #") + std::to_string(id) + std::string(" (") + std::to_string(blocks) + " blocks, " +
                  (uniform_blocks ? "uniform" : "mixed") + std::string(", ") + std::to_string(devices) + " devices)";
  r.source = std::make_unique<NestCostSource>(read_nest_input(path));
  r.space.allow_idle = true;
  return r;
}

}  // namespace nest::test
