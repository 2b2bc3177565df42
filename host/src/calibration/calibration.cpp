#include "nest/calibration/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/core/units.hpp"
#include "nest/framework/framework.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/io/text.hpp"
#include "nest/model/model_config.hpp"
#include "nest/report/compute_report.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/planner.hpp"

namespace nest {

const char* metric_name(RunMetric m) {
  switch (m) {
    case RunMetric::TokensPerSecondPerGpu:
      return "tokens_per_s_per_gpu";
    case RunMetric::ModelTflopsPerGpu:
      return "model_tflops_per_gpu";
    case RunMetric::HardwareTflopsPerGpu:
      return "hardware_tflops_per_gpu";
    case RunMetric::StepTime:
      return "step_time_s";
    case RunMetric::PeakMemoryGiB:
      return "peak_memory_GiB";
    case RunMetric::PeakAllocatedGiB:
      return "peak_allocated_GiB";
    case RunMetric::TransientPeakGiB:
      return "transient_peak_GiB";
    case RunMetric::DeviceUsedGiB:
      return "device_used_GiB";
  }
  return "";
}

namespace {

constexpr RunMetric kRunMetrics[] = {
    RunMetric::TokensPerSecondPerGpu, RunMetric::ModelTflopsPerGpu, RunMetric::HardwareTflopsPerGpu, RunMetric::StepTime,
    RunMetric::PeakMemoryGiB,         RunMetric::PeakAllocatedGiB,  RunMetric::TransientPeakGiB,     RunMetric::DeviceUsedGiB};

RunMetric parse_metric(const std::string& s, const std::string& where) {
  std::string names;
  for (RunMetric m : kRunMetrics) {
    if (s == metric_name(m)) return m;
    names += std::string(names.empty() ? "" : ", ") + metric_name(m);
  }
  throw_bad_input(where, "'" + s + "' is not one of " + names);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

double number_at(const std::string& text, const std::string& where) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !std::isfinite(v)) throw_bad_input(where, "'" + text + "' is not a number");
  return v;
}

// The dataset-level settings of the `# key: value` header lines.
struct Defaults {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& d = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? d : it->second;
  }
};

// Every degree and setting published: the row is evaluated as it ran, not searched.
bool fully_published(const RunRow& r) {
  return r.tp > 0 && r.pp > 0 && r.cp > 0 && r.ep > 0 && r.vp > 0 && r.microbatch > 0 && r.zero >= 0 && !r.recompute.empty() &&
         !r.precision.empty();
}

std::vector<bool> switch_list(const std::string& v, const std::string& where) {
  if (v.empty()) return {};
  std::vector<bool> out;
  for (const auto& w : split(v, '|')) {
    if (w == "on")
      out.push_back(true);
    else if (w == "off")
      out.push_back(false);
    else
      throw_bad_input(where, "'" + v + "' is not on, off or on|off");
  }
  return out;
}

}  // namespace

bool is_memory_metric(RunMetric m) {
  return m == RunMetric::PeakMemoryGiB || m == RunMetric::PeakAllocatedGiB || m == RunMetric::TransientPeakGiB ||
         m == RunMetric::DeviceUsedGiB;
}

