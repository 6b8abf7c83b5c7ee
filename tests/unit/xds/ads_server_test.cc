// The ADS server's protocol: what SotW and delta streams receive for gRPC clients and
// agents, ACK/NACK and nonce rules, subscriptions and wildcard, changed-only pushes,
// EDS after CDS, and that a stuck client delays nobody else.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ads_harness.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "skewless/agent/v1/node_info.pb.h"
#include "skewless/xds/locality_plan.h"

namespace skewless::xds {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;
using testing::AdsServerFixture;
using testing::DeltaAck;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Names;
using testing::OpenDelta;
using testing::OpenSotw;
using ::testing::UnorderedElementsAre;
namespace endpoint_v3 = envoy::config::endpoint::v3;

constexpr auto kQuiet = std::chrono::milliseconds(300);  // "no response" wait

Endpoint Pod(std::string address, std::string zone, bool ready = true) {
  Endpoint endpoint{.addresses = {std::move(address)}, .port = 8080, .zone = std::move(zone)};
  endpoint.ready = ready;
  endpoint.serving = ready;
  return endpoint;
}

ServicePort Port(std::string name, std::vector<Endpoint> endpoints) {
  return ServicePort{.namespace_name = "default",
                     .name = std::move(name),
                     .port = 8080,
                     .cluster_ips = {"10.96.0.10"},
                     .endpoints = std::move(endpoints)};
}

envoy::config::core::v3::Node GrpcNode(std::string zone = "") {
  envoy::config::core::v3::Node node;
  node.set_id("grpc-client-1");
  node.set_user_agent_name("gRPC C-core");
  node.mutable_locality()->set_zone(std::move(zone));
  return node;
}

envoy::config::core::v3::Node AgentNode() {
  envoy::config::core::v3::Node node;
  node.set_id("node-a");
  node.set_user_agent_name("skewless-agent");
  return node;
}

DiscoveryRequest Request(std::string_view type_url, std::vector<std::string> names,
                         const envoy::config::core::v3::Node* node = nullptr) {
  DiscoveryRequest request;
  request.set_type_url(std::string(type_url));
  for (auto& name : names) request.add_resource_names(name);
  if (node) *request.mutable_node() = *node;
  return request;
}

DiscoveryRequest Ack(const DiscoveryResponse& response, std::vector<std::string> names) {
  DiscoveryRequest request = Request(response.type_url(), std::move(names));
  request.set_version_info(response.version_info());
  request.set_response_nonce(response.nonce());
  return request;
}

template <typename Message>
std::vector<Message> Unpack(const DiscoveryResponse& response) {
  std::vector<Message> out;
  for (const auto& any : response.resources()) {
    Message message;
    EXPECT_TRUE(any.UnpackTo(&message));
    out.push_back(message);
  }
  return out;
}

std::vector<std::string> ClusterNames(const DiscoveryResponse& response) {
  std::vector<std::string> names;
  for (const auto& cluster : Unpack<envoy::config::cluster::v3::Cluster>(response)) {
    names.push_back(cluster.name());
  }
  return names;
}

std::vector<std::string> Addresses(const endpoint_v3::ClusterLoadAssignment& cla) {
  std::vector<std::string> out;
  for (const auto& locality : cla.endpoints()) {
    for (const auto& lb : locality.lb_endpoints()) {
      out.push_back(lb.endpoint().address().socket_address().address());
    }
  }
  return out;
}

void Serve(AdsServerFixture& server, std::vector<ServicePort> ports,
           std::map<std::string, double> client_share = {}) {
  ASSERT_THAT(
      server.cache().Update({.ports = SharedPorts(std::move(ports)), .client_share = client_share}),
      IsEmpty());
}

TEST(AdsSotw, AProxylessGrpcClientGetsItsListenerRouteClusterAndReadyEndpoints) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a"), Pod("10.0.0.2", "b", false)})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  const std::string target = "echo.default.svc.cluster.local:8080";

