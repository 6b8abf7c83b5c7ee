// Kubernetes objects to model: what is read from each field, what is skipped, the exact
// error for each kind of malformed input, and the fold into a Snapshot.
#include "skewless/controlplane/kube_objects.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube_fixtures.h"
#include "model_printers.h"

namespace skewless::controlplane {
namespace {

using nlohmann::json;
using skewless::testing::MakeEndpointSliceJson;
using skewless::testing::MakeNodeJson;
using skewless::testing::MakeServiceJson;
using skewless::testing::ServicePortSpec;
using skewless::testing::SliceEndpointSpec;
using skewless::testing::SlicePortSpec;
using ::testing::ElementsAre;
using ::testing::Optional;

json EchoService() {
  return MakeServiceJson(
      "default", "echo", {"10.96.0.10"},
      {{.name = "grpc", .port = 8080, .target_port = "grpc-port", .app_protocol = "grpc"},
       {.name = "http", .port = 80, .target_port = 8081}});
}

json EchoSlice() {
  return MakeEndpointSliceJson(
      "default", "echo-abc12", "echo", "IPv4", {{"grpc", 9090}, {"http", 8081}},
      {{.address = "10.0.0.1", .node_name = "node-a", .zone = "zone-a", .pod_name = "echo-1"},
       {.address = "10.0.0.2", .node_name = "node-b", .pod_name = "echo-2"}});
}

TEST(KubeServiceTest, ReadsClusterIpsPortsDistributionAndOurAnnotationsOnly) {
  json object = MakeServiceJson(
      "shop", "cart", {"10.96.0.20", "fd00:0:0::20"},
      {{.name = "grpc", .port = 8080, .target_port = "grpc", .app_protocol = "kubernetes.io/h2c"},
       {.name = "dns", .port = 53, .protocol = "UDP"}});
  object["spec"]["trafficDistribution"] = "PreferSameNode";
  object["metadata"]["annotations"]["skewless.io/example"] = "on";

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_TRUE(service->has_value());
  const Service& s = **service;
  EXPECT_EQ(s.key, (ServiceKey{"shop", "cart"}));
  EXPECT_THAT(s.cluster_ips, ElementsAre("10.96.0.20", "fd00::20"));
  EXPECT_EQ(s.traffic_distribution, TrafficDistribution::kPreferSameNode);
  EXPECT_EQ(s.annotations, (std::map<std::string, std::string>{{"skewless.io/example", "on"}}));
  EXPECT_THAT(s.ports,
              ElementsAre(ServicePort{"grpc", 8080, 0, Protocol::kTcp, "kubernetes.io/h2c"},
                          ServicePort{"dns", 53, 53, Protocol::kUdp, ""}));
}

TEST(KubeServiceTest, FallsBackToClusterIpWhenClusterIpsIsAbsent) {
  json object = EchoService();
  object["spec"].erase("clusterIPs");

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_THAT(service->value().cluster_ips, ElementsAre("10.96.0.10"));
}

TEST(KubeServiceTest, UnsetTargetPortMeansThePortItself) {
  json object = EchoService();
  object["spec"]["ports"][1].erase("targetPort");

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(service->value().ports[1].target_port, 80);
}

TEST(KubeServiceTest, UnknownTrafficDistributionReadsAsNone) {
  json object = EchoService();
  object["spec"]["trafficDistribution"] = "PreferSameRack";

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(service->value().traffic_distribution, TrafficDistribution::kNone);
}

TEST(KubeServiceTest, DropsSctpPorts) {
  json object = EchoService();
  object["spec"]["ports"][0]["protocol"] = "SCTP";

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_EQ(service->value().ports.size(), 1u);
  EXPECT_EQ(service->value().ports[0].name, "http");
}

struct SkippedCase {
  std::string name;
  std::function<void(json&)> edit;
};

class KubeServiceSkippedTest : public ::testing::TestWithParam<SkippedCase> {};

TEST_P(KubeServiceSkippedTest, IsNotAnErrorButServesNothing) {
  json object = EchoService();
  GetParam().edit(object);

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_FALSE(service->has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KubeServiceSkippedTest,
    ::testing::Values(
        SkippedCase{"Headless",
                    [](json& o) {
                      o["spec"]["clusterIP"] = "None";
                      o["spec"]["clusterIPs"] = {"None"};
                    }},
        SkippedCase{"ExternalName",
                    [](json& o) {
                      o["spec"] = {{"type", "ExternalName"}, {"externalName", "db.example.com"}};
                    }},
        SkippedCase{"NoClusterIp",
                    [](json& o) {
                      o["spec"].erase("clusterIP");
                      o["spec"].erase("clusterIPs");
                    }},
        SkippedCase{"OnlySctpPorts",
                    [](json& o) {
                      o["spec"]["ports"] = {{{"name", "sctp"}, {"port", 9}, {"protocol", "SCTP"}}};
                    }}),
    [](const auto& info) { return info.param.name; });

TEST(KubeEndpointSliceTest, ReadsEndpointsPortsConditionsAndWeight) {
  json object = MakeEndpointSliceJson(
      "default", "echo-abc12", "echo", "IPv6", {{"grpc", 9090}},
      {{.address = "fd00:0::1", .node_name = "node-a", .zone = "zone-a"},
       {.address = "fd00::2", .ready = false, .serving = true, .terminating = true},
       {.address = "fd00::3",
        .ready = std::nullopt,
        .serving = std::nullopt,
        .terminating = std::nullopt}});
  object["endpoints"][0]["hostname"] = "echo-0";
  object["endpoints"][1]["conditions"]["ready"] = nullptr;  // as good as absent
  object["metadata"]["annotations"]["skewless.io/weight"] = "250";

  absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);

  ASSERT_TRUE(slice.ok()) << slice.status();
  ASSERT_TRUE(slice->has_value());
  const EndpointSlice& s = **slice;
  EXPECT_EQ(s.name, "echo-abc12");
  EXPECT_EQ(s.service, (ServiceKey{"default", "echo"}));
  EXPECT_THAT(s.ports, ElementsAre(EndpointSlicePort{"grpc", 9090, Protocol::kTcp}));
  ASSERT_EQ(s.endpoints.size(), 3u);
  EXPECT_EQ(s.endpoints[0], (Endpoint{.addresses = {"fd00::1"},
                                      .zone = "zone-a",
                                      .node_name = "node-a",
                                      .hostname = "echo-0",
                                      .weight = 250}));
  // ready unset reads as true (the API's default), on a terminating endpoint too.
  EXPECT_EQ(s.endpoints[1].conditions, (EndpointConditions{true, true, true}));
  // No conditions at all: "unknown", taken as ready.
  EXPECT_EQ(s.endpoints[2].conditions, (EndpointConditions{true, true, false}));
}

// What the API server's IPv4 check (k8s.io/utils ParseIPSloppy, then To4() != nil) lets
// through for objects written by other clients, or stored before Go 1.17: refusing it would
// drop a Service the API server and kube-proxy serve.
TEST(KubeEndpointSliceTest, ReadsIpv4AddressesAsTheApiServerValidatesThem) {
  json object = MakeEndpointSliceJson(
      "default", "echo-abc12", "echo", "IPv4", {{"grpc", 9090}},
      {{.address = "::ffff:10.0.0.1"}, {.address = "010.000.000.002"}, {.address = "10.0.0.3"}});

  absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);

