// nest sweep: the best plan at every point of a cross product of inputs (GPU count, batch,
// sequence length, GPU, network levels, framework, precision, model), one CSV row per point in
// the axes' order, the Pareto front of throughput against GPUs (or cost per token) marked and
// drawn (--out FILE.csv, --svg FILE). Each point is one `nest plan` (same flags, same search) on
// the threads of this process; under mpirun the points go to whichever rank asks first and are
// gathered on rank 0, which alone writes. Finished points go to a checkpoint beside --out as they come, so
// Ctrl-C keeps them and --resume runs only the rest.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/parallel_errors.hpp"
#include "nest/core/stop_signal.hpp"
#include "nest/core/units.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/io/progress_line.hpp"
#include "nest/io/text.hpp"
#include "nest/framework/framework.hpp"
#include "nest/model/model_config.hpp"
#include "nest/profiler/mpi_launch.hpp"
#include "nest/report/figures.hpp"
#include "nest/search/backend.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/gathering_backend.hpp"
#include "nest/search/domain_share.hpp"
#include "nest/search/planner.hpp"
#include "search_flags.hpp"
#include "sweep_rows.hpp"
#if NEST_PROFILER_HAVE_MPI
#include "mpi_world.hpp"
#endif

namespace nest::cli {

namespace {

// Megatron-Core's recomputation modules of a selective plan, space-separated (a CSV cell).
std::string recompute_modules_cell(const Parallelism& p) {
  if (p.recompute != Recompute::Selective) return "";
  std::string cell = recompute_modules_text(p.recompute_modules);
  std::replace(cell.begin(), cell.end(), ',', ' ');
  return cell;
}

// The plan's flags, with --out the CSV (default: standard output) and --svg the Pareto front.
struct SweepFlags {
  SearchFlags search;
  std::vector<std::string> vary;
  double gpu_hour_price = 0;
  bool resume = false;
  bool search_time = true;    // the search_s column
  int points_per_launch = 1;  // points whose DP batches go to the backend together (GatheringBackend)
};

// More points than a sweep could finish, or hold in memory, refused at once.
constexpr std::size_t kMaxPoints = std::size_t{1} << 24;

enum class Key {
  Gpus,
  GlobalBatch,
  SeqLen,
  Gpu,
  GpuPowerLimit,
  Framework,
  Precision,
  Model,
  DocumentLength,
  LevelBandwidth,
  LevelLatency,
  LevelSize,
  ClusterField
};

struct Axis {
  std::string name;  // as given: "gpus", "levels.1.bandwidth_GBps"
  Key key = Key::Gpus;
  int level = 0;      // levels.N.*
  std::string field;  // cluster.PATH: the file's field (docs/inputs.md §8, --cluster-set)
  std::vector<std::string> values;
};

constexpr const char* kKeys =
    "gpus, global_batch, seq_len, gpu, gpu_power_limit_W, framework, precision, model, document_length, "
    "levels.N.bandwidth_GBps, levels.N.latency_s, levels.N.size, cluster.PATH";

// One integer or number of an axis, checked when the axes are read (before any point runs).
std::int64_t axis_integer(const Axis& a, const std::string& v, std::int64_t lo, std::int64_t hi) {
  std::size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (v.empty() || used != v.size() || x < lo || x > hi)
    throw_bad_input("--vary " + a.name, "'" + v + "' is not an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return x;
}

double axis_number(const Axis& a, const std::string& v, double lo, double hi) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (...) {
    used = 0;
  }
  if (v.empty() || used != v.size() || !std::isfinite(x) || x < lo || x > hi) {
    std::ostringstream ss;
    ss << "'" << v << "' is not a number from " << lo << " to " << hi;
    throw_bad_input("--vary " + a.name, ss.str());
  }
  return x;
}

Axis parse_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw_bad_input("--vary", "'" + text + "' is not KEY=v1,v2,... (keys: " + kKeys + ")");
  Axis a;
  a.name = text.substr(0, eq);
  a.values = split(text.substr(eq + 1), ',');
  const std::string& k = a.name;
  if (k == "gpus") {
    a.key = Key::Gpus;
  } else if (k == "global_batch") {
    a.key = Key::GlobalBatch;
  } else if (k == "seq_len") {
    a.key = Key::SeqLen;
  } else if (k == "gpu") {
    a.key = Key::Gpu;
  } else if (k == "gpu_power_limit_W") {
    a.key = Key::GpuPowerLimit;
  } else if (k == "framework") {
    a.key = Key::Framework;
  } else if (k == "precision") {
    a.key = Key::Precision;
  } else if (k == "model") {
    a.key = Key::Model;
  } else if (k == "document_length") {
    a.key = Key::DocumentLength;
  } else if (k.rfind("levels.", 0) == 0) {
    const auto dot = k.find('.', 7);
    if (dot == std::string::npos) throw_bad_input("--vary", "'" + k + "' is not levels.N.FIELD");
    a.level = static_cast<int>(axis_integer(a, k.substr(7, dot - 7), 0, kernels::kMaxLevels - 1));
    const std::string field = k.substr(dot + 1);
    if (field == "bandwidth_GBps")
      a.key = Key::LevelBandwidth;
    else if (field == "latency_s")
      a.key = Key::LevelLatency;
    else if (field == "size")
      a.key = Key::LevelSize;
    else
      throw_bad_input("--vary", "'" + k + "': a level's bandwidth_GBps, latency_s or size");
  } else if (k.rfind("cluster.", 0) == 0 && k.size() > 8) {
    a.key = Key::ClusterField;  // values checked against the cluster file in read_axes
    a.field = k.substr(8);
  } else {
    throw_bad_input("--vary", "unknown key '" + k + "' (keys: " + kKeys + ")");
  }
  // Values are checked now, so a typo fails before hours of sweeping.
  for (const std::string& v : a.values) switch (a.key) {
      case Key::Gpus:
        axis_integer(a, v, 1, limits::kMaxGpus);
        break;
      case Key::GlobalBatch:
        axis_integer(a, v, 1, limits::kMaxGlobalBatch);
        break;
      case Key::SeqLen:
        axis_integer(a, v, 1, limits::kMaxSeqLen);
        break;
      case Key::LevelBandwidth:
        axis_number(a, v, 1e-9, limits::kMaxBandwidth / kGB);
        break;
      case Key::LevelLatency:
        axis_number(a, v, 0, limits::kMaxLatency);
        break;
      case Key::LevelSize:
        axis_integer(a, v, 1, limits::kMaxGpus);
        break;
      case Key::Gpu:
        (void)load_gpu(v);
        break;
      case Key::GpuPowerLimit:
        axis_number(a, v, 1, limits::kMaxGpuPowerWatts);
        break;
      case Key::Framework:
        (void)parse_framework(v, "--vary framework");
        break;
      case Key::Precision:
        (void)parse_precision(v, "--vary precision");
        break;
      case Key::Model:
        (void)load_model(v);
        break;
      case Key::DocumentLength:
        axis_integer(a, v, 0, limits::kMaxSeqLen);
        break;
      case Key::ClusterField:
        break;
    }
  return a;
}

// A point's value of a cluster.PATH axis, as --cluster-set PATH=VALUE would set it.
ClusterSetting cluster_setting_of(const Axis& a, const std::string& value) { return {a.field, value, "--vary " + a.name}; }

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

// The CSV's columns after the axes'. search_s is the search's wall time, the only column that
// differs between two runs of one sweep (--no-search-time leaves it out).
const std::vector<std::string> kResultColumns = {"status",
                                                 "step_time_s",
                                                 "tokens_per_s",
                                                 "tokens_per_s_per_gpu",
                                                 "mfu",
                                                 "gpus_used",
                                                 "gpus_per_domain",
                                                 "tp",
                                                 "pp",
                                                 "dp",
                                                 "cp",
                                                 "ep",
                                                 "sp",
                                                 "microbatch",
                                                 "num_microbatches",
                                                 "zero",
                                                 "recompute",
                                                 "recompute_modules",
                                                 "schedule",
                                                 "virtual_stages",
                                                 "precision",
                                                 "max_memory_GiB",
                                                 "cost_per_mtok_usd",
                                                 "pareto",
                                                 "search_s",
                                                 "note"};

// "pareto" among kResultColumns ("status" is the first): a row without a plan leaves the
// columns between them empty.
const std::size_t kParetoOffset =
    static_cast<std::size_t>(std::find(kResultColumns.begin(), kResultColumns.end(), "pareto") - kResultColumns.begin());

std::vector<std::string> csv_header(const std::vector<Axis>& axes, bool search_time) {
  std::vector<std::string> h;
  for (const Axis& a : axes) h.push_back(a.name);
  for (const std::string& c : kResultColumns)
    if (search_time || c != "search_s") h.push_back(c);
  return h;
}

// The axes' values at point `index` of the cross product (the last axis varies fastest).
std::vector<std::size_t> point_at(const std::vector<Axis>& axes, std::size_t index) {
  std::vector<std::size_t> at(axes.size(), 0);
  for (std::size_t i = axes.size(); i-- > 0;) {
    at[i] = index % axes[i].values.size();
    index /= axes[i].values.size();
  }
  return at;
}

std::vector<std::string> axis_values(const std::vector<Axis>& axes, std::size_t index) {
  const std::vector<std::size_t> at = point_at(axes, index);
  std::vector<std::string> v;
  for (std::size_t i = 0; i < axes.size(); ++i) v.push_back(axes[i].values[at[i]]);
  return v;
}

// Axes that change only what the enumeration of slices does not read: the links' speeds
// (placement and the frameworks' rules read the cluster's structure, its level sizes; docs/sweep.md,
// "Shared enumerations"; SearchSpace.EnumerationDoesNotReadLinkSpeeds checks it).
bool keeps_the_space(const Axis& a) { return a.key == Key::LevelBandwidth || a.key == Key::LevelLatency; }

// Points whose axes differ only in those share one enumeration: the key is every other axis's
// value (the flags are the sweep's, the same for every point).
std::string space_key(const std::vector<Axis>& axes, std::size_t index) {
  const std::vector<std::size_t> at = point_at(axes, index);
  std::string key = "sweep";
  for (std::size_t i = 0; i < axes.size(); ++i)
    if (!keeps_the_space(axes[i])) key += "\x1f" + std::to_string(i) + "=" + std::to_string(at[i]);
  return key;
}

// The order the points run in (the output is in the axes' order whatever it is): as the axes'
// order, but with the axes that keep the space varying fastest, so that the points sharing an
// enumeration run one after another while it is in the cache.
void order_for_shared_spaces(const std::vector<Axis>& axes, std::vector<std::size_t>& todo) {
  if (std::none_of(axes.begin(), axes.end(), keeps_the_space)) return;
  auto work_rank = [&](std::size_t index) {
    const std::vector<std::size_t> at = point_at(axes, index);
    std::size_t rank = 0;
    for (int pass = 0; pass < 2; ++pass)
      for (std::size_t i = 0; i < axes.size(); ++i)
        if (keeps_the_space(axes[i]) == (pass == 1)) rank = rank * axes[i].values.size() + at[i];
    return rank;
  };
  std::vector<std::pair<std::size_t, std::size_t>> ranked;
  ranked.reserve(todo.size());
  for (std::size_t i : todo) ranked.emplace_back(work_rank(i), i);
  std::sort(ranked.begin(), ranked.end());
  for (std::size_t k = 0; k < todo.size(); ++k) todo[k] = ranked[k].second;
}

// The flags with point `index`'s values.
SearchFlags point_flags(const SearchFlags& search, const std::vector<Axis>& axes, std::size_t index) {
  const std::vector<std::size_t> at = point_at(axes, index);
  SearchFlags sf = search;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const std::string& v = axes[i].values[at[i]];
    switch (axes[i].key) {
      case Key::Gpus:
        sf.problem.gpus = std::stol(v);
        break;
      case Key::GlobalBatch:
        sf.problem.global_batch = std::stol(v);
        break;
      case Key::SeqLen:
        sf.problem.seq_len = std::stol(v);
        break;
      case Key::Framework:
        sf.problem.framework = v;
        break;
      case Key::Precision:
        sf.problem.precision = v;
        break;
      case Key::Model:
        sf.problem.model = v;
        break;
      case Key::DocumentLength:
        sf.problem.document_length = std::stol(v);
        break;
      case Key::GpuPowerLimit:
        sf.problem.gpu_power_limit = std::stod(v);
        break;
      case Key::ClusterField:
        sf.problem.outages.settings.push_back(cluster_setting_of(axes[i], v));
        break;
      default:
        break;  // applied to the problem below
    }
  }
  return sf;
}

