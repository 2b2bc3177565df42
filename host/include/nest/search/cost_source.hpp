// Where a slice's per-layer costs come from. The analytic source applies the cost model to a
// model, GPU and network (host/src/cost); the tabulated source takes per-layer costs measured
// or estimated elsewhere (NEST's solver inputs). The search does not care which.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/kernels/dp/lower_bound.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

struct SearchSpace;

class CostSource {
 public:
  virtual ~CostSource() = default;
  virtual const Cluster& cluster() const = 0;
  virtual std::int64_t gpus() const = 0;
  virtual std::int64_t global_batch() const = 0;  // sequences per step
  virtual int num_blocks() const = 0;             // nodes between the embedding and the head
  virtual bool uniform_blocks() const = 0;        // all blocks cost the same under every slice
  // Divisibility and range constraints of the model on a plan's degrees (empty if fine).
  virtual std::vector<std::string> check(const Plan& plan) const = 0;
  // Candidate degrees the model admits, before user restrictions.
  virtual std::vector<int> tp_candidates() const = 0;
  // Context-parallel degrees: the ones asked for (--cp) that the model admits, ascending, or by
  // default those of a fixed range that it admits (the analytic source: powers of two up to 32).
  virtual std::vector<int> cp_candidates(const std::vector<int>& asked) const = 0;
  virtual std::vector<int> ep_candidates(int dp) const = 0;
  // Expert tensor-parallel degrees for a tp (tp itself: the experts use the TP group).
  virtual std::vector<int> etp_candidates(int tp) const { return {tp}; }
  // Expert-parallel degrees with expert TP folded (etp < tp): on Megatron's expert grid EP may
  // span TP and CP ranks, so ep needs only etp x ep | tp x cp x dp (by default: ep | dp).
  virtual std::vector<int> folded_ep_candidates(int tp, int cp, int dp, int etp) const {
    (void)tp;
    (void)cp;
    (void)etp;
    return ep_candidates(dp);
  }
  // Every microbatch size that divides the per-replica batch (global batch / dp).
  virtual std::vector<int> microbatch_candidates(int dp) const;
  virtual std::vector<int> zero_candidates() const { return {0, 1, 2, 3}; }
  virtual std::vector<Recompute> recompute_candidates() const { return {Recompute::None, Recompute::Selective, Recompute::Full}; }
  // What selective recomputation may recompute (Parallelism::recompute_modules values).
  virtual std::vector<int> recompute_module_candidates() const { return {kernels::kRecomputeCoreAttn}; }
  // Offload switches the source's framework has (optimizer when `optimizer`, else activations).
  virtual std::vector<bool> offload_candidates(bool optimizer) const {
    (void)optimizer;
    return {false};
  }
  // Blocks that offload their activations, for a plan that offloads without pipelining
  // (Parallelism::offload_layers; {0}: as many as the framework offloads).
  virtual std::vector<int> offload_layer_candidates() const { return {0}; }
  // HSDP shard group sizes for a data-parallel degree (0: no HSDP), where the framework has it.
  virtual std::vector<int> dp_shard_candidates(int dp, int ep) const {
    (void)dp;
    (void)ep;
    return {0};
  }
  // The rank orders the source's framework can build (empty: every order).
  virtual std::vector<RankOrder> rank_orders() const { return {}; }
  // Whether the framework runs interleaved passes in PyTorch's order (Framework::
  // torch_pipeline_schedule), which takes microbatch counts that are no multiple of pp.
  virtual bool torch_pipeline_schedule() const { return false; }
  // The most blocks an interleaved edge chunk may lack (edge_deficit_choices; -1: any, v - 1).
  virtual int max_edge_lack() const { return -1; }
  // Whether the source's framework runs this slice (Framework::unsupported is empty): its layout
  // (everything but the overlap switches) and its overlap switches. The search asks the first once
  // per candidate slice and the second for each switch combination of the slices that pass.
  bool runs(const Parallelism& par, const RankOrder& order) const { return runs_layout(par, order) && runs_switches(par); }
  virtual bool runs_layout(const Parallelism& par, const RankOrder& order) const {
    (void)par;
    (void)order;
    return true;
  }
  virtual bool runs_switches(const Parallelism& par) const {
    (void)par;
    return true;
  }
  // Whether turning the TP communication overlap on takes memory in this slice (the framework's
  // overlap buffers): then its two values are two families of plans, not one that contains the other.
  virtual bool tp_overlap_takes_memory(const Parallelism& par) const {
    (void)par;
    return false;
  }
  // Whether the gradient-reduce overlap can make this slice slower: where the framework cuts the
  // step-end reduction into buckets, each a collective with its own latency, and without the
  // overlap sends one (docs/cost-model.md §6). Then its two values are two families of plans.
  virtual bool grad_overlap_can_be_slower(const Parallelism& par) const {
    (void)par;
    return false;
  }
  virtual std::vector<bool> sp_candidates(int tp) const {
    return tp > 1 ? std::vector<bool>{false, true} : std::vector<bool>{false};
  }
  // Microbatches per step for a data-parallel degree and microbatch size; 0 if they do not
  // divide the global batch.
  virtual int microbatches(int dp, int microbatch) const {
    const std::int64_t per = static_cast<std::int64_t>(dp) * microbatch;
    return global_batch() % per == 0 ? static_cast<int>(global_batch() / per) : 0;
  }
  virtual SliceCosts slice_costs(const Parallelism& par, const Placement& placement) const = 0;
  // Totals for the lower bound; by default from slice_costs (sources may compute it cheaper).
  virtual SliceSummary slice_summary(const Parallelism& par, const Placement& placement) const {
    const SliceCosts sc = slice_costs(par, placement);
    SliceSummary s;
    s.ctx = sc.ctx;
    for (const auto& l : sc.layers) s.add(l.cost);
    return s;
  }
  // The lower bounds' batch of every slice of `space`, in slice order (dp/lower_bound.hpp;
  // `threads` OpenMP threads build it), and the tables of this source's point its jobs index.
  // The batch reads nothing of the network's link speeds (nest sweep shares it between points
  // that differ only in those); the point's tables hold what does. By default each slice's
  // summary, its sums given, and no tables; sources that can cost layers on the backend override
  // both, with one job per distinct set of layer costs.
  virtual kernels::dp::BoundBatch bound_batch(const SearchSpace& space, int threads) const;
  virtual kernels::dp::BoundPointTables bound_point_tables(const SearchSpace& space) const {
    (void)space;
    return {};
  }
  SliceCosts slice_costs(const Parallelism& par, const RankOrder& order) const {
    return slice_costs(par, place_groups(cluster(), par, order));
  }
  // What the uniform DP reads of a slice of identical blocks (the planner's uniform_input): the
  // context, and the embedding, a block and the head as layers front(), [1] and back(). By
  // default the whole table; sources that can cost just those three override it (a 126-block
  // model's table is 38 KB per slice, thousands of slices per search).
  virtual SliceCosts uniform_slice_costs(const Parallelism& par, const Placement& placement) const {
    return slice_costs(par, placement);
  }
  // Prediction of a complete plan with its report (the evaluator).
  virtual Prediction predict(const Plan& plan) const = 0;
};

