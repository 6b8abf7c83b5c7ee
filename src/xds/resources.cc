// Service port model → Envoy xDS resources (CDS, EDS, LDS, RDS) and their versions.
#include "skewless/xds/resources.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "skewless/common/net.h"
#include "skewless/xds/locality_plan.h"

namespace skewless::xds {
namespace {

namespace cluster_v3 = envoy::config::cluster::v3;
namespace core_v3 = envoy::config::core::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;

// Pods connect inside the cluster network: fail fast so the balancer moves on.
constexpr int kConnectTimeoutSeconds = 1;

// Kubernetes' order of usefulness (kube-proxy's, as in datapath/backend_set.cc):
// ready endpoints take new traffic, even when terminating (publishNotReadyAddresses
// makes them so); serving-terminating ones drain; the rest none.
enum class Usability { kUnusable = 0, kServingTerminating = 1, kReady = 2 };

Usability UsabilityOf(const Endpoint& endpoint) {
  if (endpoint.ready) return Usability::kReady;
  if (endpoint.serving && endpoint.terminating) return Usability::kServingTerminating;
  return Usability::kUnusable;
}

core_v3::HealthStatus HealthOf(Usability usability) {
  switch (usability) {
    case Usability::kReady:
      return core_v3::HEALTHY;
    case Usability::kServingTerminating:
      return core_v3::DRAINING;
    case Usability::kUnusable:
      break;
  }
  return core_v3::UNHEALTHY;
}

// An endpoint checked and reduced to what the CLA needs.
struct Candidate {
  std::vector<std::string> addresses;  // canonical, unique, primary first
  std::uint32_t port;
  std::string zone;
  std::string hostname;
  std::string node_name;
  std::uint32_t weight;
  Usability usability;
};

absl::StatusOr<Candidate> CandidateOf(const ServicePort& service_port, const Endpoint& endpoint,
                                      std::size_t index) {
  auto fail = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(ClusterName(service_port), ": endpoint #", index, ": ", what));
  };
  if (endpoint.addresses.empty()) return fail("no address");
  if (endpoint.port == 0) return fail("port 0");
  if (endpoint.weight == 0) return fail("weight 0 (weights start at 1)");
  Candidate candidate{.port = endpoint.port,
                      .zone = endpoint.zone,
                      .hostname = endpoint.hostname,
                      .node_name = endpoint.node_name,
                      .weight = endpoint.weight,
                      .usability = UsabilityOf(endpoint)};
  for (const std::string& address : endpoint.addresses) {
    // Declared addresses (net.h): EDS never carries a v4-mapped one.
    absl::StatusOr<std::string> canonical = net::CanonicalIp(address, net::V4Mapped::kRefuse);
    if (!canonical.ok()) return fail(canonical.status().message());
    if (std::find(candidate.addresses.begin(), candidate.addresses.end(), *canonical) ==
        candidate.addresses.end()) {
      candidate.addresses.push_back(*std::move(canonical));
    }
  }
  return candidate;
}

// The endpoints to publish, deduplicated: gRPC rejects an address that appears
// twice in a cluster, and one pod can show up in two EndpointSlices while they
// are being rewritten. The most usable copy wins; ties go to the smallest
// address so the result does not depend on input order.
absl::StatusOr<std::vector<Candidate>> SelectEndpoints(const ServicePort& service_port,
                                                       EndpointAudience audience) {
  std::vector<Candidate> candidates;
  for (std::size_t i = 0; i < service_port.endpoints.size(); ++i) {
    absl::StatusOr<Candidate> candidate = CandidateOf(service_port, service_port.endpoints[i], i);
    if (!candidate.ok()) return candidate.status();
    if (audience == EndpointAudience::kGrpcClient && candidate->usability != Usability::kReady) {
      continue;
    }
    candidates.push_back(*std::move(candidate));
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(b.usability, a.addresses, a.port, a.zone, a.hostname, a.node_name, a.weight) <
           std::tie(a.usability, b.addresses, b.port, b.zone, b.hostname, b.node_name, b.weight);
  });
  std::set<std::pair<std::string, std::uint32_t>> taken;
  std::vector<Candidate> selected;
  for (Candidate& candidate : candidates) {
    bool duplicate = std::any_of(candidate.addresses.begin(), candidate.addresses.end(),
                                 [&](const std::string& address) {
                                   return taken.contains({address, candidate.port});
                                 });
    if (duplicate) continue;
    for (const std::string& address : candidate.addresses) taken.insert({address, candidate.port});
    selected.push_back(std::move(candidate));
  }
  return selected;
}

void SetSocketAddress(const std::string& ip, std::uint32_t port, core_v3::Address* address) {
  core_v3::SocketAddress* socket = address->mutable_socket_address();
  socket->set_address(ip);
  socket->set_port_value(port);
}

core_v3::ConfigSource AdsConfigSource() {
  core_v3::ConfigSource source;
  source.mutable_ads();
  source.set_resource_api_version(core_v3::V3);
  return source;
}