// The problem of point `index` (its flags from point_flags): built from the flags, then the
// axes that change the cluster's GPU and levels applied. Bad input throws, as make_problem does.
Problem point_problem(const SearchFlags& sf, const std::vector<Axis>& axes, std::size_t index) {
  const std::vector<std::size_t> at = point_at(axes, index);
  Problem p = make_problem(sf.problem);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const Axis& a = axes[i];
    const std::string& v = a.values[at[i]];
    if (a.key == Key::Gpu) {
      p.cluster.gpu = load_gpu(v);
      if (p.outages.gpu_power_limit != 0) set_gpu_power_limit(p.cluster.gpu, p.outages.gpu_power_limit, "--gpu-power-limit");
    }
    if (a.key == Key::LevelBandwidth || a.key == Key::LevelLatency || a.key == Key::LevelSize) {
      if (a.level >= static_cast<int>(p.cluster.levels.size()))
        throw_bad_input("--vary " + a.name, p.cluster.name + " has " + std::to_string(p.cluster.levels.size()) + " levels");
      NetworkLevel& l = p.cluster.levels[static_cast<std::size_t>(a.level)];
      if (a.key == Key::LevelBandwidth) l.bandwidth = std::stod(v) * kGB;
      if (a.key == Key::LevelLatency) l.latency = std::stod(v);
      if (a.key == Key::LevelSize) {
        l.size = std::stoll(v);
        if (l.host_gpus > 0 && l.size % l.host_gpus != 0)
          throw_bad_input("--vary " + a.name,
                          v + " GPUs are not whole hosts of " + std::to_string(l.host_gpus) + " (" + p.cluster.name + ")");
        // the axis sets the job's share of each domain: nothing left to search (search/domain_share.hpp)
        if (a.level == 0) p.outages.settings.push_back(ClusterSetting{"levels.0.size", v, "--vary " + a.name});
      }
    }
  }
  (void)p.cluster.domain_sizes(p.gpus);
  return p;
}