  ASSERT_TRUE(stream->Send(Request(kListenerTypeUrl, {target}, &node)));
  auto lds = stream->Next();
  ASSERT_TRUE(lds);
  auto listeners = Unpack<envoy::config::listener::v3::Listener>(*lds);
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0].name(), target);
  EXPECT_TRUE(listeners[0].has_api_listener());

  ASSERT_TRUE(stream->Send(Request(kRouteConfigurationTypeUrl, {"default/echo:8080"})));
  auto rds = stream->Next();
  ASSERT_TRUE(rds);
  EXPECT_EQ(rds->resources_size(), 1);

  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {"default/echo:8080"})));
  auto cds = stream->Next();
  ASSERT_TRUE(cds);
  EXPECT_THAT(ClusterNames(*cds), ElementsAre("default/echo:8080"));

  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"})));
  auto eds = stream->Next();
  ASSERT_TRUE(eds);
  auto clas = Unpack<endpoint_v3::ClusterLoadAssignment>(*eds);
  ASSERT_EQ(clas.size(), 1u);
  EXPECT_THAT(Addresses(clas[0]), ElementsAre("10.0.0.1"));  // the not-ready pod is left out
}

TEST(AdsSotw, AnAgentGetsEveryEndpointWithItsHealthAndNoListeners) {
  AdsServerFixture server;
  Endpoint draining = Pod("10.0.0.2", "b", false);
  draining.serving = true;
  draining.terminating = true;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a"), draining})});
  auto stream = OpenSotw(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"}, &node)));
  auto eds = stream->Next();
  ASSERT_TRUE(eds);
  auto clas = Unpack<endpoint_v3::ClusterLoadAssignment>(*eds);
  ASSERT_EQ(clas.size(), 1u);
  EXPECT_THAT(Addresses(clas[0]), UnorderedElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_EQ(clas[0].endpoints(1).lb_endpoints(0).health_status(),
            envoy::config::core::v3::DRAINING);

  ASSERT_TRUE(stream->Send(Request(kListenerTypeUrl, {})));  // wildcard LDS, Envoy-style
  auto lds = stream->Next();
  ASSERT_TRUE(lds);
  EXPECT_EQ(lds->resources_size(), 0);  // api_listeners are for gRPC clients only
}

TEST(AdsSotw, AnAckedResponseIsNotResentAndAChangeIsPushedWithANewVersionAndNonce) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  ASSERT_TRUE(stream->Send(Ack(*first, {"default/echo:8080"})));
  EXPECT_FALSE(stream->Next(kQuiet)) << "an ACK must not be answered";

  Serve(server, {Port("echo", {Pod("10.0.0.1", "a"), Pod("10.0.0.3", "a")})});
  auto pushed = stream->Next();
  ASSERT_TRUE(pushed);
  EXPECT_NE(pushed->version_info(), first->version_info());
  EXPECT_NE(pushed->nonce(), first->nonce());
  EXPECT_THAT(Addresses(Unpack<endpoint_v3::ClusterLoadAssignment>(*pushed)[0]),
              ElementsAre("10.0.0.1", "10.0.0.3"));

  Serve(server, {Port("echo", {Pod("10.0.0.1", "a"), Pod("10.0.0.3", "a")})});
  EXPECT_FALSE(stream->Next(kQuiet)) << "an unchanged snapshot must not be pushed";
}

TEST(AdsSotw, ANackIsCountedAndNotAnsweredAndTheNextChangeStillArrives) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {"default/echo:8080"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  DiscoveryRequest nack = Ack(*first, {"default/echo:8080"});
  nack.set_version_info("");  // the client keeps its previous (no) version
  nack.mutable_error_detail()->set_code(3);
  nack.mutable_error_detail()->set_message("cluster default/echo:8080: unsupported lb_policy");
  ASSERT_TRUE(stream->Send(nack));
  EXPECT_FALSE(stream->Next(kQuiet)) << "a NACK must not make the server resend the same";
  EXPECT_EQ(server.metrics().nacks.With({"Cluster"}).value(), 1u);

  ServicePort changed = Port("echo", {Pod("10.0.0.1", "a")});
  changed.app_protocol = "grpc";
  Serve(server, {changed});
  auto pushed = stream->Next();
  ASSERT_TRUE(pushed);
  EXPECT_NE(pushed->version_info(), first->version_info());
}

// A type we do not serve (here TLS secrets) is answered once, empty, so the client does
// not wait on it; it is not answered again until its subscription changes.
TEST(AdsSotw, AnUnknownTypeIsAnsweredOnceWithNothing) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = AgentNode();
  constexpr std::string_view kSecret =
      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
  ASSERT_TRUE(stream->Send(Request(kSecret, {"server-cert"}, &node)));
  auto answer = stream->Next();
  ASSERT_TRUE(answer) << "a subscription to an unknown type must be answered";
  EXPECT_EQ(answer->type_url(), kSecret);
  EXPECT_EQ(answer->resources_size(), 0);
  EXPECT_FALSE(answer->nonce().empty());
  ASSERT_TRUE(stream->Send(Ack(*answer, {"server-cert"})));
  EXPECT_FALSE(stream->Next(kQuiet)) << "answered once";
  ASSERT_TRUE(stream->Send(Ack(*answer, {"server-cert", "client-cert"})));
  auto again = stream->Next();
  ASSERT_TRUE(again) << "a changed subscription is answered again";
  EXPECT_EQ(again->resources_size(), 0);
}

