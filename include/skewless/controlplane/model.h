// The control plane's source of truth: a Kubernetes-shaped snapshot of Services, their
// endpoints and Nodes, in a deterministic order so that two snapshots compare by value.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::controlplane {

// Our own knobs live under this annotation prefix (DESIGN.md: "Our own knobs are
// annotations under skewless.io/"); everything else is Kubernetes' business.
inline constexpr std::string_view kAnnotationPrefix = "skewless.io/";
// Per-endpoint weight, as a pod annotation would carry it (EndpointSlices have no weight).
inline constexpr std::string_view kWeightAnnotation = "skewless.io/weight";
// A Service's load-balancing policy (common/lb_policy.h names: least-request, random). The
// API does not validate annotations, so an unknown value is served as the default, with a
// warning, rather than rejecting the Service.
inline constexpr std::string_view kLoadBalancingAnnotation = "skewless.io/load-balancing";
// Same value as SKW_DEFAULT_WEIGHT in abi.h (checked in model.cc).
inline constexpr std::uint16_t kDefaultWeight = 100;

enum class Protocol { kTcp, kUdp };
std::string_view ProtocolName(Protocol protocol);  // "TCP", "UDP"
absl::StatusOr<Protocol> ParseProtocol(std::string_view name);

// spec.trafficDistribution of a Service.
enum class TrafficDistribution {
  kNone,
  kPreferClose,  // the older alias of kPreferSameZone
  kPreferSameZone,
  kPreferSameNode,
};
std::string_view TrafficDistributionName(TrafficDistribution distribution);  // "" for kNone
absl::StatusOr<TrafficDistribution> ParseTrafficDistribution(std::string_view name);

// A Service is named by namespace and name; the order sorts snapshots.
struct ServiceKey {
  std::string namespace_name;
  std::string name;

  friend bool operator==(const ServiceKey&, const ServiceKey&) = default;
  friend auto operator<=>(const ServiceKey&, const ServiceKey&) = default;
};
std::string ToString(const ServiceKey& key);  // "namespace/name"

struct ServicePort {
  std::string name;  // may be empty only when the Service has one port
  std::uint16_t port = 0;
  // Numeric; the port the endpoints listen on. From Kubernetes, a targetPort given by name
  // is only known from the EndpointSlices: 0 while none has an endpoint for this port.
  std::uint16_t target_port = 0;
  Protocol protocol = Protocol::kTcp;
  std::string app_protocol;  // "grpc" or "kubernetes.io/h2c" select L7 splicing

  friend bool operator==(const ServicePort&, const ServicePort&) = default;
};

struct Service {
  ServiceKey key;
  // Canonical text (inet_ntop form), primary family first, at most one per family.
  std::vector<std::string> cluster_ips;
  std::vector<ServicePort> ports;  // declared order (Kubernetes keeps it meaningful)
  TrafficDistribution traffic_distribution = TrafficDistribution::kNone;
  std::map<std::string, std::string> annotations;  // only keys under kAnnotationPrefix

  friend bool operator==(const Service&, const Service&) = default;
};

// EndpointSlice conditions exactly as the slice states them, with the API's defaults
// filled in. Every combination is valid: the EndpointSlice controller writes
// `ready = publishNotReadyAddresses || (serving && !terminating)`, so a Service that
// publishes not-ready addresses has endpoints that are ready while terminating, and ready
// while not serving. What a combination is worth for traffic is UsabilityOf's business.
struct EndpointConditions {
  bool ready = true;
  bool serving = true;
  bool terminating = false;

  friend bool operator==(const EndpointConditions&, const EndpointConditions&) = default;
};

// Fills the conditions an EndpointSlice left unset as the API defines them (and as
// kube-proxy reads them): ready and serving default to true, terminating to false. Never
// refuses a combination the API server accepts.
EndpointConditions MakeConditions(std::optional<bool> ready, std::optional<bool> serving,
                                  std::optional<bool> terminating);

