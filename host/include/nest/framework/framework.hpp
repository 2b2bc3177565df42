// The training framework that runs a plan. Frameworks differ in what they keep in memory, in
// which plans they can run and in how they are configured; each is one module behind this
// interface (host/src/framework/<name>.cpp), cited line by line in docs/frameworks.md:
//
//   settings()     its memory recipe and communication dtypes for one slice (TrainingSettings,
//                  read by the cost model)
//   unsupported()  why it cannot run a plan (the search skips such slices; evaluate and export
//                  report them)
//   launch()       the launch script of a plan for a named release of the framework
//   check_launch() why that script cannot be written for a plan its rules accept (the model
//                  or a setting its release lacks): export refuses, plan and evaluate warn
//
// The plan is data that the cost model, the evaluator and the exports read; none of them is
// read by it. Adding a framework is one new file and one line in framework.cpp.
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/kernels/transformer.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

// The reasons a framework refuses a slice. A message is a callable, built only when the reasons
// are collected (evaluate, export); the search only needs to know whether there is one.
class Refusals {
 public:
  explicit Refusals(bool collect) : collect_(collect) {}
  template <class Message>
  void add(Message&& message) {
    any_ = true;
    if (collect_) reasons_.push_back(message());
  }
  bool any() const { return any_; }
  const std::vector<std::string>& reasons() const { return reasons_; }

 private:
  bool collect_;
  bool any_ = false;
  std::vector<std::string> reasons_;
};

// A reason a framework's launch script cannot be written for a plan its rules accept: the field
// the error names and what is wrong.
struct LaunchRefusal {
  std::string field, message;
};

// Why a plan of a NEST solver input has no launch script (Framework::launch_refusals, nest export).
inline constexpr const char* kNestInputHasNoLaunch =
    "a plan of a NEST solver input has tabulated costs and no model dimensions; it exports to rankmap only";

