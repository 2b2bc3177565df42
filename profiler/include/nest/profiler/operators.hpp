// The operator benchmark's work list: the model's GEMM shapes per TP width and microbatch
// (forward, data-gradient and weight-gradient GEMMs of every linear layer of a block and of the
// LM head, Megatron-style column/row splits), attention as two batched GEMMs (Q K^T and P V),
// and memory-bound kernels (norms, activations, softmax) as copies of the activation sizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nest/model/model_config.hpp"
#include "nest/profiler/profile.hpp"

namespace nest::profiler {

struct OperatorTask {
  enum class Kind { Gemm, Attention, Memory };
  Kind kind = Kind::Gemm;
  GemmSample gemm;      // shape fields set (m, n, k, batch and the model's shape)
  MemorySample memory;  // bytes set (bytes copied; traffic is twice that)
  std::string key() const { return kind == Kind::Memory ? memory.key : gemm.key; }
};

// `max_flops` > 0 shrinks each GEMM (halving its largest dimension) until 2*m*n*k*batch fits;
// `max_copy_bytes` caps the copies. TP widths that do not divide the heads are bad input.
std::vector<OperatorTask> plan_operator_tasks(const ModelConfig& model, const std::vector<int>& tp,
                                              const std::vector<int>& microbatch, std::int64_t seq_len, double max_flops,
                                              double max_copy_bytes);

// A plain blocked CPU GEMM (fp32) and memcpy bandwidth: the operator runner of the MPI backend.
class OperatorRunner;
OperatorRunner* cpu_operator_runner();

}  // namespace nest::profiler
