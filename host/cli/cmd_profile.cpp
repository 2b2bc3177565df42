// nest profile: measure collectives (NCCL on GPUs, MPI on host memory) and operators, fit the
// cost model, write a profile (docs/profile-schema.md); import nccl-tests logs; export a
// profile to CSV, nccl-tests text tables or ASTRA-sim's network configuration.
#include "commands.hpp"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli_common.hpp"
#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/io/text.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/harness.hpp"
#include "nest/profiler/plot.hpp"

namespace nest::cli {

namespace {

struct ProfileFlags {
  profiler::ProfileOptions o;
  std::string min_bytes = "1K", max_bytes, collectives = "all", dtype = "bf16", tp = "1,2,4,8", microbatch = "1,2,4";
  bool no_check = false, no_progress = false;
  // import
  std::vector<std::string> import_files;
  std::string import_out, import_svg;
  // export
  std::string export_profile, export_to, export_out = "-", topology;
};

std::vector<profiler::Collective> parse_collectives(const std::string& text) {
  std::vector<profiler::Collective> out;
  if (text == "all") return profiler::all_collectives();
  if (text == "none") return out;
  for (const std::string& item : split(text, ',')) {
    const auto c = profiler::parse_collective(item);
    if (!c)
      throw_bad_input("--collectives", "unknown collective '" + item +
                                           "' (all_reduce, all_gather, reduce_scatter, all_to_all, send_recv, all, none)");
    if (std::find(out.begin(), out.end(), *c) == out.end()) out.push_back(*c);
  }
  return out;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  for (std::string& item : split(text, ','))
    if (!item.empty()) out.push_back(std::move(item));
  return out;
}

}  // namespace

void register_profile(CLI::App& app, std::function<int()>& run) {
  auto f = std::make_shared<ProfileFlags>();
  profiler::ProfileOptions& o = f->o;
  CLI::App* sub =
      app.add_subcommand("profile", "measure NCCL/MPI collectives and operators, fit the cost model, write a profile");
  sub->require_subcommand(0, 1);
  sub->add_option("--backend", o.backend, "nccl (CUDA devices), mpi (host memory) or auto")
      ->check(CLI::IsMember({"auto", "nccl", "mpi"}));
  sub->add_option("--min-bytes", f->min_bytes, "smallest message size (bytes; K, M, G suffixes), default 1K");
  sub->add_option("--max-bytes", f->max_bytes, "largest message size (default: 1G with NCCL, 16M with MPI)");
  sub->add_option("--step-factor", o.step_factor, "geometric step between sizes (default 2)");
  sub->add_option("--iters", o.iters, "timed iterations per size (default 20)");
  sub->add_option("--warmup", o.warmup, "warm-up iterations per size (default 5)");
  sub->add_option("--collectives", f->collectives,
                  "comma list of all_reduce, all_gather, reduce_scatter, all_to_all, send_recv; all; none");
  sub->add_option("--dtype", f->dtype, "element type: bf16 (default) or fp32")->check(CLI::IsMember({"bf16", "fp32"}));
  sub->add_flag("--no-check", f->no_check, "skip the correctness check of the results");
  sub->add_option("--out", o.out, "profile file to write (default nest-profile.json)");
  sub->add_option("--svg", o.svg, "also write the measured bus bandwidth against message size, with the fitted model, as SVG");
  sub->add_flag("--resume", o.resume, "continue an interrupted profile in --out");
  sub->add_option("--timeout-s", o.timeout_s, "seconds one measurement may take before it is aborted (default 300)");
  sub->add_option("--ranks-per-node", o.ranks_per_node,
                  "pretend this many consecutive ranks share a node (test both levels on one machine)");
  sub->add_flag("--ops", o.ops, "also measure the model's operators (GEMMs, attention, memory-bound kernels)");
  sub->add_option("--model", o.model, "model for --ops (preset name or config.json)");
  sub->add_option("--tp", f->tp, "tensor-parallel widths for --ops (default 1,2,4,8)");
  sub->add_option("--microbatch", f->microbatch, "microbatch sizes for --ops (default 1,2,4)");
  sub->add_option("--seq-len", o.seq_len, "sequence length for --ops (default 2048)");
  sub->add_option("--peak-tflops", o.peak_tflops,
                  "peak dense TFLOP/s the GEMM efficiency is relative to (default: the best measured)");
  sub->add_option("--peak-hbm-GBps", o.peak_hbm_GBps, "theoretical memory bandwidth (default: the device's, if known)");
  sub->add_option("--ops-max-gflop", o.ops_max_gflop, "shrink GEMMs above this many GFLOP (default: none on GPUs, 0.05 on CPUs)");
  sub->add_option("--ops-iters", o.ops_iters, "timed iterations per operator (default 10)");
  sub->add_option("--ops-warmup", o.ops_warmup, "warm-up iterations per operator (default 2)");
  sub->add_flag("--no-progress", f->no_progress, "no progress line on the terminal");

  CLI::App* imp = sub->add_subcommand("import", "build a profile from nccl-tests output (text or -J JSON)");
  imp->add_option("--nccl-tests", f->import_files, "nccl-tests output files")->required()->expected(1, -1);
  imp->add_option("--out", f->import_out, "profile file to write")->required();
  imp->add_option("--svg", f->import_svg, "also write the bus bandwidth against message size, with the fitted model, as SVG");

  CLI::App* exp = sub->add_subcommand(
      "export", "write a profile as CSV, nccl-tests text tables, ASTRA-sim network YAML or an SVG of bus bandwidth vs size");
  exp->add_option("--profile", f->export_profile, "profile file (nest.profile/1)")->required();
  exp->add_option("--to", f->export_to, "csv, nccl-tests, astra-sim or svg (measured bus bandwidth and the fitted model)")
      ->required()
      ->check(CLI::IsMember({"csv", "nccl-tests", "astra-sim", "svg"}));
  exp->add_option("--out", f->export_out, "output file (default: standard output)");
  exp->add_option("--topology", f->topology, "astra-sim: topology per level, e.g. Ring,Switch (default Switch)");

  imp->callback([f, &run] {
    run = [f]() -> int {
      std::vector<std::string> warnings;
      profiler::Profile p = profiler::import_nccl_tests(f->import_files, &warnings);
      for (const auto& w : warnings) std::cerr << "nest: warning: " << w << "\n";
      profiler::write_profile(f->import_out, p);
      for (const auto& w : profiler::profile_warnings(p)) std::cerr << "nest: warning: " << f->import_out << ": " << w << "\n";
      if (!f->import_svg.empty()) write_file_atomic(f->import_svg, profiler::bandwidth_svg(p, f->import_out));
      std::size_t samples = 0;
      for (const auto& s : p.collectives) samples += s.samples.size();
      std::cout << "nest profile import: wrote " << f->import_out << " (" << p.collectives.size() << " runs, " << samples
                << " samples, " << p.levels.size() << (p.levels.size() == 1 ? " level" : " levels") << ")\n";
      // Per collective: runs and samples, and the data check's verdict on them.
      for (profiler::Collective c : profiler::known_collectives()) {
        std::size_t runs = 0, n = 0, wrong = 0;
        for (const auto& s : p.collectives) {
          if (s.collective != c) continue;
          ++runs;
          n += s.samples.size();
          for (const auto& x : s.samples) wrong += x.wrong > 0 || x.in_place_wrong > 0 ? 1 : 0;
        }
        if (runs == 0) continue;
        std::cout << "  " << profiler::collective_name(c) << ": " << runs << (runs == 1 ? " run, " : " runs, ") << n << " samples"
                  << (wrong > 0 ? ", " + std::to_string(wrong) + " with wrong values (not fitted)" : std::string())
                  << (profiler::used_for_planning(c) ? "" : "; fitted on its own, not used for planning (no plan issues it)")
                  << "\n";
      }
      return 0;
    };
  });
  exp->callback([f, &run] {
    run = [f]() -> int {
      const profiler::Profile p = profiler::read_profile(f->export_profile);
      std::string text;
      if (f->export_to == "csv")
        text = profiler::export_csv(p);
      else if (f->export_to == "nccl-tests")
        text = profiler::export_nccl_tests(p);
      else if (f->export_to == "svg")
        text = profiler::bandwidth_svg(p, f->export_profile);
      else
        text = profiler::export_astra_sim(p, split_names(f->topology), f->export_profile);
      write_file_atomic(f->export_out, text);
      return 0;
    };
  });
  sub->callback([f, imp, exp, &run] {
    if (imp->parsed() || exp->parsed()) return;
    run = [f]() -> int {
      profiler::ProfileOptions opts = f->o;
      opts.min_bytes = parse_bytes(f->min_bytes, "--min-bytes");
      opts.max_bytes = f->max_bytes.empty() ? 0 : parse_bytes(f->max_bytes, "--max-bytes");
      if (!f->max_bytes.empty() && opts.max_bytes < 1) throw_bad_input("--max-bytes", "must be at least 1");
      opts.collectives = parse_collectives(f->collectives);
      opts.dtype = f->dtype == "fp32" ? profiler::DType::FP32 : profiler::DType::BF16;
      opts.check = !f->no_check;
      opts.progress = !f->no_progress;
      opts.tp = parse_int_list(f->tp, "--tp", 1);
      opts.microbatch = parse_int_list(f->microbatch, "--microbatch", 1);
      if (const char* stop = std::getenv("NEST_PROFILE_STOP_AFTER")) opts.stop_after = std::atol(stop);
      return profiler::run_profile(opts);
    };
  });
}

}  // namespace nest::cli