class Framework {
 public:
  virtual ~Framework() = default;
  virtual FrameworkKind kind() const = 0;
  virtual const char* name() const = 0;     // "megatron"
  virtual const char* release() const = 0;  // the release whose code the recipe, rules and export follow
  // Memory recipe, communication dtypes and overlap settings of one slice.
  virtual kernels::TrainingSettings settings(const Problem& problem, const Parallelism& par) const = 0;
  // Per-GPU bytes outside the allocator's pool (CUDA context, NCCL buffers, tp_overlap_bytes)
  // for a plan.
  double runtime_bytes(const Problem& problem, const Parallelism& par) const;
  // Of those, the buffers its TP communication overlap holds when the plan turns it on (0: it
  // takes none, so turning it on never costs memory).
  virtual double tp_overlap_bytes(const Problem& problem, const Parallelism& par) const {
    (void)problem;
    (void)par;
    return 0;
  }
  // Whether, with the gradient-reduce overlap on, it cuts the first stage's step-end reduction
  // into buckets (TrainingSettings::grad_bucket_params > 0), one collective each.
  virtual bool buckets_gradients(const Parallelism& par) const {
    (void)par;
    return false;
  }
  // Fraction the caching allocator reserves above the bytes it hands out (peaks are measured as
  // reserved memory).
  virtual double allocator_overhead() const;
  // The fused attention kernel the framework's release calls (docs/cost-model.md §3.2).
  virtual AttentionKernel attention_kernel() const { return AttentionKernel::Fused; }
  // Whether its tensor parallelism always shards the sequence (sequence parallelism is not a
  // switch of its own: torchtitan), which is then the default of `nest evaluate --sp`.
  virtual bool tp_shards_sequence() const { return false; }
  // Whether its pipeline runs PyTorch's schedules (torch.distributed.pipelining), whose
  // interleaved order differs from Megatron-LM's (kernels/pipeline.hpp).
  virtual bool torch_pipeline_schedule() const { return false; }
  // The FP8 scaling recipe of its release, and whether it runs a given one (docs/cost-model.md §3.1).
  virtual Fp8Recipe fp8_recipe() const { return Fp8Recipe::Tensorwise; }
  virtual bool has_fp8_recipe(Fp8Recipe r) const { return r == Fp8Recipe::Tensorwise; }
  // Whether its attention masks each document packed in a sequence on its own (TrainingOptions::
  // document_length means something for it).
  virtual bool masks_per_document() const { return false; }
  // Every reason the framework cannot run this slice; empty when it can.
  std::vector<std::string> unsupported(const Problem& problem, const Parallelism& par, const RankOrder& order) const {
    Refusals r(true);
    check(problem, par, order, r);
    check_switches(problem, par, r);
    return r.reasons();
  }
  // Whether it can: the search asks this of every slice and rank order (hundreds of thousands
  // for DeepSeek-V3 on 2,048 GPUs), so no message is built.
  bool runs(const Problem& problem, const Parallelism& par, const RankOrder& order) const {
    return runs_layout(problem, par, order) && runs_switches(problem, par);
  }
  // The two halves of runs(): the search asks the first once per slice and the second for each
  // combination of overlap switches of a slice that passed it (most candidate slices fail the
  // first: DeepSeek-V3 on 2,048 GPUs has 2.8M candidates, 0.22M run).
  bool runs_layout(const Problem& problem, const Parallelism& par, const RankOrder& order) const {
    Refusals r(false);
    check(problem, par, order, r);
    return !r.any();
  }
  bool runs_switches(const Problem& problem, const Parallelism& par) const {
    Refusals r(false);
    check_switches(problem, par, r);
    return !r.any();
  }
  // The framework's rules: out.add(message) for each one the slice breaks. check() has every rule
  // that involves no overlap switch (overlap_grad_reduce, overlap_param_gather, tp_comm_overlap,
  // ep_comm_overlap), check_switches() every rule that does.
  virtual void check(const Problem& problem, const Parallelism& par, const RankOrder& order, Refusals& out) const = 0;
  virtual void check_switches(const Problem& problem, const Parallelism& par, Refusals& out) const = 0;
  // The rank orders the framework can build (empty: every order); unsupported() refuses the
  // others too, this lets the search skip them before building any slice.
  virtual std::vector<RankOrder> rank_orders() const { return {}; }
  // Values of the searched knobs the framework has at all (before unsupported() filters slices).
  virtual std::vector<int> zero_stages() const = 0;
  virtual bool has_tp_comm_overlap() const = 0;
  virtual bool has_hsdp() const { return false; }       // shard within groups, replicate across them
  virtual bool has_expert_tp() const { return false; }  // an expert TP degree apart from tp (Parallelism::etp)
  virtual bool has_optimizer_offload() const = 0;
  virtual bool has_activation_offload() const = 0;
  // Whether some blocks can offload and the rest not (Megatron's --cpu-offloading-num-layers).
  virtual bool has_partial_activation_offload() const { return false; }
  // Whether selective recomputation takes a list of modules (Megatron-Core's --recompute-modules;
  // elsewhere it is the framework's one policy, Parallelism::recompute_modules' default).
  virtual bool has_recompute_modules() const { return false; }
  // The launch script of a plan that passed check_plan under this framework: a bash script that
  // runs as printed, the environment as `export KEY=VALUE` lines, then torchrun and one argument
  // per line (docs/frameworks.md §6). Bad input, the first of launch_refusals(), when there is one.
  virtual std::string launch(const Problem& problem, const Plan& plan, const std::string& model_spec) const = 0;
  // Why launch() cannot write the script of a plan that passed check_plan: a model its release
  // cannot build, a setting its command line lacks; empty when it can. One list for the export,
  // which refuses with the first, and for plan and evaluate, which print every one as a caveat,
  // so that a plan that will not launch says so where it is made. First what every export
  // refuses: plans of NEST solver inputs (no model dimensions: nothing else is said), encoders
  // (the exports launch causal language-model pretraining) and GPU counts that are not whole
  // hosts (torchrun starts as many processes on every host); then check_launch().
  std::vector<LaunchRefusal> launch_refusals(const Problem& problem, const Plan& plan) const;
  // The framework's own launch refusals (launch_refusals), added to `out`.
  virtual void check_launch(const Problem& problem, const Plan& plan, std::vector<LaunchRefusal>& out) const = 0;
};

