// Operator timings on the CPU: a plain blocked fp32 GEMM (one thread) and memcpy bandwidth.
// They let `nest profile --backend mpi --ops` run the whole operator path on machines without
// GPUs; the figures describe this CPU, not a GPU.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "nest/profiler/harness.hpp"
#include "nest/profiler/operators.hpp"

namespace nest::profiler {

namespace {

using Clock = std::chrono::steady_clock;

// C[m x n] += A[m x k] * B[k x n], row-major, blocked for the caches; the inner loop over j
// is contiguous so the compiler vectorises it.
void blocked_gemm(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  constexpr std::int64_t kBm = 64, kBn = 256, kBk = 128;
  for (std::int64_t i0 = 0; i0 < m; i0 += kBm)
    for (std::int64_t p0 = 0; p0 < k; p0 += kBk)
      for (std::int64_t j0 = 0; j0 < n; j0 += kBn) {
        const std::int64_t i1 = std::min(m, i0 + kBm), p1 = std::min(k, p0 + kBk), j1 = std::min(n, j0 + kBn);
        for (std::int64_t i = i0; i < i1; ++i) {
          float* ci = c + i * n;
          for (std::int64_t p = p0; p < p1; ++p) {
            const float aip = a[i * k + p];
            const float* bp = b + p * n;
            for (std::int64_t j = j0; j < j1; ++j) ci[j] += aip * bp[j];
          }
        }
      }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto pos = line.find(':');
      if (pos != std::string::npos) {
        std::string s = line.substr(pos + 1);
        s.erase(0, s.find_first_not_of(' '));
        return s;
      }
    }
  }
  return "unknown CPU";
}

class CpuRunner final : public OperatorRunner {
 public:
  Json device() const override {
    return {{"kind", "cpu"}, {"name", cpu_model()}, {"threads", 1}, {"hardware_threads", std::thread::hardware_concurrency()}};
  }
  std::string dtype() const override { return "fp32"; }
  double default_max_gflop() const override { return 0.05; }
  double default_max_copy_bytes() const override { return 64.0 * 1024 * 1024; }
  double peak_hbm_bandwidth() const override { return 0; }

  double gemm_seconds(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch, int warmup, int iters) override {
    const auto um = static_cast<std::size_t>(m), un = static_cast<std::size_t>(n), uk = static_cast<std::size_t>(k);
    std::vector<float> a(um * uk), b(uk * un), c(um * un);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.25f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) * 0.5f;
    std::vector<double> times;
    for (int it = 0; it < warmup + iters; ++it) {
      std::fill(c.begin(), c.end(), 0.0f);
      const auto t0 = Clock::now();
      for (std::int64_t q = 0; q < batch; ++q) blocked_gemm(a.data(), b.data(), c.data(), m, n, k);
      const auto t1 = Clock::now();
      if (it >= warmup) times.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    sink_ = sink_ + c[0];
    return median(times);
  }

  double copy_seconds(double bytes, int warmup, int iters) override {
    const auto n = static_cast<std::size_t>(bytes);
    std::vector<char> src(n, 1), dst(n, 0);
    std::vector<double> times;
    for (int it = 0; it < warmup + iters; ++it) {
      src[static_cast<std::size_t>(it) % n] = static_cast<char>(it);
      const auto t0 = Clock::now();
      std::memcpy(dst.data(), src.data(), n);
      const auto t1 = Clock::now();
      if (it >= warmup) times.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    sink_ = sink_ + static_cast<float>(dst[n / 2]);
    return median(times);
  }

 private:
  volatile float sink_ = 0;  // keeps the work observable
};

}  // namespace

OperatorRunner* cpu_operator_runner() {
  static CpuRunner runner;
  return &runner;
}

}  // namespace nest::profiler
