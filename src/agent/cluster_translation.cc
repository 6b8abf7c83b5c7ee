// Cluster + ClusterLoadAssignment → datapath::ServiceSpec.
#include "skewless/agent/cluster_translation.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/net.h"
#include "skewless/xds/resources.h"

namespace skewless::agent {
namespace {

namespace core_v3 = envoy::config::core::v3;
using google::protobuf::Value;

absl::StatusOr<datapath::TrafficDistribution> ParseDistribution(const std::string& name) {
  if (name.empty()) return datapath::TrafficDistribution::kNone;
  if (name == "PreferClose") return datapath::TrafficDistribution::kPreferClose;
  if (name == "PreferSameZone") return datapath::TrafficDistribution::kPreferSameZone;
  if (name == "PreferSameNode") return datapath::TrafficDistribution::kPreferSameNode;
  return absl::InvalidArgumentError(absl::StrCat("unknown trafficDistribution \"", name, "\""));
}

const Value* Field(const google::protobuf::Struct& metadata, std::string_view key) {
  auto it = metadata.fields().find(std::string(key));
  return it == metadata.fields().end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> StringField(const google::protobuf::Struct& metadata,
                                        std::string_view key) {
  const Value* value = Field(metadata, key);
  if (value == nullptr) return std::string();
  if (value->kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(key), " is not a string"));
  }
  return value->string_value();
}

absl::StatusOr<AssignedEndpoint> EndpointOf(const envoy::config::endpoint::v3::LbEndpoint& lb,
                                            const std::string& zone) {
  AssignedEndpoint endpoint{.zone = zone};
  const auto& socket = lb.endpoint().address().socket_address();
  if (socket.address().empty()) return absl::InvalidArgumentError("no socket address");
  if (socket.port_specifier_case() != core_v3::SocketAddress::kPortValue ||
      socket.port_value() == 0 || socket.port_value() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(socket.address(), ": no port in 1-65535"));
  }
  endpoint.port = static_cast<std::uint16_t>(socket.port_value());
  std::vector<std::string> texts = {socket.address()};
  for (const auto& additional : lb.endpoint().additional_addresses()) {
    texts.push_back(additional.address().socket_address().address());
  }
  for (const std::string& text : texts) {
    absl::StatusOr<std::string> canonical = net::CanonicalIp(text, net::V4Mapped::kRefuse);
    if (!canonical.ok()) return canonical.status();
    endpoint.addresses.push_back(*std::move(canonical));
  }
  if (lb.has_load_balancing_weight()) {
    const std::uint32_t weight = lb.load_balancing_weight().value();
    if (weight == 0 || weight > std::numeric_limits<std::uint16_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat(socket.address(), ": weight ", weight, " is not in 1-65535"));
    }
    endpoint.weight = static_cast<std::uint16_t>(weight);
  }
  switch (lb.health_status()) {
    case core_v3::UNKNOWN:
    case core_v3::HEALTHY:
      break;
    case core_v3::DRAINING:
      endpoint.ready = false;
      endpoint.terminating = true;
      break;
    default:
      endpoint.ready = false;
      endpoint.serving = false;
      break;
  }
  auto metadata = lb.metadata().filter_metadata().find(std::string(xds::kMetadataNamespace));
  if (metadata != lb.metadata().filter_metadata().end()) {
    absl::StatusOr<std::string> node = StringField(metadata->second, xds::kMetadataNodeName);
    if (!node.ok()) return node.status();
    endpoint.node_name = *std::move(node);
  }
  return endpoint;
}

}  // namespace