RunDataset read_run_dataset(const std::string& path) {
  RunDataset ds;
  ds.path = path;
  ds.name = std::filesystem::path(path).stem().string();
  Defaults d;
  std::stringstream ss(read_text_file(path));
  std::vector<std::string> header;
  int line_no = 0;
  for (std::string line; std::getline(ss, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    if (line[0] == '#') {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        const std::string key = trim(line.substr(1, colon - 1));
        if (!key.empty() && key.find(' ') == std::string::npos) d.kv[key] = trim(line.substr(colon + 1));
      }
      continue;
    }
    const std::vector<std::string> cells = split_csv_line(line);
    if (header.empty()) {
      header = cells;
      continue;
    }
    const std::string where = path + ":" + std::to_string(line_no);
    auto cell = [&](const char* name) -> std::string {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == name) return i < cells.size() ? trim(cells[i]) : "";
      return "";
    };
    auto integer = [&](const char* name, int dflt) {
      const std::string c = cell(name);
      if (c.empty() || c == "*") return dflt;
      const double v = number_at(c, where + ": column " + name);
      if (v < 0 || v != std::floor(v) || v > (1 << 24)) throw_bad_input(where + ": column " + name, "must be a small integer");
      return static_cast<int>(v);
    };
    RunRow r;
    r.dataset = ds.name;
    r.line = line_no;
    r.id = cell("id");
    r.source = cell("source");
    r.model = cell("model");
    r.cluster = cell("cluster").empty() ? d.get("cluster") : cell("cluster");
    if (r.model.empty() || r.cluster.empty()) throw_bad_input(where, "a row needs a model and a cluster");
    r.gpus = integer("gpus", 0);
    r.global_batch = integer("global_batch", 0);
    r.seq_len = integer("seq_len", 0);
    if (r.gpus <= 0 || r.global_batch <= 0 || r.seq_len <= 0)
      throw_bad_input(where, "gpus, global_batch and seq_len must be positive");
    r.tp = integer("tp", 0);
    r.pp = integer("pp", 0);
    r.cp = integer("cp", 0);
    r.ep = integer("ep", 0);
    r.vp = integer("vp", 0);
    r.etp = integer("etp", 0);
    r.microbatch = integer("microbatch", 0);
    r.zero = integer("zero", -1);
    auto text = [&](const char* name) {
      const std::string c = cell(name);
      return c.empty() || c == "*" ? d.get(name) : c;
    };
    r.precision = text("precision");
    r.recompute = text("recompute");
    r.recompute_modules = text("recompute_modules");
    if (!r.recompute_modules.empty()) {
      if (r.recompute != "selective") throw_bad_input(where, "recompute_modules names modules, but recompute is not selective");
      (void)parse_recompute_modules(r.recompute_modules, where + ": recompute_modules");
    }
    for (const std::string& b : split(text("blocks_per_stage"), ' ')) {
      if (b.empty()) continue;
      const double v = number_at(b, where + ": column blocks_per_stage");
      if (v < 0 || v != std::floor(v) || v > (1 << 20))
        throw_bad_input(where + ": column blocks_per_stage", "'" + b + "' is not a block count");
      r.blocks_per_stage.push_back(static_cast<int>(v));
    }
    r.sp = text("sp");
    r.options.framework = parse_framework(text("framework").empty() ? "megatron" : text("framework"), where + ": framework");
    r.options.flash_attention = text("flash_attention") != "off";
    if (!text("attention_kernel").empty())
      r.options.attention_kernel = parse_attention_kernel(text("attention_kernel"), where + ": attention_kernel");
    if (!text("fp8_recipe").empty()) {
      r.options.fp8_recipe = parse_fp8_recipe(text("fp8_recipe"), where + ": fp8_recipe");
      require_fp8_recipe(r.options, where + ": fp8_recipe");
    }
    if (!text("cross_entropy").empty()) {
      r.options.cross_entropy = parse_cross_entropy(text("cross_entropy"), where + ": cross_entropy");
      require_cross_entropy(r.options, where + ": cross_entropy");
    }
    if (!text("overlap_p2p").empty()) {
      r.options.overlap_p2p = parse_auto_on_off(text("overlap_p2p"), where + ": overlap_p2p");
      require_overlap_p2p(r.options, where + ": overlap_p2p");
    }
    r.options.compile = text("compile") == "on";
    r.options.fuse_qkv = text("fuse_qkv") != "off";
    const std::string keeps = text("pp_keeps_outputs");
    if (!keeps.empty() && keeps != "on" && keeps != "off")
      throw_bad_input(where + ": pp_keeps_outputs", "'" + keeps + "' is not on or off");
    r.options.pp_keeps_outputs = keeps == "on";
    const std::string buffers = text("pp_keeps_receive_buffers");
    if (!buffers.empty() && buffers != "on" && buffers != "off")
      throw_bad_input(where + ": pp_keeps_receive_buffers", "'" + buffers + "' is not on or off");
    r.options.pp_keeps_receive_buffers = buffers == "on";
    const std::string layout = text("pipeline_layout");
    if (!layout.empty() && layout != "on" && layout != "off")
      throw_bad_input(where + ": pipeline_layout", "'" + layout + "' is not on or off");
    r.options.pipeline_layout = layout != "off";
    const std::string repeat = text("repeat_kv");
    if (!repeat.empty() && repeat != "on" && repeat != "off")
      throw_bad_input(where + ": repeat_kv", "'" + repeat + "' is not on or off");
    r.options.repeat_kv = repeat == "on";
    if (!text("document_length").empty()) {
      const double doc = number_at(text("document_length"), where + ": document_length");
      if (doc < 0 || doc != std::floor(doc) || doc > 1e9)
        throw_bad_input(where + ": document_length", "must be a whole number of tokens (0: one document per sequence)");
      r.options.document_length = static_cast<long>(doc);
      require_document_masks(r.options, where + ": document_length");
    }
    if (!text("compile_loss").empty()) r.options.compile_loss = parse_auto_on_off(text("compile_loss"), where + ": compile_loss");
    r.options.grad_reduce_in_bf16 = text("grad_reduce_in_bf16") == "on";
    if (!text("grad_bucket_size").empty())
      require_grad_bucket_size(number_at(text("grad_bucket_size"), where + ": grad_bucket_size"), r.options,
                               where + ": grad_bucket_size");
    if (!text("grad_accum_dtype").empty())
      require_grad_accum_dtype(text("grad_accum_dtype"), r.options, where + ": grad_accum_dtype");
    const std::string remainders = text("store_param_remainders");
    if (!remainders.empty() && remainders != "on" && remainders != "off")
      throw_bad_input(where + ": store_param_remainders", "'" + remainders + "' is not on or off");
    r.options.store_param_remainders = remainders == "on";
    if (r.options.store_param_remainders && r.options.framework != FrameworkKind::Megatron)
      throw_bad_input(where + ": store_param_remainders", "on is Megatron's distributed optimizer's");
    if (!text("gpu_power_limit_W").empty())
      r.gpu_power_limit =
          checked_power_limit(number_at(text("gpu_power_limit_W"), where + ": gpu_power_limit_W"), where + ": gpu_power_limit_W");
    r.options.loss_chunks = integer("loss_chunks", d.get("loss_chunks").empty() ? 0 : std::stoi(d.get("loss_chunks")));
    r.overlap_grad_reduce = switch_list(text("overlap_grad_reduce"), where);
    r.overlap_param_gather = switch_list(text("overlap_param_gather"), where);
    r.tp_comm_overlap = switch_list(text("tp_comm_overlap"), where);
    r.ep_comm_overlap = switch_list(text("ep_comm_overlap"), where);
    r.offload_activations = switch_list(text("offload_activations"), where);
    // The dataset's metric, or the row's own (a `metric` column: one file of one source's rows
    // that log different figures).
    r.metric = cell("metric").empty() ? parse_metric(d.get("metric"), path + ": # metric")
                                      : parse_metric(cell("metric"), where + ": column metric");
    const std::string logged = text("logged_stage");
    if (!logged.empty() && logged != "first" && logged != "last")
      throw_bad_input(where + ": logged_stage", "'" + logged + "' is not first or last");
    if (!logged.empty() && r.metric != RunMetric::PeakAllocatedGiB && r.metric != RunMetric::TransientPeakGiB &&
        r.metric != RunMetric::DeviceUsedGiB)
      throw_bad_input(where + ": logged_stage",
                      "names the stage of an allocated or transient peak or of the memory in use, and this row's metric is " +
                          std::string(metric_name(r.metric)));
    r.first_stage_logged = logged == "first";
    r.last_stage_logged = logged == "last";
    for (const std::string& setting : split(text("model_set"), ' '))
      if (!setting.empty()) r.model_set.push_back(parse_json_setting(setting, where + ": model_set", "num_hidden_layers=106"));
    r.published = number_at(cell("value"), where + ": column value");
    if (!r.blocks_per_stage.empty() && !fully_published(r))
      throw_bad_input(
          where + ": column blocks_per_stage",
          "a split by hand needs every degree and setting published (tp pp cp ep vp microbatch zero recompute precision)");
    if (!r.blocks_per_stage.empty() && static_cast<int>(r.blocks_per_stage.size()) != r.pp)
      throw_bad_input(where + ": column blocks_per_stage",
                      std::to_string(r.blocks_per_stage.size()) + " stages, but pp is " + std::to_string(r.pp));
    ds.rows.push_back(r);
  }
  ds.generation = d.get("generation");
  ds.framework = parse_framework(d.get("framework").empty() ? "megatron" : d.get("framework"), path + ": # framework");
  ds.description = d.get("description");
  const std::string role = d.get("role");
  if (!role.empty() && role != "validation" && role != "fit")
    throw_bad_input(path + ": # role", "'" + role + "' is not fit or validation");
  ds.validation_only = role == "validation";
  if (ds.generation.empty()) throw_bad_input(path, "the header must name the GPU generation (# generation: hopper)");
  return ds;
}

