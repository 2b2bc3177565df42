#include "nest/report/trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "nest/core/error.hpp"
#include "nest/cost/placement.hpp"
#include "nest/report/text_report.hpp"
#include "nest/search/cost_source.hpp"

namespace nest {

PlanPieces plan_pieces(const CostSource& source, const Plan& plan, const Prediction* mapped) {
  const std::vector<std::string> violations = source.check(plan);
  if (!violations.empty()) throw_bad_input("plan", "cannot be costed: " + violations.front());
  PlanPieces pc;
  pc.plan = plan;
  pc.costs = mapped ? source.slice_costs(plan.par, mapped->placement) : source.slice_costs(plan.par, plan.order);
  const int v = plan.par.schedule == Schedule::Interleaved ? plan.par.virtual_stages : 1;
  pc.layout = layout_stages(plan.blocks_per_stage, v);
  pc.split = evaluate_split(pc.costs, pc.layout, &pc.detail);
  pc.prediction = mapped ? *mapped : source.predict(plan);
  return pc;
}

const char* to_string(Pacing p) {
  switch (p) {
    case Pacing::Exact:
      return "exact";
    case Pacing::Paced:
      return "paced";
    case Pacing::Compressed:
      return "compressed";
  }
  return "?";
}

namespace {

// ---------------------------------------------------------------------------------------------
// The pipeline's passes and their dependencies
// ---------------------------------------------------------------------------------------------

struct PassGraph {
  int p = 1, v = 1, m = 1;
  std::vector<std::vector<PipelinePass>> order;        // per stage
  std::vector<std::vector<double>> dur;                // the pass's time + its send
  std::vector<std::vector<int>> dep_stage, dep_index;  // the pass whose output this one needs (-1: none)
  std::vector<std::vector<double>> dep_transit;        // what its send still takes after that pass ends
  std::vector<std::pair<int, int>> topo;               // (stage, index) in an order every dependency respects
};

PassGraph pass_graph(const PlanPieces& pc) {
  PassGraph g;
  const kernels::SliceContext& ctx = pc.costs.ctx;
  g.p = ctx.p;
  g.v = ctx.v;
  g.m = ctx.m;
  const int p = g.p, v = g.v, m = g.m;
  auto key = [&](bool fwd, int c, int j) { return ((fwd ? 0 : 1) * v + c) * m + j; };
  std::vector<std::vector<int>> where(static_cast<std::size_t>(p), std::vector<int>(static_cast<std::size_t>(2 * v * m), -1));
  std::vector<std::vector<double>> transit(static_cast<std::size_t>(p));  // per stage, per pass: its send's transit
  for (int i = 0; i < p; ++i) {
    g.order.push_back(schedule_order(p, v, m, i, ctx.torch_order, ctx.extra_warmup));
    std::vector<double> d;
    const auto& order = g.order.back();
    for (std::size_t x = 0; x < order.size(); ++x) {
      const PipelinePass& ps = order[x];
      const ChunkDetail& cd = pc.detail[static_cast<std::size_t>(i)].chunks[static_cast<std::size_t>(ps.chunk)];
      const PassDetail& pd = ps.forward ? cd.fwd : cd.bwd;
      d.push_back(pd.time + pd.send);
      transit[static_cast<std::size_t>(i)].push_back(pd.send_transit);
      where[static_cast<std::size_t>(i)][static_cast<std::size_t>(key(ps.forward, ps.chunk, ps.microbatch))] =
          static_cast<int>(x);
    }
    g.dur.push_back(std::move(d));
  }
  // Model chunk k = c p + i runs on stage k mod p as its chunk k / p: a forward needs the
  // previous model chunk's forward, a backward the next one's backward.
  for (int i = 0; i < p; ++i) {
    std::vector<int> ds, di;
    std::vector<double> dt;
    for (const PipelinePass& ps : g.order[static_cast<std::size_t>(i)]) {
      const int k = ps.chunk * p + i;
      const int n = ps.forward ? k - 1 : k + 1;
      if (n < 0 || n >= p * v) {
        ds.push_back(-1);
        di.push_back(-1);
        dt.push_back(0);
        continue;
      }
      const int index = where[static_cast<std::size_t>(n % p)][static_cast<std::size_t>(key(ps.forward, n / p, ps.microbatch))];
      ds.push_back(n % p);
      di.push_back(index);
      dt.push_back(transit[static_cast<std::size_t>(n % p)][static_cast<std::size_t>(index)]);
    }
    g.dep_stage.push_back(std::move(ds));
    g.dep_index.push_back(std::move(di));
    g.dep_transit.push_back(std::move(dt));
  }
  // A topological order: advance every stage as far as its dependencies allow, round by round.
  std::vector<std::size_t> next(static_cast<std::size_t>(p), 0);
  std::size_t total = 0, done = 0;
  for (const auto& o : g.order) total += o.size();
  g.topo.reserve(total);
  while (done < total) {
    bool progress = false;
    for (int i = 0; i < p; ++i) {
      auto& x = next[static_cast<std::size_t>(i)];
      const auto& order = g.order[static_cast<std::size_t>(i)];
      while (x < order.size()) {
        const int s = g.dep_stage[static_cast<std::size_t>(i)][x];
        if (s >= 0 && next[static_cast<std::size_t>(s)] <= static_cast<std::size_t>(g.dep_index[static_cast<std::size_t>(i)][x]))
          break;
        g.topo.emplace_back(i, static_cast<int>(x));
        ++x;
        ++done;
        progress = true;
      }
    }
    if (!progress) throw_runtime("the pipeline schedule deadlocks (a bug in schedule_order)");
  }
  return g;
}

// Every pass as soon as its stage is free, its input has arrived (the pass before it ended and an
// overlapped send's transit passed, or is due within `lead`) and its release time
// lambda * release[i][x] has come. Returns the last end.
double replay(const PassGraph& g, const std::vector<std::vector<double>>& dur, double lambda,
              const std::vector<std::vector<double>>* release, std::vector<std::vector<TimedPass>>& out, double lead = 0) {
  out.assign(static_cast<std::size_t>(g.p), {});
  for (int i = 0; i < g.p; ++i) out[static_cast<std::size_t>(i)].resize(g.order[static_cast<std::size_t>(i)].size());
  std::vector<double> free_at(static_cast<std::size_t>(g.p), 0.0);
  double last = 0;
  for (const auto& [i, x] : g.topo) {
    const std::size_t si = static_cast<std::size_t>(i), sx = static_cast<std::size_t>(x);
    double start = free_at[si];
    const int ds = g.dep_stage[si][sx];
    if (ds >= 0)
      start = std::max(start, out[static_cast<std::size_t>(ds)][static_cast<std::size_t>(g.dep_index[si][sx])].end +
                                  g.dep_transit[si][sx] - lead);
    if (release) start = std::max(start, lambda * (*release)[si][sx]);
    TimedPass& t = out[si][sx];
    t.pass = g.order[si][sx];
    t.start = start;
    t.end = start + dur[si][sx];
    free_at[si] = t.end;
    last = std::max(last, t.end);
  }
  return last;
}

}  // namespace

StepSchedule schedule_step(const PlanPieces& pc) {
  StepSchedule s;
  s.pipeline_time = pc.split.pipeline_time;
  s.step_time = pc.split.step_time;
  const PassGraph g = pass_graph(pc);
  s.replay_time = replay(g, g.dur, 0, nullptr, s.stages);
  const double target = s.pipeline_time;
  const double tol = 1e-12 * std::max(target, 1e-300);
  if (std::fabs(s.replay_time - target) <= tol) {
    s.pacing = Pacing::Exact;
  } else if (s.replay_time < target) {
    // Release times: the uniform schedule in which every pass takes the bottleneck stage's
    // per-chunk forward or backward time.
    s.pacing = Pacing::Paced;
    const int b = pc.split.bottleneck;
    double fb = 0, bb = 0;
    for (const ChunkDetail& cd : pc.detail[static_cast<std::size_t>(b)].chunks) {
      fb += cd.fwd.time + cd.fwd.send;
      bb += cd.bwd.time + cd.bwd.send;
    }
    std::vector<std::vector<double>> uniform = g.dur;
    for (int i = 0; i < g.p; ++i)
      for (std::size_t x = 0; x < uniform[static_cast<std::size_t>(i)].size(); ++x)
        uniform[static_cast<std::size_t>(i)][x] = (g.order[static_cast<std::size_t>(i)][x].forward ? fb : bb) / g.v;
    std::vector<std::vector<TimedPass>> ref;
    replay(g, uniform, 0, nullptr, ref);
    std::vector<std::vector<double>> release(static_cast<std::size_t>(g.p));
    for (int i = 0; i < g.p; ++i)
      for (const TimedPass& t : ref[static_cast<std::size_t>(i)]) release[static_cast<std::size_t>(i)].push_back(t.start);
    // The replay's end grows continuously and without bound with lambda: bisect.
    std::vector<std::vector<TimedPass>> scratch;
    double lo = 0, hi = 1;
    while (replay(g, g.dur, hi, &release, scratch) < target && hi < 1e12) {
      lo = hi;
      hi *= 2;
    }
    for (int it = 0; it < 200; ++it) {
      const double mid = lo + (hi - lo) / 2;
      if (mid <= lo || mid >= hi) break;
      (replay(g, g.dur, mid, &release, scratch) < target ? lo : hi) = mid;
    }
    s.lambda = lo;
    replay(g, g.dur, lo, &release, s.stages);
  } else {
    // Let every pass start up to `lead` before its input arrives, the smallest lead that ends
    // the replay at the pipeline time (with an unbounded lead each stage runs its passes back to
    // back and ends at m t_i <= the pipeline time).
    s.pacing = Pacing::Compressed;
    std::vector<std::vector<TimedPass>> scratch;
    double lo = 0, hi = target;
    for (int it = 0; it < 200; ++it) {
      const double mid = lo + (hi - lo) / 2;
      if (mid <= lo || mid >= hi) break;
      (replay(g, g.dur, 0, nullptr, scratch, mid) > target ? lo : hi) = mid;
    }
    s.lead = hi;
    replay(g, g.dur, 0, nullptr, s.stages, hi);
    for (int i = 0; i < g.p; ++i)
      for (std::size_t x = 0; x < s.stages[static_cast<std::size_t>(i)].size(); ++x) {
        const int ds = g.dep_stage[static_cast<std::size_t>(i)][x];
        if (ds < 0) continue;
        const TimedPass& dep =
            s.stages[static_cast<std::size_t>(ds)][static_cast<std::size_t>(g.dep_index[static_cast<std::size_t>(i)][x])];
        if (s.stages[static_cast<std::size_t>(i)][x].start < dep.end * (1 - 1e-12)) ++s.late_passes;
      }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The trace-event JSON
// ---------------------------------------------------------------------------------------------

namespace {

enum Lane : int { kCompute = 1, kTp, kCp, kEp, kDp, kOffload, kSend, kRecvFwd, kRecvBwd, kGradSync, kOptimizer, kLanes };

const char* lane_name(int lane) {
  switch (lane) {
    case kCompute:
      return "compute";
    case kTp:
      return "TP collectives (exposed)";
    case kCp:
      return "CP ring exchange (exposed)";
    case kEp:
      return "EP all-to-all";
    case kDp:
      return "ZeRO-3/FSDP per-microbatch traffic (exposed)";
    case kOffload:
      return "activation offload (exposed)";
    case kSend:
      return "pipeline sends";
    case kRecvFwd:
      return "pipeline receives: activations";
    case kRecvBwd:
      return "pipeline receives: gradients";
    case kGradSync:
      return "gradient sync and parameter gather (exposed)";
    case kOptimizer:
      return "optimizer step";
  }
  return "?";
}

const char* lane_category(int lane) {
  switch (lane) {
    case kCompute:
      return "compute";
    case kTp:
      return "tp";
    case kCp:
      return "cp";
    case kEp:
      return "ep";
    case kDp:
      return "dp_microbatch";
    case kOffload:
      return "offload";
    case kSend:
      return "pp_send";
    case kRecvFwd:
    case kRecvBwd:
      return "pp_recv";
    case kGradSync:
      return "dp_sync";
    case kOptimizer:
      return "optimizer";
  }
  return "?";
}

// A small append-only JSON writer: the trace of a large plan has hundreds of thousands of
// values, so numbers go through std::to_chars and nothing is built as a tree.
class Out {
 public:
  std::string s;
  void raw(std::string_view x) { s.append(x); }
  void num(double x) {
    if (!std::isfinite(x)) {
      s.append("null");
      return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    s.append(buf, r.ptr);
  }
  void integer(long long x) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, x);
    s.append(buf, r.ptr);
  }
  // Integer nanoseconds as microseconds with three decimals (exact in decimal).
  void micros(long long ns) {
    if (ns < 0) {
      s.push_back('-');
      ns = -ns;
    }
    integer(ns / 1000);
    const int frac = static_cast<int>(ns % 1000);
    if (frac == 0) return;
    char buf[5] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                   static_cast<char>('0' + frac % 10), 0};
    int len = 4;
    while (buf[len - 1] == '0') --len;
    s.append(buf, static_cast<std::size_t>(len));
  }
  void str(std::string_view x) {
    s.push_back('"');
    for (char c : x) {
      switch (c) {
        case '"':
          s.append("\\\"");
          break;
        case '\\':
          s.append("\\\\");
          break;
        case '\n':
          s.append("\\n");
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            s.append(buf);
          } else {
            s.push_back(c);
          }
      }
    }
    s.push_back('"');
  }
  void key(std::string_view k) {
    str(k);
    s.push_back(':');
  }
};

long long to_ns(double seconds) { return std::llround(seconds * 1e9); }

std::string layer_name(int node, int blocks) {
  if (node == 0) return "embedding";
  if (node > blocks) return "head";
  return "block " + std::to_string(node - 1);
}

std::string chunk_layers(const ChunkDetail& cd, int blocks) {
  return cd.first_node == cd.last_node ? layer_name(cd.first_node, blocks)
                                       : layer_name(cd.first_node, blocks) + " .. " + layer_name(cd.last_node, blocks);
}

struct Writer {
  Out o;
  bool first = true;
  void begin_event() {
    if (!first) o.raw(",\n");
    first = false;
  }
  // An X event; `args` appends the args object's members (after "args":{).
  template <class Args>
  void x(const std::string& name, int lane, int pid, long long t0, long long t1, Args&& args) {
    begin_event();
    o.raw("{\"name\":");
    o.str(name);
    o.raw(",\"cat\":\"");
    o.raw(lane_category(lane));
    o.raw("\",\"ph\":\"X\",\"pid\":");
    o.integer(pid);
    o.raw(",\"tid\":");
    o.integer(lane);
    o.raw(",\"ts\":");
    o.micros(t0);
    o.raw(",\"dur\":");
    o.micros(t1 - t0);
    o.raw(",\"args\":{");
    args(o);
    o.raw("}}");
  }
  void meta(const char* what, int pid, int tid, std::string_view key, const std::string& value, long long sort = -1) {
    begin_event();
    o.raw("{\"name\":\"");
    o.raw(what);
    o.raw("\",\"ph\":\"M\",\"pid\":");
    o.integer(pid);
    o.raw(",\"tid\":");
    o.integer(tid);
    o.raw(",\"args\":{");
    o.key(key);
    if (sort >= 0)
      o.integer(sort);
    else
      o.str(value);
    o.raw("}}");
  }
  void flow(char ph, long long id, int pid, int tid, long long ts) {
    begin_event();
    o.raw("{\"name\":\"pipeline transfer\",\"cat\":\"pp_flow\",\"ph\":\"");
    o.s.push_back(ph);
    o.raw("\",\"id\":");
    o.integer(id);
    o.raw(",\"pid\":");
    o.integer(pid);
    o.raw(",\"tid\":");
    o.integer(tid);
    o.raw(",\"ts\":");
    o.micros(ts);
    if (ph == 'f') o.raw(",\"bp\":\"e\"");
    o.raw("}");
  }
};

}  // namespace