  ASSERT_TRUE(slice.ok()) << slice.status();
  ASSERT_TRUE(slice->has_value());
  ASSERT_EQ((*slice)->endpoints.size(), 3u);
  EXPECT_THAT((*slice)->endpoints[0].addresses, ElementsAre("10.0.0.1"));
  EXPECT_THAT((*slice)->endpoints[1].addresses, ElementsAre("10.0.0.2"));
  EXPECT_THAT((*slice)->endpoints[2].addresses, ElementsAre("10.0.0.3"));
}

TEST(KubeServiceTest, ReadsClusterIpsAsTheApiServerValidatesThem) {
  json object = MakeServiceJson("default", "echo", {"010.096.000.010"}, {{.port = 80}});

  absl::StatusOr<std::optional<Service>> service = ParseKubeService(object);

  ASSERT_TRUE(service.ok()) << service.status();
  ASSERT_TRUE(service->has_value());
  EXPECT_THAT((*service)->cluster_ips, ElementsAre("10.96.0.10"));
}

TEST(KubeEndpointSliceTest, ReadsTheRoundTripFixtureShapeWithEveryConditionTrue) {
  // The API server accepts this; so must we (kept as written, and then ready).
  json object =
      skewless::testing::UpstreamShapedEndpointSliceJson("default", "echo", "10.0.0.9", 8081);

  absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);