class AnalyticCostSource : public CostSource {
 public:
  explicit AnalyticCostSource(Problem problem);
  const Problem& problem() const { return problem_; }
  const Cluster& cluster() const override { return problem_.cluster; }
  std::int64_t gpus() const override { return problem_.gpus; }
  std::int64_t global_batch() const override { return problem_.global_batch; }
  int num_blocks() const override { return static_cast<int>(problem_.model.layers); }
  bool uniform_blocks() const override { return uniform_; }
  std::vector<std::string> check(const Plan& plan) const override;
  std::vector<int> tp_candidates() const override;
  std::vector<int> cp_candidates(const std::vector<int>& asked) const override;
  std::vector<int> ep_candidates(int dp) const override;
  std::vector<int> etp_candidates(int tp) const override;
  std::vector<int> folded_ep_candidates(int tp, int cp, int dp, int etp) const override;
  std::vector<int> zero_candidates() const override;
  std::vector<int> recompute_module_candidates() const override;
  std::vector<bool> offload_candidates(bool optimizer) const override;
  std::vector<int> offload_layer_candidates() const override;
  bool runs_layout(const Parallelism& par, const RankOrder& order) const override;
  bool runs_switches(const Parallelism& par) const override;
  bool tp_overlap_takes_memory(const Parallelism& par) const override;
  bool grad_overlap_can_be_slower(const Parallelism& par) const override;
  std::vector<RankOrder> rank_orders() const override;
  bool torch_pipeline_schedule() const override;
  int max_edge_lack() const override { return problem_.options.pipeline_layout ? -1 : 1; }
  std::vector<int> dp_shard_candidates(int dp, int ep) const override;
  using CostSource::slice_costs;
  SliceCosts slice_costs(const Parallelism& par, const Placement& placement) const override;
  SliceSummary slice_summary(const Parallelism& par, const Placement& placement) const override;
  kernels::dp::BoundBatch bound_batch(const SearchSpace& space, int threads) const override;
  kernels::dp::BoundPointTables bound_point_tables(const SearchSpace& space) const override;
  SliceCosts uniform_slice_costs(const Parallelism& par, const Placement& placement) const override;
  Prediction predict(const Plan& plan) const override;

 private:
  Problem problem_;
  LayerGraph flat_, pipelined_;
  bool uniform_ = true;
  LayerGraph pipelined_ends_;  // uniform blocks: the pipelined graph's embedding, first block and head
};

}  // namespace nest