TEST(AdsSotw, ARequestWithAStaleNonceIsIgnored) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {"default/echo:8080"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})},
        {{"a", 1}});  // a new generation, same clusters: nothing to push
  DiscoveryRequest stale = Ack(*first, {"default/echo:8080", "default/web:8080"});
  stale.set_response_nonce("not-the-latest");
  ASSERT_TRUE(stream->Send(stale));
  EXPECT_FALSE(stream->Next(kQuiet)) << "a stale nonce must not change the subscription";
  ASSERT_TRUE(stream->Send(Ack(*first, {"default/echo:8080", "default/web:8080"})));
  auto both = stream->Next();
  ASSERT_TRUE(both);
  EXPECT_THAT(ClusterNames(*both), ElementsAre("default/echo:8080", "default/web:8080"));
}

TEST(AdsSotw, WildcardCdsGetsEveryClusterAndADeletedOneDisappears) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {}, &node)));
  auto all = stream->Next();
  ASSERT_TRUE(all);
  EXPECT_THAT(ClusterNames(*all), ElementsAre("default/echo:8080", "default/web:8080"));
  ASSERT_TRUE(stream->Send(Ack(*all, {})));

  Serve(server, {Port("web", {Pod("10.0.1.1", "a")})});
  auto after = stream->Next();
  ASSERT_TRUE(after);
  EXPECT_THAT(ClusterNames(*after), ElementsAre("default/web:8080"));
}

TEST(AdsSotw, AChangedClusterIsFollowedByItsEndpointsEvenWhenTheyDidNotChange) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {}, &node)));
  auto cds = stream->Next();
  ASSERT_TRUE(cds);
  ASSERT_TRUE(stream->Send(Ack(*cds, {})));
  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"})));
  auto eds = stream->Next();
  ASSERT_TRUE(eds);
  ASSERT_TRUE(stream->Send(Ack(*eds, {"default/echo:8080"})));
  EXPECT_FALSE(stream->Next(kQuiet));

  ServicePort changed = Port("echo", {Pod("10.0.0.1", "a")});
  changed.traffic_distribution = "PreferClose";  // the cluster's metadata changes, not its CLA
  Serve(server, {changed});
  auto cds2 = stream->Next();
  ASSERT_TRUE(cds2);
  EXPECT_EQ(cds2->type_url(), kClusterTypeUrl);
  auto eds2 = stream->Next();
  ASSERT_TRUE(eds2) << "EDS must follow a cluster change";
  EXPECT_EQ(eds2->type_url(), kClusterLoadAssignmentTypeUrl);
  EXPECT_EQ(eds2->version_info(), eds->version_info());
}

