#include "nest/framework/framework.hpp"

#include <cmath>

#include "frameworks.hpp"
#include "launch_script.hpp"
#include "nest/core/error.hpp"
#include "nest/core/units.hpp"

namespace nest {

namespace {

// The CUDA context of a PyTorch process with lazy module loading (CUDA_MODULE_LOADING=LAZY,
// the default since CUDA 12.2): about 0.5 GiB of device memory outside the caching allocator.
constexpr double kCudaContextBytes = 512 * kMiB;
// NCCL's buffers per communicator: NCCL_BUFFSIZE (4 MiB by default, NCCL environment-variable
// documentation) for each of the ring's two connections on each channel, with 16 channels (the
// ring channel count NCCL uses on 8-GPU NVLink nodes with one NIC per GPU).
constexpr double kNcclBuffSize = 4 * kMiB;
constexpr double kNcclChannels = 16;
constexpr double kNcclBytesPerCommunicator = kNcclChannels * 2 * kNcclBuffSize;
// The PyTorch caching allocator rounds requests to 512 bytes and carves 2 MiB / 20 MiB segments,
// so it reserves more than it hands out: 5% stated, not fitted (one constant for every PyTorch
// framework; docs/cost-model.md §9.4 shows the peaks it is scored on).
constexpr double kTorchAllocatorOverhead = 0.05;
// SMs a communication kernel occupies beside compute (frameworks.hpp, comm_sm_fraction).
constexpr double kCommSms = 16;

}  // namespace

void refuse_unpaired_ep_overlap(const Parallelism& par, Refusals& out) {
  if (par.ep_comm_overlap && par.num_microbatches < 2)
    out.add([&] {
      return std::string(
          "EP communication overlap pairs a microbatch's forward with another's backward: one microbatch per step has none");
    });
}

int recompute_modules_of(const ModelConfig& model) {
  const bool mla = model.attention() == AttentionKind::Mla;
  bool dense = !model.is_moe();
  for (bool moe : model.moe_layer) dense = dense || !moe;
  return kernels::kRecomputeCoreAttn | (model.is_moe() || mla ? kernels::kRecomputeLayernorm : 0) |
         (model.is_moe() ? kernels::kRecomputeMoeAct | kernels::kRecomputeMoe : 0) |
         (model.is_moe() && model.shared_expert_ffn > 0 ? kernels::kRecomputeSharedExperts : 0) |
         (mla ? kernels::kRecomputeMlaUpProj : 0) | (dense ? kernels::kRecomputeMlp : 0);
}

void refuse_recompute_modules(const Framework& fw, const Parallelism& par, Refusals& out) {
  if (par.recompute == Recompute::Selective && par.recompute_modules != kernels::kRecomputeCoreAttn)
    out.add([&] {
      return std::string(fw.name()) + " has no --recompute-modules: its selective recomputation is its own policy, not " +
             recompute_modules_text(par.recompute_modules);
    });
}

double cuda_and_nccl_bytes(const Problem& problem, const Parallelism& par) {
  (void)problem;
  // Communicators the framework creates: one per parallel group of more than one rank.
  int comms = 0;
  for (int n : {par.tp, par.cp, par.pp, par.ep}) comms += n > 1 ? 1 : 0;
  if (static_cast<long>(par.dp) * par.cp > 1) ++comms;      // data-parallel (x context-parallel) gradients
  if (par.ep > 1 && par.dp / par.ep * par.cp > 1) ++comms;  // expert data-parallel
  return kCudaContextBytes + comms * kNcclBytesPerCommunicator;
}

double Framework::runtime_bytes(const Problem& problem, const Parallelism& par) const {
  return cuda_and_nccl_bytes(problem, par) + (par.tp_comm_overlap ? tp_overlap_bytes(problem, par) : 0);
}

double Framework::allocator_overhead() const { return kTorchAllocatorOverhead; }

std::vector<LaunchRefusal> Framework::launch_refusals(const Problem& problem, const Plan& plan) const {
  const ModelConfig& m = problem.model;
  // A NEST solver input's layers are tabulated costs: no model to launch, and nothing else to say.
  if (m.hidden <= 0) return {{"plan", kNestInputHasNoLaunch}};
  std::vector<LaunchRefusal> out;
  if (!m.causal)
    out.push_back({m.source.empty() ? m.name : m.source, m.name + " is an encoder (bidirectional attention); the " + release() +
                                                             " export launches causal language-model pretraining only"});
  if (std::string why = launch::torchrun_refusal(problem, plan.par); !why.empty()) out.push_back({"plan", std::move(why)});
  check_launch(problem, plan, out);
  return out;
}

double comm_sm_fraction(const GpuSpec& gpu) { return gpu.sm_count > 0 ? kCommSms / gpu.sm_count : 0; }

namespace {
// Stateless, so built before main without function-local guards (the search asks for a
// framework millions of times).
const MegatronFramework megatron;
const TorchtitanFramework torchtitan;
const DeepspeedFramework deepspeed;
const AnyFramework any;
}  // namespace

const Framework& framework(FrameworkKind kind) {
  switch (kind) {
    case FrameworkKind::Megatron:
      return megatron;
    case FrameworkKind::Torchtitan:
      return torchtitan;
    case FrameworkKind::Deepspeed:
      return deepspeed;
    case FrameworkKind::Any:
      return any;
  }
  return megatron;
}

void choose_overlaps(const Problem& problem, Parallelism& par, const RankOrder& order, const std::vector<bool>& grad_reduce,
                     const std::vector<bool>& param_gather, const std::vector<bool>& tp_comm, const std::vector<bool>& ep_comm) {
  auto allowed = [](const std::vector<bool>& wanted, bool x) {
    for (bool w : wanted)
      if (w == x) return true;
    return wanted.empty();
  };
  const Framework& fw = framework(problem.options.framework);
  // The EP overlap holds one more microbatch in flight, so it is not taken unasked (the search
  // weighs it, docs/solver.md §1).
  const std::vector<bool> ep = ep_comm.empty() ? std::vector<bool>{false} : ep_comm;
  int fallback = -1, switches_run = -1;
  for (int bits = 15; bits >= 0; --bits) {
    if (!allowed(grad_reduce, bits & 1) || !allowed(param_gather, bits & 2) || !allowed(tp_comm, bits & 4) ||
        !allowed(ep, bits & 8))
      continue;
    if (fallback < 0) fallback = bits;
    par.overlap_grad_reduce = bits & 1;
    par.overlap_param_gather = bits & 2;
    par.tp_comm_overlap = bits & 4;
    par.ep_comm_overlap = bits & 8;
    if (fw.runs(problem, par, order)) return;
    if (switches_run < 0 && fw.runs_switches(problem, par)) switches_run = bits;
  }
  // Nothing runs for reasons of the plan's other settings: the switches the framework takes with
  // them, if any (so that the evaluator lists only those reasons), else the user's.
  if (switches_run >= 0) fallback = switches_run;
  par.overlap_grad_reduce = fallback & 1;
  par.overlap_param_gather = fallback & 2;
  par.tp_comm_overlap = fallback & 4;
  par.ep_comm_overlap = fallback & 8;
}

AttentionKernel attention_kernel_of(const Problem& problem) {
  const AttentionKernel k = problem.options.attention_kernel;
  return k == AttentionKernel::Auto ? framework(problem.options.framework).attention_kernel() : k;
}

Fp8Recipe fp8_recipe_of(const Problem& problem) {
  const Fp8Recipe r = problem.options.fp8_recipe;
  return r == Fp8Recipe::Auto ? framework(problem.options.framework).fp8_recipe() : r;
}

const char* to_string(Fp8Recipe r) {
  switch (r) {
    case Fp8Recipe::Auto:
      return "auto";
    case Fp8Recipe::Tensorwise:
      return "tensorwise";
    case Fp8Recipe::Rowwise:
      return "rowwise";
    case Fp8Recipe::RowwiseGwHp:
      return "rowwise-gw-hp";
  }
  return "auto";
}

Fp8Recipe parse_fp8_recipe(const std::string& text, const std::string& where) {
  for (const Fp8Recipe r : {Fp8Recipe::Auto, Fp8Recipe::Tensorwise, Fp8Recipe::Rowwise, Fp8Recipe::RowwiseGwHp})
    if (text == to_string(r)) return r;
  throw_bad_input(where, "'" + text + "' is not one of auto, tensorwise, rowwise, rowwise-gw-hp");
}

void require_fp8_recipe(const TrainingOptions& options, const std::string& where) {
  if (options.fp8_recipe == Fp8Recipe::Auto) return;
  const Framework& fw = framework(options.framework);
  if (!fw.has_fp8_recipe(options.fp8_recipe))
    throw_bad_input(where, std::string("'") + to_string(options.fp8_recipe) + "': " + fw.name() +
                               " has no such FP8 recipe (row-wise scales are torchao's, i.e. torchtitan's; "
                               "Transformer Engine scales FP8 per tensor)");
}

void require_document_masks(const TrainingOptions& options, const std::string& where) {
  if (options.document_length <= 0) return;
  const Framework& fw = framework(options.framework);
  if (!fw.masks_per_document())
    throw_bad_input(where, std::to_string(options.document_length) + ": " + fw.name() +
                               " attends causally across the documents packed in a sequence (one mask per sequence); "
                               "a mask per document is torchtitan's");
}

void require_grad_bucket_size(double parameters, TrainingOptions& options, const std::string& where) {
  if (!std::isfinite(parameters) || parameters < 0 || parameters != std::floor(parameters) || parameters > 1e15)
    throw_bad_input(where, "must be a whole number of parameters (0: Megatron's default)");
  options.grad_bucket_size = static_cast<long long>(parameters);
  if (options.grad_bucket_size > 0 && options.framework != FrameworkKind::Megatron && options.framework != FrameworkKind::Any)
    throw_bad_input(where, std::string("is Megatron-LM's (--ddp-bucket-size); ") + to_string(options.framework) +
                               " does not bucket its gradients by a parameter count nest reads");
}

void require_grad_accum_dtype(const std::string& text, TrainingOptions& options, const std::string& where) {
  if (text != "bf16" && text != "fp32") throw_bad_input(where, "'" + text + "' is not bf16 or fp32");
  options.grad_accum_fp32 = text == "fp32";
  if (options.grad_accum_fp32 && options.framework != FrameworkKind::Deepspeed)
    throw_bad_input(where, std::string("fp32 is DeepSpeed's data_types.grad_accum_dtype; ") + to_string(options.framework) +
                               (options.framework == FrameworkKind::Megatron
                                    ? " accumulates its main gradients in fp32 unless --grad-reduce-in-bf16 on"
                                    : " has no such setting nest reads"));
}

const char* grad_accum_dtype_name(const TrainingOptions& options) { return options.grad_accum_fp32 ? "fp32" : "bf16"; }

const char* to_string(CrossEntropy c) {
  switch (c) {
    case CrossEntropy::Auto:
      return "auto";
    case CrossEntropy::Unfused:
      return "unfused";
    case CrossEntropy::Fused:
      return "fused";
    case CrossEntropy::TransformerEngine:
      return "te";
  }
  return "auto";
}

CrossEntropy parse_cross_entropy(const std::string& text, const std::string& where) {
  for (const CrossEntropy c : {CrossEntropy::Auto, CrossEntropy::Unfused, CrossEntropy::Fused, CrossEntropy::TransformerEngine})
    if (text == to_string(c)) return c;
  throw_bad_input(where, "'" + text + "' is not one of auto, unfused, fused, te");
}

namespace {

// Bad input under `where` when a choice only Megatron's recipe reads is made for another framework.
void require_megatron_choice(const TrainingOptions& options, const std::string& choice, const std::string& what,
                             const std::string& where) {
  if (options.framework != FrameworkKind::Megatron && options.framework != FrameworkKind::Any)
    throw_bad_input(where,
                    "'" + choice + "': " + what + " is Megatron's (" + to_string(options.framework) + " has no such choice)");
}

}  // namespace

void require_cross_entropy(const TrainingOptions& options, const std::string& where) {
  if (options.cross_entropy != CrossEntropy::Auto)
    require_megatron_choice(options, to_string(options.cross_entropy), "the choice of loss kernel", where);
}

void require_overlap_p2p(const TrainingOptions& options, const std::string& where) {
  if (options.overlap_p2p >= 0)
    require_megatron_choice(options, auto_on_off_text(options.overlap_p2p), "overlapping pipeline sends with compute", where);
}

const char* to_string(FrameworkKind kind) { return framework(kind).name(); }

FrameworkKind parse_framework(const std::string& text, const std::string& where) {
  for (int k = 0; k < kFrameworks; ++k)
    if (text == framework(static_cast<FrameworkKind>(k)).name()) return static_cast<FrameworkKind>(k);
  throw_bad_input(where, "'" + text + "' is not one of megatron, torchtitan, deepspeed, any");
}

}  // namespace nest
