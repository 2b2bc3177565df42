// The profile schema (write, read, write again: identical), and the exports: CSV rows, the
// ASTRA-sim YAML keys and values, nccl-tests text that the importer reads back to the same data.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "nest/core/error.hpp"
#include "nest/io/json.hpp"
#include "nest/profiler/formats.hpp"
#include "nest/profiler/harness.hpp"
#include "support/test_support.hpp"

namespace nest::profiler {
namespace {

const std::string kDir = std::string(NEST_TEST_DATA) + "/nccl-tests/";

// A profile shaped like a measured one: both levels, every collective, operators.
Profile measured_like() {
  Profile p;
  p.created = p.updated = "2025-01-01T00:00:00Z";
  p.machine = {{"hosts", {"node0", "node1"}},
               {"ranks", 4},
               {"rank_hosts", {"node0", "node0", "node1", "node1"}},
               {"devices", Json::array({{{"rank", 0}, {"host", "node0"}, {"kind", "cpu"}, {"name", "Test CPU"}}})}};
  p.software = {{"backend", "mpi"}, {"mpi", "Open MPI v4.1.4"}};
  p.config = {{"backend", "mpi"}, {"step_factor", 2.0}, {"warmup_iters", 1}, {"iters", 5}};
  p.levels = plan_levels({"node0", "node0", "node1", "node1"});
  const auto groups = plan_groups({"node0", "node0", "node1", "node1"});
  int k = 0;
  for (const auto& g : groups)
    for (Collective c : all_collectives()) {
      CollectiveSeries s;
      s.collective = c;
      s.level = g.level;
      s.group = g.name;
      s.group_size = g.size;
      s.members = g.members;
      s.concurrent_groups = static_cast<int>(g.sets.size());
      for (int r : g.sets[0]) s.hosts.push_back(r < 2 ? "node0" : "node1");
      s.source = "measured";
      for (std::size_t bytes : sweep_sizes(1024, 65536, 4)) {
        const CollectiveCounts counts = collective_counts(c, bytes, g.size, 2);
        RankTiming t = summarize({1e-5 + static_cast<double>(counts.bytes) / 1e9 * (1 + 0.01 * (++k % 3)), 2e-5, 1.5e-5}, 0);
        s.samples.push_back(aggregate({t}, c, g.size, counts));
      }
      p.collectives.push_back(s);
    }
  p.operators.present = true;
  p.operators.config = {{"model", "llama3-8b"}, {"peak_tflops", nullptr}};
  GemmSample g;
  g.key = "gemm:qkv:fwd:tp1:mb1";
  g.op = "qkv";
  g.pass = "fwd";
  g.m = 128;
  g.n = 256;
  g.k = 64;
  g.model_m = 2048;
  g.model_n = 6144;
  g.model_k = 4096;
  g.time_s = 1e-3;
  p.operators.gemm.push_back(g);
  g.key = "gemm:qkv:dgrad:tp1:mb1";
  g.k = 32;
  g.time_s = 0.6e-3;
  p.operators.gemm.push_back(g);
  MemorySample m;
  m.key = "memory:1048576";
  m.op = "copy";
  m.bytes = 2 * 1048576.0;
  m.time_s = 1e-4;
  p.operators.memory.push_back(m);
  return profile_from_json(profile_to_json(p), "measured_like");  // derive flops etc. as a read would
}

TEST(ProfileSchema, WriteReadWriteIsIdentical) {
  const Profile p = measured_like();
  const Json a = profile_to_json(p);
  EXPECT_EQ(a["schema"], "nest.profile/1");
  for (const char* k : {"complete", "created", "updated", "cost_model", "machine", "software", "config", "levels", "collectives",
                        "operators", "fits"})
    EXPECT_TRUE(a.contains(k)) << k;
  const Profile q = profile_from_json(parse_json(dump_json(a), "a.json"), "a.json");
  const Json b = profile_to_json(q);
  EXPECT_EQ(dump_json(a), dump_json(b));
  EXPECT_EQ(q.collectives.size(), 15u);
  EXPECT_EQ(q.collectives[0].samples.size(), p.collectives[0].samples.size());
  EXPECT_EQ(q.collectives[0].samples[1].time_s, p.collectives[0].samples[1].time_s);
  // The file written by write_profile reads back too.
  Profile w = p;
  const std::string path = test::temp_dir() + "/schema_roundtrip.json";
  write_profile(path, w);
  const Profile r = read_profile(path);
  EXPECT_EQ(dump_json(profile_to_json(r)), dump_json(profile_to_json(w)));
}

TEST(ProfileSchema, CostModelShape) {
  const Json cm = profile_to_json(measured_like())["cost_model"];
  ASSERT_EQ(cm["levels"].size(), 2u);
  // The node level: name, size, bandwidth, latency; the network level also the GPUs per host its
  // fit kept on the network (all:4, 2 per host) and the one-GPU-per-host groups' lone rate.
  EXPECT_EQ(cm["levels"][1]["gpus_per_node"], 2);
  EXPECT_GT(cm["levels"][1]["lone_bandwidth_GBps"].get<double>(), 0);
  for (const auto& l : cm["levels"]) {
    ASSERT_EQ(l.size(), l["name"] == "network" ? 6u : 4u);
    EXPECT_TRUE(l["name"].is_string());
    EXPECT_TRUE(l["group_size"].is_number_integer());
    EXPECT_GT(l["bandwidth_GBps"].get<double>(), 0);
    EXPECT_GE(l["latency_s"].get<double>(), 0);
  }
  EXPECT_EQ(cm["levels"][0]["group_size"], 2);
  EXPECT_EQ(cm["levels"][1]["group_size"], 4);
  ASSERT_TRUE(cm.contains("gpu"));
  EXPECT_GT(cm["gpu"]["gemm_efficiency"].get<double>(), 0);
  EXPECT_LE(cm["gpu"]["gemm_efficiency"].get<double>(), 1);
}

void expect_bad(const std::string& text, const std::string& fragment) {
  try {
    profile_from_json(parse_json(text, "p.json"), "p.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(ProfileSchema, BadProfilesNameTheField) {
  Json j = profile_to_json(measured_like());
  Json bad = j;
  bad["schema"] = "nest.profile/9";
  expect_bad(bad.dump(), "field 'schema'");
  bad = j;
  bad["collectives"][1]["members"] = {3};
  expect_bad(bad.dump(), "field 'collectives[1].members'");
  bad = j;
  bad["collectives"][0]["collective"] = "gather";
  expect_bad(bad.dump(), "unknown collective");
  bad = j;
  bad["collectives"][2]["samples"][0]["time_s"] = -1;
  expect_bad(bad.dump(), "field 'collectives[2].samples[0].time_s'");
  bad = j;
  bad.erase("complete");
  expect_bad(bad.dump(), "field 'complete': missing");
}

TEST(ProfileExport, CsvHeaderAndRows) {
  const Profile p = measured_like();
  const std::string csv = export_csv(p);
  std::istringstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header,
            "collective,level,level_name,group,group_size,concurrent_groups,dtype,bytes,count,time_s,algbw_GBps,busbw_GBps,"
            "fastest_rank_time_s,min_s,max_s,spread,wrong,root");
  std::size_t samples = 0;
  for (const auto& s : p.collectives) samples += s.samples.size();
  EXPECT_EQ(static_cast<std::size_t>(test::count_lines(csv)), samples + 1);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first.rfind("all_reduce,0,node,node:2,2,2,bf16,1024,512,", 0), 0u) << first;
  // Grouped per collective, in the profile's order of collectives.
  const auto ag = csv.find("\nall_gather,"), ar_last = csv.rfind("\nall_reduce,");
  EXPECT_LT(ar_last, ag);
}

TEST(ProfileExport, AstraSimYaml) {
  const Profile p =
      import_nccl_tests({kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt", kDir + "h100x80_10node_5colls_nccltests-2.17.8.txt"});
  const std::string y = export_astra_sim(p, {}, "p.json");
  const Json cm = cost_model_json(p);
  EXPECT_NE(y.find("topology: [ Switch, Switch ]\n"), std::string::npos) << y;
  EXPECT_NE(y.find("npus_count: [ 8, 10 ]\n"), std::string::npos) << y;
  char buf[128];
  std::snprintf(buf, sizeof buf, "bandwidth: [ %.6g, %.6g ]  # GB/s\n", cm["levels"][0]["bandwidth_GBps"].get<double>(),
                cm["levels"][1]["bandwidth_GBps"].get<double>());
  EXPECT_NE(y.find(buf), std::string::npos) << y;
  std::snprintf(buf, sizeof buf, "latency: [ %.6g, %.6g ]  # ns\n", cm["levels"][0]["latency_s"].get<double>() * 1e9,
                cm["levels"][1]["latency_s"].get<double>() * 1e9);
  EXPECT_NE(y.find(buf), std::string::npos) << y;
  EXPECT_NE(export_astra_sim(p, {"Ring", "Switch"}).find("topology: [ Ring, Switch ]"), std::string::npos);
  EXPECT_THROW(export_astra_sim(p, {"Ring"}), Error);
}

void expect_same_collectives(const Profile& a, const Profile& b) {
  ASSERT_EQ(a.collectives.size(), b.collectives.size());
  for (std::size_t i = 0; i < a.collectives.size(); ++i) {
    const auto& x = a.collectives[i];
    const auto& y = b.collectives[i];
    EXPECT_EQ(x.collective, y.collective);
    EXPECT_EQ(x.level, y.level);
    EXPECT_EQ(x.group_size, y.group_size);
    EXPECT_EQ(x.members, y.members);
    EXPECT_EQ(x.hosts, y.hosts);
    ASSERT_EQ(x.samples.size(), y.samples.size());
    for (std::size_t k = 0; k < x.samples.size(); ++k) {
      EXPECT_EQ(x.samples[k].bytes, y.samples[k].bytes);
      EXPECT_EQ(x.samples[k].count, y.samples[k].count);
      EXPECT_NEAR(x.samples[k].time_s, y.samples[k].time_s, 1e-6 * x.samples[k].time_s);
      EXPECT_NEAR(x.samples[k].busbw_GBps, y.samples[k].busbw_GBps, 0.0051);
      EXPECT_NEAR(x.samples[k].algbw_GBps, y.samples[k].algbw_GBps, 0.0051);
      EXPECT_EQ(x.samples[k].wrong, y.samples[k].wrong);
    }
  }
  ASSERT_EQ(a.levels.size(), b.levels.size());
  for (std::size_t l = 0; l < a.levels.size(); ++l) EXPECT_EQ(a.levels[l].group_size, b.levels[l].group_size);
}

TEST(ProfileExport, NcclTestsTextReadsBackToTheSameData) {
  // Imported real logs -> nccl-tests text -> imported again.
  const Profile a =
      import_nccl_tests({kDir + "h100x8_1node_5colls_nccltests-2.17.8.txt", kDir + "h100x16_2node_all_reduce_gcp-a3mega.txt",
                         kDir + "a100x8_1node_alltoall_legacy.txt"});
  const std::string path = test::write_temp("export_roundtrip.txt", export_nccl_tests(a));
  const Profile b = import_nccl_tests({path});
  expect_same_collectives(a, b);
  // A measured profile (rounded figures aside) makes the same round trip, levels included.
  const Profile m = measured_like();
  const Profile back = import_nccl_tests({test::write_temp("export_measured.txt", export_nccl_tests(m))});
  expect_same_collectives(m, back);
  const Json cm_a = cost_model_json(m), cm_b = cost_model_json(back);
  ASSERT_EQ(cm_a["levels"].size(), cm_b["levels"].size());
  for (std::size_t l = 0; l < cm_a["levels"].size(); ++l)
    EXPECT_NEAR(cm_a["levels"][l]["bandwidth_GBps"].get<double>() / cm_b["levels"][l]["bandwidth_GBps"].get<double>(), 1, 1e-4);
}

}  // namespace
}  // namespace nest::profiler
