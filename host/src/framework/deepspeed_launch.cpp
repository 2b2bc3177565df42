// deepspeed launch script (placeholder being replaced).
#include "frameworks.hpp"
#include "nest/export/export.hpp"

namespace nest {

std::string DeepspeedFramework::launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const {
  (void)problem;
  (void)plan;
  (void)model_spec;
  return "";
}

}  // namespace nest
