// Joining services, sets, backends and loads; parsing VIP:port; the names of enum values.
#include "skewless/ctl/service_view.h"

#include <arpa/inet.h>

#include "ctl_test_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::ctl {
namespace {

using datapath::TrafficDistribution;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Ready;
using testing::Terminating;
using testing::TestNode;

TEST(CtlParseServiceKey, TakesIpv4AndBracketedIpv6) {
  absl::StatusOr<skw_service_key> v4 = ParseServiceKey("10.96.0.10:80", "tcp");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(ntohs(v4->port), 80);
  EXPECT_EQ(v4->proto, IPPROTO_TCP);
  EXPECT_EQ(ServiceLabel(*v4), "10.96.0.10:80/tcp");
  absl::StatusOr<skw_service_key> v6 = ParseServiceKey("[fd00::10]:53", "UDP");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(ServiceLabel(*v6), "[fd00::10]:53/udp");
}

TEST(CtlParseServiceKey, ErrorsNameWhatIsWrong) {
  struct Case {
    std::string text;
    std::string proto;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"10.96.0.10", "tcp", "missing port"},
           {"10.96.0.10:0", "tcp", "port 0 is not a Service port (1-65535)"},
           {"10.96.0.10:70000", "tcp", "port 70000 out of range"},
           {"10.96.0.10:http", "tcp", "port \"http\" is not a decimal number"},
           {"fd00::10:80", "tcp", "an IPv6 address must be in brackets"},
           {"cart:80", "tcp", "\"cart\" is not an IP address"},
           {"10.96.0.10:80", "sctp", "--proto sctp"},
       }) {
    absl::StatusOr<skw_service_key> key = ParseServiceKey(c.text, c.proto);
    ASSERT_FALSE(key.ok()) << c.text;
    EXPECT_THAT(key.status().message(), HasSubstr(c.error)) << c.text;
  }
}

TEST(CtlServiceViews, OrdersByFamilyAddressPortAndJoinsSlots) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 443, {Ready("10.0.0.1", "zone-a")});
  node.Add("fd00::10", 80, {});
  node.Add("10.96.0.9", 80,
           {Ready("10.0.0.1", "zone-a"), Ready("10.0.1.1", "zone-b"), Terminating("10.0.0.3")},
           TrafficDistribution::kPreferClose);
  node.Add("10.96.0.10", 80, {Ready("10.0.0.2", "zone-a")});
  node.SetActive("10.0.1.1", 4);
  const std::vector<ServiceView> views = BuildServiceViews(node.State());
  std::vector<std::string> labels;
  for (const ServiceView& view : views) labels.push_back(ServiceLabel(view.key));
  EXPECT_THAT(labels, ElementsAre("10.96.0.9:80/tcp", "10.96.0.10:80/tcp", "10.96.0.10:443/tcp",
                                  "[fd00::10]:80/tcp"));
  const ServiceView& preferring = views[0];
  EXPECT_TRUE(preferring.prefer_local());
  EXPECT_TRUE(preferring.has_set);
  ASSERT_EQ(preferring.slots.size(), 3u);
  EXPECT_EQ(preferring.slots[0].tier, Tier::kPreferred);
  EXPECT_EQ(BackendLabel(*preferring.slots[0].backend), "10.0.0.1:8080");
  EXPECT_EQ(preferring.slots[1].tier, Tier::kReady);
  EXPECT_EQ(preferring.slots[1].load.active_conns, 4u);
  EXPECT_EQ(preferring.slots[2].tier, Tier::kTerminating);
  EXPECT_EQ(BackendStateName(preferring.slots[2].backend->state), "serving");
  EXPECT_TRUE(views[3].slots.empty());
}

TEST(CtlServiceViews, AServiceWithoutASetSaysSo) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1")});
  DatapathState state = node.State();
  state.maps.sets.clear();
  const std::vector<ServiceView> views = BuildServiceViews(state);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_FALSE(views[0].has_set);
  EXPECT_TRUE(views[0].slots.empty());
}

TEST(CtlBackendViews, ListsTheServicesOfEachBackend) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1"), Ready("10.0.0.2")});
  node.Add("10.96.0.11", 80, {Ready("10.0.0.1")});
  const std::vector<BackendView> views = BuildBackendViews(node.State());
  ASSERT_EQ(views.size(), 2u);
  const BackendView& shared = views[0].id == node.IdOf("10.0.0.1") ? views[0] : views[1];
  std::vector<std::string> services;
  for (const skw_service_key& key : shared.services) services.push_back(ServiceLabel(key));
  EXPECT_THAT(services, ElementsAre("10.96.0.10:80/tcp", "10.96.0.11:80/tcp"));
}

TEST(CtlNames, ReasonsMatchTheAbiEnum) {
  EXPECT_EQ(ReasonName(SKW_REASON_NONE), "refused");
  EXPECT_EQ(ReasonName(SKW_REASON_P2C_PREFERRED), "p2c-preferred");
  EXPECT_EQ(ReasonName(SKW_REASON_SPILL_OVERLOAD), "spill-overload");
  EXPECT_EQ(ReasonName(SKW_REASON_SPLICED), "spliced");
  EXPECT_EQ(ReasonName(SKW_REASON_RANDOM), "random");
  EXPECT_EQ(ReasonName(SKW_REASON_LEAST_LOADED), "least-loaded");
  EXPECT_EQ(ReasonName(SKW_REASON_COUNT), "reason-11");
  EXPECT_EQ(ProtocolName(IPPROTO_UDP), "udp");
  EXPECT_EQ(BackendStateName(SKW_BACKEND_EJECTED), "ejected");
}

}  // namespace
}  // namespace skewless::ctl
