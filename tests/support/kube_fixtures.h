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
// app=<name>, as `kubectl get svc -o json` shows it.
nlohmann::json MakeServiceJson(const std::string& namespace_name, const std::string& name,
                               const std::vector<std::string>& cluster_ips,
                               const std::vector<ServicePortSpec>& ports);

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
  std::string pod_name;  // targetRef; "" = absent
};

// An EndpointSlice as the EndpointSlice controller writes it for Service
// <namespace>/<service_name>: labels, owner reference, generateName.
nlohmann::json MakeEndpointSliceJson(const std::string& namespace_name, const std::string& name,
                                     const std::string& service_name,
                                     const std::string& address_type,
                                     const std::vector<SlicePortSpec>& ports,
                                     const std::vector<SliceEndpointSpec>& endpoints);

// A Node with the usual well-known labels; `zone` "" leaves the zone label out.
nlohmann::json MakeNodeJson(const std::string& name, const std::string& zone);

}  // namespace skewless::testing
