// nest topology: write the topology of a hierarchical cluster file (--from-cluster), or show what
// a topology expands to: its graph and the levels the cost model derives from it.
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"

namespace nest::cli {

namespace {

struct TopologyFlags {
  std::string from_cluster, topology, out = "-", unavailable, unavailable_gpus, lost_switch;
  std::vector<std::string> cluster_set;
  long gpus = 0;
  bool json = false;
};

int show(const TopologyFlags& f) {
  const std::string path = resolve_preset(PresetKind::Cluster, f.topology);
  Json j = read_json_file(path);
  const std::vector<ClusterSetting> settings = cluster_settings(f.cluster_set);
  apply_json_settings(j, {settings.begin(), settings.end()}, path);
  if (!is_topology_json(j)) throw_bad_input(path, "is a hierarchical cluster, not a topology (convert it with --from-cluster)");
  TopologySpec spec = read_topology_spec(JsonObject(j, path));
  if (!f.unavailable.empty()) {
    const auto more = parse_index_list(f.unavailable, "--unavailable-nodes");
    spec.unavailable_nodes.insert(spec.unavailable_nodes.end(), more.begin(), more.end());
  }
  if (!f.unavailable_gpus.empty()) {
    const auto more = parse_index_list(f.unavailable_gpus, "--unavailable-gpus");
    spec.unavailable_gpus.insert(spec.unavailable_gpus.end(), more.begin(), more.end());
  }
  if (!f.lost_switch.empty()) set_lost_switch(spec, f.lost_switch, "--lost-switch");
  const Topology topo(spec);
  if (f.json) {
    Json levels = Json::array();
    for (const auto& d : topo.levels()) {
      const NetworkLevel& l = d.level;
      levels.push_back({{"name", l.name},
                        {"size", l.size},
                        {"bandwidth_GBps", l.bandwidth / kGB},
                        {"latency_s", l.latency},
                        {"p2p_bandwidth_GBps", l.p2p_bandwidth / kGB},
                        {"alltoall_bandwidth_GBps", l.alltoall_bandwidth / kGB},
                        {"nvls_bandwidth_GBps", l.nvls_bandwidth / kGB},
                        {"lone_bandwidth_GBps", l.lone_bandwidth / kGB},
                        {"congestion", d.congestion}});
    }
    const Json out = {{"topology", topo.spec().name},
                      {"gpus", topo.gpus_total()},
                      {"usable_gpus", topo.gpus_usable()},
                      {"unavailable_nodes", topo.spec().unavailable_nodes},
                      {"unavailable_gpus", topo.spec().unavailable_gpus},
                      {"lost_switch", f.lost_switch.empty() ? Json() : Json(f.lost_switch)},
                      {"vertices", topo.vertices().size()},
                      {"links", topo.links().size()},
                      {"levels", levels}};
    std::cout << dump_json(out);
    return 0;
  }
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %lld GPUs (%lld usable), graph of %zu vertices and %zu links\n", topo.spec().name.c_str(),
                static_cast<long long>(topo.gpus_total()), static_cast<long long>(topo.gpus_usable()), topo.vertices().size(),
                topo.links().size());
  std::cout << buf << "level            size   GB/s/GPU  latency_us  p2p_GB/s  congestion\n";
  for (const auto& d : topo.levels()) {
    const NetworkLevel& l = d.level;
    std::snprintf(buf, sizeof buf, "%-14s %6s %10.2f %11.2f %9.2f %11.3f\n", l.name.c_str(),
                  l.size ? std::to_string(l.size).c_str() : "rest", l.bandwidth / kGB, l.latency * 1e6,
                  (l.p2p_bandwidth > 0 ? l.p2p_bandwidth : l.bandwidth) / kGB, d.congestion);
    std::cout << buf;
  }
  return 0;
}

}  // namespace

void register_topology(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<TopologyFlags>();
  CLI::App* sub = app.add_subcommand(
      "topology", "write a hierarchical cluster's topology (--from-cluster), or show a topology's graph and derived levels");
  sub->add_option("--from-cluster", f->from_cluster, "hierarchical cluster preset or file to write as a topology");
  sub->add_option("--gpus", f->gpus, "GPUs of the topology written by --from-cluster");
  sub->add_option("--out", f->out, "where --from-cluster writes (default: - for standard output)");
  sub->add_option("--topology", f->topology, "topology preset or file to show");
  sub->add_option("--unavailable-nodes", f->unavailable, "with --topology: nodes that are out (3,17,40-47)");
  sub->add_option("--unavailable-gpus", f->unavailable_gpus, "with --topology: GPUs out inside their nodes (global indices)");
  sub->add_option("--lost-switch", f->lost_switch,
                  "with --topology: one switch of this tier out, TIER (its first domain) or TIER:DOMAIN (the tier must "
                  "state \"switches\")");
  sub->add_option("--cluster-set", f->cluster_set,
                  "with --topology: PATH=VALUE (repeatable), a field of the topology file set before it is read "
                  "(docs/inputs.md §8)");
  sub->add_flag("--json", f->json, "with --topology: print JSON");
  sub->callback([f, &run] {
    run = [f]() -> int {
      if (f->from_cluster.empty() == f->topology.empty())
        throw_bad_input("nest topology", "give either --from-cluster C --gpus N or --topology T");
      if (!f->topology.empty()) return show(*f);
      if (f->gpus < 1 || f->gpus > limits::kMaxGpus)
        throw_bad_input("--gpus", "must be between 1 and " + std::to_string(limits::kMaxGpus) + " (the GPUs the topology has)");
      const Json t = topology_from_cluster(f->from_cluster, f->gpus);
      write_file_atomic(f->out, dump_json(t));
      return 0;
    };
  });
}

}  // namespace nest::cli