std::vector<RunDataset> read_run_datasets(const std::string& kind) {
  std::vector<std::string> files;
  const std::filesystem::path dir = std::filesystem::path(presets_dir()) / "calibration" / kind;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".csv") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<RunDataset> out;
  for (const auto& f : files) out.push_back(read_run_dataset(f));
  return out;
}

namespace {

Problem row_problem(const RunRow& row, double sustained) {
  Problem p;
  p.model = load_model(row.model, row.model_set);
  p.outages.gpu_power_limit = row.gpu_power_limit;
  p.cluster = load_cluster(row.cluster, p.outages);
  if (sustained > 0) p.cluster.gpu.sustained = sustained;
  p.gpus = row.gpus;
  p.global_batch = row.global_batch;
  p.seq_len = row.seq_len;
  p.options = row.options;
  return p;
}

double metric_of(const RunRow& row, const Problem& p, const Prediction& pr) {
  switch (row.metric) {
    case RunMetric::TokensPerSecondPerGpu:
      return pr.tokens_per_s / static_cast<double>(p.gpus);
    case RunMetric::ModelTflopsPerGpu:
      return pr.model_tflops_per_gpu;
    case RunMetric::HardwareTflopsPerGpu:
      return pr.hardware_tflops_per_gpu;
    case RunMetric::StepTime:
      return pr.step_time;
    case RunMetric::PeakMemoryGiB:
    case RunMetric::PeakAllocatedGiB:
    case RunMetric::TransientPeakGiB:
    case RunMetric::DeviceUsedGiB:
      return 0;  // predict_run: needs the plan's stages
  }
  return 0;
}

}  // namespace

