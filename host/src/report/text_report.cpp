#include "nest/report/text_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "nest/io/text.hpp"
#include "nest/core/units.hpp"
#include "nest/cost/placement.hpp"
#include "nest/framework/framework.hpp"

namespace nest {

namespace {

std::string pad(const std::string& s, std::size_t w) { return s.size() >= w ? s + " " : s + std::string(w - s.size(), ' '); }

std::string layer_name(int id, int blocks) {
  if (id < 0) return "embedding";
  if (id >= blocks) return "head";
  return "block " + std::to_string(id);
}

// `text` after `first` on lines of at most 100 characters, later lines indented as far as `first`.
std::string wrapped(const std::string& first, const std::string& text) {
  constexpr std::size_t kWidth = 100;
  const std::string indent(first.size(), ' ');
  std::string out = first, line;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    if (!line.empty() && first.size() + line.size() + 1 + word.size() > kWidth) {
      out += line + "\n" + indent;
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line + "\n";
}

std::string with_commas(double x) {
  const std::string digits = format_text("%.0f", x);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// The level of each pipeline boundary in order ("nvlink/leaf/nvlink"; long pipelines: the first
// few and a count per level), then the interleaved schedule's wrap; "-" without a pipeline.
std::string pp_levels_text(const Cluster& c, const Plan& plan, const Placement& placement) {
  const std::vector<int> levels = pp_boundary_levels(placement, false);
  if (levels.empty()) return "-";
  auto name = [&](int l) { return c.levels[static_cast<std::size_t>(l)].name; };
  constexpr std::size_t kListed = 7;
  const bool long_pipeline = levels.size() > kListed;
  std::ostringstream o;
  for (std::size_t b = 0; b < levels.size() && b < (long_pipeline ? 3 : kListed); ++b) o << (b ? "/" : "") << name(levels[b]);
  if (long_pipeline) {
    o << "/... (" << levels.size() << " boundaries:";
    const char* sep = " ";
    for (std::size_t l = 0; l < c.levels.size(); ++l) {
      const auto n = std::count(levels.begin(), levels.end(), static_cast<int>(l));
      if (n == 0) continue;
      o << sep << n << " " << name(static_cast<int>(l));
      sep = ", ";
    }
    o << ")";
  }
  if (plan.par.schedule == Schedule::Interleaved) o << " (wrap " << name(pp_boundary_levels(placement, true).back()) << ")";
  return o.str();
}

}  // namespace

std::string format_prediction(const Problem& problem, const Plan& plan, const Prediction& pr) {
  std::ostringstream o;
  const int blocks = static_cast<int>(problem.model.layers);
  const GpuSpec& gpu = problem.cluster.gpu;
  o << "model      " << problem.model.name << " on " << problem.cluster.name << " (" << gpu.name;
  if (gpu.compute_power_fraction() < 1)
    o << format_text(" at %.0f of %.0f W: tensor cores at %.1f%%", gpu.power_limit_watts, gpu.tdp_watts,
                     100 * gpu.compute_power_fraction());
  o << "), " << problem.gpus << " GPUs, global batch " << problem.global_batch << " x " << problem.seq_len << " tokens";
  if (problem.options.document_length > 0 && problem.options.document_length < problem.seq_len)
    o << ", attention masked per document of " << problem.options.document_length << " tokens";
  o << "\n";
  o << "plan       " << describe_parallelism(plan.par) << "\n";
  if (pr.gpus_used != problem.gpus) o << "           uses " << pr.gpus_used << " of " << problem.gpus << " GPUs\n";
  if (pr.evaluated) {
    const Cluster& c = problem.cluster;
    o << "placement  " << (pr.placement.from_rank_map ? std::string("rank map") : plan.order.str()) << ":  tp "
      << spanned_level(c, pr.placement.tp) << ", cp " << spanned_level(c, pr.placement.cp) << ", ep "
      << spanned_level(c, pr.placement.ep);
    if (plan.par.folded())
      o << " (etp " << spanned_level(c, pr.placement.etp) << ", edp " << spanned_level(c, pr.placement.edp) << ")";
    o << ", dp " << spanned_level(c, pr.placement.dp);
    if (plan.par.dp_shard > 0)
      o << " (shards " << spanned_level(c, pr.placement.dp_shard) << ", replicas " << spanned_level(c, pr.placement.dp_replicate)
        << ")";
    o << ", pp " << pp_levels_text(c, plan, pr.placement) << "\n\n";
    o << "step time  " << format_duration(pr.step_time) << "   tokens/s " << with_commas(pr.tokens_per_s) << "   MFU "
      << format_text("%.1f%%", 100 * pr.mfu) << "   TFLOP/s per GPU " << format_text("%.1f", pr.model_tflops_per_gpu)
      << " (model), " << format_text("%.1f", pr.hardware_tflops_per_gpu) << " (executed: masks, recomputation, MoE padding)\n";
    const Breakdown& b = pr.breakdown;
    auto part = [&](const char* name, double x) {
      return std::string(name) + " " + (x > 0 ? format_duration(x) + format_text(" (%.0f%%)", 100 * x / pr.step_time) : "-");
    };
    o << "breakdown  " << part("compute", b.compute) << "  " << part("bubble", b.bubble) << "  " << part("tp", b.tp) << "  "
      << part("cp", b.cp) << "  " << part("ep", b.ep) << "  " << part("pp", b.pp) << "  " << part("dp", b.dp) << "  "
      << part("optimizer", b.optimizer) << "\n";
    o << "           critical path: " << plan.par.num_microbatches
      << (plan.par.num_microbatches == 1 ? " microbatch" : " microbatches") << " at stage " << pr.bottleneck_stage
      << "'s pace, pipeline fill and drain"
      << (b.bubble_sends > 0 ? " (" + format_duration(b.bubble_sends) + " of it waiting for overlapped pipeline sends)" : "")
      << ", then stage " << pr.tail_stage << "'s gradient sync and optimizer step\n\n";
    o << pad("stage", 6) << pad("layers", 26) << pad("blocks", 7) << pad("GPUs", 6) << pad("time/mb", 11) << pad("params", 9)
      << pad("grads", 9) << pad("optim", 9) << pad("activ", 9) << pad("work", 9) << pad("other", 9) << pad("total GiB", 9)
      << "\n";
    for (const StageReport& s : pr.stages) {
      std::string layers = layer_name(s.first_layer, blocks) + " .. " + layer_name(s.last_layer, blocks);
      if (s.chunks.size() > 1) layers += " (" + std::to_string(s.chunks.size()) + " chunks)";
      const double total = s.memory.total();
      o << pad(std::to_string(s.index), 6) << pad(layers, 26) << pad(std::to_string(s.blocks), 7)
        << pad(std::to_string(s.devices), 6) << pad(format_duration(s.time), 11)
        << pad(format_text("%.2f", s.memory.params / kGiB), 9) << pad(format_text("%.2f", s.memory.grads / kGiB), 9)
        << pad(format_text("%.2f", s.memory.optimizer / kGiB), 9) << pad(format_text("%.2f", s.memory.activations / kGiB), 9)
        << pad(format_text("%.2f", s.memory.working_set / kGiB), 9) << pad(format_text("%.2f", s.memory.other / kGiB), 9)
        << format_text("%.2f", total / kGiB) << (total > problem.cluster.memory_bytes ? "  OVER" : "") << "\n";
    }
    o << "           (per GPU; " << format_text("%.2f", problem.cluster.memory_bytes / kGiB) << " GiB available)\n";
    const auto fullest = std::max_element(pr.stages.begin(), pr.stages.end(), [](const StageReport& x, const StageReport& y) {
      return x.memory.total() < y.memory.total();
    });
    if (fullest != pr.stages.end() && fullest->working_set_layer > -2)
      o << "           (work: the largest of its layers' transient bytes; on the fullest stage, " << fullest->index << ", the "
        << layer_name(fullest->working_set_layer, blocks) << "'s)\n";
    const Framework& fw = framework(problem.options.framework);
    const double overlap_bytes = plan.par.tp_comm_overlap ? fw.tp_overlap_bytes(problem, plan.par) : 0;
    const std::string overlap_text =
        overlap_bytes > 0 ? format_text(" and the TP overlap's %.2f GiB of userbuffers", overlap_bytes / kGiB) : std::string();
    if (fullest != pr.stages.end() && fullest->memory.buffered > 0)
      o << "           (other: the allocator's " << format_text("%.0f%%", 100 * fw.allocator_overhead())
        << " reserve on all but the " << format_text("%.2f", fullest->memory.buffered / kGiB)
        << " GiB of model state the framework\n            keeps in flat buffers on stage " << fullest->index
        << ", the CUDA context, NCCL's buffers" << overlap_text << ")\n";
    else if (overlap_bytes > 0)
      o << "           (other: the allocator's reserve, the CUDA context, NCCL's buffers" << overlap_text << ")\n";
    if (!pr.stages.empty() && pr.stages.front().memory.grads_apart)
      o << "           (gradients are freed before each forward and this step runs one microbatch: the peak holds\n"
           "            the activations and working set or the gradients, whichever is larger, and shows the other as 0)\n";
  }
  if (problem.model.is_moe())
    // The MoE validation sets (docs/cost-model.md §9.2): the GPU time holds, the host time of
    // small microbatches is not priced, so say so where the number is read.
    o << "caveat     MoE layers are priced as GPU time: published Megatron MoE runs at small microbatches were\n"
         "           host-bound and slower than such a prediction (docs/cost-model.md §9.2)\n";
  // What stops the framework's launch script for this plan (a model its release cannot build, a
  // setting its command line lacks): said where the plan is made, not first by nest export.
  if (pr.evaluated)
    for (const LaunchRefusal& r : framework(problem.options.framework).launch_refusals(problem, plan))
      o << wrapped("caveat     ", "nest export refuses this plan: " + r.message);
  if (!pr.violations.empty()) {
    o << "\nINFEASIBLE:\n";
    for (const auto& v : pr.violations) o << "  - " << v << "\n";
  }
  return o.str();
}

}  // namespace nest
