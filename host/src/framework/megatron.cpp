// Megatron-LM core_v0.19 (Megatron-Core with Transformer Engine): memory recipe and the plans it
// runs. File:line citations are at Megatron-LM core_v0.19.0; docs/frameworks.md §2.
#include "frameworks.hpp"

namespace nest {

// Transformer Engine's FP8 GEMMs take either operand layout from compute capability 10
// (non_tn_fp8_gemm_supported, transformer_engine/pytorch/utils.py:253-257 at v2.2.1, since v2.0,
// the first release for Blackwell): the presets' Blackwell generation. A newer NVIDIA generation's
// preset belongs here too.
static bool fp8_gemms_take_any_layout(const GpuSpec& gpu) { return gpu.generation == "blackwell"; }

bool megatron_holds_quantised_weights(const Parallelism& par) {
  return par.zero >= 1 && par.precision != Precision::Bf16 && par.precision != Precision::Nvfp4;
}

bool megatron_stores_param_remainders(const Problem& problem, const Parallelism& par) {
  return problem.options.store_param_remainders && par.zero == 1 && !megatron_holds_quantised_weights(par);
}

// The loss's HBM traffic per local logit (forward, backward) and what it keeps per logit, as
// compute_language_model_loss runs it (megatron/core/models/common/language_module/
// language_module.py:166-196); fp32 elements are 4 bytes, the bf16 logits and their gradient 2.
void apply_cross_entropy(CrossEntropy c, kernels::TrainingSettings& ts) {
  switch (c) {
    case CrossEntropy::Auto:  // Megatron-LM's default: --cross-entropy-loss-fusion is off (model_parallel_config.py:320)
    case CrossEntropy::Unfused:
      // tensor_parallel/cross_entropy.py, one kernel per op: the fp32 copy (read 2, write 4), its
      // max (4), the in-place subtraction, exp and division (8 each), the sum (4); backward the
      // in-place multiplication by the output gradient (8) and the copy's cast back to bf16 (6).
      ts.loss_traffic_fwd = (2 + 4) + 4 + 8 + 8 + 4 + 8;
      ts.loss_traffic_bwd = 8 + (4 + 2);
      ts.loss_bytes_per_logit = 2 + 4;  // the bf16 logits and the fp32 softmax it saves
      break;
    case CrossEntropy::Fused:
      // fusions/fused_cross_entropy.py: the same steps in three fused kernels, the fp32 copy with
      // its max (read 2, write 4), subtraction-exp-sum (8), division (8). The backward's in-place
      // steps on the saved softmax compile (jit_fuser is torch.compile, core/jit.py) to a
      // functional fp32 copy of it beside the bf16 gradient (docs/tools/compiled_loss_buffers.py):
      // it reads the softmax, writes the copy and the softmax back (4 + 4 + 4) and the gradient
      // (2), and holds 4 + 4 + 2 bytes per logit at its peak, more than the forward's bf16
      // logits and fp32 copy (2 + 4).
      ts.loss_traffic_fwd = (2 + 4) + 8 + 8;
      ts.loss_traffic_bwd = 4 + 4 + 4 + 2;
      ts.loss_bytes_per_logit = 4 + 4 + 2;
      break;
    case CrossEntropy::TransformerEngine:
      // Transformer Engine's Triton cross entropy (transformer_engine/pytorch/triton/
      // cross_entropy.py): an online softmax reads the bf16 logits once (2); the backward reads
      // them again and writes the gradient over them (2 + 2). Only the logits are kept.
      ts.loss_traffic_fwd = 2;
      ts.loss_traffic_bwd = 2 + 2;
      ts.loss_bytes_per_logit = 2;
      break;
  }
}

// Transformer Engine's initialize_ub (transformer_engine/pytorch/module/base.py:151-572 at
// NVIDIA/TransformerEngine@d0067d0d; the lists at :336-363) creates, with no
// --tp-comm-overlap-cfg, one communicator per GEMM of a layer: qkv/fc1 forward, proj/fc2 data
// gradient (ring exchange, all-gather), proj/fc2 forward (pipelined reduce-scatter), qkv/fc1 data
// and weight gradients (bulk), proj/fc2 weight gradients (external): 12. Each registers one
// buffer of the shape Megatron passes, (seq_length x micro_batch_size / cp, hidden)
// (initialize.py:210-219 at core_v0.19.0): the ring exchange's all-gathers as tp chunks of it
// (comm_gemm_overlap.cpp:813-828), the others whole (:419). Its element is the activation's
// (bf16), or one byte for the eight all-gather buffers under FP8 (fp8_buf: the names in
// layers_all_gather_overlap; Megatron asks for the FP8 mode with --fp8).
double MegatronFramework::tp_overlap_bytes(const Problem& problem, const Parallelism& par) const {
  if (par.tp < 2) return 0;
  constexpr double kAllGatherBuffers = 8, kReduceScatterBuffers = 4;
  const double buffer_elements =
      static_cast<double>(problem.seq_len) * par.microbatch / std::max(1, par.cp) * static_cast<double>(problem.model.hidden);
  const double all_gather_bytes = par.precision == Precision::Bf16 ? 2 : 1;
  return buffer_elements * (kAllGatherBuffers * all_gather_bytes + kReduceScatterBuffers * 2);
}

kernels::TrainingSettings MegatronFramework::settings(const Problem& problem, const Parallelism& par) const {
  kernels::TrainingSettings ts;
  ts.flash_attention = problem.options.flash_attention;
  ts.capacity_factor = problem.options.capacity_factor;
  ts.expert_imbalance = problem.options.expert_load;
  ts.moe_allgather = problem.options.moe_allgather;  // --moe-token-dispatcher-type allgather
  // The embedding and the LM head have ceil(vocab / (128 tp)) * 128 tp rows:
  // --make-vocab-size-divisible-by defaults to 128 (megatron/training/arguments.py:2358) and
  // vocab_size_with_padding multiplies it by tp (megatron/core/tokenizers/utils/build_tokenizer.py:124-130).
  ts.vocab_multiple = kMegatronVocabMultiple;
  ts.act_bytes = 2;
  // bf16 weights in the DDP parameter buffer; with bf16, gradients accumulate and are reduced in
  // an fp32 main-grad buffer (accumulate_allreduce_grads_in_fp32 forced, arguments.py:1193).
  ts.weight_bytes = 2;
  ts.grad_bytes = problem.options.grad_reduce_in_bf16 ? 2 : 4;
  ts.grad_reduce_bytes = ts.grad_bytes;
  ts.param_gather_bytes = 2;
  // fp32 main parameters + Adam moments (Float16OptimizerWithFloat16Params; the distributed
  // optimizer shards them over the data-parallel x context-parallel group).
  ts.optimizer_bytes = 12;
  ts.optimizer_sharded = par.zero >= 1;
  if (megatron_stores_param_remainders(problem, par)) {
    // The fp32 main weight is the bf16 weight plus an int16 remainder (TE FusedAdam's
    // store_param_remainders, megatron/core/optimizer/__init__.py:584 and optimizer_config.py:192
    // at core_v0.19.0; Apex DistributedFusedAdam's param_remainders_shard, which NeMo 1.x asks for
    // with bf16 O2 weights and fp32 state, megatron_base_model.py:803-812 at NeMo v2.0.0): 2 + 8
    // bytes of state. Adam reads and writes the weight and the remainder instead of the fp32
    // master and writes no separate bf16 copy: 28 bytes of traffic instead of 30.
    ts.optimizer_bytes = 10;
    ts.optimizer_traffic = 28;
  }
  // DDP keeps the gradients, and with the distributed optimizer the weights, in one buffer per
  // dtype and model chunk, allocated at setup (_ParamAndGradBuffer, megatron/core/distributed/
  // param_and_grad_buffer.py:1173-1187; param.main_grad and param.data are views into it), so
  // they take no share of the caching allocator's reserve. The fp32 main parameters and the
  // Adam moments are tensors of their own (the optimizer's, per parameter) and do. Megatron-FSDP
  // (below) keeps a buffer per parameter group instead: counted with the reserve.
  ts.grads_in_buffer = par.zero <= 1;
  ts.weights_in_buffer = par.zero == 1;
  // That buffer is reduced in buckets of bucket_size parameters on the first pipeline stage:
  // --ddp-bucket-size, else max(40M, 1M x the data x context-parallel ranks); one bucket without
  // --overlap-grad-reduce (megatron/training/training.py:1552-1567, resolve_ddp_bucket_size).
  // (One bucket: an overlapped parameter all-gather then waits for all of it.)
  if (megatron_buckets_gradients(par)) {
    constexpr double kDefaultBucketParams = 40e6, kBucketParamsPerRank = 1e6, kOneBucket = 1e18;
    ts.grad_bucket_params = !par.overlap_grad_reduce ? kOneBucket
                            : problem.options.grad_bucket_size > 0
                                ? static_cast<double>(problem.options.grad_bucket_size)
                                : std::max(kDefaultBucketParams, kBucketParamsPerRank * par.dp * par.cp);
  }
  if (par.zero >= 2) {
    // Megatron-FSDP (--use-megatron-fsdp): optim_grads shards the fp32 main gradients too,
    // optim_grads_params the bf16 weights, gathered layer by layer with one prefetched.
    ts.grad_sharded = 1;
    ts.grad_reduce_every_microbatch = 1;
  }
  if (par.zero >= 3) {
    ts.weight_sharded = 1;
    ts.gathered_weight_bytes = 2;
    ts.gathered_grad_bytes = 4;
    ts.gathered_layers = 2;
  }
  // Transformer Engine's FP8/MXFP8/NVFP4 recipes keep the quantised weight (row-wise and
  // column-wise copies) across the microbatches of a step and save GEMM inputs quantised. With
  // the distributed optimizer the export sets --fp8-param-gather (megatron/training/arguments.py:1062):
  // the weights themselves are held (and gathered) quantised, the fp32 main copy lives in the
  // optimizer, so only the column-wise copy is extra. Less memory and less traffic for the same
  // compute: never worse, so it is always taken.
  // On Blackwell, Transformer Engine's tensor-scaled FP8 makes no column-wise copy at all
  // (CastRecipe::FusedCast): one copy of each weight, one of each GEMM input.
  if (par.precision != Precision::Bf16) {
    const double q = kernels::operand_bytes(par.precision);
    const bool one_copy = par.precision == Precision::Fp8 && fp8_gemms_take_any_layout(problem.cluster.gpu);
    if (one_copy) ts.cast_recipe = static_cast<int>(kernels::CastRecipe::FusedCast);
    const double copies = one_copy ? 1 : 2;
    if (megatron_holds_quantised_weights(par)) {
      ts.quantised_weights = 1;  // the blocks' linear weights; norms, embeddings and the head stay bf16
      // Megatron-FSDP drops the column-wise (transpose) copy after each use unless told to keep
      // it (keep_fp8_transpose_cache, False: megatron/core/distributed/distributed_data_parallel_config.py:115;
      // "number of parameter x 1 Byte" when kept, megatron/core/distributed/fsdp/src/README.md:136):
      // the gathered layer (gathered_weight_bytes) stands for both copies.
      ts.weight_cache_bytes = par.zero >= 3 ? 0 : (copies - 1) * q;
    } else {
      ts.weight_cache_bytes = copies * q;
    }
    ts.saved_gemm_input_bytes = q;
  }
  apply_cross_entropy(problem.options.cross_entropy, ts);
  // The interleaved schedule posts each pipeline send and receive, runs the next chunk, then waits
  // (overlap_p2p_comm: core/pipeline_parallel/schedules.py:1637-1698), on by default
  // (--no-overlap-p2p-communication, arguments.py:2965-2967) and forced off without interleaving
  // (arguments.py:976-982), where the 1F1B schedule waits for every send.
  ts.pp_send_overlap = par.schedule == Schedule::Interleaved && par.virtual_stages > 1 && problem.options.overlap_p2p != 0;
  ts.tp_comm_overlap = par.tp_comm_overlap;
  ts.ep_comm_overlap = par.ep_comm_overlap;
  ts.offload_optimizer = par.offload_optimizer;
  ts.offload_activations = par.offload_activations;
  // --cpu-offloading-num-layers: the first K blocks of the model offload (pp 1); the export
  // writes L - 1 when the plan leaves K to the framework.
  if (par.offload_activations && par.pp == 1 && problem.model.layers > 1) {
    const double L = static_cast<double>(problem.model.layers);
    ts.offload_share = (par.offload_layers > 0 ? par.offload_layers : L - 1) / L;
  }
  ts.host_link_bandwidth = problem.cluster.gpu.host_link_bandwidth;
  ts.host_memory_bandwidth = problem.cluster.host_memory_bandwidth;
  ts.comm_sm_fraction = comm_sm_fraction(problem.cluster.gpu);
  return ts;
}

std::vector<RankOrder> MegatronFramework::rank_orders() const {
  return {RankOrder{}, RankOrder::parse("tp-cp-pp-ep-dp", "megatron")};
}

void MegatronFramework::check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const {
  // --recompute-modules (megatron/core/transformer/transformer_config.py:1784-1826): moe_act needs
  // the grouped GEMM (exported for MoE models only), mla_up_proj MLA, and the delayed FP8 scaling
  // nest exports runs neither moe_act nor layernorm.
  if (par.recompute == Recompute::Selective) {
    const int m = par.recompute_modules;
    if ((m & kernels::kRecomputeMoeAct) && !problem.model.is_moe())
      out.add([&] {
        return std::string(
            "moe_act in --recompute-modules needs --moe-grouped-gemm, which a dense model does not take "
            "(megatron/core/transformer/transformer_config.py:1784-1787)");
      });
    if ((m & kernels::kRecomputeMlaUpProj) && problem.model.attention() != AttentionKind::Mla)
      out.add([&] {
        return std::string(
            "mla_up_proj in --recompute-modules needs multi-latent attention "
            "(megatron/core/transformer/transformer_config.py:1789-1793)");
      });
    if ((m & (kernels::kRecomputeMoeAct | kernels::kRecomputeLayernorm)) && par.precision == Precision::Fp8)
      out.add([&] {
        return std::string(
            "moe_act and layernorm recomputation do not run with FP8 delayed scaling, the recipe nest exports "
            "(megatron/core/transformer/transformer_config.py:1821-1827)");
      });
  }
  if (par.schedule == Schedule::Interleaved && par.virtual_stages > 1 && problem.options.overlap_p2p == 0 && par.pp <= 2)
    out.add([&] {
      return std::string(
          "the interleaved schedule without overlapped pipeline sends needs more than 2 stages "
          "(megatron/training/arguments.py:966-975)");
    });
  if (par.zero >= 2 && par.pp > 1)
    out.add([&] {
      return std::string("Megatron-FSDP (ZeRO-" + std::to_string(par.zero) +
                         ") is not combined with pipeline parallelism in core_v0.19 (docs/frameworks.md §2)");
    });
  if (par.zero >= 2 && par.ep > 1)
    out.add([&] {
      return std::string("Megatron-FSDP with expert parallelism is not run by nest's Megatron export (docs/frameworks.md §2)");
    });
  if (par.dp_shard > 0)
    out.add([&] {
      return std::string("sharding within groups of " + std::to_string(par.dp_shard) +
                         " data-parallel ranks (HSDP) is not exported for Megatron-LM (its partial distributed optimizer, "
                         "--num-distributed-optimizer-instances, is not modelled)");
    });
  if (par.offload_activations) {
    if (par.pp > 1)
      out.add([&] {
        return std::string("CPU activation offloading requires pp 1 (megatron/core/transformer/transformer_config.py:1716)");
      });
    if (par.recompute != Recompute::None)
      out.add([&] {
        return std::string(
            "CPU activation offloading forbids recomputation (megatron/core/transformer/transformer_config.py:1721)");
      });
    if (par.offload_layers < 0 || par.offload_layers >= problem.model.layers)
      out.add([&] {
        return "--cpu-offloading-num-layers must be below the " + std::to_string(problem.model.layers) +
               " layers (megatron/core/transformer/transformer_config.py:1707-1711); the plan offloads " +
               std::to_string(par.offload_layers);
      });
  }
  if (par.offload_optimizer) {
    if (par.zero != 1)
      out.add([&] {
        return std::string("--optimizer-cpu-offload requires the distributed optimizer (megatron/training/arguments.py:1805)");
      });
  }
  // Megatron-LM's command line builds tp-cp-ep-dp-pp, or tp-cp-ep-pp-dp with
  // --use-tp-pp-dp-mapping (megatron/core/parallel_state.py).
  static const RankOrder kDefault = RankOrder{};
  static const RankOrder kTpPpDp = RankOrder::parse("tp-cp-pp-ep-dp", "megatron");
  if (!(order == kDefault) && !(order == kTpPpDp))
    out.add([&] {
      return std::string("rank order " + order.str() +
                         " cannot be set from Megatron-LM's command line (tp-cp-ep-dp-pp, or with --use-tp-pp-dp-mapping "
                         "tp-cp-pp-ep-dp, Megatron's tp-cp-ep-pp-dp)");
    });
  // Megatron builds the expert grid from the same order string with cp = 1, so its expert group
  // follows (expert) TP directly and folds over the context-parallel ranks
  // (megatron/core/parallel_state.py:873-895); nest places it after cp.
  // With expert TP folded (etp < tp) nest places the experts on Megatron's expert grid, so EP
  // over the context-parallel ranks is what Megatron builds (cost/placement.hpp).
  if (par.ep > 1 && par.cp > 1 && !par.folded())
    out.add([&] {
      return std::string(
          "expert with context parallelism: Megatron's expert group follows tp directly, over the context-parallel ranks "
          "(megatron/core/parallel_state.py:873-895), not after cp as the plan places it");
    });
  // With tp-cp-ep-pp-dp and pp > 1 the expert data-parallel size must equal the data-parallel
  // size and the pipeline groups of both grids coincide (parallel_state.py:898-907): cp = ep,
  // with ep inside pp, not after it as nest's tp-cp-pp-ep-dp places it.
  if (order == kTpPpDp && par.pp > 1 && (par.ep > 1 || par.cp > 1 || par.folded()))
    out.add([&] {
      return std::string(
          "--use-tp-pp-dp-mapping with pp > 1 needs ep 1, cp 1 and expert TP = tp: the expert data-parallel size must "
          "equal the data-parallel size (megatron/core/parallel_state.py:898-902)");
    });
  if (problem.model.is_moe() && problem.model.linear_bias && par.expert_tp() > 1)
    out.add([&] {
      return std::string(
          "MoE with linear biases needs expert tensor parallelism 1 (megatron/core/transformer/transformer_config.py:2282); "
          "the plan shards experts over etp " +
          std::to_string(par.expert_tp()));
    });
  // --expert-tensor-parallel-size: the expert grid etp x ep x edp x pp must tile the world
  // (megatron/core/parallel_state.py:873-884), i.e. etp ep | tp cp dp.
  if (par.folded() && (static_cast<long>(par.tp) * par.cp * par.dp) % (static_cast<long>(par.etp) * par.ep) != 0)
    out.add([&] { return std::string("etp x ep must divide tp x cp x dp (megatron/core/parallel_state.py:873-884)"); });
}

void MegatronFramework::check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const {
  if (par.tp_comm_overlap && !(par.sp && par.tp > 1))
    out.add([&] { return std::string("--tp-comm-overlap requires --sequence-parallel (megatron/training/arguments.py:1402)"); });
  if (par.overlap_param_gather && par.zero == 0)
    out.add([&] {
      return std::string("--overlap-param-gather requires --use-distributed-optimizer (megatron/training/arguments.py:993)");
    });
  if (par.overlap_param_gather && !par.overlap_grad_reduce)
    out.add([&] {
      return std::string("--overlap-param-gather requires --overlap-grad-reduce (megatron/training/arguments.py:995)");
    });
  refuse_unpaired_ep_overlap(par, out);
  if (par.ep_comm_overlap) {
    // Below Blackwell the TP overlap needs CUDA_DEVICE_MAX_CONNECTIONS=1 to queue its
    // communication kernels before the GEMMs they overlap, the EP overlap more connections
    // (megatron/training/arguments.py:1426-1435; Megatron-Bridge scripts/performance/
    // perf_plugins.py:206-236 sets 8 for it): one launch has one value.
    if (par.tp_comm_overlap && problem.cluster.gpu.generation != "blackwell")
      out.add([&] {
        return std::string(
            "--tp-comm-overlap and --overlap-moe-expert-parallel-comm need different CUDA_DEVICE_MAX_CONNECTIONS below "
            "Blackwell (megatron/training/arguments.py:1426-1435)");
      });
    if (par.ep < 2)
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm needs expert parallelism "
            "(megatron/core/transformer/transformer_config.py:2680-2682)");
      });
    if (par.pp > 1 && !(par.schedule == Schedule::Interleaved && par.virtual_stages > 1))
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm with pp > 1 needs the interleaved schedule "
            "(megatron/core/transformer/transformer_config.py:2674-2678)");
      });
    if (par.recompute == Recompute::Full)
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm forbids full recomputation "
            "(megatron/core/transformer/transformer_config.py:2688-2690)");
      });
    if (par.recompute == Recompute::Selective && (par.recompute_modules & kernels::kRecomputeMoe))
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm forbids moe in --recompute-modules "
            "(megatron/core/transformer/transformer_config.py:2697-2699)");
      });
    if (problem.options.moe_allgather)
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm needs the alltoall token dispatcher "
            "(megatron/core/transformer/transformer_config.py:2683-2686)");
      });
    if (problem.model.mtp_layers > 1)
      out.add([&] {
        return std::string(
            "--overlap-moe-expert-parallel-comm allows at most one MTP layer "
            "(megatron/core/transformer/transformer_config.py:2709-2713)");
      });
  }
}

}  // namespace nest