RunResult predict_run(const RunRow& row, double sustained, const Plan* fixed_plan) {
  RunResult res;
  res.row = row;
  const Problem problem = row_problem(row, sustained);
  res.moe = problem.model.is_moe();
  Plan plan;
  if (fixed_plan) {
    plan = *fixed_plan;
    res.found = true;
  } else if (fully_published(row) || is_memory_metric(row.metric)) {
    Parallelism& p = plan.par;
    p.tp = std::max(1, row.tp);
    p.pp = std::max(1, row.pp);
    p.cp = std::max(1, row.cp);
    p.ep = std::max(1, row.ep);
    p.etp = row.etp;
    p.dp = static_cast<int>(row.gpus / (static_cast<long>(p.tp) * p.cp * p.pp));
    p.microbatch = std::max(1, row.microbatch);
    p.num_microbatches = static_cast<int>(std::max<std::int64_t>(1, row.global_batch / (static_cast<long>(p.dp) * p.microbatch)));
    p.zero = std::max(0, row.zero);
    p.recompute = row.recompute.empty() ? Recompute::None : parse_recompute(row.recompute, row.dataset + ": recompute");
    if (!row.recompute_modules.empty())
      p.recompute_modules = parse_recompute_modules(row.recompute_modules, row.dataset + ": recompute_modules");
    p.precision = row.precision.empty() ? Precision::Bf16 : parse_precision(row.precision, row.dataset + ": precision");
    p.sp = row.sp.empty() ? p.tp > 1 : row.sp == "on";
    const int v = std::max(1, row.vp);
    p.schedule = v > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
    p.virtual_stages = v;
    choose_overlaps(problem, p, plan.order, row.overlap_grad_reduce, row.overlap_param_gather, row.tp_comm_overlap,
                    row.ep_comm_overlap);
    const int layers = static_cast<int>(problem.model.layers);
    plan.blocks_per_stage = row.blocks_per_stage.empty() ? even_split(layers, p.pp, v) : row.blocks_per_stage;
    int blocks = 0;
    for (int b : plan.blocks_per_stage) blocks += b;
    if (blocks != layers)
      throw_bad_input(
          row.dataset + ":" + std::to_string(row.line) + ": column blocks_per_stage",
          "the stages hold " + std::to_string(blocks) + " blocks, but " + row.model + " has " + std::to_string(layers));
    res.found = true;
  } else {
    PlannerOptions o;
    SearchOptions& s = o.space;
    auto one = [](int x) { return x > 0 ? std::vector<int>{x} : std::vector<int>{}; };
    s.tp = one(row.tp);
    s.pp = one(row.pp);
    s.cp = one(row.cp);
    s.ep = one(row.ep);
    s.etp = one(row.etp);
    s.microbatch = one(row.microbatch);
    if (row.zero >= 0) s.zero = {row.zero};
    if (row.vp == 1) s.schedule = {Schedule::OneFOneB};
    if (row.vp > 1) {
      s.schedule = {Schedule::Interleaved};
      s.virtual_stages = {row.vp};
    }
    if (!row.recompute.empty()) s.recompute = {parse_recompute(row.recompute, row.dataset + ": recompute")};
    if (!row.recompute_modules.empty())
      s.recompute_modules = {parse_recompute_modules(row.recompute_modules, row.dataset + ": recompute_modules")};
    s.precision = {row.precision.empty() ? Precision::Bf16 : parse_precision(row.precision, row.dataset + ": precision")};
    if (!row.sp.empty()) s.sp = {row.sp == "on"};
    s.overlap_grad_reduce = row.overlap_grad_reduce;
    s.overlap_param_gather = row.overlap_param_gather;
    s.tp_comm_overlap = row.tp_comm_overlap;
    s.ep_comm_overlap = row.ep_comm_overlap;
    s.offload_optimizer = {false};
    s.offload_activations = row.offload_activations.empty() ? std::vector<bool>{false} : row.offload_activations;
    o.top_k = 1;
    o.backend = BackendKind::Cpu;
    const SearchResult r = search_plans(AnalyticCostSource(problem), o);
    if (!r.top.empty()) {
      plan = r.top.front().plan;
      res.found = true;
    } else if (r.closest) {
      plan = r.closest->plan;  // nothing fits: report the closest plan's speed, marked as not fitting
    } else {
      return res;
    }
  }
  res.plan = plan;
  res.prediction = evaluate_plan(problem, plan);
  if (!res.prediction.evaluated) return res;
  const auto& stages = res.prediction.stages;
  auto fullest_stage = [&] {
    int fullest = 0;
    for (std::size_t i = 1; i < stages.size(); ++i)
      if (stages[i].memory.total() > stages[static_cast<std::size_t>(fullest)].memory.total()) fullest = static_cast<int>(i);
    return fullest;
  };
  if (row.metric == RunMetric::PeakMemoryGiB) {
    // Reserved memory as PyTorch reports it: the fullest stage without what lives outside the
    // caching allocator (CUDA context, NCCL buffers).
    res.peak_stage = fullest_stage();
    res.outside_allocator = framework(problem.options.framework).runtime_bytes(problem, plan.par);
    res.predicted = (stages[static_cast<std::size_t>(res.peak_stage)].memory.total() - res.outside_allocator) / kGiB;
  } else if (row.metric == RunMetric::DeviceUsedGiB) {
    // Everything on the GPUs read: the stage's whole memory, the CUDA context and NCCL included.
    res.peak_stage = row.first_stage_logged ? 0 : row.last_stage_logged ? static_cast<int>(stages.size()) - 1 : fullest_stage();
    res.predicted = stages[static_cast<std::size_t>(res.peak_stage)].memory.total() / kGiB;
  } else if (row.metric == RunMetric::PeakAllocatedGiB || row.metric == RunMetric::TransientPeakGiB) {
    // What the logging rank allocates at its peak, the allocator's reserve aside: with its model
    // state, or above it (the activations and the working set on top of them).
    res.peak_stage = row.first_stage_logged ? 0 : static_cast<int>(stages.size()) - 1;
    const MemoryBreakdown& m = stages.at(static_cast<std::size_t>(res.peak_stage)).memory;
    const double state = row.metric == RunMetric::PeakAllocatedGiB ? m.params + m.grads + m.optimizer : 0;
    res.predicted = (state + m.activations + m.working_set) / kGiB;
  } else {
    res.predicted = metric_of(row, problem, res.prediction);
    res.attention_share = attention_share(explain_compute(problem, plan, res.prediction));
  }
  res.error = (res.predicted - row.published) / row.published;
  return res;
}

