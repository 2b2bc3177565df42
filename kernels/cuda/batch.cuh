// What every batch launch of the CUDA backend does around its kernel, written once: device
// arrays freed with the batch, copies to and from the device, CUB's stable radix sort of the
// results' (key, index) pairs (the interface's order: dp/sort.hpp, batch_sorted_order), and
// CUDA-event timing of a launch.
//
// Everything runs on the calling host thread's own stream (cudaStreamPerThread), so host threads
// searching different points (nest sweep) share the device without waiting for each other, and
// device arrays come from the device's stream-ordered memory pool, which keeps what a batch
// frees for the next (cudaFree would synchronise the whole device at every batch).
#pragma once

#include <cub/device/device_radix_sort.cuh>

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

// Sorts n (key, index) pairs by key, ties in index order (the radix sort is stable), into
// keys_sorted / index_sorted.
inline void sort_pairs(const double* keys, double* keys_sorted, const int* index, int* index_sorted, int n) {
  std::size_t scratch = 0;
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, scratch, keys, keys_sorted, index, index_sorted, n, 0,
                                                  static_cast<int>(sizeof(double) * 8), batch_stream()));
  DeviceBuffers tmp;
  void* d_scratch = tmp.add<unsigned char>(scratch);
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(d_scratch, scratch, keys, keys_sorted, index, index_sorted, n, 0,
                                                  static_cast<int>(sizeof(double) * 8), batch_stream()));
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

// After a batch's kernel: its results sorted by key (sort_pairs), the launch timed into `stats`,
// and every result and the sorted order brought back to the host.
template <class Result>
void sorted_results(const Result* d_out, const double* d_keys, double* d_keys_sorted, const int* d_idx, int* d_idx_sorted, int n,
                    LaunchTimer& timer, UniformBatchStats* stats, std::vector<Result>& results, std::vector<int>& order) {
  sort_pairs(d_keys, d_keys_sorted, d_idx, d_idx_sorted, n);
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

}  // namespace nest::kernels::cuda
