#include "nest/profiler/kernel_table.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/kernels/operators.hpp"
#include "nest/profiler/fit.hpp"

namespace nest::profiler {

namespace {

double num(const std::string& s) {
  if (s.empty()) return 0;
  try {
    return std::stod(s);
  } catch (...) {
    return 0;
  }
}

// The sources a preset value was read from or fitted on (docs/cost-model.md §3 says which).
bool used_for_fit(const KernelRow& r) {
  // Measured by nest itself on a lent GPU after the model's values were set: held out.
  if (r.source_id.rfind("NEST-", 0) == 0) return false;
  if (r.source_id == "MLE-MAMF") return true;  // GEMM eta_max
  // In-step forward+backward: B200's backward is read from it; H200's, with Hopper's backward
  // fitted on isolated kernels, is the check.
  if (r.source_id == "MLE-UPG") return r.kernel == "flash_attn4_fwd_bwd";
  // cuDNN's fused attention, which the fused kernel's curves stand in for: the check.
  if (r.kernel.rfind("cudnn", 0) == 0) return false;
  // The FlashAttention-3 paper's bars: FlashAttention-2's curves and the causal factors of both
  // from spans of 2k and more.
  if (r.source_id == "FA3-PAPER-FIG") return !(r.causal && r.seq < 2048);
  if (r.kernel == "flash_attn3_fwd" || r.kernel == "flash_attn3_bwd") return true;  // FA3 curves
  // B200's FlashAttention-2 forward from 512
  if (r.source_id == "TB-PR171") return r.seq >= 512;
  if (r.source_id == "FA-ISSUE1589") return r.kernel == "flash_attn2_bwd";  // B200 FA2 backward
  if (r.source_id == "FA-PR2280")
    return r.kernel.find("bwd") == std::string::npos;  // FA4 forward (the backward
                                                       // rows give only the causal ratio)
  if (r.kernel.rfind("hbm", 0) == 0) return true;      // achieved bandwidth
  return false;
}

AttentionRefit refit(const std::vector<const KernelRow*>& fit_rows, const std::vector<const KernelRow*>& score_rows,
                     double peak_tflops) {
  AttentionRefit a;
  std::vector<EfficiencyPoint> pts;
  for (const KernelRow* r : fit_rows) pts.push_back({r->seq, r->measured / peak_tflops});
  const EfficiencyFit f = fit_efficiency(pts);
  a.efficiency = f.e_max;
  a.half_span = f.x_half;
  for (const KernelRow* r : score_rows) {
    const double pred = peak_tflops * f.e_max * r->seq / (r->seq + f.x_half);
    const double e = std::fabs(pred / r->measured - 1);
    a.mean_abs_error += e / static_cast<double>(score_rows.size());
    a.max_abs_error = std::max(a.max_abs_error, e);
  }
  return a;
}

}  // namespace

KernelComparison compare_kernel_table(const std::string& csv_path, const std::vector<GpuSpec>& gpus) {
  KernelComparison out;
  std::stringstream ss(read_text_file(csv_path));
  std::vector<std::string> header;
  int line_no = 0;
  for (std::string line; std::getline(ss, line);) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const auto cells = split_csv_line(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    auto col = [&](const char* name) -> std::string {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return i < cells.size() ? cells[i] : "";
      throw_bad_input(csv_path, std::string("no column '") + name + "'");
    };
    KernelRow r;
    r.line = line_no;
    r.source_id = col("source_id");
    r.gpu_label = col("gpu");
    r.kernel = col("kernel");
    r.m = num(col("M"));
    r.n = num(col("N"));
    r.k = num(col("K"));
    r.batch = std::max(1.0, num(col("batch")));
    r.seq = num(col("seq_len"));
    r.heads = num(col("heads"));
    r.head_dim = num(col("head_dim"));
    r.causal = col("causal").rfind("yes", 0) == 0;
    r.measured = num(col("measured_tflops_or_GBps"));
    r.units = col("units");
    const GpuSpec* gpu = nullptr;
    for (const GpuSpec& g : gpus)
      for (const std::string& label : g.kernel_labels)
        if (label == r.gpu_label) gpu = &g;
    if (!gpu || r.measured <= 0) {
      ++out.skipped;
      continue;
    }
    r.preset = gpu->name;
    // Only the kernels the operator model describes, and for attention only the generations of
    // the preset's two kernels (fused, FlashAttention-2) and cuDNN's fused attention (what
    // Transformer Engine and PyTorch >= 2.9 run), scored against the fused kernel.
    auto generation_of = [&](AttentionKernel k) {
      const std::string& name = gpu->ops.attention[static_cast<int>(k)].kernel;
      return name.substr(name.size() - 1);
    };
    const std::string row_gen = r.kernel.rfind("flash_attn", 0) == 0 ? r.kernel.substr(10, 1) : "";
    const bool cudnn = r.kernel.rfind("cudnn_attn_", 0) == 0 || r.kernel.rfind("cudnn_sdpa_", 0) == 0;
    const AttentionKernel attention =
        cudnn || row_gen == generation_of(AttentionKernel::Fused) ? AttentionKernel::Fused : AttentionKernel::Flash2;
    const kernels::GpuModel g = gpu->compute_model(kernels::Precision::Bf16, attention);
    if (r.kernel == "gemm_bf16" || (r.kernel == "gemm_fp8" && gpu->supports(kernels::Precision::Fp8))) {
      const bool fp8 = r.kernel == "gemm_fp8";
      const kernels::GpuModel gm = gpu->compute_model(fp8 ? kernels::Precision::Fp8 : kernels::Precision::Bf16);
      const double t = kernels::curve_gemm_time(gm, gm.linear, fp8 ? 1 : 2, r.m, r.n, r.k, r.batch);
      r.predicted = 2 * r.m * r.n * r.k * r.batch / t / kTera;
    } else if ((cudnn || (r.kernel.rfind("flash_attn", 0) == 0 && row_gen == generation_of(attention))) &&
               r.kernel.find("fp8") == std::string::npos && r.seq > 0) {
      const double heads = r.heads > 0 ? r.heads : 1;
      const double flops = 4 * r.batch * r.seq * r.seq * heads * r.head_dim * (r.causal ? 0.5 : 1);
      const double fwd = kernels::flash_attention_fwd_time(g, flops, r.seq, r.causal);
      const double bwd = kernels::flash_attention_bwd_time(g, flops, r.seq, r.causal);
      // Forward-plus-backward rows are in-step figures in the MFU convention, which counts the
      // backward as twice the forward (6 s^2 d h causal per layer: MLE-UPG's README, "causal
      // attention costs 6*s^2*d*h*L per step"); the kernels execute 2.5x (the backward recomputes
      // the scores), so the same time reads as 3.5/3 of the row's TFLOP/s in executed FLOPs.
      constexpr double kModelFlopsFwdBwd = 3;
      if (r.kernel.find("fwd_bwd") != std::string::npos)
        r.predicted = kModelFlopsFwdBwd * flops / (fwd + bwd) / kTera;
      else if (r.kernel.find("bwd") != std::string::npos)
        r.predicted = 2.5 * flops / bwd / kTera;
      else
        r.predicted = flops / fwd / kTera;
    } else if (r.kernel.rfind("hbm", 0) == 0) {
      r.predicted = gpu->hbm_bandwidth * gpu->ops.memory_efficiency / kGB;
    } else {
      ++out.skipped;
      continue;
    }
    r.error = r.predicted / r.measured - 1;
    r.fit = used_for_fit(r);
    out.rows.push_back(r);
  }
  // FlashAttention-3 forward: both sources, then each alone scored on the other.
  std::map<std::string, std::vector<const KernelRow*>> fa3;
  std::vector<const KernelRow*> all;
  for (const KernelRow& r : out.rows)
    if (r.kernel == "flash_attn3_fwd" && !r.causal) {
      fa3[r.source_id].push_back(&r);
      all.push_back(&r);
    }
  double peak = 0;
  for (const GpuSpec& g : gpus)
    if (g.name == "h100-sxm") peak = g.peak_bf16_flops() / kTera;
  if (!all.empty() && peak > 0) {
    out.fa3_both = refit(all, all, peak);
    out.fa3_both.fit_on = out.fa3_both.scored_on = "all";
    for (const auto& [fit_src, rows] : fa3)
      for (const auto& [score_src, score_rows] : fa3)
        if (fit_src != score_src) {
          AttentionRefit a = refit(rows, score_rows, peak);
          a.fit_on = fit_src;
          a.scored_on = score_src;
          out.fa3_loso.push_back(a);
        }
  }
  // FlashAttention-3's causal forward factor: the paper's causal bars from 2k on against the
  // curve just fitted (the causal kernel skips the masked tiles but ramps up more slowly).
  std::vector<double> curve, measured;  // the curve without a mask, the causal bars
  for (const KernelRow& r : out.rows)
    if (r.kernel == "flash_attn3_fwd" && r.causal && r.fit && out.fa3_both.efficiency > 0 && peak > 0) {
      curve.push_back(peak * out.fa3_both.efficiency * r.seq / (r.seq + out.fa3_both.half_span));
      measured.push_back(r.measured);
    }
  out.fa3_causal_fwd.factor = relative_scale(curve, measured);
  for (std::size_t i = 0; i < curve.size() && out.fa3_causal_fwd.factor > 0; ++i) {
    const double e = std::fabs(out.fa3_causal_fwd.factor * curve[i] / measured[i] - 1);
    out.fa3_causal_fwd.mean_abs_error += e / static_cast<double>(curve.size());
    out.fa3_causal_fwd.max_abs_error = std::max(out.fa3_causal_fwd.max_abs_error, e);
  }
  // FlashAttention-3 backward: one source sweeps it (the paper's non-causal bars).
  std::vector<const KernelRow*> bwd;
  for (const KernelRow& r : out.rows)
    if (r.kernel == "flash_attn3_bwd" && !r.causal) bwd.push_back(&r);
  if (!bwd.empty() && peak > 0) {
    out.fa3_bwd = refit(bwd, bwd, peak);
    out.fa3_bwd.fit_on = out.fa3_bwd.scored_on = "all";
  }
  return out;
}

}  // namespace nest::profiler
