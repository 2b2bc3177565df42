// Export of a profile to CSV, nccl-tests-style text tables and ASTRA-sim's analytical network
// configuration.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <map>

#include "nest/io/text.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/profiler/formats.hpp"

namespace nest::profiler {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string nccl_type(const std::string& dtype) {
  if (dtype == "bf16") return "bfloat16";
  if (dtype == "fp32") return "float";
  if (dtype == "fp16") return "half";
  return dtype.empty() ? "bfloat16" : dtype;
}

std::string first_device_name(const Profile& p) {
  if (p.machine.contains("devices") && p.machine["devices"].is_array() && !p.machine["devices"].empty()) {
    const Json& d = p.machine["devices"][0];
    if (d.is_string()) return d.get<std::string>();
    if (d.is_object() && d.contains("name") && d["name"].is_string()) return d["name"].get<std::string>();
  }
  return "unknown";
}

std::string wrong_text(std::int64_t w) { return w < 0 ? "N/A" : std::to_string(w); }

}  // namespace

std::string export_csv(const Profile& p) {
  std::string out =
      "collective,level,level_name,group,group_size,concurrent_groups,dtype,bytes,count,time_s,algbw_GBps,busbw_GBps,"
      "fastest_rank_time_s,min_s,max_s,spread,wrong,root\n";
  for (Collective c : known_collectives())
    for (const auto& s : p.collectives) {
      if (s.collective != c) continue;
      const std::string level_name =
          static_cast<std::size_t>(s.level) < p.levels.size() ? p.levels[static_cast<std::size_t>(s.level)].name : "";
      for (const auto& x : s.samples)
        out += collective_name(c) + "," + std::to_string(s.level) + "," + csv_field(level_name) + "," + csv_field(s.group) + "," +
               std::to_string(s.group_size) + "," + std::to_string(s.concurrent_groups) + "," + csv_field(s.dtype) + "," +
               format_text("%.0f,%.0f,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,", x.bytes, x.count, x.time_s, x.algbw_GBps,
                           x.busbw_GBps, x.fastest_rank_time_s, x.min_s, x.max_s, x.spread) +
               (x.wrong < 0 ? std::string("") : std::to_string(x.wrong)) + "," +
               (x.root < 0 ? std::string("") : std::to_string(x.root)) + "\n";
    }
  return out;
}

