// Builds the xDS resources (CDS, EDS, LDS, RDS) for one Service port: pure
// functions from the model in model.h to our Envoy proto subset, no I/O.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "google/protobuf/message.h"
#include "skewless/xds/model.h"

namespace skewless::xds {

// Resource type URLs: "type.googleapis.com/" + the message's full name. The
// v3 in the name is the resource version clients ask for (gRFC A30).
inline constexpr std::string_view kListenerTypeUrl =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr std::string_view kRouteConfigurationTypeUrl =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr std::string_view kClusterTypeUrl =
    "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view kClusterLoadAssignmentTypeUrl =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
// Ours: the Node an agent runs on (its zone), for agents only.
inline constexpr std::string_view kNodeInfoTypeUrl =
    "type.googleapis.com/skewless.agent.v1.NodeInfo";
// Ours: a Cluster's cluster-wide load, summed from LRS reports, for agents only (resource
// name = the Cluster's name).
inline constexpr std::string_view kClusterLoadTypeUrl =
    "type.googleapis.com/skewless.load.v1.ClusterLoad";
// The LRS method every reporter streams to (Envoy's Load Reporting Service).
inline constexpr std::string_view kLoadStatsMethod =
    "/envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats";
// Embedded (Any) types, not resources.
inline constexpr std::string_view kHttpConnectionManagerTypeUrl =
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
inline constexpr std::string_view kRouterTypeUrl =
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

// Cluster metadata: filter_metadata[kMetadataNamespace] is a Struct with these
// keys, so agents learn the Service port's VIPs without a second watch.
inline constexpr std::string_view kMetadataNamespace = "skewless.io";
inline constexpr std::string_view kMetadataClusterIps = "cluster_ips";  // list of strings
inline constexpr std::string_view kMetadataPort = "port";               // number
inline constexpr std::string_view kMetadataProtocol = "protocol";       // "TCP", "UDP", "SCTP"
inline constexpr std::string_view kMetadataAppProtocol = "app_protocol";
inline constexpr std::string_view kMetadataTrafficDistribution = "trafficDistribution";
// The Service's skewless.io/load-balancing policy (common/lb_policy.h names); absent = the
// default. Agents read a name they do not know as the default.
inline constexpr std::string_view kMetadataLoadBalancing = "loadBalancing";
// Endpoint metadata for agents: the endpoint's Kubernetes node (PreferSameNode).
inline constexpr std::string_view kMetadataNodeName = "node_name";

// The name of a Service port's Cluster, ClusterLoadAssignment (EDS
// service_name) and RouteConfiguration: "<namespace>/<name>:<port-name>", or
// "<namespace>/<name>:<port>" when the port is unnamed. '/' and ':' cannot
// appear in Kubernetes names, so the name is unambiguous and reversible.
std::string ClusterName(const ServicePort& service_port);

// CDS: an EDS cluster fed over ADS, round robin, with the metadata above.
absl::StatusOr<envoy::config::cluster::v3::Cluster> BuildCluster(const ServicePort& service_port);

// Who consumes a ClusterLoadAssignment; they read endpoint health differently.
enum class EndpointAudience {
  // skewless agents and Envoy: every endpoint, ready → HEALTHY, serving &&
  // terminating → DRAINING (kept for connection draining and as a fallback),
  // anything else → UNHEALTHY.
  kAgent,
  // Proxyless gRPC: only ready endpoints (gRPC ignores every status except
  // HEALTHY and UNKNOWN), each address at most once across the cluster.
  kGrpcClient,
};

struct LoadAssignmentOptions {
  EndpointAudience audience = EndpointAudience::kAgent;
  // The consumer's zone (its bootstrap node.locality.zone). When set, localities get
  // priorities and weights from PlanLocalities (locality_plan.h): the client's zone
  // first, spilling to others when it lacks capacity for its share of clients.
  std::string client_zone;
  // How clients are spread over zones (e.g. nodes per zone); empty = unknown, and then
  // the client's zone, when it has a ready endpoint, is simply preferred.
  std::map<std::string, double> client_share;
};

// EDS: one LocalityLbEndpoints per zone (sorted by zone, endpoints by address),
// each with load_balancing_weight = the sum of its endpoints' weights (gRPC
// skips a locality with no weight). Endpoints sharing an address are merged
// into the first, preferring ready over not ready. Fails on an address that is
// not an IP literal, a zero port or weight, or weights that overflow uint32.
absl::StatusOr<envoy::config::endpoint::v3::ClusterLoadAssignment> BuildLoadAssignment(
    const ServicePort& service_port, const LoadAssignmentOptions& options = {});

// The gRPC targets (xds:///<target>) a client may dial for this Service port,
// most specific first: "<name>.<ns>.svc.<cluster_domain>:<port>",
// "<name>.<ns>.svc:<port>", "<name>.<ns>:<port>". A gRPC client asks LDS for
// exactly the target string, so each needs its own Listener.
std::vector<std::string> GrpcTargets(const ServicePort& service_port,
                                     std::string_view cluster_domain = "cluster.local");

// LDS for proxyless gRPC: a Listener named exactly `target` whose api_listener
// is an HttpConnectionManager reading `route_config_name` over ADS, with the
// router as its last (only) HTTP filter.
absl::StatusOr<envoy::config::listener::v3::Listener> BuildGrpcListener(
    std::string_view target, std::string_view route_config_name);

// LDS for every target of `targets`, all pointing at ClusterName(service_port).
absl::StatusOr<std::vector<envoy::config::listener::v3::Listener>> BuildGrpcListeners(
    const ServicePort& service_port, std::span<const std::string> targets);

// RDS: RouteConfiguration ClusterName(service_port) with one VirtualHost whose
// domains are each target's host and host:port, and one route (prefix "") to
// the Service port's cluster.
absl::StatusOr<envoy::config::route::v3::RouteConfiguration> BuildRouteConfiguration(
    const ServicePort& service_port, std::span<const std::string> targets);

// The resource's serialization with map entries in key order: equal content, equal bytes.
std::string DeterministicBytes(const google::protobuf::Message& resource);

// 16 hex digits of a 64-bit FNV-1a hash of `bytes`. Stable across runs and replicas (no
// seeded hashing), so every control-plane replica reports the same version.
std::string ContentVersion(std::string_view bytes);

// A content version for one resource: ContentVersion(DeterministicBytes(resource)).
std::string ResourceVersion(const google::protobuf::Message& resource);

}  // namespace skewless::xds