// Points whose bounds one backend call makes with their space at most: each keeps 9 bytes per
// slice with the space (1.4 MB for llama3-70b's 160,000), and a sweep may give a space hundreds
// of link speeds; 16 covers the common axes (the 10,000-point sweep's 8 bandwidths).
constexpr std::size_t kBoundPointsPerCall = 16;

// Every point that shares point `index`'s space (its values but those of the axes that keep the
// space, which take every value), `index` among them, in the axes' order (the order they run in:
// order_for_shared_spaces).
std::vector<std::size_t> points_of_space(const std::vector<Axis>& axes, std::size_t index) {
  std::vector<std::size_t> out = {0};
  const std::vector<std::size_t> at = point_at(axes, index);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    std::vector<std::size_t> next;
    const std::size_t n = axes[i].values.size();
    for (std::size_t base : out) {
      if (keeps_the_space(axes[i]))
        for (std::size_t v = 0; v < n; ++v) next.push_back(base * n + v);
      else
        next.push_back(base * n + at[i]);
    }
    out = std::move(next);
  }
  return out;
}

// One point: the flags with the point's values, the problem built from them, one search.
// gather: the backend this point's search shares with the points searched beside it
// (--points-per-launch), or null for a backend of its own.
SweepRow run_point(const SweepFlags& f, const SearchFlags& search, const std::vector<Axis>& axes, std::size_t index,
                   SearchSpaceCache& spaces, GatheringBackend* gather) {
  const SearchFlags sf = point_flags(search, axes, index);
  SweepRow row;
  row.index = index;
  row.cells = axis_values(axes, index);
  std::string status, note;
  Plan plan;
  Prediction pred;
  double cost_per_mtok = 0;          // USD per million tokens (0: no price)
  std::int64_t gpus_per_domain = 0;  // of each level-0 domain, as the point's plan takes them
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Problem p = point_problem(sf, axes, index);
    PlannerOptions opts = make_planner_options(sf);
    opts.progress = false;
    // A point whose cluster leaves the share of each domain open searches it, as nest plan does
    // (search/domain_share.hpp): one search per share, on spaces and bounds of its own.
    const bool shares = !domain_share_choices(p).empty();
    opts.space_cache = shares ? nullptr : &spaces;
    opts.space_key = space_key(axes, index);
    // The lower bounds of the points of the space that run from this one on (the order they
    // run in), up to kBoundPointsPerCall of them, in one backend call when it is made (several
    // points per launch on a device); a point whose problem cannot be made is left out.
    opts.point = shares ? -1 : static_cast<long long>(index);
    if (!shares)
      opts.space_points = [&search, &axes, index](const SearchSpace& space) {
        std::vector<SpacePoint> out;
        for (const std::size_t m : points_of_space(axes, index)) {
          if (m < index || out.size() >= kBoundPointsPerCall) continue;
          try {
            const AnalyticCostSource member(point_problem(point_flags(search, axes, m), axes, m));
            out.push_back({static_cast<long long>(m), member.bound_point_tables(space)});
          } catch (const Error& e) {
            if (e.code() != ExitCode::BadInput) throw;
          }
        }
        return out;
      };
    if (!sf.problem.precision.empty())
      opts.space.precision = parse_precision_list(sf.problem.precision, "--precision", p.cluster.gpu);
    opts.dp_backend = gather;
    std::optional<GatheringBackend::Participation> taking_part;
    if (gather) taking_part.emplace(*gather);
    SearchResult res;
    if (shares) {
      DomainShareSearch found = search_domain_share(p, opts);
      p = std::move(found.problem);
      res = std::move(found.result);
    } else {
      res = search_plans(AnalyticCostSource(p), opts);
    }
    taking_part.reset();
    const std::int64_t domain = p.cluster.levels.front().size;
    gpus_per_domain = domain > 0 ? std::min(domain, p.gpus) : p.gpus;
    if (res.top.empty()) {
      status = "infeasible";
      // Nothing searched is not nothing fitting: the framework's rules or the options left no slice.
      note = res.stats.slices == 0 ? "no slice of the search space is consistent with this point (nest plan names the nearest "
                                     "splits of the GPUs and what each violates)"
                                   : "no plan fits";
    } else {
      status = "ok";
      plan = res.top.front().plan;
      pred = evaluate_plan(p, plan);
      // A plan its framework's launch script cannot be written for says so, as nest plan does.
      if (const std::vector<LaunchRefusal> why = framework(p.options.framework).launch_refusals(p, plan); !why.empty())
        note = "nest export refuses this plan: " + why.front().message +
               (why.size() > 1 ? " (and " + std::to_string(why.size() - 1) + " more: nest plan lists them)" : "");
      if (f.gpu_hour_price > 0 && pred.tokens_per_s > 0)
        cost_per_mtok = f.gpu_hour_price * static_cast<double>(pred.gpus_used) / 3600.0 / pred.tokens_per_s * 1e6;
    }
  } catch (const Error& e) {
    if (e.code() != ExitCode::BadInput) throw;
    status = "invalid";  // this point's combination (e.g. more GPUs than the cluster has)
    note = e.what();
  }
  const double search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const bool by_cost = f.gpu_hour_price > 0;
  std::vector<std::string>& c = row.cells;
  c.push_back(status);
  if (status == "ok") {
    const Parallelism& p = plan.par;
    double peak = 0;
    for (const StageReport& s : pred.stages) peak = std::max(peak, s.memory.total());
    const std::vector<std::string> values = {number(pred.step_time),
                                             number(pred.tokens_per_s),
                                             number(pred.tokens_per_s / static_cast<double>(pred.gpus_used)),
                                             number(pred.mfu),
                                             std::to_string(pred.gpus_used),
                                             std::to_string(gpus_per_domain),
                                             std::to_string(p.tp),
                                             std::to_string(p.pp),
                                             std::to_string(p.dp),
                                             std::to_string(p.cp),
                                             std::to_string(p.ep),
                                             std::string(p.sp ? "on" : "off"),
                                             std::to_string(p.microbatch),
                                             std::to_string(p.num_microbatches),
                                             std::to_string(p.zero),
                                             to_string(p.recompute),
                                             recompute_modules_cell(p),
                                             to_string(p.schedule),
                                             std::to_string(p.virtual_stages),
                                             to_string(p.precision),
                                             number(peak / kGiB),
                                             by_cost ? number(cost_per_mtok) : ""};
    c.insert(c.end(), values.begin(), values.end());
    row.ok = true;
    row.front_x = by_cost ? cost_per_mtok : static_cast<double>(pred.gpus_used);
    row.front_y = pred.tokens_per_s;
  } else {
    c.resize(c.size() + kParetoOffset - 1);  // step_time_s .. cost_per_mtok_usd
  }
  c.push_back("no");  // pareto: decided once every point has run
  if (f.search_time) c.push_back(number(search_s));
  c.push_back(note);
  return row;
}

