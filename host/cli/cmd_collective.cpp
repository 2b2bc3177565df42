// nest collective: the model's time for one collective on a concrete group of a cluster, printed
// the way nccl-tests reports a row (time, algorithm and bus bandwidth), so architects can ask the
// network model directly. The formulas are those the planner uses (kernels/collectives.hpp,
// docs/cost-model.md §4).
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli_common.hpp"
#include "commands.hpp"
#include "nest/core/error.hpp"
#include "nest/core/limits.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"
#include "nest/profiler/profile.hpp"

namespace nest::cli {

namespace {

struct CollectiveFlags {
  std::string cluster, op, bytes;
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

}  // namespace

void register_collective(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<CollectiveFlags>();
  CLI::App* sub = app.add_subcommand(
      "collective", "predicted time and bus bandwidth of one collective on a cluster, as nccl-tests reports them");
  sub->add_option("--cluster", f->cluster, "cluster preset name or path to a cluster JSON file")->required();
  sub->add_option("--op", f->op, "all_reduce | all_gather | reduce_scatter | all_to_all | send_recv | broadcast | reduce")
      ->required()
      ->check(CLI::IsMember({"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "broadcast", "reduce"}));
  sub->add_option("--ranks", f->ranks, "GPUs in the group")->required();
  sub->add_option("--ranks-per-node", f->ranks_per_node, "GPUs of the group in each node (default: a full node)");
  sub->add_option("--bytes", f->bytes,
                  "message size, nccl-tests' convention (K, M, G suffixes; all-gather: the output, reduce-scatter: the input)")
      ->required();
  sub->add_flag("--json", f->json, "print JSON");
  sub->callback([f, &run] {
    run = [f]() -> int {
      const Cluster cluster = load_cluster(f->cluster);
      if (f->ranks < 1 || f->ranks > limits::kMaxGpus)
        throw_bad_input("--ranks", "must be between 1 and " + std::to_string(limits::kMaxGpus));
      const std::int64_t node = cluster.levels.front().size;
      std::int64_t per_node = f->ranks_per_node;
      if (per_node == 0) per_node = node > 0 && node < f->ranks ? node : f->ranks;
      if (per_node < 1) throw_bad_input("--ranks-per-node", "must be a positive integer");
      const double bytes = parse_bytes(f->bytes, "--bytes");
      if (bytes < 1 || bytes > std::ldexp(1.0, 50)) throw_bad_input("--bytes", "must be between 1 byte and 1 PiB");
      const kernels::Collective op = *profiler::parse_collective(f->op);
      if (op == kernels::Collective::SendRecv && f->ranks != 2)
        throw_bad_input("--ranks", "send_recv is one stream between 2 ranks (nccl-tests sendrecv_perf's bandwidth per pair)");
      const kernels::GroupShape g = group_on(cluster, f->ranks, per_node);
      const kernels::Network net = cluster.network();
      const double time = kernels::collective_time(op, net, g, bytes);
      const double algbw = bytes / time;
      const double busbw = algbw * kernels::bus_bandwidth_factor(op, static_cast<double>(f->ranks));
      if (f->json) {
        Json members = Json::array();
        for (int l = 0; l < g.num_levels; ++l)
          members.push_back({{"level", cluster.levels[static_cast<std::size_t>(l)].name}, {"members", g.members[l]}});
        const Json j = {{"cluster", f->cluster}, {"op", f->op},    {"ranks", f->ranks},         {"ranks_per_node", per_node},
                        {"bytes", bytes},        {"time_s", time}, {"algbw_GBps", algbw / kGB}, {"busbw_GBps", busbw / kGB},
                        {"group", members}};
        std::cout << dump_json(j);
      } else {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%s on %ld ranks (%lld per node) of %s, %.0f bytes\n", f->op.c_str(), f->ranks,
                      static_cast<long long>(per_node), cluster.name.c_str(), bytes);
        std::cout << buf;
        std::snprintf(buf, sizeof buf,
                      "#       size     time   algbw   busbw\n#        (B)     (us)  (GB/s)  (GB/s)\n%12.0f %8.2f %7.2f %7.2f\n",
                      bytes, time * 1e6, algbw / kGB, busbw / kGB);
        std::cout << buf;
      }
      return 0;
    };
  });
}

}  // namespace nest::cli