// "host:port" → host; a target without a port is all host.
std::string_view TargetHost(std::string_view target) {
  std::size_t colon = target.rfind(':');
  std::uint32_t port = 0;
  if (colon != std::string_view::npos &&
      absl::SimpleAtoi(std::string(target.substr(colon + 1)), &port)) {
    return target.substr(0, colon);
  }
  return target;
}

}  // namespace

std::string ClusterName(const ServicePort& service_port) {
  return absl::StrCat(
      service_port.namespace_name, "/", service_port.name, ":",
      service_port.port_name.empty() ? absl::StrCat(service_port.port) : service_port.port_name);
}

absl::StatusOr<cluster_v3::Cluster> BuildCluster(const ServicePort& service_port) {
  if (service_port.namespace_name.empty() || service_port.name.empty() || service_port.port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("service port \"", ClusterName(service_port),
                     "\" needs a namespace, a name and a non-zero port"));
  }
  cluster_v3::Cluster cluster;
  const std::string name = ClusterName(service_port);
  cluster.set_name(name);
  cluster.set_type(cluster_v3::Cluster::EDS);
  *cluster.mutable_eds_cluster_config()->mutable_eds_config() = AdsConfigSource();
  cluster.mutable_eds_cluster_config()->set_service_name(name);
  cluster.mutable_connect_timeout()->set_seconds(kConnectTimeoutSeconds);
  cluster.set_lb_policy(cluster_v3::Cluster::ROUND_ROBIN);

  google::protobuf::Struct& metadata =
      (*cluster.mutable_metadata()->mutable_filter_metadata())[std::string(kMetadataNamespace)];
  auto& fields = *metadata.mutable_fields();
  auto* cluster_ips = fields[std::string(kMetadataClusterIps)].mutable_list_value();
  for (const std::string& ip : service_port.cluster_ips) {
    cluster_ips->add_values()->set_string_value(ip);
  }
  fields[std::string(kMetadataPort)].set_number_value(service_port.port);
  fields[std::string(kMetadataProtocol)].set_string_value(service_port.protocol);
  fields[std::string(kMetadataAppProtocol)].set_string_value(service_port.app_protocol);
  fields[std::string(kMetadataTrafficDistribution)].set_string_value(
      service_port.traffic_distribution);
  if (!service_port.load_balancing.empty()) {
    fields[std::string(kMetadataLoadBalancing)].set_string_value(service_port.load_balancing);
  }
  return cluster;
}

absl::StatusOr<endpoint_v3::ClusterLoadAssignment> BuildLoadAssignment(
    const ServicePort& service_port, const LoadAssignmentOptions& options) {
  absl::StatusOr<std::vector<Candidate>> selected = SelectEndpoints(service_port, options.audience);
  if (!selected.ok()) return selected.status();

  // Localities in zone order; endpoints keep the selection's address order.
  std::map<std::string, std::vector<const Candidate*>> by_zone;
  for (const Candidate& candidate : *selected) by_zone[candidate.zone].push_back(&candidate);
  for (auto& [zone, members] : by_zone) {
    std::sort(members.begin(), members.end(), [](const Candidate* a, const Candidate* b) {
      return std::tie(a->addresses, a->port) < std::tie(b->addresses, b->port);
    });
  }

  // Zone preference (locality_plan.h) only when the client's zone is known; without it
  // every locality is priority 0 weighted by its endpoints (gRPC rejects gaps, so never
  // an empty priority 0).
  std::map<std::string, LocalityShare> plan;
  if (!options.client_zone.empty()) {
    LocalityPlanInput input{.client_zone = options.client_zone,
                            .client_share = options.client_share};
    for (const auto& [zone, members] : by_zone) {
      std::uint64_t& ready = input.ready_weight[zone];
      for (const Candidate* member : members) {
        if (member->usability == Usability::kReady) ready += member->weight;
      }
    }
    plan = PlanLocalities(input);
  }

  endpoint_v3::ClusterLoadAssignment cla;
  cla.set_cluster_name(ClusterName(service_port));
  std::uint64_t priority_weight[2] = {0, 0};
  for (const auto& [zone, members] : by_zone) {
    endpoint_v3::LocalityLbEndpoints* locality = cla.add_endpoints();
    locality->mutable_locality()->set_zone(zone);
    auto planned = plan.find(zone);
    const std::uint32_t priority = planned == plan.end() ? 0 : planned->second.priority;
    locality->set_priority(priority);
    std::uint64_t weight = 0;
    for (const Candidate* member : members) {
      endpoint_v3::LbEndpoint* lb_endpoint = locality->add_lb_endpoints();
      envoy::config::endpoint::v3::Endpoint* endpoint = lb_endpoint->mutable_endpoint();
      SetSocketAddress(member->addresses.front(), member->port, endpoint->mutable_address());
      for (std::size_t i = 1; i < member->addresses.size(); ++i) {
        SetSocketAddress(member->addresses[i], member->port,
                         endpoint->add_additional_addresses()->mutable_address());
      }
      if (!member->hostname.empty()) endpoint->set_hostname(member->hostname);
      lb_endpoint->set_health_status(HealthOf(member->usability));
      // Agents steer PreferSameNode Services by node; gRPC clients have no use for it.
      if (options.audience == EndpointAudience::kAgent && !member->node_name.empty()) {
        (*(*lb_endpoint->mutable_metadata()
                ->mutable_filter_metadata())[std::string(kMetadataNamespace)]
              .mutable_fields())[std::string(kMetadataNodeName)]
            .set_string_value(member->node_name);
      }
      lb_endpoint->mutable_load_balancing_weight()->set_value(member->weight);
      weight += member->weight;
    }
    // The plan's weight is the locality's share of the client's traffic.
    if (planned != plan.end()) weight = planned->second.weight;
    priority_weight[priority] += weight;
    // gRPC requires each priority's locality weights to sum within uint32.
    if (priority_weight[priority] > std::numeric_limits<std::uint32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat(ClusterName(service_port), ": endpoint weights of priority ", priority,
                       " sum to more than ", std::numeric_limits<std::uint32_t>::max()));
    }
    locality->mutable_load_balancing_weight()->set_value(static_cast<std::uint32_t>(weight));
  }
  return cla;
}