DatasetError dataset_error(const std::vector<RunResult>& results) {
  DatasetError e;
  for (const auto& r : results) {
    if (!r.prediction.evaluated) {
      ++e.missing;
      continue;
    }
    ++e.rows;
    e.mean_abs += std::fabs(r.error);
    e.max_abs = std::max(e.max_abs, std::fabs(r.error));
  }
  if (e.rows > 0) e.mean_abs /= e.rows;
  return e;
}

double mfu_error(RunMetric metric, double error) {
  if (is_memory_metric(metric)) return std::nan("");
  return metric == RunMetric::StepTime ? 1 / (1 + error) - 1 : error;
}

SeriesSummary summarize_series(const std::vector<OutOfSampleRow>& rows, bool dense_only) {
  std::map<std::pair<std::string, std::string>, SeriesError> series;
  SeriesSummary s;
  for (const OutOfSampleRow& r : rows) {
    if (dense_only && r.moe) continue;
    SeriesError& e = series[{r.model, r.generation}];
    e.model = r.model;
    e.generation = r.generation;
    e.moe = r.moe;
    e.mean_abs += std::fabs(r.error);
    e.mfu_mean_abs += std::fabs(r.mfu_error);
    e.max_abs = std::max(e.max_abs, std::fabs(r.error));
    ++e.rows;
    ++s.rows;
    s.max_abs = std::max(s.max_abs, std::fabs(r.error));
    s.mfu_max_abs = std::max(s.mfu_max_abs, std::fabs(r.mfu_error));
  }
  s.series = static_cast<int>(series.size());
  for (auto& [key, e] : series) {
    e.mean_abs /= e.rows;
    e.mfu_mean_abs /= e.rows;
    s.mean_of_series += e.mean_abs;
    s.mfu_mean_of_series += e.mfu_mean_abs;
    s.each.push_back(e);
  }
  if (s.series > 0) {
    s.mean_of_series /= s.series;
    s.mfu_mean_of_series /= s.series;
  }
  return s;
}

