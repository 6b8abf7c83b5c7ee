// The sync's promise: no write before a complete state, one reconcile, then diffs; a
// new stream keeps the maps until it is complete; bad resources are named and skipped.
#include "skewless/agent/service_sync.h"

#include "agent_fixtures.h"
#include "fake_steering_maps.h"  // tests/support
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::agent {
namespace {

using testing::AssignmentOf;
using testing::ClusterOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Pod;
using testing::Port;

skewless::agent::v1::NodeInfo Node(std::string zone) {
  skewless::agent::v1::NodeInfo info;
  info.set_name("node-1");
  info.set_zone(std::move(zone));
  return info;
}

class ServiceSyncTest : public ::testing::Test {
 protected:
  // One stream that delivers node, clusters and endpoints of `ports`.
  void Deliver(const std::vector<xds::ServicePort>& ports, std::string zone = "zone-a") {
    sync_.BeginStream();
    ASSERT_TRUE(sync_.OnNodeInfo(Node(std::move(zone))).ok());
    std::vector<envoy::config::cluster::v3::Cluster> clusters;
    std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment> assignments;
    for (const auto& port : ports) {
      clusters.push_back(ClusterOf(port));
      assignments.push_back(AssignmentOf(port));
    }
    ASSERT_TRUE(sync_.OnClusters(clusters, {}, false).ok());
    ASSERT_TRUE(sync_.OnAssignments(assignments, {}).ok());
  }

  std::uint64_t now_ns_ = 1'000'000;
  datapath::testing::FakeMaps maps_;
  datapath::ServiceTable table_{maps_, [this] { return now_ns_; }};
  ServiceSync sync_{table_, SyncOptions{.node_name = "node-1"}};
};

TEST_F(ServiceSyncTest, NothingIsWrittenUntilTheStateIsComplete) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1"), Pod("10.0.0.2")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  sync_.BeginStream();
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(echo), ClusterOf(web)}, {}, false).ok());
  EXPECT_THAT(sync_.EndpointSubscriptions(), ElementsAre("default/echo:80", "default/web:80"));
  ASSERT_TRUE(sync_.OnNodeInfo(Node("zone-a")).ok());
  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(echo)}, {}).ok());
  EXPECT_THAT(maps_.log, IsEmpty()) << "web's endpoints are still missing";
  EXPECT_FALSE(sync_.State().synced);

  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(web)}, {}).ok());
  EXPECT_TRUE(sync_.State().synced);
  EXPECT_EQ(maps_.services.size(), 2u);
  EXPECT_EQ(maps_.backends.size(), 3u);
  EXPECT_EQ(sync_.State().zone, "zone-a");
  EXPECT_EQ(sync_.State().zone_ids.at("zone-a"), maps_.node.zone_id);
}

TEST_F(ServiceSyncTest, AfterTheFirstStateOnlyChangesAreWritten) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  Deliver({echo, web});
  const datapath::MapWriteCounts before = sync_.write_counts();
  // The same endpoints again: nothing. One Service's endpoint moves: one set swap.
  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(echo), AssignmentOf(web)}, {}).ok());
  EXPECT_EQ(sync_.write_counts().total(), before.total());
  echo.endpoints = {Pod("10.0.0.9")};
  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(echo)}, {}).ok());
  EXPECT_EQ(sync_.write_counts().set_swaps - before.set_swaps, 1u);
  EXPECT_EQ(sync_.write_counts().service_writes, before.service_writes);
  // A removed cluster takes its VIP out of the maps.
  ASSERT_TRUE(sync_.OnClusters({}, {"default/web:80"}, false).ok());
  EXPECT_EQ(maps_.services.size(), 1u);
  EXPECT_THAT(sync_.EndpointSubscriptions(), ElementsAre("default/echo:80"));
}

TEST_F(ServiceSyncTest, ANewClusterWaitsForItsEndpoints) {
  Deliver({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")})});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(web)}, {}, false).ok());
  EXPECT_EQ(maps_.services.size(), 1u) << "an empty set would refuse connects meanwhile";
  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(web)}, {}).ok());
  EXPECT_EQ(maps_.services.size(), 2u);
}

