// DeepSpeed 0.19.8 launch script: the DeepSpeed config JSON (written by the script with a
// here-document), then torchrun pretrain_gpt.py of Megatron-DeepSpeed
// (deepspeedai/Megatron-DeepSpeed@4efb479d) with --deepspeed. DeepSpeed citations are at the
// 0.19.8 sdist, Megatron-DeepSpeed ones at 4efb479d; docs/frameworks.md §6.3.
#include "frameworks.hpp"
#include "launch_script.hpp"
#include "nest/core/error.hpp"
#include "nest/io/json.hpp"

namespace nest {

namespace {

using launch::Script;

std::string str(long x) { return std::to_string(x); }

// runtime/zero/config.py:113, :132: 5e8-element buckets, the sizes the memory recipe counts.
constexpr long kBucketElements = 500000000;

// What Megatron-DeepSpeed's GPT model (megatron/model/transformer.py at 4efb479d) cannot build of
// the model, each with the argument it lacks (megatron/arguments.py): its blocks are sequential,
// one norm before attention and one before the MLP, multi-head or grouped-query attention with a
// plain softmax, no extra modules.
std::vector<std::string> not_megatron_deepspeed_gpt(const ModelConfig& m) {
  using F = ModelFeature;
  std::vector<std::string> why;
  if (m.is_moe()) {
    if (deepspeed_expert_interval(m) == 0)
      why.push_back("MoE blocks other than every k-th one (--expert-interval, megatron/model/transformer.py:1650-1660)");
    if (m.shared_expert_ffn > 0) why.push_back("shared experts (megatron/model/transformer.py:1066-1082)");
    bool dense = false;
    for (bool b : m.moe_layer) dense = dense || !b;
    if (dense && m.moe_ffn != m.ffn)
      why.push_back("dense and expert MLPs of different sizes (one --ffn-hidden-size, megatron/arguments.py:618)");
  }
  if (m.qkv_bias && !m.linear_bias)
    why.push_back("q/k/v-only biases (--disable-bias-linear removes every bias, megatron/arguments.py:937)");
  if (m.sliding_window > 0) why.push_back("sliding-window attention (megatron/arguments.py:602-700)");
  for (std::string& w :
       model_features(m, {F::QkNorm, F::OtherNormLayout, F::ParallelBlock, F::AttentionSinks, F::ChunkedAttention,
                          F::LatentAttention, F::Alibi, F::EmbeddingNorm, F::LmHeadBias, F::Mtp, F::GegluOrRelu}))
    why.push_back(std::move(w));
  return why;
}

}  // namespace

// The interval I of Megatron-DeepSpeed's --expert-interval: block i (from 1) is MoE exactly when
// i % I == 0 (megatron/model/transformer.py:1650-1660); 0 when no interval gives the model's pattern.
int deepspeed_expert_interval(const ModelConfig& m) {
  const int n = static_cast<int>(m.moe_layer.size());
  for (int interval = 1; interval <= n; ++interval) {
    bool ok = true;
    for (int i = 0; i < n && ok; ++i) ok = m.moe_layer[static_cast<std::size_t>(i)] == ((i + 1) % interval == 0);
    if (ok) return interval;
  }
  return 0;
}

bool deepspeed_pipeline_module(const Parallelism& par) { return par.pp > 1 || par.zero <= 1; }

// The DeepSpeed config of a plan (runtime/config.py, runtime/zero/config.py; the notes' schema).
Json deepspeed_config(const Problem& problem, const Plan& plan) {
  const Parallelism& p = plan.par;
  Json j;
  // train_batch_size = micro x accumulation x data-parallel size, asserted at
  // runtime/config.py:602-605 (the data-parallel size Megatron-DeepSpeed's mpu reports).
  j["train_batch_size"] = problem.global_batch;
  j["train_micro_batch_size_per_gpu"] = p.microbatch;
  j["gradient_accumulation_steps"] = p.num_microbatches;
  // 1.0 is the 0.19.8 default (runtime/constants.py:196-203), stated as Megatron-DeepSpeed's --clip-grad.
  j["gradient_clipping"] = 1.0;
  j["steps_per_print"] = 10;
  j["wall_clock_breakdown"] = false;
  j["bf16"] = Json{{"enabled", true}};
  // Gradients accumulated in fp32 (runtime/config.py:555-556 reads data_types.grad_accum_dtype);
  // at ZeRO-1 DeepSpeed then runs its BF16_Optimizer (engine.py:2305-2310).
  if (problem.options.grad_accum_fp32) j["data_types"] = Json{{"grad_accum_dtype", "fp32"}};
  Json z;
  z["stage"] = p.zero;
  // DeepSpeed forces overlap_comm off for a PipelineModule (runtime/engine.py:2663-2666,
  // deepspeed_pipeline_module); nest's unsupported() keeps the plan's switch consistent with it.
  z["overlap_comm"] = p.overlap_grad_reduce;
  z["contiguous_gradients"] = true;
  z["reduce_bucket_size"] = kBucketElements;
  if (p.zero == 1 || p.zero == 2) {
    z["reduce_scatter"] = true;
    z["allgather_bucket_size"] = kBucketElements;
  }
  if (p.zero == 3) {
    // Defaults of runtime/zero/config.py:222-251, stated; no prefetch when the plan does not
    // overlap the parameter gathers with the forward.
    z["stage3_prefetch_bucket_size"] = p.overlap_param_gather ? 50000000L : 0L;
    z["stage3_param_persistence_threshold"] = 100000;
    z["stage3_max_live_parameters"] = 1000000000L;
    z["stage3_max_reuse_distance"] = 1000000000L;
    z["sub_group_size"] = 1000000000L;
  }
  // Optimizer state and step on the host (runtime/zero/offload_config.py:58-75); stages 1-3.
  if (p.offload_optimizer) z["offload_optimizer"] = Json{{"device", "cpu"}, {"pin_memory", true}};
  j["zero_optimization"] = z;
  // MoE under PP and TP: the pipeline engine cannot partition the two tensors MoE passes
  // between stages (Megatron-DeepSpeed megatron/model/gpt_model.py:376-384).
  if (problem.model.is_moe() && p.pp > 1 && p.tp > 1)
    j["pipeline"] = Json{{"pipe_partitioned", false}, {"grad_partitioned", false}};
  return j;
}

void DeepspeedFramework::check_launch(const Problem& problem, const Plan&, std::vector<LaunchRefusal>& out) const {
  const ModelConfig& m = problem.model;
  launch::refuse_unbuildable(m, "Megatron-DeepSpeed's GPT model (@4efb479d pretrain_gpt.py)", not_megatron_deepspeed_gpt(m), out);
  if (m.rope_theta > 0 && !m.learned_positions && m.rope_theta != static_cast<double>(static_cast<long>(m.rope_theta)))
    out.push_back({m.source, "rope_theta " + launch::number(m.rope_theta) +
                                 ": Megatron-DeepSpeed's --rotary-position-embeddings-theta takes an integer"});
}

std::string DeepspeedFramework::launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const {
  launch::require_launchable(*this, problem, plan);
  const ModelConfig& m = problem.model;
  const Parallelism& p = plan.par;
  Script s(std::string(release()) + " (Megatron-DeepSpeed pretrain_gpt.py)", problem, plan, model_spec);
  s.comment(
      "Run from the root of a Megatron-DeepSpeed checkout at 4efb479d with DeepSpeed 0.19.8 installed. Megatron-DeepSpeed\n"
      "has no mock data: DATA_PATH is the prefix of a dataset preprocessed with its tools/preprocess_data.py (token ids\n"
      "below the model's vocabulary).");
  // megatron/arguments.py (Megatron-DeepSpeed) raises without it when sequence parallelism is on.
  if (p.sp && p.tp > 1)
    s.env("CUDA_DEVICE_MAX_CONNECTIONS", "1",
          "Required by Megatron-DeepSpeed with sequence parallelism (megatron/arguments.py, validate_args: \"Using sequence\n"
          "parallelism requires setting the environment variable CUDA_DEVICE_MAX_CONNECTIONS to 1\").");
  // DeepSpeed refuses nothing with expandable segments.
  launch::expandable_segments(s, "PYTORCH_CUDA_ALLOC_CONF", "PyTorch docs/source/notes/cuda.rst, expandable_segments");
  s.comment("The DeepSpeed config (DeepSpeed 0.19.8 runtime/config.py; written here, read by --deepspeed_config):");
  s.line("DS_CONFIG=\"${DS_CONFIG:-$PWD/ds_config_nest.json}\"");
  s.here_document("\"$DS_CONFIG\"", dump_json(deepspeed_config(problem, plan)));
  s.line("DATA_PATH=\"${DATA_PATH:?set DATA_PATH to a Megatron-DeepSpeed dataset prefix (.bin/.idx)}\"");

  // Model shape, as Megatron-DeepSpeed names it (megatron/arguments.py:602-700 at 4efb479d).
  s.arg("--num-layers", str(m.layers));
  s.arg("--hidden-size", str(m.hidden));
  s.arg("--ffn-hidden-size", str(m.is_moe() ? m.moe_ffn : m.ffn));
  s.arg("--num-attention-heads", str(m.heads));
  if (m.kv_heads < m.heads) s.arg("--num-key-value-heads", str(m.kv_heads));
  if (m.head_dim * m.heads != m.hidden) s.arg("--kv-channels", str(m.head_dim));
  s.arg("--max-position-embeddings", str(std::max<long>(m.max_positions, problem.seq_len)));
  s.arg("--seq-length", str(problem.seq_len));
  if (m.rope_theta > 0 && !m.learned_positions) {
    // Rotary embeddings turn the absolute position embedding off (validate_args).
    s.arg("--use-rotary-position-embeddings");
    // an integer (launch_refusals)
    s.arg("--rotary-position-embeddings-theta", str(static_cast<long>(m.rope_theta)));
  }
  s.arg("--normalization", m.layernorm ? "layernorm" : "rmsnorm");
  s.arg("--layernorm-epsilon", launch::number(m.norm_eps));
  if (m.gated_mlp) s.arg("--swiglu");
  if (!m.linear_bias) s.arg("--disable-bias-linear");
  if (!m.tied_embeddings) s.arg("--untie-embeddings-and-output-weights");
  s.arg("--attention-dropout", launch::number(m.dropout));
  s.arg("--hidden-dropout", launch::number(m.dropout));
  s.arg("--no-query-key-layer-scaling");
  // _NullTokenizer adds the end-of-document token: vocabulary = --vocab-size + 1
  // (megatron/tokenizer/tokenizer.py:510-514).
  s.arg("--tokenizer-type", "NullTokenizer");
  s.arg("--vocab-size", str(m.vocab - 1));
  if (m.is_moe()) {
    // DeepSpeed MoE layers (megatron/model/transformer.py:1066-1082): experts TP-sharded as nest
    // counts them, tokens padded to the capacity factor.
    s.arg("--num-experts", str(m.experts));
    s.arg("--topk", str(m.experts_per_token));
    s.arg("--expert-interval", str(deepspeed_expert_interval(m)));
    s.arg("--moe-expert-parallel-size", str(p.ep));
    if (p.tp > 1) s.arg("--enable-expert-tensor-parallelism");
    s.arg("--moe-train-capacity-factor", launch::number(problem.options.capacity_factor));
  }

  // Parallelism and batch.
  s.arg("--tensor-model-parallel-size", str(p.tp));
  s.arg("--pipeline-model-parallel-size", str(p.pp));
  if (p.sp && p.tp > 1) s.arg("--sequence-parallel");
  // ZeRO-2/3 refuse DeepSpeed's pipeline engine (runtime/pipe/engine.py:76-77): without PP the
  // model is built without it (megatron/arguments.py:954; pretrain_gpt.py:51-52).
  if (!deepspeed_pipeline_module(p)) s.arg("--no-pipeline-parallel");
  s.arg("--micro-batch-size", str(p.microbatch));
  s.arg("--global-batch-size", str(problem.global_batch));
  s.arg("--bf16");
  if (problem.options.flash_attention) s.arg("--use-flash-attn-v2");
  if (p.recompute == Recompute::Selective) s.arg("--recompute-granularity", "selective");
  if (p.recompute == Recompute::Full) {
    s.arg("--deepspeed-activation-checkpointing");
    s.arg("--recompute-granularity", "full");
    s.arg("--recompute-method", "uniform");
    s.arg("--recompute-num-layers", "1");
    // The checkpoints in host memory, not partitioned: DeepSpeed's asynchronous offload engine
    // (megatron/arguments.py:1530; deepspeed.checkpointing.configure takes it over the config).
    if (p.offload_activations) s.arg("--checkpoint-in-cpu");
  }
  // ZeRO-Offload with DeepSpeed's CPU Adam (megatron/arguments.py:948).
  if (p.offload_optimizer) s.arg("--cpu-optimizer");

  // DeepSpeed (deepspeed/__init__.py:613-648 adds --deepspeed and --deepspeed_config).
  s.arg("--deepspeed");
  s.arg_expanded("--deepspeed_config", "\"$DS_CONFIG\"");
  s.arg("--zero-stage", str(p.zero));

  // Data and training.
  s.arg_expanded("--data-path", "\"$DATA_PATH\"");
  s.arg("--split", "949,50,1");
  s.arg("--train-iters", "100");
  s.arg("--lr", "3.0e-4");
  s.arg("--min-lr", "3.0e-5");
  s.arg("--lr-decay-style", "cosine");
  s.arg("--lr-warmup-iters", "10");
  s.arg("--weight-decay", "0.1");
  s.arg("--clip-grad", "1.0");
  s.arg("--optimizer", "adam");
  s.arg("--adam-beta1", "0.9");
  s.arg("--adam-beta2", "0.95");
  s.arg("--log-interval", "1");
  s.arg("--eval-interval", "1000");
  s.arg("--eval-iters", "10");
  s.arg("--distributed-backend", "nccl");
  return s.str({"pretrain_gpt.py"});
}

}  // namespace nest
