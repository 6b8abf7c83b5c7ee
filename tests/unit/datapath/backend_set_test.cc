// Backend set building: kube-proxy's topology and terminating rules, slot order, errors.
#include "skewless/datapath/backend_set.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/common/net.h"

namespace skewless::datapath {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Endpoint Ready(std::string address, std::string zone = "", std::string node = "") {
  return Endpoint{.address = std::move(address),
                  .port = 8080,
                  .zone = std::move(zone),
                  .node_name = std::move(node)};
}

Endpoint Terminating(std::string address, bool serving = true) {
  return Endpoint{.address = std::move(address),
                  .port = 8080,
                  .ready = false,
                  .serving = serving,
                  .terminating = true};
}

std::vector<std::string> Addresses(const BackendSet& set) {
  std::vector<std::string> out;
  for (const SetMember& member : set.members)
    out.push_back(net::FormatSkwAddr(member.backend.addr));
  return out;
}

const NodeLocality kNodeA{.zone = "zone-a", .node_name = "node-1"};

TEST(ParseAddressTest, StoresIpv4AsV4MappedInNetworkOrder) {
  absl::StatusOr<skw_addr> addr = net::ParseSkwAddr("10.1.2.3");
  ASSERT_TRUE(addr.ok()) << addr.status();
  EXPECT_EQ(addr->words[0], 0u);
  EXPECT_EQ(addr->words[1], 0u);
  EXPECT_EQ(addr->words[2], htonl(0xffff));
  EXPECT_EQ(addr->words[3], htonl(0x0a010203));
  EXPECT_EQ(net::FormatSkwAddr(*addr), "10.1.2.3");
}

TEST(ParseAddressTest, StoresIpv6AsIs) {
  absl::StatusOr<skw_addr> addr = net::ParseSkwAddr("2001:db8::7");
  ASSERT_TRUE(addr.ok()) << addr.status();
  EXPECT_EQ(addr->words[0], htonl(0x20010db8));
  EXPECT_EQ(addr->words[3], htonl(7));
  EXPECT_EQ(net::FormatSkwAddr(*addr), "2001:db8::7");
}

TEST(ParseAddressTest, RejectsHostnamesAndScopedAddresses) {
  EXPECT_FALSE(net::ParseSkwAddr("pod.local").ok());
  EXPECT_FALSE(net::ParseSkwAddr("fe80::1%eth0").ok());
  EXPECT_FALSE(net::ParseSkwAddr("").ok());
}

TEST(BuildBackendSetTest, WithoutTrafficDistributionEveryReadyEndpointIsOneTierSortedByAddress) {
  absl::StatusOr<BackendSet> set = BuildBackendSet(
      {Ready("10.0.0.3", "zone-a"), Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-a")},
      TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.1", "10.0.0.2", "10.0.0.3"));
  EXPECT_EQ(set->n_preferred, 0);
  EXPECT_EQ(set->n_ready, 3);
  EXPECT_EQ(set->n_serving, 0);
}

TEST(BuildBackendSetTest, PreferSameZonePutsSameZoneReadyEndpointsFirst) {
  absl::StatusOr<BackendSet> set = BuildBackendSet(
      {Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-a"), Ready("10.0.0.3", "zone-a")},
      TrafficDistribution::kPreferSameZone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.2", "10.0.0.3", "10.0.0.1"));
  EXPECT_EQ(set->n_preferred, 2);
  EXPECT_EQ(set->n_ready, 3);
}

TEST(BuildBackendSetTest, PreferCloseIsTheSameAsPreferSameZone) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-a")},
                      TrafficDistribution::kPreferClose, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.2", "10.0.0.1"));
  EXPECT_EQ(set->n_preferred, 1);
}

TEST(BuildBackendSetTest, ZonesAreIgnoredUnlessEveryReadyEndpointHasOne) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "")},
                      TrafficDistribution::kPreferSameZone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_preferred, 0);
  EXPECT_EQ(set->n_ready, 2);
}

TEST(BuildBackendSetTest, AZonelessTerminatingEndpointDoesNotDisableZonePreference) {
  Endpoint terminating = Terminating("10.0.0.9");
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "zone-b"), terminating},
                      TrafficDistribution::kPreferSameZone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_preferred, 1);
}

TEST(BuildBackendSetTest, NoReadyEndpointInOurZoneMeansNoPreferredTier) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-b"), Ready("10.0.0.2", "zone-c")},
                      TrafficDistribution::kPreferSameZone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_preferred, 0);
}

TEST(BuildBackendSetTest, ANodeWithoutZoneGetsNoPreferredTier) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-a")}, TrafficDistribution::kPreferSameZone,
                      NodeLocality{.zone = "", .node_name = "node-1"});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_preferred, 0);
}

TEST(BuildBackendSetTest, PreferSameNodePrefersEndpointsOnThisNode) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "zone-a", "node-2"), Ready("10.0.0.2", "zone-a", "node-1"),
                       Ready("10.0.0.3", "zone-b", "node-3")},
                      TrafficDistribution::kPreferSameNode, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.2", "10.0.0.1", "10.0.0.3"));
  EXPECT_EQ(set->n_preferred, 1);
}

