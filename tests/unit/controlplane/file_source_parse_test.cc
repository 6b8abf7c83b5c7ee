// The file source's YAML schema: good documents, and every class of error with its path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "skewless/controlplane/file_source.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Snapshot> Parse(const std::string& document) {
  return ParseSnapshotYaml(document, "test.yaml");
}

TEST(ParseSnapshotYaml, LabDefaultDocumentDescribesTheLab) {
  auto snapshot = ParseSnapshotYaml(kLabDefaultDocument, "<lab-default>");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->nodes.size(), 3u);
  ASSERT_EQ(snapshot->services.size(), 1u);
  const Service& echo = snapshot->services[0];
  EXPECT_EQ(ToString(echo.key), "default/echo");
  EXPECT_EQ(echo.cluster_ips, std::vector<std::string>{"198.19.0.10"});
  ASSERT_EQ(echo.ports.size(), 1u);
  EXPECT_EQ(echo.ports[0].port, 8080);
  EXPECT_EQ(echo.ports[0].app_protocol, "grpc");
  const ServicePortEndpoints* endpoints = snapshot->FindEndpoints(echo.key, "grpc");
  ASSERT_NE(endpoints, nullptr);
  ASSERT_EQ(endpoints->endpoints.size(), 6u);
  const char* zones[] = {"zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"};
  for (int i = 0; i < 6; ++i) {
    const PortEndpoint& pod = endpoints->endpoints[i];
    EXPECT_EQ(pod.endpoint.addresses[0], "198.18.0.1" + std::to_string(i));
    EXPECT_EQ(pod.port, 8080);
    EXPECT_EQ(pod.endpoint.zone, zones[i]) << "zone is copied from the node";
    EXPECT_TRUE(pod.endpoint.conditions.ready);
    EXPECT_EQ(pod.endpoint.weight, kDefaultWeight);
  }
}

constexpr char kFull[] = R"yaml(
nodes:
  - name: node-1
    zone: z1
  - name: node-2
services:
  - namespace: shop
    name: cart
    clusterIPs: ["fd00::0:10", 10.96.0.10]
    trafficDistribution: PreferSameNode
    annotations:
      skewless.io/opt-out: "false"
    ports:
      - name: grpc
        port: 80
        targetPort: 8080
        appProtocol: kubernetes.io/h2c
      - name: dns
        port: 53
        protocol: UDP
  - name: alpha
    clusterIPs: [10.96.0.1]
    ports: [{port: 443}]
endpointSlices:
  - namespace: shop
    service: cart
    name: cart-x
    endpoints:
      - addresses: [10.0.0.2, 10.0.0.3]
        nodeName: node-1
        hostname: cart-0
        conditions: {ready: false, serving: true, terminating: true}
        weight: 7
      - address: "fd00::2"
        zone: z9
        annotations: {skewless.io/weight: "300"}
      - address: 10.0.0.1
        conditions: {ready: false}
)yaml";

