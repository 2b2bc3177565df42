// Megatron-LM core_v0.19 launch script: torchrun pretrain_gpt.py with the model's shape, the
// plan's parallelism and the minimal training arguments that make it run on mock data.
// Flag definitions and the startup rules they must satisfy are cited at core_v0.19.0
// (5be9626709af2722333bf54797c954c09edeada3); tests/data/megatron-core_v0.19/ holds both as
// tables, and tests/framework/test_megatron_export.cpp checks every script against them.
// docs/frameworks.md §6.1 maps each flag to where its value comes from.
#include <algorithm>
#include <cmath>

#include "frameworks.hpp"
#include "launch_script.hpp"
#include "nest/core/error.hpp"
#include "nest/io/text.hpp"

namespace nest {

namespace {

using launch::Script;

std::string str(long x) { return std::to_string(x); }

// --pipeline-model-parallel-layout (arguments.py:2950; parsed by
// pipeline_parallel_layer_layout.py:283-321): the flat list of virtual stages in model order
// ('|'-separated; stage i runs on pp rank i % pp as its (i / pp)-th chunk), 'E' the embedding,
// 't' a transformer layer, 'm' a multi-token-prediction module, 'L' the loss head. The layout
// must hold every MTP module, after the last block and in one virtual stage
// (pipeline_parallel_layer_layout.py:110-130): nest costs them with the head.
std::string pipeline_layout(const Plan& plan, int mtp_layers) {
  std::string s;
  for (const launch::Chunk& c : launch::model_chunks(plan)) {
    if (!s.empty()) s += "|";
    if (c.embedding) s += "E";
    if (c.blocks() == 1) s += "t";
    if (c.blocks() > 1) s += "t*" + str(c.blocks());
    if (c.head && mtp_layers == 1) s += "m";
    if (c.head && mtp_layers > 1) s += "m*" + str(mtp_layers);
    if (c.head) s += "L";
  }
  return s;
}

bool all_equal(const std::vector<int>& b, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i)
    if (b[i] != b[from]) return false;
  return true;
}

// What Megatron-LM's GPT model (pretrain_gpt.py with the Transformer Engine layer spec,
// megatron/core/models/gpt/gpt_layer_specs.py) cannot build of the model: its blocks are
// sequential pre-norm blocks with RoPE or learned positions, GeLU, SwiGLU or squared-ReLU MLPs
// (arguments.py:2365-2370) and full or sliding-window attention; nothing below has a flag.
std::vector<std::string> not_megatron_gpt(const ModelConfig& m) {
  using F = ModelFeature;
  std::vector<std::string> why = model_features(
      m, {F::Alibi, F::ParallelBlock, F::OtherNormLayout, F::EmbeddingNorm, F::LmHeadBias, F::ChunkedAttention, F::GegluOrRelu});
  for (std::int64_t w : m.layer_window)
    if (w > 0 && w != m.sliding_window) {
      why.push_back("sliding windows of different sizes (--window-size takes one)");
      break;
    }
  if (m.router_expert_bias && !m.router_sigmoid)
    why.push_back("an aux-loss-free expert bias on softmax scores (transformer_config.py:2283-2291)");
  return why;
}

}  // namespace

void MegatronFramework::check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const {
  const ModelConfig& m = problem.model;
  launch::refuse_unbuildable(m, std::string(release()) + "'s GPT model (pretrain_gpt.py)", not_megatron_gpt(m), out);
  if (problem.options.cross_entropy == CrossEntropy::TransformerEngine)
    out.push_back({"plan", std::string(release()) +
                               " refuses Transformer Engine's cross entropy (--cross-entropy-fusion-impl te: "
                               "megatron/training/arguments.py:1642-1647); plan with --cross-entropy fused"});
  if (m.rope_theta > 0 && !m.learned_positions && (m.rope_theta != std::floor(m.rope_theta) || m.rope_theta > 2e9))
    out.push_back({m.source, "rope_theta " + launch::number(m.rope_theta) +
                                 ": Megatron's --rotary-base takes an integer (megatron/training/arguments.py:2335)"});
  // At most num_layers - 1 layers offload (transformer_config.py:1707-1711).
  if (plan.par.offload_activations && m.layers < 2)
    out.push_back({"plan", "activation offload needs at least 2 layers (transformer_config.py:1711)"});
}

