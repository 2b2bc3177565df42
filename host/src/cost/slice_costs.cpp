#include "nest/cost/slice_costs.hpp"

#include <algorithm>

#include "nest/framework/framework.hpp"

namespace nest {

kernels::ParallelShape parallel_shape(const Problem& problem, const Parallelism& par) {
  kernels::ParallelShape s;
  s.microbatch = par.microbatch;
  s.seq_len = static_cast<double>(problem.seq_len);
  s.tp = par.tp;
  s.cp = par.cp;
  s.ep = par.ep;
  s.dp = static_cast<double>(par.dp) * par.cp;  // gradients are reduced over dp x cp
  s.etp = par.expert_tp();
  // the ranks of a stage re-split for the experts: tp cp dp = etp ep edp
  // HSDP: experts sharded over the expert-data-parallel ranks of one shard group.
  s.edp = static_cast<double>(par.edp()) * (par.dp_shard > 0 ? static_cast<double>(par.dp_shard) / par.dp : 1.0);
  s.shard = par.dp_shard > 0 ? static_cast<double>(par.dp_shard) * par.cp : 0;
  s.sp = par.sp && par.tp > 1;
  s.recompute = par.recompute;
  s.recompute_modules = par.recompute_modules;
  s.zero = par.zero;
  return s;
}

kernels::SliceContext slice_context(const Problem& problem, const Parallelism& par, const Placement& placement) {
  return slice_context(problem, par, placement, framework(problem.options.framework).settings(problem, par));
}

kernels::SliceContext slice_context(const Problem& problem, const Parallelism& par, const Placement& placement,
                                    const kernels::TrainingSettings& ts) {
  const Framework& fw = framework(problem.options.framework);
  kernels::SliceContext ctx;
  ctx.net = problem.cluster.network();
  ctx.dp_group = placement.dp;
  ctx.shard_group = placement.dp_shard;
  ctx.replicate_group = placement.dp_replicate;
  ctx.edp_group = placement.edp;
  ctx.zero_stage = ts.grad_allreduce ? 0 : par.zero;
  ctx.overlap_grad_reduce = par.overlap_grad_reduce;
  ctx.overlap_param_gather = par.overlap_param_gather;
  ctx.grad_bucket_bytes = ts.grad_bucket_params * ts.grad_reduce_bytes;
  ctx.comm_sm_fraction = ts.comm_sm_fraction;
  ctx.p = par.pp;
  ctx.pp = placement.pp_layout;
  ctx.v = par.schedule == Schedule::Interleaved ? par.virtual_stages : 1;
  ctx.m = par.num_microbatches;
  ctx.torch_order = fw.torch_pipeline_schedule() ? 1 : 0;
  ctx.extra_warmup = ts.ep_comm_overlap ? 1 : 0;  // one more forward to pair with a backward (pipeline.hpp)
  ctx.memory_capacity = problem.cluster.memory_bytes;
  ctx.allocator_overhead = fw.allocator_overhead();
  ctx.other_bytes = fw.runtime_bytes(problem, par) + ts.stage_buffer_bytes;
  ctx.grads_apart = ts.grads_freed_each_step && !ts.grads_in_buffer && par.num_microbatches == 1 && par.pp == 1 ? 1 : 0;
  return ctx;
}

SliceCosts build_slice_costs(const Problem& problem, const LayerGraph& graph, const Parallelism& par, const RankOrder& order) {
  return build_slice_costs(problem, graph, par, place_groups(problem.cluster, par, order));
}

SliceCosts build_slice_costs(const Problem& problem, const LayerGraph& graph, const Parallelism& par,
                             const Placement& placement) {
  SliceCosts sc;
  sc.placement = placement;
  sc.shape = parallel_shape(problem, par);
  const kernels::TrainingSettings settings = framework(problem.options.framework).settings(problem, par);
  sc.ctx = slice_context(problem, par, sc.placement, settings);
  const kernels::CommContext comm = comm_context(sc.ctx.net, sc.placement);
  const kernels::GpuModel gpu = problem.cluster.gpu.compute_model(par.precision, attention_kernel_of(problem));
  sc.layers.reserve(graph.nodes.size());
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    // Repeated blocks have repeated costs: compute once per run of identical dimensions.
    if (graph.repeats[i]) {
      sc.layers.push_back(sc.layers.back());
      continue;
    }
    sc.layers.push_back(kernels::layer_cost(graph.nodes[i].dims, sc.shape, gpu, settings, comm));
  }
  // A receive buffer holds the boundary tensor, every layer's output (transformer.hpp).
  if (settings.pp_keeps_receive_buffers && par.pp > 1 && !sc.layers.empty())
    sc.ctx.receive_buffer_bytes = sc.layers.front().cost.send_bytes;
  if (settings.pp_holds_outputs && par.pp > 1 && !sc.layers.empty())
    sc.ctx.output_buffer_bytes = sc.layers.front().cost.send_bytes;
  // Overlapped pipeline sends (Megatron's interleaved schedule posts the send, runs the next
  // chunk, then waits: schedules.py) run beside at least one block's pass of the next chunk,
  // whichever layer sent: the shortest block pass of the slice is the window of every send, exact
  // for chunks of one block and a lower bound for longer ones (docs/cost-model.md §6).
  if (settings.pp_send_overlap && par.pp > 1) {
    double window = 0;
    bool any = false;
    for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
      if (graph.nodes[i].dims.kind != kernels::LayerKind::Block) continue;
      const kernels::LayerCost& c = sc.layers[i].cost;
      window = any ? std::min(window, std::min(c.fwd, c.bwd)) : std::min(c.fwd, c.bwd);
      any = true;
    }
    for (kernels::LayerCostDetail& l : sc.layers) {
      l.cost.send_hide = window;
      l.cost.send_sm = settings.comm_sm_fraction;
    }
  }
  return sc;
}

