// Cluster-wide load → cluster_conns: this node's share taken off, never negative, only
// programmed backends, cleared on removal, zeroed when stale.
#include "skewless/agent/cluster_load_tracker.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::agent {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using Clock = ClusterLoadTracker::Clock;

skewless::load::v1::ClusterLoad Load(
    const std::string& cluster,
    const std::vector<std::tuple<std::string, std::uint32_t, std::uint64_t>>& endpoints) {
  skewless::load::v1::ClusterLoad load;
  load.set_cluster_name(cluster);
  for (const auto& [address, port, connections] : endpoints) {
    auto* endpoint = load.add_endpoints();
    endpoint->set_address(address);
    endpoint->set_port(port);
    endpoint->set_connections(connections);
    endpoint->set_reporters(2);
  }
  return load;
}

loadreport::SteeredEndpoint Steered(const std::string& cluster, const std::string& address,
                                    std::uint32_t id) {
  return {.key = {.cluster = cluster, .address = address, .port = 8080}, .backend_id = id};
}

class ClusterLoadTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tracker_.SetEndpoints({Steered("echo", "10.0.0.1", 1), Steered("echo", "10.0.0.2", 2),
                           Steered("web", "10.0.1.1", 3)});
    tracker_.OnStreamStart(t0_);
  }

  ClusterLoadTracker tracker_{10s};
  Clock::time_point t0_ = Clock::now();
};

TEST_F(ClusterLoadTrackerTest, ThisNodesReportedShareIsTakenOffTheSum) {
  // Backend 3's share was reported under another cluster, which does not count for web.
  tracker_.OnReportSent({.clusters = {"echo"}, .active_conns = {{1, 3}, {3, 9}}});
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 10}, {"10.0.0.2", 8080, 4}})},
                                  {}, false, t0_)
                  .ok());
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("web", {{"10.0.1.1", 8080, 12}})}, {}, false, t0_).ok());
  // Backend 2 was not in the report: the whole sum is others'.
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(1, 7u), Pair(2, 4u), Pair(3, 12u)));
  EXPECT_EQ(tracker_.loaded_backends(), 3u);
  // Nothing changed: nothing to write.
  EXPECT_THAT(tracker_.Plan(t0_ + 1s), IsEmpty());
}

TEST_F(ClusterLoadTrackerTest, AReportSentAfterTheSumIsTakenOffOnlyOnceANewSumArrives) {
  // This node holds one connection to backend 1, reported and summed: others hold 2 on
  // each backend.
  tracker_.OnReportSent({.clusters = {"echo"}, .active_conns = {{1, 1}}});
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 3}, {"10.0.0.2", 8080, 2}})},
                                  {}, false, t0_)
                  .ok());
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(1, 2u), Pair(2, 2u), Pair(3, 0u)));
  // It moves its connection to backend 2 and reports. The sum held still counts the old
  // connection on backend 1 and not the new one: taking the new report off it would make
  // backend 1 look loaded by this node's closed connection (3) and backend 2 look one
  // lighter (1) than the others' two, hiding this node's pick from its own next pick.
  tracker_.OnReportSent({.clusters = {"echo"}, .active_conns = {{2, 1}}});
  EXPECT_THAT(tracker_.Plan(t0_ + 100ms), IsEmpty());
  // The next sum counts the move: still 2 and 2 from the others.
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 2}, {"10.0.0.2", 8080, 3}})},
                                  {}, false, t0_ + 500ms)
                  .ok());
  EXPECT_THAT(tracker_.Plan(t0_ + 500ms), IsEmpty()) << "unchanged: 2 and 2";
}

TEST_F(ClusterLoadTrackerTest, NeverNegativeWhenTheSumLagsThisNodesOwnCount) {
  tracker_.OnReportSent({.clusters = {"echo"}, .active_conns = {{1, 5}}});
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 2}})}, {}, false, t0_).ok());
  EXPECT_EQ(tracker_.Plan(t0_).at(1), 0u);
}

TEST_F(ClusterLoadTrackerTest, EndpointsTheAgentDoesNotSteerAreIgnored) {
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.9.9.9", 8080, 50}, {"10.0.0.1", 9090, 50}}),
                                   Load("other", {{"10.0.0.1", 8080, 50}})},
                                  {}, false, t0_)
                  .ok());
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(1, 0u), Pair(2, 0u), Pair(3, 0u)));
}

TEST_F(ClusterLoadTrackerTest, ARemovedBackendIsClearedAndARemovedClusterLoadZeroesItsBackends) {
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}, {"10.0.0.2", 8080, 8}}),
                                   Load("web", {{"10.0.1.1", 8080, 5}})},
                                  {}, false, t0_)
                  .ok());
  tracker_.Plan(t0_);
  tracker_.SetEndpoints({Steered("echo", "10.0.0.1", 1), Steered("web", "10.0.1.1", 3)});
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(2, 0u)));
  ASSERT_TRUE(tracker_.OnClusterLoads({}, {"web"}, false, t0_ + 1s).ok());
  EXPECT_THAT(tracker_.Plan(t0_ + 1s), ElementsAre(Pair(3, 0u)));
}

