#include "nest/profiler/profile.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/fit.hpp"

namespace nest::profiler {

namespace {

// Each collective's name in profiles and the stem of its nccl-tests program.
struct CollectiveNames {
  Collective c;
  const char* profile;
  const char* nccl_tests;
};
constexpr CollectiveNames kNames[] = {{Collective::AllReduce, "all_reduce", "all_reduce"},
                                      {Collective::AllGather, "all_gather", "all_gather"},
                                      {Collective::ReduceScatter, "reduce_scatter", "reduce_scatter"},
                                      {Collective::AllToAll, "all_to_all", "alltoall"},
                                      {Collective::SendRecv, "send_recv", "sendrecv"},
                                      {Collective::Broadcast, "broadcast", "broadcast"},
                                      {Collective::Reduce, "reduce", "reduce"}};

const CollectiveNames* names_of(Collective c) {
  for (const auto& n : kNames)
    if (n.c == c) return &n;
  return nullptr;
}

}  // namespace

std::string collective_name(Collective c) {
  const CollectiveNames* n = names_of(c);
  return n ? n->profile : "?";
}

std::string nccl_tests_name(Collective c) {
  const CollectiveNames* n = names_of(c);
  return n ? n->nccl_tests : "?";
}

std::optional<Collective> parse_collective(std::string_view name) {
  std::string s;
  for (char ch : name) {
    if (ch == '_' || ch == '-') continue;
    s += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "perf") == 0) s.resize(s.size() - 4);
  if (s.size() > 3 && s.compare(s.size() - 3, 3, "mpi") == 0) s.resize(s.size() - 3);
  if (s.size() > 4 && s.compare(s.size() - 4, 4, "perf") == 0) s.resize(s.size() - 4);
  if (s == "allreduce") return Collective::AllReduce;
  if (s == "allgather") return Collective::AllGather;
  if (s == "reducescatter") return Collective::ReduceScatter;
  if (s == "alltoall") return Collective::AllToAll;
  if (s == "sendrecv") return Collective::SendRecv;
  if (s == "broadcast") return Collective::Broadcast;
  if (s == "reduce") return Collective::Reduce;
  return std::nullopt;
}

const std::vector<Collective>& all_collectives() {
  static const std::vector<Collective> all = {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
                                              Collective::AllToAll, Collective::SendRecv};
  return all;
}

const std::vector<Collective>& known_collectives() {
  static const std::vector<Collective> all = {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
                                              Collective::AllToAll,  Collective::SendRecv,  Collective::Broadcast,
                                              Collective::Reduce};
  return all;
}

bool used_for_planning(Collective c) { return c != Collective::Broadcast && c != Collective::Reduce; }

double latency_steps(Collective c, double m) {
  switch (c) {
    case Collective::AllReduce:
      return 2.0 * (m - 1);
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::Broadcast:
    case Collective::Reduce:
      return m - 1;
    case Collective::AllToAll:
    case Collective::SendRecv:
      return 1.0;
  }
  return 1.0;
}

CollectiveSeries* Profile::find_series(const std::string& group, Collective c) {
  for (auto& s : collectives)
    if (s.group == group && s.collective == c) return &s;
  return nullptr;
}

std::string utc_now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

bool usable(const CollectiveSample& x) { return x.bytes > 0 && x.time_s > 0 && x.wrong <= 0; }

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int fullest_gpus_per_host(const Profile& p, int level) {
  int fullest = 0;
  for (const auto& s : p.collectives)
    if (s.level == level && used_for_planning(s.collective) && !s.members.empty()) fullest = std::max(fullest, s.members.front());
  return fullest;
}