// The processes a sweep runs on: this one, or the ranks of mpirun (when nest is built with MPI).
class SweepRanks {
 public:
  SweepRanks() {
    const int launched = profiler::mpi_launch_size();
    if (launched <= 1) return;
#if NEST_PROFILER_HAVE_MPI
    world_ = std::make_unique<profiler::MpiWorld>();
#else
    // Every rank would run every point and write the same files: refuse instead.
    throw_bad_input("nest sweep", "started by an MPI launcher with " + std::to_string(launched) +
                                      " processes, but this nest was built without MPI (NEST_MPI=OFF or no MPI found); "
                                      "run it as one process, or rebuild with MPI to spread the points over ranks");
#endif
  }

#if NEST_PROFILER_HAVE_MPI
  int rank() const { return world_ ? world_->rank() : 0; }
  int size() const { return world_ ? world_->size() : 1; }
  // Processes of this sweep on this host, which share its cores.
  int on_this_host() const {
    if (!world_) return 1;
    const auto& h = world_->hosts();
    return static_cast<int>(std::count(h.begin(), h.end(), h[static_cast<std::size_t>(rank())]));
  }
  void broadcast(std::string& data) {
    if (world_) world_->broadcast(data);
  }
  bool any(bool flag) { return world_ ? world_->any(flag) : flag; }
  // Every rank's string on rank 0, in rank order.
  std::vector<std::string> gather(const std::string& mine) { return world_ ? world_->gather(mine) : std::vector{mine}; }
  // A failure on one rank ends them all (one process: rethrown).
  [[noreturn]] void abort(const Error& e) {
    if (world_) world_->abort(e);
    throw e;
  }
  void send(int dest, int tag, long long value) { world_->send(dest, tag, value); }
  long long receive(int source, int tag) { return world_->receive(source, tag); }
  bool poll(int tag, int& source, long long& value) { return world_ && world_->poll(tag, source, value); }

 private:
  std::unique_ptr<profiler::MpiWorld> world_;
#else
  int rank() const { return 0; }
  int size() const { return 1; }
  int on_this_host() const { return 1; }
  void broadcast(std::string&) {}
  bool any(bool flag) { return flag; }
  std::vector<std::string> gather(const std::string& mine) { return {mine}; }
  [[noreturn]] void abort(const Error& e) { throw e; }
  // One process has no other rank to talk to.
  void send(int, int, long long) {}
  long long receive(int, int) { return -1; }
  bool poll(int, int&, long long&) { return false; }
#endif
};

