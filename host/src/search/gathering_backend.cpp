#include "nest/search/gathering_backend.hpp"

#include <algorithm>
#include <exception>
#include <utility>

namespace nest {

namespace dp = kernels::dp;

namespace {

// One search's call waiting in a round: what it asked, and what it gets back.
template <class Batch, class Found>
struct Request {
  const Batch* batch = nullptr;
  const dp::Segments* seg = nullptr;
  std::vector<Found> found;
  dp::BackendStats stats;
  bool answered = false;
  std::exception_ptr error;
};

using UniformRequest = Request<std::vector<dp::UniformSliceInput>, dp::UniformFound>;
using GeneralRequest = Request<dp::GeneralBatch, dp::GeneralFound>;
using InterleavedRequest = Request<dp::InterleavedBatch, dp::InterleavedFound>;
using SingleStageRequest = Request<std::vector<dp::SingleStageInput>, dp::SingleStageFound>;

std::size_t inputs_of(const std::vector<dp::UniformSliceInput>& b) { return b.size(); }
std::size_t inputs_of(const std::vector<dp::SingleStageInput>& b) { return b.size(); }
std::size_t inputs_of(const dp::GeneralBatch& b) { return b.inputs.size(); }
std::size_t inputs_of(const dp::InterleavedBatch& b) { return b.inputs.size(); }

template <class T>
void append(std::vector<T>& into, const std::vector<T>& from) {
  into.insert(into.end(), from.begin(), from.end());
}
void append(dp::GeneralBatch& into, const dp::GeneralBatch& from) { dp::append_batch(into, from); }
void append(dp::InterleavedBatch& into, const dp::InterleavedBatch& from) { dp::append_batch(into, from); }

// The requests of one kind as one call of the backend: their inputs end to end, their segments
// one after the other; each result goes back to its request with its own input index, in the
// order the call returned them (segment after segment, so each request's own order), and each
// request gets its segments' cells. The device time is shared in proportion to the inputs (an
// estimate: one launch serves them all). What the call throws goes to every request.
template <class Batch, class Found, class Call>
void answer(const std::vector<Request<Batch, Found>*>& requests, Call call, long long& calls_under) {
  if (requests.empty()) return;
  Batch combined;
  dp::Segments seg;
  std::vector<int> first_input, first_segment;
  for (const auto* r : requests) {
    first_input.push_back(seg.inputs());
    first_segment.push_back(seg.count());
    append(combined, *r->batch);
    for (int s = 0; s < r->seg->count(); ++s)
      seg.add(
          static_cast<std::size_t>(r->seg->starts[static_cast<std::size_t>(s) + 1] - r->seg->starts[static_cast<std::size_t>(s)]),
          r->seg->bounds[static_cast<std::size_t>(s)], r->seg->top_k[static_cast<std::size_t>(s)]);
  }
  dp::BackendStats stats;
  std::vector<Found> found;
  try {
    ++calls_under;
    found = call(combined, seg, &stats);
  } catch (...) {
    const std::exception_ptr error = std::current_exception();
    for (auto* r : requests) r->error = error;
    return;
  }
  for (Found& f : found) {
    const std::size_t k =
        static_cast<std::size_t>(std::upper_bound(first_input.begin(), first_input.end(), f.input) - first_input.begin()) - 1;
    f.input -= first_input[k];
    requests[k]->found.push_back(std::move(f));
  }
  const double total = std::max(1, seg.inputs());
  for (std::size_t k = 0; k < requests.size(); ++k) {
    dp::BackendStats& st = requests[k]->stats;
    const int segments = requests[k]->seg->count();
    st.segment_cells.assign(static_cast<std::size_t>(segments), 0);
    for (int s = 0; s < segments; ++s) {
      const std::size_t at = static_cast<std::size_t>(first_segment[k] + s);
      const long long c = at < stats.segment_cells.size() ? stats.segment_cells[at] : 0;
      st.segment_cells[static_cast<std::size_t>(s)] = c;
      st.cells += c;
    }
    st.device_seconds = stats.device_seconds * static_cast<double>(inputs_of(*requests[k]->batch)) / total;
    st.launches = stats.launches;
  }
}

// A request's answer handed to its caller.
template <class Batch, class Found>
std::vector<Found> handed_back(Request<Batch, Found>& r, dp::BackendStats* stats) {
  if (r.error) std::rethrow_exception(r.error);
  if (stats) {
    stats->cells += r.stats.cells;
    stats->device_seconds += r.stats.device_seconds;
    stats->launches += r.stats.launches;
    stats->segment_cells = r.stats.segment_cells;
  }
  return std::move(r.found);
}

}  // namespace

struct GatheringBackend::Round {
  std::vector<UniformRequest*> uniform;
  std::vector<GeneralRequest*> general;
  std::vector<InterleavedRequest*> interleaved;
  std::vector<SingleStageRequest*> single_stage;