void refit(Profile& p) {
  p.fits.clear();
  int max_level = -1;
  for (const auto& s : p.collectives) max_level = std::max(max_level, s.level);
  std::vector<double> lower_latency;
  for (int level = 0; level <= max_level; ++level) {
    // Above the node the level's combined fit takes the groups with the most GPUs of each host on
    // the network, the way a training step keeps every GPU of a node on it; groups of one GPU
    // per host measure a rail alone and get a fit of their own (docs/cost-model.md §4, "A rail
    // alone"), which a pooled fit would have passed off as every rail's rate.
    const int fullest = level > 0 ? fullest_gpus_per_host(p, level) : 0;
    std::vector<AlphaBetaPoint> combined, lone;
    for (Collective c : known_collectives()) {
      std::vector<AlphaBetaPoint> pts;
      for (const auto& s : p.collectives) {
        if (s.level != level || s.collective != c) continue;
        const int per_host = s.members.empty() ? 0 : s.members.front();
        for (const auto& x : s.samples) {
          if (!usable(x)) continue;
          const AlphaBetaPoint pt = alpha_beta_point(s, x, lower_latency);
          pts.push_back(pt);
          if (!used_for_planning(c)) continue;
          if (level == 0 || per_host == fullest)
            combined.push_back(pt);
          else if (per_host == 1)
            lone.push_back(pt);
        }
      }
      if (pts.empty()) continue;
      p.fits.push_back({level, collective_name(c), fit_alpha_beta(pts)});
    }
    double lat = 0;
    if (!combined.empty()) {
      const AlphaBetaFit f = fit_alpha_beta(combined);
      p.fits.push_back({level, "all", f});
      lat = f.latency_s;
    }
    if (!lone.empty()) p.fits.push_back({level, "lone", fit_alpha_beta(lone)});
    lower_latency.push_back(lat);
  }

  Operators& o = p.operators;
  if (!o.present) return;
  const double given_peak = o.config.contains("peak_tflops") && o.config["peak_tflops"].is_number()
                                ? o.config["peak_tflops"].get<double>() * kTera
                                : 0.0;
  double measured_peak = 0;
  for (const auto& g : o.gemm) measured_peak = std::max(measured_peak, g.flops_per_s);
  const double peak = given_peak > 0 ? given_peak : measured_peak;
  std::vector<EfficiencyPoint> pts;
  for (const auto& g : o.gemm)
    if (peak > 0 && g.flops_per_s > 0) pts.push_back({static_cast<double>(std::min({g.m, g.n, g.k})), g.flops_per_s / peak});
  o.gemm_fit = fit_efficiency(pts);
  o.gemm_fit.peak_flops = peak;
  o.gemm_fit.peak_source = given_peak > 0 ? "--peak-tflops" : "measured maximum";
  std::vector<double> att;
  for (const auto& a : o.attention)
    if (peak > 0 && a.flops_per_s > 0) att.push_back(std::min(1.0, a.flops_per_s / peak));
  o.attention_efficiency = median_of(att);
  o.hbm_bandwidth = 0;
  for (const auto& m : o.memory) o.hbm_bandwidth = std::max(o.hbm_bandwidth, m.bandwidth);
  o.peak_hbm_bandwidth = o.config.contains("peak_hbm_GBps") && o.config["peak_hbm_GBps"].is_number()
                             ? o.config["peak_hbm_GBps"].get<double>() * kGB
                             : 0.0;
  o.memory_efficiency =
      o.peak_hbm_bandwidth > 0 && o.hbm_bandwidth > 0 ? std::min(1.0, o.hbm_bandwidth / o.peak_hbm_bandwidth) : 1.0;
}

double modelled_time(const CollectiveSeries& s, const Cluster& cluster, double bytes) {
  const std::int64_t per_node = s.members.empty() ? 1 : s.members.front();
  const kernels::Network net = network_of(levels_for_group_alone(cluster.levels, per_node));
  kernels::GroupShape g;
  g.num_levels = net.num_levels;
  for (int l = 0; l < g.num_levels; ++l) g.members[l] = 1;
  for (std::size_t l = 0; l < s.members.size() && static_cast<int>(l) < g.num_levels; ++l) g.members[l] = s.members[l];
  return kernels::collective_time(s.collective, net, g, bytes);
}