// The flags as given, less those that do not change any row (where the output goes, threads,
// resuming), as the one-line JSON object the checkpoint keeps for --resume to compare.
std::string sweep_settings(const CLI::App& sub) {
  Json j = Json::object();
  for (const CLI::Option* o : sub.get_options()) {
    if (o->count() == 0 || o->get_lnames().empty()) continue;
    const std::string name = "--" + o->get_lnames().front();
    if (name == "--out" || name == "--svg" || name == "--resume" || name == "--threads" || name == "--verbose" ||
        name == "--points-per-launch")
      continue;
    j[name] = o->results();
  }
  return j.dump();
}

// NEST_SWEEP_STOP_AFTER=N (tests): stop as Ctrl-C would once N points of this run are done.
long long stop_after_from_environment() {
  const char* v = std::getenv("NEST_SWEEP_STOP_AFTER");
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 10);
  if (*end != '\0' || n < 0) throw_bad_input("NEST_SWEEP_STOP_AFTER", std::string("'") + v + "' is not a point count");
  return n;
}

// Checked before any point runs: bad input fails at once, exit 2.
std::vector<Axis> read_axes(const SweepFlags& f, std::size_t& points) {
  if (!(f.gpu_hour_price >= 0) || !std::isfinite(f.gpu_hour_price))
    throw_bad_input("--gpu-hour-price", "must be a non-negative number");
  if (f.points_per_launch < 1) throw_bad_input("--points-per-launch", "must be at least 1");
  if (f.search.top != 1 || f.search.explain || f.search.json || !f.search.pictures.html.empty() || !f.search.nest_input.empty())
    throw_bad_input("--vary", "a sweep takes the plan search's flags but not --top, --explain, --json, --html or --nest-input");
  if (f.resume && (f.search.out.empty() || f.search.out == "-"))
    throw_bad_input("--resume", "needs --out FILE.csv (the checkpoint of an interrupted sweep is FILE.csv.partial)");
  std::vector<Axis> axes;
  for (const std::string& v : f.vary) {
    axes.push_back(parse_axis(v));
    for (std::size_t i = 0; i + 1 < axes.size(); ++i)
      if (axes[i].name == axes.back().name) throw_bad_input("--vary", "'" + axes.back().name + "' is given twice");
  }
  // A cluster field's values, each set alone on the cluster as given: the file's reader judges
  // them (a value that fails only beside another axis's makes that point `invalid`).
  for (const Axis& a : axes)
    if (a.key == Key::ClusterField)
      for (const std::string& v : a.values) {
        Outages o;
        o.settings = cluster_settings(f.search.problem.cluster_set);
        o.settings.push_back(cluster_setting_of(a, v));
        (void)load_cluster(f.search.problem.cluster, o);
      }
  points = 1;
  for (const Axis& a : axes) {
    points *= a.values.size();
    if (points > kMaxPoints) throw_bad_input("--vary", "more than 2^24 points");
  }
  return axes;
}

// Rank 0, once every point has run: the front over all of them, the CSV and the figure.
void write_results(const SweepFlags& f, const std::vector<Axis>& axes, std::size_t points, std::vector<SweepRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const SweepRow& a, const SweepRow& b) { return a.index < b.index; });
  for (std::size_t i = 0; i < points; ++i)
    if (i >= rows.size() || rows[i].index != i)
      throw_runtime("nest sweep: no row for point " + std::to_string(i) + " (a bug in gathering the rows)");
  // The front: most tokens/s for the fewest GPUs (or the lowest cost per token).
  const bool by_cost = f.gpu_hour_price > 0;
  ParetoChart chart;
  chart.title = "nest sweep: throughput against " + std::string(by_cost ? "cost per token" : "GPUs");
  chart.x_label = by_cost ? "USD per million tokens" : "GPUs";
  chart.y_label = "tokens/s";
  chart.minimize_x = true;
  chart.minimize_y = false;
  chart.log_x = !by_cost;
  std::vector<std::size_t> ok;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r].ok) continue;
    ok.push_back(r);
    std::string label;
    for (std::size_t i = 0; i < axes.size(); ++i) label += (i ? " " : "") + axes[i].name + "=" + rows[r].cells[i];
    chart.points.push_back({rows[r].front_x, rows[r].front_y, label});
  }
  const std::size_t pareto_column = axes.size() + kParetoOffset;
  for (std::size_t i : pareto_front(chart.points, chart.minimize_x, chart.minimize_y)) rows[ok[i]].cells[pareto_column] = "yes";

  std::string csv = csv_line(csv_header(axes, f.search_time));
  for (const SweepRow& r : rows) csv += csv_line(r.cells);
  write_file_atomic(f.search.out.empty() ? "-" : f.search.out, csv);
  if (!f.search.pictures.svg.empty()) write_file_atomic(f.search.pictures.svg, pareto_svg(chart));
}

// GB of device memory each of `at_once` searches on the device at the same time may use: an
// equal share of the budget, the one given or the backend's default share of the free memory.
double device_memory_share(double given_gb, double free_bytes, std::size_t at_once) {
  const double budget_gb = given_gb > 0 ? given_gb : kernels::dp::kDefaultDeviceMemoryShare * free_bytes / kGB;
  return budget_gb / static_cast<double>(std::max<std::size_t>(1, at_once));
}

std::string failure_of(const Error& e) { return std::to_string(static_cast<int>(e.code())) + " " + e.what(); }

// Points per thread in a round. A round ends when its points are all handed out and run, and
// only then do the ranks agree whether to stop and rank 0 flush the checkpoint; within it the
// points go to whichever thread asks first, so a round waits for its slowest point only once
// per kPointsPerThreadPerRound points a thread runs.
constexpr std::size_t kPointsPerThreadPerRound = 8;

// A round's dispatch messages: the other ranks ask rank 0 for a point (or say they stop asking),
// rank 0 gives a position of the round, or kNoPoint when none is left.
constexpr int kTagAsk = 0x4e53, kTagGive = 0x4e54;
constexpr long long kAskPoint = 1, kAskNoMore = 0, kNoPoint = -1;

