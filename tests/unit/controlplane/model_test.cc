// The snapshot model: Kubernetes condition rules, the EndpointSlice merge, canonical order.
#include "skewless/controlplane/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skewless/common/net.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

TEST(Conditions, UnsetConditionsTakeTheApiDefaults) {
  // discovery/v1: nil ready and nil serving mean true, nil terminating means false.
  EXPECT_EQ(MakeConditions(std::nullopt, std::nullopt, std::nullopt),
            (EndpointConditions{.ready = true, .serving = true, .terminating = false}));
  EXPECT_EQ(MakeConditions(std::nullopt, std::nullopt, true),
            (EndpointConditions{.ready = true, .serving = true, .terminating = true}));
  EXPECT_EQ(MakeConditions(false, std::nullopt, std::nullopt),
            (EndpointConditions{.ready = false, .serving = true, .terminating = false}));
}

TEST(Conditions, EveryCombinationIsKeptAsWritten) {
  // The API server validates none of them against the others, and the EndpointSlice
  // controller writes ready with terminating and ready without serving for Services
  // with publishNotReadyAddresses.
  for (bool ready : {false, true}) {
    for (bool serving : {false, true}) {
      for (bool terminating : {false, true}) {
        EXPECT_EQ(MakeConditions(ready, serving, terminating),
                  (EndpointConditions{ready, serving, terminating}))
            << ready << serving << terminating;
      }
    }
  }
}

TEST(Conditions, UsabilityIsKubeProxys) {
  struct Case {
    EndpointConditions conditions;
    Usability usability;
  };
  const Case cases[] = {
      // ready decides first, whatever serving and terminating say
      {{true, true, false}, Usability::kReady},
      {{true, true, true}, Usability::kReady},    // publishNotReadyAddresses, draining pod
      {{true, false, true}, Usability::kReady},   // publishNotReadyAddresses, draining, unready
      {{true, false, false}, Usability::kReady},  // publishNotReadyAddresses, unready pod
      // then serving && terminating: the fallback while nothing is ready
      {{false, true, true}, Usability::kServingTerminating},
      // then nothing
      {{false, false, true}, Usability::kUnusable},
      {{false, true, false}, Usability::kUnusable},
      {{false, false, false}, Usability::kUnusable},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(UsabilityOf(c.conditions), c.usability)
        << c.conditions.ready << c.conditions.serving << c.conditions.terminating;
  }
}

TEST(Weight, ParsesOnlyPlainIntegersInRange) {
  EXPECT_EQ(*ParseWeight("1"), 1);
  EXPECT_EQ(*ParseWeight("65535"), 65535);
  for (const char* bad : {"", "0", "65536", "-5", " 5", "5x", "1e3"}) {
    EXPECT_FALSE(ParseWeight(bad).ok()) << bad;
  }
}

// The model's addresses are declared ones: net::CanonicalIp with the mapped form refused.
TEST(Ip, CanonicalizesAndRefusesNonLiterals) {
  EXPECT_EQ(*net::CanonicalIp("10.0.0.1", net::V4Mapped::kRefuse), "10.0.0.1");
  EXPECT_EQ(*net::CanonicalIp("FD00:0:0::1", net::V4Mapped::kRefuse), "fd00::1");
  for (const char* bad :
       {"10.0.0", "10.0.0.256", "010.0.0.1", "fe80::1%eth0", "::ffff:10.0.0.1", "host", ""}) {
    EXPECT_FALSE(net::CanonicalIp(bad, net::V4Mapped::kRefuse).ok()) << bad;
  }
  EXPECT_TRUE(net::IsIpv6Text("fd00::1"));
  EXPECT_FALSE(net::IsIpv6Text("10.0.0.1"));
}

TEST(Names, RoundTrip) {
  for (auto d : {TrafficDistribution::kNone, TrafficDistribution::kPreferClose,
                 TrafficDistribution::kPreferSameZone, TrafficDistribution::kPreferSameNode}) {
    EXPECT_EQ(*ParseTrafficDistribution(TrafficDistributionName(d)), d);
  }
  EXPECT_FALSE(ParseTrafficDistribution("preferclose").ok());
  EXPECT_EQ(*ParseProtocol("UDP"), Protocol::kUdp);
  EXPECT_FALSE(ParseProtocol("SCTP").ok());
  EXPECT_FALSE(ParseProtocol("tcp").ok());
}

const ServiceKey kEcho{"default", "echo"};

Endpoint MakeEndpoint(std::string address, EndpointConditions conditions, std::string zone = "") {
  Endpoint endpoint;
  endpoint.addresses = {std::move(address)};
  endpoint.conditions = conditions;
  endpoint.zone = std::move(zone);
  return endpoint;
}