std::string trace_json(const Problem& problem, const PlanPieces& pc, const StepSchedule& sched, const TraceInfo& info) {
  const Parallelism& par = pc.plan.par;
  const Cluster& cluster = problem.cluster;
  const Placement& pl = pc.costs.placement;
  const int p = static_cast<int>(sched.stages.size());
  const int blocks = static_cast<int>(pc.costs.layers.size()) - 2;
  const bool interleaved = pc.costs.ctx.v > 1;
  auto level_name = [&](int l) {
    return l >= 0 && l < static_cast<int>(cluster.levels.size()) ? cluster.levels[static_cast<std::size_t>(l)].name
                                                                 : std::string("-");
  };
  const long tp_size = par.tp, cp_size = par.cp, ep_size = par.ep, dp_size = par.dp;
  const std::string tp_level = spanned_level(cluster, pl.tp), cp_level = spanned_level(cluster, pl.cp),
                    ep_level = spanned_level(cluster, pl.ep), dp_level = spanned_level(cluster, pl.dp);
  const bool sp = par.sp && par.tp > 1;

  Writer w;
  w.o.s.reserve(static_cast<std::size_t>(p) * sched.stages.front().size() * 900 + 4096);
  w.o.raw("{\"traceEvents\":[\n");

  // Which lanes each stage uses, for the thread names.
  std::vector<std::vector<bool>> used(static_cast<std::size_t>(p), std::vector<bool>(kLanes, false));

  // Where each pass's data comes from, to draw the receives and the flow arrows: for every
  // (stage, index) the producing pass, found by matching (direction, model chunk, microbatch).
  const int v = pc.costs.ctx.v, m = pc.costs.ctx.m;
  auto key = [&](bool fwd, int k, int j) { return (static_cast<std::size_t>(fwd ? 0 : 1) * (p * v) + k) * m + j; };
  std::vector<std::pair<int, int>> producer_of(static_cast<std::size_t>(2 * p * v * m), {-1, -1});
  for (int i = 0; i < p; ++i)
    for (std::size_t x = 0; x < sched.stages[static_cast<std::size_t>(i)].size(); ++x) {
      const PipelinePass& ps = sched.stages[static_cast<std::size_t>(i)][x].pass;
      producer_of[key(ps.forward, ps.chunk * p + i, ps.microbatch)] = {i, static_cast<int>(x)};
    }

  long long flow_id = 0;
  std::string name;
  for (int i = 0; i < p; ++i) {
    const int pid = i + 1;
    const StageDetail& sd = pc.detail[static_cast<std::size_t>(i)];
    for (const TimedPass& tpass : sched.stages[static_cast<std::size_t>(i)]) {
      const PipelinePass& ps = tpass.pass;
      const ChunkDetail& cd = sd.chunks[static_cast<std::size_t>(ps.chunk)];
      const PassDetail& pd = ps.forward ? cd.fwd : cd.bwd;
      std::string label = std::string(ps.forward ? "F" : "B") + std::to_string(ps.microbatch);
      if (interleaved) label += " c" + std::to_string(ps.chunk);
      // Pieces one after another (exposed time is time the pass waits for them), the pass's
      // time exactly, then its send.
      const double pass_end = tpass.start + pd.time;
      double t = tpass.start;
      long long t0 = to_ns(t);
      const long long pass_end_ns = to_ns(pass_end);
      auto piece = [&](int lane, double len, const std::string& nm, auto&& args) {
        if (len <= 0) return;
        t += len;
        const long long t1 = std::min(to_ns(t), pass_end_ns);
        if (t1 > t0) {
          used[static_cast<std::size_t>(i)][static_cast<std::size_t>(lane)] = true;
          w.x(nm, lane, pid, t0, t1, args);
        }
        t0 = std::max(t0, t1);
      };
      const int layers_first = cd.first_node, layers_last = cd.last_node;
      (void)layers_first;
      (void)layers_last;
      piece(kCompute, pd.compute, label, [&](Out& o) {
        o.raw("\"pass\":");
        o.str(ps.forward ? "forward" : "backward");
        o.raw(",\"microbatch\":");
        o.integer(ps.microbatch);
        o.raw(",\"chunk\":");
        o.integer(ps.chunk);
        o.raw(",\"layers\":");
        o.str(chunk_layers(cd, blocks));
        o.raw(",\"time_s\":");
        o.num(pd.compute);
        o.raw(",\"flop\":");
        o.num(pd.hardware_flops);
        o.raw(",\"tflops_per_s\":");
        o.num(pd.compute > 0 ? pd.hardware_flops / pd.compute / 1e12 : 0);
        if (!ps.forward && par.recompute != Recompute::None) {
          o.raw(",\"recompute\":");
          o.str(to_string(par.recompute));
        }
      });
      auto coll = [&](long group, const std::string& level, double bytes, double exposed) {
        return [&, group, bytes, exposed](Out& o) {
          o.raw("\"pass\":");
          o.str(ps.forward ? "forward" : "backward");
          o.raw(",\"microbatch\":");
          o.integer(ps.microbatch);
          o.raw(",\"bytes\":");
          o.num(bytes);
          o.raw(",\"group\":");
          o.integer(group);
          o.raw(",\"level\":");
          o.str(level);
          o.raw(",\"exposed_s\":");
          o.num(exposed);
        };
      };
      piece(kTp, pd.tp, std::string(sp ? "TP all-gather/reduce-scatter " : "TP all-reduce ") + label,
            coll(tp_size, tp_level, pd.tp_bytes, pd.tp));
      piece(kCp, pd.cp, "CP K/V ring " + label, coll(cp_size, cp_level, pd.cp_bytes, pd.cp));
      piece(kEp, pd.ep, "EP all-to-all " + label, coll(ep_size, ep_level, pd.ep_bytes, pd.ep));
      piece(kDp, pd.dp, std::string(ps.forward ? "ZeRO all-gather " : "ZeRO all-gather/reduce-scatter ") + label, [&](Out& o) {
        o.raw("\"pass\":");
        o.str(ps.forward ? "forward" : "backward");
        o.raw(",\"group\":");
        o.integer(dp_size);
        o.raw(",\"level\":");
        o.str(dp_level);
        o.raw(",\"exposed_s\":");
        o.num(pd.dp);
      });
      piece(kOffload, pd.offload, std::string(ps.forward ? "offload " : "reload ") + label, [&](Out& o) {
        o.raw("\"exposed_s\":");
        o.num(pd.offload);
      });
      // The send leaving the pass, and its receipt on the other side.
      if (pd.send > 0 && pd.send_to >= 0) {
        const long long s0 = pass_end_ns, s1 = std::max(s0, to_ns(tpass.end));
        if (s1 > s0) {
          used[static_cast<std::size_t>(i)][kSend] = true;
          used[static_cast<std::size_t>(pd.send_to)][ps.forward ? kRecvFwd : kRecvBwd] = true;
          auto args = [&](Out& o) {
            o.raw("\"microbatch\":");
            o.integer(ps.microbatch);
            o.raw(",\"bytes\":");
            o.num(pd.send_bytes);
            o.raw(",\"from_stage\":");
            o.integer(i);
            o.raw(",\"to_stage\":");
            o.integer(pd.send_to);
            o.raw(",\"level\":");
            o.str(level_name(pd.send_level));
            o.raw(",\"time_s\":");
            o.num(pd.send);
          };
          name =
              std::string(ps.forward ? "send activation " : "send gradient ") + label + " -> stage " + std::to_string(pd.send_to);
          w.x(name, kSend, pid, s0, s1, args);
          name = std::string(ps.forward ? "recv activation " : "recv gradient ") + label + " <- stage " + std::to_string(i);
          w.x(name, ps.forward ? kRecvFwd : kRecvBwd, pd.send_to + 1, s0, s1, [&](Out& o) {
            args(o);
            o.raw(",\"paid_by\":\"sender\"");
          });
          // The arrow to the pass that consumes it.
          const int k = ps.chunk * p + i + (ps.forward ? 1 : -1);
          if (k >= 0 && k < p * v) {
            const auto [cs, cx] = producer_of[key(ps.forward, k, ps.microbatch)];
            if (cs >= 0) {
              const TimedPass& consumer = sched.stages[static_cast<std::size_t>(cs)][static_cast<std::size_t>(cx)];
              ++flow_id;
              w.flow('s', flow_id, pid, kSend, s0);
              w.flow('f', flow_id, cs + 1, kCompute, to_ns(consumer.start));
            }
          }
        }
      }
    }
    // The tail, after the pipeline has drained (docs/cost-model.md §8): exposed gradient
    // reduction, the optimizer step, the exposed parameter all-gather.
    const StageEval& st = pc.split.stages[static_cast<std::size_t>(i)];
    const kernels::SyncTimes& sync = sd.sync;
    const kernels::StageSums& sums = st.sums;
    // Boundaries: the last is pipeline time + tail, the very sum that makes the step time.
    const double tail_end = sched.pipeline_time + st.tail;
    const double bounds[4] = {sched.pipeline_time, sched.pipeline_time + sync.reduce_exposed,
                              sched.pipeline_time + sync.reduce_exposed + sums.optimizer_time, tail_end};
    int piece_index = 0;
    auto tail_piece = [&](int lane, double len, const std::string& nm, auto&& args) {
      const long long t0 = to_ns(bounds[piece_index]);
      const long long t1 = std::min(to_ns(bounds[piece_index + 1]), to_ns(tail_end));
      ++piece_index;
      if (len > 0 && t1 > t0) {
        used[static_cast<std::size_t>(i)][static_cast<std::size_t>(lane)] = true;
        w.x(nm, lane, pid, t0, t1, args);
      }
    };
    const bool zero0 = par.zero == 0;
    tail_piece(kGradSync, sync.reduce_exposed, zero0 ? "gradient all-reduce" : "gradient reduce-scatter", [&](Out& o) {
      o.raw("\"bytes\":");
      o.num(sums.dp_reduce_bytes + sums.edp_reduce_bytes);
      o.raw(",\"group\":");
      o.integer(dp_size * cp_size);
      o.raw(",\"level\":");
      o.str(dp_level);
      o.raw(",\"total_s\":");
      o.num(sync.reduce);
      o.raw(",\"exposed_s\":");
      o.num(sync.reduce_exposed);
      o.raw(",\"overlapped_with_backward\":");
      o.raw(pc.costs.ctx.overlap_grad_reduce ? "true" : "false");
      o.raw(",\"buckets\":");  // Megatron's first-stage buckets, a collective each (0: not cut)
      o.integer(sync.buckets);
    });
    tail_piece(kOptimizer, sums.optimizer_time, "optimizer step", [&](Out& o) {
      o.raw("\"time_s\":");
      o.num(sums.optimizer_time);
      o.raw(",\"optimizer_state_bytes\":");
      o.num(sums.optimizer_bytes);
      o.raw(",\"offloaded\":");
      o.raw(par.offload_optimizer ? "true" : "false");
    });
    tail_piece(kGradSync, sync.gather_exposed, "parameter all-gather", [&](Out& o) {
      o.raw("\"bytes\":");
      o.num(sums.dp_gather_bytes + sums.edp_gather_bytes);
      o.raw(",\"group\":");
      o.integer(dp_size * cp_size);
      o.raw(",\"level\":");
      o.str(dp_level);
      o.raw(",\"total_s\":");
      o.num(sync.gather);
      o.raw(",\"exposed_s\":");
      o.num(sync.gather_exposed);
      o.raw(",\"overlapped_with_next_forward\":");
      o.raw(pc.costs.ctx.overlap_param_gather ? "true" : "false");
      o.raw(",\"buckets\":");
      o.integer(sync.buckets);
    });
  }
  // Names: one process per stage, one thread per kind of work it does.
  const long gpus_per_stage = pc.prediction.gpus_used / std::max(1, par.pp);
  for (int i = 0; i < p; ++i) {
    const StageDetail& sd = pc.detail[static_cast<std::size_t>(i)];
    std::string pname = "stage " + std::to_string(i) + ": " + layer_name(sd.chunks.front().first_node, blocks) + " .. " +
                        layer_name(sd.chunks.back().last_node, blocks);
    if (sd.chunks.size() > 1) pname += " (" + std::to_string(sd.chunks.size()) + " chunks)";
    pname += ", " + std::to_string(gpus_per_stage) + " GPUs";
    w.meta("process_name", i + 1, 0, "name", pname);
    w.meta("process_sort_index", i + 1, 0, "sort_index", "", i);
    for (int lane = kCompute; lane < kLanes; ++lane) {
      if (!used[static_cast<std::size_t>(i)][static_cast<std::size_t>(lane)]) continue;
      w.meta("thread_name", i + 1, lane, "name", lane_name(lane));
      w.meta("thread_sort_index", i + 1, lane, "sort_index", "", lane);
    }
  }
  Out& o = w.o;
  o.raw("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{");
  o.key("schema");
  o.str("nest.trace/1");
  o.raw(",");
  o.key("model");
  o.str(info.model_spec);
  o.raw(",");
  o.key("cluster");
  o.str(info.cluster_spec);
  o.raw(",");
  o.key("gpus");
  o.integer(problem.gpus);
  o.raw(",");
  o.key("plan");
  o.str(describe_parallelism(par));
  o.raw(",");
  o.key("order");
  o.str(pc.plan.order.str());
  o.raw(",");
  o.key("step_time_s");
  o.num(sched.step_time);
  o.raw(",");
  o.key("pipeline_time_s");
  o.num(sched.pipeline_time);
  o.raw(",");
  o.key("replay_time_s");
  o.num(sched.replay_time);
  o.raw(",");
  o.key("pacing");
  o.str(to_string(sched.pacing));
  o.raw(",");
  o.key("late_passes");
  o.integer(sched.late_passes);
  o.raw(",");
  o.key("lead_s");
  o.num(sched.lead);
  o.raw(",");
  o.key("release_factor");
  o.num(sched.lambda);
  o.raw(",");
  o.key("microbatches");
  o.integer(m);
  o.raw(",");
  o.key("stages");
  o.raw("[");
  for (int i = 0; i < p; ++i) {
    const StageEval& st = pc.split.stages[static_cast<std::size_t>(i)];
    o.raw(i ? ",{" : "{");
    o.key("index");
    o.integer(i);
    o.raw(",");
    o.key("time_per_microbatch_s");
    o.num(st.time);
    o.raw(",");
    o.key("tail_s");
    o.num(st.tail);
    o.raw(",");
    o.key("busy_s");
    o.num(m * st.time + st.tail);
    o.raw("}");
  }
  o.raw("],");
  o.key("time_unit");
  o.str("ts and dur in microseconds on an integer-nanosecond grid");
  o.raw("}}\n");
  return std::move(o.s);
}

}  // namespace nest
