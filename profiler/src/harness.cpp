#include "nest/profiler/harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include "nest/core/stop_signal.hpp"
#include "nest/core/units.hpp"
#include "nest/io/json.hpp"
#include "nest/io/progress_line.hpp"
#include "nest/model/model_config.hpp"
#include "nest/profiler/operators.hpp"
#include "nest/profiler/plot.hpp"

#if NEST_PROFILER_HAVE_MPI
#include <mpi.h>
#endif

namespace nest::profiler {

// ---------------------------------------------------------------- groups, sizes, statistics

std::vector<std::string> emulate_hosts(int ranks, int ranks_per_node) {
  std::vector<std::string> hosts;
  for (int r = 0; r < ranks; ++r) hosts.push_back("node" + std::to_string(r / ranks_per_node));
  return hosts;
}

namespace {

struct HostLayout {
  std::vector<std::string> names;          // in order of first appearance
  std::vector<std::vector<int>> ranks_on;  // ranks of each host, ascending
  int per_host = 0;                        // the fewest ranks any host has
};

HostLayout layout_of(const std::vector<std::string>& rank_hosts) {
  HostLayout h;
  std::map<std::string, std::size_t> index;
  for (std::size_t r = 0; r < rank_hosts.size(); ++r) {
    auto [it, inserted] = index.emplace(rank_hosts[r], h.names.size());
    if (inserted) {
      h.names.push_back(rank_hosts[r]);
      h.ranks_on.emplace_back();
    }
    h.ranks_on[it->second].push_back(static_cast<int>(r));
  }
  h.per_host = h.ranks_on.empty() ? 0 : static_cast<int>(h.ranks_on[0].size());
  for (const auto& v : h.ranks_on) h.per_host = std::min(h.per_host, static_cast<int>(v.size()));
  return h;
}

}  // namespace

std::vector<LevelInfo> plan_levels(const std::vector<std::string>& rank_hosts) {
  const HostLayout h = layout_of(rank_hosts);
  std::vector<LevelInfo> levels = {{"node", std::max(1, h.per_host)}};
  if (h.names.size() >= 2) levels.push_back({"network", h.per_host * static_cast<int>(h.names.size())});
  return levels;
}

std::vector<GroupSpec> plan_groups(const std::vector<std::string>& rank_hosts) {
  const HostLayout h = layout_of(rank_hosts);
  std::vector<GroupSpec> groups;
  std::vector<int> sizes;
  for (int g = 2; g < h.per_host; g *= 2) sizes.push_back(g);
  if (h.per_host >= 2) sizes.push_back(h.per_host);
  for (int g : sizes) {
    GroupSpec s;
    s.level = 0;
    s.name = "node:" + std::to_string(g);
    s.size = g;
    s.members = {g};
    for (const auto& on : h.ranks_on) s.sets.emplace_back(on.begin(), on.begin() + g);
    groups.push_back(s);
  }
  const int hosts = static_cast<int>(h.names.size());
  if (hosts >= 2) {
    GroupSpec s;
    s.level = 1;
    s.name = "hosts:" + std::to_string(hosts);
    s.size = hosts;
    s.members = {1, hosts};
    s.sets.emplace_back();
    for (const auto& on : h.ranks_on) s.sets[0].push_back(on[0]);
    groups.push_back(s);
    if (h.per_host >= 2) {
      GroupSpec a;
      a.level = 1;
      a.size = h.per_host * hosts;
      a.name = "all:" + std::to_string(a.size);
      a.members = {h.per_host, hosts};
      a.sets.emplace_back();
      for (const auto& on : h.ranks_on) a.sets[0].insert(a.sets[0].end(), on.begin(), on.begin() + h.per_host);
      groups.push_back(a);
    }
  }
  return groups;
}

std::vector<std::size_t> sweep_sizes(double min_bytes, double max_bytes, double step_factor) {
  std::vector<std::size_t> out;
  if (!(min_bytes >= 1) || !(max_bytes >= min_bytes) || !(step_factor > 1)) return out;
  for (double s = min_bytes; s <= max_bytes * (1 + 1e-12); s *= step_factor) {
    const auto b = static_cast<std::size_t>(std::floor(s + 1e-9));
    if (out.empty() || out.back() != b) out.push_back(b);
  }
  return out;
}

namespace {

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(sorted.size() - 1, lo + 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

}  // namespace

RankTiming summarize(std::vector<double> t, std::int64_t wrong) {
  RankTiming r;
  r.wrong = wrong;
  if (t.empty()) return r;
  std::sort(t.begin(), t.end());
  r.median_s = quantile(t, 0.5);
  r.p10_s = quantile(t, 0.1);
  r.p90_s = quantile(t, 0.9);
  r.min_s = t.front();
  r.max_s = t.back();
  return r;
}

CollectiveSample aggregate(const std::vector<RankTiming>& ranks, Collective c, int group_size, const CollectiveCounts& counts) {
  CollectiveSample x;
  x.bytes = static_cast<double>(counts.bytes);
  x.count = static_cast<double>(counts.count);
  if (ranks.empty()) return x;
  const RankTiming* slowest = &ranks[0];
  x.fastest_rank_time_s = ranks[0].median_s;
  x.min_s = ranks[0].min_s;
  x.max_s = ranks[0].max_s;
  bool checked = false;
  std::int64_t wrong = 0;
  for (const auto& r : ranks) {
    if (r.median_s > slowest->median_s) slowest = &r;
    x.fastest_rank_time_s = std::min(x.fastest_rank_time_s, r.median_s);
    x.min_s = std::min(x.min_s, r.min_s);
    x.max_s = std::max(x.max_s, r.max_s);
    if (r.wrong >= 0) {
      checked = true;
      wrong += r.wrong;
    }
  }
  x.time_s = slowest->median_s;
  x.spread = slowest->median_s > 0 ? (slowest->p90_s - slowest->p10_s) / slowest->median_s : 0;
  x.wrong = checked ? wrong : -1;
  if (x.time_s > 0) {
    x.algbw_GBps = x.bytes / x.time_s / kGB;
    x.busbw_GBps = x.algbw_GBps * kernels::bus_bandwidth_factor(c, group_size);
  }
  return x;
}

std::size_t dtype_bytes(DType d) { return d == DType::BF16 ? 2 : 4; }
std::string dtype_name(DType d) { return d == DType::BF16 ? "bf16" : "fp32"; }

std::string Measurement::describe() const {
  return "group " + (group ? group->name + " (level " + std::to_string(group->level) + ")" : std::string("?")) + ", " +
         collective_name(collective) + ", " + std::to_string(counts.bytes) + " bytes";
}

// ---------------------------------------------------------------- options

void validate_options(const ProfileOptions& o) {
  if (o.backend != "auto" && o.backend != "nccl" && o.backend != "mpi")
    throw_bad_input("--backend", "must be auto, nccl or mpi (got '" + o.backend + "')");
  const auto avail = available_backends();
  if (o.backend != "auto" && std::find(avail.begin(), avail.end(), o.backend) == avail.end())
    throw_bad_input("--backend " + o.backend,
                    "this build of nest has no " + o.backend + " backend (" +
                        (o.backend == "nccl" ? std::string("built without CUDA or NCCL") : std::string("built without MPI")) +
                        ")");
  if (!(o.min_bytes >= 1)) throw_bad_input("--min-bytes", "must be at least 1");
  if (o.max_bytes != 0 && !(o.max_bytes >= o.min_bytes)) throw_bad_input("--max-bytes", "must not be smaller than --min-bytes");
  if (!(o.step_factor > 1)) throw_bad_input("--step-factor", "must be greater than 1");
  if (o.iters < 1) throw_bad_input("--iters", "must be at least 1");
  if (o.warmup < 0) throw_bad_input("--warmup", "must not be negative");
  if (!(o.timeout_s > 0)) throw_bad_input("--timeout-s", "must be positive");
  if (o.ranks_per_node < 0) throw_bad_input("--ranks-per-node", "must not be negative");
  if (o.out.empty()) throw_bad_input("--out", "must name a file");
  if (o.collectives.empty() && !o.ops) throw_bad_input("--collectives", "nothing to measure (no collectives and no --ops)");
  for (Collective c : o.collectives)
    if (!used_for_planning(c))
      throw_bad_input("--collectives", collective_name(c) +
                                           " is not measured by nest profile (no plan uses it); import nccl-tests' " +
                                           nccl_tests_name(c) + "_perf logs with `nest profile import` instead");
  if (o.ops) {
    if (o.model.empty()) throw_bad_input("--ops", "needs --model");
    if (o.tp.empty()) throw_bad_input("--tp", "needs at least one width");
    if (o.microbatch.empty()) throw_bad_input("--microbatch", "needs at least one size");
    if (o.seq_len < 1) throw_bad_input("--seq-len", "must be a positive integer");
    if (o.ops_iters < 1) throw_bad_input("--ops-iters", "must be at least 1");
    if (o.ops_warmup < 0) throw_bad_input("--ops-warmup", "must not be negative");
    if (o.peak_tflops < 0) throw_bad_input("--peak-tflops", "must not be negative");
    if (o.peak_hbm_GBps < 0) throw_bad_input("--peak-hbm-GBps", "must not be negative");
  } else if (!o.model.empty()) {
    throw_bad_input("--model", "is only used with --ops");
  }
}

// ---------------------------------------------------------------- watchdog

namespace {

// A rank that times out is usually the one that noticed a hang the others are stuck in: under
// MPI, MPI_Abort ends every rank of the job (and mpirun) instead of leaving them blocked in a
// collective; alone, the process exits.
[[noreturn]] void abort_all_ranks(int code) {
#if NEST_PROFILER_HAVE_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  _exit(code);
}

}  // namespace

struct Watchdog::State {
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false, quit = false;
  std::chrono::steady_clock::time_point deadline;
  double seconds = 0;
  std::string what;
  std::thread thread;
};

Watchdog::Watchdog() : s_(std::make_unique<State>()) {
  State* s = s_.get();
  s->thread = std::thread([s] {
    std::unique_lock<std::mutex> lock(s->mu);
    while (!s->quit) {
      if (!s->armed) {
        s->cv.wait(lock);
        continue;
      }
      if (s->cv.wait_until(lock, s->deadline) == std::cv_status::timeout && s->armed && !s->quit &&
          std::chrono::steady_clock::now() >= s->deadline) {
        std::fprintf(stderr, "nest: %s: timed out after %g s (--timeout-s); aborting\n", s->what.c_str(), s->seconds);
        std::fflush(stderr);
        abort_all_ranks(static_cast<int>(ExitCode::Runtime));
      }
    }
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->quit = true;
  }
  s_->cv.notify_all();
  s_->thread.join();
}

void Watchdog::arm(double seconds, const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->armed = true;
    s_->seconds = seconds;
    s_->what = what;
    s_->deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  s_->cv.notify_all();
}

void Watchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->armed = false;
  }
  s_->cv.notify_all();
}

// ---------------------------------------------------------------- the run

namespace {

struct Task {
  int group = -1;  // collective task: index into the groups
  Collective collective = Collective::AllReduce;
  CollectiveCounts counts;
  int op = -1;  // operator task: index into the operator tasks
  std::string key;
  std::string label;  // for the progress line
};

std::string human_bytes(double b) {
  char buf[32];
  if (b >= kGiB)
    std::snprintf(buf, sizeof buf, "%.3g GiB", b / kGiB);
  else if (b >= 1048576.0)
    std::snprintf(buf, sizeof buf, "%.3g MiB", b / 1048576.0);
  else if (b >= 1024.0)
    std::snprintf(buf, sizeof buf, "%.3g KiB", b / 1024.0);
  else
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

std::string series_key(const std::string& group, Collective c, double bytes) {
  return group + "/" + collective_name(c) + "/" + std::to_string(static_cast<long long>(bytes));
}

Json run_config(const ProfileOptions& o, const CommBackend& be, double max_bytes, int ranks, int ranks_per_node) {
  Json colls = Json::array();
  for (Collective c : o.collectives) colls.push_back(collective_name(c));
  return {{"backend", be.name()},
          {"collectives", colls},
          {"dtype", dtype_name(o.dtype)},
          {"element_bytes", dtype_bytes(o.dtype)},
          {"min_bytes", o.min_bytes},
          {"max_bytes", max_bytes},
          {"step_factor", o.step_factor},
          {"warmup_iters", o.warmup},
          {"iters", o.iters},
          {"check", o.check},
          {"statistic", "median over the timed iterations of each rank; time_s is the slowest rank's median"},
          {"timing", be.timing_method()},
          {"ranks", ranks},
          {"ranks_per_node", ranks_per_node},
          {"ranks_per_node_emulated", o.ranks_per_node > 0},
          {"timeout_s", o.timeout_s}};
}

// First key whose value differs, ignoring keys that may change between a run and its resume.
std::string first_difference(const Json& a, const Json& b, const std::set<std::string>& ignore) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (ignore.count(it.key())) continue;
    if (!b.contains(it.key())) return it.key();
    if (b[it.key()] != it.value()) return it.key();
  }
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!ignore.count(it.key()) && !a.contains(it.key())) return it.key();
  return "";
}