TEST(AdsSotw, EndpointPushesCarryOnlyTheChangedAssignments) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  const std::vector<std::string> both = {"default/echo:8080", "default/web:8080"};
  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, both, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->resources_size(), 2);
  ASSERT_TRUE(stream->Send(Ack(*first, both)));
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}),
                 Port("web", {Pod("10.0.1.1", "a"), Pod("10.0.1.2", "a")})});
  auto pushed = stream->Next();
  ASSERT_TRUE(pushed);
  auto clas = Unpack<endpoint_v3::ClusterLoadAssignment>(*pushed);
  ASSERT_EQ(clas.size(), 1u);
  EXPECT_EQ(clas[0].cluster_name(), "default/web:8080");
}

TEST(AdsSotw, AGrpcClientsZoneIsPreferredAndSpillsWhenItLacksCapacity) {
  AdsServerFixture server;
  // Zone a has 1 of 4 pods but half the clients: it keeps half its clients' traffic.
  Serve(server,
        {Port("echo", {Pod("10.0.0.1", "a"), Pod("10.0.0.2", "b"), Pod("10.0.0.3", "b"),
                       Pod("10.0.0.4", "b")})},
        {{"a", 2}, {"b", 2}});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode("a");
  ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"}, &node)));
  auto eds = stream->Next();
  ASSERT_TRUE(eds);
  auto cla = Unpack<endpoint_v3::ClusterLoadAssignment>(*eds).at(0);
  ASSERT_EQ(cla.endpoints_size(), 2);
  EXPECT_EQ(cla.endpoints(0).locality().zone(), "a");
  EXPECT_EQ(cla.endpoints(0).priority(), 0u);
  EXPECT_EQ(cla.endpoints(1).priority(), 0u);
  EXPECT_EQ(cla.endpoints(0).load_balancing_weight().value(), kLocalityWeightScale / 2);
  EXPECT_EQ(cla.endpoints(1).load_balancing_weight().value(), kLocalityWeightScale / 2);

  // A client in zone b, which has spare capacity, stays at home.
  auto other = OpenSotw(server.NewChannel());
  const auto node_b = GrpcNode("b");
  ASSERT_TRUE(other->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"}, &node_b)));
  auto eds_b = other->Next();
  ASSERT_TRUE(eds_b);
  auto cla_b = Unpack<endpoint_v3::ClusterLoadAssignment>(*eds_b).at(0);
  EXPECT_EQ(cla_b.endpoints(0).priority(), 1u);  // zone a: failover only
  EXPECT_EQ(cla_b.endpoints(1).priority(), 0u);
}

TEST(AdsSotw, VersionsAreContentHashesThatSurviveARestart) {
  std::string versions[2];
  for (std::string& version : versions) {
    AdsServerFixture server;
    Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
    auto stream = OpenSotw(server.channel());
    const auto node = GrpcNode();
    ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {"default/echo:8080"}, &node)));
    auto cds = stream->Next();
    ASSERT_TRUE(cds);
    version = cds->version_info();
  }
  EXPECT_EQ(versions[0], versions[1]);
  EXPECT_EQ(versions[0].size(), 16u);
}

TEST(AdsSotw, AStuckClientDoesNotDelayTheOthers) {
  AdsServerFixture server;
  auto many_ports = [](int generation) {
    std::vector<ServicePort> ports;
    for (int i = 0; i < 2000; ++i) {
      ServicePort port = Port("svc-" + std::to_string(i), {Pod("10.0.0.1", "a")});
      port.app_protocol = "gen-" + std::to_string(generation);  // every cluster changes
      ports.push_back(port);
    }
    return ports;
  };
  Serve(server, many_ports(0));
  // The stuck client asks for every cluster (hundreds of KiB) and never reads.
  auto stuck = OpenSotw(server.NewChannel(), /*reading=*/false);
  const auto agent = AgentNode();
  ASSERT_TRUE(stuck->Send(Request(kClusterTypeUrl, {}, &agent)));

  auto healthy = OpenSotw(server.NewChannel());
  const auto node = GrpcNode();
  ASSERT_TRUE(healthy->Send(Request(kClusterTypeUrl, {"default/svc-7:8080"}, &node)));
  auto first = healthy->Next();
  ASSERT_TRUE(first);
  ASSERT_TRUE(healthy->Send(Ack(*first, {"default/svc-7:8080"})));
  for (int generation = 1; generation <= 5; ++generation) {
    Serve(server, many_ports(generation));
    auto pushed = healthy->Next(std::chrono::seconds(2));
    ASSERT_TRUE(pushed) << "generation " << generation << " did not reach the healthy client";
    ASSERT_TRUE(healthy->Send(Ack(*pushed, {"default/svc-7:8080"})));
  }
}