absl::StatusOr<ClusterTarget> TargetOfCluster(const envoy::config::cluster::v3::Cluster& cluster) {
  auto fail = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("cluster ", cluster.name(), ": metadata ",
                                                   std::string(xds::kMetadataNamespace), ": ",
                                                   what));
  };
  if (cluster.name().empty()) return absl::InvalidArgumentError("cluster without a name");
  auto found = cluster.metadata().filter_metadata().find(std::string(xds::kMetadataNamespace));
  if (found == cluster.metadata().filter_metadata().end()) {
    return fail("missing (is the control plane skewless?)");
  }
  const google::protobuf::Struct& metadata = found->second;
  ClusterTarget target{.name = cluster.name()};

  const Value* port = Field(metadata, xds::kMetadataPort);
  if (port == nullptr || port->kind_case() != Value::kNumberValue || port->number_value() < 1 ||
      port->number_value() > 65535 ||
      port->number_value() != static_cast<int>(port->number_value())) {
    return fail(absl::StrCat(std::string(xds::kMetadataPort), " is not a port in 1-65535"));
  }
  target.port = static_cast<std::uint16_t>(port->number_value());

  absl::StatusOr<std::string> protocol = StringField(metadata, xds::kMetadataProtocol);
  if (!protocol.ok()) return fail(protocol.status().message());
  if (*protocol == "TCP" || protocol->empty()) {
    target.protocol = datapath::Protocol::kTcp;
  } else if (*protocol == "UDP") {
    target.protocol = datapath::Protocol::kUdp;
  } else if (*protocol == "SCTP") {
    target.skip_reason = "SCTP is not steered";
  } else {
    return fail(absl::StrCat("unknown protocol \"", *protocol, "\""));
  }

  absl::StatusOr<std::string> app_protocol = StringField(metadata, xds::kMetadataAppProtocol);
  if (!app_protocol.ok()) return fail(app_protocol.status().message());
  target.app_protocol = *std::move(app_protocol);
  absl::StatusOr<std::string> distribution =
      StringField(metadata, xds::kMetadataTrafficDistribution);
  if (!distribution.ok()) return fail(distribution.status().message());
  absl::StatusOr<datapath::TrafficDistribution> parsed = ParseDistribution(*distribution);
  if (!parsed.ok()) return fail(parsed.status().message());
  target.traffic_distribution = *parsed;
  absl::StatusOr<std::string> policy = StringField(metadata, xds::kMetadataLoadBalancing);
  if (!policy.ok()) return fail(policy.status().message());
  // A policy this agent does not know (a newer control plane's) steers as the default
  // rather than leaving the Service unsteered.
  target.lb_policy = ParseLbPolicy(*policy).value_or(SKW_LB_LEAST_REQUEST);

  if (const Value* ips = Field(metadata, xds::kMetadataClusterIps); ips != nullptr) {
    if (ips->kind_case() != Value::kListValue) {
      return fail(absl::StrCat(std::string(xds::kMetadataClusterIps), " is not a list"));
    }
    for (const Value& ip : ips->list_value().values()) {
      // "None" is how Kubernetes spells headless.
      if (ip.kind_case() != Value::kStringValue) {
        return fail(absl::StrCat(std::string(xds::kMetadataClusterIps), " has a non-string"));
      }
      if (ip.string_value() == "None" || ip.string_value().empty()) continue;
      absl::StatusOr<std::string> canonical =
          net::CanonicalIp(ip.string_value(), net::V4Mapped::kRefuse);
      if (!canonical.ok()) {
        return fail(absl::StrCat(std::string(xds::kMetadataClusterIps), ": ",
                                 canonical.status().message()));
      }
      if (std::find(target.vips.begin(), target.vips.end(), *canonical) == target.vips.end()) {
        target.vips.push_back(*std::move(canonical));
      }
    }
  }
  if (target.vips.empty() && target.skip_reason.empty()) {
    target.skip_reason = "headless (no cluster IP)";
  }
  return target;
}

absl::StatusOr<std::vector<AssignedEndpoint>> EndpointsOfAssignment(
    const envoy::config::endpoint::v3::ClusterLoadAssignment& assignment) {
  std::vector<AssignedEndpoint> endpoints;
  for (int l = 0; l < assignment.endpoints_size(); ++l) {
    const auto& locality = assignment.endpoints(l);
    for (int e = 0; e < locality.lb_endpoints_size(); ++e) {
      absl::StatusOr<AssignedEndpoint> endpoint =
          EndpointOf(locality.lb_endpoints(e), locality.locality().zone());
      if (!endpoint.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("endpoints of ", assignment.cluster_name(),
                                                       ": locality #", l, " endpoint #", e, ": ",
                                                       endpoint.status().message()));
      }
      endpoints.push_back(*std::move(endpoint));
    }
  }
  return endpoints;
}

bool IsHttp2AppProtocol(std::string_view app_protocol) {
  // Kubernetes' own name for cleartext HTTP/2, and the name most gRPC Services use.
  return app_protocol == "kubernetes.io/h2c" || app_protocol == "grpc" || app_protocol == "h2c";
}

std::vector<datapath::ServiceSpec> SpecsOf(const ClusterTarget& target,
                                           const std::vector<AssignedEndpoint>& endpoints,
                                           std::uint32_t slow_start_window_ms) {
  std::vector<datapath::ServiceSpec> specs;
  if (!target.skip_reason.empty()) return specs;
  for (const std::string& vip : target.vips) {
    datapath::ServiceSpec spec{.name = target.name,
                               .vip = vip,
                               .port = target.port,
                               .protocol = target.protocol,
                               .traffic_distribution = target.traffic_distribution,
                               .slow_start_window_ms = slow_start_window_ms,
                               .lb_policy = target.lb_policy,
                               .splice = target.protocol == datapath::Protocol::kTcp &&
                                         IsHttp2AppProtocol(target.app_protocol)};
    const bool v6 = net::IsIpv6Text(vip);
    for (const AssignedEndpoint& endpoint : endpoints) {
      auto address = std::find_if(endpoint.addresses.begin(), endpoint.addresses.end(),
                                  [&](const std::string& a) { return net::IsIpv6Text(a) == v6; });
      if (address == endpoint.addresses.end()) continue;
      spec.endpoints.push_back(datapath::Endpoint{.address = *address,
                                                  .port = endpoint.port,
                                                  .zone = endpoint.zone,
                                                  .node_name = endpoint.node_name,
                                                  .weight = endpoint.weight,
                                                  .ready = endpoint.ready,
                                                  .serving = endpoint.serving,
                                                  .terminating = endpoint.terminating});
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

}  // namespace skewless::agent
