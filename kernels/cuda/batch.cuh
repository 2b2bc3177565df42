// What every batch launch of the CUDA backend does around its kernel, written once: device
// arrays freed with the batch, copies to and from the device, CUB's segmented stable sort of the
// results' (key, index) pairs, one segment per search sharing the call (the interface's order:
// dp/sort.hpp, segment_sorted_order), the selection of each segment's top K, and CUDA-event
// timing of a launch.
//
// Everything runs on the calling host thread's own stream (cudaStreamPerThread), so host threads
// searching different points (nest sweep) share the device without waiting for each other, and
// device arrays come from the device's stream-ordered memory pool, which keeps what a batch
// frees for the next (cudaFree would synchronise the whole device at every batch).
#pragma once

#include <cub/device/device_segmented_sort.cuh>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "check.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/grid.hpp"

namespace nest::kernels::cuda {

// The stream every launch, copy and allocation of the calling host thread goes on.
inline cudaStream_t batch_stream() { return cudaStreamPerThread; }

// Lets the device's memory pool keep what batches free (its default gives it back to the driver
// at every synchronisation), so later batches reuse it instead of asking the driver again.
inline void keep_freed_memory_in_pool() {
  static const bool done = [] {
    int device = 0;
    cudaMemPool_t pool{};
    NEST_CUDA_CHECK(cudaGetDevice(&device));
    NEST_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t keep = ~std::uint64_t{0};  // the attribute is a 64-bit count of bytes
    NEST_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    return true;
  }();
  (void)done;
}

// Device arrays that live as long as the batch: stream-ordered allocations from the pool (no
// managed memory), freed on the same stream after the batch's last use.
class DeviceBuffers {
 public:
  DeviceBuffers() { keep_freed_memory_in_pool(); }
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (void* p : ptr_)
      if (p) cudaFreeAsync(p, batch_stream());
  }
  template <class T>
  T* add(std::size_t count) {
    T* p = nullptr;
    if (count > 0) NEST_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&p), count * sizeof(T), batch_stream()));
    ptr_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> ptr_;
};

// Slices per part of a batch whose widest slice needs `widest` device bytes, under the memory
// budget (0: 80% of the device's free memory). CUB's sort needs scratch too: a quarter of the
// budget is kept for it and for the keys. At most 65,535 slices (one grid dimension).
inline std::size_t slices_per_part(std::size_t memory_limit, std::size_t widest) {
  if (memory_limit == 0) {
    size_t free_b = 0, total_b = 0;
    NEST_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    memory_limit = static_cast<std::size_t>(dp::kDefaultDeviceMemoryShare * static_cast<double>(free_b));
  }
  return std::max<std::size_t>(1, std::min<std::size_t>(65535, (memory_limit * 3 / 4) / (widest + 64)));
}

// count elements from the host to the device, on the thread's stream (the host array may change
// once this returns: pageable memory is staged before the call returns).
template <class T>
void to_device(T* device, const T* host, std::size_t count) {
  if (count > 0) NEST_CUDA_CHECK(cudaMemcpyAsync(device, host, sizeof(T) * count, cudaMemcpyHostToDevice, batch_stream()));
}

// count elements from the device to the host, after everything queued before on the stream.
template <class T>
void to_host(T* host, const T* device, std::size_t count) {
  if (count == 0) return;
  NEST_CUDA_CHECK(cudaMemcpyAsync(host, device, sizeof(T) * count, cudaMemcpyDeviceToHost, batch_stream()));
  NEST_CUDA_CHECK(cudaStreamSynchronize(batch_stream()));
}

// Sorts n (key, index) pairs by key within each of `segments` segments (segment s is
// [offsets[s], offsets[s + 1])), ties in index order (the sort is stable), into keys_sorted /
// index_sorted.
inline void sort_pairs(const double* keys, double* keys_sorted, const int* index, int* index_sorted, int n, const int* offsets,
                       int segments) {
  std::size_t scratch = 0;
  NEST_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(nullptr, scratch, keys, keys_sorted, index, index_sorted, n, segments,
                                                            offsets, offsets + 1, batch_stream()));
  DeviceBuffers tmp;
  void* d_scratch = tmp.add<unsigned char>(scratch);
  NEST_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(d_scratch, scratch, keys, keys_sorted, index, index_sorted, n,
                                                            segments, offsets, offsets + 1, batch_stream()));
}