TEST(AdsSotw, MetricsCountStreamsAndPushes) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenSotw(server.channel());
  const auto node = GrpcNode();
  ASSERT_TRUE(stream->Send(Request(kClusterTypeUrl, {"default/echo:8080"}, &node)));
  ASSERT_TRUE(stream->Next());
  EXPECT_EQ(server.metrics().streams.With({"sotw", "grpc"}).value(), 1);
  EXPECT_EQ(server.metrics().pushes.With({"Cluster"}).value(), 1u);
  const std::string text = server.registry().Render();
  EXPECT_THAT(text,
              ::testing::HasSubstr("skewless_xds_streams{protocol=\"sotw\",audience=\"grpc\"} 1"));
}

DeltaDiscoveryRequest DeltaRequest(std::string_view type_url, std::vector<std::string> subscribe,
                                   const envoy::config::core::v3::Node* node = nullptr) {
  DeltaDiscoveryRequest request;
  request.set_type_url(std::string(type_url));
  for (auto& name : subscribe) request.add_resource_names_subscribe(name);
  if (node) *request.mutable_node() = *node;
  return request;
}

TEST(AdsDelta, WildcardClustersThenOnlyChangesAndRemovals) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})});
  auto stream = OpenDelta(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterTypeUrl, {"*"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  EXPECT_THAT(Names(*first), ElementsAre("default/echo:8080", "default/web:8080"));
  EXPECT_EQ(first->resources(0).version().size(), 16u);
  ASSERT_TRUE(stream->Send(DeltaAck(*first)));

  ServicePort web = Port("web", {Pod("10.0.1.1", "a")});
  web.app_protocol = "grpc";
  Serve(server, {web});
  auto pushed = stream->Next();
  ASSERT_TRUE(pushed);
  EXPECT_THAT(Names(*pushed), ElementsAre("default/web:8080"));
  EXPECT_THAT(pushed->removed_resources(), ElementsAre("default/echo:8080"));
}

TEST(AdsDelta, AWildcardWithNothingToServeIsAnsweredOnceEmpty) {
  AdsServerFixture server;
  Serve(server, {});
  auto stream = OpenDelta(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterTypeUrl, {"*"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first) << "an agent on an empty cluster must learn that it is empty";
  EXPECT_THAT(Names(*first), IsEmpty());
  EXPECT_THAT(first->removed_resources(), IsEmpty());
  ASSERT_TRUE(stream->Send(DeltaAck(*first)));
  Serve(server, {});
  EXPECT_FALSE(stream->Next(kQuiet)) << "only once";
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto appeared = stream->Next();
  ASSERT_TRUE(appeared);
  EXPECT_THAT(Names(*appeared), ElementsAre("default/echo:8080"));
}

TEST(AdsDelta, ASubscribedNameThatDoesNotExistIsReportedRemovedOnce) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenDelta(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterLoadAssignmentTypeUrl,
                                        {"default/echo:8080", "default/nope:8080"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  EXPECT_THAT(Names(*first), ElementsAre("default/echo:8080"));
  EXPECT_THAT(first->removed_resources(), ElementsAre("default/nope:8080"));
  ASSERT_TRUE(stream->Send(DeltaAck(*first)));
  EXPECT_FALSE(stream->Next(kQuiet));

  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("nope", {Pod("10.0.2.1", "a")})});
  auto appeared = stream->Next();
  ASSERT_TRUE(appeared);
  EXPECT_THAT(Names(*appeared), ElementsAre("default/nope:8080"));
  EXPECT_THAT(appeared->removed_resources(), IsEmpty());
}

TEST(AdsDelta, AnUnknownTypesNamesAreReportedRemovedOnce) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenDelta(server.channel());
  const auto node = AgentNode();
  constexpr std::string_view kRuntime = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
  ASSERT_TRUE(stream->Send(DeltaRequest(kRuntime, {"rtds-layer"}, &node)));
  auto answer = stream->Next();
  ASSERT_TRUE(answer) << "a subscription to an unknown type must be answered";
  EXPECT_EQ(answer->type_url(), kRuntime);
  EXPECT_THAT(Names(*answer), IsEmpty());
  EXPECT_THAT(answer->removed_resources(), ElementsAre("rtds-layer"));
  ASSERT_TRUE(stream->Send(DeltaAck(*answer)));
  EXPECT_FALSE(stream->Next(kQuiet)) << "reported once";
}