  ASSERT_TRUE(slice.ok()) << slice.status();
  ASSERT_TRUE(slice->has_value());
  ASSERT_EQ((*slice)->endpoints.size(), 1u);
  const Endpoint& endpoint = (*slice)->endpoints[0];
  EXPECT_EQ(endpoint.conditions, (EndpointConditions{true, true, true}));
  EXPECT_EQ(UsabilityOf(endpoint.conditions), Usability::kReady);
  EXPECT_EQ(endpoint.target_ref,
            "Pod/default/name-value/" + skewless::testing::PodUid("name-value"));
  EXPECT_EQ(endpoint.hostname, "hostname-value");
  EXPECT_EQ(endpoint.zone, "zone-value");
}

TEST(KubeEndpointSliceTest, ControllerEndpointsOfAPublishNotReadyServiceAreAllAccepted) {
  // Every state a pod can be in, as the EndpointSlice controller writes it when the
  // Service has publishNotReadyAddresses: ready is true throughout.
  json object = skewless::testing::ControllerSlices(
      "default", "echo", true, false, {{"http", 8081}},
      {{.name = "echo-1", .ipv4 = "10.0.0.1"},
       {.name = "echo-2", .ipv4 = "10.0.0.2", .pod_ready = false},
       {.name = "echo-3", .ipv4 = "10.0.0.3", .deleting = true},
       {.name = "echo-4", .ipv4 = "10.0.0.4", .pod_ready = false, .deleting = true}},
      /*publish_not_ready_addresses=*/true)[0];

  absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);

  ASSERT_TRUE(slice.ok()) << slice.status();
  ASSERT_TRUE(slice->has_value());
  ASSERT_EQ((*slice)->endpoints.size(), 4u);
  EXPECT_EQ((*slice)->endpoints[0].conditions, (EndpointConditions{true, true, false}));
  EXPECT_EQ((*slice)->endpoints[1].conditions, (EndpointConditions{true, false, false}));
  EXPECT_EQ((*slice)->endpoints[2].conditions, (EndpointConditions{true, true, true}));
  EXPECT_EQ((*slice)->endpoints[3].conditions, (EndpointConditions{true, false, true}));
}

TEST(KubeEndpointSliceTest, DropsPortsWithoutNumberAndSctpPorts) {
  json object = EchoSlice();
  object["ports"] = {{{"name", "all"}, {"port", nullptr}, {"protocol", "TCP"}},
                     {{"name", "sctp"}, {"port", 9}, {"protocol", "SCTP"}},
                     {{"name", ""}, {"port", 8080}}};

  absl::StatusOr<std::optional<EndpointSlice>> slice = ParseKubeEndpointSlice(object);

  ASSERT_TRUE(slice.ok()) << slice.status();
  EXPECT_THAT(slice->value().ports, ElementsAre(EndpointSlicePort{"", 8080, Protocol::kTcp}));
}

TEST(KubeEndpointSliceTest, SkipsFqdnSlicesAndSlicesOfNoService) {
  json fqdn = EchoSlice();
  fqdn["addressType"] = "FQDN";
  fqdn["endpoints"][0]["addresses"] = {"echo.example.com"};
  json unowned = EchoSlice();
  unowned["metadata"]["labels"].erase("kubernetes.io/service-name");

  absl::StatusOr<std::optional<EndpointSlice>> fqdn_slice = ParseKubeEndpointSlice(fqdn);
  absl::StatusOr<std::optional<EndpointSlice>> unowned_slice = ParseKubeEndpointSlice(unowned);

  ASSERT_TRUE(fqdn_slice.ok()) << fqdn_slice.status();
  EXPECT_FALSE(fqdn_slice->has_value());
  ASSERT_TRUE(unowned_slice.ok()) << unowned_slice.status();
  EXPECT_FALSE(unowned_slice->has_value());
}

TEST(KubeNodeTest, ReadsTheZoneLabel) {
  absl::StatusOr<Node> zoned = ParseKubeNode(MakeNodeJson("node-a", "zone-a"));
  absl::StatusOr<Node> unzoned = ParseKubeNode(MakeNodeJson("node-b", ""));

  ASSERT_TRUE(zoned.ok()) << zoned.status();
  EXPECT_EQ(*zoned, (Node{"node-a", "zone-a"}));
  ASSERT_TRUE(unzoned.ok()) << unzoned.status();
  EXPECT_EQ(*unzoned, (Node{"node-b", ""}));
}

