// Snapshot → xds::CacheInput, reusing what did not change.
#include "skewless/controlplane/xds_input.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/log.h"

namespace skewless::controlplane {
namespace {

// The policy name the Cluster carries: the annotation's, else the control plane's default;
// "" for least-request, which agents read from no value (the ABI's zero). Kubernetes does
// not validate annotations, so a value we do not know serves the Service as the default
// and says so.
std::string LoadBalancingOf(const Service& service, const std::string& default_policy) {
  const std::string fallback =
      default_policy == LbPolicyName(SKW_LB_LEAST_REQUEST) ? "" : default_policy;
  auto it = service.annotations.find(std::string(kLoadBalancingAnnotation));
  if (it == service.annotations.end()) return fallback;
  const std::optional<std::uint8_t> policy = ParseLbPolicy(it->second);
  if (!policy) {
    log::Warn("unknown load-balancing policy: the Service is served with the default",
              {{"service", absl::StrCat(service.key.namespace_name, "/", service.key.name)},
               {"annotation", std::string(kLoadBalancingAnnotation)},
               {"value", log::Clip(it->second)},
               {"known", LbPolicyNameList()},
               {"default", default_policy}});
    return fallback;
  }
  return *policy == SKW_LB_LEAST_REQUEST ? "" : std::string(LbPolicyName(*policy));
}

std::vector<std::shared_ptr<const xds::ServicePort>> Translate(
    const Service& service, const std::vector<const ServicePortEndpoints*>& endpoints,
    const std::string& default_load_balancing) {
  std::vector<std::shared_ptr<const xds::ServicePort>> ports;
  const std::string load_balancing = LoadBalancingOf(service, default_load_balancing);
  for (const ServicePort& port : service.ports) {
    auto out = std::make_shared<xds::ServicePort>(xds::ServicePort{
        .namespace_name = service.key.namespace_name,
        .name = service.key.name,
        .port_name = port.name,
        .port = port.port,
        .protocol = std::string(ProtocolName(port.protocol)),
        .app_protocol = port.app_protocol,
        .cluster_ips = service.cluster_ips,
        .traffic_distribution = std::string(TrafficDistributionName(service.traffic_distribution)),
        .load_balancing = load_balancing,
    });
    for (const ServicePortEndpoints* merged : endpoints) {
      if (merged->port_name != port.name || merged->protocol != port.protocol) continue;
      // Exact size: the port lives as long as the Service is unchanged.
      out->endpoints.reserve(out->endpoints.size() + merged->endpoints.size());
      for (const PortEndpoint& endpoint : merged->endpoints) {
        out->endpoints.push_back(xds::Endpoint{
            .addresses = endpoint.endpoint.addresses,
            .port = endpoint.port,
            .zone = endpoint.endpoint.zone,
            .node_name = endpoint.endpoint.node_name,
            .hostname = endpoint.endpoint.hostname,
            .ready = endpoint.endpoint.conditions.ready,
            .serving = endpoint.endpoint.conditions.serving,
            .terminating = endpoint.endpoint.conditions.terminating,
            .weight = endpoint.endpoint.weight,
        });
      }
    }
    ports.push_back(std::move(out));
  }
  return ports;
}

bool SameEndpoints(const std::vector<const ServicePortEndpoints*>& a,
                   const std::vector<const ServicePortEndpoints*>& b) {
  return std::equal(
      a.begin(), a.end(), b.begin(), b.end(),
      [](const ServicePortEndpoints* x, const ServicePortEndpoints* y) { return *x == *y; });
}

bool IsCanonical(const Snapshot& snapshot) {
  return std::is_sorted(snapshot.services.begin(), snapshot.services.end(),
                        [](const Service& a, const Service& b) { return a.key < b.key; }) &&
         std::is_sorted(snapshot.endpoints.begin(), snapshot.endpoints.end(),
                        [](const ServicePortEndpoints& a, const ServicePortEndpoints& b) {
                          return a.service < b.service;
                        });
}

}  // namespace

XdsInputBuilder::XdsInputBuilder(std::string cluster_domain, std::string default_load_balancing)
    : cluster_domain_(std::move(cluster_domain)),
      default_load_balancing_(std::move(default_load_balancing)) {}

xds::CacheInput XdsInputBuilder::Build(std::shared_ptr<const Snapshot> snapshot) {
  if (!IsCanonical(*snapshot)) {
    auto sorted = std::make_shared<Snapshot>(*snapshot);
    sorted->Canonicalize();
    snapshot = std::move(sorted);
  }
  xds::CacheInput input;
  input.cluster_domain = cluster_domain_;
  std::vector<Translated> next;
  next.reserve(snapshot->services.size());
  // Services and endpoint lists are both sorted by service key: walk them, and the
  // previous translation, in step.
  const std::vector<ServicePortEndpoints>& endpoints = snapshot->endpoints;
  std::size_t e = 0, p = 0;
  for (const Service& service : snapshot->services) {
    Translated current{.service = &service};
    while (e < endpoints.size() && endpoints[e].service < service.key) ++e;
    while (e < endpoints.size() && endpoints[e].service == service.key) {
      current.endpoints.push_back(&endpoints[e++]);
    }
    while (p < translated_.size() && translated_[p].service->key < service.key) ++p;
    if (p < translated_.size() && *translated_[p].service == service &&
        SameEndpoints(translated_[p].endpoints, current.endpoints)) {
      current.ports = translated_[p].ports;
    } else {
      current.ports = Translate(service, current.endpoints, default_load_balancing_);
    }
    input.ports.insert(input.ports.end(), current.ports.begin(), current.ports.end());
    next.push_back(std::move(current));
  }
  for (const Node& node : snapshot->nodes) {
    if (!node.zone.empty()) input.client_share[node.zone] += 1;
    input.node_zones.emplace(node.name, node.zone);
  }
  translated_ = std::move(next);
  previous_ = std::move(snapshot);
  return input;
}

}  // namespace skewless::controlplane
