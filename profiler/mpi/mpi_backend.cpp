// The MPI backend: collectives on host memory through MPI (MPI_Allreduce, MPI_Allgather,
// MPI_Reduce_scatter_block, MPI_Alltoall, MPI_Sendrecv), each iteration timed with MPI_Wtime
// after a barrier of the group. bf16 is a 2-byte MPI datatype with a user-defined sum that
// converts to fp32, adds, and rounds back to bf16 (round to nearest even), as a GPU reduction
// of bf16 does. Operators run on the CPU (operators/cpu_ops.cpp).
#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "mpi_check.hpp"
#include "mpi_world.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/host_data.hpp"
#include "nest/profiler/operators.hpp"

namespace nest::profiler {

namespace {

extern "C" void nest_bf16_sum(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const std::uint16_t*>(in);
  auto* b = static_cast<std::uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = float_to_bf16(bf16_to_float(a[i]) + bf16_to_float(b[i]));
}

class MpiBackend final : public CommBackend {
 public:
  MpiBackend() {
    NEST_MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &bf16_));
    NEST_MPI_CHECK(MPI_Type_commit(&bf16_));
    NEST_MPI_CHECK(MPI_Op_create(&nest_bf16_sum, 1, &bf16_sum_));
  }
  ~MpiBackend() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    MPI_Op_free(&bf16_sum_);
    MPI_Type_free(&bf16_);
  }

  std::string name() const override { return "mpi"; }
  std::vector<std::string> rank_hosts() const override { return world_.hosts(); }
  bool leader() const override { return world_.rank() == 0; }
  Json machine() const override {
    const auto& h = world_.hosts();
    std::vector<std::string> distinct;
    for (const auto& x : h)
      if (std::find(distinct.begin(), distinct.end(), x) == distinct.end()) distinct.push_back(x);
    Json devices = Json::array();
    const Json cpu = cpu_operator_runner()->device();
    for (std::size_t r = 0; r < h.size(); ++r)
      devices.push_back({{"rank", r}, {"host", h[r]}, {"kind", "cpu"}, {"name", cpu["name"]}});
    return {{"hosts", distinct}, {"ranks", h.size()}, {"rank_hosts", h}, {"devices", devices}};
  }
  Json software() const override { return {{"backend", "mpi"}, {"mpi", world_.library_version()}}; }
  std::string timing_method() const override { return "MPI_Wtime around each iteration, after an MPI_Barrier of the group"; }
  double default_max_bytes() const override { return 16.0 * 1024 * 1024; }
  bool polls_timeout() const override { return false; }
  void broadcast(std::string& data) override { world_.broadcast(data); }
  bool any(bool flag) override { return world_.any(flag); }
  void barrier() override { world_.barrier(); }

  void open_group(const GroupSpec& g, std::size_t max_bytes, DType dtype) override {
    int color = -1, key = 0;
    for (std::size_t s = 0; s < g.sets.size(); ++s) {
      const auto it = std::find(g.sets[s].begin(), g.sets[s].end(), world_.rank());
      if (it != g.sets[s].end()) {
        color = static_cast<int>(s);
        key = static_cast<int>(it - g.sets[s].begin());
      }
    }
    comm_ = world_.split(color, key);
    if (comm_ != MPI_COMM_NULL) {
      NEST_MPI_CHECK(MPI_Comm_rank(comm_, &grank_));
      NEST_MPI_CHECK(MPI_Comm_size(comm_, &gsize_));
      const std::size_t elems = max_bytes / dtype_bytes(dtype) + static_cast<std::size_t>(gsize_);
      send_.assign(elems * dtype_bytes(dtype), 0);
      recv_.assign(elems * dtype_bytes(dtype), 0);
    }
  }

  std::vector<RankTiming> measure(const Measurement& m) override {
    RankTiming mine;
    const bool in = comm_ != MPI_COMM_NULL;
    if (in) {
      const bool bf16 = m.dtype == DType::BF16;
      const CollectiveCounts& c = m.counts;
      if (c.send > static_cast<std::size_t>(INT_MAX) || c.recv > static_cast<std::size_t>(INT_MAX))
        throw_bad_input("--max-bytes", "too large for MPI's int element counts");
      host_fill_input(send_.data(), bf16, c.send, grank_, gsize_);
      for (int i = 0; i < m.warmup; ++i) run(m);
      std::vector<double> times;
      times.reserve(static_cast<std::size_t>(m.iters));
      for (int i = 0; i < m.iters; ++i) {
        NEST_MPI_CHECK(MPI_Barrier(comm_));
        const double t0 = MPI_Wtime();
        run(m);
        times.push_back(MPI_Wtime() - t0);
      }
      std::int64_t wrong = -1;
      if (m.check) {
        host_fill_poison(recv_.data(), bf16, c.recv);
        run(m);
        wrong = host_count_wrong(recv_.data(), bf16, m.collective, grank_, gsize_, c.count, c.recv);
      }
      mine = summarize(std::move(times), wrong);
    }
    return world_.gather(mine, in);
  }

  void close_group() override {
    if (comm_ != MPI_COMM_NULL) NEST_MPI_CHECK(MPI_Comm_free(&comm_));
    comm_ = MPI_COMM_NULL;
    send_.clear();
    send_.shrink_to_fit();
    recv_.clear();
    recv_.shrink_to_fit();
  }

  OperatorRunner* operators() override { return leader() ? cpu_operator_runner() : nullptr; }
  [[noreturn]] void abort(const Error& e) override { world_.abort(e); }

 private:
  void run(const Measurement& m) {
    const bool bf16 = m.dtype == DType::BF16;
    const MPI_Datatype dt = bf16 ? bf16_ : MPI_FLOAT;
    const MPI_Op sum = bf16 ? bf16_sum_ : MPI_SUM;
    const int count = static_cast<int>(m.counts.count);
    void* s = send_.data();
    void* r = recv_.data();
    switch (m.collective) {
      case Collective::AllReduce:
        NEST_MPI_CHECK(MPI_Allreduce(s, r, count, dt, sum, comm_));
        break;
      case Collective::AllGather:
        NEST_MPI_CHECK(MPI_Allgather(s, count, dt, r, count, dt, comm_));
        break;
      case Collective::ReduceScatter:
        NEST_MPI_CHECK(MPI_Reduce_scatter_block(s, r, count, dt, sum, comm_));
        break;
      case Collective::AllToAll:
        NEST_MPI_CHECK(MPI_Alltoall(s, count, dt, r, count, dt, comm_));
        break;
      case Collective::SendRecv:
        NEST_MPI_CHECK(MPI_Sendrecv(s, count, dt, send_peer(grank_, gsize_), 17, r, count, dt, recv_peer(grank_, gsize_), 17,
                                    comm_, MPI_STATUS_IGNORE));
        break;
      case Collective::Broadcast:
      case Collective::Reduce:
        throw_runtime("the MPI backend does not measure " + collective_name(m.collective) + " (import nccl-tests logs)");
    }
  }

  MpiWorld world_;
  MPI_Datatype bf16_ = MPI_DATATYPE_NULL;
  MPI_Op bf16_sum_ = MPI_OP_NULL;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int grank_ = 0, gsize_ = 1;
  std::vector<unsigned char> send_, recv_;
};

}  // namespace

std::unique_ptr<CommBackend> make_mpi_backend() { return std::make_unique<MpiBackend>(); }

}  // namespace nest::profiler
