// A seeded mutation fuzzer for every parser nest reads input with: model config, cluster, plan,
// profile, nccl-tests text and -J JSON, NEST solver input. Each input is a mutation of a real file
// (presets, tests/data) and goes through the parser and what consumes its result (parameter
// counts, domain sizes, the evaluator). An input passes when it returns, or throws nest::Error
// (the CLI's one-line exit 1-3); it fails on any other exception (an "internal error"), a crash
// (the process dies; the input is left in FUZZ_DIR/current.*) or taking longer than --per-input
// seconds (SIGALRM). Deterministic: the same --seed gives the same inputs.
//
//   nest_fuzz --parser model|cluster|plan|profile|nccl-text|nccl-json|nest-input
//             --seeds DIR_OR_FILE... [--inputs N] [--seed S] [--per-input SECONDS]
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/model/layer_graph.hpp"
#include "nest/model/model_config.hpp"
#include "nest/plan_file/plan_json.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/profile.hpp"
#include "nest/search/nest_input.hpp"

namespace fs = std::filesystem;
using nest::Json;

namespace {

char g_current[4096];  // the input being run, named by the alarm handler

void on_alarm(int) {
  const char msg[] = "nest_fuzz: HANG: input took longer than --per-input; it is kept at ";
  (void)!::write(2, msg, sizeof msg - 1);
  (void)!::write(2, g_current, std::strlen(g_current));
  (void)!::write(2, "\n", 1);
  ::_exit(124);
}

// Values that break parsers: zero, signs, int32/int64/double edges, fractions, denormals.
const char* const kExtremeNumbers[] = {"0",
                                       "-1",
                                       "1",
                                       "2147483647",
                                       "2147483648",
                                       "4294967296",
                                       "9007199254740993",
                                       "9223372036854775807",
                                       "18446744073709551615",
                                       "99999999999999999999",
                                       "1e300",
                                       "-1e300",
                                       "1e400",
                                       "1e-320",
                                       "0.5",
                                       "3.7",
                                       "-0"};
const char* const kOtherValues[] = {"null", "\"\"", "\"x\"", "[]", "{}", "true", "[1,2,3]", "\"1e3\""};

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  // One structural change to a JSON document, written back as text.
  std::string mutate_json(Json doc) {
    std::vector<Json*> nodes;
    collect(doc, nodes);
    Json* n = nodes[pick(nodes.size())];
    switch (pick(5)) {
      case 0: {  // a value becomes an extreme number (1e400 only as text, below: no double holds it)
        const std::string v = kExtremeNumbers[pick(std::size(kExtremeNumbers))];
        *n = Json::parse(v == "1e400" ? "1e300" : v);
        break;
      }
      case 1:  // a value of another type
        *n = Json::parse(kOtherValues[pick(std::size(kOtherValues))]);
        break;
      case 2:  // a key goes missing
        if (n->is_object() && !n->empty()) {
          auto it = n->begin();
          std::advance(it, static_cast<std::ptrdiff_t>(pick(n->size())));
          n->erase(it.key());
        }
        break;
      case 3:  // an array grows or empties
        if (n->is_array()) {
          if (!n->empty() && pick(2))
            n->push_back((*n)[pick(n->size())]);
          else
            n->clear();
        }
        break;
      default:  // a number scaled far out of range
        if (n->is_number()) *n = n->get<double>() * (pick(2) ? 1e12 : -1);
        break;
    }
    std::string text = doc.dump();
    if (pick(8) == 0) text = mutate_bytes(text);  // and sometimes broken text as well
    if (pick(16) == 0) {                          // a literal beyond double's range
      const std::size_t at = text.find_first_of("0123456789");
      if (at != std::string::npos) text.replace(at, 1, "1e400");
    }
    return text;
  }