EndpointSlice MakeSlice(std::string name, std::vector<Endpoint> endpoints,
                        std::uint16_t port = 8080) {
  return EndpointSlice{
      std::move(name), kEcho, {{"grpc", port, Protocol::kTcp}}, std::move(endpoints)};
}

constexpr EndpointConditions kReady{true, true, false};
constexpr EndpointConditions kServingTerminating{false, true, true};
constexpr EndpointConditions kGone{false, false, true};

TEST(Merge, SameAddressInTwoSlicesKeepsTheBestCondition) {
  // The endpoint is moving between slices: terminating in one, ready in the other.
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-a", {MakeEndpoint("10.0.0.1", kServingTerminating, "old")}),
      MakeSlice("echo-b", {MakeEndpoint("10.0.0.1", kReady, "new")}),
  };
  auto merged = MergeEndpointSlices(kEcho, slices);
  ASSERT_TRUE(merged.ok()) << merged.status();
  ASSERT_EQ(merged->size(), 1u);
  ASSERT_EQ((*merged)[0].endpoints.size(), 1u);
  EXPECT_EQ((*merged)[0].endpoints[0].endpoint.zone, "new");
  EXPECT_TRUE((*merged)[0].endpoints[0].endpoint.conditions.ready);
}

TEST(Merge, ServingBeatsNotServing) {
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-a", {MakeEndpoint("10.0.0.1", kGone, "gone")}),
      MakeSlice("echo-b", {MakeEndpoint("10.0.0.1", kServingTerminating, "serving")}),
  };
  auto merged = MergeEndpointSlices(kEcho, slices);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ((*merged)[0].endpoints[0].endpoint.zone, "serving");
}

TEST(Merge, TieGoesToTheSliceNamedFirstWhateverTheArrivalOrder) {
  std::vector<EndpointSlice> forward = {
      MakeSlice("echo-a", {MakeEndpoint("10.0.0.1", kReady, "from-a")}),
      MakeSlice("echo-b", {MakeEndpoint("10.0.0.1", kReady, "from-b")}),
  };
  std::vector<EndpointSlice> backward = {forward[1], forward[0]};
  auto one = MergeEndpointSlices(kEcho, forward);
  auto other = MergeEndpointSlices(kEcho, backward);
  ASSERT_TRUE(one.ok() && other.ok());
  EXPECT_EQ(*one, *other);
  EXPECT_EQ((*one)[0].endpoints[0].endpoint.zone, "from-a");
}

TEST(Merge, SameAddressOnAnotherPortIsAnotherEndpoint) {
  // A named targetPort can resolve to different numbers on different pods.
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-a", {MakeEndpoint("10.0.0.1", kReady)}, 8080),
      MakeSlice("echo-b", {MakeEndpoint("10.0.0.1", kReady)}, 9090),
  };
  auto merged = MergeEndpointSlices(kEcho, slices);
  ASSERT_TRUE(merged.ok());
  ASSERT_EQ((*merged)[0].endpoints.size(), 2u);
  EXPECT_EQ((*merged)[0].endpoints[0].port, 8080);
  EXPECT_EQ((*merged)[0].endpoints[1].port, 9090);
}

TEST(Merge, EndpointsAreSortedAndGroupedPerPort) {
  EndpointSlice slice =
      MakeSlice("echo-a", {MakeEndpoint("10.0.0.2", kReady), MakeEndpoint("10.0.0.1", kReady)});
  slice.ports.push_back({"metrics", 9100, Protocol::kTcp});
  auto merged = MergeEndpointSlices(kEcho, std::vector<EndpointSlice>{slice});
  ASSERT_TRUE(merged.ok());
  ASSERT_EQ(merged->size(), 2u);
  EXPECT_EQ((*merged)[0].port_name, "grpc");
  EXPECT_EQ((*merged)[1].port_name, "metrics");
  EXPECT_EQ((*merged)[0].endpoints[0].endpoint.addresses[0], "10.0.0.1");
  EXPECT_EQ((*merged)[0].endpoints[1].endpoint.addresses[0], "10.0.0.2");
}

Endpoint PodEndpoint(std::string address, std::string pod, EndpointConditions conditions = kReady) {
  Endpoint endpoint = MakeEndpoint(std::move(address), conditions);
  endpoint.target_ref = "Pod/default/" + pod + "/uid-" + pod;
  return endpoint;
}