TEST(AdsDelta, AReconnectWithInitialVersionsGetsOnlyWhatChanged) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), Port("web", {Pod("10.0.1.1", "a")})});
  std::map<std::string, std::string> held;
  {
    auto stream = OpenDelta(server.channel());
    const auto node = AgentNode();
    ASSERT_TRUE(stream->Send(DeltaRequest(kClusterTypeUrl, {"*"}, &node)));
    auto first = stream->Next();
    ASSERT_TRUE(first);
    for (const auto& resource : first->resources()) held[resource.name()] = resource.version();
  }
  ServicePort web = Port("web", {Pod("10.0.1.1", "a")});
  web.app_protocol = "grpc";
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")}), web});

  auto stream = OpenDelta(server.NewChannel());
  const auto node = AgentNode();
  DeltaDiscoveryRequest request = DeltaRequest(kClusterTypeUrl, {"*"}, &node);
  for (const auto& [name, version] : held)
    (*request.mutable_initial_resource_versions())[name] = version;
  ASSERT_TRUE(stream->Send(request));
  auto resumed = stream->Next();
  ASSERT_TRUE(resumed);
  EXPECT_THAT(Names(*resumed), ElementsAre("default/web:8080"));
}

TEST(AdsDelta, ANackIsCounted) {
  AdsServerFixture server;
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  auto stream = OpenDelta(server.channel());
  const auto node = AgentNode();
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterTypeUrl, {"*"}, &node)));
  auto first = stream->Next();
  ASSERT_TRUE(first);
  DeltaDiscoveryRequest nack = DeltaAck(*first);
  nack.mutable_error_detail()->set_message("no room in the services map");
  ASSERT_TRUE(stream->Send(nack));
  EXPECT_FALSE(stream->Next(kQuiet));
  EXPECT_EQ(server.metrics().nacks.With({"Cluster"}).value(), 1u);
}

// Limits: a stream over one is closed with RESOURCE_EXHAUSTED, counted by reason; the
// others go on.
std::vector<std::string> ManyNames(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) names.push_back("default/svc-" + std::to_string(i) + ":8080");
  return names;
}

TEST(AdsLimits, AStreamSubscribingTooManyNamesIsClosedAndOthersGoOn) {
  AdsServerFixture server({.max_names_per_stream = 10});
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  const auto node = AgentNode();
  auto greedy = OpenSotw(server.NewChannel());
  ASSERT_TRUE(greedy->Send(Request(kClusterLoadAssignmentTypeUrl, ManyNames(10), &node)));
  std::optional<grpc::Status> ended = greedy->Finished(std::chrono::seconds(5));
  ASSERT_TRUE(ended) << "10 names and 1 type are 11 > 10";
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(ended->error_message(), ::testing::HasSubstr("--max-names-per-stream"));
  EXPECT_EQ(server.metrics().rejections.With({"names_per_stream"}).value(), 1u);

  auto modest = OpenSotw(server.NewChannel());
  ASSERT_TRUE(modest->Send(Request(kClusterLoadAssignmentTypeUrl, {"default/echo:8080"}, &node)));
  EXPECT_TRUE(modest->Next());
}

