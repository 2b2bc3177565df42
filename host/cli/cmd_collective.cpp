// nest collective: the model's time for one collective on a concrete group of a cluster, printed
// the way nccl-tests reports a row (time, algorithm and bus bandwidth), so architects can ask the
// network model directly. The formulas are those the planner uses (kernels/collectives.hpp,
// docs/cost-model.md §4). The group is --ranks GPUs packed into the levels, or a concrete list of
// GPUs (--gpus) embedded in the cluster's topology, beside other groups running at the same time
// (--alongside), each level priced at the busiest link of the group's own rings. A --ranks group
// runs alone: on fewer GPUs per node than a node has, its rails get the node's network to
// themselves (levels_for_group_alone).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/group_embedding.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/profiler/profile.hpp"

namespace nest::cli {

namespace {

struct CollectiveFlags {
  std::string cluster, op, bytes, gpus;
  std::vector<std::string> alongside;
  long ranks = 0, ranks_per_node = 0;
  bool json = false;
};

// `ranks` GPUs, `per_node` of them in each innermost domain (a node), the nodes packed into the
// levels above in order: the members of the group at each level.
kernels::GroupShape group_on(const Cluster& cluster, std::int64_t ranks, std::int64_t per_node) {
  if (per_node > ranks || ranks % per_node != 0)
    throw_bad_input("--ranks-per-node", std::to_string(per_node) + " does not divide --ranks " + std::to_string(ranks));
  const std::int64_t node = cluster.levels.front().size;
  if (node > 0 && per_node > node)
    throw_bad_input("--ranks-per-node", std::to_string(per_node) + " exceeds the " + std::to_string(node) + " GPUs of a " +
                                            cluster.levels.front().name + " domain of " + cluster.name);
  (void)cluster.domain_sizes(node > 0 ? ranks / per_node * node : ranks);  // the nodes must exist
  kernels::GroupShape g;
  g.num_levels = static_cast<int>(cluster.levels.size());
  for (int l = 0; l < g.num_levels; ++l) g.members[l] = 1;
  g.members[0] = static_cast<double>(per_node);
  std::int64_t left = ranks / per_node;
  for (int l = 1; l < g.num_levels && left > 1; ++l) {
    const std::int64_t size = cluster.levels[static_cast<std::size_t>(l)].size;
    const std::int64_t here = size == 0 || left <= size ? left : size;
    if (left % here != 0)
      throw_bad_input("--ranks", std::to_string(ranks / per_node) + " nodes do not fill the " +
                                     cluster.levels[static_cast<std::size_t>(l)].name + " level of " + cluster.name +
                                     " evenly (its domains hold " + std::to_string(size) + ")");
    g.members[l] = static_cast<double>(here);
    left /= here;
  }
  return g;
}

// One collective priced on one group, and how to describe the group.
struct Priced {
  kernels::GroupShape shape;
  double time = 0;
  std::int64_t ranks = 0;
  Json fields = Json::object();  // what names the group, for --json
  Json group = Json::array();    // per level, for --json
  std::string header;            // the text form's first line
  std::string table;             // per level, for the text form (--gpus)
};

// One line per level where the group's rails have its nodes' network more to themselves than
// when every GPU of the node is on it: "  leaf: 48.2 GB/s per GPU, 4 of the node's 8 GPUs on it
// (36.5 with all of them)".
std::string rails_alone_lines(const std::vector<NetworkLevel>& alone, const std::vector<NetworkLevel>& shared,
                              const kernels::GroupShape& shape, std::int64_t in_node) {
  std::string out;
  char buf[256];
  for (std::size_t l = 1; l < alone.size() && static_cast<int>(l) < shape.num_levels; ++l) {
    if (shape.members[l] <= 1 || alone[l].bandwidth == shared[l].bandwidth) continue;
    std::snprintf(buf, sizeof buf, "  %s: %.4g GB/s per GPU, %lld of the node's %lld GPUs on it (%.4g with all of them)\n",
                  alone[l].name.c_str(), alone[l].bandwidth / kGB, static_cast<long long>(in_node),
                  static_cast<long long>(shared.front().size), shared[l].bandwidth / kGB);
    out += buf;
  }
  return out;
}

// The row nccl-tests prints: algbw = bytes / time, busbw = algbw x the collective's bus factor.
void print_row(const CollectiveFlags& f, kernels::Collective op, double bytes, const Priced& p) {
  const double algbw = bytes / p.time;
  const double busbw = algbw * kernels::bus_bandwidth_factor(op, static_cast<double>(p.ranks));
  if (f.json) {
    Json j = {{"cluster", f.cluster}, {"op", f.op}};
    for (const auto& [key, value] : p.fields.items()) j[key] = value;
    j["bytes"] = bytes;
    j["time_s"] = p.time;
    j["algbw_GBps"] = algbw / kGB;
    j["busbw_GBps"] = busbw / kGB;
    j["group"] = p.group;
    std::cout << dump_json(j);
    return;
  }
  char buf[256];
  std::cout << p.header << p.table;
  std::snprintf(buf, sizeof buf,
                "#       size     time   algbw   busbw\n#        (B)     (us)  (GB/s)  (GB/s)\n%12.0f %8.2f %7.2f %7.2f\n", bytes,
                p.time * 1e6, algbw / kGB, busbw / kGB);
  std::cout << buf;
}

Priced priced_on_gpus(const CollectiveFlags& f, const Cluster& cluster, kernels::Collective op, double bytes) {
  std::vector<std::vector<std::int64_t>> groups{parse_index_list(f.gpus, "--gpus")};
  std::vector<std::string> flags{"--gpus"};
  for (const std::string& a : f.alongside) {
    groups.push_back(parse_index_list(a, "--alongside"));
    flags.push_back("--alongside");
  }
  std::int64_t largest = 0;
  for (const auto& g : groups) largest = std::max(largest, *std::max_element(g.begin(), g.end()));
  const std::shared_ptr<const Topology> graph = topology_holding(cluster, largest, "--gpus");
  const Topology& topo = *graph;
  const GroupEmbedding e = embed_groups(topo, groups, flags).front();
  Priced p;
  p.shape = e.shape;
  p.ranks = static_cast<std::int64_t>(groups.front().size());
  if (op == kernels::Collective::SendRecv && p.ranks != 2)
    throw_bad_input("--gpus", "send_recv is one stream between 2 GPUs (nccl-tests sendrecv_perf's bandwidth per pair)");
  // The node's network is shared by the GPUs of every group given that sit in it: the busiest
  // node the group uses sets its rails' rate (levels_for_group_alone).
  const std::int64_t node_gpus = topo.spec().node_gpus;
  std::map<std::int64_t, std::int64_t> in_node;
  for (const auto& g : groups)
    for (std::int64_t gpu : g) ++in_node[gpu / node_gpus];
  std::int64_t busiest_node = 0;
  for (std::int64_t gpu : groups.front()) busiest_node = std::max(busiest_node, in_node[gpu / node_gpus]);
  const std::vector<NetworkLevel> levels = levels_for_group_alone(e.levels, busiest_node);
  p.time = kernels::collective_time(op, network_of(levels), e.shape, bytes);
  std::vector<std::int64_t> sorted = groups.front();
  std::sort(sorted.begin(), sorted.end());
  p.fields = {{"ranks", p.ranks}, {"gpus", sorted}, {"alongside", groups.size() - 1}};
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s on %lld GPUs (%g per node) of %s, %.0f bytes, beside %zu other group%s\n", f.op.c_str(),
                static_cast<long long>(p.ranks), e.shape.members[0], topo.spec().name.c_str(), bytes, groups.size() - 1,
                groups.size() == 2 ? "" : "s");
  p.header = buf;
  p.table = "  level     members  congestion  busiest link of the group's rings\n";
  for (std::size_t l = 0; l < e.levels.size(); ++l) {
    const BusiestLink& b = e.busiest[l];
    Json row = {{"level", e.levels[l].name},
                {"members", e.shape.members[l]},
                {"congestion", e.congestion[l]},
                {"bandwidth_GBps", levels[l].bandwidth / kGB}};
    std::string link = "-";
    if (b.link >= 0) {
      const LinkLoad named = link_load(topo, b);
      row["busiest_link"] = link_load_json(named);
      link = link_load_text(named);
    }
    std::snprintf(buf, sizeof buf, "  %-8s %8g %11.3g  %s\n", e.levels[l].name.c_str(), e.shape.members[l], e.congestion[l],
                  link.c_str());
    p.table += buf;
    p.group.push_back(row);
  }
  p.table += rails_alone_lines(levels, e.levels, e.shape, busiest_node);
  return p;
}

}  // namespace