Json cost_model_json(const Profile& p) {
  Json cm = Json::object();
  Json levels = Json::array();
  for (std::size_t l = 0; l < p.levels.size(); ++l) {
    for (const auto& f : p.fits) {
      if (f.level != static_cast<int>(l) || f.collective != "all") continue;
      Json level = {{"name", p.levels[l].name},
                    {"group_size", p.levels[l].group_size},
                    {"bandwidth_GBps", f.fit.bandwidth / kGB},
                    {"latency_s", f.fit.latency_s}};
      if (l > 0) {
        level["gpus_per_node"] = fullest_gpus_per_host(p, static_cast<int>(l));
        for (const auto& lone : p.fits)
          if (lone.level == f.level && lone.collective == "lone") level["lone_bandwidth_GBps"] = lone.fit.bandwidth / kGB;
      }
      levels.push_back(level);
    }
  }
  cm["levels"] = levels;
  const Operators& o = p.operators;
  if (o.present && o.gemm_fit.samples > 0) {
    const double hbm = o.peak_hbm_bandwidth > 0 ? o.peak_hbm_bandwidth : o.hbm_bandwidth;
    cm["gpu"] = {{"gemm_efficiency", o.gemm_fit.e_max},
                 {"gemm_half_dim", o.gemm_fit.x_half},
                 {"peak_bf16_TFLOPs", o.gemm_fit.peak_flops / kTera},
                 {"memory_efficiency", o.memory_efficiency},
                 {"hbm_GBps", hbm / kGB},
                 {"attention_efficiency", o.attention_efficiency}};
  }
  return cm;
}

namespace {

Json null_if_negative(std::int64_t v) { return v < 0 ? Json(nullptr) : Json(v); }

Json sample_json(const CollectiveSample& x) {
  Json j = {{"bytes", x.bytes},           {"count", x.count},
            {"time_s", x.time_s},         {"fastest_rank_time_s", x.fastest_rank_time_s},
            {"min_s", x.min_s},           {"max_s", x.max_s},
            {"spread", x.spread},         {"algbw_GBps", x.algbw_GBps},
            {"busbw_GBps", x.busbw_GBps}, {"wrong", null_if_negative(x.wrong)}};
  if (x.root >= 0) j["root"] = x.root;
  if (x.has_in_place)
    j["in_place"] = {{"time_s", x.in_place_time_s},
                     {"algbw_GBps", x.in_place_algbw_GBps},
                     {"busbw_GBps", x.in_place_busbw_GBps},
                     {"wrong", null_if_negative(x.in_place_wrong)}};
  return j;
}

Json gemm_json(const GemmSample& g) {
  return {{"key", g.key},
          {"op", g.op},
          {"pass", g.pass},
          {"tp", g.tp},
          {"microbatch", g.microbatch},
          {"m", g.m},
          {"n", g.n},
          {"k", g.k},
          {"batch", g.batch},
          {"model_m", g.model_m},
          {"model_n", g.model_n},
          {"model_k", g.model_k},
          {"time_s", g.time_s},
          {"flops", g.flops},
          {"TFLOPs", g.flops_per_s / kTera}};
}

Json fit_json(const AlphaBetaFit& f) {
  return {{"latency_s", f.latency_s},         {"bandwidth_GBps", f.bandwidth / kGB}, {"bandwidth_resolved", f.bandwidth_resolved},
          {"max_rel_error", f.max_rel_error}, {"rms_rel_error", f.rms_rel_error},    {"samples", f.samples}};
}

}  // namespace

DataCheck data_check(const Profile& p) {
  DataCheck d;
  for (const auto& s : p.collectives)
    for (const auto& x : s.samples)
      for (std::int64_t w : {x.wrong, x.has_in_place ? x.in_place_wrong : std::int64_t{-1}}) {
        if (w < 0) continue;
        ++d.checked;
        if (w > 0) {
          ++d.wrong_samples;
          d.wrong_values += w;
        }
      }
  return d;
}

