// Reads the skewless.io cluster metadata and each LbEndpoint into display rows.
#include "skewless/ctl/xds_view.h"

#include <cmath>

#include "envoy/config/core/v3/health_check.pb.h"
#include "google/protobuf/struct.pb.h"
#include "skewless/xds/resources.h"

namespace skewless::ctl {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Field(const Struct& metadata, std::string_view key) {
  auto it = metadata.fields().find(std::string(key));
  return it == metadata.fields().end() ? nullptr : &it->second;
}

std::string StringField(const Struct& metadata, std::string_view key) {
  const Value* value = Field(metadata, key);
  return value != nullptr && value->has_string_value() ? value->string_value() : "";
}

void ReadMetadata(const envoy::config::cluster::v3::Cluster& cluster, XdsClusterView& view) {
  const auto& filter_metadata = cluster.metadata().filter_metadata();
  auto it = filter_metadata.find(std::string(xds::kMetadataNamespace));
  if (it == filter_metadata.end()) return;
  const Struct& metadata = it->second;
  if (const Value* ips = Field(metadata, xds::kMetadataClusterIps);
      ips != nullptr && ips->has_list_value()) {
    for (const Value& ip : ips->list_value().values()) {
      if (ip.has_string_value()) view.cluster_ips.push_back(ip.string_value());
    }
  }
  if (const Value* port = Field(metadata, xds::kMetadataPort);
      port != nullptr && port->has_number_value() && port->number_value() >= 0 &&
      port->number_value() <= 65535 && std::floor(port->number_value()) == port->number_value()) {
    view.port = static_cast<std::uint32_t>(port->number_value());
  }
  view.protocol = StringField(metadata, xds::kMetadataProtocol);
  view.app_protocol = StringField(metadata, xds::kMetadataAppProtocol);
  view.traffic_distribution = StringField(metadata, xds::kMetadataTrafficDistribution);
}

XdsEndpointView EndpointOf(const envoy::config::endpoint::v3::LbEndpoint& lb_endpoint,
                           const envoy::config::endpoint::v3::LocalityLbEndpoints& locality) {
  XdsEndpointView view;
  const auto& endpoint = lb_endpoint.endpoint();
  view.address = endpoint.address().socket_address().address();
  view.port = endpoint.address().socket_address().port_value();
  for (const auto& additional : endpoint.additional_addresses()) {
    view.additional_addresses.push_back(additional.address().socket_address().address());
  }
  view.zone = locality.locality().zone();
  view.priority = locality.priority();
  view.health = envoy::config::core::v3::HealthStatus_Name(lb_endpoint.health_status());
  if (lb_endpoint.has_load_balancing_weight()) {
    view.weight = lb_endpoint.load_balancing_weight().value();
  }
  const auto& filter_metadata = lb_endpoint.metadata().filter_metadata();
  if (auto it = filter_metadata.find(std::string(xds::kMetadataNamespace));
      it != filter_metadata.end()) {
    view.node_name = StringField(it->second, xds::kMetadataNodeName);
  }
  return view;
}

}  // namespace

XdsView BuildXdsView(const XdsSnapshot& snapshot) {
  XdsView view{.server = snapshot.server,
               .node_id = snapshot.node_id,
               .control_plane = snapshot.control_plane,
               .cluster_version = snapshot.cluster_version,
               .node_known = snapshot.node.has_value(),
               .node_zone = snapshot.node ? snapshot.node->zone() : ""};
  for (const auto& cluster : snapshot.clusters) {
    XdsClusterView& entry = view.clusters.emplace_back();
    entry.name = cluster.name();
    entry.eds_name = EdsNameOf(cluster);
    ReadMetadata(cluster, entry);
    auto assignment = snapshot.assignments.find(entry.eds_name);
    entry.endpoints_received = assignment != snapshot.assignments.end();
    if (!entry.endpoints_received) continue;
    for (const auto& locality : assignment->second.endpoints()) {
      for (const auto& lb_endpoint : locality.lb_endpoints()) {
        entry.endpoints.push_back(EndpointOf(lb_endpoint, locality));
      }
    }
  }
  return view;
}

}  // namespace skewless::ctl