TEST(ParseSnapshotYaml, FullDocumentFillsEveryField) {
  auto snapshot = Parse(kFull);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->services.size(), 2u);
  EXPECT_EQ(ToString(snapshot->services[0].key), "default/alpha") << "sorted, namespace defaulted";
  EXPECT_EQ(snapshot->services[0].ports[0].target_port, 443) << "targetPort defaults to port";
  const Service& cart = snapshot->services[1];
  EXPECT_EQ(cart.cluster_ips, (std::vector<std::string>{"fd00::10", "10.96.0.10"}));
  EXPECT_EQ(cart.traffic_distribution, TrafficDistribution::kPreferSameNode);
  EXPECT_EQ(cart.annotations.at("skewless.io/opt-out"), "false");
  ASSERT_EQ(cart.ports.size(), 2u);
  EXPECT_EQ(cart.ports[0].target_port, 8080);
  EXPECT_EQ(cart.ports[0].app_protocol, "kubernetes.io/h2c");
  EXPECT_EQ(cart.ports[1].protocol, Protocol::kUdp);

  const ServicePortEndpoints* grpc = snapshot->FindEndpoints(cart.key, "grpc");
  ASSERT_NE(grpc, nullptr);
  ASSERT_EQ(grpc->endpoints.size(), 3u);
  const Endpoint& first = grpc->endpoints[0].endpoint;  // sorted by address
  EXPECT_EQ(first.addresses[0], "10.0.0.1");
  EXPECT_EQ(first.conditions, (EndpointConditions{false, true, false}))
      << "serving defaults to true";
  const Endpoint& terminating = grpc->endpoints[1].endpoint;
  EXPECT_EQ(terminating.addresses, (std::vector<std::string>{"10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(terminating.zone, "z1");
  EXPECT_EQ(terminating.hostname, "cart-0");
  EXPECT_EQ(terminating.weight, 7);
  EXPECT_EQ(terminating.conditions, (EndpointConditions{false, true, true}));
  EXPECT_EQ(grpc->endpoints[1].port, 8080);
  EXPECT_EQ(grpc->endpoints[2].endpoint.weight, 300);
  EXPECT_EQ(grpc->endpoints[2].endpoint.zone, "z9");
  const ServicePortEndpoints* dns = snapshot->FindEndpoints(cart.key, "dns");
  ASSERT_NE(dns, nullptr);
  EXPECT_EQ(dns->protocol, Protocol::kUdp);
  EXPECT_EQ(dns->endpoints[0].port, 53);
}

TEST(ParseSnapshotYaml, OrderOfTheDocumentDoesNotMatter) {
  auto one = Parse(R"yaml(
services:
  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}
  - {name: b, clusterIPs: [10.96.0.2], ports: [{port: 80}]}
endpointSlices:
  - {service: a, endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]}
)yaml");
  auto other = Parse(R"yaml(
endpointSlices:
  - {service: a, endpoints: [{address: 10.0.0.2}, {address: 10.0.0.1}]}
services:
  - {name: b, clusterIPs: [10.96.0.2], ports: [{port: 80}]}
  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}
)yaml");
  ASSERT_TRUE(one.ok() && other.ok());
  EXPECT_EQ(*one, *other);
}

TEST(ParseSnapshotYaml, SlicesOfOneServiceAreMerged) {
  auto snapshot = Parse(R"yaml(
services:
  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}
endpointSlices:
  - {service: a, name: a-old, endpoints: [{address: 10.0.0.1, conditions: {ready: false, terminating: true, serving: true}}]}
  - {service: a, name: a-new, endpoints: [{address: 10.0.0.1}, {address: 10.0.0.2}]}
)yaml");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* port = snapshot->FindEndpoints({"default", "a"}, "");
  ASSERT_NE(port, nullptr);
  ASSERT_EQ(port->endpoints.size(), 2u);
  EXPECT_TRUE(port->endpoints[0].endpoint.conditions.ready);
}

TEST(ParseSnapshotYaml, ConditionsAreTakenAsKubernetesWritesThem) {
  // What the EndpointSlice controller writes for a Service with publishNotReadyAddresses:
  // ready on a terminating pod, and on one that is not serving.
  auto snapshot = Parse(R"yaml(
services:
  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}
endpointSlices:
  - service: a
    endpoints:
      - {address: 10.0.0.1, conditions: {ready: true, serving: true, terminating: true}}
      - {address: 10.0.0.2, conditions: {ready: true, serving: false, terminating: true}}
      - {address: 10.0.0.3, conditions: {ready: true, serving: false, terminating: false}}
)yaml");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* port = snapshot->FindEndpoints({"default", "a"}, "");
  ASSERT_NE(port, nullptr);
  ASSERT_EQ(port->endpoints.size(), 3u);
  EXPECT_EQ(port->endpoints[0].endpoint.conditions, (EndpointConditions{true, true, true}));
  EXPECT_EQ(port->endpoints[1].endpoint.conditions, (EndpointConditions{true, false, true}));
  EXPECT_EQ(port->endpoints[2].endpoint.conditions, (EndpointConditions{true, false, false}));
}

TEST(ParseSnapshotYaml, EmptyMappingIsAnEmptySnapshot) {
  auto snapshot = Parse("{}");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(*snapshot, Snapshot{});
}