void insert_sample(CollectiveSeries& s, const CollectiveSample& x) {
  auto pos = std::upper_bound(s.samples.begin(), s.samples.end(), x.bytes,
                              [](double b, const CollectiveSample& y) { return b < y.bytes; });
  s.samples.insert(pos, x);
}

void print_summary(const Profile& p, const std::string& out, long measured_total, const std::string& backend) {
  std::set<std::string> hosts;
  int ranks = 0;
  if (p.machine.contains("rank_hosts"))
    for (const auto& h : p.machine["rank_hosts"]) {
      hosts.insert(h.get<std::string>());
      ++ranks;
    }
  std::printf("nest profile: wrote %s (%s; %ld measurements; backend %s; %d ranks on %zu hosts)\n", out.c_str(),
              p.complete ? "complete" : "incomplete", measured_total, backend.c_str(), ranks, hosts.size());
  for (const auto& f : p.fits) {
    if (f.collective != "all") continue;
    const auto& l = p.levels[static_cast<std::size_t>(f.level)];
    std::printf(
        "  level %d %-8s (%d ranks/domain): %.4g GB/s per GPU, latency %.3g us per step  (fit error max %.1f%%, rms %.1f%%, %d "
        "samples)\n",
        f.level, l.name.c_str(), l.group_size, f.fit.bandwidth / kGB, f.fit.latency_s / kMicro, 100 * f.fit.max_rel_error,
        100 * f.fit.rms_rel_error, f.fit.samples);
  }
  if (p.operators.present && p.operators.gemm_fit.samples > 0) {
    const auto& g = p.operators.gemm_fit;
    std::printf("  gemm: efficiency %.3f * x/(x + %.4g), peak %.4g TFLOP/s (%s); fit error max %.1f%%, rms %.1f%%\n", g.e_max,
                g.x_half, g.peak_flops / kTera, g.peak_source.c_str(), 100 * g.max_rel_error, 100 * g.rms_rel_error);
    std::printf("  memory: %.4g GB/s copy bandwidth\n", p.operators.hbm_bandwidth / kGB);
  }
}

}  // namespace