// A part's inputs' cells (`cells_of(x)`, x in the part) into the call's figures, in total and
// per segment.
template <class CellsOf>
void count_part_cells(const dp::CallPart& part, int segments, CellsOf cells_of, UniformBatchStats* stats) {
  if (!stats) return;
  stats->segment_cells.resize(static_cast<std::size_t>(segments), 0);
  for (int k = 0; k < part.seg.count(); ++k)
    for (int x = part.seg.starts[static_cast<std::size_t>(k)]; x < part.seg.starts[static_cast<std::size_t>(k) + 1]; ++x) {
      const long long c = cells_of(x);
      stats->cells += c;
      stats->segment_cells[static_cast<std::size_t>(part.ids[static_cast<std::size_t>(k)])] += c;
    }
}

// Device time between start() and stop(), by CUDA events.
class LaunchTimer {
 public:
  LaunchTimer() {
    NEST_CUDA_CHECK(cudaEventCreate(&t0_));
    NEST_CUDA_CHECK(cudaEventCreate(&t1_));
  }
  LaunchTimer(const LaunchTimer&) = delete;
  LaunchTimer& operator=(const LaunchTimer&) = delete;
  ~LaunchTimer() {
    cudaEventDestroy(t0_);
    cudaEventDestroy(t1_);
  }
  void start() { NEST_CUDA_CHECK(cudaEventRecord(t0_, batch_stream())); }
  double stop() {  // seconds
    NEST_CUDA_CHECK(cudaEventRecord(t1_, batch_stream()));
    NEST_CUDA_CHECK(cudaEventSynchronize(t1_));
    float ms = 0;
    NEST_CUDA_CHECK(cudaEventElapsedTime(&ms, t0_, t1_));
    return ms / 1e3;
  }

 private:
  cudaEvent_t t0_{}, t1_{};
};

// After a batch's kernel: its results sorted by key within each of the part's segments
// (sort_pairs; the offsets on the device), the launch timed into `stats`, and every result and
// the sorted order brought back to the host.
template <class Result>
void sorted_results(const Result* d_out, const double* d_keys, double* d_keys_sorted, const int* d_idx, int* d_idx_sorted, int n,
                    const dp::CallPart& part, const int* d_offsets, LaunchTimer& timer, UniformBatchStats* stats,
                    std::vector<Result>& results, std::vector<int>& order) {
  sort_pairs(d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, d_offsets, part.seg.count());
  const double seconds = timer.stop();
  if (stats) {
    stats->kernel_seconds += seconds;
    ++stats->launches;
  }
  results.resize(static_cast<std::size_t>(n));
  order.resize(static_cast<std::size_t>(n));
  to_host(results.data(), d_out, results.size());
  to_host(order.data(), d_idx_sorted, order.size());
}

inline dim3 as_dim3(const Dim3& d) { return dim3(d.x, d.y, d.z); }