std::vector<std::string> profile_warnings(const Profile& p) {
  std::vector<std::string> out;
  const DataCheck d = data_check(p);
  if (d.wrong_samples > 0) {
    std::string first;
    for (const auto& s : p.collectives)
      for (const auto& x : s.samples)
        if (first.empty() && (x.wrong > 0 || x.in_place_wrong > 0))
          first = s.group + " " + collective_name(s.collective) + " " + std::to_string(static_cast<long long>(x.bytes)) +
                  " bytes: " + std::to_string(std::max(x.wrong, x.in_place_wrong)) + " wrong";
    out.push_back("data check FAILED: " + std::to_string(d.wrong_samples) + " of " + std::to_string(d.checked) +
                  " samples had wrong values (" + std::to_string(d.wrong_values) + " in all; first: " + first +
                  "); they are kept with their counts and left out of every fit");
  }
  for (const CollectiveFit& f : p.fits)
    if (f.collective != "all" && f.collective != "lone" && f.fit.samples > 0 && f.fit.max_rel_error > kFitWarnRelError) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.0f%%", 100 * f.fit.max_rel_error);
      out.push_back("the " + f.collective + " fit of level " + std::to_string(f.level) + " is " + buf +
                    " off at its worst sample (over " + std::to_string(static_cast<int>(100 * kFitWarnRelError)) +
                    "%): the alpha-beta model does not describe these measurements well");
    }
  if (!p.complete) out.push_back("the profile is incomplete (an interrupted run; finish it with --resume)");
  return out;
}

namespace {

// The GPU model a device name names: its first word of letters then digits, lower case
// ("NVIDIA H100 80GB HBM3" -> "h100", "AMD Instinct MI300X" -> "mi300x"); empty if none.
std::string gpu_model_token(const std::string& name) {
  std::string word;
  auto model_like = [](const std::string& w) {
    std::size_t i = 0;
    while (i < w.size() && std::isalpha(static_cast<unsigned char>(w[i]))) ++i;
    return i > 0 && i < w.size() && std::isdigit(static_cast<unsigned char>(w[i]));
  };
  for (std::size_t i = 0; i <= name.size(); ++i) {
    const char c = i < name.size() ? name[i] : ' ';
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      if (model_like(word)) return word;
      word.clear();
    }
  }
  return "";
}

bool names_gpu(const GpuSpec& gpu, const std::string& token) {
  auto has = [&](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s.find(token) != std::string::npos;
  };
  if (has(gpu.name)) return true;
  for (const auto& l : gpu.kernel_labels)
    if (has(l)) return true;
  return false;
}

}  // namespace

void check_profile_hardware(const Profile& p, const GpuSpec& gpu, const std::string& source, std::vector<std::string>& warnings) {
  if (p.operators.present && p.operators.config.is_object() && p.operators.config.contains("device") &&
      p.operators.config["device"].is_object()) {
    const Json& d = p.operators.config["device"];
    const std::string kind = d.value("kind", ""), name = d.value("name", "");
    if (kind == "cpu")
      throw_bad_input(source,
                      "its operators were timed on a CPU (" + name + "), not on the cluster's GPU (" + gpu.name +
                          "); measure them on that GPU (nest profile --ops --backend nccl) or use a profile without --ops");
    const std::string token = gpu_model_token(name);
    if (!token.empty() && !names_gpu(gpu, token))
      throw_bad_input(source, "its operators were timed on " + name + ", not on the cluster's GPU (" + gpu.name +
                                  "); use a profile measured on that GPU or a cluster file whose gpu is the one measured");
  }
  if (p.machine.contains("devices") && p.machine["devices"].is_array() && !p.machine["devices"].empty()) {
    // Measured: {"kind", "name"} per rank; imported: the device line of the nccl-tests log.
    const Json& d = p.machine["devices"][0];
    std::string kind, name;
    if (d.is_object()) {
      kind = d.value("kind", "");
      name = d.value("name", "");
    } else if (d.is_string()) {
      name = d.get<std::string>();
    }
    const std::string token = gpu_model_token(name);
    if (kind == "cpu")
      warnings.push_back(source + ": its collectives ran between CPU processes over MPI (" + name +
                         "), not between GPUs over NCCL; their figures replace the cluster's links");
    else if (!token.empty() && !names_gpu(gpu, token))
      warnings.push_back(source + ": its collectives ran between " + name + " GPUs, the cluster's GPU is " + gpu.name +
                         "; their figures replace the cluster's links");
  }
}