TEST(Merge, APodInAnIpv4AndAnIpv6SliceIsOneEndpointPrimaryFamilyFirst) {
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-v4", {PodEndpoint("10.0.0.1", "echo-1"), PodEndpoint("10.0.0.2", "echo-2")}),
      MakeSlice("echo-v6", {PodEndpoint("fd00::1", "echo-1"), PodEndpoint("fd00::2", "echo-2")}),
  };
  auto v4_first = MergeEndpointSlices(kEcho, slices, /*primary_ipv6=*/false);
  auto v6_first = MergeEndpointSlices(kEcho, slices, /*primary_ipv6=*/true);
  ASSERT_TRUE(v4_first.ok() && v6_first.ok());
  ASSERT_EQ((*v4_first)[0].endpoints.size(), 2u);
  EXPECT_EQ((*v4_first)[0].endpoints[0].endpoint.addresses,
            (std::vector<std::string>{"10.0.0.1", "fd00::1"}));
  EXPECT_EQ((*v4_first)[0].endpoints[1].endpoint.addresses,
            (std::vector<std::string>{"10.0.0.2", "fd00::2"}));
  ASSERT_EQ((*v6_first)[0].endpoints.size(), 2u);
  EXPECT_EQ((*v6_first)[0].endpoints[0].endpoint.addresses,
            (std::vector<std::string>{"fd00::1", "10.0.0.1"}));
}

TEST(Merge, AJoinedPodTakesTheBetterConditionsOfItsTwoSlices) {
  // The controller has rewritten the IPv6 slice (the pod became ready) but not yet the
  // IPv4 one: it is one pod, and it is ready.
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-v4", {PodEndpoint("10.0.0.1", "echo-1", {false, false, false})}),
      MakeSlice("echo-v6", {PodEndpoint("fd00::1", "echo-1", kReady)}),
  };
  auto merged = MergeEndpointSlices(kEcho, slices);
  ASSERT_TRUE(merged.ok());
  ASSERT_EQ((*merged)[0].endpoints.size(), 1u);
  EXPECT_EQ((*merged)[0].endpoints[0].endpoint.addresses[0], "10.0.0.1");
  EXPECT_EQ((*merged)[0].endpoints[0].endpoint.conditions, kReady);
}

TEST(Merge, EndpointsWithoutATargetRefOrOnAnotherPortAreNotJoined) {
  std::vector<EndpointSlice> slices = {
      MakeSlice("echo-v4", {MakeEndpoint("10.0.0.1", kReady), PodEndpoint("10.0.0.2", "echo-2")},
                8080),
      MakeSlice("echo-v6", {MakeEndpoint("fd00::1", kReady), PodEndpoint("fd00::2", "echo-2")},
                9090),
  };
  auto merged = MergeEndpointSlices(kEcho, slices);
  ASSERT_TRUE(merged.ok());
  ASSERT_EQ((*merged)[0].endpoints.size(), 4u);
  for (const PortEndpoint& endpoint : (*merged)[0].endpoints) {
    EXPECT_EQ(endpoint.endpoint.addresses.size(), 1u);
  }
}

TEST(Merge, SliceOfAnotherServiceIsRefused) {
  EndpointSlice slice = MakeSlice("other-a", {});
  slice.service = {"default", "other"};
  auto merged = MergeEndpointSlices(kEcho, std::vector<EndpointSlice>{slice});
  EXPECT_THAT(merged.status().message(), HasSubstr("belongs to default/other"));
}

TEST(Snapshot, CanonicalOrderMakesEqualContentEqual) {
  Snapshot a;
  a.nodes = {{"node-b", "zone-b"}, {"node-a", "zone-a"}};
  a.services = {Service{.key = {"ns", "b"}}, Service{.key = {"default", "z"}}};
  a.endpoints = {ServicePortEndpoints{.service = {"ns", "b"}, .port_name = "p"},
                 ServicePortEndpoints{.service = {"default", "z"},
                                      .port_name = "p",
                                      .endpoints = {{80, MakeEndpoint("10.0.0.2", kReady)},
                                                    {80, MakeEndpoint("10.0.0.1", kReady)}}}};
  Snapshot b = a;
  std::reverse(b.nodes.begin(), b.nodes.end());
  std::reverse(b.services.begin(), b.services.end());
  std::reverse(b.endpoints.begin(), b.endpoints.end());
  EXPECT_NE(a, b);
  a.Canonicalize();
  b.Canonicalize();
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.nodes[0].name, "node-a");
  EXPECT_EQ(a.services[0].key.namespace_name, "default");
  EXPECT_EQ(a.endpoints[0].endpoints[0].endpoint.addresses[0], "10.0.0.1");
  ASSERT_NE(a.FindService({"ns", "b"}), nullptr);
  EXPECT_EQ(a.FindService({"ns", "c"}), nullptr);
  ASSERT_NE(a.FindNode("node-b"), nullptr);
  EXPECT_EQ(a.FindNode("node-c"), nullptr);
  EXPECT_NE(a.FindEndpoints({"ns", "b"}, "p"), nullptr);
  EXPECT_EQ(a.FindEndpoints({"ns", "b"}, "q"), nullptr);
}

}  // namespace
}  // namespace skewless::controlplane