TEST(KubeObjectMetaTest, ReadsNameNamespaceAndResourceVersion) {
  json object = EchoService();
  object["metadata"]["resourceVersion"] = "4711";

  absl::StatusOr<KubeObjectMeta> meta = ParseKubeObjectMeta("Service", object);

  ASSERT_TRUE(meta.ok()) << meta.status();
  EXPECT_EQ(meta->namespace_name, "default");
  EXPECT_EQ(meta->name, "echo");
  EXPECT_EQ(meta->resource_version, "4711");
}

// One malformed input and the exact error it must produce.
struct MalformedCase {
  std::string name;
  std::string kind;  // Service, EndpointSlice, Node
  std::function<void(json&)> edit;
  std::string error;
};

absl::Status ParseAs(const std::string& kind, const json& object) {
  if (kind == "Service") return ParseKubeService(object).status();
  if (kind == "EndpointSlice") return ParseKubeEndpointSlice(object).status();
  return ParseKubeNode(object).status();
}

class KubeMalformedTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(KubeMalformedTest, NamesTheObjectAndTheField) {
  const MalformedCase& c = GetParam();
  json object = c.kind == "Service"         ? EchoService()
                : c.kind == "EndpointSlice" ? EchoSlice()
                                            : MakeNodeJson("node-a", "zone-a");
  c.edit(object);