std::vector<std::string> GrpcTargets(const ServicePort& service_port,
                                     std::string_view cluster_domain) {
  const std::string host = absl::StrCat(service_port.name, ".", service_port.namespace_name);
  return {
      absl::StrCat(host, ".svc.", std::string(cluster_domain), ":", service_port.port),
      absl::StrCat(host, ".svc:", service_port.port),
      absl::StrCat(host, ":", service_port.port),
  };
}

absl::StatusOr<envoy::config::listener::v3::Listener> BuildGrpcListener(
    std::string_view target, std::string_view route_config_name) {
  if (target.empty() || route_config_name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("listener for target \"", std::string(target),
                                                   "\" needs a target and a route config name (\"",
                                                   std::string(route_config_name), "\")"));
  }
  hcm_v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix(std::string(target));
  // gRPC accepts only ads{} here: it has no other stream to fetch routes on.
  *hcm.mutable_rds()->mutable_config_source() = AdsConfigSource();
  hcm.mutable_rds()->set_route_config_name(std::string(route_config_name));
  // gRPC needs the router last; without it the client fails with
  // `no filter implementation found for ""` (grpc-go#4863, gRFC A39).
  hcm_v3::HttpFilter* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());

  envoy::config::listener::v3::Listener listener;
  listener.set_name(std::string(target));  // the client asks LDS for exactly its target
  listener.mutable_api_listener()->mutable_api_listener()->PackFrom(hcm);
  return listener;
}

absl::StatusOr<std::vector<envoy::config::listener::v3::Listener>> BuildGrpcListeners(
    const ServicePort& service_port, std::span<const std::string> targets) {
  std::vector<envoy::config::listener::v3::Listener> listeners;
  const std::string route_config_name = ClusterName(service_port);
  for (const std::string& target : targets) {
    absl::StatusOr<envoy::config::listener::v3::Listener> listener =
        BuildGrpcListener(target, route_config_name);
    if (!listener.ok()) return listener.status();
    listeners.push_back(*std::move(listener));
  }
  return listeners;
}

absl::StatusOr<envoy::config::route::v3::RouteConfiguration> BuildRouteConfiguration(
    const ServicePort& service_port, std::span<const std::string> targets) {
  const std::string name = ClusterName(service_port);
  if (targets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no gRPC target to route"));
  }
  envoy::config::route::v3::RouteConfiguration routes;
  routes.set_name(name);
  envoy::config::route::v3::VirtualHost* host = routes.add_virtual_hosts();
  host->set_name(name);
  // The client matches its target's authority against domains, host:port first.
  std::set<std::string> domains;
  for (const std::string& target : targets) {
    if (target.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": empty target"));
    domains.insert(target);
    domains.insert(std::string(TargetHost(target)));
  }
  for (const std::string& domain : domains) host->add_domains(domain);
  envoy::config::route::v3::Route* route = host->add_routes();
  route->mutable_match()->set_prefix("");
  route->mutable_route()->set_cluster(name);
  return routes;
}

std::string DeterministicBytes(const google::protobuf::Message& resource) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  // Deterministic: map entries (Struct fields, filter_metadata) in key order.
  coded.SetSerializationDeterministic(true);
  resource.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

std::string ContentVersion(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64-bit offset basis
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ULL;  // FNV-1a 64-bit prime
  }
  return absl::StrFormat("%016x", hash);
}

std::string ResourceVersion(const google::protobuf::Message& resource) {
  return ContentVersion(DeterministicBytes(resource));
}

}  // namespace skewless::xds
