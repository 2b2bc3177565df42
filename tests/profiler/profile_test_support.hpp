// Helpers for the profiler's end-to-end tests: the real binary with extra environment
// variables, and under mpirun (as root too, oversubscribing this machine's cores).
#pragma once

#include <cstdlib>
#include <string>

#include "support/test_support.hpp"

namespace nest::test {

// `env` is "NAME=value ..." (may be empty).
inline RunResult run_nest_env(const std::string& env, const std::string& args) {
  return run_command("env " + env + " '" + std::string(NEST_BINARY) + "' " + args);
}

inline bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

inline RunResult run_mpi(int ranks, const std::string& args, const std::string& env = "") {
  return run_command("env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + env +
                     " mpirun --oversubscribe --bind-to none -np " + std::to_string(ranks) + " '" + std::string(NEST_BINARY) +
                     "' " + args);
}

}  // namespace nest::test
