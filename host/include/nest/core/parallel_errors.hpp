// Exceptions out of OpenMP loops. A throw that leaves an OpenMP region ends the program
// (std::terminate) before main() can report it; each loop body runs through
// ParallelErrors::run, which keeps the first exception, lets the remaining iterations skip their
// work, and rethrows it once the region is over, on the calling thread.
#pragma once

#include <atomic>
#include <exception>
#include <mutex>

namespace nest {

class ParallelErrors {
 public:
  template <class Body>
  void run(Body&& body) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  // After the parallel region: the first exception, if any iteration threw.
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::exception_ptr first_;
};

}  // namespace nest