std::string MegatronFramework::launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const {
  launch::require_launchable(*this, problem, plan);
  const ModelConfig& m = problem.model;
  const Parallelism& p = plan.par;
  const int L = static_cast<int>(m.layers);
  const int v = launch::virtual_stages(plan);
  Script s(std::string(release()) + " (pretrain_gpt.py)", problem, plan, model_spec);
  s.comment(
      "Run from the root of a Megatron-LM checkout at core_v0.19.0 (pretrain_gpt.py is not in the megatron-core wheel),\n"
      "with Transformer Engine installed. The data are Megatron's mock data (--mock-data) with a NullTokenizer of the\n"
      "model's vocabulary; replace --mock-data by --data-path and a real tokenizer to train on data.");

  if (p.precision == Precision::Mxfp8 || p.precision == Precision::Nvfp4)
    s.comment(std::string(to_string(p.precision)) + " needs Blackwell GPUs" +
              (p.precision == Precision::Nvfp4 ? " and Transformer Engine >= 2.7 (megatron/training/arguments.py:1073)." : "."));

  // Environment. arguments.py:1413-1439: with tp > 1 or cp > 1 on GPUs of compute capability
  // below 10 and without FSDP, CUDA_DEVICE_MAX_CONNECTIONS must be exactly "1"; Megatron-FSDP
  // requires it to differ from "1" (arguments.py:1143-1144).
  const bool fsdp = p.zero >= 2;
  const bool blackwell = problem.cluster.gpu.generation == "blackwell";
  if (fsdp) {
    s.env("CUDA_DEVICE_MAX_CONNECTIONS", "8",
          "Megatron-FSDP requires CUDA_DEVICE_MAX_CONNECTIONS other than 1 (megatron/training/arguments.py:1143-1144); 8 is "
          "CUDA's default.");
  } else if (p.ep_comm_overlap) {
    // The batch-level EP overlap runs the all-to-alls on streams of their own, which one
    // connection would serialise (arguments.py:1426-1435 accepts any value with it); Megatron-
    // Bridge's performance scripts set 8 on Hopper, 32 from Blackwell
    // (scripts/performance/perf_plugins.py:206-236 at NVIDIA-NeMo/Megatron-Bridge v0.2.0).
    s.env("CUDA_DEVICE_MAX_CONNECTIONS", blackwell ? "32" : "8",
          "The MoE all-to-all overlap needs more than one connection (megatron/training/arguments.py:1426-1435).");
  } else if ((p.tp > 1 || p.cp > 1) && !blackwell) {
    s.env("CUDA_DEVICE_MAX_CONNECTIONS", "1",
          "Required with tensor or context parallelism below compute capability 10 (megatron/training/arguments.py:1437).");
  }

  // Megatron refuses expandable segments only with --use-nccl-ub before PyTorch 2.11 and with
  // Transformer Engine CUDA graphs without NCCL_GRAPH_REGISTER=0; the export emits neither.
  launch::expandable_segments(s, "PYTORCH_CUDA_ALLOC_CONF", "megatron/core/transformer/moe/README.md:141");

  // Model shape (transformer_config.py and arguments.py; docs/frameworks.md §6.1).
  s.arg("--num-layers", str(L));
  s.arg("--hidden-size", str(m.hidden));
  s.arg("--ffn-hidden-size", str(m.ffn));
  s.arg("--num-attention-heads", str(m.heads));
  if (m.kv_heads < m.heads) {
    // --num-query-groups is ignored without --group-query-attention (argument_utils.py:330).
    s.arg("--group-query-attention");
    s.arg("--num-query-groups", str(m.kv_heads));
  }
  if (m.attention() == AttentionKind::Mla) {
    // Multi-latent attention (transformer_config.py:281; its dimensions arguments.py:3381-3390);
    // the rotary embedding is MLA's default, YaRN (MLATransformerConfig, transformer_config.py:2927).
    s.arg("--multi-latent-attention");
    if (m.q_lora_rank > 0) s.arg("--q-lora-rank", str(m.q_lora_rank));
    s.arg("--kv-lora-rank", str(m.kv_lora_rank));
    s.arg("--qk-head-dim", str(m.qk_nope_head_dim));
    s.arg("--qk-pos-emb-head-dim", str(m.qk_rope_head_dim));
    s.arg("--v-head-dim", str(m.v_head_dim));
  } else if (m.head_dim * m.heads != m.hidden) {
    s.arg("--kv-channels", str(m.head_dim));
  }
  // Required, and at least the sequence length (arguments.py:1274, :1314); with RoPE it only
  // bounds the sequence.
  s.arg("--max-position-embeddings", str(std::max<long>(m.max_positions, problem.seq_len)));
  if (m.rope_theta > 0 && !m.learned_positions) {
    s.arg("--position-embedding-type", "rope");
    s.arg("--rotary-base", str(static_cast<long>(m.rope_theta)));  // an integer (launch_refusals)
    if (m.rope_scaling_factor > 0) {
      s.arg("--use-rope-scaling");
      s.arg("--rope-scaling-factor", launch::number(m.rope_scaling_factor));
    }
  } else {
    s.arg("--position-embedding-type", "learned_absolute");
  }
  s.arg("--normalization", m.layernorm ? "LayerNorm" : "RMSNorm");
  s.arg("--norm-epsilon", launch::number(m.norm_eps));
  if (m.gated_mlp) s.arg("--swiglu");
  if (m.mlp == MlpKind::SquaredRelu) s.arg("--squared-relu");
  // Norms of the queries and keys per head: RMSNorm like the model's (Qwen3: --qk-layernorm,
  // transformer_config.py:252) or Llama 4's L2 norm (--qk-l2-norm, :255).
  if (m.qk_norm == 1) s.arg("--qk-layernorm");
  if (m.qk_norm == 2) s.arg("--qk-l2-norm");
  // GPT-OSS's learned per-head sink logits (--softmax-type learnable, transformer_config.py:163).
  if (m.attention_sinks) s.arg("--softmax-type", "learnable");
  if (!m.linear_bias) s.arg("--disable-bias-linear");
  if (m.qkv_bias && !m.linear_bias) s.arg("--add-qkv-bias");
  if (!m.tied_embeddings) s.arg("--untie-embeddings-and-output-weights");
  // Megatron's dropouts default to 0.1 (transformer_config.py:181-184).
  s.arg("--attention-dropout", launch::number(m.dropout));
  s.arg("--hidden-dropout", launch::number(m.dropout));
  if (m.sliding_window > 0) {
    s.arg("--window-size", str(m.sliding_window) + ",0");
    // Which layers slide when not all do (1: sliding, 0: full; arguments.py:2304,
    // megatron/core/transformer/utils.py:495-511): Gemma 3's five in six, GPT-OSS's every other.
    bool all = true;
    for (std::int64_t w : m.layer_window) all = all && w > 0;
    if (!all) {
      std::string pattern = "[";
      for (std::size_t i = 0; i < m.layer_window.size(); ++i)
        pattern.append(i ? "," : "").append(m.layer_window[i] > 0 ? "1" : "0");
      s.arg("--window-attn-skip-freq", pattern + "]");
    }
  }
  s.arg("--init-method-std", "0.02");
  // NullTokenizer: exactly --vocab-size tokens (v0.19), padded to a multiple of 128 * tp
  // (megatron/core/tokenizers/utils/build_tokenizer.py:92-130).
  s.arg("--tokenizer-type", "NullTokenizer");
  s.arg("--vocab-size", str(m.vocab));
  if (m.is_moe()) {
    s.arg("--num-experts", str(m.experts));
    s.arg("--moe-router-topk", str(m.experts_per_token));
    // Routing as the model routes (moe_utils.py:710-873): sigmoid scores, renormalised over the
    // chosen experts when k > 1; softmax after the top-k (renormalised) unless the model takes
    // it over every expert first (--moe-router-pre-softmax, which top-1 softmax needs too,
    // transformer_config.py:2328-2336); the routed scale; DeepSeek-V3's aux-loss-free expert
    // bias (sigmoid only, :2283-2291) and group-limited routing (:2338-2356).
    if (m.router_sigmoid) s.arg("--moe-router-score-function", "sigmoid");
    if (!m.router_sigmoid && (m.experts_per_token == 1 || m.router_pre_softmax)) s.arg("--moe-router-pre-softmax");
    if (m.router_scale != 1) s.arg("--moe-router-topk-scaling-factor", launch::number(m.router_scale));
    if (m.router_expert_bias) s.arg("--moe-router-enable-expert-bias");
    if (m.router_groups > 1) {
      s.arg("--moe-router-num-groups", str(m.router_groups));
      s.arg("--moe-router-group-topk", str(m.router_group_topk));
    }
    s.arg("--moe-ffn-hidden-size", str(m.moe_ffn));
    if (m.shared_expert_ffn > 0) s.arg("--moe-shared-expert-intermediate-size", str(m.shared_expert_ffn));
    if (m.shared_expert_gate) s.arg("--moe-shared-expert-gate");  // Qwen2-MoE (transformer_config.py:692)
    bool mixed = false;
    for (bool b : m.moe_layer) mixed = mixed || !b;
    if (mixed) {
      // A Python list of 0 (dense) / 1 (MoE) per layer (moe_freq_type, arguments.py:326).
      std::string pattern = "[";
      for (std::size_t i = 0; i < m.moe_layer.size(); ++i) pattern.append(i ? "," : "").append(m.moe_layer[i] ? "1" : "0");
      s.arg("--moe-layer-freq", pattern + "]");
    }
    s.arg("--moe-token-dispatcher-type", problem.options.moe_allgather ? "allgather" : "alltoall");
    s.arg("--moe-grouped-gemm");
    // nest's capacity factor pads every expert's tokens to that multiple of perfect balance.
    if (problem.options.capacity_factor > 1) {
      s.arg("--moe-expert-capacity-factor", launch::number(problem.options.capacity_factor));
      s.arg("--moe-pad-expert-input-to-capacity");
    }
  }
  // DeepSeek-V3's multi-token-prediction modules (transformer_config.py:68), on the last stage.
  if (m.mtp_layers > 0) s.arg("--mtp-num-layers", str(m.mtp_layers));

  // Parallelism (model_parallel_config.py; arguments.py:2942-2997).
  s.arg("--tensor-model-parallel-size", str(p.tp));
  s.arg("--pipeline-model-parallel-size", str(p.pp));
  s.arg("--context-parallel-size", str(p.cp));
  s.arg("--expert-model-parallel-size", str(p.ep));
  // Expert TP defaults to tp (arguments.py:569-570): emitted only when the plan folds it.
  if (p.folded()) s.arg("--expert-tensor-parallel-size", str(p.etp));
  // Dropped silently with tp 1 (arguments.py:1394-1400): emitted only where it acts.
  if (p.sp && p.tp > 1) s.arg("--sequence-parallel");
  if (p.pp > 1) {
    const std::vector<int>& b = plan.blocks_per_stage;
    const std::size_t n = b.size();
    // The embedding's and the head's chunks lacking blocks (plan.hpp, edge_chunk_deficit);
    // Megatron's account-for switches count each as one layer, so more than one needs the layout.
    const int lack_first = v > 1 ? std::max(0, edge_chunk_deficit(b.front(), v, true)) : 0;
    const int lack_last = v > 1 ? std::max(0, edge_chunk_deficit(b.back(), v, true)) : 0;
    std::vector<int> counted = b;  // blocks per stage with the embedding and the loss counted as layers
    counted.front() += lack_first;
    counted.back() += lack_last;
    if (all_equal(b, 0, n) && b.front() % v == 0) {
      // Even split: L % pp == 0 (arguments.py:963) and, interleaved, (L / pp) % layers == 0 (:935-939).
      if (v > 1) s.arg("--num-layers-per-virtual-pipeline-stage", str(b.front() / v));
    } else if ((lack_first || lack_last) && lack_first <= 1 && lack_last <= 1 && all_equal(counted, 0, n)) {
      // Equal once the embedding and the loss count as a layer each: Megatron's own
      // account-for split (transformer_config.py:2062-2110; arguments.py:921-937 adds them
      // before dividing by the virtual stage size).
      if (lack_first) s.arg("--account-for-embedding-in-pipeline-split");
      if (lack_last) s.arg("--account-for-loss-in-pipeline-split");
      s.arg("--num-layers-per-virtual-pipeline-stage", str(counted.front() / v));
    } else if (b.front() > 0 && b.back() > 0 && b.front() % v == 0 && b.back() % v == 0 && (n <= 2 || all_equal(b, 1, n - 1))) {
      // First and last stages free, middle ones equal (transformer_config.py:1988-2062); with
      // virtual stages only --num-virtual-stages-per-pipeline-rank combines with them (arguments.py:921).
      s.arg("--decoder-first-pipeline-num-layers", str(b.front()));
      s.arg("--decoder-last-pipeline-num-layers", str(b.back()));
      if (v > 1) s.arg("--num-virtual-stages-per-pipeline-rank", str(v));
    } else {
      // Any other split: the explicit layout (its stage count / pp is the virtual stage count,
      // arguments.py:911-916).
      s.arg("--pipeline-model-parallel-layout", pipeline_layout(plan, static_cast<int>(m.mtp_layers)));
    }
    // The interleaved schedule overlaps its sends unless told not to (arguments.py:2965-2967), as
    // the plan was costed (megatron.cpp).
    if (v > 1 && problem.options.overlap_p2p == 0) s.arg("--no-overlap-p2p-communication");
  }
  // nest's tp-cp-pp-ep-dp is Megatron's tp-cp-ep-pp-dp (megatron/training/initialize.py:388).
  if (plan.order == RankOrder::parse("tp-cp-pp-ep-dp", "rank order")) s.arg("--use-tp-pp-dp-mapping");

  // Batch and sequence (training_config.py:11-15, arguments.py:3138).
  s.arg("--micro-batch-size", str(p.microbatch));
  s.arg("--global-batch-size", str(problem.global_batch));
  s.arg("--seq-length", str(problem.seq_len));

  // Precision: bf16 parameters; the blocks' linear layers in the plan's format through
  // Transformer Engine (transformer_config.py:566-573 FP8, :652-658 FP4).
  s.arg("--bf16");
  switch (p.precision) {
    case Precision::Bf16:
      break;
    case Precision::Fp8:
      s.arg("--fp8-format", "hybrid");
      s.arg("--fp8-recipe", "delayed");
      break;
    case Precision::Mxfp8:
      s.arg("--fp8-format", "e4m3");
      s.arg("--fp8-recipe", "mxfp8");
      break;
    case Precision::Nvfp4:
      s.arg("--fp4-format", "e2m1");
      s.arg("--fp4-recipe", "nvfp4");
      break;
  }
  // With the distributed optimizer (or Megatron-FSDP) the FP8/MXFP8 weights are held and
  // gathered quantised (arguments.py:1062), as the memory recipe counts them (megatron.cpp).
  if ((p.precision == Precision::Fp8 || p.precision == Precision::Mxfp8) && p.zero >= 1) s.arg("--fp8-param-gather");
  if (problem.options.grad_reduce_in_bf16) s.arg("--grad-reduce-in-bf16");
  // The gradient buckets the plan was costed with (megatron.cpp); unset, Megatron's default.
  if (problem.options.grad_bucket_size > 0) s.arg("--ddp-bucket-size", std::to_string(problem.options.grad_bucket_size));
  // The loss the plan was costed with (megatron.cpp, apply_cross_entropy): the native fused
  // kernels; unfused is the default.
  if (problem.options.cross_entropy == CrossEntropy::Fused) s.arg("--cross-entropy-loss-fusion");
  s.arg("--transformer-impl", "transformer_engine");
  // auto picks Transformer Engine's fused (cuDNN) or flash attention; flash asks for the
  // flash-attn package (FlashAttention-2 where that is what is installed); without a fused
  // kernel the plan stores the attention scores: the unfused backend (transformer_config.py:144).
  const char* backend = !problem.options.flash_attention                          ? "unfused"
                        : attention_kernel_of(problem) == AttentionKernel::Flash2 ? "flash"
                                                                                  : "auto";
  s.arg("--attention-backend", backend);

  // Recomputation (transformer_config.py:518-561): selective recomputes its modules
  // (--recompute-modules, default core_attn, :1763-1764); full recomputes every layer.
  if (p.recompute == Recompute::Selective) {
    s.arg("--recompute-granularity", "selective");
    if (p.recompute_modules != kernels::kRecomputeCoreAttn) {
      s.arg("--recompute-modules", split(recompute_modules_text(p.recompute_modules), ','));
    }
  }
  if (p.recompute == Recompute::Full) {
    s.arg("--recompute-granularity", "full");
    s.arg("--recompute-method", "uniform");
    s.arg("--recompute-num-layers", "1");
  }

  // ZeRO: 1 is the distributed optimizer (arguments.py:2997); 2 and 3 are Megatron-FSDP sharding
  // gradients (optim_grads) or gradients and parameters (optim_grads_params), which needs the
  // fsdp_dtensor checkpoint format (arguments.py:1105-1147, 3023).
  if (p.zero == 1) s.arg("--use-distributed-optimizer");
  if (fsdp) {
    s.arg("--use-megatron-fsdp");
    s.arg("--data-parallel-sharding-strategy", p.zero == 2 ? "optim_grads" : "optim_grads_params");
    s.arg("--ckpt-format", "fsdp_dtensor");
  }
  if (p.overlap_grad_reduce) s.arg("--overlap-grad-reduce");
  if (p.overlap_param_gather) s.arg("--overlap-param-gather");
  if (p.tp_comm_overlap) s.arg("--tp-comm-overlap");
  if (p.ep_comm_overlap) {
    // The flags Megatron-Core's MoE guide gives for the overlap (megatron/core/transformer/moe/
    // README.md:434): the weight gradients delayed so the pair's dispatch has compute to hide behind.
    s.arg("--overlap-moe-expert-parallel-comm");
    s.arg("--delay-wgrad-compute");
  }
  if (p.offload_optimizer) {
    // arguments.py:1802-1811: needs the precision-aware optimizer.
    s.arg("--optimizer-cpu-offload");
    s.arg("--use-precision-aware-optimizer");
  } else if (megatron_stores_param_remainders(problem, p)) {
    // Transformer Engine's FusedAdam keeps the main weights as remainders of the bf16 weights
    // (store_param_remainders, default True: megatron/core/optimizer/optimizer_config.py:192,
    // passed at megatron/core/optimizer/__init__.py:584; TE >= 2.1, optimizer_config.py:438-439).
    s.arg("--use-precision-aware-optimizer");
  }
  if (p.offload_activations) {
    // At most num_layers - 1 layers (transformer_config.py:1707-1711, launch_refusals): every
    // layer's but the last one's, whose activations the backward needs at once.
    s.arg("--cpu-offloading-num-layers", str(p.offload_layers > 0 ? p.offload_layers : L - 1));
  }

  // Training: mock data, a short cosine schedule, no evaluation (--eval-interval must be set to
  // train, training.py:4481; --eval-iters 0 skips it).
  s.arg("--mock-data");
  s.arg("--train-iters", "100");
  s.arg("--lr", "3.0e-4");
  s.arg("--min-lr", "3.0e-5");
  s.arg("--lr-decay-style", "cosine");
  s.arg("--lr-warmup-iters", "10");
  s.arg("--weight-decay", "0.1");
  s.arg("--clip-grad", "1.0");
  s.arg("--adam-beta1", "0.9");
  s.arg("--adam-beta2", "0.95");
  s.arg("--adam-eps", "1e-8");
  s.arg("--log-interval", "1");
  s.arg("--eval-interval", "1000");
  s.arg("--eval-iters", "0");
  s.arg("--distributed-timeout-minutes", "30");
  return s.str({"pretrain_gpt.py"});
}

}  // namespace nest