TEST(AdsLimits, DeltaSubscriptionsAddUpToTheNameLimit) {
  AdsServerFixture server({.max_names_per_stream = 10});
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  const auto node = AgentNode();
  auto stream = OpenDelta(server.channel());
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterLoadAssignmentTypeUrl, ManyNames(5), &node)));
  ASSERT_TRUE(stream->Next());
  ASSERT_TRUE(stream->Send(DeltaRequest(kClusterLoadAssignmentTypeUrl, ManyNames(9), nullptr)));
  std::optional<grpc::Status> ended = stream->Finished(std::chrono::seconds(5));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(AdsLimits, APeerBeyondItsStreamsIsRefusedAndAnotherPeerIsNot) {
  AdsServerFixture server({.max_streams_per_peer = 2});
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  const auto node = AgentNode();
  std::vector<std::unique_ptr<testing::SotwStream>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(OpenSotw(server.NewChannel()));
    ASSERT_TRUE(streams.back()->Send(Request(kClusterTypeUrl, {}, &node)));
  }
  int answered = 0, refused = 0;
  for (auto& stream : streams) {
    if (stream->Next(std::chrono::seconds(2))) {
      ++answered;
    } else {
      std::optional<grpc::Status> ended = stream->Finished(std::chrono::seconds(2));
      ASSERT_TRUE(ended);
      EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++refused;
    }
  }
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(server.metrics().rejections.With({"streams_per_peer"}).value(), 1u);

  auto other_node = AgentNode();
  other_node.set_id("node-b");
  auto other = OpenSotw(server.NewChannel());
  ASSERT_TRUE(other->Send(Request(kClusterTypeUrl, {}, &other_node)));
  EXPECT_TRUE(other->Next()) << "the limit is per peer";
  // A closed stream gives its place back.
  streams.clear();
  auto back = OpenSotw(server.NewChannel());
  ASSERT_TRUE(back->Send(Request(kClusterTypeUrl, {}, &node)));
  EXPECT_TRUE(back->Next(std::chrono::seconds(5)));
}

TEST(AdsLimits, StreamsBeyondTheTotalAreRefused) {
  AdsServerFixture server({.max_streams = 1});
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  const auto node = AgentNode();
  auto first = OpenSotw(server.NewChannel());
  ASSERT_TRUE(first->Send(Request(kClusterTypeUrl, {}, &node)));
  ASSERT_TRUE(first->Next());
  auto second = OpenSotw(server.NewChannel());
  std::optional<grpc::Status> ended = second->Finished(std::chrono::seconds(5));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(ended->error_message(), ::testing::HasSubstr("--max-streams"));
  EXPECT_EQ(server.metrics().rejections.With({"streams"}).value(), 1u);
}

TEST(AdsLimits, TheMemoryEstimateFollowsSubscriptionsAndItsLimitClosesTheStream) {
  AdsServerFixture server({.max_stream_memory_bytes = 1u << 20});
  Serve(server, {Port("echo", {Pod("10.0.0.1", "a")})});
  const auto node = AgentNode();
  {
    auto stream = OpenSotw(server.NewChannel());
    ASSERT_TRUE(stream->Send(Request(kClusterLoadAssignmentTypeUrl, ManyNames(1000), &node)));
    // No answer (none of the names exist): wait for the estimate instead.
    double estimate = 0;
    for (int i = 0; i < 100 && estimate == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      estimate = server.metrics().stream_memory.With({}).value();
    }
    // 1,000 names of ~20 bytes, in three containers: well above 100 KiB, below 1 MiB.
    EXPECT_GT(estimate, 100e3);
    EXPECT_LT(estimate, 1e6);
  }
  for (int i = 0; i < 100 && server.metrics().stream_memory.With({}).value() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(server.metrics().stream_memory.With({}).value(), 0) << "given back on close";

  auto big = OpenSotw(server.NewChannel());
  ASSERT_TRUE(big->Send(Request(kClusterLoadAssignmentTypeUrl, ManyNames(10000), &node)));
  std::optional<grpc::Status> ended = big->Finished(std::chrono::seconds(5));
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(ended->error_message(), ::testing::HasSubstr("--max-stream-memory-bytes"));
  EXPECT_EQ(server.metrics().rejections.With({"stream_memory"}).value(), 1u);
}

TEST(ResourceCache, ABadPortIsReportedAndKeepsItsLastGoodVersion) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("echo", {Pod("10.0.0.1", "a")})})}),
              IsEmpty());
  std::vector<absl::Status> errors =
      cache.Update({.ports = SharedPorts({Port("echo", {Pod("10.0.0.x", "a")}),
                                          Port("web", {Pod("10.0.1.1", "a")})})});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(std::string(errors[0].message()), ::testing::HasSubstr("default/echo:8080"));
  auto snapshot = cache.Snapshot({});
  const TypeResources& clas = snapshot->Of(kClusterLoadAssignmentTypeUrl);
  ASSERT_TRUE(clas.contains("default/echo:8080"));
  ASSERT_TRUE(clas.contains("default/web:8080"));
  endpoint_v3::ClusterLoadAssignment echo;
  ASSERT_TRUE(clas.at("default/echo:8080")->UnpackTo(&echo));
  EXPECT_THAT(Addresses(echo), ElementsAre("10.0.0.1"));
}

