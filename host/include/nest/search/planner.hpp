// nest plan: the exact search. Slices are enumerated, bounded from below, solved in order of
// their bound by the DP (or, for --search exhaustive, by evaluating every split) and the best
// K plans kept. docs/solver.md explains the method and its proof of exactness.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nest/evaluate/split.hpp"
#include "nest/kernels/dp/backend.hpp"
#include "nest/kernels/dp/uniform_tables.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/search_space.hpp"
#include "nest/search/search_space_cache.hpp"

namespace nest {

enum class SearchMethod { Dp, Exhaustive };
enum class BackendKind { Auto, Cpu, Cuda };

struct PlannerOptions {
  SearchOptions space;
  SearchMethod method = SearchMethod::Dp;
  BackendKind backend = BackendKind::Auto;
  int threads = 0;  // 0: all cores
  int top_k = 1;
  bool progress = false;        // a progress line on standard error
  std::string progress_label;   // what the line says the search is ("searching" when empty)
  double gpu_memory_limit = 0;  // bytes the CUDA backend may allocate (0: 80% of the free memory)
  // Searches given the same cache and key share one enumeration (unless space.keep is set): the
  // caller vouches that their sources and space options enumerate the same slices.
  SearchSpaceCache* space_cache = nullptr;
  std::string space_key;
  // The design points that share the cached space (nest sweep: those that differ only in link
  // speeds), asked once when the space is made: every one's lower bounds then go to the backend
  // in one call (several points per launch) and stay with the space. `point` is this search's id
  // among them; a search whose id is not there bounds its slices itself.
  std::function<std::vector<SpacePoint>(const SearchSpace&)> space_points;
  long long point = -1;
  // A backend this search shares with others running at the same time on other host threads
  // (nest sweep --points-per-launch: a GatheringBackend, whose calls go to the device together);
  // null: the search makes its own. The search's results are the same either way.
  kernels::dp::DpBackend* dp_backend = nullptr;
  // A search of its own (no space cache) holds one part of the space at a time
  // (SliceEnumeration, docs/solver.md §5): at least this many slices, the degree combinations
  // taken this many at a time. The plans do not depend on them; tests make the parts small.
  std::size_t slices_per_part = std::size_t{1} << 21;
  std::size_t combos_per_block = 16;
};

struct SliceResult {
  bool feasible = false;
  double value = 0;     // step time of the slice's best split (evaluate_split)
  double dp_value = 0;  // the DP's own objective for it (equals value up to rounding)
  std::vector<int> blocks_per_stage;
  long long cells = 0;
  bool solved = false;  // false when pruned by the bound
};

struct RankedPlan {
  Plan plan;
  double value = 0;
  double dp_value = 0;
  std::size_t slice_index = 0;
};

struct SearchStats {
  long long slices = 0;         // enumerated
  long long slices_solved = 0;  // solved exactly (the rest was pruned by the lower bound)
  long long cells = 0;          // DP cells evaluated (feasibility checks of candidate pairs, DP table entries)
  long long splits = 0;         // splits evaluated by the exhaustive search
  double seconds = 0;
  std::string backend, method;
  std::string backend_note;  // why auto fell back to the CPU ("no CUDA device")
  std::string device;        // the GPU that ran, if any
  double gpu_seconds = 0;    // device time of the CUDA launches
  int threads = 1;
};

struct Closest {
  Plan plan;
  double overflow_bytes = 0;  // how much the fullest GPU lacks
  int stage = 0;
};

struct SearchResult {
  std::vector<RankedPlan> top;  // best first
  SearchStats stats;
  std::optional<Closest> closest;  // when nothing is feasible
};

// Solves one slice exactly; bound: skip splits that cannot beat it (+inf: none).
SliceResult solve_slice_dp(const CostSource& source, const SliceSpec& spec, double bound);
SliceResult solve_slice_dp(const CostSource& source, const SliceSpec& spec, const SliceCosts& costs, double bound);
SliceResult solve_slice_exhaustive(const CostSource& source, const SliceSpec& spec, long long* splits);
SliceResult solve_slice_exhaustive(const CostSource& source, const SliceSpec& spec, const SliceCosts& costs, long long* splits);

// The general DP on any slice (1F1B): the reference the uniform fast path is tested against.
SliceResult solve_slice_general(const SliceCosts& costs, double bound);
// The interleaved DP on any block sequence (kernels/dp/interleaved.hpp) for one choice of
// lacking edge chunks (edge_deficit_choices: (first, last)); its split valued by the evaluator.
SliceResult solve_slice_interleaved(const SliceCosts& costs, int blocks, std::pair<int, int> lack, double bound);
// Appends a slice's interleaved-DP tables for one choice of lacking edge chunks (stage times,
// tails and memory fits by (position, start, units)) to a batch (kernels/dp/interleaved_batch.hpp),
// as the backends take them; false when no split of that choice exists (nothing appended).
bool append_interleaved_input(const SliceCosts& costs, int blocks, std::pair<int, int> lack,
                              kernels::dp::InterleavedBatch& batch);
// Appends a slice's general-DP tables (stage times, tails, memory by node range; sends by level)
// to a batch (kernels/dp/general_batch.hpp), as the backends take them.
void append_general_input(const SliceCosts& costs, kernels::dp::GeneralBatch& batch);
// The uniform DP's input for a slice with identical blocks (both backends start from it), for
// one choice of lacking edge chunks (edge_deficit_choices: (first, last)).
kernels::dp::UniformSliceInput uniform_input(const SliceCosts& costs, int blocks, std::pair<int, int> lack = {0, 0});

SearchResult search_plans(const CostSource& source, const PlannerOptions& options);

}  // namespace nest