// What an endpoint is good for, as kube-proxy decides it (pkg/proxy/topology.go): a ready
// endpoint takes new traffic whatever else is set; one that is serving and terminating
// takes it only while the Service has no ready endpoint; anything else takes none.
enum class Usability { kUnusable = 0, kServingTerminating = 1, kReady = 2 };
Usability UsabilityOf(const EndpointConditions& conditions);

// One endpoint as an EndpointSlice lists it.
struct Endpoint {
  // Canonical IP literals. As a slice lists them: one family, and consumers use the first
  // (as kube-proxy does). After MergeEndpointSlices a dual-stack pod's endpoint holds its
  // addresses of the Service's primary family first, then those of the other family.
  std::vector<std::string> addresses;
  std::string zone;       // topology.kubernetes.io/zone of its node; empty = unknown
  std::string node_name;  // empty = unknown
  std::string hostname;
  // The object behind the endpoint (targetRef), "<kind>/<namespace>/<name>/<uid>"; empty
  // when the slice names none. The same pod in an IPv4 and an IPv6 slice has the same one.
  std::string target_ref;
  EndpointConditions conditions;
  std::uint16_t weight = kDefaultWeight;  // relative capacity, >= 1

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses a kWeightAnnotation value: a decimal integer in 1-65535.
absl::StatusOr<std::uint16_t> ParseWeight(std::string_view text);

// One port of an EndpointSlice: the service port it serves (by name) and the number the
// endpoints listen on.
struct EndpointSlicePort {
  std::string name;
  std::uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;

  friend bool operator==(const EndpointSlicePort&, const EndpointSlicePort&) = default;
};

struct EndpointSlice {
  std::string name;
  ServiceKey service;
  std::vector<EndpointSlicePort> ports;
  std::vector<Endpoint> endpoints;
};

// An endpoint of one service port after merging: the address:port to send to.
struct PortEndpoint {
  std::uint16_t port = 0;
  Endpoint endpoint;

  friend bool operator==(const PortEndpoint&, const PortEndpoint&) = default;
};

// Every endpoint of one (service, port), deduplicated by address:port and sorted by it.
struct ServicePortEndpoints {
  ServiceKey service;
  std::string port_name;
  Protocol protocol = Protocol::kTcp;
  std::vector<PortEndpoint> endpoints;

  friend bool operator==(const ServicePortEndpoints&, const ServicePortEndpoints&) = default;
};

// Merges all EndpointSlices of one service into one endpoint list per slice port (name,
// protocol):
// - the same address:port in several slices of one family (possible while the
//   EndpointSlice controller moves an endpoint between slices) is kept once: the copy
//   with the best UsabilityOf wins; on a tie the slice whose name sorts first does, so the
//   result does not depend on the order slices arrived in;
// - a pod listed in an IPv4 slice and in an IPv6 slice (same target_ref, same port) becomes
//   one endpoint, `primary_ipv6`'s family first: a dual-stack pod counts once. The two
//   copies describe one pod, so the endpoint takes the better of their conditions (they
//   differ only while the controller has rewritten one slice and not yet the other).
// Slices of another service are an error.
absl::StatusOr<std::vector<ServicePortEndpoints>> MergeEndpointSlices(
    const ServiceKey& service, std::span<const EndpointSlice> slices, bool primary_ipv6 = false);

struct Node {
  std::string name;
  std::string zone;  // topology.kubernetes.io/zone label; empty = unknown

  friend bool operator==(const Node&, const Node&) = default;
};

// Everything the control plane serves, at one moment.
struct Snapshot {
  std::vector<Service> services;                // sorted by key
  std::vector<ServicePortEndpoints> endpoints;  // sorted by (service, port_name, protocol)
  std::vector<Node> nodes;                      // sorted by name

  // Sorts every list into the canonical order (and each endpoint list by address:port), so
  // that equal content compares equal whatever order a source produced it in.
  void Canonicalize();

  const Service* FindService(const ServiceKey& key) const;
  const Node* FindNode(std::string_view name) const;
  // The endpoints of one service port; nullptr when there are none.
  const ServicePortEndpoints* FindEndpoints(const ServiceKey& key,
                                            std::string_view port_name) const;

  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

}  // namespace skewless::controlplane