  const absl::Status status = ParseAs(c.kind, object);

  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), c.error);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KubeMalformedTest,
    ::testing::Values(
        MalformedCase{"PortOutOfRange", "Service",
                      [](json& o) { o["spec"]["ports"][0]["port"] = 70000; },
                      "Service default/echo: spec.ports[0].port: 70000 is not a port (1-65535)"},
        MalformedCase{"PortAsString", "Service",
                      [](json& o) { o["spec"]["ports"][0]["port"] = "80"; },
                      "Service default/echo: spec.ports[0].port: \"80\" is not an integer"},
        MalformedCase{"PortMissing", "Service",
                      [](json& o) { o["spec"]["ports"][1].erase("port"); },
                      "Service default/echo: spec.ports[1].port: is required"},
        MalformedCase{"TargetPortBool", "Service",
                      [](json& o) { o["spec"]["ports"][1]["targetPort"] = true; },
                      "Service default/echo: spec.ports[1].targetPort: true is neither a port "
                      "number nor a port name"},
        MalformedCase{"TargetPortZero", "Service",
                      [](json& o) { o["spec"]["ports"][1]["targetPort"] = 0; },
                      "Service default/echo: spec.ports[1].targetPort: 0 is not a port (1-65535)"},
        MalformedCase{"LowerCaseProtocol", "Service",
                      [](json& o) { o["spec"]["ports"][0]["protocol"] = "tcp"; },
                      "Service default/echo: spec.ports[0].protocol: \"tcp\" is not a protocol "
                      "(TCP or UDP)"},
        MalformedCase{"BadClusterIp", "Service",
                      [](json& o) { o["spec"]["clusterIPs"] = {"10.96.0.300"}; },
                      "Service default/echo: spec.clusterIPs[0]: \"10.96.0.300\" is not an IP "
                      "address"},
        MalformedCase{"BadLegacyClusterIp", "Service",
                      [](json& o) {
                        o["spec"].erase("clusterIPs");
                        o["spec"]["clusterIP"] = "10.96.0.x";
                      },
                      "Service default/echo: spec.clusterIP: \"10.96.0.x\" is not an IP address"},
        MalformedCase{"TwoIpsOfOneFamily", "Service",
                      [](json& o) {
                        o["spec"]["clusterIPs"] = {"10.96.0.1", "10.96.0.2"};
                      },
                      "Service default/echo: spec.clusterIPs[1]: a second cluster IP must be of "
                      "the other family"},
        MalformedCase{"ClusterIpsNotAList", "Service",
                      [](json& o) { o["spec"]["clusterIPs"] = "10.96.0.1"; },
                      "Service default/echo: spec.clusterIPs: \"10.96.0.1\" is not a list"},
        MalformedCase{"PortsNotAList", "Service",
                      [](json& o) { o["spec"]["ports"] = json::object(); },
                      "Service default/echo: spec.ports: {} is not a list"},
        MalformedCase{"NoSpec", "Service", [](json& o) { o.erase("spec"); },
                      "Service default/echo: spec: is required"},
        MalformedCase{"NoName", "Service", [](json& o) { o["metadata"].erase("name"); },
                      "Service default/<unnamed>: metadata.name: is required"},
        MalformedCase{"NoNamespace", "Service", [](json& o) { o["metadata"].erase("namespace"); },
                      "Service <no namespace>/echo: metadata.namespace: is required"},
        MalformedCase{"AnnotationNotAString", "Service",
                      [](json& o) { o["metadata"]["annotations"]["skewless.io/x"] = 5; },
                      "Service default/echo: metadata.annotations[\"skewless.io/x\"]: 5 is not "
                      "a string"},
        MalformedCase{"NotAnObject", "Service", [](json& o) { o = json::array(); },
                      "Service <no namespace>/<unnamed>: (object): [] is not an object"},
        MalformedCase{"EndpointAddressNotAnIp", "EndpointSlice",
                      [](json& o) { o["endpoints"][1]["addresses"][0] = "10.0.0.x"; },
                      "EndpointSlice default/echo-abc12: endpoints[1].addresses[0]: \"10.0.0.x\" "
                      "is not an IP address"},
        // The API server's IPv6 check (ParseIPSloppy, then To4() == nil) refuses it too.
        MalformedCase{"V4MappedAddressInAnIpv6Slice", "EndpointSlice",
                      [](json& o) {
                        o["addressType"] = "IPv6";
                        o["endpoints"][0]["addresses"][0] = "::ffff:10.0.0.1";
                      },
                      "EndpointSlice default/echo-abc12: endpoints[0].addresses[0]: "
                      "\"::ffff:10.0.0.1\" is not an IPv6 address (addressType)"},
        MalformedCase{"EndpointAddressWithAZone", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["addresses"][0] = "10.0.0.1%eth0"; },
                      "EndpointSlice default/echo-abc12: endpoints[0].addresses[0]: "
                      "\"10.0.0.1%eth0\" has a zone id; zones name a local interface and are not "
                      "accepted"},
        MalformedCase{"EndpointAddressOfOtherFamily", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["addresses"][0] = "fd00::1"; },
                      "EndpointSlice default/echo-abc12: endpoints[0].addresses[0]: \"fd00::1\" "
                      "is not an IPv4 address (addressType)"},
        MalformedCase{"EndpointWithoutAddresses", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["addresses"] = json::array(); },
                      "EndpointSlice default/echo-abc12: endpoints[0].addresses: must list at "
                      "least one address"},
        MalformedCase{"EndpointNotAnObject", "EndpointSlice",
                      [](json& o) { o["endpoints"][0] = "10.0.0.1"; },
                      "EndpointSlice default/echo-abc12: endpoints[0]: \"10.0.0.1\" is not an "
                      "object"},
        MalformedCase{"UnknownAddressType", "EndpointSlice",
                      [](json& o) { o["addressType"] = "IPv5"; },
                      "EndpointSlice default/echo-abc12: addressType: \"IPv5\" is not an address "
                      "type (IPv4, IPv6, FQDN)"},
        MalformedCase{"ConditionNotABool", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["conditions"]["ready"] = "true"; },
                      "EndpointSlice default/echo-abc12: endpoints[0].conditions.ready: \"true\" "
                      "is not true or false"},
        MalformedCase{"TargetRefNotAnObject", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["targetRef"] = "echo-1"; },
                      "EndpointSlice default/echo-abc12: endpoints[0].targetRef: \"echo-1\" is "
                      "not an object"},
        MalformedCase{"NodeNameNotAString", "EndpointSlice",
                      [](json& o) { o["endpoints"][0]["nodeName"] = 5; },
                      "EndpointSlice default/echo-abc12: endpoints[0].nodeName: 5 is not a "
                      "string"},
        MalformedCase{"SlicePortZero", "EndpointSlice", [](json& o) { o["ports"][0]["port"] = 0; },
                      "EndpointSlice default/echo-abc12: ports[0].port: 0 is not a port "
                      "(1-65535)"},
        MalformedCase{"BadWeightAnnotation", "EndpointSlice",
                      [](json& o) { o["metadata"]["annotations"]["skewless.io/weight"] = "0"; },
                      "EndpointSlice default/echo-abc12: metadata.annotations[\"skewless.io/"
                      "weight\"]: \"0\" is not a weight (an integer 1-65535)"},
        MalformedCase{"NodeLabelsNotAnObject", "Node",
                      [](json& o) { o["metadata"]["labels"] = json::array(); },
                      "Node node-a: metadata.labels: [] is not an object"},
        MalformedCase{"NodeWithoutMetadata", "Node", [](json& o) { o.erase("metadata"); },
                      "Node <unnamed>: metadata: is required"}),
    [](const auto& info) { return info.param.name; });

