// Builds the fixture objects with the fields a real cluster fills in.
#include "kube_fixtures.h"

#include <cstdint>
#include <cstdio>

namespace skewless::testing {

using nlohmann::json;

json MakeServiceJson(const std::string& namespace_name, const std::string& name,
                     const std::vector<std::string>& cluster_ips,
                     const std::vector<ServicePortSpec>& ports, bool publish_not_ready_addresses) {
  json port_list = json::array();
  for (const ServicePortSpec& spec : ports) {
    json port = {{"port", spec.port}, {"protocol", spec.protocol}};
    if (!spec.name.empty()) port["name"] = spec.name;
    port["targetPort"] = spec.target_port.is_null() ? json(spec.port) : spec.target_port;
    if (!spec.app_protocol.empty()) port["appProtocol"] = spec.app_protocol;
    port_list.push_back(std::move(port));
  }
  json families = json::array();
  for (const std::string& ip : cluster_ips) {
    families.push_back(ip.find(':') == std::string::npos ? "IPv4" : "IPv6");
  }
  json service = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", name},
        {"namespace", namespace_name},
        {"labels", {{"app", name}}},
        {"annotations",
         {{"kubectl.kubernetes.io/last-applied-configuration",
           "{\"apiVersion\":\"v1\",\"kind\":\"Service\"}\n"}}}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", cluster_ips.empty() ? "" : cluster_ips.front()},
        {"clusterIPs", cluster_ips},
        {"ipFamilies", families},
        {"ipFamilyPolicy", cluster_ips.size() > 1 ? "PreferDualStack" : "SingleStack"},
        {"internalTrafficPolicy", "Cluster"},
        {"sessionAffinity", "None"},
        {"selector", {{"app", name}}},
        {"ports", port_list}}},
      {"status", {{"loadBalancer", json::object()}}},
  };
  if (publish_not_ready_addresses) service["spec"]["publishNotReadyAddresses"] = true;
  return service;
}

std::string PodUid(const std::string& pod_name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a: stable, and distinct per name
  for (unsigned char c : pod_name) hash = (hash ^ c) * 0x100000001b3ULL;
  char tail[13];
  std::snprintf(tail, sizeof(tail), "%012llx",
                static_cast<unsigned long long>(hash & 0xffffffffffffULL));
  return std::string("0b7c8f0e-1d2a-4c55-9e3f-") + tail;
}

