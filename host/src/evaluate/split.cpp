#include "nest/evaluate/split.hpp"

#include <algorithm>

#include "nest/core/error.hpp"
#include "nest/cost/schedule.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

SplitEval evaluate_split(const SliceCosts& sc, const std::vector<StageLayout>& layout, std::vector<StageDetail>* detail) {
  const kernels::SliceContext& ctx = sc.ctx;
  const int p = static_cast<int>(layout.size());
  const int v = ctx.v;
  if (ctx.pp.stages != p) throw_runtime("slice costs without the pipeline's layout");
  SplitEval r;
  r.stages.resize(static_cast<std::size_t>(p));
  if (detail) detail->assign(static_cast<std::size_t>(p), StageDetail{});
  for (int i = 0; i < p; ++i) {
    StageEval& st = r.stages[static_cast<std::size_t>(i)];
    const StageLayout& lay = layout[static_cast<std::size_t>(i)];
    std::vector<double> chunk_act;
    for (int c = 0; c < static_cast<int>(lay.chunks.size()); ++c) {
      kernels::StageSums chunk;
      ChunkDetail cd;
      cd.first_node = lay.chunks[static_cast<std::size_t>(c)].first;
      cd.last_node = lay.chunks[static_cast<std::size_t>(c)].second;
      for (int n = lay.chunks[static_cast<std::size_t>(c)].first; n <= lay.chunks[static_cast<std::size_t>(c)].second; ++n) {
        const kernels::LayerCostDetail& d = sc.layers[static_cast<std::size_t>(n)];
        if (d.cost.work_bytes > st.sums.work_bytes) st.work_node = n;
        kernels::accumulate(chunk, d.cost);
        kernels::accumulate(st.sums, d.cost);
        st.compute += d.compute_fwd + d.compute_bwd;
        st.tp += d.tp;
        st.cp += d.cp;
        st.ep += d.ep;
        st.dp_microbatch += d.dp_microbatch;
        st.offload += d.offload;
        if (detail) {
          // The forward's pieces as layer_cost splits them; the backward's are the rest.
          cd.fwd.compute += d.compute_fwd;
          cd.fwd.tp += d.tp_fwd;
          cd.fwd.cp += d.cp_fwd;
          cd.fwd.ep += d.ep_fwd;
          cd.fwd.dp += d.dp_fwd;
          cd.fwd.offload += d.offload_fwd;
          cd.bwd.compute += d.compute_bwd;
          cd.bwd.tp += d.tp - d.tp_fwd;
          cd.bwd.cp += d.cp - d.cp_fwd;
          cd.bwd.ep += d.ep - d.ep_fwd;
          cd.bwd.dp += d.dp_microbatch - d.dp_fwd;
          cd.bwd.offload += d.offload - d.offload_fwd;
          cd.fwd.hardware_flops += d.hardware_flops_fwd;
          cd.bwd.hardware_flops += d.hardware_flops - d.hardware_flops_fwd;
          cd.model_flops += d.model_flops;
          cd.fwd.tp_bytes += d.tp_bytes_fwd;
          cd.fwd.cp_bytes += d.cp_bytes_fwd;
          cd.fwd.ep_bytes += d.ep_bytes_fwd;
          cd.bwd.tp_bytes += d.tp_bytes_bwd;
          cd.bwd.cp_bytes += d.cp_bytes_bwd;
          cd.bwd.ep_bytes += d.ep_bytes_bwd;
        }
      }
      chunk_act.push_back(chunk.act_bytes);
      if (detail) {
        cd.fwd.time = chunk.fwd;
        cd.bwd.time = chunk.bwd;
        cd.act_bytes = chunk.act_bytes;
        (*detail)[static_cast<std::size_t>(i)].chunks.push_back(cd);
      }
    }
    const int passes = v == 1 ? kernels::inflight_microbatches_1f1b(p, ctx.m, i, ctx.extra_warmup)
                              : kernels::interleaved_inflight_passes(p, v, ctx.m, i, ctx.torch_order, ctx.extra_warmup);
    st.inflight_act =
        (v == 1 ? passes * chunk_act[0] : interleaved_peak_bytes(p, v, ctx.m, i, chunk_act, ctx.torch_order, ctx.extra_warmup)) +
        kernels::pipeline_runtime_bytes(ctx, i, passes);
  }
  // Pipeline sends: between consecutive chunks in model order, the sender pays the forward
  // send and the receiver the backward send of the same boundary tensor, both across the level
  // that boundary crosses (stage si to si+1, or the wrap from the last stage to the first).
  std::vector<std::pair<int, int>> order;  // (stage, chunk) in model order
  for (int k = 0; k < v; ++k)
    for (int i = 0; i < p; ++i) order.emplace_back(i, k);
  for (std::size_t x = 0; x + 1 < order.size(); ++x) {
    const auto [si, ci] = order[x];
    const int last_node = layout[static_cast<std::size_t>(si)].chunks[static_cast<std::size_t>(ci)].second;
    const int level = kernels::pp_boundary_level(ctx.pp, si);  // boundary si; si = p-1 is the wrap
    const kernels::LayerCost& boundary = sc.layers[static_cast<std::size_t>(last_node)].cost;
    const double send = kernels::send_time(ctx.net, level, boundary);
    r.stages[static_cast<std::size_t>(si)].p2p += send;
    r.stages[static_cast<std::size_t>(order[x + 1].first)].p2p += send;
    if (detail) {
      const auto [sj, cj] = order[x + 1];
      PassDetail& f = (*detail)[static_cast<std::size_t>(si)].chunks[static_cast<std::size_t>(ci)].fwd;
      PassDetail& b = (*detail)[static_cast<std::size_t>(sj)].chunks[static_cast<std::size_t>(cj)].bwd;
      const double transit = kernels::send_transit(ctx.net, level, boundary);
      for (PassDetail* d : {&f, &b}) {
        d->send = send;
        d->send_transit = transit;
        d->send_level = level;
        d->send_bytes = boundary.send_bytes;
      }
      f.send_to = sj;
      b.send_to = si;
    }
  }
  for (int i = 0; i < p; ++i) {
    StageEval& st = r.stages[static_cast<std::size_t>(i)];
    st.time = kernels::stage_time(st.sums, st.p2p);
    st.sync_exposed = kernels::exposed_sync_time(ctx, st.sums, i == 0);
    if (detail) (*detail)[static_cast<std::size_t>(i)].sync = kernels::sync_times(ctx, st.sums, i == 0);
    st.tail = kernels::stage_tail(ctx, st.sums, i == 0);
    st.memory = kernels::stage_memory(ctx, st.sums, st.inflight_act);
    r.sum_time += st.time;
    if (i == 0 || st.time > r.max_time) {
      r.max_time = st.time;
      r.bottleneck = i;
    }
    if (i == 0 || st.tail > r.max_tail) {
      r.max_tail = st.tail;
      r.tail_stage = i;
    }
  }
  // The fill and flush chains cross every boundary above once each way (stage.hpp,
  // fill_flush_transit); every layer's output has the boundary tensor's size.
  r.fill_flush = kernels::fill_flush_transit(ctx, sc.layers.front().cost);
  r.pipeline_time = kernels::pipeline_time(r.sum_time, r.max_time, ctx.m, v) + r.fill_flush;
  r.step_time = kernels::step_time(ctx, r.sum_time, r.max_time, r.max_tail, r.fill_flush);
  return r;
}

}  // namespace nest