// --- The fold into a Snapshot ---

Service ParsedService(const json& object) { return ParseKubeService(object).value().value(); }
EndpointSlice ParsedSlice(const json& object) {
  return ParseKubeEndpointSlice(object).value().value();
}

TEST(BuildKubeSnapshotTest, TakesTheNodesZoneWhenTheSliceHasNone) {
  absl::StatusOr<Snapshot> snapshot =
      BuildKubeSnapshot({ParsedService(EchoService())}, {ParsedSlice(EchoSlice())},
                        {Node{"node-a", "zone-x"}, Node{"node-b", "zone-b"}});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* grpc = snapshot->FindEndpoints({"default", "echo"}, "grpc");
  ASSERT_NE(grpc, nullptr);
  ASSERT_EQ(grpc->endpoints.size(), 2u);
  EXPECT_EQ(grpc->endpoints[0].endpoint.zone, "zone-a");  // the slice's own zone wins
  EXPECT_EQ(grpc->endpoints[1].endpoint.zone, "zone-b");  // from node-b
}

TEST(BuildKubeSnapshotTest, ResolvesANamedTargetPortToTheLowestEndpointPort) {
  json other = MakeEndpointSliceJson("default", "echo-zz999", "echo", "IPv4", {{"grpc", 9000}},
                                     {{.address = "10.0.0.3"}});

  absl::StatusOr<Snapshot> snapshot = BuildKubeSnapshot(
      {ParsedService(EchoService())}, {ParsedSlice(EchoSlice()), ParsedSlice(other)}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const Service* echo = snapshot->FindService({"default", "echo"});
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->ports[0].target_port, 9000);
  EXPECT_EQ(echo->ports[1].target_port, 8081);  // numeric: as the Service says
}

TEST(BuildKubeSnapshotTest, ANamedTargetPortWithoutEndpointsStaysZero) {
  absl::StatusOr<Snapshot> snapshot = BuildKubeSnapshot({ParsedService(EchoService())}, {}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->services[0].ports[0].target_port, 0);
}

TEST(BuildKubeSnapshotTest, KeepsOnlyWhatTheServiceCanUse) {
  // Endpoints of a Service not in the snapshot, of a family the Service has no VIP for,
  // and on a port the Service does not declare are all left out.
  json orphan = MakeEndpointSliceJson("default", "gone-1", "gone", "IPv4", {{"", 80}},
                                      {{.address = "10.0.9.1"}});
  json ipv6 = MakeEndpointSliceJson("default", "echo-v6", "echo", "IPv6", {{"grpc", 9090}},
                                    {{.address = "fd00::1"}});
  json stale_port =
      MakeEndpointSliceJson("default", "echo-old", "echo", "IPv4",
                            {{"metrics", 9100}, {"http", 8081}}, {{.address = "10.0.0.7"}});

  absl::StatusOr<Snapshot> snapshot =
      BuildKubeSnapshot({ParsedService(EchoService())},
                        {ParsedSlice(orphan), ParsedSlice(ipv6), ParsedSlice(stale_port)}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->endpoints.size(), 1u);
  EXPECT_EQ(snapshot->endpoints[0].port_name, "http");
  ASSERT_EQ(snapshot->endpoints[0].endpoints.size(), 1u);
  EXPECT_EQ(snapshot->endpoints[0].endpoints[0].endpoint.addresses[0], "10.0.0.7");
}