TEST(BuildBackendSetTest, PreferSameNodeFallsBackToSameZone) {
  absl::StatusOr<BackendSet> set = BuildBackendSet(
      {Ready("10.0.0.1", "zone-a", "node-2"), Ready("10.0.0.3", "zone-b", "node-3")},
      TrafficDistribution::kPreferSameNode, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.1", "10.0.0.3"));
  EXPECT_EQ(set->n_preferred, 1);
}

TEST(BuildBackendSetTest, PreferSameNodeFallsBackToNoPreferenceWithoutZones) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1", "", "node-2"), Ready("10.0.0.3", "zone-a", "node-3")},
                      TrafficDistribution::kPreferSameNode, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_preferred, 0);
}

TEST(BuildBackendSetTest, ServingTerminatingEndpointsComeAfterEveryReadyOne) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Terminating("10.0.0.1"), Ready("10.0.0.5"), Terminating("10.0.0.2", false)},
                      TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Addresses(*set), ElementsAre("10.0.0.5", "10.0.0.1"));
  EXPECT_EQ(set->n_ready, 1);
  EXPECT_EQ(set->n_serving, 1);
  EXPECT_EQ(set->members[1].state, SKW_BACKEND_SERVING);
}

TEST(BuildBackendSetTest, OnlyTerminatingEndpointsFormTheFallbackTier) {
  absl::StatusOr<BackendSet> set = BuildBackendSet(
      {Terminating("10.0.0.1"), Terminating("10.0.0.2")}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_ready, 0);
  EXPECT_EQ(set->n_serving, 2);
}

TEST(BuildBackendSetTest, ReadyWhileTerminatingIsReadyAsInKubeProxy) {
  // publishNotReadyAddresses: the EndpointSlice controller keeps terminating pods ready.
  Endpoint published = Ready("10.0.0.1");
  published.terminating = true;
  published.serving = false;
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({published, Terminating("10.0.0.2")}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->n_ready, 1);
  EXPECT_EQ(set->n_serving, 1);
  EXPECT_EQ(set->members[0].state, SKW_BACKEND_READY);
}

TEST(BuildBackendSetTest, NotReadyNotServingEndpointsAreLeftOut) {
  Endpoint down = Ready("10.0.0.1");
  down.ready = false;
  down.serving = false;
  absl::StatusOr<BackendSet> set = BuildBackendSet({down}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->members.empty());
}

TEST(BuildBackendSetTest, ADuplicateAddressCountsOnceWithItsBestCondition) {
  Endpoint twice = Ready("10.0.0.1");
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Terminating("10.0.0.1"), twice}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->members.size(), 1u);
  EXPECT_EQ(set->n_ready, 1);
}

TEST(BuildBackendSetTest, SamePortOnDifferentAddressesAndViceVersaAreDistinct) {
  Endpoint other_port = Ready("10.0.0.1");
  other_port.port = 9090;
  absl::StatusOr<BackendSet> set = BuildBackendSet(
      {Ready("10.0.0.1"), other_port, Ready("fd00::1")}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->members.size(), 3u);
  EXPECT_EQ(set->members[0].backend.port, 8080);
  EXPECT_EQ(set->members[1].backend.port, 9090);
}

TEST(BuildBackendSetTest, KeepsWeightAndZone) {
  Endpoint heavy = Ready("10.0.0.1", "zone-a");
  heavy.weight = 300;
  absl::StatusOr<BackendSet> set = BuildBackendSet({heavy}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->members[0].weight, 300);
  EXPECT_EQ(set->members[0].zone, "zone-a");
}

TEST(BuildBackendSetTest, NoEndpointsGiveAnEmptySet) {
  absl::StatusOr<BackendSet> set = BuildBackendSet({}, TrafficDistribution::kNone, kNodeA);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(set->members.empty());
}

TEST(BuildBackendSetTest, NamesAnUnparsableAddress) {
  absl::StatusOr<BackendSet> set =
      BuildBackendSet({Ready("10.0.0.1"), Ready("10.0.0.300")}, TrafficDistribution::kNone, kNodeA);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(), HasSubstr("endpoint #1"));
  EXPECT_THAT(set.status().message(), HasSubstr("10.0.0.300"));
}

TEST(BuildBackendSetTest, NamesAnEndpointWithPortZero) {
  Endpoint no_port = Ready("10.0.0.2");
  no_port.port = 0;
  absl::StatusOr<BackendSet> set = BuildBackendSet({no_port}, TrafficDistribution::kNone, kNodeA);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(), HasSubstr("10.0.0.2"));
  EXPECT_THAT(set.status().message(), HasSubstr("port 0"));
}

TEST(BuildBackendSetTest, RefusesMoreBackendsThanASetHolds) {
  std::vector<Endpoint> endpoints;
  for (std::size_t i = 0; i <= kMaxBackendsPerSet; ++i) {
    endpoints.push_back(Ready(absl::StrCat("10.1.", i / 256, ".", i % 256)));
  }
  absl::StatusOr<BackendSet> set = BuildBackendSet(endpoints, TrafficDistribution::kNone, kNodeA);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(set.status().message(), HasSubstr("4097 usable endpoints"));
  endpoints.pop_back();
  EXPECT_TRUE(BuildBackendSet(endpoints, TrafficDistribution::kNone, kNodeA).ok());
}

}  // namespace
}  // namespace skewless::datapath