struct BadCase {
  const char* name;
  std::string document;
  std::string error;  // a substring the message must contain
};

// A valid base the cases below break one field of.
std::string Doc(const std::string& service_extra, const std::string& port = "port: 80",
                const std::string& endpoints = "[]", const std::string& top = "") {
  return "nodes: [{name: n1, zone: z1}]\n"
         "services:\n"
         "  - {name: ok, clusterIPs: [10.96.0.1], ports: [{port: 80}]}\n"
         "  - {name: other, clusterIPs: [10.96.0.2, \"fd00::2\"], ports: [{name: p, " +
         port + "}]" + service_extra + "}\n" +
         "endpointSlices:\n"
         "  - {service: other, endpoints: " +
         endpoints + "}\n" + top;
}

class ParseErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseErrors, NameTheExactPlace) {
  auto snapshot = Parse(GetParam().document);
  ASSERT_FALSE(snapshot.ok()) << "accepted:\n" << GetParam().document;
  EXPECT_THAT(std::string(snapshot.status().message()), HasSubstr(GetParam().error));
  EXPECT_THAT(std::string(snapshot.status().message()), ::testing::StartsWith("test.yaml"));
}

INSTANTIATE_TEST_SUITE_P(
    Schema, ParseErrors,
    ::testing::Values(
        BadCase{"NotYaml", "services: [", "test.yaml:1:"},
        BadCase{"EmptyDocument", "", "document is empty"},
        BadCase{"TopIsAList", "[1]", "(document): must be a mapping"},
        BadCase{"UnknownTopKey", "servicez: []", "servicez: unknown key"},
        BadCase{"DuplicateKey", "services: []\nservices: []", "services: duplicate key"},
        BadCase{"PortOutOfRange", Doc("", "port: 70000"), "test.yaml:4:"},
        BadCase{"PortOutOfRangePath", Doc("", "port: 70000"),
                "services[1].ports[0].port: 70000 is not a port (1-65535)"},
        BadCase{"PortZero", Doc("", "port: 0"), "services[1].ports[0].port: 0 is not a port"},
        BadCase{"PortQuoted", Doc("", "port: \"80\""),
                "services[1].ports[0].port: \"80\" is not an integer"},
        BadCase{"PortMissing", Doc("", "appProtocol: grpc"),
                "services[1].ports[0].port: is required"},
        BadCase{"TargetPortOutOfRange", Doc("", "port: 80, targetPort: 65536"),
                "services[1].ports[0].targetPort: 65536 is not a port"},
        BadCase{"UnknownPortKey", Doc("", "port: 80, nodePort: 30000"),
                "services[1].ports[0].nodePort: unknown key"},
        BadCase{"BadProtocol", Doc("", "port: 80, protocol: SCTP"),
                "services[1].ports[0].protocol: \"SCTP\" is not a protocol"},
        BadCase{"BadAppProtocol", Doc("", "port: 80, appProtocol: \"h 2\""),
                "services[1].ports[0].appProtocol"},
        BadCase{"UnnamedPortAmongSeveral",
                "services: [{name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}, {name: b, "
                "port: 81}]}]",
                "services[0].ports[0].name: is required when a service has several ports"},
        BadCase{"DuplicatePortName",
                "services: [{name: a, clusterIPs: [10.96.0.1], ports: [{name: b, port: 80}, "
                "{name: b, port: 81}]}]",
                "services[0].ports[1].name: port name \"b\" is already used at "
                "services[0].ports[0]"},
        BadCase{"DuplicatePortNumber",
                "services: [{name: a, clusterIPs: [10.96.0.1], ports: [{name: b, port: 80}, "
                "{name: c, port: 80}]}]",
                "services[0].ports[1].port: 80/TCP is already exposed at services[0].ports[0]"},
        BadCase{"NoPorts", "services: [{name: a, clusterIPs: [10.96.0.1], ports: []}]",
                "services[0].ports: must list at least one port"},
        BadCase{"UnknownServiceKey", Doc(", selector: {app: x}"),
                "services[1].selector: unknown key"},
        BadCase{"DuplicateServiceName",
                "services:\n  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}\n"
                "  - {namespace: default, name: a, clusterIPs: [10.96.0.2], ports: [{port: 80}]}",
                "services[1].name: service default/a is already defined at services[0]"},
        BadCase{"BadServiceName",
                "services: [{name: 9lives, clusterIPs: [10.96.0.1], ports: [{port: 80}]}]",
                "services[0].name: \"9lives\" is not a DNS label"},
        BadCase{"MissingServiceName", "services: [{clusterIPs: [10.96.0.1], ports: [{port: 80}]}]",
                "services[0].name: is required"},
        BadCase{"BadNamespace",
                "services: [{namespace: Prod, name: a, clusterIPs: [10.96.0.1], ports: [{port: "
                "80}]}]",
                "services[0].namespace: \"Prod\" is not a DNS label"},
        BadCase{"BadClusterIp",
                "services: [{name: a, clusterIPs: [10.96.0.300], ports: [{port: 80}]}]",
                "services[0].clusterIPs[0]: \"10.96.0.300\" is not an IP address"},
        BadCase{"HeadlessService", "services: [{name: a, clusterIPs: [None], ports: [{port: 80}]}]",
                "services[0].clusterIPs[0]: \"None\" is not an IP address"},
        BadCase{"NoClusterIp", "services: [{name: a, ports: [{port: 80}]}]",
                "services[0].clusterIPs: must list one cluster IP"},
        BadCase{"TwoClusterIpsOfOneFamily",
                "services: [{name: a, clusterIPs: [10.96.0.1, 10.96.0.2], ports: [{port: 80}]}]",
                "services[0].clusterIPs[1]: a second cluster IP must be of the other family"},
        BadCase{"SharedClusterIp",
                "services:\n  - {name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}\n"
                "  - {name: b, clusterIPs: [10.96.0.1], ports: [{port: 80}]}",
                "services[1].clusterIPs[0]: 10.96.0.1 is already the cluster IP of default/a "
                "(services[0])"},
        BadCase{"BadTrafficDistribution", Doc(", trafficDistribution: Nearest"),
                "services[1].trafficDistribution: \"Nearest\" is not a traffic distribution"},
        BadCase{"ForeignAnnotation", Doc(", annotations: {example.com/x: y}"),
                "services[1].annotations[\"example.com/x\"]: only annotations under "
                "skewless.io/"},
        BadCase{"UnknownLoadBalancing", Doc(", annotations: {skewless.io/load-balancing: rr}"),
                "services[1].annotations[\"skewless.io/load-balancing\"]: \"rr\" is not one of "
                "least-request, random"},
        BadCase{"NodeWithoutName", "nodes: [{zone: z}]", "nodes[0].name: is required"},
        BadCase{"DuplicateNode", "nodes: [{name: n}, {name: n}]",
                "nodes[1].name: node n is already defined at nodes[0]"},
        BadCase{"BadZone", "nodes: [{name: n, zone: \"a b\"}]",
                "nodes[0].zone: \"a b\" is not a label value"},
        BadCase{"UnknownNodeKey", "nodes: [{name: n, labels: {}}]", "nodes[0].labels: unknown key"},
        BadCase{"ServicesNotAList", "services: {a: 1}", "services: must be a list"},
        BadCase{"EndpointsForUnknownService", "endpointSlices: [{service: ghost, endpoints: []}]",
                "endpointSlices[0].service: endpoints for unknown service default/ghost"},
        BadCase{"EndpointsForServiceInAnotherNamespace",
                Doc("") + "  - {namespace: kube-system, service: other, endpoints: []}\n",
                "endpointSlices[1].service: endpoints for unknown service kube-system/other"},
        BadCase{"DuplicateSliceName",
                Doc("") + "  - {service: other, name: other-0, endpoints: []}\n",
                "endpointSlices[1].name: slice other-0 of default/other is already defined at "
                "endpointSlices[0]"},
        BadCase{"BadEndpointAddress", Doc("", "port: 80", "[{address: 10.0.0.x}]"),
                "endpointSlices[0].endpoints[0].address: \"10.0.0.x\" is not an IP address"},
        BadCase{"BadEndpointAddressInList",
                Doc("", "port: 80", "[{addresses: [10.0.0.1, 10.0.0.1.1]}]"),
                "endpointSlices[0].endpoints[0].addresses[1]: \"10.0.0.1.1\" is not an IP"},
        BadCase{"MixedFamilyEndpoint",
                Doc("", "port: 80", "[{addresses: [10.0.0.1, \"fd00::1\"]}]"),
                "endpointSlices[0].endpoints[0].addresses[1]: all addresses of an endpoint must "
                "be of one family"},
        BadCase{"AddressAndAddresses",
                Doc("", "port: 80", "[{address: 10.0.0.1, addresses: [10.0.0.2]}]"),
                "endpointSlices[0].endpoints[0]: give exactly one of address or addresses"},
        BadCase{"NoAddress", Doc("", "port: 80", "[{zone: z1}]"),
                "endpointSlices[0].endpoints[0]: give exactly one of address or addresses"},
        BadCase{"FamilyTheServiceLacks",
                "services: [{name: a, clusterIPs: [10.96.0.1], ports: [{port: 80}]}]\n"
                "endpointSlices: [{service: a, endpoints: [{address: \"fd00::1\"}]}]",
                "endpointSlices[0].endpoints[0]: an IPv6 endpoint, but service default/a has no "
                "IPv6 cluster IP"},
        BadCase{"DuplicateAddressInSlice",
                Doc("", "port: 80", "[{address: 10.0.0.1}, {address: 10.0.0.1}]"),
                "endpointSlices[0].endpoints[1]: 10.0.0.1 is already listed at "
                "endpointSlices[0].endpoints[0]"},
        BadCase{"UnknownEndpointNode", Doc("", "port: 80", "[{address: 10.0.0.1, nodeName: n9}]"),
                "endpointSlices[0].endpoints[0].nodeName: unknown node \"n9\""},
        BadCase{"ZoneDisagreesWithNode",
                Doc("", "port: 80", "[{address: 10.0.0.1, nodeName: n1, zone: z2}]"),
                "endpointSlices[0].endpoints[0].zone: \"z2\" but node n1 is in zone \"z1\""},
        BadCase{"YesIsNotABool",
                Doc("", "port: 80", "[{address: 10.0.0.1, conditions: {ready: yes}}]"),
                "endpointSlices[0].endpoints[0].conditions.ready: must be true or false"},
        BadCase{"UnknownCondition",
                Doc("", "port: 80", "[{address: 10.0.0.1, conditions: {healthy: true}}]"),
                "endpointSlices[0].endpoints[0].conditions.healthy: unknown key"},
        BadCase{"WeightZero", Doc("", "port: 80", "[{address: 10.0.0.1, weight: 0}]"),
                "endpointSlices[0].endpoints[0].weight: 0 is not a weight (1-65535)"},
        BadCase{
            "WeightAnnotationBad",
            Doc("", "port: 80", "[{address: 10.0.0.1, annotations: {skewless.io/weight: heavy}}]"),
            "endpointSlices[0].endpoints[0].annotations[\"skewless.io/weight\"]: \"heavy\" "
            "is not a weight"},
        BadCase{"WeightTwice",
                Doc("", "port: 80",
                    "[{address: 10.0.0.1, weight: 5, annotations: {skewless.io/weight: \"5\"}}]"),
                "endpointSlices[0].endpoints[0].weight: given both as a field and as the "
                "skewless.io/weight annotation"},
        BadCase{
            "OtherEndpointAnnotation",
            Doc("", "port: 80", "[{address: 10.0.0.1, annotations: {skewless.io/colour: red}}]"),
            "endpoints take only the skewless.io/weight annotation"},
        BadCase{"UnknownEndpointKey", Doc("", "port: 80", "[{address: 10.0.0.1, ip: x}]"),
                "endpointSlices[0].endpoints[0].ip: unknown key"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace skewless::controlplane