struct RoundRun {
  std::string records;       // this rank's rows, encoded
  long long points_run = 0;  // by this rank
  long long handed_out = 0;  // by rank 0: every rank's points of the round
};

// Which drawer runs which point of a round. The round's positions come in runs that share one
// enumeration (group_of: a group number per position, equal within a run); a drawer keeps
// drawing from its run, so that its cache makes the space once: it starts the next run no
// drawer has started when its own is done, and only when every run has been started does it
// help with the run that has the most points left. Drawers are rank 0's threads, one each (so
// that two threads do not start on one space together, one waiting while the other makes it),
// and the other ranks, one each (their threads share what their main thread is given).
class RoundDispatch {
 public:
  RoundDispatch(const std::vector<int>& group_of, long long limit, int drawers)
      : current_(static_cast<std::size_t>(drawers), -1) {
    for (long long p = 0; p < limit; ++p)
      if (p == 0 || group_of[static_cast<std::size_t>(p)] != group_of[static_cast<std::size_t>(p - 1)]) {
        next_.push_back(p);
        end_.push_back(p + 1);
      } else {
        end_.back() = p + 1;
      }
  }
  // A position for drawer `d`, or kNoPoint when none is left.
  long long draw(int d) {
    const std::lock_guard<std::mutex> lock(mutex_);
    int& g = current_[static_cast<std::size_t>(d)];
    if (g < 0 || next_[static_cast<std::size_t>(g)] == end_[static_cast<std::size_t>(g)]) {
      g = -1;
      if (fresh_ < next_.size()) {
        g = static_cast<int>(fresh_++);
      } else {
        long long most = 0;
        for (std::size_t k = 0; k < next_.size(); ++k)
          if (end_[k] - next_[k] > most) {
            most = end_[k] - next_[k];
            g = static_cast<int>(k);
          }
      }
      if (g < 0) return kNoPoint;
    }
    ++handed_;
    return next_[static_cast<std::size_t>(g)]++;
  }
  long long handed() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return handed_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<long long> next_, end_;  // per run: the next position not handed out, one past its last
  std::vector<int> current_;           // per drawer: the run it draws from (-1: none yet)
  std::size_t fresh_ = 0;              // runs before this one have been started
  long long handed_ = 0;
};

// Runs positions [0, len) of a round, each as soon as a thread of any rank is free for it: a rank
// whose points turn out cheap runs more of them (dynamic balancing). Rank 0 holds the dispatch
// (RoundDispatch); its threads draw from it directly and its main thread answers the other
// ranks. On the other ranks the main thread asks rank 0 for a point whenever one of its threads
// waits for one. Only main threads call MPI (MPI_THREAD_FUNNELED). No point is handed out after a
// stop signal, or past `cap` (the points this round may still run under NEST_SWEEP_STOP_AFTER).
RoundRun run_round(SweepRanks& ranks, int threads, long long len, long long cap, const std::vector<int>& group_of,
                   const std::function<std::string(long long)>& run_point_at) {
  RoundRun out;
  const bool leader = ranks.rank() == 0;
  const long long limit = std::min(len, cap);
  // Drawers: rank 0's threads 0 .. threads-1, then rank r as threads + r - 1.
  RoundDispatch dispatch(group_of, std::max(0LL, limit), threads + ranks.size() - 1);
  auto draw = [&](int drawer) -> long long {  // rank 0 only
    if (stop_signal() != 0) return kNoPoint;
    return dispatch.draw(drawer);
  };
  auto rank_drawer = [&](int rank) { return threads + rank - 1; };
  std::mutex m;
  std::condition_variable cv;
  std::deque<long long> given;  // other ranks: the points rank 0 gave, not yet taken
  int waiting = 0;              // other ranks: threads waiting for a point
  bool closed = false;
  ParallelErrors errors;
  auto take = [&](int thread) -> long long {
    if (leader) return draw(thread);
    std::unique_lock<std::mutex> lock(m);
    ++waiting;
    cv.notify_all();
    cv.wait(lock, [&] { return !given.empty() || closed; });
    --waiting;
    if (given.empty()) return kNoPoint;
    const long long p = given.front();
    given.pop_front();
    return p;
  };
  auto run_one = [&](long long p) {
    errors.run([&] {
      std::string record = run_point_at(p);
      std::lock_guard<std::mutex> lock(m);
      out.records += record;
      ++out.points_run;
    });
  };
  // Rank 0's main thread: answers every other rank until each has been told that nothing is
  // left, or has said that it stops asking.
  auto serve = [&] {
    int done = 0;
    while (done < ranks.size() - 1) {
      int source = 0;
      long long ask = 0;
      if (!ranks.poll(kTagAsk, source, ask)) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      if (ask == kAskNoMore) {
        ++done;
        continue;
      }
      const long long p = draw(rank_drawer(source));
      ranks.send(source, kTagGive, p);
      if (p == kNoPoint) ++done;
    }
  };
  // The other ranks' main thread: one point from rank 0 (none after a stop signal).
  auto ask = [&]() -> long long {
    if (stop_signal() != 0) {
      ranks.send(0, kTagAsk, kAskNoMore);
      return kNoPoint;
    }
    ranks.send(0, kTagAsk, kAskPoint);
    return ranks.receive(0, kTagGive);
  };
  // With other ranks the main thread talks to them and `threads` others run points; alone, every
  // thread runs points.
  const bool talks = ranks.size() > 1;
#pragma omp parallel num_threads(threads + (talks ? 1 : 0))
  {
    const bool alone = omp_get_num_threads() == 1;  // an OpenMP thread limit left no other thread
    if (!talks || omp_get_thread_num() != 0) {
      const int thread = omp_get_thread_num() - (talks ? 1 : 0);  // 0 .. threads-1
      for (long long p = take(thread); p != kNoPoint; p = take(thread)) run_one(p);
    } else if (alone) {
      for (long long p = leader ? draw(0) : ask(); p != kNoPoint; p = leader ? draw(0) : ask()) run_one(p);
      if (leader) serve();
    } else if (leader) {
      serve();
    } else {
      // Ask for a point whenever a thread waits for one more than those already given.
      for (;;) {
        {
          std::unique_lock<std::mutex> lock(m);
          cv.wait(lock, [&] { return waiting > static_cast<int>(given.size()); });
        }
        const long long p = ask();
        if (p == kNoPoint) break;
        std::lock_guard<std::mutex> lock(m);
        given.push_back(p);
        cv.notify_all();
      }
      std::lock_guard<std::mutex> lock(m);
      closed = true;
      cv.notify_all();
    }
  }
  errors.rethrow();
  out.handed_out = dispatch.handed();
  return out;
}