TEST_F(ClusterLoadTrackerTest, StateOfTheWorldDropsClusterLoadsItDoesNotList) {
  ASSERT_TRUE(tracker_
                  .OnClusterLoads(
                      {Load("echo", {{"10.0.0.1", 8080, 6}}), Load("web", {{"10.0.1.1", 8080, 5}})},
                      {}, true, t0_)
                  .ok());
  tracker_.Plan(t0_);
  ASSERT_TRUE(tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}})}, {}, true, t0_).ok());
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(3, 0u)));
}

TEST_F(ClusterLoadTrackerTest, AClosedStreamZeroesEverythingAfterMaxAge) {
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}})}, {}, false, t0_).ok());
  tracker_.Plan(t0_);
  // An open stream that delivered figures keeps them: a delta server is silent while
  // nothing changes.
  EXPECT_TRUE(tracker_.Fresh(t0_ + 1h));
  tracker_.OnStreamEnd(t0_ + 20s);
  EXPECT_THAT(tracker_.Plan(t0_ + 29s), IsEmpty());
  EXPECT_FALSE(tracker_.Fresh(t0_ + 30s));
  EXPECT_THAT(tracker_.Plan(t0_ + 30s), ElementsAre(Pair(1, 0u)));
  EXPECT_EQ(tracker_.loaded_backends(), 0u);
  EXPECT_EQ(*tracker_.Age(t0_ + 30s), 30s);
}

TEST_F(ClusterLoadTrackerTest, ANewStreamThatBringsNoClusterLoadLetsTheOldFiguresAgeOut) {
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}})}, {}, false, t0_).ok());
  tracker_.OnStreamEnd(t0_ + 1s);
  tracker_.OnStreamStart(t0_ + 2s);  // a control plane that does not publish ClusterLoad
  EXPECT_TRUE(tracker_.Fresh(t0_ + 11s));
  EXPECT_FALSE(tracker_.Fresh(t0_ + 12s));
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}})}, {}, false, t0_ + 13s).ok());
  EXPECT_TRUE(tracker_.Fresh(t0_ + 1h));
}

TEST_F(ClusterLoadTrackerTest, AnEmptyAnswerAboutUnknownLoadsConfirmsNothing) {
  ASSERT_TRUE(tracker_.OnClusterLoads({}, {"echo", "web"}, false, t0_).ok());
  ASSERT_TRUE(tracker_.OnClusterLoads({}, {}, true, t0_).ok());
  EXPECT_FALSE(tracker_.Fresh(t0_));
  EXPECT_FALSE(tracker_.Age(t0_).has_value());
  // Dropping a load that was held is news.
  ASSERT_TRUE(
      tracker_.OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 6}})}, {}, false, t0_).ok());
  tracker_.OnStreamEnd(t0_ + 1s);
  ASSERT_TRUE(tracker_.OnClusterLoads({}, {"echo"}, false, t0_ + 20s).ok());
  EXPECT_EQ(*tracker_.Age(t0_ + 20s), 0s);
}

TEST_F(ClusterLoadTrackerTest, NothingIsFreshBeforeTheFirstClusterLoad) {
  EXPECT_FALSE(tracker_.Fresh(t0_));
  EXPECT_FALSE(tracker_.Age(t0_).has_value());
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(1, 0u), Pair(2, 0u), Pair(3, 0u)));
}

TEST_F(ClusterLoadTrackerTest, OneBackendInTwoClustersTakesTheLargerFigure) {
  tracker_.SetEndpoints({Steered("echo", "10.0.0.1", 1), Steered("echo-alias", "10.0.0.1", 1)});
  ASSERT_TRUE(tracker_
                  .OnClusterLoads({Load("echo", {{"10.0.0.1", 8080, 4}}),
                                   Load("echo-alias", {{"10.0.0.1", 8080, 9}})},
                                  {}, false, t0_)
                  .ok());
  EXPECT_THAT(tracker_.Plan(t0_), ElementsAre(Pair(1, 9u)));
}

TEST_F(ClusterLoadTrackerTest, BadResourcesAreNamedAndTheGoodOnesApply) {
  const absl::Status status = tracker_.OnClusterLoads(
      {Load("", {}), Load("echo", {{"10.0.0.1", 8080, 6}, {"10.0.0.2", 70000, 1}})}, {}, false,
      t0_);
  EXPECT_THAT(status.message(), HasSubstr("without cluster_name"));
  EXPECT_THAT(status.message(), HasSubstr("ClusterLoad echo: endpoint 10.0.0.2 has port 70000"));
  EXPECT_EQ(tracker_.Plan(t0_).at(1), 6u);
}

}  // namespace
}  // namespace skewless::agent
