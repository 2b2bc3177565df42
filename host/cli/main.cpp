// The `nest` command. The only place where errors become output and exit codes: one line on
// standard error, 2 for bad input, 1 for an infeasible plan, 3 for run-time failures.
#include <exception>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "nest/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"nest: exact planner for distributed training of large models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nest 0.1.0");
  std::function<int()> run;
  nest::cli::register_plan(app, run);
  nest::cli::register_evaluate(app, run);
  nest::cli::register_export(app, run);
  nest::cli::register_presets(app, run);
  nest::cli::register_calibrate(app, run);
  nest::cli::register_profile(app, run);
  nest::cli::register_trace(app, run);
  nest::cli::register_compare(app, run);
  nest::cli::register_collective(app, run);
  nest::cli::register_sweep(app, run);
  nest::cli::register_topology(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "nest: " << e.what() << " (see nest --help)\n";
    return static_cast<int>(nest::ExitCode::BadInput);
  } catch (const nest::Error& e) {
    std::cerr << "nest: " << e.what() << "\n";
    return static_cast<int>(e.code());
  }
  try {
    return run ? run() : 0;
  } catch (const nest::Error& e) {
    std::cerr << "nest: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "nest: out of host memory\n";
    return static_cast<int>(nest::ExitCode::Runtime);
  } catch (const std::exception& e) {
    std::cerr << "nest: internal error: " << e.what() << "\n";
    return static_cast<int>(nest::ExitCode::Runtime);
  }
}
