#include "nest/search/search_space.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include <omp.h>

#include "nest/core/parallel_errors.hpp"
#include "nest/cost/placement.hpp"

namespace nest {

namespace {

std::vector<int> restrict_to(const std::vector<int>& defaults, const std::vector<int>& wanted) {
  if (wanted.empty()) return defaults;
  std::vector<int> out;
  for (int x : defaults)
    if (std::find(wanted.begin(), wanted.end(), x) != wanted.end()) out.push_back(x);
  return out;
}

}  // namespace

namespace {

constexpr std::size_t kParallelCombos = 256;

using DegreeCombo = SliceEnumeration::DegreeCombo;

// The slices of one degree combination (tp, cp, pp, dp, ep), with its distinct placements.
void slices_of(const CostSource& source, const SearchOptions& o, const std::vector<RankOrder>& orders, const DegreeCombo& d,
               std::vector<SliceSpec>& out, std::vector<Placement>& placements) {
  const int L = source.num_blocks();
  Parallelism shape;
  shape.tp = d.tp;
  shape.cp = d.cp;
  shape.pp = d.pp;
  shape.dp = d.dp;
  shape.ep = d.ep;
  shape.etp = d.etp;
  shape.dp_shard = d.dp_shard;
  std::vector<RankOrder> distinct;
  // Without folding, a placement depends only on the order of the dimensions that have more
  // than one position (and of pp, whose stride the pipeline layout keeps): orders that agree on
  // those give the same placement, so only the first of them is placed (on the 1,024-device
  // NEST instances this was most of the search's time).
  const std::array<std::int64_t, 5> sizes = dense_grid_sizes(shape);
  std::vector<std::array<int, 5>> projections;
  for (const RankOrder& ord : orders) {
    // EP over TP or CP ranks exists only on the folded expert grid (check_plan).
    if (d.dp % d.ep != 0 && !on_expert_grid(ord)) continue;
    if (!shape.folded()) {
      std::array<int, 5> key{-1, -1, -1, -1, -1};
      std::size_t k = 0;
      for (Dim dim : ord.dims)
        if (dim == Dim::PP || sizes[static_cast<std::size_t>(dim)] > 1) key[k++] = static_cast<int>(dim);
      if (std::find(projections.begin(), projections.end(), key) != projections.end()) continue;
      projections.push_back(key);
    }
    const Placement pl = place_groups(source.cluster(), shape, ord);
    if (std::none_of(placements.begin(), placements.end(), [&](const Placement& x) { return same_placement(x, pl); })) {
      placements.push_back(pl);
      distinct.push_back(ord);
    }
  }
  std::vector<Recompute> rcs;
  for (Recompute rc : source.recompute_candidates())
    if (o.recompute.empty() || std::find(o.recompute.begin(), o.recompute.end(), rc) != o.recompute.end()) rcs.push_back(rc);
  // the sets asked for (the framework's rules judge them), else every set the source offers
  const std::vector<int> module_sets = o.recompute_modules.empty() ? source.recompute_module_candidates() : o.recompute_modules;
  const std::vector<int> core_attn_only{kernels::kRecomputeCoreAttn};
  std::vector<bool> sps;
  for (bool s : source.sp_candidates(d.tp))
    if (o.sp.empty() || std::find(o.sp.begin(), o.sp.end(), s) != o.sp.end()) sps.push_back(s);
  const auto schedules = o.schedule.empty() ? std::vector<Schedule>{Schedule::OneFOneB, Schedule::Interleaved} : o.schedule;
  auto allowed = [](const std::vector<bool>& wanted, bool x) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), x) != wanted.end();
  };
  const std::vector<Precision> precisions = o.precision.empty() ? std::vector<Precision>{Precision::Bf16} : o.precision;
  const std::vector<bool> offload_opt = source.offload_candidates(true), offload_act = source.offload_candidates(false);
  const std::vector<int> all_layers{0};  // offload_layers 0: as many as the framework offloads
  const std::vector<int> offload_layers = d.pp == 1 ? source.offload_layer_candidates() : all_layers;
  // The virtual stage counts with a split on pp stages: every stage holds at least one unit of v
  // blocks, an edge stage at least as many as its edge chunk lacks, and (L + first + last) / v
  // units cover them. The same for every microbatch size, so found once.
  std::vector<int> split_vs;
  if (d.pp >= 2)
    for (int v = 2; v <= L; ++v) {
      if (!o.virtual_stages.empty() && std::find(o.virtual_stages.begin(), o.virtual_stages.end(), v) == o.virtual_stages.end())
        continue;
      for (const auto& [first, last] : edge_deficit_choices(L, v, source.max_edge_lack()))
        if ((L + first + last) / v >= std::max(1, first) + std::max(1, last) + (d.pp - 2)) {
          split_vs.push_back(v);
          break;
        }
    }
  for (int mb : restrict_to(source.microbatch_candidates(d.dp), o.microbatch)) {
    const int m = source.microbatches(d.dp, mb);
    if (m == 0) continue;
    std::vector<int> vs;
    for (Schedule sch : schedules) {
      if (sch == Schedule::OneFOneB) {
        vs.push_back(1);
      } else if (d.pp >= 2 && m >= d.pp && (m % d.pp == 0 || source.torch_pipeline_schedule())) {
        // check_pipeline's microbatch rule; PyTorch's own (m a multiple of its rounds) is the
        // torchtitan framework's, asked below with the rest of its layout rules.
        vs.insert(vs.end(), split_vs.begin(), split_vs.end());
      }
    }
    for (int zero : restrict_to(source.zero_candidates(), o.zero))
      for (Recompute rc : rcs)
        for (int modules : rc == Recompute::Selective ? module_sets : core_attn_only)
          for (bool sp : sps)
            for (int v : vs)
              for (Precision prec : precisions)
                for (bool off_opt : offload_opt)
                  for (bool off_act : offload_act)
                    for (int off_layers : off_act ? offload_layers : all_layers) {
                      if (!allowed(o.offload_optimizer, off_opt) || !allowed(o.offload_activations, off_act)) continue;
                      for (std::size_t x = 0; x < distinct.size(); ++x) {
                        SliceSpec s;
                        s.par = shape;
                        s.par.sp = sp;
                        s.par.microbatch = mb;
                        s.par.num_microbatches = m;
                        s.par.zero = zero;
                        s.par.recompute = rc;
                        s.par.recompute_modules = modules;
                        s.par.schedule = v == 1 ? Schedule::OneFOneB : Schedule::Interleaved;
                        s.par.virtual_stages = v;
                        s.par.precision = prec;
                        s.par.offload_optimizer = off_opt;
                        s.par.offload_activations = off_act;
                        s.par.offload_layers = off_layers;
                        s.order = distinct[x];
                        s.placement = static_cast<int>(placements.size() - distinct.size() + x);  // local index for now
                        // The framework's rules on everything but the overlap switches first: most
                        // candidates fail them, whatever the switches.
                        if (!source.runs_layout(s.par, s.order)) continue;
                        // Overlap switches (gradient reduce, parameter gather, TP communication): with
                        // the others fixed, on is never slower (an overlapped collective costs at most
                        // what it costs alone) and takes no memory, so only the combinations the
                        // framework runs that no other runnable combination contains are kept
                        // (docs/solver.md §1); usually one. The EP overlap (bit 8) is never slower
                        // either but holds one more microbatch in flight, the TP overlap (bit 4)
                        // holds buffers where the framework's does (Transformer Engine's
                        // userbuffers), and the gradient overlap (bit 1) is slower where it cuts the
                        // reduction into buckets of their own latencies, so each of their values is
                        // a family of its own there: containment only within the same values.
                        const int families = 8 | (source.tp_overlap_takes_memory(s.par) ? 4 : 0) |
                                             (source.grad_overlap_can_be_slower(s.par) ? 1 : 0);
                        int runnable[16], n_runnable = 0;
                        for (int bits = 15; bits >= 0; --bits) {
                          s.par.overlap_grad_reduce = bits & 1;
                          s.par.overlap_param_gather = bits & 2;
                          s.par.tp_comm_overlap = bits & 4;
                          s.par.ep_comm_overlap = bits & 8;
                          if (!allowed(o.overlap_grad_reduce, bits & 1) || !allowed(o.overlap_param_gather, bits & 2) ||
                              !allowed(o.tp_comm_overlap, bits & 4) || !allowed(o.ep_comm_overlap, bits & 8) ||
                              (o.keep && !o.keep(s.par, s.order, placements[static_cast<std::size_t>(s.placement)])))
                            continue;
                          // containment first: it is cheaper than asking the framework (the search asks
                          // millions of times on large spaces)
                          bool contained = false;
                          for (int r = 0; r < n_runnable; ++r)
                            contained = contained || ((runnable[r] & bits) == bits && ((runnable[r] ^ bits) & families) == 0);
                          if (contained || !source.runs_switches(s.par)) continue;
                          s.tp_overlap_twin = false;
                          if (!(bits & 4))
                            for (int r = 0; r < n_runnable; ++r)
                              s.tp_overlap_twin = s.tp_overlap_twin || runnable[r] == (bits | 4);
                          runnable[n_runnable++] = bits;
                          out.push_back(s);
                        }
                      }
                    }
  }
}

}  // namespace

