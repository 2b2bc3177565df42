// The declared search space (docs/solver.md §1): every consistent combination of tp, cp, ep,
// sp, dp, pp, microbatch, ZeRO stage, recomputation, schedule and virtual stages, and rank
// order, restricted by the user's options. A slice fixes all of it; only the layer split
// remains, which the DP chooses.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "nest/cost/placement.hpp"
#include "nest/plan/plan.hpp"
#include "nest/search/cost_source.hpp"

namespace nest {

struct SearchOptions {
  // Empty: the default candidates (docs/solver.md §1 lists them).
  std::vector<int> tp, pp, cp, ep, microbatch, zero, virtual_stages;
  std::vector<int> etp;       // expert tensor-parallel degrees (a value equal to tp: the experts use the TP group)
  std::vector<int> dp_shard;  // HSDP shard group sizes (0: shard over the whole data-parallel group)
  std::vector<Recompute> recompute;
  std::vector<int> recompute_modules;  // sets for selective recomputation (RecomputeModule bits)
  std::vector<Schedule> schedule;
  std::vector<bool> sp;
  std::vector<Precision> precision;  // empty: bf16
  std::vector<bool> overlap_grad_reduce, overlap_param_gather, tp_comm_overlap, ep_comm_overlap, offload_optimizer,
      offload_activations;
  std::vector<RankOrder> orders;
  bool allow_idle = false;  // let dp * tp * cp * pp be smaller than the GPU count
  // Keeps only the slices it accepts (unset: all): any restriction the lists above cannot say,
  // e.g. "any tp but 8" (nest plan --explain).
  std::function<bool(const Parallelism&, const RankOrder&, const Placement&)> keep;
};

struct SliceSpec {
  Parallelism par;
  RankOrder order;
  int placement = 0;  // index into SearchSpace::placements (shared by slices of the same degrees and order)
  // TP overlap off, and the same slice with it on is in the space too: that slice's work (never
  // more: an overlapped collective costs at most what it costs alone) bounds this one's, which
  // saves the search a layer-sum job per such slice (docs/solver.md §5).
  bool tp_overlap_twin = false;
};

struct SearchSpace {
  std::vector<SliceSpec> slices;
  std::vector<Placement> placements;
  // The slices' lower-bound batch (CostSource::bound_batch), made with the space by a DP search:
  // it reads no link speed, so the points that share the space share it too.
  std::optional<kernels::dp::BoundBatch> bounds;
  // The bounds of the design points that share the space, made with it (PlannerOptions::
  // space_points): point_bounds[k] is point point_ids[k]'s.
  std::vector<long long> point_ids;
  std::vector<kernels::dp::SliceBounds> point_bounds;
  // Too large to hold (more than one part of SliceEnumeration): nothing above is kept, and every
  // search of the space goes through it a part at a time.
  bool in_parts = false;
};

// A design point that shares a space: its id and the tables its bounds read.
struct SpacePoint {
  long long id = -1;
  kernels::dp::BoundPointTables tables;
};

// threads: OpenMP threads for the enumeration (0: all cores); the result does not depend on it.
SearchSpace enumerate_slices(const CostSource& source, const SearchOptions& options, int threads = 0);

// The same slices in the same order, a part at a time, so that a search holds one part in memory
// (docs/solver.md §5: a space of tens of millions of slices, --framework any on a large MoE model,
// holds hundreds of bytes per slice with its bounds). Each part is the slices of consecutive
// degree combinations (tp, cp, pp, dp, ep, ...): `block` of them, then blocks sized by the part's
// slices per combination so far (at most twice the last), until it holds at least `min_slices`
// or none are left. Where the parts end depends on those two numbers and the slices only, not on
// the threads. An empty part: the last combinations held no slice.
class SliceEnumeration {
 public:
  SliceEnumeration(const CostSource& source, const SearchOptions& options, int threads = 0);
  ~SliceEnumeration();
  SearchSpace next(std::size_t min_slices, std::size_t block);
  bool done() const { return next_ >= combos_.size(); }

  struct DegreeCombo {
    int tp, cp, pp, dp, ep, dp_shard, etp;
  };

 private:
  const CostSource& source_;
  SearchOptions options_;
  int threads_;
  std::vector<RankOrder> orders_;
  std::vector<DegreeCombo> combos_;
  std::size_t next_ = 0;
};

// The layer splits a slice admits: each stage's blocks a multiple of v, middle stages (and,
// under interleaving, every stage) at least v blocks, the interleaved edge stages possibly one
// short (edge_deficit_choices, by at most max_lack blocks; -1: any). Calls f(blocks_per_stage)
// for each; used by the exhaustive search.
template <class F>
void for_each_split(int blocks, int p, int v, int max_lack, F&& f);

}  // namespace nest

#include "nest/search/search_space_impl.hpp"