Json profile_to_json(const Profile& p) {
  Json j = Json::object();
  j["schema"] = kProfileSchema;
  j["complete"] = p.complete;
  const DataCheck d = data_check(p);
  j["data_check"] = {{"samples_checked", d.checked},
                     {"samples_wrong", d.wrong_samples},
                     {"values_wrong", d.wrong_values},
                     {"status", d.checked == 0 ? "not checked" : (d.wrong_samples == 0 ? "OK" : "FAILED")}};
  j["created"] = p.created;
  j["updated"] = p.updated;
  j["cost_model"] = cost_model_json(p);
  j["machine"] = p.machine;
  j["software"] = p.software;
  j["config"] = p.config;
  Json levels = Json::array();
  for (std::size_t l = 0; l < p.levels.size(); ++l)
    levels.push_back({{"index", l}, {"name", p.levels[l].name}, {"group_size", p.levels[l].group_size}});
  j["levels"] = levels;
  Json series = Json::array();
  for (const auto& s : p.collectives) {
    Json samples = Json::array();
    for (const auto& x : s.samples) samples.push_back(sample_json(x));
    series.push_back({{"collective", collective_name(s.collective)},
                      {"level", s.level},
                      {"group", s.group},
                      {"group_size", s.group_size},
                      {"members", s.members},
                      {"concurrent_groups", s.concurrent_groups},
                      {"hosts", s.hosts},
                      {"dtype", s.dtype},
                      {"source", s.source},
                      {"samples", samples}});
  }
  j["collectives"] = series;
  if (p.operators.present) {
    const Operators& o = p.operators;
    Json ops = Json::object();
    ops["config"] = o.config;
    Json gemm = Json::array(), att = Json::array(), mem = Json::array();
    for (const auto& g : o.gemm) gemm.push_back(gemm_json(g));
    for (const auto& g : o.attention) att.push_back(gemm_json(g));
    for (const auto& m : o.memory)
      mem.push_back(
          {{"key", m.key}, {"op", m.op}, {"bytes", m.bytes}, {"time_s", m.time_s}, {"bandwidth_GBps", m.bandwidth / kGB}});
    ops["gemm"] = gemm;
    ops["attention"] = att;
    ops["memory"] = mem;
    j["operators"] = ops;
  }
  Json fits = Json::object();
  fits["collective_model"] =
      "t = lower + latency_s * steps + x / bandwidth; steps = 2(m-1) all_reduce, m-1 all_gather, reduce_scatter, broadcast "
      "and reduce, 1 all_to_all and send_recv; x = bytes * busbw_factor(m) / (members below) for the ring collectives "
      "(busbw_factor 1 for broadcast and reduce), bytes * busbw_factor(m) for all_to_all, bytes for send_recv; weighted "
      "least squares on relative error; the level's \"all\" fit (the cost model's figures) leaves broadcast and reduce "
      "out";
  Json cf = Json::array();
  for (const auto& f : p.fits) {
    Json e = {{"level", f.level},
              {"level_name",
               static_cast<std::size_t>(f.level) < p.levels.size() ? p.levels[static_cast<std::size_t>(f.level)].name : ""},
              {"collective", f.collective}};
    e.update(fit_json(f.fit));
    cf.push_back(e);
  }
  fits["collectives"] = cf;
  if (p.operators.present) {
    const Operators& o = p.operators;
    fits["gemm_model"] = "efficiency(x) = e_max * x / (x + x_half), x = min(M, N, K), efficiency = achieved FLOP/s / peak";
    fits["gemm"] = {{"e_max", o.gemm_fit.e_max},
                    {"x_half", o.gemm_fit.x_half},
                    {"peak_TFLOPs", o.gemm_fit.peak_flops / kTera},
                    {"peak_source", o.gemm_fit.peak_source},
                    {"max_rel_error", o.gemm_fit.max_rel_error},
                    {"rms_rel_error", o.gemm_fit.rms_rel_error},
                    {"samples", o.gemm_fit.samples}};
    fits["attention_efficiency"] = o.attention_efficiency;
    fits["memory"] = {{"bandwidth_GBps", o.hbm_bandwidth / kGB},
                      {"peak_GBps", o.peak_hbm_bandwidth > 0 ? Json(o.peak_hbm_bandwidth / kGB) : Json(nullptr)},
                      {"efficiency", o.memory_efficiency}};
  }
  j["fits"] = fits;
  return j;
}