  // Line and byte changes for text formats (nccl-tests logs).
  std::string mutate_text(const std::string& text) {
    std::vector<std::string> lines;
    std::string line;
    for (char c : text) {
      if (c == '\n') {
        lines.push_back(line);
        line.clear();
      } else {
        line += c;
      }
    }
    lines.push_back(line);
    const std::size_t i = pick(lines.size());
    switch (pick(7)) {
      case 0:
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      case 1:
        lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(i), lines[i]);
        break;
      case 2:
        lines.resize(i);  // truncated, at a row boundary
        break;
      case 3: {  // a number token becomes an extreme
        std::string& l = lines[i];
        const std::size_t at = l.find_first_of("0123456789");
        if (at != std::string::npos) {
          const std::size_t end = l.find_first_not_of("0123456789.e+-", at);
          l.replace(at, (end == std::string::npos ? l.size() : end) - at, kExtremeNumbers[pick(std::size(kExtremeNumbers))]);
        }
        break;
      }
      case 4:  // mpirun --tag-output prefix, sometimes mid-line
        lines[i].insert(pick(2) ? 0 : pick(lines[i].size() + 1), "[1,0]<stdout>:");
        break;
      case 5:
        std::swap(lines[i], lines[pick(lines.size())]);
        break;
      default:
        return mutate_bytes(text);
    }
    std::string out;
    for (std::size_t k = 0; k < lines.size(); ++k) out += lines[k] + (k + 1 < lines.size() ? "\n" : "");
    return out;
  }

  std::string mutate_bytes(std::string s) {
    const int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const std::size_t at = pick(s.size());
      switch (pick(4)) {
        case 0:
          s[at] = static_cast<char>(pick(256));
          break;
        case 1:
          s.erase(at, 1 + pick(16));
          break;
        case 2:
          s.insert(at, 1, "{}[]\",:0-e9"[pick(11)]);
          break;
        default:
          s.resize(at);
          break;
      }
    }
    return s;
  }

 private:
  static void collect(Json& j, std::vector<Json*>& out) {
    out.push_back(&j);
    if (j.is_object() || j.is_array())
      for (auto& c : j) collect(c, out);
  }
  std::mt19937_64 rng_;
};

// What each parser does with an input file, including what consumes the parsed result.
void run_model(const std::string& path) {
  const nest::ModelConfig m = nest::read_model_config(path, "fuzz");
  (void)nest::count_parameters(m);
  (void)nest::build_layer_graph(m, true);
}

void run_cluster(const std::string& path) {
  const nest::Cluster c = nest::load_cluster(path);
  for (std::int64_t g : {1, 8, 64, 1024}) try {
      (void)c.domain_sizes(g);
    } catch (const nest::Error&) {
    }
}

void run_plan(const std::string& path) {
  const nest::PlanFile pf = nest::read_plan_file(path);
  nest::Problem p;
  p.model = nest::load_model(pf.model_spec);
  // What the file says is out or set (nodes, GPUs, a switch, the power cap, cluster_set), as
  // nest evaluate --plan loads it.
  p.outages = pf.outages;
  p.outages.job_gpus = pf.gpus;
  p.cluster = nest::load_cluster(pf.cluster_spec, p.outages);
  p.gpus = pf.gpus;
  p.global_batch = pf.global_batch;
  p.seq_len = pf.seq_len;
  p.options = pf.options;
  (void)p.cluster.domain_sizes(p.gpus);
  (void)nest::evaluate_plan(p, pf.plan);
}

void run_profile(const std::string& path) {
  nest::profiler::Profile prof = nest::profiler::read_profile(path);
  (void)nest::profiler::cost_model_json(prof);
}

void run_nccl_text(const std::string& path) {
  for (auto& r : nest::profiler::parse_nccl_tests_text(nest::read_text_file(path), path)) nest::profiler::resolve(r);
  (void)nest::profiler::import_nccl_tests({path});
}

void run_nccl_json(const std::string& path) {
  for (auto& r : nest::profiler::parse_nccl_tests_json(nest::read_json_file(path), path)) nest::profiler::resolve(r);
}

void run_nest_input(const std::string& path) { (void)nest::read_nest_input(path); }

struct Parser {
  void (*run)(const std::string&);
  bool json;
  const char* extension;
};