// A batch whose inputs' tables lie in its arrays and whose kernel runs one thread per input (the
// general and the interleaved DP): cut into parts that fit the memory budget, each part's tables
// copied with their offsets rebased, its workspaces laid out, the kernel launched with each
// input's bound, the objectives sorted within each segment, and each segment's first top K
// solved results read back with each one's per-stage answer (the general DP's stage starts, the
// interleaved DP's units); the parts merged (merge_parts). `Kind` names the input's types, sizes
// and layout and launches the kernel (general_dp.cu, interleaved_dp.cu).
template <class Kind, class Batch>
std::vector<typename Kind::Found> solve_tabled_batch(const Batch& batch, const dp::Segments& seg, std::size_t memory_limit,
                                                     UniformBatchStats* stats) {
  using Input = typename Kind::Input;
  std::vector<typename Kind::Found> best;
  seg.require_covers(batch.inputs.size());
  const std::vector<Input>& inputs = batch.inputs;
  if (inputs.empty()) return best;
  auto bytes_of = [](const Input& s) {
    return sizeof(Input) + sizeof(dp::ThreadOffsets) + sizeof(typename Kind::Result) + 3 * sizeof(double) + 3 * sizeof(int) +
           sizeof(double) * static_cast<std::size_t>(Kind::table_doubles(s) + Kind::workspace_doubles(s)) +
           sizeof(int) * static_cast<std::size_t>(Kind::table_ints(s) + Kind::workspace_ints(s) + s.p);
  };
  std::size_t widest = 0;
  for (const auto& s : inputs) widest = std::max(widest, bytes_of(s));
  if (stats) stats->bytes_per_slice = std::max(stats->bytes_per_slice, widest);
  const std::size_t per_batch = slices_per_part(memory_limit, widest);
  const std::vector<double> bounds = seg.input_bounds();
  LaunchTimer timer;
  for (std::size_t start = 0; start < inputs.size(); start += per_batch) {
    const int n = static_cast<int>(std::min(per_batch, inputs.size() - start));
    const dp::CallPart cp = dp::call_part(seg, static_cast<int>(start), n);
    // This part's tables are contiguous in the batch's arrays: copy them and rebase the offsets.
    std::vector<Input> part(inputs.begin() + static_cast<std::ptrdiff_t>(start),
                            inputs.begin() + static_cast<std::ptrdiff_t>(start) + n);
    const long long d0 = part.front().tables, i0 = part.front().ints;
    const long long d1 = part.back().tables + Kind::table_doubles(part.back());
    const long long i1 = part.back().ints + Kind::table_ints(part.back());
    for (auto& s : part) {
      s.tables -= d0;
      s.ints -= i0;
    }
    const dp::ThreadBatchLayout layout = dp::thread_batch_layout(part.data(), n, Kind::workspace_doubles, Kind::workspace_ints);
    DeviceBuffers buf;
    auto* d_in = buf.add<Input>(static_cast<std::size_t>(n));
    auto* d_bound = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_seg = buf.add<int>(cp.seg.starts.size());
    auto* d_d = buf.add<double>(static_cast<std::size_t>(d1 - d0));
    auto* d_i = buf.add<int>(static_cast<std::size_t>(std::max<long long>(i1 - i0, 1)));
    auto* d_off = buf.add<dp::ThreadOffsets>(static_cast<std::size_t>(n));
    auto* d_wd = buf.add<double>(static_cast<std::size_t>(layout.doubles));
    auto* d_wi = buf.add<int>(static_cast<std::size_t>(std::max<long long>(layout.ints, 1)));
    auto* d_answer = buf.add<int>(static_cast<std::size_t>(layout.answers));
    auto* d_out = buf.add<typename Kind::Result>(static_cast<std::size_t>(n));
    auto* d_keys = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx = buf.add<int>(static_cast<std::size_t>(n));
    auto* d_keys_sorted = buf.add<double>(static_cast<std::size_t>(n));
    auto* d_idx_sorted = buf.add<int>(static_cast<std::size_t>(n));
    to_device(d_in, part.data(), static_cast<std::size_t>(n));
    to_device(d_bound, bounds.data() + start, static_cast<std::size_t>(n));
    to_device(d_seg, cp.seg.starts.data(), cp.seg.starts.size());
    to_device(d_d, batch.d.data() + d0, static_cast<std::size_t>(d1 - d0));
    to_device(d_i, batch.i.data() + i0, static_cast<std::size_t>(i1 - i0));
    to_device(d_off, layout.offsets.data(), static_cast<std::size_t>(n));
    timer.start();
    Kind::launch(n, d_in, d_d, d_i, d_off, d_bound, d_wd, d_wi, d_answer, d_out, d_keys, d_idx);
    NEST_CUDA_CHECK(cudaGetLastError());
    std::vector<typename Kind::Result> results;
    std::vector<int> idx;
    sorted_results(d_out, d_keys, d_keys_sorted, d_idx, d_idx_sorted, n, cp, d_seg, timer, stats, results, idx);
    count_part_cells(
        cp, seg.count(), [&](int x) { return results[static_cast<std::size_t>(x)].cells; }, stats);
    for (const int s : dp::select_per_segment(results, idx, cp.seg, dp::first_solved<typename Kind::Result>)) {
      typename Kind::Found out;
      out.input = static_cast<int>(start) + s;
      out.result = results[static_cast<std::size_t>(s)];
      std::vector<int>& answer = Kind::answer(out);
      answer.resize(static_cast<std::size_t>(part[static_cast<std::size_t>(s)].p));
      to_host(answer.data(), d_answer + layout.offsets[static_cast<std::size_t>(s)].answer, answer.size());
      best.push_back(std::move(out));
    }
  }
  return dp::merge_parts(std::move(best), seg, [](const typename Kind::Found& f) { return f.result.objective; });
}

}  // namespace nest::kernels::cuda
