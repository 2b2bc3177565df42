// NEST's solver instances (arXiv 2603.06798, artifact scai-tech/Nest): its input format as a
// model + cluster description with tabulated per-layer costs, and its output (a chosen plan)
// as a nest Plan, so both plans can be evaluated under nest's cost model. The mapping is
// documented in docs/nest-comparison.md.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "nest/search/cost_source.hpp"

namespace nest {

struct NestNode {
  int id = 0;
  double param_bytes = 0, activation_bytes = 0, fw_ms = 0, bw_ms = 0;
};

struct NestInstance {
  std::string name, source;
  std::int64_t max_devices = 0;
  double memory_bytes = 0;
  std::vector<std::int64_t> devices_per_level;
  std::vector<double> bandwidth;  // bytes/s per level
  std::vector<double> latency;    // s per level
  double microbatches = 0;        // mbsInBatch
  bool recompute = false;
  bool adam = false;
  int ep = 1, cp = 1;
  bool sp = false;
  std::vector<int> widths;                     // tensor-parallel widths with tables
  std::vector<std::vector<NestNode>> nodes;    // per width, in topological order
  std::vector<std::vector<double>> cut_bytes;  // per width: bytes crossing the cut before position j
  std::vector<int> order_ids;                  // NEST ids in topological order
};

NestInstance read_nest_input(const std::string& path);

class NestCostSource : public CostSource {
 public:
  explicit NestCostSource(NestInstance inst);
  const NestInstance& instance() const { return inst_; }
  const Cluster& cluster() const override { return cluster_; }
  std::int64_t gpus() const override { return inst_.max_devices; }
  std::int64_t global_batch() const override;
  int num_blocks() const override;
  bool uniform_blocks() const override { return uniform_; }
  std::vector<std::string> check(const Plan& plan) const override;
  std::vector<int> tp_candidates() const override { return inst_.widths; }
  std::vector<int> cp_candidates(const std::vector<int>& asked) const override {
    if (!asked.empty() && std::find(asked.begin(), asked.end(), inst_.cp) == asked.end()) return {};
    return {inst_.cp};
  }
  std::vector<int> ep_candidates(int dp) const override;
  std::vector<int> microbatch_candidates(int) const override { return {1}; }
  // NEST's tabulated costs have no overlap switches: they are all off.
  bool runs_switches(const Parallelism& par) const override {
    return !par.overlap_grad_reduce && !par.overlap_param_gather && !par.tp_comm_overlap && !par.ep_comm_overlap;
  }
  std::vector<int> zero_candidates() const override { return {0}; }
  std::vector<Recompute> recompute_candidates() const override { return {inst_.recompute ? Recompute::Full : Recompute::None}; }
  std::vector<bool> sp_candidates(int) const override { return {false}; }
  int microbatches(int dp, int microbatch) const override;
  using CostSource::slice_costs;
  SliceCosts slice_costs(const Parallelism& par, const Placement& placement) const override;
  // The lower bound's totals without building the per-node table (the search asks for one per
  // slice, thousands on the 1,024-device instances); equal to summing slice_costs' nodes.
  SliceSummary slice_summary(const Parallelism& par, const Placement& placement) const override;
  Prediction predict(const Plan& plan) const override;
  Problem as_problem() const;

 private:
  int width_index(int tp) const;
  kernels::SliceContext context(const Parallelism& par, const Placement& placement) const;
  kernels::LayerCost node_cost(int w, int i, int pp) const;
  NestInstance inst_;
  Cluster cluster_;
  bool uniform_ = true;
};

// NEST's output.json as a nest Plan for this instance (1F1B, its t, d, stages).
Plan read_nest_output(const std::string& path, const NestInstance& inst, double* nest_time_per_batch);

}  // namespace nest