const std::map<std::string, Parser> kParsers = {
    {"model", {run_model, true, ".json"}},
    {"cluster", {run_cluster, true, ".json"}},
    {"plan", {run_plan, true, ".json"}},
    {"profile", {run_profile, true, ".json"}},
    {"nccl-text", {run_nccl_text, false, ".txt"}},
    {"nccl-json", {run_nccl_json, true, ".json"}},
    {"nest-input", {run_nest_input, true, ".json"}},
};

std::vector<std::string> seed_files(const std::vector<std::string>& args, const char* extension) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    if (fs::is_directory(a)) {
      for (const auto& e : fs::recursive_directory_iterator(a))
        if (e.is_regular_file() && e.path().extension() == extension) out.push_back(e.path().string());
    } else if (fs::is_regular_file(a)) {
      out.push_back(a);
    }
  }
  std::sort(out.begin(), out.end());  // directory order is not deterministic
  return out;
}

int usage(const char* why) {
  std::cerr << "nest_fuzz: " << why
            << "\nusage: nest_fuzz --parser NAME --seeds PATH... [--inputs N] [--seed S] [--per-input SECONDS]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string parser_name;
  std::vector<std::string> seeds;
  long inputs = 1000, per_input = 10;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--parser") {
      parser_name = value();
    } else if (a == "--inputs") {
      inputs = std::atol(value().c_str());
    } else if (a == "--seed") {
      seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (a == "--per-input") {
      per_input = std::atol(value().c_str());
    } else if (a == "--seeds") {
      while (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) seeds.push_back(argv[++i]);
    } else {
      return usage(("unknown argument " + a).c_str());
    }
  }
  const auto it = kParsers.find(parser_name);
  if (it == kParsers.end()) return usage("--parser: unknown or missing");
  const Parser& parser = it->second;
  const std::vector<std::string> files = seed_files(seeds, parser.extension);
  if (files.empty()) return usage("--seeds: no seed files");
  std::vector<std::string> texts;
  for (const auto& f : files) texts.push_back(nest::read_text_file(f));

  const fs::path dir = fs::temp_directory_path() / ("nest-fuzz-" + parser_name + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string current = (dir / ("current" + std::string(parser.extension))).string();
  std::snprintf(g_current, sizeof g_current, "%s", current.c_str());
  std::signal(SIGALRM, on_alarm);

  Mutator mut(seed);
  std::map<std::string, long> counts;
  long internal = 0;
  for (long n = 0; n < inputs; ++n) {
    const std::size_t s = mut.pick(texts.size());
    std::string input;
    if (parser.json) {
      try {
        input = mut.mutate_json(nest::Json::parse(texts[s]));
      } catch (const nest::Json::exception&) {
        input = mut.mutate_bytes(texts[s]);
      }
    } else {
      input = mut.mutate_text(texts[s]);
    }
    {
      std::ofstream out(current, std::ios::binary | std::ios::trunc);
      out << input;
    }
    ::alarm(static_cast<unsigned>(per_input));
    try {
      parser.run(current);
      ++counts["accepted (exit 0)"];
    } catch (const nest::Error& e) {
      ++counts["refused, exit " + std::to_string(static_cast<int>(e.code()))];
    } catch (const std::exception& e) {
      ++internal;
      const std::string keep = (dir / ("internal-" + std::to_string(n) + parser.extension)).string();
      fs::copy_file(current, keep, fs::copy_options::overwrite_existing);
      std::cerr << "nest_fuzz: INTERNAL ERROR on input " << n << " (seed " << files[s] << ", kept at " << keep
                << "): " << e.what() << "\n";
    }
    ::alarm(0);
  }
  std::cout << "nest_fuzz " << parser_name << ": " << inputs << " inputs from " << files.size() << " seed files, seed " << seed
            << "\n";
  for (const auto& [k, v] : counts) std::cout << "  " << k << ": " << v << "\n";
  std::cout << "  internal errors: " << internal << "\n  crashes: 0\n  hangs (> " << per_input << " s): 0\n";
  if (internal == 0) fs::remove_all(dir);
  return internal == 0 ? 0 : 1;
}
