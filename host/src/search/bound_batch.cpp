#include "nest/search/bound_batch.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "nest/core/parallel_errors.hpp"
#include "nest/search/search_space.hpp"

namespace nest {

std::size_t hash_of_bytes(const void* data, std::size_t size) {
  constexpr std::uint64_t kPrime = 1099511628211ull;
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t lane[8] = {1469598103934665603ull, 1, 2, 3, 4, 5, 6, 7};
  std::size_t i = 0;
  for (int j = 0; i + 8 <= size; i += 8, j = (j + 1) % 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, bytes + i, 8);
    lane[j] = (lane[j] ^ w) * kPrime;
  }
  for (; i < size; ++i) lane[0] = (lane[0] ^ bytes[i]) * kPrime;
  std::uint64_t h = 0;
  for (int j = 0; j < 8; ++j) h ^= lane[j] * static_cast<std::uint64_t>(2 * j + 3);
  return static_cast<std::size_t>(h ^ (h >> 29));
}

void add_bound_slices(kernels::dp::BoundBatch& batch, std::size_t n, int threads,
                      const std::function<void(std::size_t, SliceBoundItem&)>& item) {
  const int runs = n >= kParallelBoundSlices ? std::max(1, threads) : 1;
  const std::size_t first_slice = batch.slices.size();
  batch.slices.resize(first_slice + n);
  struct Run {
    RecentTable<kernels::TrainingSettings> settings;
    RecentTable<kernels::dp::LayerSumJob> jobs;
  };
  std::vector<Run> tables(static_cast<std::size_t>(runs));
  auto first_of = [&](int r) { return n * static_cast<std::size_t>(r) / static_cast<std::size_t>(runs); };
  ParallelErrors errors;
#pragma omp parallel for schedule(static, 1) num_threads(runs) if (runs > 1)
  for (int r = 0; r < runs; ++r)
    errors.run([&] {
      Run& t = tables[static_cast<std::size_t>(r)];
      t.jobs.reserve(first_of(r + 1) - first_of(r));
      SliceBoundItem it;
      for (std::size_t i = first_of(r); i < first_of(r + 1); ++i) {
        item(i, it);
        it.job.settings = t.settings.add(it.settings);
        it.input.job = t.jobs.add(it.job);
        batch.slices[first_slice + i] = it.input;
      }
    });
  errors.rethrow();
  // Concatenate the runs' tables; a run's jobs index its own settings, its slices its own jobs.
  for (int r = 0; r < runs; ++r) {
    Run& t = tables[static_cast<std::size_t>(r)];
    const int settings_offset = static_cast<int>(batch.settings.size());
    const int job_offset = static_cast<int>(batch.jobs.size());
    batch.settings.insert(batch.settings.end(), t.settings.items().begin(), t.settings.items().end());
    for (kernels::dp::LayerSumJob& j : t.jobs.items()) j.settings += settings_offset;
    if (job_offset == 0)
      batch.jobs = std::move(t.jobs.items());
    else
      batch.jobs.insert(batch.jobs.end(), t.jobs.items().begin(), t.jobs.items().end());
    for (std::size_t i = first_of(r); i < first_of(r + 1); ++i) batch.slices[first_slice + i].job += job_offset;
  }
  batch.sums.resize(batch.jobs.size());
}

kernels::dp::BoundBatch CostSource::bound_batch(const SearchSpace& space, int threads) const {
  kernels::dp::BoundBatch b;
  const std::size_t n = space.slices.size();
  b.jobs.resize(n);  // graph -1: given sums
  b.sums.resize(n);
  b.slices.resize(n);
  ParallelErrors errors;
  const int team = n >= kParallelBoundSlices ? std::max(1, threads) : 1;
#pragma omp parallel for schedule(dynamic, 16) num_threads(team) if (team > 1)
  for (std::size_t i = 0; i < n; ++i)
    errors.run([&] {
      const SliceSpec& spec = space.slices[i];
      const SliceSummary s = slice_summary(spec.par, space.placements[static_cast<std::size_t>(spec.placement)]);
      b.sums[i] = static_cast<const kernels::dp::LayerSums&>(s);
      b.slices[i] = kernels::dp::slice_bound_input(s.ctx, static_cast<int>(i));
    });
  errors.rethrow();
  return b;
}

}  // namespace nest
