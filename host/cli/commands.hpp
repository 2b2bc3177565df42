// Each subcommand registers its flags and, when chosen, sets `run` to the work it does.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace nest::cli {

void register_evaluate(CLI::App& app, std::function<int()>& run);
void register_presets(CLI::App& app, std::function<int()>& run);
void register_calibrate(CLI::App& app, std::function<int()>& run);
void register_profile(CLI::App& app, std::function<int()>& run);
void register_plan(CLI::App& app, std::function<int()>& run);
void register_export(CLI::App& app, std::function<int()>& run);
void register_trace(CLI::App& app, std::function<int()>& run);
void register_compare(CLI::App& app, std::function<int()>& run);
void register_collective(CLI::App& app, std::function<int()>& run);
void register_sweep(CLI::App& app, std::function<int()>& run);
void register_topology(CLI::App& app, std::function<int()>& run);

}  // namespace nest::cli
