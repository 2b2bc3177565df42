// The lower bounds' batch of a search (kernels/include/nest/kernels/dp/lower_bound.hpp) built on
// the host: per slice its bound's inputs and the layer-sum job it needs, equal jobs shared.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <vector>

#include "nest/kernels/dp/lower_bound.hpp"

namespace nest {

// Hash of an object's bytes (FNV-1a-style mixing in eight independent lanes, eight bytes per
// multiply: one serial chain would cost a good share of what the table saves).
std::size_t hash_of_bytes(const void* data, std::size_t size);

// Items of a run of slices (jobs, framework settings), an equal item found again while it is
// recent. Slices that share their layer sums lie close together in the enumeration (they differ
// in the schedule, the virtual stages, the microbatch count), so the last item and a
// direct-mapped cache of recent ones by hash find nearly all of them (llama3-70b on 1,024 GPUs:
// about 46,000 jobs for 160,000 slices, what a table of every job finds) and stay in the core's
// cache where a table of every item would not. Items are compared by their bytes: equal bytes
// are equal inputs and so equal sums (padding that differs, or an item evicted, only costs a
// second entry).
template <class T>
class RecentTable {
 public:
  // The item's index in items(): a recent equal item's, or the item's own, appended.
  int add(const T& item) {
    if (last_ >= 0 && same(items_[static_cast<std::size_t>(last_)], item)) return last_;
    const std::size_t h = hash_of_bytes(&item, sizeof item);
    Slot& slot = slots_[h % kSlots];
    if (slot.item < 0 || slot.hash != h || !same(items_[static_cast<std::size_t>(slot.item)], item)) {
      slot = {h, static_cast<int>(items_.size())};
      items_.push_back(item);
    }
    return last_ = slot.item;
  }
  // Room for n items without moving them (reserved pages cost nothing until written).
  void reserve(std::size_t n) { items_.reserve(n); }
  const std::vector<T>& items() const { return items_; }
  std::vector<T>& items() { return items_; }

 private:
  static bool same(const T& a, const T& b) { return std::memcmp(&a, &b, sizeof(T)) == 0; }
  static constexpr std::size_t kSlots = 64;
  struct Slot {
    std::size_t hash = 0;
    int item = -1;
  };
  std::vector<T> items_;
  Slot slots_[kSlots];
  int last_ = -1;
};

// What one slice contributes: its framework settings, its job (shape, graph, GPU model and
// communication context; the builder sets the settings' index) and its bound's inputs (the
// builder sets the job's index).
struct SliceBoundItem {
  kernels::TrainingSettings settings;
  kernels::dp::LayerSumJob job;
  kernels::dp::SliceBoundInput input;
};

// Fills batch.settings, batch.jobs and batch.slices for slices [0, n): `item(i, out)` writes
// slice i's item. Runs of slices go to `threads` OpenMP threads (one for fewer than
// kParallelBoundSlices), each with its own tables, concatenated in run order. The batch's bounds
// do not depend on the thread count; only how many jobs there are does.
void add_bound_slices(kernels::dp::BoundBatch& batch, std::size_t n, int threads,
                      const std::function<void(std::size_t, SliceBoundItem&)>& item);

// Slices from which building a bound batch takes a thread team (a bound costs 0.25-0.75 us; a
// team pays off from tens of thousands, and on a busy machine a team can cost a scheduler time
// slice, the barrier waiting for a preempted thread).
inline constexpr std::size_t kParallelBoundSlices = 16384;

}  // namespace nest
