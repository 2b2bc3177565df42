// One GPU's operators: dense GEMMs (bf16 or a low-precision format), fused attention and
// memory-bound kernels. The parameters come from measured kernels (presets/gpus, fitted from
// presets/calibration/kernel-benchmarks.csv by `nest calibrate --kernels`) or from a profile of
// the user's own GPUs (`nest profile --ops`). docs/cost-model.md §3 derives each formula and
// states its measured error.
#pragma once

#include "nest/kernels/hd.hpp"

namespace nest::kernels {

// Number format of the blocks' linear layers. Attention, the LM head and the router stay in
// bf16 in every framework nest exports to.
enum class Precision : int { Bf16 = 0, Fp8 = 1, Mxfp8 = 2, Nvfp4 = 3 };
inline constexpr int kPrecisions = 4;

// Bytes per element of a GEMM operand, scales included: per-tensor FP8 scales are one float
// per tensor (negligible); MXFP8 carries an 8-bit scale per 32 elements (OCP Microscaling
// Formats spec v1.0), NVFP4 an 8-bit scale per 16 elements (NVIDIA, "NVFP4" 2025).
NEST_HD_INLINE double operand_bytes(Precision p) {
  switch (p) {
    case Precision::Bf16:
      return 2;
    case Precision::Fp8:
      return 1;
    case Precision::Mxfp8:
      return 1 + 1.0 / 32;
    case Precision::Nvfp4:
      return 0.5 + 1.0 / 16;
  }
  return 2;
}

// GEMM efficiency curve: the fraction of the dense peak reached by a GEMM whose smallest
// dimension is x is eta_max * x / (x + half_dim).
struct GemmCurve {
  double peak = 0;     // dense FLOP/s of the format
  double eta_max = 1;  // asymptotic fraction of the peak
  double half_dim = 0;
};

struct GpuModel {
  Precision precision = Precision::Bf16;  // of the blocks' linear layers
  GemmCurve linear;                       // the linear layers' format
  GemmCurve bf16;                         // bf16 GEMMs (LM head, router, classic attention)
  // Fused attention kernel (FlashAttention / cuDNN): forward and backward efficiency at long
  // sequences, the key span at which half of it is reached (forward, backward), and the factor
  // a causal mask costs.
  double attention_fwd = 1, attention_bwd = 1, attention_half_span = 0, attention_half_span_bwd = 0;
  double attention_causal_fwd = 1, attention_causal_bwd = 1;
  double hbm_bandwidth = 0;      // bytes/s (datasheet)
  double memory_efficiency = 1;  // fraction of it that elementwise kernels reach (measured)
  double kernel_launch = 0;      // s: host time to issue one kernel; a pass is never shorter than
                                 // its kernel count times this
  double sustained = 1;          // fraction of the kernel-level speed a training loop sustains
                                 // (fitted end to end, one value per GPU generation)
};

// Whether two models are equal field for field (host code; the CUDA sources are compiled as
// C++17, without defaulted comparisons). The size checks fail when a field is added, until it
// joins the comparison.
inline bool same_curve(const GemmCurve& a, const GemmCurve& b) {
  static_assert(sizeof(GemmCurve) == 3 * sizeof(double), "compare the new field of GemmCurve");
  return a.peak == b.peak && a.eta_max == b.eta_max && a.half_dim == b.half_dim;
}
inline bool same_gpu_model(const GpuModel& a, const GpuModel& b) {
  static_assert(sizeof(GpuModel) == sizeof(double) + 2 * sizeof(GemmCurve) + 10 * sizeof(double),
                "compare the new field of GpuModel");
  return a.precision == b.precision && same_curve(a.linear, b.linear) && same_curve(a.bf16, b.bf16) &&
         a.attention_fwd == b.attention_fwd && a.attention_bwd == b.attention_bwd &&
         a.attention_half_span == b.attention_half_span && a.attention_half_span_bwd == b.attention_half_span_bwd &&
         a.attention_causal_fwd == b.attention_causal_fwd && a.attention_causal_bwd == b.attention_causal_bwd &&
         a.hbm_bandwidth == b.hbm_bandwidth && a.memory_efficiency == b.memory_efficiency && a.kernel_launch == b.kernel_launch &&
         a.sustained == b.sustained;
}

NEST_HD_INLINE double curve_efficiency(const GemmCurve& c, double m, double n, double k) {
  const double x = min_of(m, min_of(n, k));
  return c.eta_max * x / (x + c.half_dim);
}

// Roofline time of `count` GEMMs (M x K) * (K x N): compute at the curve's efficiency or the
// HBM traffic of the operands (in `in_bytes`) and the bf16 output, whichever is slower.
NEST_HD_INLINE double curve_gemm_time(const GpuModel& g, const GemmCurve& c, double in_bytes, double m, double n, double k,
                                      double count = 1) {
  if (m <= 0 || n <= 0 || k <= 0 || count <= 0) return 0;
  const double flops = 2 * m * n * k * count;
  const double bytes = (in_bytes * (m * k + k * n) + 2 * m * n) * count;
  return max_of(flops / (c.peak * curve_efficiency(c, m, n, k)), bytes / (g.hbm_bandwidth * g.memory_efficiency));
}

// A bf16 GEMM.
NEST_HD_INLINE double gemm_time(const GpuModel& g, double m, double n, double k, double count = 1) {
  return curve_gemm_time(g, g.bf16, 2, m, n, k, count);
}

NEST_HD_INLINE double memory_time(const GpuModel& g, double bytes) { return bytes / (g.hbm_bandwidth * g.memory_efficiency); }

// How a framework quantises the operands of its low-precision GEMMs. The HBM bytes each recipe
// moves per element are counted in `cast_bytes` (docs/cost-model.md §3.1).
enum class CastRecipe : int {
  // Transformer Engine (Megatron-LM, DeepSpeed): the kernel producing a GEMM input writes its
  // row-wise and column-wise copies (LayerNormLinear, activation and cast-transpose kernels);
  // weights are quantised once per step and cached across microbatches.
  FusedCastTranspose = 0,
  // torchao float8 with dynamic per-tensor scales, weights cast from bf16 every pass.
  TorchaoTensorwise = 1,
  // The same with FSDP's float8 all-gather (enable_fsdp_float8_all_gather): weights arrive
  // quantised; the backward transposes the gathered copy.
  TorchaoTensorwiseGathered = 2,
  // torchao float8 with per-row scales (torchtitan 0.3's only float8 recipes): each orientation
  // needs its own scales, so its own pass; backward GEMMs rescale their output in a separate pass.
  TorchaoRowwise = 3,
  TorchaoRowwiseGwHp = 4,  // rowwise, the weight-gradient GEMM in bf16 (rowwise_with_gw_hp)
  TorchaoMx = 5,           // torchao MX formats: every orientation cast from bf16
  // torchao's grouped-GEMM training ops for MoE experts (float8 rowwise, MXFP8): every operand
  // and orientation quantised from bf16 by its own kernel (never fused into a producer), the
  // scales applied in the GEMM's epilogue (no rescaling pass), the weight gradient low precision.
  TorchaoGrouped = 6,
  // Transformer Engine's tensor-scaled FP8 where the GEMMs take either operand layout (compute
  // capability 10 and up: non_tn_fp8_gemm_supported, transformer_engine/pytorch/utils.py at
  // v2.2.1, since v2.0): no column-wise copy is made (csrc/extensions/quantizer.cpp:106, "create
  // transpose" only without it), so the producer writes the row-wise copy alone and the weights'
  // once-per-step cast writes one copy. MX formats scale along K and still need both.
  FusedCast = 7,
};

// HBM bytes per element of quantising a linear layer's operands, per pass (fwd: forward,
// bwd: backward), for operand bytes `q`. `fused`: the cast of an activation is fused into the
// kernel producing it (torch.compile; Transformer Engine always), which saves one read of it.
struct CastBytes {
  double input_fwd = 0, input_bwd = 0;    // per element of the layer's input
  double grad_bwd = 0;                    // per element of its output gradient
  double weight_fwd = 0, weight_bwd = 0;  // per element of its weight (0: once per step, stage tail)
  double weight_step = 0;                 // per element of its weight, once per step (0: every pass)
  double rescale_bwd = 0;                 // per element of each low-precision backward GEMM's output
  bool bf16_weight_grad = false;          // the weight-gradient GEMM runs in bf16
};

NEST_HD_INLINE CastBytes cast_bytes(CastRecipe recipe, double q, bool fused) {
  CastBytes c;
  const double read = fused ? 0 : 2;  // the bf16 activation read again by an unfused cast
  switch (recipe) {
    case CastRecipe::FusedCastTranspose:
      // the producer writes both copies; an unfused cast reads the bf16 tensor once more
      c.input_fwd = read + 2 * q;
      c.grad_bwd = read + 2 * q;
      c.weight_step = 2 + 2 * q;  // read bf16, write both copies
      break;
    case CastRecipe::FusedCast:
      c.input_fwd = read + q;
      c.grad_bwd = read + q;
      c.weight_step = 2 + q;
      break;
    // torchao's own roofline of its cast kernels (pytorch/ao@36027d8
    // torchao/testing/training/roofline_utils.py:131-300, `get_tensor_memory_traffic_ovhd_s`):
    // an amax pass (read 2, fused into the producer when compiled), then the casts.
    case CastRecipe::TorchaoTensorwise:
    case CastRecipe::TorchaoTensorwiseGathered:
      c.input_fwd = read + 2 + 2 * q;  // one kernel writes both orientations
      c.grad_bwd = read + 2 + 2 * q;
      if (recipe == CastRecipe::TorchaoTensorwise) {
        c.weight_fwd = 2 + (2 + q);  // amax, then the forward's orientation
        c.weight_bwd = 2 + q;        // the backward's
      } else {
        c.weight_bwd = 2 * q;  // transpose of the gathered copy
      }
      break;
    case CastRecipe::TorchaoRowwise:
      // activation: dim-0 cast plus a bf16 transposed copy, then the dim-1 cast of that copy
      c.input_fwd = read + q + 2;
      c.input_bwd = 2 + q;
      c.grad_bwd = read + q + 2 + 2 + q;
      c.weight_fwd = 2 + q;
      c.weight_bwd = 2 * 2 + 2 + q;  // bf16 transpose, then its cast
      // fast_accum=False in the backward: cuBLAS per-tensor GEMM, then `output *= scale`
      // (torchao/float8/float8_ops.py:47-57, 84-85; config.py:215-217): read and write bf16
      c.rescale_bwd = 2 + 2;
      break;
    case CastRecipe::TorchaoRowwiseGwHp:
      c.input_fwd = read + q;  // dim 0 only: the weight gradient takes the bf16 input
      c.grad_bwd = read + q;
      c.weight_fwd = 2 + q;
      c.weight_bwd = 2 + q;
      c.rescale_bwd = 2 + 2;  // the data-gradient GEMM's
      c.bf16_weight_grad = true;
      break;
    // pytorch/ao@v0.18.0 torchao/prototype/moe_training/fp8_grouped_mm.py:136-190 (forward: A
    // rowwise, B_t column-wise, each one Triton kernel), 226-319 (backward: the output gradient
    // rowwise; B transposed and cast; the output gradient and the saved bf16 A cast per group
    // column-wise by one dual kernel; _scaled_grouped_mm scales in its epilogue);
    // mxfp8_grouped_mm.py:528-538, 628-637, 750-780 the same orientations in MXFP8.
    case CastRecipe::TorchaoGrouped:
      c.input_fwd = 2 + q;
      c.input_bwd = 2 + q;
      c.grad_bwd = 2 * (2 + q);
      c.weight_fwd = 2 + q;
      c.weight_bwd = 2 + q;
      break;
    case CastRecipe::TorchaoMx:
      c.input_fwd = read + q;  // dim 0 in the forward, dim 1 from bf16 in the backward
      c.input_bwd = 2 + q;
      c.grad_bwd = read + q + 2 + q;
      c.weight_fwd = 2 + q;
      c.weight_bwd = 2 + q;
      break;
  }
  return c;
}

// A linear layer y = x W over T tokens (x: T x k_in, W: k_in x n_out), `count` of them (MoE
// experts), in the blocks' precision when `low_precision`: forward, and backward = data
// gradient (T x n_out)(n_out x k_in) + weight gradient (k_in x T)(T x n_out). With the curve's
// smallest-dimension form all three GEMMs have the same efficiency; their operand traffic differs.
struct LinearTime {
  double fwd = 0, bwd = 0;
  double cast_bytes_fwd = 0, cast_bytes_bwd = 0;  // quantisation traffic of a low-precision GEMM
};

NEST_HD_INLINE LinearTime linear_time(const GpuModel& g, bool low_precision, CastRecipe recipe, bool fused_cast, double T,
                                      double n_out, double k_in, double count = 1) {
  LinearTime r;
  if (T <= 0 || n_out <= 0 || k_in <= 0 || count <= 0) return r;
  const bool lp = low_precision && g.precision != Precision::Bf16;
  const GemmCurve& c = lp ? g.linear : g.bf16;
  const double q = lp ? operand_bytes(g.precision) : 2;
  const CastBytes cb = cast_bytes(recipe, q, fused_cast);
  const bool bf16_wgrad = lp && cb.bf16_weight_grad;
  r.fwd = curve_gemm_time(g, c, q, T, n_out, k_in, count);
  r.bwd = curve_gemm_time(g, c, q, T, k_in, n_out, count) +
          curve_gemm_time(g, bf16_wgrad ? g.bf16 : c, bf16_wgrad ? 2 : q, k_in, n_out, T, count);
  if (lp) {
    // Forward: the input (and the weight, where it is cast every pass); backward: the output
    // gradient, the input's other orientation, the weight's, and the rescaling passes.
    const double weight = n_out * k_in;
    r.cast_bytes_fwd = (T * k_in * cb.input_fwd + weight * cb.weight_fwd) * count;
    r.cast_bytes_bwd = (T * k_in * cb.input_bwd + T * n_out * cb.grad_bwd + weight * cb.weight_bwd +
                        cb.rescale_bwd * (T * k_in + (bf16_wgrad ? 0 : weight))) *
                       count;
  }
  return r;
}

// Fused attention over `exec_flops` forward FLOPs as executed (a causal mask skips about half
// the score matrix), keys spanning `span`: forward at the forward efficiency; backward 2.5x the
// forward FLOPs (FlashAttention's backward recomputes QK^T and runs four more GEMMs: five
// against the forward's two) at the backward efficiency.
NEST_HD_INLINE double attention_efficiency(const GpuModel& g, double span, bool causal, bool backward) {
  const double e = backward ? g.attention_bwd : g.attention_fwd;
  const double c = causal ? (backward ? g.attention_causal_bwd : g.attention_causal_fwd) : 1.0;
  return e * c * span / (span + (backward ? g.attention_half_span_bwd : g.attention_half_span));
}

NEST_HD_INLINE double flash_attention_fwd_time(const GpuModel& g, double exec_flops, double span, bool causal) {
  if (exec_flops <= 0) return 0;
  return exec_flops / (g.bf16.peak * attention_efficiency(g, span, causal, false));
}

NEST_HD_INLINE double flash_attention_bwd_time(const GpuModel& g, double exec_flops, double span, bool causal) {
  if (exec_flops <= 0) return 0;
  return 2.5 * exec_flops / (g.bf16.peak * attention_efficiency(g, span, causal, true));
}

}  // namespace nest::kernels
