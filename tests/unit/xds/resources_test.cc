// The xDS resource builder: names, endpoint health per audience, zone priorities,
// the gRPC client's EDS rules, LDS/RDS for proxyless targets, versions.
#include "skewless/xds/resources.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"

namespace skewless::xds {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
namespace core_v3 = envoy::config::core::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;

Endpoint Ready(std::string address, std::string zone, std::uint32_t weight = 1) {
  return Endpoint{
      .addresses = {std::move(address)}, .port = 8080, .zone = std::move(zone), .weight = weight};
}

Endpoint Draining(std::string address, std::string zone) {
  Endpoint endpoint = Ready(std::move(address), std::move(zone));
  endpoint.ready = false;
  endpoint.terminating = true;
  return endpoint;
}

Endpoint NotReady(std::string address, std::string zone) {
  Endpoint endpoint = Ready(std::move(address), std::move(zone));
  endpoint.ready = false;
  endpoint.serving = false;
  return endpoint;
}

ServicePort Service(std::vector<Endpoint> endpoints) {
  return ServicePort{.namespace_name = "shop",
                     .name = "cart",
                     .port_name = "grpc",
                     .port = 50051,
                     .protocol = "TCP",
                     .app_protocol = "kubernetes.io/h2c",
                     .cluster_ips = {"10.96.0.10", "fd00:96::10"},
                     .traffic_distribution = "PreferSameZone",
                     .endpoints = std::move(endpoints)};
}

endpoint_v3::ClusterLoadAssignment Cla(const ServicePort& service_port,
                                       EndpointAudience audience = EndpointAudience::kAgent,
                                       std::string client_zone = "") {
  absl::StatusOr<endpoint_v3::ClusterLoadAssignment> cla = BuildLoadAssignment(
      service_port, {.audience = audience, .client_zone = std::move(client_zone)});
  EXPECT_TRUE(cla.ok()) << cla.status();
  return cla.ok() ? *cla : endpoint_v3::ClusterLoadAssignment();
}

std::string AddressOf(const endpoint_v3::LbEndpoint& lb_endpoint) {
  return lb_endpoint.endpoint().address().socket_address().address();
}

// zone → [address:health], in the CLA's order.
std::vector<std::string> Summary(const endpoint_v3::ClusterLoadAssignment& cla) {
  std::vector<std::string> out;
  for (const auto& locality : cla.endpoints()) {
    for (const auto& lb_endpoint : locality.lb_endpoints()) {
      out.push_back(locality.locality().zone() + " " + AddressOf(lb_endpoint) + " " +
                    core_v3::HealthStatus_Name(lb_endpoint.health_status()));
    }
  }
  return out;
}

// The gRFC A27/A28 rules a gRPC client enforces on a CLA.
void ExpectGrpcValid(const endpoint_v3::ClusterLoadAssignment& cla) {
  std::set<std::string> addresses;
  std::set<std::uint32_t> priorities;
  for (const auto& locality : cla.endpoints()) {
    EXPECT_TRUE(locality.has_load_balancing_weight()) << locality.locality().zone();
    EXPECT_GT(locality.load_balancing_weight().value(), 0u);
    priorities.insert(locality.priority());
    for (const auto& lb_endpoint : locality.lb_endpoints()) {
      EXPECT_EQ(lb_endpoint.health_status(), core_v3::HEALTHY);
      const auto& socket = lb_endpoint.endpoint().address().socket_address();
      EXPECT_NE(socket.port_value(), 0u);
      EXPECT_TRUE(addresses.insert(socket.address()).second) << "duplicate " << socket.address();
      for (const auto& extra : lb_endpoint.endpoint().additional_addresses()) {
        EXPECT_TRUE(addresses.insert(extra.address().socket_address().address()).second);
      }
    }
  }
  // Priorities 0..n-1 without gaps.
  std::uint32_t expected = 0;
  for (std::uint32_t priority : priorities) EXPECT_EQ(priority, expected++);
}

TEST(TypeUrls, AreTheMessagesFullNamesUnderTypeGoogleapisCom) {
  google::protobuf::Any any;
  any.PackFrom(envoy::config::cluster::v3::Cluster());
  EXPECT_EQ(any.type_url(), kClusterTypeUrl);
  any.PackFrom(endpoint_v3::ClusterLoadAssignment());
  EXPECT_EQ(any.type_url(), kClusterLoadAssignmentTypeUrl);
  any.PackFrom(envoy::config::listener::v3::Listener());
  EXPECT_EQ(any.type_url(), kListenerTypeUrl);
  any.PackFrom(envoy::config::route::v3::RouteConfiguration());
  EXPECT_EQ(any.type_url(), kRouteConfigurationTypeUrl);
  any.PackFrom(hcm_v3::HttpConnectionManager());
  EXPECT_EQ(any.type_url(), kHttpConnectionManagerTypeUrl);
  any.PackFrom(envoy::extensions::filters::http::router::v3::Router());
  EXPECT_EQ(any.type_url(), kRouterTypeUrl);
  EXPECT_EQ(kClusterTypeUrl, "type.googleapis.com/envoy.config.cluster.v3.Cluster");
  EXPECT_EQ(kClusterLoadAssignmentTypeUrl,
            "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment");
}

TEST(ClusterName, IsNamespaceSlashNameColonPortNameOrNumber) {
  ServicePort service_port = Service({});
  EXPECT_EQ(ClusterName(service_port), "shop/cart:grpc");
  service_port.port_name.clear();
  EXPECT_EQ(ClusterName(service_port), "shop/cart:50051");
}

TEST(BuildCluster, IsAnEdsClusterOverAdsWithServiceMetadata) {
  absl::StatusOr<envoy::config::cluster::v3::Cluster> cluster = BuildCluster(Service({}));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(cluster->name(), "shop/cart:grpc");
  EXPECT_EQ(cluster->type(), envoy::config::cluster::v3::Cluster::EDS);
  EXPECT_TRUE(cluster->eds_cluster_config().eds_config().has_ads());
  EXPECT_EQ(cluster->eds_cluster_config().eds_config().resource_api_version(), core_v3::V3);
  EXPECT_EQ(cluster->eds_cluster_config().service_name(), "shop/cart:grpc");
  EXPECT_EQ(cluster->lb_policy(), envoy::config::cluster::v3::Cluster::ROUND_ROBIN);
  EXPECT_GT(cluster->connect_timeout().seconds(), 0);

  const auto& fields = cluster->metadata().filter_metadata().at("skewless.io").fields();
  std::vector<std::string> cluster_ips;
  for (const auto& value : fields.at("cluster_ips").list_value().values()) {
    cluster_ips.push_back(value.string_value());
  }
  EXPECT_THAT(cluster_ips, ElementsAre("10.96.0.10", "fd00:96::10"));
  EXPECT_EQ(fields.at("port").number_value(), 50051);
  EXPECT_EQ(fields.at("protocol").string_value(), "TCP");
  EXPECT_EQ(fields.at("app_protocol").string_value(), "kubernetes.io/h2c");
  EXPECT_EQ(fields.at("trafficDistribution").string_value(), "PreferSameZone");
}

TEST(BuildCluster, RejectsAServicePortWithoutNamespaceOrPort) {
  ServicePort service_port = Service({});
  service_port.namespace_name.clear();
  EXPECT_EQ(BuildCluster(service_port).status().code(), absl::StatusCode::kInvalidArgument);
  service_port = Service({});
  service_port.port = 0;
  EXPECT_EQ(BuildCluster(service_port).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BuildLoadAssignment, ForAgentsMapsReadyToHealthyAndServingTerminatingToDraining) {
  const auto cla =
      Cla(Service({Ready("10.0.0.2", "b"), Draining("10.0.0.1", "a"), NotReady("10.0.0.3", "a")}));
  EXPECT_EQ(cla.cluster_name(), "shop/cart:grpc");
  EXPECT_THAT(Summary(cla),
              ElementsAre("a 10.0.0.1 DRAINING", "a 10.0.0.3 UNHEALTHY", "b 10.0.0.2 HEALTHY"));
}

TEST(BuildLoadAssignment, ReadyDecidesWhateverServingAndTerminatingSay) {
  // A Service with publishNotReadyAddresses: the EndpointSlice controller keeps its pods
  // ready while they terminate or stop serving, and kube-proxy sends them new traffic.
  Endpoint terminating = Ready("10.0.0.1", "a");
  terminating.terminating = true;
  Endpoint not_serving = Ready("10.0.0.2", "a");
  not_serving.serving = false;
  not_serving.terminating = true;
  EXPECT_THAT(Summary(Cla(Service({terminating, not_serving}))),
              ElementsAre("a 10.0.0.1 HEALTHY", "a 10.0.0.2 HEALTHY"));
  EXPECT_THAT(Summary(Cla(Service({terminating, not_serving}), EndpointAudience::kGrpcClient)),
              ElementsAre("a 10.0.0.1 HEALTHY", "a 10.0.0.2 HEALTHY"));
}

TEST(BuildLoadAssignment, OneLocalityPerZoneWeightedByTheSumOfItsEndpoints) {
  const auto cla = Cla(
      Service({Ready("10.0.0.1", "a", 2), Ready("10.0.0.2", "a", 3), Ready("10.0.0.3", "b", 4)}));
  ASSERT_EQ(cla.endpoints_size(), 2);
  EXPECT_EQ(cla.endpoints(0).locality().zone(), "a");
  EXPECT_EQ(cla.endpoints(0).load_balancing_weight().value(), 5u);
  EXPECT_EQ(cla.endpoints(0).lb_endpoints(1).load_balancing_weight().value(), 3u);
  EXPECT_EQ(cla.endpoints(1).locality().zone(), "b");
  EXPECT_EQ(cla.endpoints(1).load_balancing_weight().value(), 4u);
  EXPECT_EQ(cla.endpoints(0).lb_endpoints(0).endpoint().address().socket_address().port_value(),
            8080u);
}

TEST(BuildLoadAssignment, ForGrpcKeepsOnlyReadyEndpoints) {
  const auto cla =
      Cla(Service({Ready("10.0.0.1", "a"), Draining("10.0.0.2", "a"), NotReady("10.0.0.3", "b")}),
          EndpointAudience::kGrpcClient);
  EXPECT_THAT(Summary(cla), ElementsAre("a 10.0.0.1 HEALTHY"));
  ExpectGrpcValid(cla);
}

TEST(BuildLoadAssignment, ForGrpcWithNothingReadyHasNoLocalities) {
  const auto cla = Cla(Service({Draining("10.0.0.2", "a")}), EndpointAudience::kGrpcClient);
  EXPECT_EQ(cla.cluster_name(), "shop/cart:grpc");
  EXPECT_EQ(cla.endpoints_size(), 0);
}

TEST(BuildLoadAssignment, NeverRepeatsAnAddressAndKeepsTheReadyCopy) {
  // The same pod in an old and a new EndpointSlice, once spelled differently.
  const ServicePort service_port =
      Service({NotReady("fd00::1", "a"), Ready("fd00:0::1", "b"), Ready("fd00::1", "b"),
               Ready("10.0.0.1", "a"), Ready("10.0.0.1", "a")});
  const auto agent = Cla(service_port);
  EXPECT_THAT(Summary(agent), ElementsAre("a 10.0.0.1 HEALTHY", "b fd00::1 HEALTHY"));
  const auto grpc = Cla(service_port, EndpointAudience::kGrpcClient);
  EXPECT_THAT(Summary(grpc), ElementsAre("a 10.0.0.1 HEALTHY", "b fd00::1 HEALTHY"));
  ExpectGrpcValid(grpc);
}

TEST(BuildLoadAssignment, DualStackEndpointCarriesItsOtherFamilyAsAdditionalAddress) {
  Endpoint endpoint = Ready("10.0.0.1", "a");
  endpoint.addresses.push_back("fd00::1");
  endpoint.hostname = "cart-0";
  // A v6-only copy of the same pod must not reappear as a second endpoint.
  const auto cla = Cla(Service({endpoint, Ready("fd00::1", "a")}), EndpointAudience::kGrpcClient);
  ASSERT_EQ(cla.endpoints_size(), 1);
  ASSERT_EQ(cla.endpoints(0).lb_endpoints_size(), 1);
  const auto& built = cla.endpoints(0).lb_endpoints(0).endpoint();
  EXPECT_EQ(built.address().socket_address().address(), "10.0.0.1");
  ASSERT_EQ(built.additional_addresses_size(), 1);
  EXPECT_EQ(built.additional_addresses(0).address().socket_address().address(), "fd00::1");
  EXPECT_EQ(built.additional_addresses(0).address().socket_address().port_value(), 8080u);
  EXPECT_EQ(built.hostname(), "cart-0");
  ExpectGrpcValid(cla);
}

TEST(BuildLoadAssignment, ClientZoneIsPriorityZeroAndEveryOtherZonePriorityOne) {
  const ServicePort service_port = Service({Ready("10.0.0.1", "a"), Ready("10.0.0.2", "b"),
                                            Ready("10.0.0.3", "c"), Draining("10.0.0.4", "c")});
  for (EndpointAudience audience : {EndpointAudience::kAgent, EndpointAudience::kGrpcClient}) {
    const auto cla = Cla(service_port, audience, "b");
    ASSERT_EQ(cla.endpoints_size(), 3);
    EXPECT_EQ(cla.endpoints(0).priority(), 1u);  // a
    EXPECT_EQ(cla.endpoints(1).priority(), 0u);  // b
    EXPECT_EQ(cla.endpoints(2).priority(), 1u);  // c
    if (audience == EndpointAudience::kGrpcClient) ExpectGrpcValid(cla);
  }
}

TEST(BuildLoadAssignment, ClientZoneWithoutReadyEndpointPutsEverythingAtPriorityZero) {
  const ServicePort service_port = Service({Draining("10.0.0.1", "a"), Ready("10.0.0.2", "b")});
  for (const char* zone : {"a", "unknown", ""}) {
    for (EndpointAudience audience : {EndpointAudience::kAgent, EndpointAudience::kGrpcClient}) {
      const auto cla = Cla(service_port, audience, zone);
      for (const auto& locality : cla.endpoints()) EXPECT_EQ(locality.priority(), 0u) << zone;
      if (audience == EndpointAudience::kGrpcClient) ExpectGrpcValid(cla);
    }
  }
}

TEST(BuildLoadAssignment, OnlyTheClientZoneIsPriorityZeroAlone) {
  const auto cla = Cla(Service({Ready("10.0.0.1", "a"), Ready("10.0.0.2", "a")}),
                       EndpointAudience::kGrpcClient, "a");
  ASSERT_EQ(cla.endpoints_size(), 1);
  EXPECT_EQ(cla.endpoints(0).priority(), 0u);
}

TEST(BuildLoadAssignment, RejectsBadAddressesPortsAndWeights) {
  const std::vector<Endpoint> bad = {
      Ready("cart-0.shop", "a"),
      Endpoint{.port = 8080},
      Endpoint{.addresses = {"10.0.0.1"}, .port = 0},
      Ready("10.0.0.1", "a", 0),
  };
  for (const Endpoint& endpoint : bad) {
    absl::StatusOr<endpoint_v3::ClusterLoadAssignment> cla =
        BuildLoadAssignment(Service({Ready("10.0.0.9", "a"), endpoint}));
    EXPECT_EQ(cla.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(cla.status().message()), ::testing::HasSubstr("shop/cart:grpc"));
  }
}

TEST(BuildLoadAssignment, RejectsPriorityWeightsBeyondUint32) {
  constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
  const ServicePort service_port =
      Service({Ready("10.0.0.1", "a", kMax), Ready("10.0.0.2", "b", 1)});
  EXPECT_EQ(BuildLoadAssignment(service_port).status().code(), absl::StatusCode::kInvalidArgument);
  // Split across priorities each sum fits.
  EXPECT_TRUE(BuildLoadAssignment(service_port, {.client_zone = "a"}).ok());
}

TEST(GrpcTargets, AreTheServiceDnsNamesWithPortMostSpecificFirst) {
  EXPECT_THAT(GrpcTargets(Service({})), ElementsAre("cart.shop.svc.cluster.local:50051",
                                                    "cart.shop.svc:50051", "cart.shop:50051"));
  EXPECT_EQ(GrpcTargets(Service({}), "corp.example")[0], "cart.shop.svc.corp.example:50051");
}

TEST(BuildGrpcListener, IsNamedAsTheTargetWithRdsOverAdsAndRouterLast) {
  absl::StatusOr<envoy::config::listener::v3::Listener> listener =
      BuildGrpcListener("cart.shop.svc.cluster.local:50051", "shop/cart:grpc");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_EQ(listener->name(), "cart.shop.svc.cluster.local:50051");
  EXPECT_FALSE(listener->has_address());
  ASSERT_EQ(listener->api_listener().api_listener().type_url(), kHttpConnectionManagerTypeUrl);
  hcm_v3::HttpConnectionManager hcm;
  ASSERT_TRUE(listener->api_listener().api_listener().UnpackTo(&hcm));
  EXPECT_TRUE(hcm.rds().config_source().has_ads());
  EXPECT_EQ(hcm.rds().route_config_name(), "shop/cart:grpc");
  ASSERT_GT(hcm.http_filters_size(), 0);
  const hcm_v3::HttpFilter& last = hcm.http_filters(hcm.http_filters_size() - 1);
  EXPECT_EQ(last.typed_config().type_url(), kRouterTypeUrl);
  EXPECT_FALSE(last.name().empty());
}

TEST(BuildGrpcListener, RejectsAnEmptyTargetOrRouteName) {
  EXPECT_FALSE(BuildGrpcListener("", "r").ok());
  EXPECT_FALSE(BuildGrpcListener("t:1", "").ok());
}

TEST(BuildGrpcListeners, BuildsOneListenerPerTargetAllOnTheServiceRoute) {
  const ServicePort service_port = Service({});
  const std::vector<std::string> targets = GrpcTargets(service_port);
  absl::StatusOr<std::vector<envoy::config::listener::v3::Listener>> listeners =
      BuildGrpcListeners(service_port, targets);
  ASSERT_TRUE(listeners.ok()) << listeners.status();
  ASSERT_EQ(listeners->size(), targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    EXPECT_EQ((*listeners)[i].name(), targets[i]);
    hcm_v3::HttpConnectionManager hcm;
    ASSERT_TRUE((*listeners)[i].api_listener().api_listener().UnpackTo(&hcm));
    EXPECT_EQ(hcm.rds().route_config_name(), ClusterName(service_port));
  }
}

TEST(BuildRouteConfiguration, OneVirtualHostForEveryTargetRoutingAllToTheCluster) {
  const ServicePort service_port = Service({});
  const std::vector<std::string> targets = {"cart.shop.svc.cluster.local:50051", "cart.shop"};
  absl::StatusOr<envoy::config::route::v3::RouteConfiguration> routes =
      BuildRouteConfiguration(service_port, targets);
  ASSERT_TRUE(routes.ok()) << routes.status();
  EXPECT_EQ(routes->name(), "shop/cart:grpc");
  ASSERT_EQ(routes->virtual_hosts_size(), 1);
  const auto& host = routes->virtual_hosts(0);
  EXPECT_THAT(host.domains(), UnorderedElementsAre("cart.shop.svc.cluster.local:50051",
                                                   "cart.shop.svc.cluster.local", "cart.shop"));
  ASSERT_EQ(host.routes_size(), 1);
  // prefix "" must still be set: a route without a path specifier is a NACK.
  EXPECT_EQ(host.routes(0).match().path_specifier_case(),
            envoy::config::route::v3::RouteMatch::kPrefix);
  EXPECT_EQ(host.routes(0).match().prefix(), "");
  EXPECT_EQ(host.routes(0).route().cluster(), "shop/cart:grpc");
  EXPECT_FALSE(BuildRouteConfiguration(service_port, {}).ok());
}

TEST(ResourceVersion, IsFnv1aOfTheDeterministicBytes) {
  endpoint_v3::ClusterLoadAssignment cla;
  EXPECT_EQ(ResourceVersion(cla), "cbf29ce484222325");  // FNV-1a of no bytes
  cla.set_cluster_name("a");                            // bytes 0a 01 61
  EXPECT_EQ(ResourceVersion(cla), "2fe85b189d1c0a8f");
}

TEST(ResourceVersion, IgnoresInputOrderAndChangesWithContent) {
  std::vector<Endpoint> endpoints = {Ready("10.0.0.1", "a"), Ready("10.0.0.2", "b"),
                                     Draining("10.0.0.3", "a")};
  const std::string version = ResourceVersion(Cla(Service(endpoints)));
  std::reverse(endpoints.begin(), endpoints.end());
  EXPECT_EQ(ResourceVersion(Cla(Service(endpoints))), version);

  endpoints[0].weight = 2;
  EXPECT_NE(ResourceVersion(Cla(Service(endpoints))), version);

  ServicePort service_port = Service({});
  const std::string cluster_version = ResourceVersion(*BuildCluster(service_port));
  EXPECT_EQ(ResourceVersion(*BuildCluster(service_port)), cluster_version);
  service_port.traffic_distribution = "PreferSameNode";
  EXPECT_NE(ResourceVersion(*BuildCluster(service_port)), cluster_version);
}

}  // namespace
}  // namespace skewless::xds
