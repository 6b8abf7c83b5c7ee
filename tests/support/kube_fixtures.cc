// Builds the fixture objects with the fields a real cluster fills in.
#include "kube_fixtures.h"

namespace skewless::testing {

using nlohmann::json;

json MakeServiceJson(const std::string& namespace_name, const std::string& name,
                     const std::vector<std::string>& cluster_ips,
                     const std::vector<ServicePortSpec>& ports) {
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
  return {
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
                               {"uid", "0b7c8f0e-1d2a-4c55-9e3f-" + std::string(12, '0')}};
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
