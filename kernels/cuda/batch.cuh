// What every batch launch of the CUDA backend does around its kernel, written once: device
// arrays freed with the batch, CUB's stable radix sort of the results' (key, index) pairs (the
// interface's order: dp/sort.hpp, batch_sorted_order), and CUDA-event timing of a launch.
#pragma once

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "check.cuh"
#include "nest/kernels/cuda/dp_backend.hpp"
#include "nest/kernels/grid.hpp"

namespace nest::kernels::cuda {

// Device arrays that live as long as the batch (plain cudaMalloc, no managed memory).
class DeviceBuffers {
 public:
  DeviceBuffers() = default;
  DeviceBuffers(const DeviceBuffers&) = delete;
  DeviceBuffers& operator=(const DeviceBuffers&) = delete;
  ~DeviceBuffers() {
    for (void* p : ptr_)
      if (p) cudaFree(p);
  }
  template <class T>
  T* add(std::size_t count) {
    T* p = nullptr;
    if (count > 0) NEST_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
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
    memory_limit = static_cast<std::size_t>(0.8 * static_cast<double>(free_b));
  }
  return std::max<std::size_t>(1, std::min<std::size_t>(65535, (memory_limit * 3 / 4) / (widest + 64)));
}

// Sorts n (key, index) pairs by key, ties in index order (the radix sort is stable), into
// keys_sorted / index_sorted.
inline void sort_pairs(const double* keys, double* keys_sorted, const int* index, int* index_sorted, int n) {
  std::size_t scratch = 0;
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, scratch, keys, keys_sorted, index, index_sorted, n));
  DeviceBuffers tmp;
  void* d_scratch = tmp.add<unsigned char>(scratch);
  NEST_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(d_scratch, scratch, keys, keys_sorted, index, index_sorted, n));
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
  void start() { NEST_CUDA_CHECK(cudaEventRecord(t0_)); }
  double stop() {  // seconds
    NEST_CUDA_CHECK(cudaEventRecord(t1_));
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
  NEST_CUDA_CHECK(cudaMemcpy(results.data(), d_out, sizeof(Result) * n, cudaMemcpyDeviceToHost));
  NEST_CUDA_CHECK(cudaMemcpy(order.data(), d_idx_sorted, sizeof(int) * n, cudaMemcpyDeviceToHost));
}

inline dim3 as_dim3(const Dim3& d) { return dim3(d.x, d.y, d.z); }

}  // namespace nest::kernels::cuda