std::string export_nccl_tests(const Profile& p) {
  std::string out;
  const std::string device = first_device_name(p);
  const double step =
      p.config.contains("step_factor") && p.config["step_factor"].is_number() ? p.config["step_factor"].get<double>() : 2.0;
  const int warmup =
      p.config.contains("warmup_iters") && p.config["warmup_iters"].is_number_integer() ? p.config["warmup_iters"].get<int>() : 0;
  const int iters = p.config.contains("iters") && p.config["iters"].is_number_integer() ? p.config["iters"].get<int>() : 0;
  for (const auto& s : p.collectives) {
    if (s.samples.empty()) continue;
    const std::string prog = nccl_tests_name(s.collective) + "_perf";
    bool all_in_place = true, checked = false;
    // "Out of bounds values" counts the failed checks, not the wrong values: nccl-tests adds one
    // for each out-of-place or in-place check with wrong values (src/common.cu, CheckData:
    // `if (args->reportErrors && *wrongElts) args->errors[0]++`).
    std::int64_t wrong = 0;
    double busbw_sum = 0;
    for (const auto& x : s.samples) {
      all_in_place = all_in_place && x.has_in_place;
      if (x.wrong >= 0) {
        checked = true;
        wrong += x.wrong > 0;
      }
      if (x.has_in_place && x.in_place_wrong > 0) ++wrong;
      busbw_sum += x.busbw_GBps;
    }
    out += "# nest profile export (" + std::string(kProfileSchema) + "): group " + s.group + ", level " +
           std::to_string(s.level) + ", source " + (s.source.empty() ? std::string("measured") : s.source) + "\n";
    if (!all_in_place) out += "# nest: the in-place columns repeat the out-of-place figures (nest measures out-of-place only)\n";
    out += "# Collective test starting: " + prog + "\n";
    out += format_text(
        "# nThread 1 nGpus 1 minBytes %.0f maxBytes %.0f step: %g(factor) warmup iters: %d iters: %d agg iters: 1 "
        "validation: %d graph: 0\n",
        s.samples.front().bytes, s.samples.back().bytes, step, warmup, iters, checked ? 1 : 0);
    out += "#\n# Using devices\n";
    std::map<std::string, int> local;
    for (int r = 0; r < s.group_size; ++r) {
      const std::string host = static_cast<std::size_t>(r) < s.hosts.size() ? s.hosts[static_cast<std::size_t>(r)] : "unknown";
      out += format_text("#  Rank %2d Group  0 Pid %6d on %10s device %2d [0000:00:00] %s\n", r, 0, host.c_str(), local[host]++,
                         device.c_str());
    }
    out += "#\n";
    out +=
        "#                                                              out-of-place                       in-place          \n";
    out +=
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong "
        "\n";
    out +=
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)         "
        "\n";
    const bool reduces =
        s.collective == Collective::AllReduce || s.collective == Collective::ReduceScatter || s.collective == Collective::Reduce;
    const bool rooted = s.collective == Collective::Broadcast || s.collective == Collective::Reduce;
    for (const auto& x : s.samples) {
      const double ipt = x.has_in_place ? x.in_place_time_s : x.time_s;
      const double ipa = x.has_in_place ? x.in_place_algbw_GBps : x.algbw_GBps;
      const double ipb = x.has_in_place ? x.in_place_busbw_GBps : x.busbw_GBps;
      const std::int64_t ipw = x.has_in_place ? x.in_place_wrong : x.wrong;
      out += format_text("%12.0f  %12.0f  %8s  %6s  %6d  %9.7g  %6.2f  %6.2f  %6s  %9.7g  %6.2f  %6.2f  %6s\n", x.bytes, x.count,
                         nccl_type(s.dtype).c_str(), reduces ? "sum" : "none", rooted ? std::max(0, x.root) : -1, x.time_s * 1e6,
                         x.algbw_GBps, x.busbw_GBps, wrong_text(x.wrong).c_str(), ipt * 1e6, ipa, ipb, wrong_text(ipw).c_str());
    }
    out += format_text("# Out of bounds values : %lld %s\n", static_cast<long long>(wrong), wrong == 0 ? "OK" : "FAILED");
    out += format_text("# Avg bus bandwidth    : %g \n", busbw_sum / static_cast<double>(s.samples.size()));
    out += "#\n# Collective test concluded: " + prog + "\n#\n\n";
  }
  return out;
}

std::string export_astra_sim(const Profile& p, const std::vector<std::string>& topology, const std::string& source) {
  const Json cm = cost_model_json(p);
  const Json& levels = cm["levels"];
  if (levels.empty()) throw_bad_input(source.empty() ? "profile" : source, "has no fitted network level to export");
  if (!topology.empty() && topology.size() != levels.size())
    throw_bad_input("--topology", "gives " + std::to_string(topology.size()) + " names for " + std::to_string(levels.size()) +
                                      " network levels");
  std::string topo, npus, bw, lat, names;
  long below = 1;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const long gs = levels[i]["group_size"].get<long>();
    const long n = std::max<long>(1, gs / below);
    below = std::max<long>(1, gs);
    const std::string sep = i ? ", " : "";
    topo += sep + (topology.empty() ? std::string("Switch") : topology[i]);
    npus += sep + std::to_string(n);
    bw += sep + format_text("%.6g", levels[i]["bandwidth_GBps"].get<double>());
    lat += sep + format_text("%.6g", levels[i]["latency_s"].get<double>() * 1e9);
    names += sep + levels[i]["name"].get<std::string>();
  }
  std::string out = "# ASTRA-sim analytical network configuration, generated by nest profile export";
  out += source.empty() ? "\n" : " from " + source + "\n";
  out += "# One dimension per network level of the profile's cost model, innermost first: " + names + ".\n";
  out += "# bandwidth: the fitted per-GPU bus bandwidth of the level (GB/s); latency: the fitted per-step latency (ns).\n";
  out += "topology: [ " + topo + " ]\n";
  out += "npus_count: [ " + npus + " ]\n";
  out += "bandwidth: [ " + bw + " ]  # GB/s\n";
  out += "latency: [ " + lat + " ]  # ns\n";
  return out;
}

}  // namespace nest::profiler