const Framework& framework(FrameworkKind kind);
// The attention kernel a problem's run calls: the one given, else its framework's.
AttentionKernel attention_kernel_of(const Problem& problem);
// The FP8 recipe a problem's run uses: the one given, else its framework's.
Fp8Recipe fp8_recipe_of(const Problem& problem);
const char* to_string(Fp8Recipe r);
Fp8Recipe parse_fp8_recipe(const std::string& text, const std::string& where);
// Bad input naming `where` when the framework has no such recipe.
void require_fp8_recipe(const TrainingOptions& options, const std::string& where);
// Bad input naming `where` when documents are given a length for a framework that attends across
// them.
void require_document_masks(const TrainingOptions& options, const std::string& where);
// A gradient bucket size (Megatron's --ddp-bucket-size) is a whole number of parameters (0:
// Megatron's default) and Megatron-LM's: bad input (exit 2) at `where` otherwise.
void require_grad_bucket_size(double parameters, TrainingOptions& options, const std::string& where);
// DeepSpeed's gradient accumulation dtype, "bf16" (the model's) or "fp32", into
// options.grad_accum_fp32: bad input (exit 2) at `where` for another text, or fp32 for another
// framework.
void require_grad_accum_dtype(const std::string& text, TrainingOptions& options, const std::string& where);
const char* grad_accum_dtype_name(const TrainingOptions& options);
const char* to_string(CrossEntropy c);
CrossEntropy parse_cross_entropy(const std::string& text, const std::string& where);
// Bad input naming `where` when a loss implementation is chosen for a framework that has one only
// (torchtitan, DeepSpeed).
void require_cross_entropy(const TrainingOptions& options, const std::string& where);
// Bad input naming `where` when --overlap-p2p is set for a framework other than Megatron.
void require_overlap_p2p(const TrainingOptions& options, const std::string& where);
const char* to_string(FrameworkKind kind);
FrameworkKind parse_framework(const std::string& text, const std::string& where);

// Sets the overlap switches of `par` to the runnable combination with the most switches on (on is
// never slower, docs/solver.md §1), keeping any switch the user fixed (empty: free; the MoE
// all-to-all overlap, which holds one more microbatch, stays off unless asked for). When no
// combination runs because of the plan's other settings, the switches the framework takes with
// them, so that the refusals left are those settings'.
void choose_overlaps(const Problem& problem, Parallelism& par, const RankOrder& order, const std::vector<bool>& grad_reduce,
                     const std::vector<bool>& param_gather, const std::vector<bool>& tp_comm, const std::vector<bool>& ep_comm);

// Shared pieces of the recipes (docs/frameworks.md §1): the CUDA context and NCCL's buffers per
// communicator the plan creates; the PyTorch caching allocator's overhead.
double cuda_and_nccl_bytes(const Problem& problem, const Parallelism& par);

// The MoE all-to-all overlap pairs a microbatch's forward with another's backward: a step of one
// microbatch has nothing to pair with (a rule of every framework that runs the overlap).
void refuse_unpaired_ep_overlap(const Parallelism& par, Refusals& out);

// The recomputation modules that do something in `model` (kernels::RecomputeModule bits):
// core_attn always; layernorm where a norm is a module of its own (MoE layers, MLA); moe_act and
// moe in MoE models, shared_experts where they have shared experts; mla_up_proj with MLA; mlp
// where some block has a dense MLP.
int recompute_modules_of(const ModelConfig& model);
// A framework without --recompute-modules refuses any other set than its selective policy.
void refuse_recompute_modules(const Framework& fw, const Parallelism& par, Refusals& out);

}  // namespace nest