int run_sweep(const SweepFlags& f, const CLI::App& sub) {
  // MPI starts first, so that bad input, found on every rank alike, is said once by rank 0.
  SweepRanks ranks;
  const bool leader = ranks.rank() == 0;
  std::string failure;  // "<exit code> <message>"
  std::size_t points = 0;
  std::vector<Axis> axes;
  long long stop_after = -1;
  SearchFlags search = f.search;
  std::size_t points_at_once = 1;
  // --points-per-launch: the backends the points searched at once share, one per that many of
  // this rank's threads (thread t uses the (t / N)-th).
  std::vector<std::unique_ptr<GatheringBackend>> gatherers;
  std::size_t per_launch = 1;
  try {
    axes = read_axes(f, points);
    stop_after = stop_after_from_environment();
    // Ranks sharing a host share its cores. A rank runs as many points at once as it has
    // threads, each search on one thread: the points are independent, while one search's
    // threads wait for each other at every parallel loop. On the CUDA backend each of those
    // threads hands its point's batches to the device on its own stream, so the device works on
    // several points while the threads bound and build the next batches (the 2026-12-04 H200
    // run: one point at a time on all 16 threads left the device idle, 15.5 points/s against
    // 46 on the CPU backend). A point's plan is the same on any number of threads.
    const int threads =
        search.threads > 0 ? search.threads : std::max(1, omp_get_max_threads() / std::max(1, ranks.on_this_host()));
    const BackendChoice backend =
        search.search == "exhaustive" ? BackendChoice{} : choose_backend(make_planner_options(search).backend);
    points_at_once = static_cast<std::size_t>(threads);
    search.threads = 1;
    if (!backend.cuda) search.backend = "cpu";  // decided once, not asked of the CUDA runtime at every point
    // The points on the device at once share its memory budget (--gpu-mem-limit, or 80% of the
    // free memory, as for one search): each search sizes its batches by its own share.
    if (backend.cuda) search.gpu_mem_limit_gb = device_memory_share(search.gpu_mem_limit_gb, backend.free_memory, points_at_once);
    per_launch = std::min(points_at_once, static_cast<std::size_t>(f.points_per_launch));
    if (per_launch > 1 && search.search != "exhaustive")
      for (std::size_t t = 0; t < points_at_once; t += per_launch)
        // A gathered call holds its points' batches at once: their shares of the device memory.
        gatherers.push_back(std::make_unique<GatheringBackend>(make_dp_backend(
            backend, 1, static_cast<std::size_t>(search.gpu_mem_limit_gb * kGB * static_cast<double>(per_launch)))));
  } catch (const Error& e) {
    failure = failure_of(e);
  }
  const std::vector<std::string> header = csv_header(axes, f.search_time);
  const std::string settings = sweep_settings(sub);
  const bool checkpointed = !f.search.out.empty() && f.search.out != "-";
  const std::string checkpoint_path = checkpointed ? SweepCheckpoint::path_for(f.search.out) : "";

  // ---- rank 0 reads what an interrupted run finished and starts the checkpoint afresh (nothing
  // is written before the input is known good); every rank learns the points left, or the error.
  std::vector<SweepRow> rows;  // rank 0: every finished point
  std::unique_ptr<SweepCheckpoint> checkpoint;
  if (leader && failure.empty()) {
    try {
      if (f.resume && std::filesystem::exists(checkpoint_path))
        rows = SweepCheckpoint::read(checkpoint_path, settings, header, points,
                                     [&axes](std::size_t i) { return axis_values(axes, i); });
      if (checkpointed) checkpoint = std::make_unique<SweepCheckpoint>(checkpoint_path, settings, header, rows);
    } catch (const Error& e) {
      failure = failure_of(e);
    }
  }
  for (const std::string& other : ranks.gather(failure))
    if (failure.empty()) failure = other;
  ranks.broadcast(failure);
  if (!failure.empty()) {
    if (!leader) return 0;
    throw Error(static_cast<ExitCode>(std::atoi(failure.c_str())), failure.substr(failure.find(' ') + 1));
  }
  std::string done(points, '0');
  for (const SweepRow& r : rows) done[r.index] = '1';
  ranks.broadcast(done);
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < points; ++i)
    if (done[i] == '0') todo.push_back(i);
  order_for_shared_spaces(axes, todo);
  // One space per point running at once, and one more for the next group's first point.
  SearchSpaceCache spaces(points_at_once + 1);

  // ---- rounds: in each, the next points left go to the threads of every rank as they ask
  // (run_round), rank 0 gathers the rows and writes them to the checkpoint, and every rank
  // learns whether to stop.
  const int at_once = static_cast<int>(points_at_once);
  const std::size_t per_round = static_cast<std::size_t>(ranks.size()) * points_at_once * kPointsPerThreadPerRound;
  StopSignals signals;
  ProgressLine progress("nest sweep", leader);
  std::size_t finished = 0;  // points of this run handed out (counted on rank 0)
  long long points_run = 0;  // by this rank
  double busy_s = 0;         // this rank's time in its points (against the wall time: load balance)
  bool interrupted = false;
  // A failure anywhere in a round ends every rank (the others would wait for it in the next
  // collective); one process rethrows it.
  auto fail = [&](const Error& e) {
    progress.clear();
    ranks.abort(e);
  };
  for (std::size_t first = 0; first < todo.size(); first = std::min(todo.size(), first + per_round)) {
    const long long len = static_cast<long long>(std::min(per_round, todo.size() - first));
    long long handed_out = 0;
    try {
      // Rank 0 counts what every rank ran; its stop (signal or NEST_SWEEP_STOP_AFTER) is every
      // rank's.
      if (ranks.any(stop_signal() != 0 || (leader && stop_after >= 0 && static_cast<long long>(finished) >= stop_after))) {
        interrupted = true;
        break;
      }
      const long long cap = stop_after >= 0 ? stop_after - static_cast<long long>(finished) : len;
      const auto t0 = std::chrono::steady_clock::now();
      // The round's runs of points that share an enumeration (the work order keeps them together).
      std::vector<int> group_of(static_cast<std::size_t>(len));
      for (std::size_t k = 1; k < group_of.size(); ++k)
        group_of[k] = group_of[k - 1] + (space_key(axes, todo[first + k]) != space_key(axes, todo[first + k - 1]) ? 1 : 0);
      const RoundRun round = run_round(ranks, at_once, len, cap, group_of, [&](long long p) {
        // The thread's group: with other ranks, OpenMP thread 0 talks to them and 1 .. T run points.
        GatheringBackend* gather = nullptr;
        if (!gatherers.empty()) {
          const int t = std::max(0, omp_get_thread_num() - (ranks.size() > 1 ? 1 : 0));
          gather = gatherers[std::min(gatherers.size() - 1, static_cast<std::size_t>(t) / per_launch)].get();
        }
        return encode_row(run_point(f, search, axes, todo[first + static_cast<std::size_t>(p)], spaces, gather));
      });
      busy_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      points_run += round.points_run;
      handed_out = round.handed_out;
      const std::vector<std::string> gathered = ranks.gather(round.records);
      if (leader)
        for (const std::string& recs : gathered) {
          if (recs.empty()) continue;
          for (SweepRow& row : decode_rows(recs)) rows.push_back(std::move(row));
          if (checkpoint) checkpoint->append(recs);
        }
    } catch (const Error& e) {
      fail(e);
    } catch (const std::bad_alloc&) {
      fail(Error(ExitCode::Runtime, "out of host memory"));
    } catch (const std::exception& e) {
      fail(Error(ExitCode::Runtime, std::string("internal error: ") + e.what()));
    }
    // Points handed out, counted on rank 0, which decides the stop for every rank.
    finished += static_cast<std::size_t>(handed_out);
    progress.update(static_cast<long long>(finished), static_cast<long long>(todo.size()));
    // A stop inside the round left some of its points unhanded: end here, they stay for --resume.
    if (ranks.any(leader && handed_out < len)) {
      interrupted = true;
      break;
    }
  }
  progress.clear();
  const std::vector<std::string> loads =
      ranks.gather(std::to_string(points_run) + " " + number(busy_s) + " " + std::to_string(spaces.made()));
  if (leader && f.search.verbose) {
    std::string counts, seconds, made;
    for (const std::string& l : loads) {
      const std::size_t a = l.find(' '), b = l.find(' ', a + 1);
      counts += " " + l.substr(0, a);
      seconds += " " + l.substr(a + 1, b - a - 1);
      made += " " + l.substr(b + 1);
    }
    std::fprintf(stderr,
                 "nest sweep: %zu of %zu points run here; points per rank:%s; busy seconds per rank:%s; enumerations per "
                 "rank:%s\n",
                 finished, points, counts.c_str(), seconds.c_str(), made.c_str());
    if (!gatherers.empty()) {
      long long gathered = 0, under = 0;
      for (const auto& g : gatherers) {
        gathered += g->calls_gathered();
        under += g->calls_under();
      }
      std::fprintf(stderr,
                   "nest sweep: --points-per-launch %d: %lld solve calls of the searches went to the backend in %lld calls\n",
                   f.points_per_launch, gathered, under);
    }
  }

  // An interrupted sweep is reported by rank 0; the other ranks end with 0, so that mpirun does
  // not end the job before rank 0 has said why.
  if (!leader) return 0;
  if (interrupted) {
    const std::string why = stop_signal() != 0 ? "interrupted by signal " + std::to_string(stop_signal())
                                               : "stopped by NEST_SWEEP_STOP_AFTER=" + std::to_string(stop_after);
    const std::string kept =
        checkpointed ? "; " + checkpoint_path + " keeps them: run the same command with --resume to finish " + f.search.out
                     : "; nothing is kept without --out FILE.csv";
    throw_runtime(why + " after " + std::to_string(rows.size()) + " of " + std::to_string(points) + " points" + kept);
  }
  write_results(f, axes, points, rows);
  if (checkpoint) checkpoint->remove();
  return 0;
}

}  // namespace

void register_sweep(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App* sub = app.add_subcommand("sweep", "the best plan at every point of a cross product of inputs, and the Pareto front");
  add_problem_flags(sub, f->search.problem);
  add_search_flags(sub, f->search);
  sub->add_option("--vary", f->vary, std::string("KEY=v1,v2,... (repeatable; keys: ") + kKeys + ")")->required();
  sub->add_option("--gpu-hour-price", f->gpu_hour_price,
                  "USD per GPU-hour: adds cost per million tokens and makes it the front's axis");
  sub->add_flag("--resume", f->resume,
                "continue the sweep that --out FILE.csv was writing when it was interrupted (from FILE.csv.partial)");
  sub->add_flag("!--no-search-time", f->search_time,
                "leave out the search_s column, the only one that differs between two runs of one sweep");
  sub->add_option("--points-per-launch", f->points_per_launch,
                  "hand the DP batches of up to N points searched at once (one per thread) to the backend together, "
                  "each point's best selected within its own segment; for --backend cuda (fewer, larger launches); "
                  "the output is the same (default 1: each point its own calls)");
  sub->callback([f, sub, &run] { run = [f, sub]() -> int { return run_sweep(*f, *sub); }; });
}

}  // namespace nest::cli