TEST(BuildKubeSnapshotTest, AnEndpointInTwoSlicesIsKeptOnceWithItsBestConditions) {
  json moving_out = MakeEndpointSliceJson(
      "default", "echo-aaaaa", "echo", "IPv4", {{"http", 8081}},
      {{.address = "10.0.0.1", .ready = false, .serving = false, .terminating = false}});
  json moving_in = MakeEndpointSliceJson("default", "echo-bbbbb", "echo", "IPv4", {{"http", 8081}},
                                         {{.address = "10.0.0.1"}});

  absl::StatusOr<Snapshot> snapshot = BuildKubeSnapshot(
      {ParsedService(EchoService())}, {ParsedSlice(moving_out), ParsedSlice(moving_in)}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* http = snapshot->FindEndpoints({"default", "echo"}, "http");
  ASSERT_NE(http, nullptr);
  ASSERT_EQ(http->endpoints.size(), 1u);
  EXPECT_TRUE(http->endpoints[0].endpoint.conditions.ready);
}

TEST(BuildKubeSnapshotTest, ServesBothFamiliesOfADualStackService) {
  json service = MakeServiceJson("default", "echo", {"10.96.0.10", "fd00::10"},
                                 {{.name = "", .port = 80, .target_port = 8080}});
  json v4 = MakeEndpointSliceJson("default", "echo-4", "echo", "IPv4", {{"", 8080}},
                                  {{.address = "10.0.0.1"}});
  json v6 = MakeEndpointSliceJson("default", "echo-6", "echo", "IPv6", {{"", 8080}},
                                  {{.address = "fd00::1"}});

  absl::StatusOr<Snapshot> snapshot =
      BuildKubeSnapshot({ParsedService(service)}, {ParsedSlice(v4), ParsedSlice(v6)}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* port = snapshot->FindEndpoints({"default", "echo"}, "");
  ASSERT_NE(port, nullptr);
  ASSERT_EQ(port->endpoints.size(), 2u);
  EXPECT_EQ(port->endpoints[0].endpoint.addresses[0], "10.0.0.1");
  EXPECT_EQ(port->endpoints[1].endpoint.addresses[0], "fd00::1");
}

TEST(BuildKubeSnapshotTest, ADualStackPodIsOneEndpointWithBothFamilies) {
  // The controller's IPv4 and IPv6 slices both list each pod, with the same targetRef.
  json service = MakeServiceJson("default", "echo", {"fd00::10", "10.96.0.10"},
                                 {{.name = "", .port = 80, .target_port = 8080}});
  std::vector<json> slices = skewless::testing::ControllerSlices(
      "default", "echo", true, true, {{"", 8080}},
      {{.name = "echo-1", .ipv4 = "10.0.0.1", .ipv6 = "fd00::1"},
       {.name = "echo-2", .ipv4 = "10.0.0.2", .ipv6 = "fd00::2"}},
      false);

  absl::StatusOr<Snapshot> snapshot = BuildKubeSnapshot(
      {ParsedService(service)}, {ParsedSlice(slices[0]), ParsedSlice(slices[1])}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* port = snapshot->FindEndpoints({"default", "echo"}, "");
  ASSERT_NE(port, nullptr);
  ASSERT_EQ(port->endpoints.size(), 2u) << "each pod counts once";
  // The Service's primary family (its first cluster IP, here IPv6) comes first.
  EXPECT_THAT(port->endpoints[0].endpoint.addresses, ElementsAre("fd00::1", "10.0.0.1"));
  EXPECT_THAT(port->endpoints[1].endpoint.addresses, ElementsAre("fd00::2", "10.0.0.2"));
}

TEST(BuildKubeSnapshotTest, APublishNotReadyServiceKeepsEveryPodReady) {
  json service = MakeServiceJson("default", "echo", {"10.96.0.10"},
                                 {{.name = "http", .port = 80, .target_port = 8081}},
                                 /*publish_not_ready_addresses=*/true);
  json slice = skewless::testing::ControllerSlices(
      "default", "echo", true, false, {{"http", 8081}},
      {{.name = "echo-1", .ipv4 = "10.0.0.1", .pod_ready = false},
       {.name = "echo-2", .ipv4 = "10.0.0.2", .deleting = true}},
      true)[0];

  absl::StatusOr<Snapshot> snapshot =
      BuildKubeSnapshot({ParsedService(service)}, {ParsedSlice(slice)}, {});

  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const ServicePortEndpoints* http = snapshot->FindEndpoints({"default", "echo"}, "http");
  ASSERT_NE(http, nullptr);
  ASSERT_EQ(http->endpoints.size(), 2u);
  for (const PortEndpoint& endpoint : http->endpoints) {
    EXPECT_EQ(UsabilityOf(endpoint.endpoint.conditions), Usability::kReady);
  }
}

}  // namespace
}  // namespace skewless::controlplane
