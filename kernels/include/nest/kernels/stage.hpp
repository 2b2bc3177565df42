// Composition of per-layer costs into per-stage time, memory and tail, and of stages into the
// step time. One place for these formulas: the evaluator (plain loops over a plan's layers),
// the exhaustive search and the DP (prefix sums, on the CPU or the GPU) all call these.
//
//   stage time  t_i   = sum(fwd + bwd) over its layers + its pipeline sends          (per microbatch)
//                       (each send priced at the level its boundary crosses, pp_boundaries.hpp)
//   stage tail  r_i   = exposed data-parallel sync + optimizer step                  (once per step)
//   stage memory M_i  = weights + grads + optimizer + in-flight activations + kept outputs
//                       + working + other
//   step time   T     = S/v + (m - 1/v) max_i t_i + W + max_i r_i
//                       (W: what overlapped sends cost beyond their hidden share on the
//                        pipeline's fill and flush chains, fill_flush_transit)
//
// The tail is a per-stage maximum, not a sum: stages synchronise their gradients on disjoint
// GPUs at the same time after the pipeline drains, and the step ends when the slowest is done.
// The DP handles both maxima exactly (docs/solver.md). Gradient synchronisation uses the ring
// algorithm (bucket-sized messages, where NCCL picks the ring), which keeps r_i convex in the
// number of layers of a stage.
#pragma once

#include "nest/kernels/collectives.hpp"
#include "nest/kernels/pipeline.hpp"
#include "nest/kernels/pp_boundaries.hpp"