SliceEnumeration::SliceEnumeration(const CostSource& source, const SearchOptions& o, int threads)
    : source_(source), options_(o), threads_(threads) {
  const std::int64_t N = source.gpus();
  const std::int64_t B = source.global_batch();
  const int L = source.num_blocks();
  orders_ = o.orders.empty() ? all_rank_orders() : o.orders;
  // Orders the framework cannot build never make a runnable slice: drop them first.
  if (const std::vector<RankOrder> allowed = source.rank_orders(); !allowed.empty())
    orders_.erase(
        std::remove_if(orders_.begin(), orders_.end(),
                       [&](const RankOrder& x) { return std::find(allowed.begin(), allowed.end(), x) == allowed.end(); }),
        orders_.end());
  // Degree combinations first (cheap); their slices when a part is asked for.
  for (int tp : restrict_to(source.tp_candidates(), o.tp)) {
    for (int cp : source.cp_candidates(o.cp)) {
      if (static_cast<std::int64_t>(tp) * cp > N) continue;
      std::vector<int> pps;
      for (int pp = 1; pp <= L; ++pp) pps.push_back(pp);
      for (int pp : restrict_to(pps, o.pp)) {
        const std::int64_t mp = static_cast<std::int64_t>(tp) * cp * pp;
        if (mp > N) continue;
        std::vector<int> dps;
        if (o.allow_idle) {
          for (std::int64_t d = N / mp; d >= 1; --d) dps.push_back(static_cast<int>(d));
        } else if (N % mp == 0) {
          dps.push_back(static_cast<int>(N / mp));
        }
        // Parallel folding (expert TP apart from TP) multiplies the space: DeepSeek-V3 on 2,048
        // GPUs goes from 0.22M slices (0.4 s) to 1.58M (2.7 s) with --etp 1,2,4,8. It is searched
        // when --etp lists the degrees to consider; by default expert TP is TP.
        for (int dp : dps) {
          if (dp > B) continue;
          for (int etp : o.etp.empty() ? std::vector<int>{tp} : restrict_to(source.etp_candidates(tp), o.etp))
            for (int ep : restrict_to(etp == tp ? source.ep_candidates(dp) : source.folded_ep_candidates(tp, cp, dp, etp), o.ep))
              for (int shard : restrict_to(source.dp_shard_candidates(dp, ep), o.dp_shard))
                combos_.push_back({tp, cp, pp, dp, ep, shard, etp == tp ? 0 : etp});
        }
      }
    }
  }
}

