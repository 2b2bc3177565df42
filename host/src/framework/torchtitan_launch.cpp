// torchtitan launch script (placeholder being replaced).
#include "frameworks.hpp"
#include "nest/export/export.hpp"

namespace nest {

std::string TorchtitanFramework::launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const {
  ExportInput in;
  in.file.model_spec = model_spec;
  in.file.gpus = problem.gpus;
  in.file.global_batch = problem.global_batch;
  in.file.seq_len = problem.seq_len;
  in.file.options = problem.options;
  in.file.plan = plan;
  return export_torchtitan(in);
}

}  // namespace nest
