// Our Envoy proto subset must put each field on the wire exactly where Envoy's
// protos do: expected bytes are built by hand from field numbers taken from
// envoyproxy/data-plane-api (as shipped in @grpc/grpc-js-xds).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/discovery/v3/ads.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"

namespace {

using google::protobuf::internal::WireFormatLite;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace core_v3 = envoy::config::core::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace discovery_v3 = envoy::service::discovery::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;

// One encoded field: tag plus payload, written with protobuf's own encoder.
std::string Varint(int field, uint64_t value) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  WireFormatLite::WriteUInt64(field, value, &coded);
  coded.Trim();
  return out;
}

std::string Bytes(int field, std::string_view payload) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  WireFormatLite::WriteBytes(field, std::string(payload), &coded);
  coded.Trim();
  return out;
}

std::string Serialize(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  EXPECT_TRUE(message.SerializeToCodedStream(&coded));
  coded.Trim();
  return out;
}

TEST(ProtoWire, SocketAddressProtocolAddressAndPortAre1And2And3) {
  core_v3::Address address;
  auto* socket = address.mutable_socket_address();
  socket->set_protocol(core_v3::SocketAddress::UDP);
  socket->set_address("10.0.0.1");
  socket->set_port_value(8080);

  const std::string socket_bytes = Varint(1, 1) + Bytes(2, "10.0.0.1") + Varint(3, 8080);
  EXPECT_EQ(Serialize(address), Bytes(1, socket_bytes));
}

TEST(ProtoWire, ClusterLoadAssignmentFieldsMatchEnvoy) {
  endpoint_v3::ClusterLoadAssignment cla;
  cla.set_cluster_name("ns/svc:http");
  auto* locality_endpoints = cla.add_endpoints();
  locality_endpoints->mutable_locality()->set_region("r");
  locality_endpoints->mutable_locality()->set_zone("z");
  locality_endpoints->mutable_locality()->set_sub_zone("s");
  auto* lb_endpoint = locality_endpoints->add_lb_endpoints();
  auto* endpoint = lb_endpoint->mutable_endpoint();
  endpoint->mutable_address()->mutable_socket_address()->set_address("10.0.0.1");
  endpoint->set_hostname("pod-a");
  endpoint->add_additional_addresses()->mutable_address()->mutable_socket_address()->set_address(
      "fd00::1");
  lb_endpoint->set_health_status(core_v3::DRAINING);
  lb_endpoint->mutable_load_balancing_weight()->set_value(2);
  locality_endpoints->mutable_load_balancing_weight()->set_value(7);
  locality_endpoints->set_priority(1);
  cla.mutable_policy()->mutable_overprovisioning_factor()->set_value(140);

  const std::string endpoint_bytes = Bytes(1, Bytes(1, Bytes(2, "10.0.0.1"))) + Bytes(3, "pod-a") +
                                     Bytes(4, Bytes(1, Bytes(1, Bytes(2, "fd00::1"))));
  const std::string lb_endpoint_bytes =
      Bytes(1, endpoint_bytes) + Varint(2, core_v3::DRAINING) + Bytes(4, Varint(1, 2));
  const std::string locality_bytes = Bytes(1, "r") + Bytes(2, "z") + Bytes(3, "s");
  const std::string locality_endpoints_bytes = Bytes(1, locality_bytes) +
                                               Bytes(2, lb_endpoint_bytes) +
                                               Bytes(3, Varint(1, 7)) + Varint(5, 1);
  const std::string expected = Bytes(1, "ns/svc:http") + Bytes(2, locality_endpoints_bytes) +
                               Bytes(4, Bytes(3, Varint(1, 140)));
  EXPECT_EQ(Serialize(cla), expected);
}

TEST(ProtoWire, HealthStatusValuesMatchEnvoy) {
  EXPECT_EQ(core_v3::UNKNOWN, 0);
  EXPECT_EQ(core_v3::HEALTHY, 1);
  EXPECT_EQ(core_v3::UNHEALTHY, 2);
  EXPECT_EQ(core_v3::DRAINING, 3);
  EXPECT_EQ(core_v3::TIMEOUT, 4);
  EXPECT_EQ(core_v3::DEGRADED, 5);
}

