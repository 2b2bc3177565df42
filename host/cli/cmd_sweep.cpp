// nest sweep: the best plan at every point of a cross product of inputs (GPU count, batch,
// sequence length, GPU, network levels, framework, precision, model), one CSV row per point in
// the axes' order, the Pareto front of throughput against GPUs (or cost per token) marked and
// drawn (--out FILE.csv, --svg FILE). Each point is one `nest plan` (same flags, same search), run here one after another on
// the CPU backend's threads.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/framework/framework.hpp"
#include "nest/model/model_config.hpp"
#include "nest/report/figures.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/planner.hpp"
#include "search_flags.hpp"

namespace nest::cli {

namespace {

// The plan's flags, with --out the CSV (default: standard output) and --svg the Pareto front.
struct SweepFlags {
  SearchFlags search;
  std::vector<std::string> vary;
  double gpu_hour_price = 0;
};

enum class Key { Gpus, GlobalBatch, SeqLen, Gpu, Framework, Precision, Model, LevelBandwidth, LevelLatency, LevelSize };

struct Axis {
  std::string name;  // as given: "gpus", "levels.1.bandwidth_GBps"
  Key key = Key::Gpus;
  int level = 0;  // levels.N.*
  std::vector<std::string> values;
};

constexpr const char* kKeys =
    "gpus, global_batch, seq_len, gpu, framework, precision, model, levels.N.bandwidth_GBps, levels.N.latency_s, levels.N.size";

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
  } else if (k == "framework") {
    a.key = Key::Framework;
  } else if (k == "precision") {
    a.key = Key::Precision;
  } else if (k == "model") {
    a.key = Key::Model;
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
      case Key::Framework:
        (void)parse_framework(v, "--vary framework");
        break;
      case Key::Precision:
        (void)parse_precision(v, "--vary precision");
        break;
      case Key::Model:
        (void)load_model(v);
        break;
    }
  return a;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", x);
  return buf;
}

struct Row {
  std::vector<std::string> axis_values;
  std::string status;  // ok | infeasible | invalid
  std::string note;
  Plan plan;
  Prediction pred;
  double cost_per_mtok = 0;  // USD per million tokens (0: no price)
  double search_s = 0;
  bool pareto = false;
};

