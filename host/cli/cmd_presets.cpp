// nest presets: what ships in presets/, with the figures that identify each entry.
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "nest/core/units.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/text.hpp"
#include "nest/io/presets.hpp"
#include "nest/model/layer_graph.hpp"

namespace nest::cli {

void register_presets(CLI::App& app, std::function<int()>& run) {
  CLI::App* sub = app.add_subcommand("presets", "list the shipped model, GPU, cluster and topology presets");
  sub->callback([&run] {
    run = []() -> int {
      char buf[256];
      std::cout << "models (presets/models, Hugging Face config.json format)\n";
      for (const auto& name : list_presets(PresetKind::Model)) {
        const ModelConfig m = load_model(name);
        const ParameterCount c = count_parameters(m);
        std::snprintf(buf, sizeof buf, "  %-20s %-12s %8.2fB params", name.c_str(), m.model_type.c_str(), c.total / 1e9);
        std::cout << buf;
        if (m.is_moe()) {
          std::snprintf(buf, sizeof buf, " (%.2fB active)", c.active / 1e9);
          std::cout << buf;
        }
        if (c.mtp > 0) {
          std::snprintf(buf, sizeof buf, " (%.2fB in %d MTP module%s)", c.mtp / 1e9, m.mtp_layers, m.mtp_layers > 1 ? "s" : "");
          std::cout << buf;
        }
        std::snprintf(buf, sizeof buf, "  %lld layers, hidden %lld, %s, %s MLP: %s\n", static_cast<long long>(m.layers),
                      static_cast<long long>(m.hidden), to_string(m.attention()), to_string(m.mlp), layer_kinds(m).c_str());
        std::cout << buf;
      }
      std::cout << "\nGPUs (presets/gpus)\n";
      for (const auto& name : list_presets(PresetKind::Gpu)) {
        const GpuSpec g = load_gpu(name);
        std::snprintf(buf, sizeof buf, "  %-16s %6.1f GiB  %6.0f TFLOP/s bf16  %6.0f GB/s HBM", name.c_str(),
                      g.memory_bytes / kGiB, g.peak_bf16_flops() / kTera, g.hbm_bandwidth / kGB);
        std::cout << buf;
        if (g.tdp_watts > 0) std::cout << format_text("  %5.0f W", g.tdp_watts);
        if (g.compute_power_fraction() < 1) std::cout << format_text(" (runs capped at %.0f W)", g.power_limit_watts);
        std::cout << "\n";
      }
      std::cout << "\nclusters (presets/clusters)\n";
      auto print_cluster = [&](const std::string& name, const Cluster& c) {
        std::string levels;
        for (const auto& l : c.levels) {
          std::snprintf(buf, sizeof buf, "%s%s %s x %.0f GB/s", levels.empty() ? "" : ", ", l.name.c_str(),
                        l.size ? std::to_string(l.size).c_str() : "rest", l.bandwidth / kGB);
          levels += buf;
          if (l.host_gpus > 0) levels += " (hosts of " + std::to_string(l.host_gpus) + ")";
        }
        std::snprintf(buf, sizeof buf, "  %-22s %-10s %5.1f GiB  %s\n", name.c_str(), c.gpu.name.c_str(), c.memory_bytes / kGiB,
                      levels.c_str());
        std::cout << buf;
      };
      for (const auto& name : list_presets(PresetKind::Cluster)) print_cluster(name, load_cluster(name));
      std::cout << "\ntopologies (presets/topologies; the levels derived from their graphs; topology:NAME where a cluster has "
                   "the name)\n";
      for (const auto& name : list_presets(PresetKind::Topology)) {
        const Cluster c = load_cluster("topology:" + name);
        print_cluster(name + " (" + std::to_string(c.max_gpus) + ")", c);
      }
      return 0;
    };
  });
}

}  // namespace nest::cli
