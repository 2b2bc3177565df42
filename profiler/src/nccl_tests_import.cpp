// Import of nccl-tests output. The layouts and the lines that get mixed into logs are listed in
// tests/data/nccl-tests/SOURCES.md; every variant there is read here.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/profiler/formats.hpp"

namespace nest::profiler {

namespace {

// Legacy nccl-tests (<= v2.11) prints the largest deviation from the expected result and fails a
// check when it exceeds DeltaMaxValue(type) x (nranks - 1) (src/common.cu, CheckData; the
// earliest releases did not scale by the ranks): DeltaMaxValue is 1e-2 for half and bfloat16,
// 1e-5 for float, 1e-12 for double, and no deviation for integers. Without the "Rank" lines the
// rank count is unknown and the unscaled limit applies (stricter).
double legacy_deviation_limit(const std::string& dtype, std::size_t ranks) {
  double limit = 0;
  if (dtype == "half" || dtype == "float16" || dtype == "bfloat16") limit = 1e-2;
  if (dtype == "float" || dtype == "float32") limit = 1e-5;
  if (dtype == "double" || dtype == "float64") limit = 1e-12;
  return ranks > 1 ? limit * static_cast<double>(ranks - 1) : limit;
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string t;
  while (in >> t) out.push_back(t);
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool is_int(const std::string& s) { return all_digits(s) || (s.size() > 1 && s[0] == '-' && all_digits(s.substr(1))); }

bool is_redop(const std::string& s) {
  static const std::set<std::string> ops = {"sum", "prod", "min", "max", "avg", "none", "premulsum", "mulsum"};
  return ops.count(s) > 0;
}

// A number, or NaN for "N/A"; nullopt when the token is neither.
std::optional<double> number_or_na(const std::string& s) {
  if (s == "N/A" || s == "n/a") return std::nan("");
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Strips the prefixes that launchers add: "[1,0]<stdout>:" (mpirun --tag-output) and "0: " (srun -l).
// mpirun's tags also land in mid-line when ranks' output interleaves; each is removed wherever it is.
std::string strip_prefixes(std::string line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  for (std::size_t close = line.find("]<std"); close != std::string::npos; close = line.find("]<std", close)) {
    const std::size_t open = line.rfind('[', close);
    const std::size_t colon = line.find(">:", close);
    const bool tag =
        open != std::string::npos && colon != std::string::npos && line.find_first_not_of("0123456789,", open + 1) == close;
    if (!tag) {
      ++close;
      continue;
    }
    line.erase(open, colon + 2 - open);
    close = open;
  }
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  std::size_t j = i;
  while (j < line.size() && std::isdigit(static_cast<unsigned char>(line[j]))) ++j;
  if (j > i && j < line.size() && line[j] == ':' && (j + 1 == line.size() || line[j + 1] == ' '))
    line = line.substr(std::min(line.size(), j + 2));
  return line;
}

// nccl-headers=22902 -> 2.29.2 (NCCL_VERSION_CODE since 2.9: major*10000 + minor*100 + patch).
std::string nccl_version_from_code(const std::string& code) {
  if (!all_digits(code)) return code;
  const long v = std::atol(code.c_str());
  if (v < 10000) return std::to_string(v / 1000) + "." + std::to_string(v / 100 % 10) + "." + std::to_string(v % 100);
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

struct Parser {
  std::string file;
  std::vector<NcclTestsRun> runs;
  NcclTestsRun cur;
  bool cur_started = false, cur_nthread = false;
  std::string file_nccl_version;
  int ip_na = 0, oop_checked = 0;

  void start(int line) {
    if (!cur_started) {
      cur.file = file;
      cur.source = file + ":" + std::to_string(line);
      cur_started = true;
    }
  }
  void finish() {
    if (cur_started && !cur.rows.empty()) {
      if (cur.nccl_version.empty()) cur.nccl_version = file_nccl_version;
      cur.in_place_wrong_na = ip_na > 0 && ip_na == static_cast<int>(cur.rows.size()) && oop_checked > 0;
      runs.push_back(cur);
    }
    cur = NcclTestsRun{};
    cur_started = cur_nthread = false;
    ip_na = oop_checked = 0;
  }
  bool cur_has_content() const { return cur_started && (cur_nthread || !cur.rows.empty() || !cur.program.empty()); }

  void header_line(const std::vector<std::string>& t, int line) {
    // t[0] == "#" or starts with '#'.
    std::vector<std::string> w(t.begin() + 1, t.end());
    if (w.empty()) return;
    if (w.size() >= 3 && w[0] == "nccl-tests" && w[1] == "version") {
      if (cur_has_content()) finish();
      start(line);
      cur.nccl_tests_version = w[2];
      for (const auto& x : w)
        if (x.rfind("nccl-library=", 0) == 0) cur.nccl_version = nccl_version_from_code(x.substr(13));
      return;
    }
    if (w.size() >= 4 && w[0] == "Collective" && w[1] == "test" && w[2] == "starting:") {
      if (cur_has_content()) finish();
      start(line);
      cur.program = w[3];
      return;
    }
    if (w.size() >= 3 && w[0] == "Collective" && w[1] == "test" && w[2] == "concluded:") {
      finish();
      return;
    }
    if ((w[0] == "Avg" && w.size() >= 2 && w[1] == "bus") || (w[0] == "Out" && w.size() >= 2 && w[1] == "of")) {
      cur.complete = true;
      return;
    }
    if (w[0] == "nThread") {
      if (cur_nthread) finish();
      start(line);
      cur_nthread = true;
      for (std::size_t i = 0; i + 1 < w.size(); ++i) {
        const std::string& k = w[i];
        const std::string& v = w[i + 1];
        if (k == "nThread")
          cur.nthreads = std::atoi(v.c_str());
        else if (k == "nGpus")
          cur.ngpus = std::atoi(v.c_str());
        else if (k == "minBytes")
          cur.min_bytes = std::atof(v.c_str());
        else if (k == "maxBytes")
          cur.max_bytes = std::atof(v.c_str());
        else if (k == "step:")
          cur.step = v;
        else if (k == "warmup" && v == "iters:" && i + 2 < w.size()) {
          cur.warmup = std::atoi(w[i + 2].c_str());
          i += 2;
        } else if (k == "agg" && v == "iters:") {
          i += 2;
        } else if (k == "iters:")
          cur.iters = std::atoi(v.c_str());
        else if (k == "validation:")
          cur.validation = std::atoi(v.c_str());
      }
      return;
    }
    if (w[0] == "Rank" && w.size() >= 2) {
      start(line);
      std::string host = "unknown", name;
      for (std::size_t i = 0; i + 1 < w.size(); ++i) {
        if (w[i] == "on") host = w[i + 1];
        if (w[i] == "device") {
          std::size_t j = i + 2;  // skip the device index
          if (j < w.size() && !w[j].empty() && w[j][0] == '[') ++j;
          for (; j < w.size(); ++j) name += (name.empty() ? "" : " ") + w[j];
          break;
        }
      }
      cur.rank_hosts.push_back(host);
      cur.rank_devices.push_back(name);
      return;
    }
    const bool has = [&] {
      bool size = false, count = false, type = false, time = false;
      for (const auto& x : w) {
        size |= x == "size";
        count |= x == "count";
        type |= x == "type";
        time |= x == "time" || x == "cputime";
      }
      return size && count && type && time;
    }();
    if (has) {
      start(line);
      cur.columns = w;
      cur.redop_column = std::find(w.begin(), w.end(), "redop") != w.end();
      cur.root_column = std::find(w.begin(), w.end(), "root") != w.end();
    }
  }

  void row(const std::vector<std::string>& t, int line) {
    start(line);
    if (cur.columns.empty()) {
      cur.columns = {"size",  "count",  "type", "redop", "root",  "time",  "algbw",
                     "busbw", "#wrong", "time", "algbw", "busbw", "#wrong"};
      cur.redop_column = cur.root_column = true;
    }
    const std::string where = file + ":" + std::to_string(line);
    std::size_t i = 3;
    if (t.size() < 3) throw_bad_input(where, "cannot read this nccl-tests row (too few fields)");
    if (cur.dtype.empty()) cur.dtype = t[2];
    if (cur.redop_column && i < t.size() && is_redop(t[i])) {
      if (cur.rows.empty()) cur.redop = t[i];
      ++i;
    }
    int root = -1;
    if (cur.root_column && i < t.size() && is_int(t[i])) {
      root = t[i].size() > 9 ? -1 : std::max(-1, std::atoi(t[i].c_str()));  // nccl-tests prints -1 when no root applies
      ++i;
    }
    const std::vector<std::string> rest(t.begin() + static_cast<long>(i), t.end());
    // Header columns after size/count/type/redop/root.
    std::vector<std::string> hcols;
    for (const auto& c : cur.columns)
      if (c != "size" && c != "count" && c != "type" && c != "redop" && c != "root") hcols.push_back(c);
    std::vector<std::size_t> at;  // positions of (time, algbw, busbw, wrong) for out-of-place and in-place
    if (rest.size() == hcols.size()) {
      for (std::size_t k = 0; k + 3 < hcols.size(); ++k)
        if ((hcols[k] == "time" || hcols[k] == "cputime") && hcols[k + 1] == "algbw" && hcols[k + 2] == "busbw") {
          at.push_back(k);
          k += 3;
        }
    }
    if (at.size() < 2) {
      if (rest.size() < 8) throw_bad_input(where, "cannot read this nccl-tests row (" + std::to_string(t.size()) + " fields)");
      at = {rest.size() - 8, rest.size() - 4};
    }
    auto num = [&](std::size_t k, const char* what) {
      const auto v = number_or_na(rest[k]);
      if (!v) throw_bad_input(where, std::string("cannot read the ") + what + " '" + rest[k] + "' of this nccl-tests row");
      return *v;
    };
    CollectiveSample x;
    x.root = root;
    const auto size = number_or_na(t[0]);
    const auto count = number_or_na(t[1]);
    if (!size || !count || std::isnan(*size) || std::isnan(*count))
      throw_bad_input(where, "cannot read the size and count of this row");
    x.bytes = *size;
    x.count = *count;
    const double time_us = num(at[0], "time");
    x.algbw_GBps = num(at[0] + 1, "algbw");
    x.busbw_GBps = num(at[0] + 2, "busbw");
    // Before v2.12 the column is `error`, the largest deviation from the expected values, and
    // nccl-tests counts one failed check when it exceeds its limit: read it as 0 or 1 wrong, not
    // as a count.
    const bool deviation = std::find(cur.columns.begin(), cur.columns.end(), "error") != cur.columns.end();
    auto as_wrong = [&](double v) -> double {
      if (std::isnan(v) || !deviation) return v;
      return v > legacy_deviation_limit(cur.dtype, cur.rank_hosts.size()) ? 1 : 0;
    };
    const double wrong = as_wrong(num(at[0] + 3, "#wrong"));
    x.wrong = std::isnan(wrong) ? -1 : static_cast<std::int64_t>(wrong);
    const double ip_time = num(at[1], "in-place time");
    const double ip_wrong = as_wrong(num(at[1] + 3, "in-place #wrong"));
    if (std::isnan(time_us) || !(time_us > 0)) return;  // nothing measured
    x.time_s = time_us * 1e-6;
    if (!std::isnan(ip_time) && ip_time > 0) {
      x.has_in_place = true;
      x.in_place_time_s = ip_time * 1e-6;
      x.in_place_algbw_GBps = num(at[1] + 1, "in-place algbw");
      x.in_place_busbw_GBps = num(at[1] + 2, "in-place busbw");
      x.in_place_wrong = std::isnan(ip_wrong) ? -1 : static_cast<std::int64_t>(ip_wrong);
      if (std::isnan(x.in_place_algbw_GBps)) x.in_place_algbw_GBps = 0;
      if (std::isnan(x.in_place_busbw_GBps)) x.in_place_busbw_GBps = 0;
    }
    if (std::isnan(x.algbw_GBps)) x.algbw_GBps = 0;
    if (std::isnan(x.busbw_GBps)) x.busbw_GBps = 0;
    if (x.wrong >= 0) ++oop_checked;
    if (std::isnan(ip_wrong)) ++ip_na;
    if (x.root >= 0 && std::find(cur.roots.begin(), cur.roots.end(), x.root) == cur.roots.end()) cur.roots.push_back(x.root);
    cur.rows.push_back(x);
  }

  void line(std::string raw, int lineno) {
    const std::string s = strip_prefixes(std::move(raw));
    if (s.find("NCCL INFO") != std::string::npos || s.find("NCCL WARN") != std::string::npos) return;
    const auto t = split_ws(s);
    if (t.empty()) return;
    if (t[0] == "NCCL" && t.size() >= 3 && t[1] == "version") {
      file_nccl_version = t[2];
      if (cur_started) cur.nccl_version = t[2];
      return;
    }
    if (t[0][0] == '#') {
      std::vector<std::string> w = t;
      if (w[0].size() > 1) {  // "#nThread" style: split the '#'
        w[0] = w[0].substr(1);
        w.insert(w.begin(), "#");
      }
      header_line(w, lineno);
      return;
    }
    if (t.size() >= 3 && all_digits(t[0]) && all_digits(t[1])) row(t, lineno);
    // Anything else (ssh/MCA warnings, launcher chatter) is ignored.
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string squash(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::vector<NcclTestsRun> parse_nccl_tests_text(const std::string& text, const std::string& file) {
  Parser p;
  p.file = file;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) p.line(raw, ++lineno);
  p.finish();
  return p.runs;
}

std::vector<NcclTestsRun> parse_nccl_tests_json(const Json& j, const std::string& file) {
  const JsonObject top(j, file);
  NcclTestsRun run;
  run.complete = true;
  run.file = file;
  run.source = file;
  run.redop_column = run.root_column = true;
  if (top.has("nccl_version")) {
    const Json& v = top.raw()["nccl_version"];
    run.nccl_version = v.is_string() ? v.get<std::string>() : nccl_version_from_code(v.dump());
  }
  if (top.has("args")) {
    const Json& a = top.raw()["args"];
    if (a.is_array() && !a.empty() && a[0].is_string())
      run.program = std::filesystem::path(a[0].get<std::string>()).filename().string();
  }
  const JsonObject cfg = top.object("config");
  run.nthreads = static_cast<int>(cfg.integer_or("nthreads", 0));
  run.ngpus = static_cast<int>(cfg.integer_or("ngpus", 0));
  run.min_bytes = cfg.number_or("minimum_bytes", 0);
  run.max_bytes = cfg.number_or("maximum_bytes", 0);
  if (cfg.has("step_factor")) run.step = std::to_string(cfg.integer("step_factor")) + "(factor)";
  if (cfg.has("step_bytes")) run.step = std::to_string(cfg.integer("step_bytes")) + "(bytes)";
  run.warmup = static_cast<int>(cfg.integer_or("warmup_iters", -1));
  run.iters = static_cast<int>(cfg.integer_or("iterations", -1));
  run.validation = static_cast<int>(cfg.integer_or("validation", -1));
  if (cfg.has("devices"))
    for (const auto& d : cfg.objects("devices")) {
      run.rank_hosts.push_back(d.string_or("hostname", "unknown"));
      run.rank_devices.push_back(d.string_or("device_info", ""));
    }
  int ip_na = 0, oop_checked = 0;
  for (const auto& r : top.objects("results")) {
    CollectiveSample x;
    x.bytes = r.non_negative_number("size");
    x.count = r.non_negative_number("count");
    if (run.dtype.empty()) run.dtype = r.string_or("type", "");
    if (run.redop.empty()) run.redop = r.string_or("redop", "");
    if (r.has("root")) {  // "%6i" as a string: "     0", "    -1"
      const Json& root = r.raw()["root"];
      std::string s = root.is_string() ? root.get<std::string>() : root.dump();
      s.erase(0, std::min(s.size(), s.find_first_not_of(' ')));
      if (is_int(s) && s.size() <= 9) x.root = std::max(-1, std::atoi(s.c_str()));
    }
    if (run.program.empty() && r.has("experiment_name")) run.program = r.string("experiment_name");
    auto placement = [&](const JsonObject& o, double& time_s, double& alg, double& bus, std::int64_t& wrong) {
      time_s = (o.has("time") ? o.number("time") : o.number("cpu_time")) * 1e-6;
      alg = o.number_or("alg_bw", 0);
      bus = o.number_or("bus_bw", 0);
      wrong = o.has("nwrong") ? o.integer("nwrong") : -1;
    };
    placement(r.object("out_of_place"), x.time_s, x.algbw_GBps, x.busbw_GBps, x.wrong);
    if (r.has("in_place")) {
      x.has_in_place = true;
      placement(r.object("in_place"), x.in_place_time_s, x.in_place_algbw_GBps, x.in_place_busbw_GBps, x.in_place_wrong);
      if (x.in_place_wrong < 0) ++ip_na;
    } else {
      ++ip_na;
    }
    if (x.wrong >= 0) ++oop_checked;
    if (x.time_s <= 0) continue;
    if (x.root >= 0 && std::find(run.roots.begin(), run.roots.end(), x.root) == run.roots.end()) run.roots.push_back(x.root);
    run.rows.push_back(x);
  }
  if (run.rows.empty()) top.fail("results", "has no measured rows");
  run.in_place_wrong_na = ip_na == static_cast<int>(run.rows.size()) && oop_checked > 0;
  return {run};
}

void resolve(NcclTestsRun& run) {
  if (!run.unsupported.empty()) return;
  const int known = static_cast<int>(run.rank_hosts.size());
  // busbw / algbw from rows whose printed figures are precise enough.
  std::vector<double> ratios;
  for (const auto& x : run.rows)
    if (x.algbw_GBps >= 1.0) ratios.push_back(x.busbw_GBps / x.algbw_GBps);
  if (ratios.empty())
    for (const auto& x : run.rows)
      if (x.algbw_GBps > 0) ratios.push_back(x.busbw_GBps / x.algbw_GBps);
  const double ratio = median(ratios);
  // send/recv, broadcast and reduce: busbw = algbw whatever the rank count.
  auto unit_factor = [](Collective c) {
    return c == Collective::SendRecv || c == Collective::Broadcast || c == Collective::Reduce;
  };
  auto inferred_ranks = [&](Collective c) -> double {
    if (ratios.empty()) return 0;
    if (c == Collective::AllReduce) return ratio < 2 ? 2 / (2 - ratio) : 0;
    if (unit_factor(c)) return 0;
    return ratio < 1 ? 1 / (1 - ratio) : 0;
  };
  auto fits_ratio = [&](Collective c) {
    if (ratios.empty()) return true;
    if (known > 0) {
      const double f = kernels::bus_bandwidth_factor(c, known);
      return std::fabs(f - ratio) <= 0.03 * std::max(f, 0.05);
    }
    if (unit_factor(c)) return std::fabs(ratio - 1) <= 0.03;
    const double n = inferred_ranks(c);
    return n >= 1.5 && std::fabs(n - std::round(n)) <= 0.05 * n;
  };

  if (!run.program.empty()) {
    const auto c = parse_collective(run.program);
    if (!c) {
      run.unsupported = run.program;
      return;
    }
    run.collective = c;
  } else {
    std::vector<Collective> cand;
    if (!run.roots.empty())
      // nccl-tests prints a root (>= 0) for broadcast and reduce only (and for gather and scatter,
      // whose bus factor is (n-1)/n and whose logs name themselves); reduce names its reduction,
      // broadcast prints "none" (legacy layouts: no redop column at all).
      cand = {run.redop.empty() || run.redop == "none" ? Collective::Broadcast : Collective::Reduce};
    else if (!run.redop_column)
      cand = {Collective::AllGather, Collective::SendRecv};
    else if (run.redop.empty())
      cand = {Collective::AllToAll};
    else if (run.redop == "none")
      cand = {Collective::AllGather, Collective::AllToAll, Collective::SendRecv};
    else
      cand = {Collective::AllReduce, Collective::ReduceScatter};
    std::vector<Collective> ok;
    for (Collective c : cand)
      if (fits_ratio(c)) ok.push_back(c);
    if (!run.roots.empty() && ok.empty()) {
      run.unsupported = "a run with a root whose bus/algorithm bandwidth ratio is not " + collective_name(cand[0]) +
                        "'s 1 (gather_perf or scatter_perf?)";
      return;
    }
    if (ok.size() > 1 && run.in_place_wrong_na && std::find(ok.begin(), ok.end(), Collective::AllToAll) != ok.end())
      ok = {Collective::AllToAll};
    if (ok.size() > 1) {
      const std::string stem = squash(std::filesystem::path(run.file).filename().string());
      std::vector<Collective> named;
      for (Collective c : ok)
        if (stem.find(squash(nccl_tests_name(c))) != std::string::npos ||
            stem.find(squash(collective_name(c))) != std::string::npos)
          named.push_back(c);
      if (named.size() == 1) ok = named;
    }
    if (ok.size() != 1) {
      std::string names;
      for (Collective c : (ok.empty() ? cand : ok)) names += (names.empty() ? "" : " or ") + collective_name(c);
      throw_bad_input(run.source, ok.empty() ? "the bus/algorithm bandwidth ratio fits none of " + names +
                                                   "; cannot tell which collective this run measured"
                                             : "cannot tell " + names +
                                                   " apart (no 'Collective test starting' line); put the collective's name "
                                                   "in the file name");
    }
    run.collective = ok[0];
  }
  if (known > 0) {
    run.ranks = known;
  } else {
    const double n = inferred_ranks(*run.collective);
    if (n >= 1.5)
      run.ranks = static_cast<int>(std::lround(n));
    else if (run.nthreads * run.ngpus > 1)
      run.ranks = run.nthreads * run.ngpus;
    else
      throw_bad_input(run.source, "cannot tell how many ranks ran (no 'Rank ... on HOST' lines)");
  }
  if (run.rank_hosts.empty()) run.rank_hosts.assign(static_cast<std::size_t>(run.ranks), "unknown");
}

Profile import_nccl_tests(const std::vector<std::string>& files, std::vector<std::string>* warnings) {
  if (files.empty()) throw_bad_input("--nccl-tests", "needs at least one file");
  std::vector<NcclTestsRun> runs;
  for (const auto& f : files) {
    const std::string text = read_text_file(f);
    const auto first = text.find_first_not_of(" \t\r\n");
    std::vector<NcclTestsRun> r;
    if (first != std::string::npos && text[first] == '{')
      r = parse_nccl_tests_json(parse_json(text, f), f);
    else
      r = parse_nccl_tests_text(text, f);
    if (r.empty()) throw_bad_input(f, "no nccl-tests result table found (expected the output of an nccl-tests *_perf binary)");
    runs.insert(runs.end(), r.begin(), r.end());
  }
  Profile p;
  p.complete = true;
  p.created = p.updated = utc_now_iso8601();
  int per_host_max = 1, network_max = 0;
  std::vector<std::string> hosts, devices, nccl_versions, tests_versions;
  auto add_unique = [](std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  Json run_list = Json::array();
  for (auto& run : runs) {
    resolve(run);
    if (!run.unsupported.empty()) {
      if (warnings)
        warnings->push_back(run.source + ": skipping " + run.unsupported + " (not one of the collectives nest models)");
      continue;
    }
    if (!run.complete && warnings && !run.rows.empty())
      warnings->push_back(
          run.source + ": the run ends without nccl-tests' closing lines (# Avg bus bandwidth): the log looks cut short after " +
          std::to_string(run.rows.size()) + " sizes (the last " + std::to_string(static_cast<long long>(run.rows.back().bytes)) +
          " bytes); imported as far as it goes");
    CollectiveSeries s;
    s.collective = *run.collective;
    s.group_size = run.ranks;
    s.hosts = run.rank_hosts;
    std::vector<std::string> distinct;
    for (const auto& h : run.rank_hosts) add_unique(distinct, h);
    const int H = static_cast<int>(distinct.size());
    if (H <= 1) {
      s.level = 0;
      s.members = {run.ranks};
      per_host_max = std::max(per_host_max, run.ranks);
    } else {
      s.level = 1;
      s.members = run.ranks % H == 0 ? std::vector<int>{run.ranks / H, H} : std::vector<int>{1, run.ranks};
      per_host_max = std::max(per_host_max, s.members[0]);
      network_max = std::max(network_max, run.ranks);
    }
    s.group = "nccl-tests:" + std::to_string(run.ranks);
    if (H > 1) {
      s.group += '/';
      s.group += std::to_string(H);
      s.group += "hosts";
    }
    s.dtype = run.dtype;
    s.source = run.source;
    s.samples = run.rows;
    std::stable_sort(s.samples.begin(), s.samples.end(),
                     [](const CollectiveSample& a, const CollectiveSample& b) { return a.bytes < b.bytes; });
    p.collectives.push_back(s);
    for (const auto& h : distinct) add_unique(hosts, h);
    for (const auto& d : run.rank_devices) add_unique(devices, d);
    add_unique(nccl_versions, run.nccl_version);
    add_unique(tests_versions, run.nccl_tests_version);
    Json entry = {{"source", run.source},
                  {"program", run.program.empty() ? Json(nullptr) : Json(run.program)},
                  {"collective", collective_name(*run.collective)},
                  {"ranks", run.ranks},
                  {"hosts", H},
                  {"dtype", run.dtype},
                  {"redop", run.redop},
                  {"min_bytes", run.min_bytes},
                  {"max_bytes", run.max_bytes},
                  {"step", run.step},
                  {"warmup_iters", run.warmup},
                  {"iters", run.iters},
                  {"validation", run.validation}};
    if (!run.roots.empty()) entry["roots"] = run.roots;
    if (!used_for_planning(*run.collective)) entry["used_for_planning"] = false;
    run_list.push_back(entry);
  }
  if (p.collectives.empty()) throw_bad_input(files[0], "none of the runs measured a collective nest models");
  if (warnings && std::none_of(p.collectives.begin(), p.collectives.end(),
                               [](const CollectiveSeries& s) { return used_for_planning(s.collective); }))
    warnings->push_back(files[0] + (files.size() > 1 ? " ...: " : ": ") +
                        "only broadcast and reduce runs: they are imported and fitted, but no plan issues them, so the "
                        "profile gives the planner no network figures (its cost_model has no levels)");
  p.levels.push_back({"node", per_host_max});
  if (network_max > 0) p.levels.push_back({"network", network_max});
  p.machine = {{"hosts", hosts}, {"devices", devices}};
  p.software = {{"backend", "nccl-tests"}, {"nccl", nccl_versions}, {"nccl_tests", tests_versions}, {"nest", "0.1.0"}};
  p.config = {{"backend", "nccl-tests"},
              {"files", files},
              {"statistic",
               "as printed by nccl-tests: the mean time per iteration over the timed iterations, averaged over "
               "ranks (nccl-tests' default -a 1); the out-of-place columns are the samples, the in-place "
               "columns are kept beside them"},
              {"runs", run_list}};
  refit(p);
  return p;
}

}  // namespace nest::profiler
