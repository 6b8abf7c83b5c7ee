// Kubernetes objects shaped as the API server serves them (Services, EndpointSlices,
// Nodes), built from the few fields a test cares about.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace skewless::testing {

struct ServicePortSpec {
  std::string name;
  int port = 80;
  nlohmann::json target_port = nullptr;  // a number, a port name, or null (= port)
  std::string protocol = "TCP";
  std::string app_protocol;  // "" = absent
};

// A ClusterIP Service (single-stack unless two cluster IPs are given) with a selector
// app=<name>, as `kubectl get svc -o json` shows it. `publish_not_ready_addresses` sets
// spec.publishNotReadyAddresses (the API server leaves the field out when false).
nlohmann::json MakeServiceJson(const std::string& namespace_name, const std::string& name,
                               const std::vector<std::string>& cluster_ips,
                               const std::vector<ServicePortSpec>& ports,
                               bool publish_not_ready_addresses = false);

struct SlicePortSpec {
  std::string name;  // the Service port's name ("" for an unnamed single port)
  int port = 8080;   // the container port
  std::string protocol = "TCP";
};

struct SliceEndpointSpec {
  std::string address;
  std::string node_name;  // "" = absent
  std::string zone;       // "" = absent
  std::optional<bool> ready = true;
  std::optional<bool> serving = true;
  std::optional<bool> terminating = false;
  std::string pod_name;  // targetRef {kind: Pod, namespace, name, uid}; "" = absent
};

// The uid the API server would have given the pod `pod_name`: a fixed, per-name UUID.
std::string PodUid(const std::string& pod_name);

// An EndpointSlice as the EndpointSlice controller writes it for Service
// <namespace>/<service_name>: labels, owner reference, generateName.
nlohmann::json MakeEndpointSliceJson(const std::string& namespace_name, const std::string& name,
                                     const std::string& service_name,
                                     const std::string& address_type,
                                     const std::vector<SlicePortSpec>& ports,
                                     const std::vector<SliceEndpointSpec>& endpoints);

// A pod as the EndpointSlice controller sees it.
struct PodState {
  std::string name;
  std::string ipv4;  // status.podIPs of each family; "" = none
  std::string ipv6;
  std::string node_name;
  std::string zone;       // its Node's zone label
  bool pod_ready = true;  // the pod's Ready condition
  bool deleting = false;  // metadata.deletionTimestamp is set
};

// The endpoint the EndpointSlice controller writes for `pod` in a slice of one family
// (staging/src/k8s.io/endpointslice/utils.go, podToEndpoint): serving is the pod's Ready
// condition, terminating is "deletionTimestamp is set", and
// ready = publishNotReadyAddresses || (serving && !terminating); all three are always
// written; targetRef names the pod; nodeName and zone come from the pod's Node.
SliceEndpointSpec ControllerEndpoint(const PodState& pod, bool ipv6,
                                     bool publish_not_ready_addresses);

// The slices the controller keeps for a Service: one per address family the Service has
// (IPv4 and/or IPv6, its ipFamilies), named <service>-v4 / <service>-v6, each listing every
// pod with an address of that family. A dual-stack pod is thus in both slices, with the
// same targetRef (the controller's reconciler works per address type).
std::vector<nlohmann::json> ControllerSlices(const std::string& namespace_name,
                                             const std::string& service_name, bool ipv4, bool ipv6,
                                             const std::vector<SlicePortSpec>& ports,
                                             const std::vector<PodState>& pods,
                                             bool publish_not_ready_addresses);

// An EndpointSlice in the shape of the API's round-trip fixture
// (staging/src/k8s.io/api/testdata/HEAD/discovery.k8s.io.v1.EndpointSlice.json): every
// optional field set (targetRef with apiVersion, resourceVersion and fieldPath,
// deprecatedTopology, hints, appProtocol) and every condition true. Its placeholder strings
// are replaced by values validation accepts: one IPv4 endpoint `address`, one TCP port.
nlohmann::json UpstreamShapedEndpointSliceJson(const std::string& namespace_name,
                                               const std::string& service_name,
                                               const std::string& address, int port);

// A Node with the usual well-known labels; `zone` "" leaves the zone label out.
nlohmann::json MakeNodeJson(const std::string& name, const std::string& zone);

}  // namespace skewless::testing
