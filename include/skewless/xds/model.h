// The control plane's view of one Kubernetes Service port and its endpoints: the
// input of the xDS resource builder (resources.h), free of Kubernetes types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace skewless::xds {

// One endpoint of a Service port, merged across EndpointSlices: a dual-stack
// pod appears once, with one address per family.
struct Endpoint {
  // IP literals ("10.0.0.7", "fd00::7"). The first is the primary address; the
  // others become additional_addresses (gRFC A61 dual-stack).
  std::vector<std::string> addresses;
  std::uint16_t port = 0;  // the resolved target port, host byte order
  std::string zone;        // EndpointSlice `zone`; empty = unknown
  std::string node_name;   // EndpointSlice `nodeName`; empty = unknown
  std::string hostname;    // EndpointSlice `hostname` or the pod name; may be empty
  // EndpointSlice conditions: ready gets new traffic (HEALTHY), whatever else is set;
  // otherwise serving && terminating is a draining pod that still answers (DRAINING, the
  // fallback when nothing is ready); anything else UNHEALTHY.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::uint32_t weight = 1;  // >= 1; relative share within the Service port

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// One port of a Kubernetes Service, with the endpoints behind it.
struct ServicePort {
  std::string namespace_name;            // metadata.namespace
  std::string name;                      // metadata.name
  std::string port_name;                 // spec.ports[].name; empty for a lone unnamed port
  std::uint16_t port = 0;                // spec.ports[].port (the Service port, not the target)
  std::string protocol = "TCP";          // spec.ports[].protocol: TCP, UDP or SCTP
  std::string app_protocol;              // spec.ports[].appProtocol; may be empty
  std::vector<std::string> cluster_ips;  // spec.clusterIPs (v4 and/or v6); empty if headless
  std::string traffic_distribution;      // spec.trafficDistribution, verbatim; may be empty
  std::string load_balancing;            // a common/lb_policy.h name; empty = the default
  std::vector<Endpoint> endpoints;

  // Equal ports build equal resources: the cache reuses what it built last time.
  friend bool operator==(const ServicePort&, const ServicePort&) = default;
};

}  // namespace skewless::xds
