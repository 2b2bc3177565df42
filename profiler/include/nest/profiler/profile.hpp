// A profile: what `nest profile` measured (or imported from nccl-tests logs) on one machine or
// cluster, the fits of the cost model's parameters, and the `cost_model` block the planner
// reads. Schema "nest.profile/1", documented field by field in docs/profile-schema.md.
//
// Units inside the program: bytes, seconds, bytes/s, FLOP/s. The JSON uses the same units
// except where a field name says otherwise (`*_GBps` = 1e9 bytes/s, `*_TFLOPs` = 1e12 FLOP/s).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/kernels/collectives.hpp"

namespace nest::profiler {

using kernels::Collective;

inline constexpr const char* kProfileSchema = "nest.profile/1";

// "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "broadcast", "reduce"
// (the profile's names).
std::string collective_name(Collective c);
// nccl-tests program stem: "all_reduce", "all_gather", "reduce_scatter", "alltoall", "sendrecv",
// "broadcast", "reduce".
std::string nccl_tests_name(Collective c);
// Accepts the profile names, the nccl-tests names (with or without "_perf"), and "allreduce",
// "allgather", "reducescatter"; nullopt otherwise.
std::optional<Collective> parse_collective(std::string_view name);
// The collectives `nest profile` measures and the planner issues (all-reduce, all-gather,
// reduce-scatter, all-to-all, send/recv).
const std::vector<Collective>& all_collectives();
// Every collective a profile may hold: the above, then broadcast and reduce (imported from
// nccl-tests logs only).
const std::vector<Collective>& known_collectives();
// Whether a level's combined fit (`collective: "all"`, the figures the planner uses) takes this
// collective's samples: false for broadcast and reduce, which no plan issues; their samples get
// their own fit, kept as evidence.
bool used_for_planning(Collective c);

// Latency steps of the ring/direct algorithm at one level with m members, as in
// nest/kernels/collectives.hpp: all-reduce 2(m-1), all-gather, reduce-scatter, broadcast and
// reduce m-1, all-to-all and send/recv 1.
double latency_steps(Collective c, double m);

// One message size of one collective on one group. Times are the statistic of the run
// (median over iterations per rank, the slowest rank's median; see the config block).
struct CollectiveSample {
  double bytes = 0;                // nccl-tests "size": the buffer size that names the message
  double count = 0;                // nccl-tests "count" (elements)
  double time_s = 0;               // the slowest rank's median
  double fastest_rank_time_s = 0;  // the fastest rank's median (0: unknown)
  double min_s = 0, max_s = 0;     // over every iteration of every rank (0: unknown)
  double spread = 0;               // (p90 - p10) / median of the slowest rank's iterations (0: unknown)
  double algbw_GBps = 0;           // bytes / time_s, in GB/s (as nccl-tests prints it)
  double busbw_GBps = 0;           // algbw * bus factor, GB/s
  std::int64_t wrong = -1;         // wrong values summed over ranks; -1: not checked
  // nccl-tests also prints an in-place run of the same size; kept when imported.
  bool has_in_place = false;
  double in_place_time_s = 0, in_place_algbw_GBps = 0, in_place_busbw_GBps = 0;
  std::int64_t in_place_wrong = -1;
  int root = -1;  // broadcast and reduce: the root rank of the row (nccl-tests' root column); else -1
};

// One collective measured on one group of ranks (several identical groups may have run
// concurrently, e.g. one per host for level 0).
struct CollectiveSeries {
  Collective collective = Collective::AllReduce;
  int level = 0;                   // the outermost network level the group spans
  std::string group;               // e.g. "node:4", "hosts:2", "all:16", "nccl-tests:80"
  int group_size = 0;              // ranks in one group
  std::vector<int> members;        // members per level, innermost first; product = group_size
  int concurrent_groups = 1;       // identical groups that ran at the same time
  std::vector<std::string> hosts;  // host of each rank of the (first) group, in rank order
  std::string dtype = "bf16";
  std::string source;                     // "measured" or the imported file
  std::vector<CollectiveSample> samples;  // ascending bytes
};

struct LevelInfo {
  std::string name;    // "node" (ranks sharing a host), "network" (ranks on different hosts)
  int group_size = 0;  // ranks per domain at this level (cumulative: level 1 = all ranks measured)
};

// time = lower_latency + latency_s * steps + x / bandwidth (see fit.hpp).
struct AlphaBetaFit {
  double latency_s = 0;
  double bandwidth = 0;            // bytes/s
  bool bandwidth_resolved = true;  // false: no size-dependence seen; bandwidth = best observed
  double max_rel_error = 0, rms_rel_error = 0;
  int samples = 0;
};

struct CollectiveFit {
  int level = 0;
  std::string collective;  // a collective name, or "all" for the level's combined fit
  AlphaBetaFit fit;
};

// One GEMM (or batched GEMM) timing. m x k times k x n.
struct GemmSample {
  std::string key;   // unique task key, e.g. "gemm:qkv:fwd:tp2:mb1"
  std::string op;    // qkv, attn_out, mlp_up, mlp_down, logits, expert_up, expert_down
  std::string pass;  // fwd, dgrad, wgrad
  int tp = 1, microbatch = 1;
  std::int64_t m = 0, n = 0, k = 0;                    // the shape measured
  std::int64_t model_m = 0, model_n = 0, model_k = 0;  // the model's shape (differs when capped)
  std::int64_t batch = 1;                              // batched GEMMs (attention)
  double time_s = 0;                                   // median over iterations
  double flops = 0;                                    // 2 m n k batch
  double flops_per_s = 0;
};

struct MemorySample {
  std::string key;   // "memory:<bytes>"
  std::string op;    // "copy"
  double bytes = 0;  // bytes read + written
  double time_s = 0;
  double bandwidth = 0;  // bytes/s
};

struct EfficiencyFit {
  double e_max = 0, x_half = 0;
  double peak_flops = 0;    // FLOP/s the efficiencies are relative to
  std::string peak_source;  // "measured maximum" or "--peak-tflops"
  double max_rel_error = 0, rms_rel_error = 0;
  int samples = 0;
};

struct Operators {
  bool present = false;
  Json config = Json::object();  // model, seq_len, tp, microbatch, dtype, device, caps
  std::vector<GemmSample> gemm;
  std::vector<GemmSample> attention;
  std::vector<MemorySample> memory;
  // Derived by refit():
  EfficiencyFit gemm_fit;
  double attention_efficiency = 0;  // median achieved/peak over the attention samples
  double hbm_bandwidth = 0;         // bytes/s: the best copy bandwidth measured
  double memory_efficiency = 1;     // hbm_bandwidth / the device's theoretical bandwidth (1 if unknown)
  double peak_hbm_bandwidth = 0;    // theoretical bytes/s (0: unknown)
};

struct Profile {
  bool complete = false;
  std::string created, updated;  // ISO 8601 UTC
  Json machine = Json::object();
  Json software = Json::object();
  Json config = Json::object();
  std::vector<LevelInfo> levels;
  std::vector<CollectiveSeries> collectives;
  Operators operators;
  // Derived by refit():
  std::vector<CollectiveFit> fits;

