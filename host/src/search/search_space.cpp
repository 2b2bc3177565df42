#include "nest/search/search_space.hpp"

#include <algorithm>
#include <map>

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

// Two rank orders are equivalent when every group has the same shape on the network.
bool same_placement(const Placement& a, const Placement& b) {
  if (a.pp_level != b.pp_level) return false;
  const kernels::GroupShape* ga[] = {&a.tp, &a.cp, &a.ep, &a.dp, &a.edp, &a.pp};
  const kernels::GroupShape* gb[] = {&b.tp, &b.cp, &b.ep, &b.dp, &b.edp, &b.pp};
  for (int g = 0; g < 6; ++g) {
    if (ga[g]->num_levels != gb[g]->num_levels) return false;
    for (int l = 0; l < ga[g]->num_levels; ++l)
      if (ga[g]->members[l] != gb[g]->members[l]) return false;
  }
  return true;
}

}  // namespace

SearchSpace enumerate_slices(const CostSource& source, const SearchOptions& o) {
  const std::int64_t N = source.gpus();
  const std::int64_t B = source.global_batch();
  const int L = source.num_blocks();
  const std::vector<RankOrder> orders = o.orders.empty() ? all_rank_orders() : o.orders;
  const std::vector<int> zero_default = source.zero_candidates();
  const std::vector<int> mb_default = source.microbatch_candidates();
  SearchSpace space;
  std::vector<SliceSpec>& out = space.slices;
  std::map<std::string, std::vector<std::pair<RankOrder, int>>> order_cache;

  for (int tp : restrict_to(source.tp_candidates(), o.tp)) {
    for (int cp : restrict_to(source.cp_candidates(), o.cp)) {
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
        for (int dp : dps) {
          if (dp > B) continue;
          for (int ep : restrict_to(source.ep_candidates(dp), o.ep)) {
            // Distinct placements (rank orders that put every group on the same levels).
            Parallelism shape;
            shape.tp = tp;
            shape.cp = cp;
            shape.pp = pp;
            shape.dp = dp;
            shape.ep = ep;
            const std::string cache_key = std::to_string(tp) + "/" + std::to_string(cp) + "/" + std::to_string(pp) + "/" +
                                          std::to_string(dp) + "/" + std::to_string(ep);
            auto it = order_cache.find(cache_key);
            if (it == order_cache.end()) {
              std::vector<std::pair<RankOrder, int>> distinct;
              std::vector<Placement> seen;
              for (const RankOrder& ord : orders) {
                const Placement pl = place_groups(source.cluster(), shape, ord);
                if (std::none_of(seen.begin(), seen.end(), [&](const Placement& x) { return same_placement(x, pl); })) {
                  seen.push_back(pl);
                  distinct.emplace_back(ord, static_cast<int>(space.placements.size()));
                  space.placements.push_back(pl);
                }
              }
              it = order_cache.emplace(cache_key, distinct).first;
            }
            for (int mb : restrict_to(mb_default, o.microbatch)) {
              const int m = source.microbatches(dp, mb);
              if (m == 0) continue;
              for (int zero : restrict_to(zero_default, o.zero)) {
                if (zero >= 2 && pp > 1) continue;
                std::vector<Recompute> rcs;
                for (Recompute rc : source.recompute_candidates())
                  if (o.recompute.empty() || std::find(o.recompute.begin(), o.recompute.end(), rc) != o.recompute.end()) rcs.push_back(rc);
                for (Recompute rc : rcs) {
                  std::vector<bool> sps = source.sp_candidates(tp);
                  if (!o.sp.empty()) {
                    std::vector<bool> keep;
                    for (bool s : sps)
                      if (std::find(o.sp.begin(), o.sp.end(), s) != o.sp.end()) keep.push_back(s);
                    sps = keep;
                  }
                  for (bool sp : sps) {
                    std::vector<int> vs;
                    const auto schedules = o.schedule.empty() ? std::vector<Schedule>{Schedule::OneFOneB, Schedule::Interleaved} : o.schedule;
                    for (Schedule sch : schedules) {
                      if (sch == Schedule::OneFOneB) {
                        vs.push_back(1);
                      } else if (pp >= 2 && m % pp == 0) {
                        for (int v = 2; v * pp <= L; ++v)
                          if (L % v == 0 && (o.virtual_stages.empty() || std::find(o.virtual_stages.begin(), o.virtual_stages.end(), v) != o.virtual_stages.end()))
                            vs.push_back(v);
                      }
                    }
                    for (int v : vs) {
                      for (const auto& [ord, placement_index] : it->second) {
                        SliceSpec s;
                        s.par = shape;
                        s.par.sp = sp;
                        s.par.microbatch = mb;
                        s.par.num_microbatches = m;
                        s.par.zero = zero;
                        s.par.recompute = rc;
                        s.par.schedule = v == 1 ? Schedule::OneFOneB : Schedule::Interleaved;
                        s.par.virtual_stages = v;
                        s.order = ord;
                        s.placement = placement_index;
                        out.push_back(s);
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return space;
}

}  // namespace nest
