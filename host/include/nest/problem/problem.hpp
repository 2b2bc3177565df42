// A planning problem: what is trained (model, sequence length, global batch), where (cluster,
// GPU count) and with which framework settings.
#pragma once

#include <cstdint>
#include <string>

#include "nest/hardware/cluster.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/model/model_config.hpp"

namespace nest {

// The framework that runs the plan (host/include/nest/framework/framework.hpp).
// `Any` is no framework: the cost model's whole space without any framework's restrictions (every
// rank order, ZeRO-2/3 with pipelining, ...), Megatron-LM's memory recipe, no launch script; for
// what-if studies of the model and the network.
enum class FrameworkKind : int { Megatron = 0, Torchtitan = 1, Deepspeed = 2, Any = 3 };
inline constexpr int kFrameworks = 4;

// How FP8 GEMM operands are scaled (docs/cost-model.md §3.1). Auto: the framework's own
// (Framework::fp8_recipe): Transformer Engine's per-tensor scaling for Megatron-LM and DeepSpeed,
// torchao's rowwise for torchtitan 0.3. Tensorwise under torchtitan is torchao's per-tensor
// recipe with the FSDP float8 all-gather (torchtitan before 0.3; torchao's benchmark settings).
enum class Fp8Recipe : int { Auto = 0, Tensorwise = 1, Rowwise = 2, RowwiseGwHp = 3 };

// Megatron's cross-entropy loss (language_module.py, compute_language_model_loss; docs/cost-model.md
// §3.3): Unfused, Megatron-LM's default (tensor_parallel/cross_entropy.py); Fused,
// --cross-entropy-loss-fusion (Megatron-Core's native fused kernels); TransformerEngine,
// --cross-entropy-fusion-impl te (the performance recipes of Megatron-Bridge and NeMo 2). Auto:
// the framework's (Unfused). Torchtitan and DeepSpeed have one loss each.
enum class CrossEntropy : int { Auto = 0, Unfused = 1, Fused = 2, TransformerEngine = 3 };

// Settings of the run that are not searched. The per-slice memory recipe and overlap settings
// come from the framework (Framework::settings).
struct TrainingOptions {
  FrameworkKind framework = FrameworkKind::Megatron;
  bool flash_attention = true;  // fused attention: scores never stored
  // Which fused kernel (cuDNN / FlashAttention-3/4, or FlashAttention-2); Auto: the framework's.
  AttentionKernel attention_kernel = AttentionKernel::Auto;
  Fp8Recipe fp8_recipe = Fp8Recipe::Auto;           // applies to --precision fp8 only
  CrossEntropy cross_entropy = CrossEntropy::Auto;  // Megatron's loss implementation
  // Megatron's interleaved schedule overlaps its pipeline sends with the next chunk's compute
  // (-1: the framework's: Megatron-LM's default, on since 4eeff55d1f, 2023-10; 0:
  // --no-overlap-p2p-communication, and earlier Megatron-LM; 1: on). Megatron turns it off
  // without interleaving; torchtitan's and DeepSpeed's sends are priced waited for.
  int overlap_p2p = -1;
  double capacity_factor = 1;  // MoE tokens per expert relative to perfect balance
  // MoE dropless routing (capacity factor 1): the busiest expert's tokens relative to the mean,
  // an input (1: perfectly balanced; DeepSeek-V3's auxiliary-loss-free balancing aims there).
  double expert_load = 1;
  bool moe_allgather = false;  // token dispatch by all-gather + reduce-scatter (Megatron's allgather dispatcher), else all-to-all
  bool compile = false;        // torchtitan --compile.enable: fused elementwise kernels, async TP possible
  // torchtitan compiles its loss with the model (-1: as compile, torchtitan since 2025-04, 0.3's
  // compile.components default) or not (0: before bbb1b616e, 2025-04-02) or always (1).
  int compile_loss = -1;
  bool grad_reduce_in_bf16 = false;  // Megatron --grad-reduce-in-bf16 (and fp16 training): 16-bit main gradients
  // Megatron --ddp-bucket-size: parameters per gradient bucket (0: Megatron's default, max(40M,
  // 1M x data x context-parallel ranks)).
  long long grad_bucket_size = 0;
  // Megatron: the distributed optimizer keeps each fp32 main weight as the bf16 weight plus a
  // 16-bit remainder (Megatron-LM --use-precision-aware-optimizer with Transformer Engine >= 2.1,
  // store_param_remainders; NeMo 1.x's Apex distributed Adam with bf16 O2 weights): 2 bytes of
  // optimizer state per parameter instead of 4, where the weights are bf16 and the optimizer is
  // distributed.
  bool store_param_remainders = false;
  // DeepSpeed data_types.grad_accum_dtype fp32 (the model's dtype, bf16, when unset): at ZeRO-1
  // DeepSpeed then runs its BF16_Optimizer with an fp32 gradient buffer (engine.py:2305-2310 in
  // the 0.19.8 sdist), as BigScience's 2022 fork ran every bf16 job.
  bool grad_accum_fp32 = false;
  int loss_chunks = 0;  // torchtitan --loss.num_chunks (0: the framework's default)
  // torchtitan's q, k, v projections as one linear (llama3 fuse_qkv, the default since
  // pytorch/torchtitan@3396a4b, 2026-06) or three (wq, wk, wv: every torchtitan before it).
  bool fuse_qkv = true;
  // torchtitan with pipelining: the last stage keeps every microbatch's logits until the step
  // ends (PyTorch pipelining's output_chunks, which step(return_outputs=False) stops: torchtitan
  // from pytorch/torchtitan@e5ef99aab, 2025-10-22, on PyTorch with pytorch/pytorch#165822).
  bool pp_keeps_outputs = false;
  // torchtitan with pipelining on a PyTorch whose stages allocate a receive buffer per microbatch
  // at setup and keep each input gradient until the next step (before pytorch/pytorch#193872 and
  // #196463, 2026-08/09, which take them lazily).
  bool pp_keeps_receive_buffers = false;
  // Documents packed in a sequence, each attended to on its own (a causal mask per document:
  // torchtitan 0.3's FlexAttention / varlen masks from its dataloader's per-document positions):
  // their size-weighted mean length E[L^2] / E[L] in tokens. 0: one document per sequence (one
  // causal mask over it, as Megatron-LM and earlier torchtitan run).
  long document_length = 0;
  // torchtitan's attention repeats K and V to every query head before the kernel (repeat_kv,
  // every torchtitan before pytorch/torchtitan@ff0829c10, 2026-01-27; since then SDPA's enable_gqa):
  // ring attention then exchanges, and eager autograd saves, the repeated K and V.
  bool repeat_kv = false;
  // Interleaved splits may leave the embedding's and the head's chunks short by more than one
  // block (Megatron-LM's --pipeline-model-parallel-layout, from core_v0.13.0; torchtitan's
  // module_fqns_per_model_part). Off: at most one each (--account-for-embedding/loss-in-
  // pipeline-split, core_v0.11.0 to core_v0.12), as Megatron-LM ran before the layout.
  bool pipeline_layout = true;
};

struct Problem {
  ModelConfig model;
  Cluster cluster;
  std::int64_t gpus = 0;
  std::int64_t global_batch = 0;
  std::int64_t seq_len = 0;
  TrainingOptions options;
  std::string profile;  // the profile whose measurements replaced the cluster's and GPU's figures
  Outages outages;      // what is out of a topology before planning (docs/inputs.md §8)
};

}  // namespace nest