SliceSummary summarize_slice(const Problem& problem, const LayerGraph& graph, const Parallelism& par,
                             const Placement& placement) {
  const kernels::TrainingSettings settings = framework(problem.options.framework).settings(problem, par);
  SliceSummary s;
  s.ctx = slice_context(problem, par, placement, settings);
  const kernels::ParallelShape shape = parallel_shape(problem, par);
  const kernels::CommContext comm = comm_context(s.ctx.net, placement);
  const kernels::GpuModel gpu = problem.cluster.gpu.compute_model(par.precision, attention_kernel_of(problem));
  kernels::LayerCost c;
  for (std::size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!graph.repeats[i]) c = kernels::layer_cost(graph.nodes[i].dims, shape, gpu, settings, comm).cost;
    s.add(c);
  }
  kernels::dp::add_pipeline_sends(s, comm, settings.pp_send_overlap != 0, settings.comm_sm_fraction);
  return s;
}

StepFlops step_flops(const Problem& problem, const LayerGraph& graph, const Parallelism& par) {
  kernels::ParallelShape one;  // one sequence, no parallelism
  one.seq_len = static_cast<double>(problem.seq_len);
  one.recompute = par.recompute;
  one.recompute_modules = par.recompute_modules;
  const kernels::GpuModel gpu = problem.cluster.gpu.compute_model();
  // Model FLOPs count useful work: MoE capacity padding is executed (hardware FLOPs) but not
  // counted in MFU.
  kernels::TrainingSettings run;
  run.flash_attention = problem.options.flash_attention;
  run.capacity_factor = problem.options.capacity_factor;
  // Executed FLOPs follow the masks per document (only the frameworks that mask so take a length).
  run.document_length = static_cast<double>(problem.options.document_length);
  kernels::TrainingSettings useful = run;
  useful.capacity_factor = 1;
  StepFlops f;
  for (const LayerNode& n : graph.nodes) {
    f.model += kernels::layer_flops(kernels::layer_work(n.dims, one, gpu, useful), n.dims, one).model;
    f.hardware += kernels::layer_flops(kernels::layer_work(n.dims, one, gpu, run), n.dims, one).hardware;
  }
  const double batch = static_cast<double>(problem.global_batch);
  f.model *= batch;
  f.hardware *= batch;
  return f;
}

}  // namespace nest