namespace nest::kernels {

// Cost of one layer node under one slice: per GPU, per microbatch where it applies.
struct LayerCost {
  double fwd = 0;          // s: forward incl. the layer's exposed TP/CP/EP/ZeRO-3 collectives
  double bwd = 0;          // s: backward incl. recomputation and exposed collectives
  double send_bytes = 0;   // bytes per GPU of the point-to-point send of its output (or gradient)
  double send_gather = 0;  // s: what follows the receive whatever the level (TP all-gather without SP)
  // An overlapped send (Megatron's interleaved schedule, --overlap-p2p): the compute it runs
  // beside, at least one block's pass of the next chunk (the same for every send of a slice:
  // build_slice_costs), and the share of that compute its NCCL kernels slow (comm_sm_fraction).
  // 0, 0: the send is waited for.
  double send_hide = 0;
  double send_sm = 0;
  double weight_bytes = 0;     // resident bf16 parameters (sharded by ZeRO-3)
  double grad_bytes = 0;       // resident gradients (sharded by ZeRO-2/3)
  double optimizer_bytes = 0;  // fp32 master weights and Adam moments (sharded by ZeRO-1/2/3)
  // Of the three above, what the framework keeps in a few flat buffers (Megatron-Core's DDP
  // buffers, DeepSpeed's flattened ZeRO partitions): one allocation is rounded to 2 MiB, so the
  // allocator's reserve does not apply to it (TrainingSettings::weights_in_buffer, ...).
  double buffered_bytes = 0;
  double act_bytes = 0;          // activations kept per in-flight microbatch
  double work_bytes = 0;         // transient bytes while the layer runs (stage takes the max)
  double kept_output_bytes = 0;  // per microbatch: output the pipeline runtime keeps until the step ends
  double dp_reduce_bytes = 0;    // gradient bytes reduced over the data-parallel group
  double edp_reduce_bytes = 0;   // expert gradient bytes reduced over the expert-data-parallel group
  double dp_gather_bytes = 0;    // parameter bytes all-gathered after the step (ZeRO-1/2)
  double edp_gather_bytes = 0;
  double optimizer_time = 0;  // s: optimizer step over this layer's shard, and what precedes it
                              // in the stage's tail (a tied embedding's gradient all-reduce)
};

// Sums over a stage's layers (prefix-sum friendly: every field but work_bytes is additive).
struct StageSums {
  double fwd = 0, bwd = 0;
  double weight_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, act_bytes = 0, work_bytes = 0, kept_output_bytes = 0;
  double buffered_bytes = 0;
  double dp_reduce_bytes = 0, edp_reduce_bytes = 0, dp_gather_bytes = 0, edp_gather_bytes = 0;
  double optimizer_time = 0;
};

NEST_HD_INLINE void accumulate(StageSums& s, const LayerCost& c) {
  s.fwd += c.fwd;
  s.bwd += c.bwd;
  s.weight_bytes += c.weight_bytes;
  s.grad_bytes += c.grad_bytes;
  s.optimizer_bytes += c.optimizer_bytes;
  s.act_bytes += c.act_bytes;
  s.work_bytes = max_of(s.work_bytes, c.work_bytes);
  s.kept_output_bytes += c.kept_output_bytes;
  s.buffered_bytes += c.buffered_bytes;
  s.dp_reduce_bytes += c.dp_reduce_bytes;
  s.edp_reduce_bytes += c.edp_reduce_bytes;
  s.dp_gather_bytes += c.dp_gather_bytes;
  s.edp_gather_bytes += c.edp_gather_bytes;
  s.optimizer_time += c.optimizer_time;
}

// What a slice fixes beyond per-layer costs: the groups the stage synchronises over, the
// optimizer sharding, overlap switches, the pipeline shape and the memory budget.
struct SliceContext {
  Network net;
  GroupShape dp_group;                      // dense data-parallel group (includes the expert-parallel ranks)
  GroupShape shard_group, replicate_group;  // ZeRO / FSDP shards and their HSDP replicas (without HSDP: dp_group, one member)
  GroupShape edp_group;                     // expert-data-parallel group (dp / ep)
  int zero_stage = 0;                       // 0: all-reduce; 1,2: reduce-scatter + all-gather; 3: per layer
  bool overlap_grad_reduce = false;
  bool overlap_param_gather = false;
  // Gradient bytes one bucket of the first stage's step-end reduction holds (Megatron DDP's
  // bucket_size at the reduce dtype; TrainingSettings::grad_bucket_params); 0: no buckets.
  double grad_bucket_bytes = 0;
  double comm_sm_fraction = 0;    // compute slowed by this fraction while overlapped communication runs
  int p = 1, v = 1, m = 1;        // pipeline stages, virtual stages per stage, microbatches
  int torch_order = 0;            // interleaved passes in PyTorch's order, not Megatron-LM's (pipeline.hpp)
  int extra_warmup = 0;           // forward passes before the first backward beyond the schedule's own (pipeline.hpp)
  PipelineLayout pp;              // where the stages sit: the level each boundary crosses
  double memory_capacity = 0;     // bytes per GPU
  double allocator_overhead = 0;  // fraction the caching allocator reserves above what it hands out
  double other_bytes = 0;         // per GPU outside the model: CUDA context, NCCL, communication buckets
  // The gradients are never alive together with the activations: the framework frees them
  // before each forward and the step runs one microbatch on one stage, so they appear during the
  // backward while the activations are released (TrainingSettings::grads_freed_each_step).
  // Only set without pipelining: the general DP splits memory into static and per-in-flight parts.
  // Never with the gradients in a framework buffer (TrainingSettings::grads_in_buffer: not freed).
  int grads_apart = 0;
  // Bytes of one pipeline receive buffer (the boundary tensor per GPU) where the runtime keeps one
  // per microbatch and chunk (TrainingSettings::pp_keeps_receive_buffers); 0 where it does not.
  double receive_buffer_bytes = 0;
  // Bytes of a chunk's output (the boundary tensor) where the runtime holds it until the
  // microbatch's backward (PyTorch pipelining's fwd_cache); 0 where it does not (Megatron-LM
  // frees the sent output's data: deallocate_output_tensor).
  double output_buffer_bytes = 0;
};

// The step-end collectives over explicit groups: the search's bounds take them from a placement's
// CommContext (dp/lower_bound.hpp), everything else from its SliceContext (below).
NEST_HD_INLINE double gradient_sync_time(const Network& net, const GroupShape& dp, const GroupShape& shard,
                                         const GroupShape& replicate, const GroupShape& edp, int zero_stage, double dp_bytes,
                                         double edp_bytes) {
  if (zero_stage == 0)
    return (dp_bytes > 0 && group_size(dp) > 1 ? ring_allreduce_time(net, dp, dp_bytes) : 0) +
           (edp_bytes > 0 && group_size(edp) > 1 ? ring_allreduce_time(net, edp, edp_bytes) : 0);
  return reduce_scatter_time(net, shard, dp_bytes) + allreduce_time(net, replicate, dp_bytes / group_size(shard)) +
         reduce_scatter_time(net, edp, edp_bytes) + allreduce_time(net, replicate, edp_bytes / group_size(edp));
}

NEST_HD_INLINE double param_gather_time(const Network& net, const GroupShape& shard, const GroupShape& edp, double dp_bytes,
                                        double edp_bytes) {
  return allgather_time(net, shard, dp_bytes) + allgather_time(net, edp, edp_bytes);
}

NEST_HD_INLINE double gradient_sync_time(const SliceContext& ctx, double dp_bytes, double edp_bytes) {
  return gradient_sync_time(ctx.net, ctx.dp_group, ctx.shard_group, ctx.replicate_group, ctx.edp_group, ctx.zero_stage, dp_bytes,
                            edp_bytes);
}

NEST_HD_INLINE double param_gather_time(const SliceContext& ctx, double dp_bytes, double edp_bytes) {
  return param_gather_time(ctx.net, ctx.shard_group, ctx.edp_group, dp_bytes, edp_bytes);
}

// What of a step-end collective of time c, overlapped with one round of microbatch passes, the
// step waits for (before the SMs it takes: sync_times). `pass` is the stage's pass (all its
// chunks) for one microbatch.
// - One chunk per stage: the gradient reduction streams out beside the last backward pass,
//   max(0, c - pass) (later stages reduce in the cool-down's idle time, which only adds to the
//   window). Cut into K buckets (Megatron-LM's first stage: a bucket's reduction starts once
//   its last gradient is ready, the buckets fill in order through the pass, and go out one
//   after another), the last bucket waits for the pass and bucket k ends at
//   max(k pass/K, end of bucket k-1) + c/K: the step waits max(c/K, c - (K-1) pass/K).
// - v interleaved chunks: the last round of g microbatches (interleaved_group) runs chunk by
//   chunk, the model's last first, g passes of pass/v each, and a chunk's gradients are final
//   after its pass of the round's last microbatch. Reductions go out one after another. If a
//   chunk's buckets stream out during that pass (PyTorch pipelining: FSDP reduce-scatters each
//   layer as its backward ends on the last microbatch, `streams`), chunk n from the end finishes
//   n c/v - ((n-1) g + 1) pass/v after the round; if the chunk starts only after the pass
//   (Megatron-LM with --align-grad-reduce, its default: start_grad_sync of the whole chunk,
//   schedules.py backward_step_helper_postprocess, core_v0.19 :1418-1428, delayed on stage r by
//   the r passes by which its cool-down ends earlier), n c/v - (n-1) g pass/v. Both are affine
//   in n: the worst is the last chunk alone or the whole queue.
// - The parameter all-gather before the next step's first round is the same in reverse, streamed
//   (chunk j is needed at its first pass, j g passes in; forward pre-hooks wait bucket by bucket,
//   each dispatching the next: with K buckets the first is waited for whole).
NEST_HD_INLINE double overlapped_exposed(double c, double pass, int v, int g, bool streams, int buckets = 0) {
  if (v <= 1)
    return buckets > 0 ? max_of(c / buckets, c - static_cast<double>(buckets - 1) / buckets * pass) : max_of(0.0, c - pass);
  const double chunk = pass / v;
  return streams ? max_of(0.0, max_of((c - pass) / v, c - (static_cast<double>(v - 1) * g + 1) * chunk))
                 : max_of(c / v, c - static_cast<double>(v - 1) * g * chunk);
}

// Buckets of `bytes` reduced gradients on a stage: Megatron-LM cuts the first stage's DDP buffer
// of its first chunk into buckets of bucket_size parameters and gives every other stage and chunk
// one bucket (core_v0.19 megatron/training/training.py:1857-1867, per_chunk_bucket_sizes: None
// where pp_rank > 0 or chunk_idx > 0). 0: not cut (the formulas above stream).
NEST_HD_INLINE int gradient_buckets(const SliceContext& ctx, double bytes, bool first_stage) {
  if (!first_stage || ctx.v > 1 || ctx.grad_bucket_bytes <= 0 || bytes <= 0) return 0;
  const double whole = bytes / ctx.grad_bucket_bytes;
  // A bucket of a few parameters: capped at 2^29 buckets (the dense and expert counts still add
  // up within an int), by then 2^29 collectives' latencies.
  constexpr int kMostBuckets = 1 << 29;
  if (whole >= kMostBuckets) return kMostBuckets;
  const int buckets = static_cast<int>(whole);  // the last bucket takes what is left
  return buckets < whole - 1e-9 ? buckets + 1 : max_of(buckets, 1);
}

// Exposed gradient sync (overlapped with the stage's last backward round when enabled) and
// exposed parameter all-gather (overlapped with the next step's first forward round when
// enabled); the overlap slows the compute beside it by the SMs it takes. Cut into buckets (the
// dense and the expert buffers apart, one after the other on the stream), each bucket is a
// collective of its own, with its own latency: the dense buffer's K_d of S_d/K_d bytes, then the
// expert buffer's K_e (Megatron-Core gives each bucket a group of its own unless some weights are
// FP8 parameters, and each group starts its own NCCL call: megatron/core/distributed/
// param_and_grad_buffer.py partition_buckets :1675-1679, start_grad_sync :600-730 at
// NVIDIA/Megatron-LM@d98e8a64). In overlapped_exposed their times are taken as K equal shares
// of the sum. So many small buckets can make the overlap slower than one
// collective after the step (no overlap: one bucket), and the search keeps both there
// (docs/solver.md §1).
struct SyncTimes {
  double reduce = 0, reduce_exposed = 0;  // s: gradient reduction, and what of it the step waits for
  double gather = 0, gather_exposed = 0;  // s: parameter all-gather after the step, and its exposed part
  int buckets = 0;                        // buckets of the first stage's reduction (0: not cut)
};

NEST_HD_INLINE SyncTimes sync_times(const SliceContext& ctx, const StageSums& s, bool first_stage) {
  SyncTimes t;
  const int dense = gradient_buckets(ctx, s.dp_reduce_bytes, first_stage);
  const int expert = gradient_buckets(ctx, s.edp_reduce_bytes, first_stage);
  t.buckets = dense + expert;
  if (t.buckets > 0) {
    t.reduce = (dense > 0 ? dense * gradient_sync_time(ctx, s.dp_reduce_bytes / dense, 0) : 0) +
               (expert > 0 ? expert * gradient_sync_time(ctx, 0, s.edp_reduce_bytes / expert) : 0);
    // A buffer's parameters are gathered in the buckets its gradients were reduced in.
    t.gather = (dense > 0 ? dense * param_gather_time(ctx, s.dp_gather_bytes / dense, 0)
                          : param_gather_time(ctx, s.dp_gather_bytes, 0)) +
               (expert > 0 ? expert * param_gather_time(ctx, 0, s.edp_gather_bytes / expert)
                           : param_gather_time(ctx, 0, s.edp_gather_bytes));
  } else {
    t.reduce = gradient_sync_time(ctx, s.dp_reduce_bytes, s.edp_reduce_bytes);
    t.gather = param_gather_time(ctx, s.dp_gather_bytes, s.edp_gather_bytes);
  }
  const double f = ctx.comm_sm_fraction;
  const int g = min_of(interleaved_group(ctx.p, ctx.m, ctx.torch_order), ctx.m);
  if (ctx.overlap_grad_reduce) {
    const double waited = overlapped_exposed(t.reduce, s.bwd, ctx.v, g, ctx.torch_order != 0, t.buckets);
    t.reduce_exposed = waited + f * (t.reduce - waited);
  } else
    t.reduce_exposed = t.reduce;
  if (ctx.overlap_param_gather) {
    const double waited = overlapped_exposed(t.gather, s.fwd, ctx.v, g, true, t.buckets);
    t.gather_exposed = waited + f * (t.gather - waited);
  } else
    t.gather_exposed = t.gather;
  return t;
}

NEST_HD_INLINE double exposed_sync_time(const SliceContext& ctx, const StageSums& s, bool first_stage) {
  const SyncTimes t = sync_times(ctx, s, first_stage);
  return t.reduce_exposed + t.gather_exposed;
}

// `first_stage`: the stage holding the model's first layer (pipeline rank 0), where Megatron-LM
// buckets its gradients.
NEST_HD_INLINE double stage_tail(const SliceContext& ctx, const StageSums& s, bool first_stage) {
  return exposed_sync_time(ctx, s, first_stage) + s.optimizer_time;
}

// Pipeline sends of stage i with v chunks: forward sends leave every chunk but the model's
// last, backward sends leave every chunk but the model's first.
NEST_HD_INLINE int forward_sends(int p, int v, int i) { return p == 1 ? 0 : v - (i == p - 1 ? 1 : 0); }
NEST_HD_INLINE int backward_sends(int p, int v, int i) { return p == 1 ? 0 : v - (i == 0 ? 1 : 0); }

// A pipeline send's whole time across network level `level`: the transfer, and the all-gather
// over TP that follows the receive without SP (`gather`).
NEST_HD_INLINE double send_whole_time(const Network& net, int level, double bytes, double gather) {
  return sendrecv_time(net, level, bytes) + gather;
}

// One pipeline send of a layer's output (or of its gradient) across network level `level`: what
// the stage waits for, and, overlapped, what it does not hide plus the compute it slows.
NEST_HD_INLINE double send_time(const Network& net, int level, const LayerCost& c) {
  const double send = send_whole_time(net, level, c.send_bytes, c.send_gather);
  return max_of(0.0, send - c.send_hide) + c.send_sm * min_of(send, c.send_hide);
}

// What the receiver of a send waits for beyond what the sender pays: an overlapped send's whole
// time less its hidden cost (0 for a send that is waited for).
NEST_HD_INLINE double send_transit(const Network& net, int level, const LayerCost& c) {
  return send_whole_time(net, level, c.send_bytes, c.send_gather) - send_time(net, level, c);
}

// The pipeline's fill and flush are chains with nothing beside them: the first microbatch's
// forward crosses the model's p v - 1 chunk boundaries one after another (the x-th crosses
// boundary x mod p, the wrap included), and the last microbatch's backward crosses them back.
// An overlapped send hides behind the next chunk only in the steady state; on these chains the
// next pass needs what it carries, so each costs its whole time (Megatron-LM's warm-up and
// flush even wait for them: overlap_p2p_comm_warmup_flush, off by default, model_parallel_
// config.py:422 at core_v0.19; schedules.py:1606-1631, 2025-2028). `boundary`: the cost of the
// layer whose output crosses (every boundary tensor has the same size: transformer.hpp).
NEST_HD_INLINE double fill_flush_transit(const SliceContext& ctx, const LayerCost& boundary) {
  if (boundary.send_hide <= 0) return 0;  // waited-for sends: every transit is 0 (no level lookups)
  double t = 0;
  for (int x = 0; x + 1 < ctx.p * ctx.v; ++x) t += send_transit(ctx.net, pp_boundary_level(ctx.pp, x % ctx.p), boundary);
  return 2 * t;
}

// PyTorch pipelining before its receive buffers became lazy (docs/cost-model.md §7): each chunk
// but the model's first allocated at setup one activation-receive buffer per microbatch, each
// chunk but the model's last one gradient-receive buffer per microbatch, and each input gradient
// stayed in its activation buffer's .grad until the next step. A buffer holding an in-flight
// microbatch's input is that microbatch's saved input, already among its activations; the
// others are extra. At a stage's activation peak taken at its last moment (every forward done,
// `inflight_passes` still in flight: the 1F1B steady state's last backward, where the stage
// holds the most activations and the most input gradients at once), the rest have run their
// backward and left an input gradient each: 2 (m a - inflight) + m g buffers beyond the
// activations, a and g the stage's chunks receiving activations and gradients. Under
// interleaving the count takes the rank's passes in flight as all on receiving chunks (rank 0's
// first chunk receives nothing: it there counts fewer than it holds).
NEST_HD_INLINE double pipeline_receive_bytes(const SliceContext& ctx, int i, int inflight_passes) {
  if (ctx.receive_buffer_bytes <= 0 || ctx.p <= 1) return 0;
  const double m = ctx.m;
  const double idle = max_of(0.0, m * backward_sends(ctx.p, ctx.v, i) - inflight_passes);
  return ctx.receive_buffer_bytes * (2 * idle + m * forward_sends(ctx.p, ctx.v, i));
}

// PyTorch pipelining holds each chunk's output, the tensor it sent, until that microbatch's
// backward runs autograd from it (stage.py: fwd_cache, popped by backward_one_chunk): one per
// pass in flight (taken as on sending chunks), none on the model's last chunk, whose output is
// the logits the head's cost holds.
NEST_HD_INLINE double pipeline_output_bytes(const SliceContext& ctx, int i, int inflight_passes) {
  if (ctx.output_buffer_bytes <= 0 || ctx.p <= 1) return 0;
  const double sending = static_cast<double>(ctx.m) * forward_sends(ctx.p, ctx.v, i);
  return ctx.output_buffer_bytes * min_of(sending, static_cast<double>(inflight_passes));
}

// What PyTorch pipelining's runtime holds at a stage's peak beyond the layers' activations: the
// two terms above (docs/cost-model.md §7).
NEST_HD_INLINE double pipeline_runtime_bytes(const SliceContext& ctx, int i, int inflight_passes) {
  return pipeline_receive_bytes(ctx, i, inflight_passes) + pipeline_output_bytes(ctx, i, inflight_passes);
}

NEST_HD_INLINE double stage_work(const StageSums& s) { return s.fwd + s.bwd; }
NEST_HD_INLINE double stage_time(const StageSums& s, double p2p_time) { return stage_work(s) + p2p_time; }

// Static memory (independent of the stage's position) plus in-flight activations. With the
// gradients apart, the peak is the larger of the backward's start (every activation, no
// gradient) and the optimizer step (every gradient, no activation).
// Outputs kept until the step ends (LayerCost::kept_output_bytes), every microbatch's: the
// running one's too, which its layer's working set leaves out.
NEST_HD_INLINE double kept_outputs(const SliceContext& ctx, const StageSums& s) { return ctx.m * s.kept_output_bytes; }

NEST_HD_INLINE double stage_memory(const SliceContext& ctx, const StageSums& s, double inflight_act_bytes) {
  const double passes = inflight_act_bytes + kept_outputs(ctx, s) + s.work_bytes;
  const double live = ctx.grads_apart ? max_of(s.grad_bytes, passes) : s.grad_bytes + passes;
  // The allocator's reserve on all but the model state in the framework's flat buffers.
  return (s.weight_bytes + s.optimizer_bytes + live - s.buffered_bytes) * (1 + ctx.allocator_overhead) + s.buffered_bytes +
         ctx.other_bytes;
}

// The gradients counted in a stage's peak memory (all of them, or none when they are apart and
// the activations outweigh them).
NEST_HD_INLINE double grads_at_peak(const SliceContext& ctx, const StageSums& s, double inflight_act_bytes) {
  return ctx.grads_apart && inflight_act_bytes + kept_outputs(ctx, s) + s.work_bytes >= s.grad_bytes ? 0 : s.grad_bytes;
}

// `fill_flush`: fill_flush_transit, the same for every split of a slice.
NEST_HD_INLINE double step_time(const SliceContext& ctx, double sum_stage, double max_stage, double max_tail, double fill_flush) {
  return pipeline_time(sum_stage, max_stage, ctx.m, ctx.v) + fill_flush + max_tail;
}

}  // namespace nest::kernels