TEST_F(ServiceSyncTest, AChangedVipMovesTheServiceEntry) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  Deliver({echo});
  echo.cluster_ips = {"10.96.0.20"};
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(echo)}, {}, false).ok());
  EXPECT_FALSE(table_.ServiceId("10.96.0.10", 80, datapath::Protocol::kTcp).has_value());
  EXPECT_TRUE(table_.ServiceId("10.96.0.20", 80, datapath::Protocol::kTcp).has_value());
}

TEST_F(ServiceSyncTest, AVipAddedLaterTakesTheKeptAddressesOfItsFamily) {
  xds::Endpoint dual = Pod("10.0.0.1", "zone-b");
  dual.addresses.push_back("fd00:0::1");
  dual.node_name = "node-1";
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {dual, Pod("10.0.0.2")});
  Deliver({echo});
  EXPECT_FALSE(table_.BackendId("fd00::1", 8080).has_value());
  echo.cluster_ips = {"10.96.0.10", "fd00::10"};
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(echo)}, {}, false).ok());
  ASSERT_TRUE(table_.ServiceId("fd00::10", 80, datapath::Protocol::kTcp).has_value());
  const std::optional<std::uint32_t> v6 = table_.BackendId("fd00::1", 8080);
  ASSERT_TRUE(v6.has_value()) << "the v6 VIP's set holds the v6 address of the dual-stack pod";
  EXPECT_EQ(maps_.backends.at(*v6).zone_id, sync_.State().zone_ids.at("zone-b"));
  EXPECT_EQ(table_.backend_count(), 3u) << "10.0.0.2 has no v6 address";
}

TEST_F(ServiceSyncTest, ABadResourceIsNamedAndKeepsItsLastGoodVersion) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  Deliver({echo, web});
  auto bad = AssignmentOf(Port("echo", {"10.96.0.10"}, {Pod("10.0.0.2")}));
  bad.mutable_endpoints(0)
      ->mutable_lb_endpoints(0)
      ->mutable_endpoint()
      ->mutable_address()
      ->mutable_socket_address()
      ->set_address("10.0.0.x");
  web.endpoints = {Pod("10.0.1.2")};
  absl::Status status = sync_.OnAssignments({bad, AssignmentOf(web)}, {});
  EXPECT_THAT(std::string(status.message()), HasSubstr("endpoints of default/echo:80"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("10.0.0.x"));
  EXPECT_TRUE(table_.BackendId("10.0.0.1", 8080).has_value()) << "echo keeps its last good set";
  EXPECT_TRUE(table_.BackendId("10.0.1.2", 8080).has_value()) << "web's good update applies";
}

TEST_F(ServiceSyncTest, ANewStreamKeepsTheMapsUntilCompleteThenDropsWhatItDidNotMention) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  Deliver({echo, web});
  // Reconnected: the control plane now serves only echo (web was deleted meanwhile).
  sync_.BeginStream();
  ASSERT_TRUE(sync_.OnNodeInfo(Node("zone-a")).ok());
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(echo)}, {}, false).ok());
  EXPECT_EQ(maps_.services.size(), 2u) << "the last good state stays until the new one is whole";
  ASSERT_TRUE(sync_.OnAssignments({AssignmentOf(echo)}, {}).ok());
  EXPECT_EQ(maps_.services.size(), 1u);
  EXPECT_TRUE(table_.ServiceId("10.96.0.10", 80, datapath::Protocol::kTcp).has_value());
}

