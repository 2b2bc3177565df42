// nest trace: the predicted training step as a Chrome / Perfetto trace (the trace-event format's
// JSON), drawn from the evaluator's own pieces: every pass of every microbatch through every model
// chunk in Megatron-LM's order, its compute, exposed TP/CP/EP/ZeRO collectives, offload traffic and
// pipeline send, then each stage's exposed gradient sync and optimizer step. docs/visuals.md §1.
#pragma once

#include <string>
#include <vector>

#include "nest/problem/problem.hpp"
#include "nest/cost/schedule.hpp"
#include "nest/cost/slice_costs.hpp"
#include "nest/evaluate/evaluator.hpp"
#include "nest/evaluate/split.hpp"
#include "nest/plan/plan.hpp"

namespace nest {

class CostSource;

// What the evaluator computes for one plan, kept whole for the reports that draw it: the
// prediction and every stage's per-chunk, per-pass pieces (evaluate_split's detail).
struct PlanPieces {
  Plan plan;
  SliceCosts costs;
  std::vector<StageLayout> layout;
  SplitEval split;
  std::vector<StageDetail> detail;
  Prediction prediction;
  double stage_time(int i) const { return split.stages[static_cast<std::size_t>(i)].time; }
};

// Bad input naming the first violation when the plan cannot be costed (a plan that runs out of
// memory is costed: its violations stay in prediction.violations). `mapped`: the plan's
// prediction under a rank map's placement (nest evaluate --rank-map), whose groups and
// boundaries then price the pieces; null: the rank order's.
PlanPieces plan_pieces(const CostSource& source, const Plan& plan, const Prediction* mapped = nullptr);

// One pass of a stage, placed in time: it computes from `start`, then sends (when it does) until
// `end` = start + its time + its send.
struct TimedPass {
  PipelinePass pass;
  double start = 0, end = 0;  // s
};

// How the drawn pipeline relates to a plain replay of Megatron's order with the evaluator's
// per-pass times (each pass as soon as its stage is free and its input has arrived):
//   Exact      the replay ends at the evaluator's pipeline time (uniform stages, p = 1, ...);
//   Paced      the replay ends earlier: the closed form paces every stage at the bottleneck's
//              rate, so passes are released no earlier than lambda times their start in the
//              uniform schedule at the bottleneck's pace, lambda chosen so the replay ends at the
//              pipeline time (every dependency still holds);
//   Compressed the replay ends later (interleaved, uneven stages: the closed form is optimistic):
//              passes may start up to `lead` seconds before their input arrives, the smallest
//              lead that ends the replay at the pipeline time (late_passes counts those that do).
enum class Pacing { Exact, Paced, Compressed };
const char* to_string(Pacing p);

struct StepSchedule {
  std::vector<std::vector<TimedPass>> stages;  // every stage's passes, in its order
  double pipeline_time = 0;                    // the evaluator's, where the pipeline part ends
  double step_time = 0;                        // the evaluator's: pipeline time + the largest tail
  double replay_time = 0;                      // the plain replay's end
  double lambda = 0;                           // Paced: the release factor
  double lead = 0;                             // Compressed: how early a pass may start (s)
  Pacing pacing = Pacing::Exact;
  int late_passes = 0;
};

StepSchedule schedule_step(const PlanPieces& pieces);

struct TraceInfo {
  std::string model_spec, cluster_spec;
};

// The trace-event JSON ({"traceEvents": [...], "displayTimeUnit", "otherData"}): one process per
// pipeline stage (every GPU of a stage runs the same timeline), one thread per kind of work, X
// events on an integer-nanosecond grid (Perfetto's resolution) in microseconds, flow arrows
// from each pipeline send to the pass that consumes it.
std::string trace_json(const Problem& problem, const PlanPieces& pieces, const StepSchedule& schedule, const TraceInfo& info);

}  // namespace nest
