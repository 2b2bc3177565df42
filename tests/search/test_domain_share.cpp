// The share of each rack-scale domain a job takes (search/domain_share.hpp): the hosts a cluster
// file states, which shares are offered, and that the one chosen is the fastest of independent
// searches, each on the cluster file with that share written in.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nest/core/error.hpp"
#include "nest/hardware/cluster.hpp"
#include "nest/hardware/topology.hpp"
#include "nest/io/json.hpp"
#include "nest/io/presets.hpp"
#include "nest/search/cost_source.hpp"
#include "nest/search/domain_share.hpp"
#include "nest/search/planner.hpp"
#include "support/test_support.hpp"

namespace nest {
namespace {

Outages with(std::vector<ClusterSetting> settings) {
  Outages o;
  o.settings = std::move(settings);
  return o;
}

void expect_refused(const std::string& spec, const Outages& o, const std::string& says) {
  try {
    (void)load_cluster(spec, o);
    ADD_FAILURE() << spec << " was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::BadInput);
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(DomainShare, HostsAreReadAndChecked) {
  EXPECT_EQ(load_cluster("gb200-nvl72").levels[0].host_gpus, 4);
  EXPECT_EQ(load_cluster("gb200-nvl72-segment16").levels[0].host_gpus, 4);
  EXPECT_EQ(load_cluster("dgx-h100").levels[0].host_gpus, 0);  // the domain is one host
  EXPECT_EQ(load_cluster("topology:gb200-nvl72").levels[0].host_gpus, 4);
  // A hierarchy written as a topology keeps its hosts.
  const Json t = topology_from_cluster("gb200-nvl72", 512);
  EXPECT_EQ(t["node"]["host_gpus"], 4);
  EXPECT_EQ(load_cluster(test::write_temp("gb200-as-topology.json", t.dump())).levels[0].host_gpus, 4);
  // Hosts must divide the domain, and only the first level's domains hold them.
  expect_refused("gb200-nvl72", with({{"levels.0.host_gpus", "5"}}), "must divide the domain's 72 GPUs");
  expect_refused("gb200-nvl72", with({{"levels.0.size", "66"}}), "must divide the domain's 66 GPUs");
  expect_refused("gb200-nvl72", with({{"levels.1.host_gpus", "4"}}), "only the first level's domains hold hosts");
  expect_refused("topology:gb200-nvl72", with({{"node.host_gpus", "7"}}), "must divide the domain's 72 GPUs");
}

TEST(DomainShare, ChoicesAreWholeHostsOfAtLeastHalfADomainDividingTheJob) {
  auto choices = [](const std::string& cluster, long gpus, std::vector<ClusterSetting> set = {}) {
    Problem p = test::preset_problem("llama3.1-8b", cluster, gpus, 1024, 8192);
    p.outages.settings = set;
    return domain_share_choices(p);
  };
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(choices("gb200-nvl72", 512), (V{72, 64}));
  EXPECT_EQ(choices("gb200-nvl72", 576), (V{72, 64, 48, 36}));
  EXPECT_EQ(choices("gb200-nvl72", 2496), (V{72, 64, 52, 48}));
  EXPECT_EQ(choices("gb200-nvl72", 64), V{});  // one domain holds the job
  EXPECT_EQ(choices("gb200-nvl72", 72), V{});
  EXPECT_EQ(choices("dgx-h100", 512), V{});  // a domain of one host
  EXPECT_EQ(choices("topology:gb200-nvl72", 512), (V{72, 64}));
  EXPECT_EQ(choices("topology:gb200-nvl72", 9216), V{});  // 128 racks hold 9,216 GPUs only filled: no choice
  EXPECT_EQ(choices("topology:gb200-nvl72", 8192), (V{72, 64}));
  EXPECT_EQ(choices("gb200-nvl72", 512, {{"levels.0.size", "72"}}), V{});  // set already
  EXPECT_EQ(choices("gb200-nvl72", 512, {{"levels.nvlink.size", "64"}}), V{});
  {  // GPUs out inside a topology's nodes set the share; a switch out leaves it as the file has it
    Problem p = test::preset_problem("llama3.1-8b", "topology:gb200-nvl72", 512, 1024, 8192);
    p.outages.gpus = {70, 71};
    EXPECT_EQ(domain_share_choices(p), V{});
    p.outages.gpus.clear();
    p.outages.lost_switch = "leaf";
    EXPECT_EQ(domain_share_choices(p), V{});
  }
  // Filling the domains is recorded as nothing; another share as the setting that replays it.
  const Problem p = test::preset_problem("llama3.1-8b", "gb200-nvl72", 512, 128, 8192);
  EXPECT_TRUE(with_domain_share(p, 72).outages.settings.empty());
  const Problem s = with_domain_share(p, 64);
  ASSERT_EQ(s.outages.settings.size(), 1u);
  EXPECT_EQ(s.outages.settings[0].path, "levels.0.size");
  EXPECT_EQ(s.outages.settings[0].value, "64");
  EXPECT_EQ(s.cluster.levels[0].size, 64);
  // On a topology as the GPUs past the share out of every node: those of its first node up.
  Problem t = test::preset_problem("llama3.1-8b", "topology:gb200-nvl72", 512, 128, 8192);
  t.outages.nodes = {0};
  t.cluster = load_cluster("topology:gb200-nvl72", t.outages);
  const Problem ts = with_domain_share(t, 64);
  EXPECT_EQ(ts.outages.gpus, (V{136, 137, 138, 139, 140, 141, 142, 143}));
  EXPECT_EQ(ts.cluster.levels[0].size, 64);
  Outages same = t.outages;
  same.gpus = ts.outages.gpus;
  const Cluster by_flag = load_cluster("topology:gb200-nvl72", same);  // as --unavailable-gpus gives it
  EXPECT_EQ(ts.cluster.max_gpus, by_flag.max_gpus);
  ASSERT_EQ(by_flag.levels.size(), ts.cluster.levels.size());
  for (std::size_t l = 0; l < by_flag.levels.size(); ++l) {
    EXPECT_EQ(by_flag.levels[l].size, ts.cluster.levels[l].size) << l;
    EXPECT_EQ(by_flag.levels[l].bandwidth, ts.cluster.levels[l].bandwidth) << l;
  }
}

// The chosen share against searches that share nothing with the choice: the cluster file read with
// each share written in (--cluster-set's path, or --unavailable-gpus on a topology), searched alone;
// the choice is the largest share within kDomainShareMinGain of the fastest.
TEST(DomainShare, TheChosenShareIsTheLargestNearlyAsFastAsTheFastest) {
  struct Case {
    std::string model, cluster;
    long gpus, batch;
  };
  PlannerOptions opts;
  opts.threads = 1;
  std::vector<std::int64_t> picked;
  for (const Case& c : {Case{"llama3.1-8b", "gb200-nvl72", 512, 128}, Case{"llama3-70b", "gb200-nvl72", 576, 576},
                        Case{"llama3.1-8b", "topology:gb200-nvl72", 512, 128}}) {
    const std::string what = c.model + " on " + c.cluster;
    const Problem p = test::preset_problem(c.model, c.cluster, c.gpus, c.batch, 8192);
    const DomainShareSearch found = search_domain_share(p, opts);
    ASSERT_TRUE(found.share.has_value()) << what;
    const std::vector<std::int64_t> choices = domain_share_choices(p);
    ASSERT_EQ(found.share->options.size(), choices.size());
    std::vector<double> steps;
    for (std::size_t i = 0; i < choices.size(); ++i) {
      Outages o;
      if (c.cluster.rfind("topology:", 0) == 0) {
        for (std::int64_t g = choices[i]; g < 72; ++g) o.gpus.push_back(g);
      } else {
        o.settings = {{"levels.0.size", std::to_string(choices[i])}};
      }
      Problem alone = p;
      alone.cluster = load_cluster(c.cluster, o);
      const AnalyticCostSource source(alone);
      const SearchResult r = search_plans(source, opts);
      const DomainShareOption& opt = found.share->options[i];
      EXPECT_EQ(opt.gpus_per_domain, choices[i]);
      ASSERT_EQ(opt.feasible, !r.top.empty()) << what << " " << choices[i];
      steps.push_back(r.top.empty() ? 0 : source.predict(r.top.front().plan).step_time);
      if (!r.top.empty()) {
        EXPECT_EQ(opt.step_time, steps.back()) << what << " " << choices[i];
      }
    }
    double fastest = 0;
    for (double t : steps)
      if (t > 0 && (fastest == 0 || t < fastest)) fastest = t;
    ASSERT_GT(fastest, 0) << what;
    std::size_t want = 0;
    while (!(steps[want] > 0 && steps[want] <= fastest * 1.01)) ++want;
    EXPECT_EQ(found.share->gpus_per_domain, choices[want]) << what;
    EXPECT_EQ(found.share->domains, (c.gpus + choices[want] - 1) / choices[want]);
    EXPECT_EQ(found.problem.cluster.levels[0].size, choices[want]);
    ASSERT_FALSE(found.result.top.empty());
    EXPECT_EQ(AnalyticCostSource(found.problem).predict(found.result.top.front().plan).step_time, steps[want]) << what;
    picked.push_back(choices[want]);
  }
  // The 8B job's groups straddle racks when it fills them; the 70B job gains less than 1% from a share.
  EXPECT_EQ(picked, (std::vector<std::int64_t>{64, 72, 64}));
}

// Where there is nothing to choose the search is the plain one, bit for bit.
TEST(DomainShare, WithoutAChoiceTheSearchIsThePlainOne) {
  PlannerOptions opts;
  opts.threads = 1;
  const Problem p = test::preset_problem("llama3.1-8b", "dgx-h100", 64, 128, 8192);
  const DomainShareSearch found = search_domain_share(p, opts);
  EXPECT_FALSE(found.share.has_value());
  const SearchResult plain = search_plans(AnalyticCostSource(p), opts);
  ASSERT_FALSE(plain.top.empty());
  ASSERT_FALSE(found.result.top.empty());
  EXPECT_EQ(found.result.top.front().value, plain.top.front().value);
  EXPECT_EQ(found.result.stats.slices, plain.stats.slices);
}

}  // namespace
}  // namespace nest
