// The xds view of resources the control plane's own builders make (resources.h), so a
// change to the metadata or endpoint layout there breaks this test, not the CLI silently.
#include "skewless/ctl/xds_view.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/xds/resources.h"

namespace skewless::ctl {
namespace {

using ::testing::ElementsAre;

xds::ServicePort Cart() {
  xds::ServicePort port{.namespace_name = "shop",
                        .name = "cart",
                        .port_name = "grpc",
                        .port = 80,
                        .protocol = "TCP",
                        .app_protocol = "grpc",
                        .cluster_ips = {"10.96.0.10", "fd00::10"},
                        .traffic_distribution = "PreferClose"};
  port.endpoints.push_back({.addresses = {"10.0.0.7", "fd00::7"},
                            .port = 8080,
                            .zone = "zone-a",
                            .node_name = "node-a",
                            .weight = 3});
  port.endpoints.push_back({.addresses = {"10.0.1.7"},
                            .port = 8080,
                            .zone = "zone-b",
                            .ready = false,
                            .serving = true,
                            .terminating = true});
  return port;
}

XdsSnapshot SnapshotOf(const xds::ServicePort& port, bool with_endpoints) {
  XdsSnapshot snapshot{.server = "127.0.0.1:18000", .node_id = "node-a"};
  snapshot.clusters.push_back(*xds::BuildCluster(port));
  if (with_endpoints) {
    auto assignment = xds::BuildLoadAssignment(port);
    snapshot.assignments[assignment->cluster_name()] = *assignment;
  }
  snapshot.node.emplace();
  snapshot.node->set_name("node-a");
  snapshot.node->set_zone("zone-a");
  return snapshot;
}

TEST(CtlXdsView, ReadsTheSkewlessMetadataOfAControlPlaneCluster) {
  const XdsView view = BuildXdsView(SnapshotOf(Cart(), true));
  EXPECT_TRUE(view.node_known);
  EXPECT_EQ(view.node_zone, "zone-a");
  ASSERT_EQ(view.clusters.size(), 1u);
  const XdsClusterView& cluster = view.clusters[0];
  EXPECT_EQ(cluster.name, "shop/cart:grpc");
  EXPECT_THAT(cluster.cluster_ips, ElementsAre("10.96.0.10", "fd00::10"));
  EXPECT_EQ(cluster.port, 80u);
  EXPECT_EQ(cluster.protocol, "TCP");
  EXPECT_EQ(cluster.app_protocol, "grpc");
  EXPECT_EQ(cluster.traffic_distribution, "PreferClose");
}

TEST(CtlXdsView, ReadsEndpointsWithZoneNodeHealthAndWeight) {
  const XdsView view = BuildXdsView(SnapshotOf(Cart(), true));
  const XdsClusterView& cluster = view.clusters.at(0);
  EXPECT_TRUE(cluster.endpoints_received);
  ASSERT_EQ(cluster.endpoints.size(), 2u);
  const XdsEndpointView& ready = cluster.endpoints[0];
  EXPECT_EQ(ready.address, "10.0.0.7");
  EXPECT_THAT(ready.additional_addresses, ElementsAre("fd00::7"));
  EXPECT_EQ(ready.port, 8080u);
  EXPECT_EQ(ready.zone, "zone-a");
  EXPECT_EQ(ready.node_name, "node-a");
  EXPECT_EQ(ready.health, "HEALTHY");
  EXPECT_EQ(ready.weight, 3u);
  EXPECT_EQ(cluster.endpoints[1].health, "DRAINING");
  EXPECT_EQ(cluster.endpoints[1].zone, "zone-b");
}

TEST(CtlXdsView, AClusterWhoseEndpointsDidNotComeSaysSo) {
  const XdsView view = BuildXdsView(SnapshotOf(Cart(), false));
  EXPECT_FALSE(view.clusters.at(0).endpoints_received);
  EXPECT_TRUE(view.clusters.at(0).endpoints.empty());
}

}  // namespace
}  // namespace skewless::ctl
