// Operator timings on a CUDA device: bf16 GEMMs (fp32 accumulation) through cuBLASLt with the
// library's first heuristic choice and a 32 MiB workspace, batched through strided layouts, on
// pseudo-random operands (nest/profiler/operand_data.hpp);
// memory-bound kernels through a 16-byte-vector copy kernel. CUDA events around every
// iteration, the median counts.
#include <algorithm>
#include <string>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "check.cuh"
#include "device_data.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/harness.hpp"

#define NEST_CUBLASLT_CHECK(call)                                                                                             \
  do {                                                                                                                        \
    const cublasStatus_t nest_lt_st_ = (call);                                                                                \
    if (nest_lt_st_ != CUBLAS_STATUS_SUCCESS)                                                                                 \
      ::nest::throw_runtime(std::string("cuBLASLt error at ") + __FILE__ + ":" + std::to_string(__LINE__) + ": " #call ": " + \
                            cublasLtGetStatusString(nest_lt_st_));                                                            \
  } while (0)

namespace nest::profiler {

namespace {

constexpr std::size_t kWorkspace = 32u << 20;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

class CublasLtRunner final : public OperatorRunner {
 public:
  explicit CublasLtRunner(int device) : device_(device) {
    NEST_CUDA_CHECK(cudaSetDevice(device_));
    NEST_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    NEST_CUDA_CHECK(cudaMalloc(&workspace_, kWorkspace));
    NEST_CUBLASLT_CHECK(cublasLtCreate(&lt_));
    NEST_CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
  }
  ~CublasLtRunner() override {
    cudaSetDevice(device_);
    if (lt_) cublasLtDestroy(lt_);
    if (workspace_) cudaFree(workspace_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Json device() const override {
    return {{"kind", "gpu"},
            {"name", prop_.name},
            {"index", device_},
            {"compute_capability", std::to_string(prop_.major) + "." + std::to_string(prop_.minor)},
            {"multiprocessors", prop_.multiProcessorCount},
            {"memory_bytes", static_cast<double>(prop_.totalGlobalMem)}};
  }
  std::string dtype() const override { return "bf16"; }
  double default_max_gflop() const override { return 0; }
  double default_max_copy_bytes() const override { return kGiB; }
  double peak_hbm_bandwidth() const override {
    int clock_khz = 0, bus_bits = 0;
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device_) != cudaSuccess ||
        cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device_) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // double data rate
  }

  double gemm_seconds(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch, int warmup, int iters) override {
    NEST_CUDA_CHECK(cudaSetDevice(device_));
    const auto sz = [](std::int64_t a, std::int64_t b, std::int64_t c) { return static_cast<std::size_t>(a * b * c); };
    void *a = nullptr, *b = nullptr, *c = nullptr;
    NEST_CUDA_CHECK(cudaMalloc(&a, sz(m, k, batch) * 2));
    NEST_CUDA_CHECK(cudaMalloc(&b, sz(k, n, batch) * 2));
    NEST_CUDA_CHECK(cudaMalloc(&c, sz(m, n, batch) * 2));
    // Random operands, as in training: low-entropy ones run faster (operand_data.hpp).
    device::fill_operand_bf16(a, sz(m, k, batch), 1, stream_);
    device::fill_operand_bf16(b, sz(k, n, batch), 2, stream_);
    NEST_CUDA_CHECK(cudaGetLastError());

    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    NEST_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    NEST_CUBLASLT_CHECK(
        cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, static_cast<std::uint64_t>(m), static_cast<std::uint64_t>(k), m));
    NEST_CUBLASLT_CHECK(
        cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n), k));
    NEST_CUBLASLT_CHECK(
        cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, static_cast<std::uint64_t>(m), static_cast<std::uint64_t>(n), m));
    if (batch > 1) {
      const int32_t bc = static_cast<int32_t>(batch);
      const int64_t sa = m * k, sb = k * n, sc = m * n;
      for (auto [layout, stride] : {std::pair{la, sa}, std::pair{lb, sb}, std::pair{lc, sc}}) {
        NEST_CUBLASLT_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc, sizeof bc));
        NEST_CUBLASLT_CHECK(
            cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
      }
    }
    NEST_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const std::size_t ws = kWorkspace;
    NEST_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t heuristic{};
    int found = 0;
    NEST_CUBLASLT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt_, op, la, lb, lc, lc, pref, 1, &heuristic, &found));
    if (found == 0)
      throw_runtime("cuBLASLt has no bf16 GEMM algorithm for " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                    std::to_string(k));
    const float alpha = 1.0f, beta = 0.0f;
    const double seconds = median_event_seconds(warmup, iters, [&] {
      NEST_CUBLASLT_CHECK(
          cublasLtMatmul(lt_, op, &alpha, a, la, b, lb, &beta, c, lc, c, lc, &heuristic.algo, workspace_, ws, stream_));
    });
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return seconds;
  }

  double copy_seconds(double bytes, int warmup, int iters) override {
    NEST_CUDA_CHECK(cudaSetDevice(device_));
    const std::size_t n = static_cast<std::size_t>(bytes) / 16 * 16;
    void *src = nullptr, *dst = nullptr;
    NEST_CUDA_CHECK(cudaMalloc(&src, n));
    NEST_CUDA_CHECK(cudaMalloc(&dst, n));
    NEST_CUDA_CHECK(cudaMemsetAsync(src, 1, n, stream_));
    const double seconds = median_event_seconds(warmup, iters, [&] { device::copy_bytes(dst, src, n, stream_); });
    cudaFree(src);
    cudaFree(dst);
    // Rescale to the requested size when it was rounded down to whole 16-byte vectors.
    return seconds * (n > 0 ? bytes / static_cast<double>(n) : 1.0);
  }

 private:
  // Warm-up, then `iters` timed runs between CUDA events on the stream: the median, in s.
  template <class Run>
  double median_event_seconds(int warmup, int iters, Run&& run) {
    std::vector<cudaEvent_t> ev(2 * static_cast<std::size_t>(iters));
    for (auto& e : ev) NEST_CUDA_CHECK(cudaEventCreate(&e));
    for (int i = 0; i < warmup; ++i) run();
    for (int i = 0; i < iters; ++i) {
      NEST_CUDA_CHECK(cudaEventRecord(ev[2 * static_cast<std::size_t>(i)], stream_));
      run();
      NEST_CUDA_CHECK(cudaEventRecord(ev[2 * static_cast<std::size_t>(i) + 1], stream_));
    }
    NEST_CUDA_CHECK(cudaGetLastError());
    NEST_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      float ms = 0;
      NEST_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[2 * static_cast<std::size_t>(i)], ev[2 * static_cast<std::size_t>(i) + 1]));
      t.push_back(ms * 1e-3);
    }
    for (auto e : ev) cudaEventDestroy(e);
    return median(t);
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  void* workspace_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cudaDeviceProp prop_{};
};

}  // namespace

std::unique_ptr<OperatorRunner> make_cublaslt_runner(int device) { return std::make_unique<CublasLtRunner>(device); }

}  // namespace nest::profiler
