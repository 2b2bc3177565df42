// The model's operator shapes (see nest/profiler/operators.hpp).
#include <algorithm>
#include <set>

#include "nest/core/error.hpp"
#include "nest/profiler/operators.hpp"

namespace nest::profiler {

namespace {

double gemm_flops(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t batch) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) * static_cast<double>(batch);
}

// Halves the largest dimension until the GEMM fits the FLOP cap.
void cap_shape(GemmSample& g, double max_flops) {
  if (max_flops <= 0) return;
  while (gemm_flops(g.m, g.n, g.k, g.batch) > max_flops) {
    std::int64_t* largest = &g.m;
    for (std::int64_t* d : {&g.n, &g.k, &g.batch})
      if (*d > *largest) largest = d;
    if (*largest <= 1) break;
    *largest = (*largest + 1) / 2;
  }
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

std::vector<OperatorTask> plan_operator_tasks(const ModelConfig& model, const std::vector<int>& tp,
                                              const std::vector<int>& microbatch, std::int64_t seq_len, double max_flops,
                                              double max_copy_bytes) {
  if (seq_len < 1) throw_bad_input("--seq-len", "must be a positive integer");
  const std::int64_t h = model.hidden, hd = model.head_dim, heads = model.heads;
  const std::int64_t kv = model.kv_heads > 0 ? model.kv_heads : heads;
  bool dense = !model.is_moe();
  for (bool moe : model.moe_layer) dense = dense || !moe;
  const std::int64_t up = model.gated_mlp ? 2 : 1;

  std::vector<OperatorTask> tasks;
  std::set<double> copy_sizes;
  for (int t : tp) {
    if (t < 1 || heads % t != 0)
      throw_bad_input("--tp",
                      std::to_string(t) + " does not divide the " + std::to_string(heads) + " attention heads of " + model.name);
    for (int b : microbatch) {
      if (b < 1) throw_bad_input("--microbatch", "must be positive integers");
      const std::int64_t T = b * seq_len;
      struct Linear {
        std::string name;
        std::int64_t m, n, k;
      };
      std::vector<Linear> linears = {{"qkv", T, (heads / t + 2 * ceil_div(kv, t)) * hd, h}, {"attn_out", T, h, heads * hd / t}};
      if (dense) {
        linears.push_back({"mlp_up", T, up * ceil_div(model.ffn, t), h});
        linears.push_back({"mlp_down", T, h, ceil_div(model.ffn, t)});
      }
      if (model.is_moe()) {
        const std::int64_t te = std::max<std::int64_t>(1, T * std::max<std::int64_t>(1, model.experts_per_token) / model.experts);
        linears.push_back({"expert_up", te, up * ceil_div(model.moe_ffn, t), h});
        linears.push_back({"expert_down", te, h, ceil_div(model.moe_ffn, t)});
      }
      linears.push_back({"logits", T, ceil_div(model.vocab, t), h});
      for (const auto& l : linears) {
        struct Pass {
          const char* name;
          std::int64_t m, n, k;
        };
        for (const Pass& p : {Pass{"fwd", l.m, l.n, l.k}, Pass{"dgrad", l.m, l.k, l.n}, Pass{"wgrad", l.k, l.n, l.m}}) {
          OperatorTask task;
          task.kind = OperatorTask::Kind::Gemm;
          GemmSample& g = task.gemm;
          g.key = "gemm:" + l.name + ":" + p.name + ":tp" + std::to_string(t) + ":mb" + std::to_string(b);
          g.op = l.name;
          g.pass = p.name;
          g.tp = t;
          g.microbatch = b;
          g.m = g.model_m = p.m;
          g.n = g.model_n = p.n;
          g.k = g.model_k = p.k;
          cap_shape(g, max_flops);
          tasks.push_back(task);
        }
      }
      // Attention: Q K^T and P V, each s x s x head_dim per head, as one batch of 2 * b * heads/t.
      OperatorTask att;
      att.kind = OperatorTask::Kind::Attention;
      GemmSample& a = att.gemm;
      a.key = "attention:tp" + std::to_string(t) + ":mb" + std::to_string(b);
      a.op = "attention";
      a.pass = "fwd";
      a.tp = t;
      a.microbatch = b;
      a.m = a.model_m = seq_len;
      a.n = a.model_n = seq_len;
      a.k = a.model_k = hd;
      a.batch = 2 * b * heads / t;
      cap_shape(a, max_flops);
      tasks.push_back(att);
      // Memory-bound kernels read and write activation-sized bf16 tensors.
      for (double bytes :
           {2.0 * static_cast<double>(T * h), 2.0 * static_cast<double>(T * ceil_div(dense ? model.ffn : model.moe_ffn, t))})
        copy_sizes.insert(max_copy_bytes > 0 ? std::min(bytes, max_copy_bytes) : bytes);
    }
  }
  for (double bytes : copy_sizes) {
    if (bytes <= 0) continue;
    OperatorTask task;
    task.kind = OperatorTask::Kind::Memory;
    task.memory.key = "memory:" + std::to_string(static_cast<long long>(bytes));
    task.memory.op = "copy";
    task.memory.bytes = 2 * bytes;
    tasks.push_back(task);
  }
  return tasks;
}

}  // namespace nest::profiler