SliceEnumeration::~SliceEnumeration() = default;

SearchSpace SliceEnumeration::next(std::size_t min_slices, std::size_t block) {
  SearchSpace space;
  // After the first `block` combinations, as many as the part's slices per combination so far say
  // it still needs, at least `block` and at most twice the last block: a small space is a few
  // parallel loops, not one per `block` combinations, and a part ends near `min_slices`.
  const std::size_t first = next_;
  for (std::size_t size = std::max<std::size_t>(1, block); next_ < combos_.size() && space.slices.size() < min_slices;) {
    const std::size_t from = next_, left = combos_.size() - next_, to = from + std::min(left, size);
    next_ = to;
    std::vector<std::vector<SliceSpec>> parts(to - from);
    std::vector<std::vector<Placement>> part_placements(to - from);
    ParallelErrors errors;
    // A team costs little on an idle machine but up to a scheduler time slice on a busy one (the
    // barrier waits for a preempted thread): a whole space (enumerate_slices) of a few hundred
    // combinations (about a millisecond of work) runs on this thread alone; parts do not, since
    // a combination of theirs can be a million slices.
#pragma omp parallel for schedule(dynamic, 1)                                                        \
    num_threads(threads_ > 0 ? threads_ : omp_get_max_threads()) if (to - from >= kParallelCombos || \
                                                                     (block < kParallelCombos && to - from >= 2))
    for (std::size_t c = from; c < to; ++c)
      errors.run([&] { slices_of(source_, options_, orders_, combos_[c], parts[c - from], part_placements[c - from]); });
    errors.rethrow();
    // Sized once per block: a Placement is 744 bytes and the large spaces hold one per slice, so
    // growing the vector by doubling would fault in twice its final size (a quarter of a
    // 1,024-device NEST search).
    std::size_t total = space.slices.size(), total_placements = space.placements.size();
    for (std::size_t c = 0; c < parts.size(); ++c) {
      total += parts[c].size();
      total_placements += part_placements[c].size();
    }
    space.slices.reserve(total);
    space.placements.reserve(total_placements);
    for (std::size_t c = 0; c < parts.size(); ++c) {
      const int base = static_cast<int>(space.placements.size());
      space.placements.insert(space.placements.end(), part_placements[c].begin(), part_placements[c].end());
      for (SliceSpec s : parts[c]) {
        s.placement += base;
        space.slices.push_back(s);
      }
    }
    const std::size_t per_combo = std::max<std::size_t>(1, space.slices.size() / (next_ - first));
    const std::size_t wanted = space.slices.size() < min_slices ? (min_slices - space.slices.size()) / per_combo : 0;
    size = std::clamp(wanted, std::max<std::size_t>(1, block), size > left ? size : 2 * size);
  }
  return space;
}

SearchSpace enumerate_slices(const CostSource& source, const SearchOptions& o, int threads) {
  SliceEnumeration e(source, o, threads);
  return e.next(std::numeric_limits<std::size_t>::max(), std::numeric_limits<std::size_t>::max());
}

}  // namespace nest
