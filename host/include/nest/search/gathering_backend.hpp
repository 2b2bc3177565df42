// Several searches running at once, each on its own host thread (nest sweep --points-per-launch),
// sharing one backend so that their DP batches reach the device in one launch sequence instead
// of one each. A solve call waits until every search taking part is waiting in one (or has left);
// then the waiting calls of each kind go to the backend under it as one call, each search's
// inputs its own segments (dp::Segments: its own bound and top K, selected within the segment,
// on a device by CUB's segmented sort), and each search gets back exactly what a call of its own
// would have returned, so its plans, values and counts do not depend on what it shared.
//
// The searches move in lockstep: one whose host work between calls is long holds the others.
// That is the price of fewer, larger launches; it pays on a device, where a launch and its
// copies cost tens of microseconds whatever their size, and not on the CPU backend, where the
// combined call runs on the one thread that completes the round.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nest/kernels/dp/backend.hpp"

namespace nest {

class GatheringBackend final : public kernels::dp::DpBackend {
 public:
  explicit GatheringBackend(std::unique_ptr<kernels::dp::DpBackend> under);
  ~GatheringBackend() override;

  // A search takes part from construction to destruction of one of these: while it does, the
  // others' calls wait for its call (or its leaving) before they go to the backend.
  class Participation {
   public:
    explicit Participation(GatheringBackend& g);
    ~Participation();
    Participation(const Participation&) = delete;
    Participation& operator=(const Participation&) = delete;

   private:
    GatheringBackend& g_;
  };

  std::string name() const override { return under_->name(); }
  std::string device() const override { return under_->device(); }
  int batch_size() const override { return under_->batch_size(); }
  // Passed straight to the backend under it (a bound call takes several points already).
  std::vector<kernels::dp::SliceBounds> lower_bounds(const kernels::dp::BoundBatch& batch,
                                                     const std::vector<kernels::dp::BoundPointTables>& points,
                                                     kernels::dp::BackendStats* stats) override;
  std::vector<kernels::dp::UniformFound> solve_uniform(const std::vector<kernels::dp::UniformSliceInput>& inputs,
                                                       const kernels::dp::Segments& seg,
                                                       kernels::dp::BackendStats* stats) override;
  std::vector<kernels::dp::GeneralFound> solve_general(const kernels::dp::GeneralBatch& batch, const kernels::dp::Segments& seg,
                                                       kernels::dp::BackendStats* stats) override;
  std::vector<kernels::dp::InterleavedFound> solve_interleaved(const kernels::dp::InterleavedBatch& batch,
                                                               const kernels::dp::Segments& seg,
                                                               kernels::dp::BackendStats* stats) override;
  std::vector<kernels::dp::SingleStageFound> solve_single_stage(const std::vector<kernels::dp::SingleStageInput>& inputs,
                                                                const kernels::dp::Segments& seg,
                                                                kernels::dp::BackendStats* stats) override;

  // Solve calls made on the backend under it, and calls the searches made: what gathering saved.
  long long calls_under() const;
  long long calls_gathered() const;

  struct Round;  // the calls waiting for the round to close (gathering_backend.cpp)

 private:
  // Adds this call to the round, closes the round when every participant is in it, waits for
  // the round's answer and rethrows what went wrong in it.
  template <class Request>
  void wait_for_round(Request& request);
  // One search's call: waits for its round, hands back its answer.
  template <class Request, class Batch>
  auto gathered(const Batch& batch, const kernels::dp::Segments& seg, kernels::dp::BackendStats* stats);
  void close_round(std::unique_lock<std::mutex>& lock);

  std::unique_ptr<kernels::dp::DpBackend> under_;
  mutable std::mutex mutex_;
  std::condition_variable answered_;
  int participants_ = 0;
  int waiting_ = 0;
  std::unique_ptr<Round> round_;
  long long calls_under_ = 0, calls_gathered_ = 0;
};

}  // namespace nest
