// The trace-event format's rules (Chrome's "Trace Event Format" document, as Perfetto's JSON
// importer reads it), checked on a parsed trace: what a trace must satisfy to open in
// ui.perfetto.dev unchanged and look as written.
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "nest/io/json.hpp"

namespace nest::test {

// Microseconds (the format's unit) to integer nanoseconds, as Perfetto rounds them.
inline long long trace_ns(double us) { return std::llround(us * 1000.0); }

// Every problem found (empty: the trace follows the rules):
// - a JSON object with a "traceEvents" array (and "displayTimeUnit" "ms" or "ns" if present);
// - every event an object with a known "ph"; every event but metadata with a string "name",
//   integer "pid" and "tid" and a number "ts" >= 0 (microseconds);
// - metadata (M) events named process_name / thread_name with a string args.name, or
//   process_sort_index / thread_sort_index with an integer args.sort_index;
// - X events with a number "dur" >= 0, properly nested on their thread (no partial overlaps,
//   in Perfetto's integer nanoseconds); B/E events balanced per thread, never ending before
//   they begin;
// - flow events: each id starts once (s) and finishes once (f, "bp": "e"), each inside a slice
//   of its thread;
// - every process and thread with slices named by metadata.
inline std::vector<std::string> trace_format_problems(const Json& j) {
  std::vector<std::string> out;
  auto bad = [&](const std::string& s) {
    if (out.size() < 20) out.push_back(s);
  };
  if (!j.is_object() || !j.contains("traceEvents") || !j["traceEvents"].is_array()) {
    bad("not an object with a traceEvents array");
    return out;
  }
  if (j.contains("displayTimeUnit") && j["displayTimeUnit"] != "ms" && j["displayTimeUnit"] != "ns")
    bad("displayTimeUnit must be ms or ns");
  const std::set<std::string> phases = {"X", "B", "E", "M", "s", "t", "f", "i", "I", "C"};
  std::map<std::pair<long long, long long>, std::vector<std::pair<long long, long long>>> slices;
  std::map<std::pair<long long, long long>, std::vector<long long>> open;
  std::set<long long> named_pids;
  std::set<std::pair<long long, long long>> named_threads, used_threads;
  struct Flow {
    int starts = 0, finishes = 0;
  };
  std::map<long long, Flow> flows;
  std::vector<std::tuple<long long, long long, long long>> flow_points;  // pid, tid, ts (ns)
  std::size_t index = 0;
  for (const Json& e : j["traceEvents"]) {
    const std::string where = "event " + std::to_string(index++);
    if (!e.is_object() || !e.contains("ph") || !e["ph"].is_string()) {
      bad(where + ": no ph");
      continue;
    }
    const std::string ph = e["ph"];
    if (!phases.count(ph)) {
      bad(where + ": unknown ph " + ph);
      continue;
    }
    if (!e.contains("pid") || !e["pid"].is_number_integer() || !e.contains("tid") || !e["tid"].is_number_integer()) {
      bad(where + ": pid and tid must be integers");
      continue;
    }
    const long long pid = e["pid"], tid = e["tid"];
    if (ph == "M") {
      const std::string name = e.value("name", "");
      const Json args = e.value("args", Json::object());
      if (name == "process_name" || name == "thread_name") {
        if (!args.contains("name") || !args["name"].is_string()) bad(where + ": " + name + " without args.name");
        if (name == "process_name") named_pids.insert(pid);
        if (name == "thread_name") named_threads.insert({pid, tid});
      } else if (name == "process_sort_index" || name == "thread_sort_index") {
        if (!args.contains("sort_index") || !args["sort_index"].is_number_integer())
          bad(where + ": " + name + " without an integer args.sort_index");
      } else {
        bad(where + ": unknown metadata " + name);
      }
      continue;
    }
    if (!e.contains("name") || !e["name"].is_string()) bad(where + ": no name");
    if (!e.contains("ts") || !e["ts"].is_number() || e["ts"].get<double>() < 0) {
      bad(where + ": ts must be a number >= 0 (microseconds)");
      continue;
    }
    const long long ts = trace_ns(e["ts"].get<double>());
    if (ph == "X") {
      if (!e.contains("dur") || !e["dur"].is_number() || e["dur"].get<double>() < 0) {
        bad(where + ": X without a dur >= 0");
        continue;
      }
      slices[{pid, tid}].push_back({ts, ts + trace_ns(e["dur"].get<double>())});
      used_threads.insert({pid, tid});
    } else if (ph == "B") {
      open[{pid, tid}].push_back(ts);
      used_threads.insert({pid, tid});
    } else if (ph == "E") {
      auto& st = open[{pid, tid}];
      if (st.empty())
        bad(where + ": E without a B");
      else {
        if (ts < st.back()) bad(where + ": E before its B");
        slices[{pid, tid}].push_back({st.back(), ts});
        st.pop_back();
      }
    } else if (ph == "s" || ph == "f" || ph == "t") {
      if (!e.contains("id")) {
        bad(where + ": flow event without an id");
        continue;
      }
      const long long id = e["id"];
      if (ph == "s") ++flows[id].starts;
      if (ph == "f") {
        ++flows[id].finishes;
        if (e.value("bp", "") != "e") bad(where + ": flow finish without \"bp\": \"e\"");
      }
      flow_points.emplace_back(pid, tid, ts);
    }
  }
  for (const auto& [k, st] : open)
    if (!st.empty()) bad("thread " + std::to_string(k.first) + "/" + std::to_string(k.second) + ": B without E");
  for (auto& [k, v] : slices) {
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
    std::vector<long long> ends;  // the enclosing slices' ends
    for (const auto& [b, e] : v) {
      while (!ends.empty() && ends.back() <= b) ends.pop_back();
      if (!ends.empty() && e > ends.back())
        bad("thread " + std::to_string(k.first) + "/" + std::to_string(k.second) + ": slice at " + std::to_string(b) +
            " ns overlaps the one before without nesting");
      ends.push_back(e);
    }
  }
  for (const auto& [id, f] : flows)
    if (f.starts != 1 || f.finishes != 1) bad("flow " + std::to_string(id) + ": not one start and one finish");
  for (const auto& [pid, tid, ts] : flow_points) {
    const auto it = slices.find({pid, tid});
    const bool inside = it != slices.end() && std::any_of(it->second.begin(), it->second.end(),
                                                          [t = ts](auto& s) { return s.first <= t && t <= s.second; });
    if (!inside)
      bad("flow point at " + std::to_string(ts) + " ns on " + std::to_string(pid) + "/" + std::to_string(tid) +
          " is in no slice");
  }
  for (const auto& t : used_threads) {
    if (!named_pids.count(t.first)) bad("process " + std::to_string(t.first) + " has no process_name");
    if (!named_threads.count(t))
      bad("thread " + std::to_string(t.first) + "/" + std::to_string(t.second) + " has no thread_name");
  }
  return out;
}

}  // namespace nest::test
