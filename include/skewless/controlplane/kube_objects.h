// Kubernetes API objects (JSON as the API server serves them) read into the model, and
// the fold of all of them into one Snapshot.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/controlplane/model.h"

namespace skewless::controlplane {

// The label the EndpointSlice controller puts on every slice it manages for a Service.
inline constexpr std::string_view kServiceNameLabel = "kubernetes.io/service-name";
// The well-known zone label of a Node.
inline constexpr std::string_view kZoneLabel = "topology.kubernetes.io/zone";

// What every object carries and how errors name it.
struct KubeObjectMeta {
  std::string namespace_name;  // empty for cluster-scoped kinds (Node)
  std::string name;
  std::string resource_version;  // empty when absent (list items always carry one)
};

// "Service default/echo", "Node node-a": the prefix of every error about an object.
std::string DescribeObject(std::string_view kind, const KubeObjectMeta& meta);

// The object's metadata; namespaced kinds must have a namespace. Errors read like
// `Service default/<unnamed>: metadata.name: is required`.
absl::StatusOr<KubeObjectMeta> ParseKubeObjectMeta(std::string_view kind,
                                                   const nlohmann::json& object);

// Every parser below reports errors as `<Kind> <namespace>/<name>: <json path>: <what>`,
// e.g. `EndpointSlice default/echo-abc12: endpoints[3].addresses[0]: "10.0.0.x" is not an
// IP address`. Fields the API server already validates are checked again only where a
// wrong value would reach the data path (addresses, ports, types).

// core/v1 Service. nullopt (not an error) for a Service there is nothing to steer for:
// headless ("None"), without a cluster IP, type ExternalName, or with no TCP/UDP port.
// SCTP ports are dropped (the data path has no SCTP). A targetPort given by name comes
// out as target_port 0: only the EndpointSlices know its number (BuildKubeSnapshot).
// Unknown trafficDistribution values read as kNone, as kube-proxy ignores them.
absl::StatusOr<std::optional<Service>> ParseKubeService(const nlohmann::json& object);

// discovery.k8s.io/v1 EndpointSlice. nullopt for an FQDN slice (no address to dial) and for
// a slice without the kServiceNameLabel label (it belongs to no Service). Ports with
// no number (null: "all ports", only meaningful for headless Services) and SCTP ports are
// dropped. The annotation skewless.io/weight on the slice sets the weight of all its
// endpoints (pods' annotations do not reach EndpointSlices). Conditions are read with the
// API's defaults and never refused (MakeConditions); targetRef becomes target_ref.
absl::StatusOr<std::optional<EndpointSlice>> ParseKubeEndpointSlice(const nlohmann::json& object);

// core/v1 Node: its name and zone label.
absl::StatusOr<Node> ParseKubeNode(const nlohmann::json& object);

// Folds what the watches hold into one canonical Snapshot:
// - endpoints only for Services in `services`, only from slices of an address family the
//   Service has a cluster IP of, and only for ports the Service declares (by name and
//   protocol) — slices can be ahead of or behind their Service for a moment;
// - a dual-stack pod (the same targetRef in the IPv4 and the IPv6 slice) is one endpoint,
//   the Service's primary family first (MergeEndpointSlices);
// - an endpoint without a zone takes its Node's zone label;
// - a named targetPort takes the lowest port number the endpoints of that port listen on
//   (0 while there is none).
absl::StatusOr<Snapshot> BuildKubeSnapshot(std::vector<Service> services,
                                           std::vector<EndpointSlice> slices,
                                           std::vector<Node> nodes);

}  // namespace skewless::controlplane
