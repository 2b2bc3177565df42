// The ranges every input is checked against before it is used (docs/inputs.md). Each bound is
// far beyond any machine or model that exists, so no real input meets it, and small enough that
// the products the planner forms (GPUs x degrees, batch x sequence x width, layers x slices) stay
// exact in 64-bit integers and in doubles (2^53) and that no loop runs for hours on a typo.
#pragma once

#include <cstdint>

namespace nest::limits {

// GPUs in one problem: 2^24 = 16.8M, ~80x the largest cluster announced by 2026 (xAI Colossus 2,
// ~200k GPUs announced). 2^24 x 2^24 (GPUs x a degree) stays below 2^53.
inline constexpr std::int64_t kMaxGpus = std::int64_t{1} << 24;
// Global batch in sequences: 2^30 (the largest published batches are ~10^4-10^5 sequences).
inline constexpr std::int64_t kMaxGlobalBatch = std::int64_t{1} << 30;
// Sequence length in tokens: 2^24 = 16.8M, past the longest published context (10M, Llama 4 Scout).
// With kMaxGlobalBatch: tokens per step <= 2^54, exact in int64.
inline constexpr std::int64_t kMaxSeqLen = std::int64_t{1} << 24;
// Transformer blocks: 2^14 = 16,384 (the deepest published decoders have ~10^2). Bounds the
// stage-split tables (layers^2 per stage count).
inline constexpr std::int64_t kMaxLayers = std::int64_t{1} << 14;
// Hidden size, MLP width, head dimension, heads, experts: 2^20 each (published maxima ~10^4-10^5).
inline constexpr std::int64_t kMaxWidth = std::int64_t{1} << 20;
// Vocabulary rows: 2^24 (published maxima ~10^6).
inline constexpr std::int64_t kMaxVocab = std::int64_t{1} << 24;

// Hardware figures, in SI units.
inline constexpr double kMaxGpuMemoryBytes = 1099511627776.0;  // 1 TiB per GPU (largest shipping: 288 GB)
inline constexpr double kMaxBandwidth = 1e14;                  // 100 TB/s per GPU, any link or memory (HBM3e: 8 TB/s)
inline constexpr double kMaxLatency = 1.0;                     // 1 s per message (WAN round trips: ~0.1 s)
inline constexpr double kMaxPeakFlops = 1e18;                  // 1 EFLOP/s per GPU (B200 dense FP4: 1e16)
inline constexpr double kMaxGpuPowerWatts = 1e4;               // 10 kW per GPU board (GB200: 1.2 kW)

}  // namespace nest::limits