TEST(ProtoWire, EdsClusterWithMetadataMatchesEnvoy) {
  cluster_v3::Cluster cluster;
  cluster.set_name("c");
  cluster.set_type(cluster_v3::Cluster::EDS);
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  cluster.mutable_eds_cluster_config()->mutable_eds_config()->set_resource_api_version(core_v3::V3);
  cluster.mutable_eds_cluster_config()->set_service_name("c");
  cluster.mutable_connect_timeout()->set_seconds(5);
  cluster.set_lb_policy(cluster_v3::Cluster::RING_HASH);
  (*cluster.mutable_metadata()->mutable_filter_metadata())["k"];
  cluster.mutable_common_lb_config()->mutable_locality_weighted_lb_config();

  const std::string config_source = Bytes(3, "") + Varint(6, 2);
  // A map entry is a message {key = 1, value = 2}.
  const std::string metadata = Bytes(1, Bytes(1, "k") + Bytes(2, ""));
  const std::string expected =
      Bytes(1, "c") + Varint(2, 3) + Bytes(3, Bytes(1, config_source) + Bytes(2, "c")) +
      Bytes(4, Varint(1, 5)) + Varint(6, 2) + Bytes(25, metadata) + Bytes(27, Bytes(3, ""));
  EXPECT_EQ(Serialize(cluster), expected);
  EXPECT_EQ(cluster_v3::Cluster::LEAST_REQUEST, 1);
}

TEST(ProtoWire, ApiListenerWithHttpConnectionManagerMatchesEnvoy) {
  hcm_v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix("p");
  hcm.mutable_rds()->mutable_config_source()->mutable_ads();
  hcm.mutable_rds()->set_route_config_name("r");
  auto* filter = hcm.add_http_filters();
  filter->set_name("router");
  filter->mutable_typed_config()->set_type_url("t");
  filter->set_is_optional(true);

  const std::string hcm_bytes =
      Bytes(2, "p") + Bytes(3, Bytes(1, Bytes(3, "")) + Bytes(2, "r")) +
      Bytes(5, Bytes(1, "router") + Bytes(4, Bytes(1, "t")) + Varint(6, 1));
  EXPECT_EQ(Serialize(hcm), hcm_bytes);

  envoy::config::listener::v3::Listener listener;
  listener.set_name("svc.ns.svc.cluster.local:80");
  listener.mutable_api_listener()->mutable_api_listener()->set_type_url("t");
  EXPECT_EQ(Serialize(listener),
            Bytes(1, "svc.ns.svc.cluster.local:80") + Bytes(19, Bytes(1, Bytes(1, "t"))));
}

TEST(ProtoWire, RouteConfigurationMatchesEnvoy) {
  envoy::config::route::v3::RouteConfiguration routes;
  routes.set_name("r");
  auto* host = routes.add_virtual_hosts();
  host->set_name("h");
  host->add_domains("d");
  auto* route = host->add_routes();
  route->mutable_match()->set_prefix("/");
  route->mutable_route()->set_cluster("c");

  const std::string route_bytes = Bytes(1, Bytes(1, "/")) + Bytes(2, Bytes(1, "c"));
  EXPECT_EQ(Serialize(routes),
            Bytes(1, "r") + Bytes(2, Bytes(1, "h") + Bytes(2, "d") + Bytes(3, route_bytes)));
}

TEST(ProtoWire, NodeFieldsMatchEnvoy) {
  core_v3::Node node;
  node.set_id("i");
  node.set_cluster("c");
  node.mutable_locality()->set_zone("z");
  node.set_user_agent_name("grpc");
  node.set_user_agent_version("1.51");
  node.add_client_features("f");

  EXPECT_EQ(Serialize(node), Bytes(1, "i") + Bytes(2, "c") + Bytes(4, Bytes(2, "z")) +
                                 Bytes(6, "grpc") + Bytes(7, "1.51") + Bytes(10, "f"));
}

TEST(ProtoWire, DiscoveryRequestAndResponseMatchEnvoy) {
  discovery_v3::DiscoveryRequest request;
  request.set_version_info("v");
  request.mutable_node()->set_id("i");
  request.add_resource_names("n");
  request.set_type_url("t");
  request.set_response_nonce("o");
  request.mutable_error_detail()->set_code(3);
  request.mutable_error_detail()->set_message("m");
  EXPECT_EQ(Serialize(request), Bytes(1, "v") + Bytes(2, Bytes(1, "i")) + Bytes(3, "n") +
                                    Bytes(4, "t") + Bytes(5, "o") +
                                    Bytes(6, Varint(1, 3) + Bytes(2, "m")));

  discovery_v3::DiscoveryResponse response;
  response.set_version_info("v");
  response.add_resources()->set_type_url("t");
  response.set_type_url("t");
  response.set_nonce("o");
  response.mutable_control_plane()->set_identifier("cp");
  EXPECT_EQ(Serialize(response), Bytes(1, "v") + Bytes(2, Bytes(1, "t")) + Bytes(4, "t") +
                                     Bytes(5, "o") + Bytes(6, Bytes(1, "cp")));
}

