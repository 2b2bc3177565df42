// One error type for the whole tool. Everything that goes wrong is thrown as nest::Error with
// the exit code the CLI returns and one line of text that names the file, the field and the
// problem. The CLI boundary (host/cli/main.cpp) is the only place that turns it into output. It
// lives in the lowest layer (kernels/include) so that the backends under kernels/ report through
// it without including anything from host/.
#pragma once

#include <stdexcept>
#include <string>

namespace nest {

enum class ExitCode : int {
  Ok = 0,
  Infeasible = 1,  // no feasible plan, or the plan given is infeasible
  BadInput = 2,    // bad input or usage
  Runtime = 3,     // device, NCCL, MPI or I/O failure at run time
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

// "<where>: <problem>", exit code 2. `where` is a file, a flag or "file: field 'x'".
[[noreturn]] inline void throw_bad_input(const std::string& where, const std::string& problem) {
  throw Error(ExitCode::BadInput, where.empty() ? problem : where + ": " + problem);
}
[[noreturn]] inline void throw_runtime(const std::string& what) { throw Error(ExitCode::Runtime, what); }

}  // namespace nest
