// Folds the watched Services, EndpointSlices and Nodes into one canonical Snapshot.
#include <algorithm>
#include <map>
#include <utility>

#include "skewless/common/net.h"
#include "skewless/controlplane/kube_objects.h"

namespace skewless::controlplane {
namespace {

// Keeps of `slice` what `service` can use: endpoints of a family it has a VIP for, and the
// ports it declares. An EndpointSlice may briefly lag or lead its Service (the controller
// rewrites slices after a Service edit), and a port the Service no longer has must not
// be served.
bool FitSliceToService(const Service& service, EndpointSlice& slice) {
  if (slice.endpoints.empty() || slice.endpoints.front().addresses.empty()) return false;
  const bool ipv6 = net::IsIpv6Text(slice.endpoints.front().addresses.front());
  if (std::none_of(service.cluster_ips.begin(), service.cluster_ips.end(),
                   [&](const std::string& ip) { return net::IsIpv6Text(ip) == ipv6; })) {
    return false;
  }
  std::erase_if(slice.ports, [&](const EndpointSlicePort& port) {
    return std::none_of(service.ports.begin(), service.ports.end(), [&](const ServicePort& s) {
      return s.name == port.name && s.protocol == port.protocol;
    });
  });
  return !slice.ports.empty();
}

}  // namespace

absl::StatusOr<Snapshot> BuildKubeSnapshot(std::vector<Service> services,
                                           std::vector<EndpointSlice> slices,
                                           std::vector<Node> nodes) {
  Snapshot snapshot;
  snapshot.services = std::move(services);
  snapshot.nodes = std::move(nodes);
  // FindService and FindNode below need the sorted order.
  snapshot.Canonicalize();

  std::map<ServiceKey, std::vector<EndpointSlice>> slices_by_service;
  for (EndpointSlice& slice : slices) {
    const Service* service = snapshot.FindService(slice.service);
    if (service == nullptr || !FitSliceToService(*service, slice)) continue;
    // The EndpointSlice controller copies the Node's zone into each endpoint; slices
    // written by other controllers may leave it out, and the Node still knows.
    for (Endpoint& endpoint : slice.endpoints) {
      if (!endpoint.zone.empty() || endpoint.node_name.empty()) continue;
      if (const Node* node = snapshot.FindNode(endpoint.node_name); node != nullptr) {
        endpoint.zone = node->zone;
      }
    }
    slices_by_service[slice.service].push_back(std::move(slice));
  }

  for (const auto& [key, service_slices] : slices_by_service) {
    // A dual-stack pod's endpoint lists the Service's primary family first (gRFC A61:
    // the first address is the one a client tries first). Only Services with a cluster IP
    // got slices (FitSliceToService).
    const bool primary_ipv6 = net::IsIpv6Text(snapshot.FindService(key)->cluster_ips.front());
    absl::StatusOr<std::vector<ServicePortEndpoints>> merged =
        MergeEndpointSlices(key, service_slices, primary_ipv6);
    if (!merged.ok()) return merged.status();
    for (ServicePortEndpoints& port : *merged) snapshot.endpoints.push_back(std::move(port));
  }

  // A named targetPort resolves per pod (two pods may number "http" differently); the
  // Service-level number is informational, so it takes the lowest one, deterministically.
  // Each (service, port name, protocol) has one endpoint list, so one pass suffices.
  for (const ServicePortEndpoints& endpoints : snapshot.endpoints) {
    auto service =
        std::lower_bound(snapshot.services.begin(), snapshot.services.end(), endpoints.service,
                         [](const Service& s, const ServiceKey& key) { return s.key < key; });
    if (service == snapshot.services.end() || service->key != endpoints.service) continue;
    for (ServicePort& port : service->ports) {
      if (port.target_port != 0 || port.name != endpoints.port_name ||
          port.protocol != endpoints.protocol || endpoints.endpoints.empty()) {
        continue;
      }
      port.target_port = std::min_element(endpoints.endpoints.begin(), endpoints.endpoints.end(),
                                          [](const PortEndpoint& a, const PortEndpoint& b) {
                                            return a.port < b.port;
                                          })
                             ->port;
    }
  }
  snapshot.Canonicalize();
  return snapshot;
}

}  // namespace skewless::controlplane