void register_collective(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<CollectiveFlags>();
  CLI::App* sub = app.add_subcommand(
      "collective", "predicted time and bus bandwidth of one collective on a cluster, as nccl-tests reports them");
  sub->add_option("--cluster", f->cluster, "cluster preset name or path to a cluster JSON file")->required();
  sub->add_option("--op", f->op, "all_reduce | all_gather | reduce_scatter | all_to_all | send_recv | broadcast | reduce")
      ->required()
      ->check(CLI::IsMember({"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "broadcast", "reduce"}));
  sub->add_option("--ranks", f->ranks, "GPUs in the group (or --gpus)");
  sub->add_option("--ranks-per-node", f->ranks_per_node, "GPUs of the group in each node (default: a full node)");
  sub->add_option("--gpus", f->gpus,
                  "the group as GPUs of the cluster's topology (global indices, a list such as 0-7,64-71), instead of --ranks");
  sub->add_option("--alongside", f->alongside,
                  "with --gpus: another group running the same collective at the same time (repeat for more)");
  sub->add_option("--bytes", f->bytes,
                  "message size, nccl-tests' convention (K, M, G suffixes; all-gather: the output, reduce-scatter: the input)")
      ->required();
  sub->add_flag("--json", f->json, "print JSON");
  sub->callback([f, &run] {
    run = [f]() -> int {
      const Cluster cluster = load_cluster(f->cluster);
      const double bytes = parse_bytes(f->bytes, "--bytes");
      if (bytes < 1 || bytes > std::ldexp(1.0, 50)) throw_bad_input("--bytes", "must be between 1 byte and 1 PiB");
      const kernels::Collective op = *profiler::parse_collective(f->op);
      if (!f->gpus.empty()) {
        if (f->ranks != 0 || f->ranks_per_node != 0)
          throw_bad_input("--gpus", "names the group itself; give it or --ranks / --ranks-per-node, not both");
        print_row(*f, op, bytes, priced_on_gpus(*f, cluster, op, bytes));
        return 0;
      }
      if (!f->alongside.empty()) throw_bad_input("--alongside", "needs the group as --gpus");
      if (f->ranks == 0) throw_bad_input("--ranks", "give the group as --ranks N (or as --gpus LIST)");
      if (f->ranks < 1 || f->ranks > limits::kMaxGpus)
        throw_bad_input("--ranks", "must be between 1 and " + std::to_string(limits::kMaxGpus));
      const std::int64_t node = cluster.levels.front().size;
      std::int64_t per_node = f->ranks_per_node;
      if (per_node == 0) per_node = node > 0 && node < f->ranks ? node : f->ranks;
      if (per_node < 1) throw_bad_input("--ranks-per-node", "must be a positive integer");
      if (op == kernels::Collective::SendRecv && f->ranks != 2)
        throw_bad_input("--ranks", "send_recv is one stream between 2 ranks (nccl-tests sendrecv_perf's bandwidth per pair)");
      Priced p;
      p.shape = group_on(cluster, f->ranks, per_node);
      p.ranks = f->ranks;
      // The group runs alone, as nccl-tests runs it: with fewer GPUs per node than the node has,
      // its rails share the node's network with no one (docs/cost-model.md §4, "A rail alone").
      const std::vector<NetworkLevel> levels = levels_for_group_alone(cluster.levels, per_node);
      p.time = kernels::collective_time(op, network_of(levels), p.shape, bytes);
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s on %ld ranks (%lld per node) of %s, %.0f bytes\n", f->op.c_str(), f->ranks,
                    static_cast<long long>(per_node), cluster.name.c_str(), bytes);
      p.header = buf;
      for (std::size_t l = 0; l < levels.size() && static_cast<int>(l) < p.shape.num_levels; ++l)
        p.group.push_back(
            {{"level", levels[l].name}, {"members", p.shape.members[l]}, {"bandwidth_GBps", levels[l].bandwidth / kGB}});
      p.table = rails_alone_lines(levels, cluster.levels, p.shape, per_node);
      p.fields = {{"ranks", f->ranks}, {"ranks_per_node", per_node}};
      print_row(*f, op, bytes, p);
      return 0;
    };
  });
}

}  // namespace nest::cli