  CollectiveSeries* find_series(const std::string& group, Collective c);
};

// Recomputes fits, the operator fits and nothing else (the cost model is derived on output).
void refit(Profile& p);
// The most GPUs of one host that a group measured at `level` (> 0) had on the network: the
// network level's combined fit is theirs (0: no such group).
int fullest_gpus_per_host(const Profile& p, int level);

// The cost model's time for `bytes` of a measured series' collective on `cluster`: the series'
// group, shaped as measured (members per level), priced alone as nccl-tests runs it
// (levels_for_group_alone). What the model is checked against the logs with
// (bench/collectives_error.cpp, docs/cost-model.md §9.5).
double modelled_time(const CollectiveSeries& s, const Cluster& cluster, double bytes);
// The block the planner reads: {"levels": [...], "gpu": {...}} (gpu only with operators).
Json cost_model_json(const Profile& p);

Json profile_to_json(const Profile& p);
// Reads a profile; bad input (exit 2) naming `source` and the field on any problem.
Profile profile_from_json(const Json& j, const std::string& source);
Profile read_profile(const std::string& path);
// Refits, then writes atomically (temporary file + rename).
void write_profile(const std::string& path, Profile& p);

std::string utc_now_iso8601();

// What a reader of the profile must be told, one line each: samples whose data check found wrong
// values (kept with their counts, left out of every fit), fits whose worst sample is more than
// kFitWarnRelError off, an incomplete profile. Printed by `nest profile` and `profile import`,
// and by every command given --profile.
// Half: NCCL switches protocols (LL, LL128, Simple) with the message size, which no alpha-beta
// line follows exactly; on the real nccl-tests logs in tests/data the per-collective fits are at
// worst ~41% off at one size. A fit off by more than half somewhere does not describe its data.
// (The level's combined fit of all collectives is not checked: it mixes them by design.)
inline constexpr double kFitWarnRelError = 0.5;
struct DataCheck {
  long checked = 0, wrong_samples = 0;  // samples with a data check; those with wrong values
  std::int64_t wrong_values = 0;
};
DataCheck data_check(const Profile& p);
// Bad input naming `source` when the profile cannot describe `gpu`: its operators were timed on a
// CPU or on another GPU model (applied anyway, a CPU's GEMM rate made a step 646,394 s). Lines in
// `warnings` when its collectives ran between other devices (CPU processes over MPI, another GPU).
// Imported nccl-tests logs name no device and pass.
void check_profile_hardware(const Profile& p, const GpuSpec& gpu, const std::string& source, std::vector<std::string>& warnings);
std::vector<std::string> profile_warnings(const Profile& p);

}  // namespace nest::profiler
