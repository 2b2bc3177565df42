// The nccl-tests importer on every real log in tests/data/nccl-tests/ (each format variant of
// SOURCES.md), on the hand-written -J JSON fixtures, on the constructed broadcast and reduce logs,
// and on the lines that get mixed into logs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/profiler/formats.hpp"
#include "support/test_support.hpp"

namespace nest::profiler {
namespace {

const std::string kDir = std::string(NEST_TEST_DATA) + "/nccl-tests/";

std::vector<NcclTestsRun> runs_of(const std::string& name) {
  const std::string path = kDir + name;
  auto runs = parse_nccl_tests_text(read_text_file(path), path);
  for (auto& r : runs) resolve(r);
  return runs;
}

const CollectiveSample& row_of(const NcclTestsRun& r, double bytes) {
  for (const auto& x : r.rows)
    if (x.bytes == bytes) return x;
  ADD_FAILURE() << "no row of " << bytes << " bytes in " << r.source;
  return r.rows.front();
}

TEST(NcclTestsImport, FiveCollectivesOneNodeNewestFormat) {
  const auto runs = runs_of("h100x8_1node_5colls_nccltests-2.17.8.txt");
  ASSERT_EQ(runs.size(), 5u);
  const Collective expected[] = {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter, Collective::AllToAll,
                                 Collective::SendRecv};
  for (std::size_t i = 0; i < 5; ++i) {
    const auto& r = runs[i];
    ASSERT_TRUE(r.collective.has_value());
    EXPECT_EQ(*r.collective, expected[i]) << r.source;
    EXPECT_EQ(r.ranks, 8);
    EXPECT_EQ(r.rank_hosts, std::vector<std::string>(8, "cnode3-002"));
    EXPECT_EQ(r.rank_devices[0], "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(r.nccl_tests_version, "2.17.8");
    EXPECT_EQ(r.nccl_version, "2.29.2");
    EXPECT_EQ(r.dtype, "double");
    EXPECT_EQ(r.warmup, 5);
    EXPECT_EQ(r.iters, 20);
    ASSERT_EQ(r.rows.size(), 10u);
    EXPECT_EQ(r.rows.front().bytes, 33554432.0);
    EXPECT_EQ(r.rows.back().bytes, 17179869184.0);
  }
  const auto& ar = row_of(runs[0], 1073741824);
  EXPECT_DOUBLE_EQ(ar.busbw_GBps, 469.67);
  EXPECT_DOUBLE_EQ(ar.algbw_GBps, 268.38);
  EXPECT_NEAR(ar.time_s, 4000.82e-6, 1e-12);
  EXPECT_EQ(ar.wrong, 0);
  EXPECT_TRUE(ar.has_in_place);
  EXPECT_DOUBLE_EQ(ar.in_place_busbw_GBps, 470.05);
  // all-to-all and send/recv print N/A for the in-place check.
  EXPECT_EQ(row_of(runs[3], 1073741824).in_place_wrong, -1);
  EXPECT_EQ(row_of(runs[3], 1073741824).wrong, 0);
  EXPECT_DOUBLE_EQ(row_of(runs[3], 17179869184.0).busbw_GBps, 348.03);
  EXPECT_DOUBLE_EQ(row_of(runs[4], 17179869184.0).busbw_GBps, 367.25);
  EXPECT_NEAR(row_of(runs[4], 17179869184.0).time_s, 46779.2e-6, 1e-12);
}

TEST(NcclTestsImport, TenNodesEightyRanks) {
  const auto runs = runs_of("h100x80_10node_5colls_nccltests-2.17.8.txt");
  ASSERT_EQ(runs.size(), 5u);
  for (const auto& r : runs) {
    EXPECT_EQ(r.ranks, 80) << r.source;
    std::set<std::string> hosts(r.rank_hosts.begin(), r.rank_hosts.end());
    EXPECT_EQ(hosts.size(), 10u);
    EXPECT_EQ(hosts.count("cnode3-011"), 1u);
  }
  EXPECT_EQ(*runs[1].collective, Collective::AllGather);
  // Sizes rounded to a multiple of nranks x sizeof(double).
  EXPECT_EQ(runs[1].rows.front().bytes, 33553920.0);
  EXPECT_EQ(runs[1].rows.front().count, 52428.0);
  EXPECT_EQ(runs[1].rows.back().bytes, 17179868160.0);
  EXPECT_DOUBLE_EQ(row_of(runs[0], 33554432).busbw_GBps, 82.99);
  EXPECT_DOUBLE_EQ(row_of(runs[0], 17179869184.0).busbw_GBps, 320.54);
  EXPECT_NEAR(row_of(runs[0], 17179869184.0).time_s, 105854e-6, 1e-12);  // integer-printed time

  const Profile p = import_nccl_tests({kDir + "h100x80_10node_5colls_nccltests-2.17.8.txt"});
  ASSERT_EQ(p.collectives.size(), 5u);
  for (const auto& s : p.collectives) {
    EXPECT_EQ(s.level, 1);
    EXPECT_EQ(s.members, (std::vector<int>{8, 10}));
    EXPECT_EQ(s.group_size, 80);
  }
  ASSERT_EQ(p.levels.size(), 2u);
  EXPECT_EQ(p.levels[0].group_size, 8);
  EXPECT_EQ(p.levels[1].group_size, 80);
}

TEST(NcclTestsImport, LegacyAllReduceWithoutRootColumnOrValidation) {
  const auto runs = runs_of("a100x8_1node_all_reduce_legacy.txt");
  ASSERT_EQ(runs.size(), 1u);
  const auto& r = runs[0];
  EXPECT_TRUE(r.program.empty());
  EXPECT_EQ(*r.collective, Collective::AllReduce);  // from the redop column and busbw/algbw = 2(n-1)/n
  EXPECT_EQ(r.ranks, 8);
  EXPECT_FALSE(r.root_column);
  EXPECT_EQ(r.rank_hosts[0], "localhost");
  EXPECT_EQ(r.rank_devices[0], "A100-SXM4-40GB");
  EXPECT_EQ(r.validation, 0);
  EXPECT_EQ(r.rows.front().bytes, 0.0);  // size-0 rows are kept (and not fitted)
  EXPECT_EQ(r.rows.back().bytes, 8589934592.0);
  for (const auto& x : r.rows) EXPECT_EQ(x.wrong, -1);  // "error" column: N/A
}

// Legacy `error` columns hold the largest deviation, not a count: nccl-tests (<= v2.11,
// src/common.cu) fails the check when it exceeds DeltaMaxValue(type) x (ranks - 1), 7e-5 for
// float on these 8 ranks.
TEST(NcclTestsImport, LegacyErrorColumnIsADeviationAgainstTheTypesLimit) {
  std::string text = read_text_file(kDir + "a100x8_1node_all_reduce_legacy.txt");
  auto set_errors = [&](const std::string& bytes_field, const std::string& oop, const std::string& ip) {
    std::istringstream in(text);
    std::string out, line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string first;
      f >> first;
      if (first == bytes_field) {
        const auto a = line.find("N/A"), b = line.rfind("N/A");
        line = line.substr(0, a) + oop + line.substr(a + 3, b - a - 3) + ip + line.substr(b + 3);
      }
      out += line + "\n";
    }
    text = out;
  };
  set_errors("1048576", "2e-03", "0e+00");  // out of place beyond the limit: one failed check
  set_errors("2097152", "4e-06", "6e-05");  // within it: none
  const std::string path = test::write_temp("legacy_errors.txt", text);
  auto runs = parse_nccl_tests_text(text, path);
  ASSERT_EQ(runs.size(), 1u);
  resolve(runs[0]);
  EXPECT_EQ(row_of(runs[0], 1048576).wrong, 1);
  EXPECT_EQ(row_of(runs[0], 1048576).in_place_wrong, 0);
  EXPECT_EQ(row_of(runs[0], 2097152).wrong, 0);
  EXPECT_EQ(row_of(runs[0], 2097152).in_place_wrong, 0);
  EXPECT_EQ(row_of(runs[0], 4194304).wrong, -1);  // N/A stays unchecked
}

TEST(NcclTestsImport, LegacyAllGatherHasNeitherRedopNorRoot) {
  const auto runs = runs_of("a100x8_1node_all_gather_legacy.txt");
  ASSERT_EQ(runs.size(), 1u);
  const auto& r = runs[0];
  EXPECT_EQ(*r.collective, Collective::AllGather);
  EXPECT_FALSE(r.redop_column);
  EXPECT_EQ(r.ranks, 8);
  EXPECT_EQ(r.rows.size(), 34u);  // the injected "NCCL INFO Launch mode" line is not a row
  EXPECT_DOUBLE_EQ(row_of(r, 8589934592.0).busbw_GBps, 223.39);
  EXPECT_DOUBLE_EQ(row_of(r, 8589934592.0).in_place_busbw_GBps, 230.07);
  EXPECT_NEAR(row_of(r, 4294967296.0).time_s, 17016e-6, 1e-12);
}

TEST(NcclTestsImport, LegacyAllToAllWithBlankRedop) {
  const auto runs = runs_of("a100x8_1node_alltoall_legacy.txt");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(*runs[0].collective, Collective::AllToAll);
  EXPECT_EQ(runs[0].ranks, 8);
  EXPECT_DOUBLE_EQ(row_of(runs[0], 1073741824).busbw_GBps, 216.71);
}

TEST(NcclTestsImport, MiddleEraTwoNodes) {
  const auto runs = runs_of("h100x16_2node_all_reduce_gcp-a3mega.txt");
  ASSERT_EQ(runs.size(), 1u);
  const auto& r = runs[0];
  EXPECT_EQ(*r.collective, Collective::AllReduce);
  EXPECT_EQ(r.ranks, 16);
  EXPECT_EQ(std::set<std::string>(r.rank_hosts.begin(), r.rank_hosts.end()),
            (std::set<std::string>{"ztan-mig-235z", "ztan-mig-gq73"}));
  EXPECT_EQ(r.rows.front().bytes, 8.0);
  EXPECT_EQ(r.rows.back().bytes, 8589934592.0);
  EXPECT_DOUBLE_EQ(row_of(r, 1073741824).busbw_GBps, 297.86);
  EXPECT_NEAR(row_of(r, 2147483648.0).time_s, 12646e-6, 1e-12);
}

TEST(NcclTestsImport, InterleavedNcclInfoLinesAndLinearSteps) {
  const auto runs = runs_of("a100pcie_2node_sendrecv_ncclinfo-interleaved.txt");
  ASSERT_EQ(runs.size(), 1u);
  const auto& r = runs[0];
  EXPECT_EQ(*r.collective, Collective::SendRecv);
  EXPECT_EQ(r.ranks, 2);
  EXPECT_EQ(r.rank_hosts, (std::vector<std::string>{"n013", "n014"}));
  EXPECT_EQ(r.nccl_version, "2.16.5+cuda11.8");  // the bare "NCCL version" line
  EXPECT_EQ(r.step, "524288000(bytes)");
  ASSERT_EQ(r.rows.size(), 15u);
  EXPECT_EQ(r.rows[0].bytes, 1073741824.0);
  EXPECT_EQ(r.rows[1].bytes, 1598029824.0);
  EXPECT_EQ(r.rows.back().bytes, 8413773824.0);
  EXPECT_DOUBLE_EQ(r.rows[2].busbw_GBps, 14.28);
  EXPECT_EQ(r.rows[0].in_place_wrong, -1);
  const Profile p = import_nccl_tests({kDir + "a100pcie_2node_sendrecv_ncclinfo-interleaved.txt"});
  ASSERT_EQ(p.collectives.size(), 1u);
  EXPECT_EQ(p.collectives[0].level, 1);  // one rank on each of two hosts
  EXPECT_EQ(p.collectives[0].members, (std::vector<int>{1, 2}));
}

TEST(NcclTestsImport, LauncherPrefixesAndNoiseAreIgnored) {
  const std::string original = read_text_file(kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt");
  std::istringstream in(original);
  std::string line, mpirun, srun;
  int i = 0;
  while (std::getline(in, line)) {
    mpirun += "[1," + std::to_string(i % 8) + "]<stdout>:" + line + "\n";
    srun += std::to_string(i % 8) + ": " + line + "\n";
    if (++i % 7 == 0) {
      mpirun += "Warning: Permanently added 'cnode3-002' (ED25519) to the list of known hosts.\n";
      srun += "cnode3-002:4180122:4180122 [0] NCCL INFO Bootstrap : Using ib0:10.0.0.2<0>\n";
    }
  }
  for (const std::string& text : {mpirun, srun}) {
    auto runs = parse_nccl_tests_text(text, "prefixed.log");
    ASSERT_EQ(runs.size(), 5u);
    for (auto& r : runs) resolve(r);
    EXPECT_EQ(*runs[2].collective, Collective::ReduceScatter);
    EXPECT_EQ(runs[2].ranks, 8);
    EXPECT_EQ(runs[2].rows.size(), 10u);
    EXPECT_DOUBLE_EQ(row_of(runs[0], 1073741824).busbw_GBps, 469.67);
  }
}

// Interleaved ranks put mpirun's tag in mid-line; a log cut at a row boundary imports what it has
// and says it looks cut short.
TEST(NcclTestsImport, MidLineTagsAndTruncatedLogs) {
  const std::string original = read_text_file(kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt");
  const std::string row = "  1073741824     134217728";
  const auto at = original.find(row);
  ASSERT_NE(at, std::string::npos);
  std::string tagged = original;
  tagged.insert(at + row.size(), "[1,3]<stdout>:");
  tagged.insert(at + 4, "[12,0]<stderr>:");
  auto runs = parse_nccl_tests_text(tagged, "tagged.log");
  ASSERT_EQ(runs.size(), 5u);
  resolve(runs[0]);
  EXPECT_DOUBLE_EQ(row_of(runs[0], 1073741824).busbw_GBps, 469.67);

  std::vector<std::string> warnings;
  const std::string whole = test::write_temp("whole.txt", original);
  (void)import_nccl_tests({whole}, &warnings);
  EXPECT_TRUE(warnings.empty());
  const std::string cut = test::write_temp("cut.txt", original.substr(0, original.find('\n', at) + 1));
  const Profile p = import_nccl_tests({cut}, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("cut short"), std::string::npos) << warnings[0];
  EXPECT_EQ(p.collectives.size(), 1u);
}

TEST(NcclTestsImport, AmbiguousRunNeedsTheNameInTheFile) {
  // A v2.13-v2.16 all_gather log (no "Collective test starting" line): all_gather and alltoall
  // have the same columns and bus factor, and both checks are numeric.
  const std::string text =
      "# nThread 1 nGpus 1 minBytes 1048576 maxBytes 4194304 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: "
      "1 graph: 0\n"
      "#\n# Using devices\n"
      "#  Rank  0 Group  0 Pid   100 on host1 device  0 [0000:01:00] GPU\n"
      "#  Rank  1 Group  0 Pid   101 on host1 device  1 [0000:02:00] GPU\n"
      "#  Rank  2 Group  0 Pid   102 on host1 device  2 [0000:03:00] GPU\n"
      "#  Rank  3 Group  0 Pid   103 on host1 device  3 [0000:04:00] GPU\n"
      "#\n"
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       \n"
      "     1048576         65536     float    none      -1    50.00   20.97   15.73      0    50.00   20.97   15.73      0\n"
      "     2097152        131072     float    none      -1    90.00   23.30   17.48      0    90.00   23.30   17.48      0\n"
      "     4194304        262144     float    none      -1   170.00   24.67   18.50      0   170.00   24.67   18.50      0\n"
      "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 17.2 \n";
  const std::string anonymous = test::write_temp("mystery_run.txt", text);
  try {
    import_nccl_tests({anonymous});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mystery_run.txt:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("all_gather or all_to_all"), std::string::npos) << msg;
  }
  const Profile p = import_nccl_tests({test::write_temp("run_all_gather_4gpu.txt", text)});
  ASSERT_EQ(p.collectives.size(), 1u);
  EXPECT_EQ(p.collectives[0].collective, Collective::AllGather);
  EXPECT_EQ(p.collectives[0].group_size, 4);
}

TEST(NcclTestsImport, BadRowNamesFileAndLine) {
  const std::string text =
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
      "     1048576        262144     float     sum      -1    50.00   20.97   abc      0    50.00   20.97   36.70      0\n";
  const std::string path = test::write_temp("bad_row.txt", text);
  try {
    import_nccl_tests({path});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("bad_row.txt:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("busbw"), std::string::npos) << e.what();
  }
  try {
    import_nccl_tests({test::write_temp("no_table.txt", "hello\nworld\n")});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("no nccl-tests result table"), std::string::npos) << e.what();
  }
}

TEST(NcclTestsImport, UnsupportedCollectivesAreSkippedWithAWarning) {
  std::string text = read_text_file(kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt");
  const auto pos = text.find("all_gather_perf");
  text.replace(pos, 15, "gather_perf    ");
  const std::string path = test::write_temp("with_gather.txt", text);
  std::vector<std::string> warnings;
  const Profile p = import_nccl_tests({path}, &warnings);
  EXPECT_EQ(p.collectives.size(), 4u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("gather_perf"), std::string::npos);
}

// ---------------------------------------------------------------- broadcast and reduce

const std::string kBroadcastReduce = "h100x8_1node_broadcast_reduce_constructed-2.19.6.txt";

const AlphaBetaFit* fit_of(const Profile& p, int level, const std::string& collective) {
  for (const auto& f : p.fits)
    if (f.level == level && f.collective == collective) return &f.fit;
  return nullptr;
}

// nccl-tests' semantics (src/broadcast.cu, src/reduce.cu): bus bandwidth = algorithm bandwidth,
// a root column, in-place and out-of-place both checked; the fixture follows the chain model
// (7 hops x alpha + S / B on 8 GPUs), and the fit on each collective recovers it.
TEST(NcclTestsImport, BroadcastAndReduceRunsImportAsTheirOwnCollectives) {
  const auto runs = runs_of(kBroadcastReduce);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(*runs[0].collective, Collective::Broadcast);
  EXPECT_EQ(*runs[1].collective, Collective::Reduce);
  for (const auto& r : runs) {
    EXPECT_TRUE(r.unsupported.empty()) << r.unsupported;
    EXPECT_EQ(r.ranks, 8);
    EXPECT_EQ(r.roots, std::vector<int>{0});
    EXPECT_EQ(r.nccl_tests_version, "2.19.6");
    EXPECT_EQ(r.nccl_version, "2.29.7");
    EXPECT_TRUE(r.complete);
    ASSERT_EQ(r.rows.size(), 11u);
    for (const auto& x : r.rows) {
      EXPECT_EQ(x.root, 0);
      EXPECT_EQ(x.busbw_GBps, x.algbw_GBps);  // bus factor 1
      EXPECT_TRUE(x.has_in_place);
      EXPECT_GE(x.in_place_wrong, 0);  // the in-place run is checked too (unlike all-to-all)
    }
  }
  EXPECT_EQ(runs[0].redop, "none");
  EXPECT_EQ(runs[1].redop, "sum");
  const auto& big = row_of(runs[0], 1073741824);
  EXPECT_NEAR(big.time_s, 3175.56e-6, 1e-12);
  EXPECT_DOUBLE_EQ(big.busbw_GBps, 338.13);
  EXPECT_EQ(row_of(runs[1], 67108864).wrong, 12);
  EXPECT_EQ(row_of(runs[1], 67108864).in_place_wrong, 0);

  std::vector<std::string> warnings;
  const Profile p = import_nccl_tests({kDir + kBroadcastReduce}, &warnings);
  ASSERT_EQ(p.collectives.size(), 2u);
  EXPECT_EQ(p.collectives[0].collective, Collective::Broadcast);
  EXPECT_EQ(p.collectives[0].members, std::vector<int>{8});
  const AlphaBetaFit* b = fit_of(p, 0, "broadcast");
  const AlphaBetaFit* r = fit_of(p, 0, "reduce");
  ASSERT_TRUE(b && r);
  EXPECT_NEAR(b->latency_s, 2.5e-6, 2.5e-6 * 5e-3);
  EXPECT_NEAR(b->bandwidth, 340e9, 340e9 * 1e-3);
  EXPECT_EQ(b->samples, 11);
  EXPECT_NEAR(r->latency_s, 3.0e-6, 3.0e-6 * 5e-3);
  EXPECT_NEAR(r->bandwidth, 320e9, 320e9 * 1e-3);
  EXPECT_EQ(r->samples, 10);  // the sample with wrong values is not fitted
  // Kept as evidence: no combined fit, so nothing for the planner, and the import says so.
  EXPECT_EQ(fit_of(p, 0, "all"), nullptr);
  EXPECT_TRUE(cost_model_json(p)["levels"].empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("only broadcast and reduce"), std::string::npos) << warnings[0];
  // The data check counts their wrong values as for every other collective.
  const DataCheck d = data_check(p);
  EXPECT_EQ(d.checked, 44);
  EXPECT_EQ(d.wrong_samples, 1);
  EXPECT_EQ(d.wrong_values, 12);
  const auto pw = profile_warnings(p);
  ASSERT_FALSE(pw.empty());
  EXPECT_NE(pw[0].find("data check FAILED: 1 of 44"), std::string::npos) << pw[0];
  EXPECT_NE(pw[0].find("reduce 67108864 bytes: 12 wrong"), std::string::npos) << pw[0];
  // Exported as nccl-tests prints it: "Out of bounds values" counts the failed checks (one), not
  // the wrong values (12), and re-imports with the same counts.
  const std::string text = export_nccl_tests(p);
  EXPECT_NE(text.find("# Out of bounds values : 0 OK"), std::string::npos);
  EXPECT_NE(text.find("# Out of bounds values : 1 FAILED"), std::string::npos) << text;
  const Json j = profile_to_json(p);
  EXPECT_EQ(j["collectives"][0]["samples"][0]["root"], 0);
  EXPECT_EQ(j["config"]["runs"][1]["roots"], Json::array({0}));
  EXPECT_EQ(j["config"]["runs"][1]["used_for_planning"], false);
}

TEST(NcclTestsImport, BroadcastAndReduceStayOutOfThePlannersFigures) {
  const std::string five = kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt";
  const Profile alone = import_nccl_tests({five});
  std::vector<std::string> warnings;
  const Profile with = import_nccl_tests({five, kDir + kBroadcastReduce}, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(with.collectives.size(), 7u);
  EXPECT_EQ(dump_json(cost_model_json(with)), dump_json(cost_model_json(alone)));
  EXPECT_TRUE(fit_of(with, 0, "broadcast") && fit_of(with, 0, "reduce"));
  // The profile reads back with its roots, and its nccl-tests export imports to the same data.
  const Profile back = profile_from_json(profile_to_json(with), "with.json");
  EXPECT_EQ(dump_json(profile_to_json(back)), dump_json(profile_to_json(with)));
  EXPECT_EQ(back.collectives[5].samples[3].root, 0);
  const Profile again = import_nccl_tests({test::write_temp("bcast_export.txt", export_nccl_tests(with))});
  ASSERT_EQ(again.collectives.size(), 7u);
  EXPECT_EQ(again.collectives[5].collective, Collective::Broadcast);
  EXPECT_EQ(again.collectives[6].collective, Collective::Reduce);
  EXPECT_EQ(again.collectives[6].samples[8].wrong, 12);
  EXPECT_EQ(again.collectives[6].samples[8].root, 0);
}

// Logs without a "Collective test starting" line: a root >= 0 marks broadcast or reduce; a
// reduction in the redop column tells reduce; the legacy broadcast layout has no redop column.
TEST(NcclTestsImport, BroadcastAndReduceAreToldApartWithoutTheProgramName) {
  // nccl-tests <= 2.11 broadcast (`-r -1`: every root in turn), the error column is the maximum delta.
  const std::string legacy =
      "# nThread 1 nGpus 2 minBytes 1048576 maxBytes 2097152 step: 2(factor) warmup iters: 5 iters: 20 validation: 1 \n"
      "#\n# Using devices\n"
      "#   Rank  0 Pid  12345 on      host1 device  0 [0x1b] Tesla V100-SXM2-32GB\n"
      "#   Rank  1 Pid  12345 on      host1 device  1 [0x1c] Tesla V100-SXM2-32GB\n"
      "#\n"
      "#                                             out-of-place                       in-place          \n"
      "#       size         count      type    root     time   algbw   busbw  error     time   algbw   busbw  error\n"
      "#        (B)    (elements)                       (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       \n"
      "     1048576        262144     float       0    45.10   23.25   23.25  0e+00    45.02   23.29   23.29  0e+00\n"
      "     2097152        524288     float       0    85.30   24.59   24.59  0e+00    85.11   24.64   24.64  0e+00\n"
      "     1048576        262144     float       1    45.20   23.20   23.20  0e+00    45.05   23.28   23.28  0e+00\n"
      "     2097152        524288     float       1    85.50   24.53   24.53  0e+00    85.20   24.61   24.61  0e+00\n"
      "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 23.9 \n#\n";
  auto runs = parse_nccl_tests_text(legacy, "v100.log");
  ASSERT_EQ(runs.size(), 1u);
  resolve(runs[0]);
  EXPECT_EQ(*runs[0].collective, Collective::Broadcast);
  EXPECT_EQ(runs[0].ranks, 2);
  EXPECT_EQ(runs[0].roots, (std::vector<int>{0, 1}));
  EXPECT_EQ(runs[0].rows[2].root, 1);
  // v2.13-v2.16 reduce: redop sum, root 0.
  const std::string middle =
      "# nThread 1 nGpus 1 minBytes 1048576 maxBytes 2097152 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: "
      "1 graph: 0\n"
      "#\n# Using devices\n"
      "#  Rank  0 Group  0 Pid   100 on host1 device  0 [0000:01:00] GPU\n"
      "#  Rank  1 Group  0 Pid   101 on host1 device  1 [0000:02:00] GPU\n"
      "#\n"
      "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)       \n"
      "     1048576        262144     float     sum       0    50.00   20.97   20.97      0    50.00   20.97   20.97      0\n"
      "     2097152        524288     float     sum       0    90.00   23.30   23.30      0    90.00   23.30   23.30      0\n"
      "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 22.1 \n";
  runs = parse_nccl_tests_text(middle, "run.log");
  ASSERT_EQ(runs.size(), 1u);
  resolve(runs[0]);
  EXPECT_EQ(*runs[0].collective, Collective::Reduce);
  // A rooted run whose bus factor is not 1 (a gather or scatter log without its name) is skipped.
  std::string gather = middle;
  for (const char* from : {"   20.97      0", "   23.30      0"}) {
    std::size_t at = 0;
    while ((at = gather.find(from, at)) != std::string::npos) {
      gather.replace(at, 8, "   10.49");
      at += 8;
    }
  }
  for (std::size_t at = 0; (at = gather.find("     sum", at)) != std::string::npos;) gather.replace(at, 8, "    none");
  std::vector<std::string> warnings;
  const Profile p = import_nccl_tests(
      {test::write_temp("gather_like.txt", gather), kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt"}, &warnings);
  EXPECT_EQ(p.collectives.size(), 5u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("gather_perf or scatter_perf"), std::string::npos) << warnings[0];
}

TEST(NcclTestsImport, EveryRealFileImportsTogether) {
  std::vector<std::string> files;
  for (const char* f :
       {"a100pcie_2node_sendrecv_ncclinfo-interleaved.txt", "a100x8_1node_all_gather_legacy.txt",
        "a100x8_1node_all_reduce_legacy.txt", "a100x8_1node_alltoall_legacy.txt", "h100x16_2node_all_reduce_gcp-a3mega.txt",
        "h100x80_10node_5colls_nccltests-2.17.8.txt", "h100x8_1node_5colls_nccltests-2.17.8.txt"})
    files.push_back(kDir + f);
  const Profile p = import_nccl_tests(files);
  EXPECT_EQ(p.collectives.size(), 15u);
  EXPECT_TRUE(p.complete);
  ASSERT_EQ(p.levels.size(), 2u);
  const Json cm = cost_model_json(p);
  ASSERT_EQ(cm["levels"].size(), 2u);
  EXPECT_FALSE(cm.contains("gpu"));
}

TEST(NcclTestsImport, OneNodePlusTenNodesGivesATwoLevelCostModel) {
  const Profile p =
      import_nccl_tests({kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt", kDir + "h100x80_10node_5colls_nccltests-2.17.8.txt"});
  const Json cm = cost_model_json(p);
  ASSERT_EQ(cm["levels"].size(), 2u);
  EXPECT_EQ(cm["levels"][0]["name"], "node");
  EXPECT_EQ(cm["levels"][0]["group_size"], 8);
  EXPECT_EQ(cm["levels"][1]["name"], "network");
  EXPECT_EQ(cm["levels"][1]["group_size"], 80);
  // NVLink inside the node: around 300-480 GB/s bus bandwidth; the rails across nodes: tens of GB/s.
  const double nvlink = cm["levels"][0]["bandwidth_GBps"].get<double>();
  const double net = cm["levels"][1]["bandwidth_GBps"].get<double>();
  EXPECT_GT(nvlink, 250);
  EXPECT_LT(nvlink, 500);
  EXPECT_GT(net, 20);
  EXPECT_LT(net, 80);
}

// ---------------------------------------------------------------- -J JSON

TEST(NcclTestsImportJson, VersionOneWithMisspelledKeys) {
  const Profile p = import_nccl_tests({kDir + "json/all_reduce_8gpu_v1_misspelled.json"});
  ASSERT_EQ(p.collectives.size(), 1u);
  const auto& s = p.collectives[0];
  EXPECT_EQ(s.collective, Collective::AllReduce);
  EXPECT_EQ(s.group_size, 8);
  EXPECT_EQ(s.level, 0);
  EXPECT_EQ(s.dtype, "bfloat16");
  ASSERT_EQ(s.samples.size(), 11u);
  EXPECT_EQ(s.samples.front().bytes, 1024.0);
  EXPECT_EQ(s.samples.back().bytes, 1073741824.0);
  EXPECT_EQ(s.samples.back().wrong, 0);
  EXPECT_EQ(p.software["nccl"][0], "2.21.5");
  // The fixture follows 2.5 us per step and 360 GB/s; the fit recovers them.
  const Json cm = cost_model_json(p);
  EXPECT_NEAR(cm["levels"][0]["bandwidth_GBps"].get<double>(), 360, 360 * 2e-3);
  EXPECT_NEAR(cm["levels"][0]["latency_s"].get<double>(), 2.5e-6, 2.5e-6 * 2e-3);
}

TEST(NcclTestsImportJson, VersionThreeWithoutProgramNameIsInferred) {
  const Profile p = import_nccl_tests({kDir + "json/alltoall_2x4gpu_v3_noname.json"});
  ASSERT_EQ(p.collectives.size(), 1u);
  const auto& s = p.collectives[0];
  // redop "none", busbw/algbw = 7/8 and the in-place check N/A: all-to-all.
  EXPECT_EQ(s.collective, Collective::AllToAll);
  EXPECT_EQ(s.group_size, 8);
  EXPECT_EQ(s.level, 1);
  EXPECT_EQ(s.members, (std::vector<int>{4, 2}));
  EXPECT_EQ(s.samples[3].in_place_wrong, -1);
  // Level 1 carries the share of the data that leaves a node: 1/2 of the buffer across 2 nodes
  // against 7/8 in the bus-bandwidth convention, so 40 GB/s * (1/2) / (7/8).
  const Json cm = cost_model_json(p);
  ASSERT_EQ(cm["levels"].size(), 1u);
  EXPECT_EQ(cm["levels"][0]["name"], "network");
  EXPECT_NEAR(cm["levels"][0]["bandwidth_GBps"].get<double>(), 40 * 0.5 / 0.875, 0.05);
  EXPECT_NEAR(cm["levels"][0]["latency_s"].get<double>(), 6e-6, 6e-6 * 2e-3);
}

TEST(NcclTestsImportJson, VersionTwoCpuTime) {
  const Profile p = import_nccl_tests({kDir + "json/sendrecv_2node_v2_cputime.json"});
  ASSERT_EQ(p.collectives.size(), 1u);
  const auto& s = p.collectives[0];
  EXPECT_EQ(s.collective, Collective::SendRecv);  // "sendrecv_perf_mpi"
  EXPECT_EQ(s.group_size, 2);
  EXPECT_EQ(s.members, (std::vector<int>{1, 2}));
  EXPECT_EQ(s.dtype, "float");
  EXPECT_GT(s.samples[0].time_s, 0);
  const Json cm = cost_model_json(p);
  EXPECT_NEAR(cm["levels"][0]["bandwidth_GBps"].get<double>(), 24, 24 * 2e-3);
  EXPECT_NEAR(cm["levels"][0]["latency_s"].get<double>(), 8e-6, 8e-6 * 2e-3);
}

// As nccl-tests -J writes it: one line, doubles as "%lf" (nwrong 0.000000), the root a padded
// string, the program in args[0] (experiment_name is empty since v2.19).
TEST(NcclTestsImportJson, ReduceAcrossTwoNodesWithItsRoot) {
  const Profile p = import_nccl_tests({kDir + "json/reduce_2x4gpu_v3_constructed.json"});
  ASSERT_EQ(p.collectives.size(), 1u);
  const auto& s = p.collectives[0];
  EXPECT_EQ(s.collective, Collective::Reduce);  // "reduce_perf_mpi"
  EXPECT_EQ(s.group_size, 8);
  EXPECT_EQ(s.level, 1);
  EXPECT_EQ(s.members, (std::vector<int>{4, 2}));
  EXPECT_EQ(s.dtype, "float");
  ASSERT_EQ(s.samples.size(), 11u);
  for (const auto& x : s.samples) {
    EXPECT_EQ(x.root, 0);
    EXPECT_EQ(x.wrong, 0);
    EXPECT_EQ(x.in_place_wrong, 0);
    EXPECT_DOUBLE_EQ(x.busbw_GBps, x.algbw_GBps);
  }
  EXPECT_EQ(p.software["nccl"][0], "2.29.7");
  // Each GPU's network share is S/4 in one step across the 2 nodes, after 3 NVLink steps inside
  // each (no lower-level fit here, so they add to the level's latency): 3 x 2.5 + 8 us, 40 GB/s.
  const AlphaBetaFit* f = nullptr;
  for (const auto& x : p.fits)
    if (x.level == 1 && x.collective == "reduce") f = &x.fit;
  ASSERT_NE(f, nullptr);
  EXPECT_NEAR(f->latency_s, 15.5e-6, 15.5e-6 * 2e-3);
  EXPECT_NEAR(f->bandwidth, 40e9, 40e9 * 2e-3);
  EXPECT_TRUE(cost_model_json(p)["levels"].empty());
}

TEST(NcclTestsImportJson, MalformedJsonAndMissingFieldsAreBadInput) {
  try {
    import_nccl_tests({test::write_temp("broken.json", "{\n  \"config\": {\n")});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("broken.json:"), std::string::npos) << e.what();
  }
  try {
    import_nccl_tests({test::write_temp("noresults.json", "{\"config\": {\"ngpus\": 1}, \"results\": [{\"size\": 8}]}")});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find("results[0]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace nest::profiler
