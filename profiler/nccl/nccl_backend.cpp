// The NCCL backend. One node: this process drives every local GPU, communicators from
// ncclCommInitAll, calls for all devices inside one ncclGroupStart/End. Several processes
// (mpirun, one rank per GPU): the GPU is the rank's index among the ranks of its host; for every
// group the group's first rank creates the ncclUniqueId and broadcasts it over an MPI
// communicator of the group (MPI_Comm_split), then ncclCommInitRank.
//
// Timing: a CUDA event before and after every iteration on every rank's stream, no host
// synchronisation between iterations; per rank the median, the slowest rank's median counts.
// While waiting the host polls ncclCommGetAsyncError and gives up after --timeout-s: the
// communicators are aborted (ncclCommAbort) and the error names the group, collective and size.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <cuda_runtime.h>
#include <nccl.h>

#include "check.cuh"
#include "device_data.hpp"
#include "nccl_check.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/harness.hpp"
#if NEST_PROFILER_HAVE_MPI
#include "../mpi/mpi_check.hpp"
#include "../mpi/mpi_world.hpp"
#endif

namespace nest::profiler {

std::unique_ptr<OperatorRunner> make_cublaslt_runner(int device);

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

namespace {

std::string this_host() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

std::string version_text(int v) {  // CUDA: 12040 -> 12.4
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

struct Local {
  int device = 0;
  int grank = 0, gsize = 1;
  ncclComm_t comm = nullptr;
  bool aborted = false;
  cudaStream_t stream = nullptr;
  void* send = nullptr;
  void* recv = nullptr;
  unsigned long long* d_wrong = nullptr;
  std::vector<cudaEvent_t> start, stop;
};

class NcclBackend final : public CommBackend {
 public:
  NcclBackend() {
#if NEST_PROFILER_HAVE_MPI
    if (launched_by_mpi()) {
      world_ = std::make_unique<MpiWorld>();
      if (world_->size() <= 1) world_.reset();
    }
#endif
    const int count = cuda_device_count();
    if (count == 0)
      fail(Error(ExitCode::Runtime, "--backend nccl: no CUDA device on " + this_host() + " (use --backend mpi without GPUs)"));
    host_ = this_host();
    if (multi()) {
#if NEST_PROFILER_HAVE_MPI
      // Launchers that give each rank its own GPU (SLURM --gpus-per-task, a per-rank
      // CUDA_VISIBLE_DEVICES) leave every rank one visible device, its device 0; otherwise the
      // ranks of a host share its GPUs, one each, by local rank (SLURM_LOCALID, else the rank
      // among those on the same host).
      int local = world_->local_rank();
      if (const char* id = std::getenv("SLURM_LOCALID"); id && *id) local = std::atoi(id);
      if (count == 1) local = 0;
      if (local >= count)
        fail(Error(ExitCode::BadInput, "--backend nccl: " + host_ + " runs more ranks than its " + std::to_string(count) +
                                           " visible GPUs (start one rank per GPU)"));
      devices_ = {local};
      hosts_ = world_->hosts();
      // Every rank's GPU name, for the machine block.
      cudaDeviceProp prop{};
      NEST_CUDA_CHECK(cudaGetDeviceProperties(&prop, local));
      char mine[256] = {};
      std::snprintf(mine, sizeof mine, "%s", prop.name);
      std::vector<char> all(static_cast<std::size_t>(world_->size()) * sizeof mine);
      NEST_MPI_CHECK(MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, MPI_COMM_WORLD));
      for (int r = 0; r < world_->size(); ++r) gpu_names_.emplace_back(all.data() + static_cast<std::size_t>(r) * sizeof mine);
#endif
    } else {
      for (int d = 0; d < count; ++d) {
        devices_.push_back(d);
        hosts_.push_back(host_);
        cudaDeviceProp prop{};
        NEST_CUDA_CHECK(cudaGetDeviceProperties(&prop, d));
        gpu_names_.emplace_back(prop.name);
      }
    }
  }

  ~NcclBackend() override { release(); }

  std::string name() const override { return "nccl"; }
  std::vector<std::string> rank_hosts() const override { return hosts_; }
  bool leader() const override {
#if NEST_PROFILER_HAVE_MPI
    if (world_) return world_->rank() == 0;
#endif
    return true;
  }
  Json machine() const override {
    std::vector<std::string> distinct;
    for (const auto& h : hosts_)
      if (std::find(distinct.begin(), distinct.end(), h) == distinct.end()) distinct.push_back(h);
    Json devices = Json::array();
    for (std::size_t r = 0; r < hosts_.size(); ++r)
      devices.push_back({{"rank", r}, {"host", hosts_[r]}, {"kind", "gpu"}, {"name", gpu_names_[r]}});
    return {{"hosts", distinct}, {"ranks", hosts_.size()}, {"rank_hosts", hosts_}, {"devices", devices}};
  }
  Json software() const override {
    int driver = 0, runtime = 0, nccl = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    ncclGetVersion(&nccl);
    Json s = {{"backend", "nccl"},
              {"cuda_driver", version_text(driver)},
              {"cuda_runtime", version_text(runtime)},
              {"nccl", std::to_string(nccl / 10000) + "." + std::to_string(nccl / 100 % 100) + "." + std::to_string(nccl % 100)},
              {"nccl_headers", std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." + std::to_string(NCCL_PATCH)}};
#if NEST_PROFILER_HAVE_MPI
    if (world_) s["mpi"] = world_->library_version();
#endif
    return s;
  }
  std::string timing_method() const override {
    return "CUDA events before and after each iteration on each rank's stream, no host synchronisation between iterations";
  }
  double default_max_bytes() const override { return kGiB; }
  bool polls_timeout() const override { return true; }
  void broadcast(std::string& data) override {
#if NEST_PROFILER_HAVE_MPI
    if (world_) world_->broadcast(data);
#else
    (void)data;
#endif
  }
  bool any(bool flag) override {
#if NEST_PROFILER_HAVE_MPI
    if (world_) return world_->any(flag);
#endif
    return flag;
  }
  void barrier() override {
#if NEST_PROFILER_HAVE_MPI
    if (world_) world_->barrier();
#endif
  }

  void open_group(const GroupSpec& g, std::size_t max_bytes, DType dtype) override {
    group_ = &g;
    const std::size_t elem = dtype_bytes(dtype);
    const std::size_t alloc = (max_bytes / elem + static_cast<std::size_t>(g.size) + 16) * elem;
    if (!multi()) {
      for (const auto& set : g.sets) {
        std::vector<ncclComm_t> comms(set.size());
        NEST_NCCL_CHECK(ncclCommInitAll(comms.data(), static_cast<int>(set.size()), set.data()));
        for (std::size_t i = 0; i < set.size(); ++i) {
          Local l;
          l.device = set[i];
          l.grank = static_cast<int>(i);
          l.gsize = static_cast<int>(set.size());
          l.comm = comms[i];
          locals_.push_back(l);
        }
      }
    } else {
#if NEST_PROFILER_HAVE_MPI
      int color = -1, key = 0;
      for (std::size_t s = 0; s < g.sets.size(); ++s) {
        const auto it = std::find(g.sets[s].begin(), g.sets[s].end(), world_->rank());
        if (it != g.sets[s].end()) {
          color = static_cast<int>(s);
          key = static_cast<int>(it - g.sets[s].begin());
        }
      }
      gcomm_ = world_->split(color, key);
      if (gcomm_ != MPI_COMM_NULL) {
        Local l;
        l.device = devices_[0];
        NEST_MPI_CHECK(MPI_Comm_rank(gcomm_, &l.grank));
        NEST_MPI_CHECK(MPI_Comm_size(gcomm_, &l.gsize));
        ncclUniqueId id;
        if (l.grank == 0) NEST_NCCL_CHECK(ncclGetUniqueId(&id));
        NEST_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, gcomm_));
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        NEST_NCCL_CHECK(ncclCommInitRank(&l.comm, l.gsize, id, l.grank));
        locals_.push_back(l);
      }
#endif
    }
    for (auto& l : locals_) {
      NEST_CUDA_CHECK(cudaSetDevice(l.device));
      NEST_CUDA_CHECK(cudaStreamCreateWithFlags(&l.stream, cudaStreamNonBlocking));
      NEST_CUDA_CHECK(cudaMalloc(&l.send, alloc));
      NEST_CUDA_CHECK(cudaMalloc(&l.recv, alloc));
      NEST_CUDA_CHECK(cudaMalloc(&l.d_wrong, sizeof(unsigned long long)));
    }
  }

  std::vector<RankTiming> measure(const Measurement& m) override {
    std::vector<RankTiming> mine;
    const bool bf16 = m.dtype == DType::BF16;
    const CollectiveCounts& c = m.counts;
    for (auto& l : locals_) {
      NEST_CUDA_CHECK(cudaSetDevice(l.device));
      device::fill_input(l.send, bf16, c.send, l.grank, l.gsize, l.stream);
      NEST_CUDA_CHECK(cudaGetLastError());
      ensure_events(l, m.iters);
    }
    for (int i = 0; i < m.warmup; ++i) launch(m);
    wait(m);
    for (int i = 0; i < m.iters; ++i) {
      for (auto& l : locals_) {
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        NEST_CUDA_CHECK(cudaEventRecord(l.start[static_cast<std::size_t>(i)], l.stream));
      }
      launch(m);
      for (auto& l : locals_) {
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        NEST_CUDA_CHECK(cudaEventRecord(l.stop[static_cast<std::size_t>(i)], l.stream));
      }
    }
    wait(m);
    std::vector<std::vector<double>> times(locals_.size());
    for (std::size_t k = 0; k < locals_.size(); ++k)
      for (int i = 0; i < m.iters; ++i) {
        float ms = 0;
        NEST_CUDA_CHECK(cudaEventElapsedTime(&ms, locals_[k].start[static_cast<std::size_t>(i)],
                                             locals_[k].stop[static_cast<std::size_t>(i)]));
        times[k].push_back(ms * 1e-3);
      }
    std::vector<std::int64_t> wrong(locals_.size(), -1);
    if (m.check) {
      for (auto& l : locals_) {
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        device::fill_poison(l.recv, bf16, c.recv, l.stream);
        NEST_CUDA_CHECK(cudaMemsetAsync(l.d_wrong, 0, sizeof(unsigned long long), l.stream));
      }
      launch(m);
      for (auto& l : locals_) {
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        device::count_wrong(l.recv, bf16, m.collective, l.grank, l.gsize, c.count, c.recv, l.d_wrong, l.stream);
        NEST_CUDA_CHECK(cudaGetLastError());
      }
      wait(m);
      for (std::size_t k = 0; k < locals_.size(); ++k) {
        unsigned long long w = 0;
        NEST_CUDA_CHECK(cudaSetDevice(locals_[k].device));
        NEST_CUDA_CHECK(cudaMemcpy(&w, locals_[k].d_wrong, sizeof w, cudaMemcpyDeviceToHost));
        wrong[k] = static_cast<std::int64_t>(w);
      }
    }
    for (std::size_t k = 0; k < locals_.size(); ++k) mine.push_back(summarize(times[k], wrong[k]));
#if NEST_PROFILER_HAVE_MPI
    if (world_) return world_->gather(mine.empty() ? RankTiming{} : mine[0], !mine.empty());
#endif
    return mine;
  }

  void close_group() override {
    release();
    group_ = nullptr;
  }

  OperatorRunner* operators() override {
    if (!leader()) return nullptr;
    if (!runner_) runner_ = make_cublaslt_runner(devices_[0]);
    return runner_.get();
  }

  [[noreturn]] void abort(const Error& e) override { fail(e); }

 private:
  bool multi() const {
#if NEST_PROFILER_HAVE_MPI
    return world_ != nullptr;
#else
    return false;
#endif
  }

  [[noreturn]] void fail(const Error& e) {
#if NEST_PROFILER_HAVE_MPI
    if (world_) world_->abort(e);
#endif
    throw e;
  }

  void ensure_events(Local& l, int iters) {
    while (static_cast<int>(l.start.size()) < iters) {
      cudaEvent_t a, b;
      NEST_CUDA_CHECK(cudaEventCreate(&a));
      NEST_CUDA_CHECK(cudaEventCreate(&b));
      l.start.push_back(a);
      l.stop.push_back(b);
    }
  }

  void launch(const Measurement& m) {
    const ncclDataType_t dt = m.dtype == DType::BF16 ? ncclBfloat16 : ncclFloat32;
    const std::size_t elem = dtype_bytes(m.dtype);
    const std::size_t count = m.counts.count;
    NEST_NCCL_CHECK(ncclGroupStart());
    for (auto& l : locals_) {
      if (!multi()) NEST_CUDA_CHECK(cudaSetDevice(l.device));
      switch (m.collective) {
        case Collective::AllReduce:
          NEST_NCCL_CHECK(ncclAllReduce(l.send, l.recv, count, dt, ncclSum, l.comm, l.stream));
          break;
        case Collective::AllGather:
          NEST_NCCL_CHECK(ncclAllGather(l.send, l.recv, count, dt, l.comm, l.stream));
          break;
        case Collective::ReduceScatter:
          NEST_NCCL_CHECK(ncclReduceScatter(l.send, l.recv, count, dt, ncclSum, l.comm, l.stream));
          break;
        case Collective::AllToAll:
          for (int p = 0; p < l.gsize; ++p) {
            const std::size_t off = static_cast<std::size_t>(p) * count * elem;
            NEST_NCCL_CHECK(ncclSend(static_cast<char*>(l.send) + off, count, dt, p, l.comm, l.stream));
            NEST_NCCL_CHECK(ncclRecv(static_cast<char*>(l.recv) + off, count, dt, p, l.comm, l.stream));
          }
          break;
        case Collective::SendRecv:
          NEST_NCCL_CHECK(ncclSend(l.send, count, dt, send_peer(l.grank, l.gsize), l.comm, l.stream));
          NEST_NCCL_CHECK(ncclRecv(l.recv, count, dt, recv_peer(l.grank, l.gsize), l.comm, l.stream));
          break;
        case Collective::Broadcast:
        case Collective::Reduce:
          throw_runtime("the NCCL backend does not measure " + collective_name(m.collective) + " (import nccl-tests logs)");
      }
    }
    NEST_NCCL_CHECK(ncclGroupEnd());
  }

  // Waits for every stream, polling NCCL's asynchronous errors, within the timeout.
  void wait(const Measurement& m) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      bool done = true;
      for (auto& l : locals_) {
        NEST_CUDA_CHECK(cudaSetDevice(l.device));
        const cudaError_t q = cudaStreamQuery(l.stream);
        if (q == cudaErrorNotReady) {
          done = false;
        } else if (q != cudaSuccess) {
          abort_comms();
          NEST_CUDA_CHECK(q);
        }
        ncclResult_t async = ncclSuccess;
        NEST_NCCL_CHECK(ncclCommGetAsyncError(l.comm, &async));
        if (async != ncclSuccess && async != ncclInProgress) {
          abort_comms();
          throw_runtime("NCCL asynchronous error on rank " + std::to_string(l.grank) + " (GPU " + std::to_string(l.device) +
                        " of " + host_ + "): " + nccl_error_text(async) + "; communicators aborted");
        }
      }
      if (done) return;
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > m.timeout_s) {
        abort_comms();
        throw_runtime("NCCL timeout: not finished after " + std::to_string(static_cast<long>(m.timeout_s)) +
                      " s (--timeout-s) on " + host_ + "; communicators aborted");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void abort_comms() {
    for (auto& l : locals_)
      if (l.comm && !l.aborted) {
        ncclCommAbort(l.comm);
        l.aborted = true;
        l.comm = nullptr;
      }
  }

  void release() {
    for (auto& l : locals_) {
      cudaSetDevice(l.device);
      if (l.comm && !l.aborted) ncclCommDestroy(l.comm);
      for (auto e : l.start) cudaEventDestroy(e);
      for (auto e : l.stop) cudaEventDestroy(e);
      if (l.send) cudaFree(l.send);
      if (l.recv) cudaFree(l.recv);
      if (l.d_wrong) cudaFree(l.d_wrong);
      if (l.stream) cudaStreamDestroy(l.stream);
    }
    locals_.clear();
#if NEST_PROFILER_HAVE_MPI
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (gcomm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&gcomm_);
    gcomm_ = MPI_COMM_NULL;
#endif
  }

#if NEST_PROFILER_HAVE_MPI
  std::unique_ptr<MpiWorld> world_;
  MPI_Comm gcomm_ = MPI_COMM_NULL;
#endif
  std::string host_;
  std::vector<int> devices_;
  std::vector<std::string> hosts_, gpu_names_;
  std::vector<Local> locals_;
  const GroupSpec* group_ = nullptr;
  std::unique_ptr<OperatorRunner> runner_;
};

}  // namespace

std::unique_ptr<CommBackend> make_nccl_backend() { return std::make_unique<NcclBackend>(); }

}  // namespace nest::profiler