TEST(ResourceCache, UnchangedPortsShareTheirBuiltResources) {
  ResourceCache cache;
  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("echo", {Pod("10.0.0.1", "a")})})}),
              IsEmpty());
  auto before = cache.Snapshot({})->Of(kClusterTypeUrl).at("default/echo:8080");
  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("echo", {Pod("10.0.0.1", "a")}),
                                                  Port("web", {Pod("10.0.1.1", "a")})})}),
              IsEmpty());
  auto after = cache.Snapshot({})->Of(kClusterTypeUrl).at("default/echo:8080");
  // The very same resource (and so the same serialized body) serves both generations.
  EXPECT_EQ(before.get(), after.get());
}

TEST(ResourceCache, AgentsGetNodeInfosAndEndpointNodes) {
  ResourceCache cache;
  Endpoint pod = Pod("10.0.0.1", "zone-a");
  pod.node_name = "node-1";
  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("echo", {pod})}),
                            .node_zones = {{"node-1", "zone-a"}, {"node-2", ""}}}),
              IsEmpty());

  auto agent = cache.Snapshot({.audience = EndpointAudience::kAgent});
  const TypeResources& nodes = agent->Of(kNodeInfoTypeUrl);
  ASSERT_EQ(nodes.size(), 2u);
  skewless::agent::v1::NodeInfo info;
  ASSERT_TRUE(nodes.at("node-1")->UnpackTo(&info));
  EXPECT_EQ(info.name(), "node-1");
  EXPECT_EQ(info.zone(), "zone-a");
  endpoint_v3::ClusterLoadAssignment cla;
  ASSERT_TRUE(agent->Of(kClusterLoadAssignmentTypeUrl).at("default/echo:8080")->UnpackTo(&cla));
  const auto& metadata = cla.endpoints(0).lb_endpoints(0).metadata().filter_metadata();
  ASSERT_TRUE(metadata.contains(std::string(kMetadataNamespace)));
  EXPECT_EQ(metadata.at(std::string(kMetadataNamespace))
                .fields()
                .at(std::string(kMetadataNodeName))
                .string_value(),
            "node-1");

  // gRPC clients get neither: no node resources, no endpoint metadata.
  auto grpc = cache.Snapshot({.audience = EndpointAudience::kGrpcClient});
  EXPECT_THAT(grpc->Of(kNodeInfoTypeUrl), IsEmpty());
  ASSERT_TRUE(grpc->Of(kClusterLoadAssignmentTypeUrl).at("default/echo:8080")->UnpackTo(&cla));
  EXPECT_FALSE(cla.endpoints(0).lb_endpoints(0).has_metadata());

  // A node that changes zone gets a new NodeInfo version; unchanged nodes keep theirs.
  const std::string version = nodes.at("node-2")->version;
  ASSERT_THAT(cache.Update({.ports = SharedPorts({Port("echo", {pod})}),
                            .node_zones = {{"node-1", "zone-b"}, {"node-2", ""}}}),
              IsEmpty());
  agent = cache.Snapshot({.audience = EndpointAudience::kAgent});
  ASSERT_TRUE(agent->Of(kNodeInfoTypeUrl).at("node-1")->UnpackTo(&info));
  EXPECT_EQ(info.zone(), "zone-b");
  EXPECT_EQ(agent->Of(kNodeInfoTypeUrl).at("node-2")->version, version);
}

}  // namespace
}  // namespace skewless::xds