json MakeEndpointSliceJson(const std::string& namespace_name, const std::string& name,
                           const std::string& service_name, const std::string& address_type,
                           const std::vector<SlicePortSpec>& ports,
                           const std::vector<SliceEndpointSpec>& endpoints) {
  json port_list = json::array();
  for (const SlicePortSpec& spec : ports) {
    // The controller writes the name even when empty (it is a pointer to "").
    port_list.push_back({{"name", spec.name}, {"port", spec.port}, {"protocol", spec.protocol}});
  }
  json endpoint_list = json::array();
  for (const SliceEndpointSpec& spec : endpoints) {
    json conditions = json::object();
    if (spec.ready) conditions["ready"] = *spec.ready;
    if (spec.serving) conditions["serving"] = *spec.serving;
    if (spec.terminating) conditions["terminating"] = *spec.terminating;
    json endpoint = {{"addresses", {spec.address}}, {"conditions", conditions}};
    if (!spec.node_name.empty()) endpoint["nodeName"] = spec.node_name;
    if (!spec.zone.empty()) endpoint["zone"] = spec.zone;
    if (!spec.pod_name.empty()) {
      endpoint["targetRef"] = {{"kind", "Pod"},
                               {"namespace", namespace_name},
                               {"name", spec.pod_name},
                               {"uid", PodUid(spec.pod_name)}};
    }
    endpoint_list.push_back(std::move(endpoint));
  }
  return {
      {"apiVersion", "discovery.k8s.io/v1"},
      {"kind", "EndpointSlice"},
      {"metadata",
       {{"name", name},
        {"namespace", namespace_name},
        {"generateName", service_name + "-"},
        {"labels",
         {{"kubernetes.io/service-name", service_name},
          {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}},
        {"annotations",
         {{"endpoints.kubernetes.io/last-change-trigger-time", "2024-05-01T10:00:00Z"}}},
        {"ownerReferences",
         {{{"apiVersion", "v1"},
           {"kind", "Service"},
           {"name", service_name},
           {"uid", "3c1d1f2a-8f5e-4a7b-b1c0-000000000000"},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"addressType", address_type},
      {"endpoints", endpoint_list},
      {"ports", port_list},
  };
}

SliceEndpointSpec ControllerEndpoint(const PodState& pod, bool ipv6,
                                     bool publish_not_ready_addresses) {
  const bool serving = pod.pod_ready;
  const bool terminating = pod.deleting;
  return SliceEndpointSpec{.address = ipv6 ? pod.ipv6 : pod.ipv4,
                           .node_name = pod.node_name,
                           .zone = pod.zone,
                           .ready = publish_not_ready_addresses || (serving && !terminating),
                           .serving = serving,
                           .terminating = terminating,
                           .pod_name = pod.name};
}

std::vector<json> ControllerSlices(const std::string& namespace_name,
                                   const std::string& service_name, bool ipv4, bool ipv6,
                                   const std::vector<SlicePortSpec>& ports,
                                   const std::vector<PodState>& pods,
                                   bool publish_not_ready_addresses) {
  std::vector<json> slices;
  for (bool v6 : {false, true}) {
    if (!(v6 ? ipv6 : ipv4)) continue;
    std::vector<SliceEndpointSpec> endpoints;
    for (const PodState& pod : pods) {
      if ((v6 ? pod.ipv6 : pod.ipv4).empty()) continue;
      endpoints.push_back(ControllerEndpoint(pod, v6, publish_not_ready_addresses));
    }
    slices.push_back(MakeEndpointSliceJson(namespace_name, service_name + (v6 ? "-v6" : "-v4"),
                                           service_name, v6 ? "IPv6" : "IPv4", ports, endpoints));
  }
  return slices;
}

json UpstreamShapedEndpointSliceJson(const std::string& namespace_name,
                                     const std::string& service_name, const std::string& address,
                                     int port) {
  json slice = MakeEndpointSliceJson(namespace_name, service_name + "-upstream", service_name,
                                     "IPv4", {{"http", port}}, {{.address = address}});
  slice["metadata"]["uid"] = "7";
  slice["metadata"]["generation"] = 7;
  slice["metadata"]["finalizers"] = {"finalizersValue"};
  json& endpoint = slice["endpoints"][0];
  endpoint["conditions"] = {{"ready", true}, {"serving", true}, {"terminating", true}};
  endpoint["hostname"] = "hostname-value";
  endpoint["targetRef"] = {{"kind", "Pod"},
                           {"namespace", namespace_name},
                           {"name", "name-value"},
                           {"uid", PodUid("name-value")},
                           {"apiVersion", "v1"},
                           {"resourceVersion", "26"},
                           {"fieldPath", "spec.containers{app}"}};
  endpoint["deprecatedTopology"] = {{"deprecatedTopologyKey", "deprecatedTopologyValue"}};
  endpoint["nodeName"] = "node-value";
  endpoint["zone"] = "zone-value";
  endpoint["hints"] = {{"forZones", {{{"name", "zone-value"}}}}};
  slice["ports"][0]["appProtocol"] = "http";
  return slice;
}

json MakeNodeJson(const std::string& name, const std::string& zone) {
  json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"node.kubernetes.io/instance-type", "e2-standard-4"}};
  if (!zone.empty()) {
    labels["topology.kubernetes.io/zone"] = zone;
    labels["topology.kubernetes.io/region"] = "region-1";
  }
  return {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", {{"name", name}, {"labels", labels}}},
      {"spec", {{"podCIDR", "10.244.0.0/24"}, {"podCIDRs", {"10.244.0.0/24"}}}},
      {"status",
       {{"addresses",
         {{{"type", "InternalIP"}, {"address", "192.168.0.10"}},
          {{"type", "Hostname"}, {"address", name}}}},
        {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}},
  };
}

}  // namespace skewless::testing