// One point: the flags with the point's values, the problem built from them, one search.
Row run_point(const SweepFlags& f, const std::vector<Axis>& axes, const std::vector<std::size_t>& at) {
  Row row;
  SearchFlags sf = f.search;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    const std::string& v = axes[i].values[at[i]];
    row.axis_values.push_back(v);
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
      default:
        break;  // applied to the problem below
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  try {
    Problem p = make_problem(sf.problem);
    for (std::size_t i = 0; i < axes.size(); ++i) {
      const Axis& a = axes[i];
      const std::string& v = a.values[at[i]];
      if (a.key == Key::Gpu) p.cluster.gpu = load_gpu(v);
      if (a.key == Key::LevelBandwidth || a.key == Key::LevelLatency || a.key == Key::LevelSize) {
        if (a.level >= static_cast<int>(p.cluster.levels.size()))
          throw_bad_input("--vary " + a.name, p.cluster.name + " has " + std::to_string(p.cluster.levels.size()) + " levels");
        NetworkLevel& l = p.cluster.levels[static_cast<std::size_t>(a.level)];
        if (a.key == Key::LevelBandwidth) l.bandwidth = std::stod(v) * kGB;
        if (a.key == Key::LevelLatency) l.latency = std::stod(v);
        if (a.key == Key::LevelSize) l.size = std::stoll(v);
      }
    }
    (void)p.cluster.domain_sizes(p.gpus);
    PlannerOptions opts = make_planner_options(sf);
    opts.progress = false;
    if (!sf.problem.precision.empty())
      opts.space.precision = parse_precision_list(sf.problem.precision, "--precision", p.cluster.gpu);
    const AnalyticCostSource source(p);
    const SearchResult res = search_plans(source, opts);
    if (res.top.empty()) {
      row.status = "infeasible";
      row.note = "no plan fits";
    } else {
      row.status = "ok";
      row.plan = res.top.front().plan;
      row.pred = evaluate_plan(p, row.plan);
      if (f.gpu_hour_price > 0 && row.pred.tokens_per_s > 0)
        row.cost_per_mtok = f.gpu_hour_price * static_cast<double>(row.pred.gpus_used) / 3600.0 / row.pred.tokens_per_s * 1e6;
    }
  } catch (const Error& e) {
    if (e.code() != ExitCode::BadInput) throw;
    row.status = "invalid";  // this point's combination (e.g. more GPUs than the cluster has)
    row.note = e.what();
  }
  row.search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return row;
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
  sub->callback([f, &run] {
    run = [f]() -> int {
      if (!(f->gpu_hour_price >= 0) || !std::isfinite(f->gpu_hour_price))
        throw_bad_input("--gpu-hour-price", "must be a non-negative number");
      if (f->search.top != 1 || f->search.explain || f->search.json || !f->search.pictures.html.empty() ||
          !f->search.nest_input.empty())
        throw_bad_input("--vary",
                        "a sweep takes the plan search's flags but not --top, --explain, --json, --html or --nest-input");
      std::vector<Axis> axes;
      for (const std::string& v : f->vary) {
        axes.push_back(parse_axis(v));
        for (std::size_t i = 0; i + 1 < axes.size(); ++i)
          if (axes[i].name == axes.back().name) throw_bad_input("--vary", "'" + axes.back().name + "' is given twice");
      }
      std::size_t points = 1;
      for (const Axis& a : axes) {
        points *= a.values.size();
        if (points > (std::size_t{1} << 24)) throw_bad_input("--vary", "more than 2^24 points");
      }
      std::vector<Row> rows;
      std::vector<std::size_t> at(axes.size(), 0);
      const bool show = stderr_is_terminal();
      for (std::size_t n = 0; n < points; ++n) {
        if (show) std::fprintf(stderr, "\rnest sweep: point %zu of %zu", n + 1, points);
        rows.push_back(run_point(*f, axes, at));
        for (std::size_t i = axes.size(); i-- > 0;) {  // the last axis varies fastest
          if (++at[i] < axes[i].values.size()) break;
          at[i] = 0;
        }
      }
      if (show) std::fprintf(stderr, "\r\033[K");

      // The front: most tokens/s for the fewest GPUs (or the lowest cost per token).
      const bool by_cost = f->gpu_hour_price > 0;
      ParetoChart chart;
      chart.title = "nest sweep: throughput against " + std::string(by_cost ? "cost per token" : "GPUs");
      chart.x_label = by_cost ? "USD per million tokens" : "GPUs";
      chart.y_label = "tokens/s";
      chart.minimize_x = true;
      chart.minimize_y = false;
      chart.log_x = !by_cost;
      std::vector<std::size_t> ok;
      for (std::size_t r = 0; r < rows.size(); ++r) {
        if (rows[r].status != "ok") continue;
        ok.push_back(r);
        std::string label;
        for (std::size_t i = 0; i < axes.size(); ++i) label += (i ? " " : "") + axes[i].name + "=" + rows[r].axis_values[i];
        chart.points.push_back(
            {by_cost ? rows[r].cost_per_mtok : static_cast<double>(rows[r].pred.gpus_used), rows[r].pred.tokens_per_s, label});
      }
      for (std::size_t i : pareto_front(chart.points, chart.minimize_x, chart.minimize_y)) rows[ok[i]].pareto = true;

      std::string csv;
      for (const Axis& a : axes) csv += csv_field(a.name) + ",";
      csv +=
          "status,step_time_s,tokens_per_s,tokens_per_s_per_gpu,mfu,gpus_used,tp,pp,dp,cp,ep,sp,microbatch,num_microbatches,zero,"
          "recompute,schedule,virtual_stages,precision,max_memory_GiB,cost_per_mtok_usd,pareto,search_s,note\n";
      for (const Row& r : rows) {
        for (const std::string& v : r.axis_values) csv += csv_field(v) + ",";
        csv += r.status + ",";
        if (r.status == "ok") {
          const Parallelism& p = r.plan.par;
          double peak = 0;
          for (const StageReport& s : r.pred.stages) peak = std::max(peak, s.memory.total());
          csv += number(r.pred.step_time) + "," + number(r.pred.tokens_per_s) + "," +
                 number(r.pred.tokens_per_s / static_cast<double>(r.pred.gpus_used)) + "," + number(r.pred.mfu) + "," +
                 std::to_string(r.pred.gpus_used) + "," + std::to_string(p.tp) + "," + std::to_string(p.pp) + "," +
                 std::to_string(p.dp) + "," + std::to_string(p.cp) + "," + std::to_string(p.ep) + "," + (p.sp ? "on" : "off") +
                 "," + std::to_string(p.microbatch) + "," + std::to_string(p.num_microbatches) + "," + std::to_string(p.zero) +
                 "," + to_string(p.recompute) + "," + to_string(p.schedule) + "," + std::to_string(p.virtual_stages) + "," +
                 to_string(p.precision) + "," + number(peak / kGiB) + "," + (by_cost ? number(r.cost_per_mtok) : "") + "," +
                 (r.pareto ? "yes" : "no") + ",";
        } else {
          csv += ",,,,,,,,,,,,,,,,,,,,,no,";
        }
        csv += number(r.search_s) + "," + csv_field(r.note) + "\n";
      }
      write_file_atomic(f->search.out.empty() ? "-" : f->search.out, csv);
      if (!f->search.pictures.svg.empty()) write_file_atomic(f->search.pictures.svg, pareto_svg(chart));
      return 0;
    };
  });
}

}  // namespace nest::cli