  void add(UniformRequest* r) { uniform.push_back(r); }
  void add(GeneralRequest* r) { general.push_back(r); }
  void add(InterleavedRequest* r) { interleaved.push_back(r); }
  void add(SingleStageRequest* r) { single_stage.push_back(r); }

  // One call per kind that has requests; never throws (each request holds what went wrong).
  void answer_all(dp::DpBackend& under, long long& calls_under) {
    answer(
        uniform, [&](const auto& b, const auto& s, auto* st) { return under.solve_uniform(b, s, st); }, calls_under);
    answer(
        general, [&](const auto& b, const auto& s, auto* st) { return under.solve_general(b, s, st); }, calls_under);
    answer(
        interleaved, [&](const auto& b, const auto& s, auto* st) { return under.solve_interleaved(b, s, st); }, calls_under);
    answer(
        single_stage, [&](const auto& b, const auto& s, auto* st) { return under.solve_single_stage(b, s, st); }, calls_under);
    auto mark = [](auto& requests) {
      for (auto* r : requests) r->answered = true;
    };
    mark(uniform);
    mark(general);
    mark(interleaved);
    mark(single_stage);
  }
};

GatheringBackend::GatheringBackend(std::unique_ptr<dp::DpBackend> under)
    : under_(std::move(under)), round_(std::make_unique<Round>()) {}

GatheringBackend::~GatheringBackend() = default;

GatheringBackend::Participation::Participation(GatheringBackend& g) : g_(g) {
  const std::lock_guard<std::mutex> lock(g_.mutex_);
  ++g_.participants_;
}

GatheringBackend::Participation::~Participation() {
  std::unique_lock<std::mutex> lock(g_.mutex_);
  --g_.participants_;
  // The one search the round still waited for has left: the others' calls go now.
  if (g_.waiting_ > 0 && g_.waiting_ >= g_.participants_) g_.close_round(lock);
}

void GatheringBackend::close_round(std::unique_lock<std::mutex>&) {
  // Answered under the lock: every participant is waiting in a call, and a search that joins
  // now waits for this round to end before its first call.
  const std::unique_ptr<Round> round = std::move(round_);
  round_ = std::make_unique<Round>();
  waiting_ = 0;
  round->answer_all(*under_, calls_under_);
  answered_.notify_all();
}

template <class Request>
void GatheringBackend::wait_for_round(Request& request) {
  std::unique_lock<std::mutex> lock(mutex_);
  ++calls_gathered_;
  round_->add(&request);
  ++waiting_;
  // A call from outside any participation (waiting_ > participants_) goes at once.
  if (waiting_ >= participants_)
    close_round(lock);
  else
    answered_.wait(lock, [&] { return request.answered; });
}

std::vector<dp::SliceBounds> GatheringBackend::lower_bounds(const dp::BoundBatch& batch,
                                                            const std::vector<dp::BoundPointTables>& points,
                                                            dp::BackendStats* stats) {
  return under_->lower_bounds(batch, points, stats);
}

template <class Request, class Batch>
auto GatheringBackend::gathered(const Batch& batch, const dp::Segments& seg, dp::BackendStats* stats) {
  Request r;
  r.batch = &batch;
  r.seg = &seg;
  wait_for_round(r);
  return handed_back(r, stats);
}

std::vector<dp::UniformFound> GatheringBackend::solve_uniform(const std::vector<dp::UniformSliceInput>& inputs,
                                                              const dp::Segments& seg, dp::BackendStats* stats) {
  return gathered<UniformRequest>(inputs, seg, stats);
}

std::vector<dp::GeneralFound> GatheringBackend::solve_general(const dp::GeneralBatch& batch, const dp::Segments& seg,
                                                              dp::BackendStats* stats) {
  return gathered<GeneralRequest>(batch, seg, stats);
}

std::vector<dp::InterleavedFound> GatheringBackend::solve_interleaved(const dp::InterleavedBatch& batch, const dp::Segments& seg,
                                                                      dp::BackendStats* stats) {
  return gathered<InterleavedRequest>(batch, seg, stats);
}

std::vector<dp::SingleStageFound> GatheringBackend::solve_single_stage(const std::vector<dp::SingleStageInput>& inputs,
                                                                       const dp::Segments& seg, dp::BackendStats* stats) {
  return gathered<SingleStageRequest>(inputs, seg, stats);
}

long long GatheringBackend::calls_under() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return calls_under_;
}

long long GatheringBackend::calls_gathered() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return calls_gathered_;
}

}  // namespace nest