namespace {

double non_negative_or_zero(const JsonObject& o, const std::string& key) { return o.has(key) ? o.non_negative_number(key) : 0.0; }

std::int64_t optional_int(const JsonObject& o, const std::string& key, std::int64_t dflt) {
  return o.has(key) ? o.integer(key) : dflt;
}

GemmSample gemm_from(const JsonObject& g) {
  GemmSample s;
  s.key = g.string("key");
  s.op = g.string_or("op", "");
  s.pass = g.string_or("pass", "");
  s.tp = static_cast<int>(g.positive_integer_or("tp", 1));
  s.microbatch = static_cast<int>(g.positive_integer_or("microbatch", 1));
  s.m = g.positive_integer("m");
  s.n = g.positive_integer("n");
  s.k = g.positive_integer("k");
  s.batch = g.positive_integer_or("batch", 1);
  s.model_m = g.integer_or("model_m", s.m);
  s.model_n = g.integer_or("model_n", s.n);
  s.model_k = g.integer_or("model_k", s.k);
  s.time_s = g.positive_number("time_s");
  s.flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k) * static_cast<double>(s.batch);
  s.flops_per_s = s.flops / s.time_s;
  return s;
}

}  // namespace

Profile profile_from_json(const Json& j, const std::string& source) {
  const JsonObject top(j, source);
  const std::string schema = top.string("schema");
  if (schema != kProfileSchema) top.fail("schema", std::string("expected \"") + kProfileSchema + "\" (got \"" + schema + "\")");
  Profile p;
  p.complete = top.boolean("complete");
  p.created = top.string_or("created", "");
  p.updated = top.string_or("updated", "");
  if (top.has("machine")) p.machine = top.object("machine").raw();
  if (top.has("software")) p.software = top.object("software").raw();
  if (top.has("config")) p.config = top.object("config").raw();
  for (const auto& l : top.objects("levels")) {
    LevelInfo info;
    info.name = l.string("name");
    info.group_size = static_cast<int>(l.positive_integer("group_size"));
    p.levels.push_back(info);
  }
  for (const auto& s : top.objects("collectives")) {
    CollectiveSeries cs;
    const std::string name = s.string("collective");
    const auto c = parse_collective(name);
    if (!c)
      s.fail("collective", "unknown collective \"" + name +
                               "\" (all_reduce, all_gather, reduce_scatter, all_to_all, send_recv, broadcast, reduce)");
    cs.collective = *c;
    cs.level = static_cast<int>(s.non_negative_integer("level"));
    if (cs.level >= static_cast<int>(p.levels.size()))
      s.fail("level", "is " + std::to_string(cs.level) + " but the profile has " + std::to_string(p.levels.size()) + " levels");
    cs.group = s.string("group");
    cs.group_size = static_cast<int>(s.positive_integer("group_size"));
    long product = 1;
    for (double m : s.numbers("members")) {
      if (m < 1 || m != std::floor(m)) s.fail("members", "must hold positive integers");
      cs.members.push_back(static_cast<int>(m));
      product *= static_cast<long>(m);
    }
    if (product != cs.group_size)
      s.fail("members", "multiply to " + std::to_string(product) + ", not group_size " + std::to_string(cs.group_size));
    if (static_cast<int>(cs.members.size()) != cs.level + 1)
      s.fail("members", "must have level + 1 = " + std::to_string(cs.level + 1) + " entries");
    cs.concurrent_groups = static_cast<int>(s.positive_integer_or("concurrent_groups", 1));
    if (s.has("hosts")) {
      const Json& h = s.raw()["hosts"];
      if (!h.is_array()) s.fail("hosts", "must be an array of strings");
      for (const auto& e : h) {
        if (!e.is_string()) s.fail("hosts", "must be an array of strings");
        cs.hosts.push_back(e.get<std::string>());
      }
    }
    cs.dtype = s.string_or("dtype", "bf16");
    cs.source = s.string_or("source", "");
    for (const auto& x : s.objects("samples")) {
      CollectiveSample cx;
      cx.bytes = x.non_negative_number("bytes");
      cx.count = x.non_negative_number("count");
      cx.time_s = x.positive_number("time_s");
      cx.fastest_rank_time_s = non_negative_or_zero(x, "fastest_rank_time_s");
      cx.min_s = non_negative_or_zero(x, "min_s");
      cx.max_s = non_negative_or_zero(x, "max_s");
      cx.spread = non_negative_or_zero(x, "spread");
      cx.algbw_GBps = x.non_negative_number("algbw_GBps");
      cx.busbw_GBps = x.non_negative_number("busbw_GBps");
      cx.wrong = optional_int(x, "wrong", -1);
      if (x.has("root")) cx.root = static_cast<int>(x.integer_in("root", 0, limits::kMaxGpus - 1));
      if (x.has("in_place")) {
        const JsonObject ip = x.object("in_place");
        cx.has_in_place = true;
        cx.in_place_time_s = ip.positive_number("time_s");
        cx.in_place_algbw_GBps = ip.non_negative_number("algbw_GBps");
        cx.in_place_busbw_GBps = ip.non_negative_number("busbw_GBps");
        cx.in_place_wrong = optional_int(ip, "wrong", -1);
      }
      cs.samples.push_back(cx);
    }
    p.collectives.push_back(std::move(cs));
  }
  if (top.has("operators")) {
    const JsonObject o = top.object("operators");
    p.operators.present = true;
    if (o.has("config")) p.operators.config = o.object("config").raw();
    if (o.has("gemm"))
      for (const auto& g : o.objects("gemm")) p.operators.gemm.push_back(gemm_from(g));
    if (o.has("attention"))
      for (const auto& g : o.objects("attention")) p.operators.attention.push_back(gemm_from(g));
    if (o.has("memory"))
      for (const auto& m : o.objects("memory")) {
        MemorySample s;
        s.key = m.string("key");
        s.op = m.string_or("op", "copy");
        s.bytes = m.positive_number("bytes");
        s.time_s = m.positive_number("time_s");
        s.bandwidth = s.bytes / s.time_s;
        p.operators.memory.push_back(s);
      }
  }
  refit(p);
  return p;
}

Profile read_profile(const std::string& path) { return profile_from_json(read_json_file(path), path); }

void write_profile(const std::string& path, Profile& p) {
  p.updated = utc_now_iso8601();
  if (p.created.empty()) p.created = p.updated;
  refit(p);
  write_file_atomic(path, dump_json(profile_to_json(p)));
}

}  // namespace nest::profiler
