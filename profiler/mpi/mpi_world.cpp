#include "mpi_world.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "mpi_check.hpp"

namespace nest::profiler {

MpiWorld::MpiWorld() {
  int flag = 0;
  MPI_Initialized(&flag);
  if (!flag) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      throw_runtime("MPI_Init_thread failed (is the MPI runtime installed and the job started correctly?)");
    initialized_here_ = true;
  }
  NEST_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  NEST_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  NEST_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  NEST_MPI_CHECK(MPI_Get_processor_name(name, &len));
  std::vector<char> all(static_cast<std::size_t>(size_) * MPI_MAX_PROCESSOR_NAME);
  NEST_MPI_CHECK(
      MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD));
  for (int r = 0; r < size_; ++r) {
    const char* p = all.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    hosts_.emplace_back(p, strnlen(p, MPI_MAX_PROCESSOR_NAME));
  }
}

MpiWorld::~MpiWorld() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (initialized_here_ && !finalized) MPI_Finalize();
}

int MpiWorld::local_rank() const {
  int local = 0;
  for (int r = 0; r < rank_; ++r) local += hosts_[static_cast<std::size_t>(r)] == hosts_[static_cast<std::size_t>(rank_)];
  return local;
}

std::string MpiWorld::library_version() const {
  char v[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  MPI_Get_library_version(v, &len);
  std::string s(v, static_cast<std::size_t>(len));
  const auto nl = s.find_first_of("\r\n,");
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  return s + " (MPI " + std::to_string(major) + "." + std::to_string(minor) + ")";
}

void MpiWorld::broadcast(std::string& data) {
  unsigned long long n = data.size();
  NEST_MPI_CHECK(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD));
  data.resize(static_cast<std::size_t>(n));
  if (n > 0) NEST_MPI_CHECK(MPI_Bcast(data.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD));
}

bool MpiWorld::any(bool flag) {
  int in = flag ? 1 : 0, out = 0;
  NEST_MPI_CHECK(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
  return out != 0;
}

void MpiWorld::barrier() { NEST_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }

MPI_Comm MpiWorld::split(int color, int key) {
  MPI_Comm c = MPI_COMM_NULL;
  NEST_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, color < 0 ? MPI_UNDEFINED : color, key, &c));
  return c;
}

std::vector<RankTiming> MpiWorld::gather(const RankTiming& mine, bool participating) {
  constexpr int kFields = 7;
  const double mine_packed[kFields] = {
      participating ? 1.0 : 0.0, mine.median_s, mine.min_s, mine.max_s, mine.p10_s, mine.p90_s, static_cast<double>(mine.wrong)};
  std::vector<double> all(rank_ == 0 ? static_cast<std::size_t>(size_) * kFields : 0);
  NEST_MPI_CHECK(MPI_Gather(mine_packed, kFields, MPI_DOUBLE, all.data(), kFields, MPI_DOUBLE, 0, MPI_COMM_WORLD));
  std::vector<RankTiming> out;
  for (int r = 0; rank_ == 0 && r < size_; ++r) {
    const double* p = all.data() + static_cast<std::size_t>(r) * kFields;
    if (p[0] == 0) continue;
    RankTiming t;
    t.median_s = p[1];
    t.min_s = p[2];
    t.max_s = p[3];
    t.p10_s = p[4];
    t.p90_s = p[5];
    t.wrong = static_cast<std::int64_t>(p[6]);
    out.push_back(t);
  }
  return out;
}

std::vector<std::string> MpiWorld::gather(const std::string& mine) {
  const int n = static_cast<int>(mine.size());
  std::vector<int> sizes(rank_ == 0 ? static_cast<std::size_t>(size_) : 0);
  NEST_MPI_CHECK(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD));
  std::vector<int> offsets(sizes.size());
  long long total = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  if (total > std::numeric_limits<int>::max()) throw_runtime("MPI gather of more than 2 GiB");
  std::vector<char> all(static_cast<std::size_t>(total));
  NEST_MPI_CHECK(MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD));
  std::vector<std::string> out;
  for (std::size_t r = 0; r < sizes.size(); ++r) out.emplace_back(all.data() + offsets[r], static_cast<std::size_t>(sizes[r]));
  return out;
}

void MpiWorld::send(int dest, int tag, long long value) {
  NEST_MPI_CHECK(MPI_Send(&value, 1, MPI_LONG_LONG, dest, tag, MPI_COMM_WORLD));
}

long long MpiWorld::receive(int source, int tag) {
  long long value = 0;
  NEST_MPI_CHECK(MPI_Recv(&value, 1, MPI_LONG_LONG, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
  return value;
}

bool MpiWorld::poll(int tag, int& source, long long& value) {
  int arrived = 0;
  MPI_Status status;
  NEST_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &arrived, &status));
  if (!arrived) return false;
  source = status.MPI_SOURCE;
  value = receive(source, tag);
  return true;
}

void MpiWorld::abort(const Error& e) {
  if (size_ <= 1) throw e;
  std::fprintf(stderr, "nest: %s\n", e.what());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, static_cast<int>(e.code()));
  std::_Exit(static_cast<int>(e.code()));
}

}  // namespace nest::profiler