TEST_F(ServiceSyncTest, AnAdoptedTableIsReconciledRemovingOnlyWhatIsStale) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  Deliver({echo, web});
  const std::uint32_t echo_id = *table_.ServiceId("10.96.0.10", 80, datapath::Protocol::kTcp);
  // A restarted agent: a new table over the same maps, recovered, then a stream that no
  // longer serves web.
  datapath::ServiceTable adopted(maps_, [this] { return now_ns_; });
  ASSERT_TRUE(adopted.Recover().ok());
  ServiceSync restarted(adopted, SyncOptions{.node_name = "node-1"});
  restarted.BeginStream();
  maps_.log.clear();
  ASSERT_TRUE(restarted.OnNodeInfo(Node("zone-a")).ok());
  ASSERT_TRUE(restarted.OnClusters({ClusterOf(echo)}, {}, false).ok());
  EXPECT_THAT(maps_.log, IsEmpty());
  ASSERT_TRUE(restarted.OnAssignments({AssignmentOf(echo)}, {}).ok());
  EXPECT_EQ(maps_.services.size(), 1u);
  EXPECT_EQ(*adopted.ServiceId("10.96.0.10", 80, datapath::Protocol::kTcp), echo_id)
      << "the surviving service keeps its id";
  EXPECT_EQ(std::count(maps_.log.begin(), maps_.log.end(), "service-"), 1);
}

TEST_F(ServiceSyncTest, AZoneFromTheFlagWinsAndAZoneChangeRewritesTheNode) {
  datapath::testing::FakeMaps other_maps;
  datapath::ServiceTable other_table(other_maps, [this] { return now_ns_; });
  ServiceSync pinned(other_table, SyncOptions{.node_name = "node-1", .zone = "zone-z"});
  pinned.BeginStream();
  // No NodeInfo needed when the zone is given.
  ASSERT_TRUE(pinned.OnClusters({}, {}, false).ok());
  EXPECT_TRUE(pinned.State().synced);
  ASSERT_TRUE(pinned.OnNodeInfo(Node("zone-a")).ok());
  EXPECT_EQ(pinned.State().zone, "zone-z");

  Deliver({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")})}, "zone-a");
  const std::uint16_t zone_a = maps_.node.zone_id;
  ASSERT_TRUE(sync_.OnNodeInfo(Node("zone-b")).ok());
  EXPECT_NE(maps_.node.zone_id, zone_a);
  EXPECT_EQ(sync_.State().zone, "zone-b");
  ASSERT_TRUE(sync_.OnNodeInfo(std::nullopt).ok());
  EXPECT_EQ(maps_.node.zone_id, 0) << "a node the control plane forgot has an unknown zone";
}

TEST_F(ServiceSyncTest, StateOfTheWorldClustersRemoveWhatTheyOmit) {
  xds::ServicePort echo = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
  xds::ServicePort web = Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")});
  Deliver({echo, web});
  ASSERT_TRUE(sync_.OnClusters({ClusterOf(echo)}, {}, true).ok());
  EXPECT_EQ(maps_.services.size(), 1u);
}

}  // namespace
}  // namespace skewless::agent

namespace skewless::agent {
namespace {

// What /debug/clusters serves the splicer: the steered clusters' names by VIP and port,
// so the cluster its load reports name is the one the control plane serves.
TEST(ServiceSyncTargets, NameEverySteeredClusterWithItsVipsAndPort) {
  std::uint64_t now_ns = 1'000'000;
  datapath::testing::FakeMaps maps;
  datapath::ServiceTable table{maps, [&] { return now_ns; }};
  ServiceSync sync{table, SyncOptions{.node_name = "node-1"}};
  const xds::ServicePort echo =
      testing::Port("echo", {"10.96.0.10", "fd00::10"}, {testing::Pod("10.0.0.1")});
  const xds::ServicePort headless = testing::Port("db", {}, {testing::Pod("10.0.0.2")});
  sync.BeginStream();
  skewless::agent::v1::NodeInfo node;
  node.set_name("node-1");
  ASSERT_TRUE(sync.OnNodeInfo(node).ok());
  ASSERT_TRUE(
      sync.OnClusters({testing::ClusterOf(echo), testing::ClusterOf(headless)}, {}, false).ok());
  const std::vector<ClusterTarget> targets = sync.SteeredTargets();
  ASSERT_EQ(targets.size(), 1u) << "a headless Service has no VIP to name";
  EXPECT_EQ(targets[0].name, "default/echo:80");
  EXPECT_THAT(targets[0].vips, ::testing::ElementsAre("10.96.0.10", "fd00::10"));
  EXPECT_EQ(targets[0].port, 80);
}

}  // namespace
}  // namespace skewless::agent