TEST(ProtoWire, DeltaDiscoveryMessagesMatchEnvoy) {
  discovery_v3::DeltaDiscoveryRequest request;
  request.mutable_node()->set_id("i");
  request.set_type_url("t");
  request.add_resource_names_subscribe("s");
  request.add_resource_names_unsubscribe("u");
  (*request.mutable_initial_resource_versions())["s"] = "1";
  request.set_response_nonce("o");
  request.mutable_error_detail()->set_code(3);
  EXPECT_EQ(Serialize(request), Bytes(1, Bytes(1, "i")) + Bytes(2, "t") + Bytes(3, "s") +
                                    Bytes(4, "u") + Bytes(5, Bytes(1, "s") + Bytes(2, "1")) +
                                    Bytes(6, "o") + Bytes(7, Varint(1, 3)));

  discovery_v3::DeltaDiscoveryResponse response;
  response.set_system_version_info("v");
  auto* resource = response.add_resources();
  resource->set_version("1");
  resource->mutable_resource()->set_type_url("t");
  resource->set_name("n");
  resource->add_aliases("a");
  resource->mutable_ttl()->set_seconds(9);
  response.set_type_url("t");
  response.set_nonce("o");
  response.add_removed_resources("gone");
  const std::string resource_bytes = Bytes(1, "1") + Bytes(2, Bytes(1, "t")) + Bytes(3, "n") +
                                     Bytes(4, "a") + Bytes(6, Varint(1, 9));
  EXPECT_EQ(Serialize(response), Bytes(1, "v") + Bytes(2, resource_bytes) + Bytes(4, "t") +
                                     Bytes(5, "o") + Bytes(6, "gone"));
}

TEST(ProtoWire, FullNamesGiveEnvoyTypeUrls) {
  EXPECT_EQ(cluster_v3::Cluster::descriptor()->full_name(), "envoy.config.cluster.v3.Cluster");
  EXPECT_EQ(endpoint_v3::ClusterLoadAssignment::descriptor()->full_name(),
            "envoy.config.endpoint.v3.ClusterLoadAssignment");
  EXPECT_EQ(envoy::config::listener::v3::Listener::descriptor()->full_name(),
            "envoy.config.listener.v3.Listener");
  EXPECT_EQ(envoy::config::route::v3::RouteConfiguration::descriptor()->full_name(),
            "envoy.config.route.v3.RouteConfiguration");
  EXPECT_EQ(hcm_v3::HttpConnectionManager::descriptor()->full_name(),
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
  EXPECT_EQ(envoy::extensions::filters::http::router::v3::Router::descriptor()->full_name(),
            "envoy.extensions.filters.http.router.v3.Router");
}

TEST(ProtoWire, AdsMethodsAreBidiStreamsAtTheirEnvoyPaths) {
  EXPECT_STREQ(discovery_v3::AggregatedDiscoveryService::service_full_name(),
               "envoy.service.discovery.v3.AggregatedDiscoveryService");
  // ads.pb.o defines no message, so nothing pulls it out of the static library
  // and its descriptors would be missing from the pool: odr-use its table.
  // Through a volatile: an optimiser folds `&table != nullptr` to true and
  // drops the reference (it did at -O2), a volatile store it must keep.
  const void* volatile ads_table = &descriptor_table_envoy_2fservice_2fdiscovery_2fv3_2fads_2eproto;
  ASSERT_NE(ads_table, nullptr);
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* method : {"StreamAggregatedResources", "DeltaAggregatedResources"}) {
    const auto* descriptor = pool->FindMethodByName(
        std::string("envoy.service.discovery.v3.AggregatedDiscoveryService.") + method);
    ASSERT_NE(descriptor, nullptr) << method;
    EXPECT_TRUE(descriptor->client_streaming()) << method;
    EXPECT_TRUE(descriptor->server_streaming()) << method;
  }
}

}  // namespace