int run_profile(const ProfileOptions& o, CommBackend& be) {
  const bool leader = be.leader();
  const std::vector<std::string> real_hosts = be.rank_hosts();
  const int ranks = static_cast<int>(real_hosts.size());
  const std::vector<std::string> hosts = o.ranks_per_node > 0 ? emulate_hosts(ranks, o.ranks_per_node) : real_hosts;
  const std::vector<LevelInfo> levels = plan_levels(hosts);
  const std::vector<GroupSpec> groups = plan_groups(hosts);
  const double max_bytes = o.max_bytes > 0 ? o.max_bytes : std::max(o.min_bytes, be.default_max_bytes());
  const std::vector<std::size_t> sizes = sweep_sizes(o.min_bytes, max_bytes, o.step_factor);
  const std::size_t elem = dtype_bytes(o.dtype);

  // ---- the work list (identical on every process)
  std::vector<Task> tasks;
  for (std::size_t gi = 0; gi < groups.size(); ++gi)
    for (Collective c : o.collectives) {
      std::size_t last = 0;
      for (std::size_t bytes : sizes) {
        const CollectiveCounts counts = collective_counts(c, bytes, groups[gi].size, elem);
        if (counts.bytes == 0 || counts.bytes == last) continue;
        last = counts.bytes;
        Task t;
        t.group = static_cast<int>(gi);
        t.collective = c;
        t.counts = counts;
        t.key = series_key(groups[gi].name, c, static_cast<double>(counts.bytes));
        t.label = groups[gi].name + " " + collective_name(c) + " " + human_bytes(static_cast<double>(counts.bytes));
        tasks.push_back(t);
      }
    }
  const std::size_t collective_tasks = tasks.size();
  std::string status;  // "" or "<exit code> <message>", decided by the leader
  if (collective_tasks == 0 && !o.ops)
    status =
        "2 --backend " + be.name() + ": nothing to measure with " + std::to_string(ranks) + " rank" + (ranks == 1 ? "" : "s") +
        (be.name() == "mpi" ? " (run under mpirun -np 2 or more, or pass --ops)" : " (needs two or more GPUs, or pass --ops)");

  // ---- the leader prepares the profile: fresh, or the one to resume
  Profile prof;
  std::vector<OperatorTask> op_tasks;
  OperatorRunner* runner = nullptr;
  if (leader && status.empty()) {
    try {
      Json config = run_config(o, be, max_bytes, ranks, levels[0].group_size);
      Json ops_config = nullptr;
      if (o.ops) {
        runner = be.operators();
        if (!runner) throw_runtime("--ops: the " + be.name() + " backend has no operator runner on this machine");
        const ModelConfig model = load_model(o.model);
        const double max_gflop = o.ops_max_gflop >= 0 ? o.ops_max_gflop : runner->default_max_gflop();
        op_tasks = plan_operator_tasks(model, o.tp, o.microbatch, o.seq_len, max_gflop * 1e9, runner->default_max_copy_bytes());
        const double peak_hbm = o.peak_hbm_GBps > 0 ? o.peak_hbm_GBps : runner->peak_hbm_bandwidth() / kGB;
        ops_config = {{"model", model.name},
                      {"seq_len", o.seq_len},
                      {"tp", o.tp},
                      {"microbatch", o.microbatch},
                      {"dtype", runner->dtype()},
                      {"device", runner->device()},
                      {"max_gflop_per_gemm", max_gflop},
                      {"max_copy_bytes", runner->default_max_copy_bytes()},
                      {"warmup_iters", o.ops_warmup},
                      {"iters", o.ops_iters},
                      {"statistic", "median over the timed iterations"},
                      {"peak_tflops", o.peak_tflops > 0 ? Json(o.peak_tflops) : Json(nullptr)},
                      {"peak_hbm_GBps", peak_hbm > 0 ? Json(peak_hbm) : Json(nullptr)}};
      }
      config["ops"] = ops_config;
      Json machine = be.machine();
      bool resumed = false;
      if (o.resume && std::filesystem::exists(o.out)) {
        prof = read_profile(o.out);
        const std::string diff = first_difference(config, prof.config, {"timeout_s"});
        if (!diff.empty())
          throw_bad_input("--resume " + o.out, "was measured with different settings (config field '" + diff +
                                                   "'); run without --resume to start over");
        if (prof.machine.value("rank_hosts", Json()) != machine.value("rank_hosts", Json()))
          throw_bad_input("--resume " + o.out, "was measured on other hosts or rank counts; run without --resume to start over");
        resumed = true;
      }
      if (!resumed) {
        prof = Profile{};
        prof.created = utc_now_iso8601();
        prof.machine = machine;
        prof.software = be.software();
        prof.software["nest"] = "0.1.0";
        if (!o.command_line.empty()) prof.software["command_line"] = o.command_line;
        prof.config = config;
        prof.levels = levels;
        prof.operators.present = o.ops;
        if (o.ops) prof.operators.config = ops_config;
      }
      prof.complete = false;
      write_profile(o.out, prof);
    } catch (const Error& e) {
      status = std::to_string(static_cast<int>(e.code())) + " " + e.what();
    }
  }
  be.broadcast(status);
  if (!status.empty()) {
    // The leader reports it and exits with its code; the other ranks exit 0, as for an
    // interrupted run below: one exiting non-zero first makes mpirun abort the job and kill the
    // leader before it has said why (a resume with other settings, seen in CI).
    const int code = std::stoi(status.substr(0, status.find(' ')));
    if (leader) throw Error(static_cast<ExitCode>(code), status.substr(status.find(' ') + 1));
    return 0;
  }
  for (std::size_t i = 0; i < op_tasks.size(); ++i) {
    Task t;
    t.op = static_cast<int>(i);
    t.key = op_tasks[i].key();
    t.label = t.key;
    tasks.push_back(t);
  }

  // ---- what is already done (resume), decided by the leader
  std::string done(tasks.size(), '0');
  if (leader) {
    std::set<std::string> have;
    for (const auto& s : prof.collectives)
      for (const auto& x : s.samples) have.insert(series_key(s.group, s.collective, x.bytes));
    for (const auto& g : prof.operators.gemm) have.insert(g.key);
    for (const auto& g : prof.operators.attention) have.insert(g.key);
    for (const auto& m : prof.operators.memory) have.insert(m.key);
    for (std::size_t i = 0; i < tasks.size(); ++i)
      if (have.count(tasks[i].key)) done[i] = '1';
  }
  std::string done_collectives = done.substr(0, collective_tasks);
  be.broadcast(done_collectives);

  const long todo = static_cast<long>(std::count(done.begin(), done.end(), '0'));
  long measured = 0;
  bool interrupted = false;
  ProgressLine progress_line("nest profile", leader && o.progress);
  auto progress = [&](const std::string& label) { progress_line.update(measured, todo, label); };

  StopSignals signals;
  Watchdog watchdog;
  int open = -1;
  try {
    for (std::size_t i = 0; i < collective_tasks; ++i) {
      if (done_collectives[i] == '1') continue;
      const bool stop = be.any(stop_signal() != 0 || (o.stop_after >= 0 && measured >= o.stop_after));
      if (stop) {
        interrupted = true;
        break;
      }
      const Task& t = tasks[i];
      if (open != t.group) {
        if (open >= 0) be.close_group();
        const GroupSpec& g = groups[static_cast<std::size_t>(t.group)];
        watchdog.arm(2 * o.timeout_s + 30, "setting up group " + g.name + " (level " + std::to_string(g.level) + ")");
        try {
          be.open_group(g, static_cast<std::size_t>(max_bytes), o.dtype);
        } catch (const Error& e) {
          watchdog.disarm();
          throw Error(e.code(), "setting up group " + g.name + ": " + e.what());
        }
        watchdog.disarm();
        open = t.group;
      }
      Measurement m;
      m.group = &groups[static_cast<std::size_t>(t.group)];
      m.collective = t.collective;
      m.counts = t.counts;
      m.dtype = o.dtype;
      m.warmup = o.warmup;
      m.iters = o.iters;
      m.timeout_s = o.timeout_s;
      m.check = o.check;
      progress(t.label);
      watchdog.arm(be.polls_timeout() ? 2 * o.timeout_s + 30 : o.timeout_s, m.describe());
      std::vector<RankTiming> r;
      try {
        r = be.measure(m);
      } catch (const Error& e) {
        watchdog.disarm();
        throw Error(e.code(), m.describe() + ": " + e.what());
      }
      watchdog.disarm();
      if (leader) {
        const GroupSpec& g = *m.group;
        CollectiveSeries* s = prof.find_series(g.name, t.collective);
        if (!s) {
          CollectiveSeries ns;
          ns.collective = t.collective;
          ns.level = g.level;
          ns.group = g.name;
          ns.group_size = g.size;
          ns.members = g.members;
          ns.concurrent_groups = static_cast<int>(g.sets.size());
          for (int rk : g.sets[0]) ns.hosts.push_back(hosts[static_cast<std::size_t>(rk)]);
          ns.dtype = dtype_name(o.dtype);
          ns.source = "measured";
          prof.collectives.push_back(ns);
          s = &prof.collectives.back();
        }
        insert_sample(*s, aggregate(r, t.collective, g.size, t.counts));
        write_profile(o.out, prof);
      }
      ++measured;
    }
    if (open >= 0) be.close_group();
  } catch (const Error& e) {
    progress_line.clear();
    be.abort(e);
  }

  // ---- operators, on the leader only (the other processes wait at the barrier)
  if (leader && !interrupted && o.ops) {
    std::map<std::string, double> seconds_by_shape;  // identical shapes are measured once
    try {
      for (std::size_t i = collective_tasks; i < tasks.size(); ++i) {
        if (done[i] == '1') continue;
        if (stop_signal() != 0 || (o.stop_after >= 0 && measured >= o.stop_after)) {
          interrupted = true;
          break;
        }
        const OperatorTask& ot = op_tasks[static_cast<std::size_t>(tasks[i].op)];
        progress(tasks[i].label);
        watchdog.arm(o.timeout_s, "operator " + ot.key());
        if (ot.kind == OperatorTask::Kind::Memory) {
          MemorySample s = ot.memory;
          s.time_s = runner->copy_seconds(s.bytes / 2, o.ops_warmup, o.ops_iters);
          s.bandwidth = s.bytes / s.time_s;
          prof.operators.memory.push_back(s);
        } else {
          GemmSample g = ot.gemm;
          const std::string shape =
              std::to_string(g.m) + "x" + std::to_string(g.n) + "x" + std::to_string(g.k) + "x" + std::to_string(g.batch);
          auto it = seconds_by_shape.find(shape);
          if (it == seconds_by_shape.end())
            it = seconds_by_shape.emplace(shape, runner->gemm_seconds(g.m, g.n, g.k, g.batch, o.ops_warmup, o.ops_iters)).first;
          g.time_s = it->second;
          g.flops =
              2.0 * static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) * static_cast<double>(g.batch);
          g.flops_per_s = g.flops / g.time_s;
          (ot.kind == OperatorTask::Kind::Gemm ? prof.operators.gemm : prof.operators.attention).push_back(g);
        }
        watchdog.disarm();
        write_profile(o.out, prof);
        ++measured;
      }
    } catch (const Error& e) {
      watchdog.disarm();
      progress_line.clear();
      be.abort(e);
    }
  }
  std::string flag = interrupted ? "1" : "0";
  be.broadcast(flag);
  interrupted = flag == "1";
  be.barrier();

  // An interrupted run is reported by the leader, which saves the profile, says how to resume and
  // exits 3. The other ranks exit 0: one exiting non-zero first makes mpirun abort the job and
  // kill the leader before it has said why (seen under load in CI).
  if (!leader) return 0;
  progress_line.clear();
  prof.complete = !interrupted;
  write_profile(o.out, prof);
  if (interrupted) {
    const std::string why = stop_signal() != 0 ? "interrupted by signal " + std::to_string(stop_signal())
                                               : "stopped by NEST_PROFILE_STOP_AFTER=" + std::to_string(o.stop_after);
    throw_runtime(why + " after " + std::to_string(measured) + " of " + std::to_string(todo) + " measurements; " + o.out +
                  " is saved and marked incomplete; run the same command with --resume to finish it");
  }
  if (!o.svg.empty()) write_file_atomic(o.svg, bandwidth_svg(prof, o.out));
  print_summary(prof, o.out, static_cast<long>(tasks.size()), be.name());
  for (const std::string& w : profile_warnings(prof)) std::fprintf(stderr, "nest: warning: %s: %s\n", o.out.c_str(), w.c_str());
  return 0;
}

int run_profile(const ProfileOptions& o) {
  validate_options(o);
  std::unique_ptr<CommBackend> be = make_backend(o);
  return run_profile(o, *be);
}

}  // namespace nest::profiler