void append_out_of_sample_rows(const RunDataset& d, const std::vector<RunResult>& results, const std::vector<RunResult>& loo,
                               std::vector<OutOfSampleRow>& out) {
  const std::vector<RunResult>& oos = d.validation_only ? results : loo;
  for (const RunResult& r : oos)
    if (r.prediction.evaluated) out.push_back({r.row.model, d.generation, r.moe, r.error, mfu_error(r.row.metric, r.error)});
}

std::vector<const RunDataset*> fitting_datasets(const std::vector<const RunDataset*>& generation) {
  std::vector<const RunDataset*> out;
  for (const RunDataset* d : generation)
    if (d->framework == FrameworkKind::Megatron && !d->validation_only) out.push_back(d);
  if (!out.empty()) return out;
  for (const RunDataset* d : generation)
    if (!d->validation_only) out.push_back(d);
  return out;
}

double sustained_without(const RunDataset& d, const std::vector<const RunDataset*>& generation) {
  std::vector<const RunDataset*> others;
  for (const RunDataset* o : fitting_datasets(generation))
    if (o != &d) others.push_back(o);
  return others.empty() ? 0 : fit_sustained(others);
}

double fit_sustained(const std::vector<const RunDataset*>& datasets) {
  if (datasets.empty()) return 0;
  // Plans depend on the constant only through the choice of unpublished settings; choose them,
  // fit on those plans, choose again with the fitted value, until the plans stop changing.
  double s = 0;
  std::vector<std::vector<Plan>> plans(datasets.size());
  for (int round = 0; round < 3; ++round) {
    bool changed = false;
    for (std::size_t d = 0; d < datasets.size(); ++d) {
      plans[d].clear();
      for (const RunRow& row : datasets[d]->rows) plans[d].push_back(predict_run(row, s).plan);
    }
    auto objective = [&](double x) {
      double total = 0;
      for (std::size_t d = 0; d < datasets.size(); ++d) {
        std::vector<RunResult> rs;
        for (std::size_t i = 0; i < datasets[d]->rows.size(); ++i)
          rs.push_back(predict_run(datasets[d]->rows[i], x, &plans[d][i]));
        total += dataset_error(rs).mean_abs;
      }
      return total / static_cast<double>(datasets.size());
    };
    double lo = 0.3, hi = 1.0;
    const double phi = 0.6180339887498949;
    double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo), fa = objective(a), fb = objective(b);
    while (hi - lo > 2e-4) {
      if (fa < fb) {
        hi = b;
        b = a;
        fb = fa;
        a = hi - phi * (hi - lo);
        fa = objective(a);
      } else {
        lo = a;
        a = b;
        fa = fb;
        b = lo + phi * (hi - lo);
        fb = objective(b);
      }
    }
    const double next = std::round(0.5 * (lo + hi) * 1000) / 1000;
    changed = std::fabs(next - s) > 1e-9;
    s = next;
    if (!changed) break;
  }
  return s;
}

}  // namespace nest
