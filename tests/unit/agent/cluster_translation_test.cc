// Cluster metadata and load assignments, as the control plane builds them, into specs.
#include "skewless/agent/cluster_translation.h"

#include <tuple>

#include "agent_fixtures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::agent {
namespace {

using testing::AssignmentOf;
using testing::ClusterOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Pod;
using testing::Port;

TEST(TargetOfCluster, ReadsTheServicePortFromTheMetadata) {
  xds::ServicePort port = Port("echo", {"10.96.0.10", "fd00::10"}, {});
  port.protocol = "UDP";
  port.app_protocol = "grpc";
  port.traffic_distribution = "PreferSameNode";
  absl::StatusOr<ClusterTarget> target = TargetOfCluster(ClusterOf(port));
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(target->name, "default/echo:80");
  EXPECT_THAT(target->vips, ElementsAre("10.96.0.10", "fd00::10"));
  EXPECT_EQ(target->port, 80);
  EXPECT_EQ(target->protocol, datapath::Protocol::kUdp);
  EXPECT_EQ(target->app_protocol, "grpc");
  EXPECT_EQ(target->traffic_distribution, datapath::TrafficDistribution::kPreferSameNode);
  EXPECT_EQ(target->skip_reason, "");
}

TEST(TargetOfCluster, HeadlessAndSctpAreNotSteered) {
  auto headless = TargetOfCluster(ClusterOf(Port("db", {"None"}, {})));
  ASSERT_TRUE(headless.ok()) << headless.status();
  EXPECT_THAT(headless->skip_reason, HasSubstr("headless"));
  xds::ServicePort sctp = Port("sig", {"10.96.0.11"}, {});
  sctp.protocol = "SCTP";
  auto skipped = TargetOfCluster(ClusterOf(sctp));
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_THAT(skipped->skip_reason, HasSubstr("SCTP"));
  EXPECT_TRUE(SpecsOf(*skipped, {}, 0).empty());
}

TEST(TargetOfCluster, BadMetadataIsNamed) {
  envoy::config::cluster::v3::Cluster cluster = ClusterOf(Port("echo", {"10.96.0.10"}, {}));
  auto& fields =
      *(*cluster.mutable_metadata()->mutable_filter_metadata())["skewless.io"].mutable_fields();
  fields["port"].set_number_value(70000);
  EXPECT_THAT(std::string(TargetOfCluster(cluster).status().message()),
              HasSubstr("cluster default/echo:80: metadata skewless.io: port"));
  fields["port"].set_number_value(80);
  fields["cluster_ips"].mutable_list_value()->add_values()->set_string_value("10.96.0.x");
  EXPECT_THAT(std::string(TargetOfCluster(cluster).status().message()), HasSubstr("10.96.0.x"));
  cluster.mutable_metadata()->mutable_filter_metadata()->clear();
  EXPECT_THAT(std::string(TargetOfCluster(cluster).status().message()), HasSubstr("missing"));
}

TEST(EndpointsOfAssignment, HealthZoneNodeAndWeightSurvive) {
  xds::Endpoint ready = Pod("10.0.0.1", "zone-a");
  ready.node_name = "node-1";
  ready.weight = 3;
  xds::Endpoint draining = Pod("10.0.0.2", "zone-b", false);
  draining.serving = true;
  draining.terminating = true;
  xds::Endpoint down = Pod("10.0.0.3", "zone-b", false);
  auto endpoints =
      EndpointsOfAssignment(AssignmentOf(Port("echo", {"10.96.0.10"}, {ready, draining, down})));
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  ASSERT_EQ(endpoints->size(), 3u);
  std::map<std::string, AssignedEndpoint> by_address;
  for (const auto& endpoint : *endpoints) by_address[endpoint.addresses.front()] = endpoint;
  const AssignedEndpoint& a = by_address.at("10.0.0.1");
  EXPECT_TRUE(a.ready);
  EXPECT_EQ(a.zone, "zone-a");
  EXPECT_EQ(a.node_name, "node-1");
  EXPECT_EQ(a.weight, 3);
  EXPECT_EQ(a.port, 8080);
  const AssignedEndpoint& b = by_address.at("10.0.0.2");
  EXPECT_FALSE(b.ready);
  EXPECT_TRUE(b.serving);
  EXPECT_TRUE(b.terminating);
  const AssignedEndpoint& c = by_address.at("10.0.0.3");
  EXPECT_FALSE(c.ready);
  EXPECT_FALSE(c.serving);
}

TEST(EndpointsOfAssignment, ABadEndpointIsNamed) {
  auto assignment = AssignmentOf(Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")}));
  assignment.mutable_endpoints(0)
      ->mutable_lb_endpoints(0)
      ->mutable_load_balancing_weight()
      ->set_value(70000);
  auto endpoints = EndpointsOfAssignment(assignment);
  EXPECT_THAT(std::string(endpoints.status().message()),
              HasSubstr("endpoints of default/echo:80: locality #0 endpoint #0: 10.0.0.1: weight"));
}

TEST(SpecsOf, EachVipTakesTheAddressesOfItsFamily) {
  xds::Endpoint dual = Pod("10.0.0.1");
  dual.addresses.push_back("fd00::1");
  xds::Endpoint v4_only = Pod("10.0.0.2");
  xds::ServicePort port = Port("echo", {"10.96.0.10", "fd00::10"}, {dual, v4_only});
  auto target = TargetOfCluster(ClusterOf(port));
  auto endpoints = EndpointsOfAssignment(AssignmentOf(port));
  ASSERT_TRUE(target.ok() && endpoints.ok());
  std::vector<datapath::ServiceSpec> specs = SpecsOf(*target, *endpoints, 5000);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].vip, "10.96.0.10");
  EXPECT_EQ(specs[0].endpoints.size(), 2u);
  EXPECT_EQ(specs[0].slow_start_window_ms, 5000u);
  EXPECT_EQ(specs[1].vip, "fd00::10");
  ASSERT_EQ(specs[1].endpoints.size(), 1u);
  EXPECT_EQ(specs[1].endpoints[0].address, "fd00::1");
}

TEST(SpecsOf, Http2PortsAreSplicedAndOthersAreNot) {
  for (const auto& [app_protocol, udp, spliced] :
       std::vector<std::tuple<std::string, bool, bool>>{{"kubernetes.io/h2c", false, true},
                                                        {"grpc", false, true},
                                                        {"h2c", false, true},
                                                        {"http", false, false},
                                                        {"", false, false},
                                                        {"grpc", true, false}}) {
    xds::ServicePort port = Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")});
    port.app_protocol = app_protocol;
    if (udp) port.protocol = "UDP";
    auto target = TargetOfCluster(ClusterOf(port));
    auto endpoints = EndpointsOfAssignment(AssignmentOf(port));
    ASSERT_TRUE(target.ok() && endpoints.ok());
    std::vector<datapath::ServiceSpec> specs = SpecsOf(*target, *endpoints, 0);
    ASSERT_EQ(specs.size(), 1u);
    EXPECT_EQ(specs[0].splice, spliced) << app_protocol << (udp ? " UDP" : " TCP");
  }
}

}  // namespace
}  // namespace skewless::agent
