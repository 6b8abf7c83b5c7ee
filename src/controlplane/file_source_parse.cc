// Parses and validates the file source's YAML (docs/controlplane-file-source.md) into a Snapshot.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "parse_util.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/net.h"
#include "skewless/common/yaml_load.h"
#include "skewless/controlplane/file_source.h"

namespace skewless::controlplane {
namespace {

bool IsDnsLabel(std::string_view s, bool must_start_with_letter) {
  if (s.empty() || s.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  if (must_start_with_letter && !(s.front() >= 'a' && s.front() <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (!IsDnsLabel(s.substr(start, dot - start), false)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// A Kubernetes label value (zones are label values of topology.kubernetes.io/zone).
bool IsLabelValue(std::string_view s) {
  if (s.size() > 63) return false;
  if (s.empty()) return true;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// appProtocol is an IANA name or a domain-prefixed one ("kubernetes.io/h2c").
bool IsAppProtocol(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

class DocumentParser {
 public:
  explicit DocumentParser(std::string_view source_name) : source_(source_name) {}

  absl::StatusOr<Snapshot> Parse(const YAML::Node& root);

 private:
  // "source:line:col: path: message"; the position is that of `node` when it has one.
  absl::Status Error(const YAML::Node& node, const std::string& path,
                     absl::string_view message) const {
    std::string where(source_);
    if (node.IsDefined() && !node.Mark().is_null()) {
      absl::StrAppend(&where, ":", node.Mark().line + 1, ":", node.Mark().column + 1);
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", path, ": ", message));
  }

  // `node` must be a mapping whose keys are all in `allowed`, each at most once.
  absl::Status CheckMap(const YAML::Node& node, const std::string& path,
                        std::initializer_list<const char*> allowed) const {
    if (!node.IsMap()) return Error(node, path, "must be a mapping");
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) return Error(it->first, path, "keys must be strings");
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        return Error(it->first, Child(path, key),
                     absl::StrCat("unknown key (allowed: ", absl::StrJoin(allowed, ", "), ")"));
      }
      if (!seen.insert(key).second) return Error(it->first, Child(path, key), "duplicate key");
    }
    return absl::OkStatus();
  }

  // A key that is absent or null counts as not given (as Kubernetes reads JSON null).
  static YAML::Node Field(const YAML::Node& map, std::string_view key) {
    YAML::Node value = map[std::string(key)];
    return value.IsDefined() && !value.IsNull() ? value : YAML::Node(YAML::NodeType::Undefined);
  }

  absl::Status GetString(const YAML::Node& map, std::string_view key, const std::string& path,
                         std::string* out, bool required) const {
    const YAML::Node value = Field(map, key);
    if (!value.IsDefined())
      return required ? Error(map, Child(path, key), "is required") : absl::OkStatus();
    if (!value.IsScalar()) return Error(value, Child(path, key), "must be a string");
    *out = value.Scalar();
    return absl::OkStatus();
  }

  // Plain (unquoted) decimal integers only: a quoted "8080" is a string in Kubernetes.
  absl::Status GetInteger(const YAML::Node& map, std::string_view key, const std::string& path,
                          std::optional<long long>* out) const {
    const YAML::Node value = Field(map, key);
    if (!value.IsDefined()) return absl::OkStatus();
    const std::string& text = value.IsScalar() ? value.Scalar() : std::string();
    long long number = 0;
    const bool digits = !text.empty() && text.size() <= 18 &&
                        std::all_of(text.begin(), text.end(),
                                    [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
    if (!value.IsScalar() || value.Tag() == "!" || !digits || !absl::SimpleAtoi(text, &number)) {
      return Error(
          value, Child(path, key),
          absl::StrCat(value.IsScalar() ? "\"" + text + "\"" : "value", " is not an integer"));
    }
    *out = number;
    return absl::OkStatus();
  }

  absl::Status GetPort(const YAML::Node& map, std::string_view key, const std::string& path,
                       std::optional<std::uint16_t>* out) const {
    std::optional<long long> number;
    SKW_RETURN_IF_ERROR(GetInteger(map, key, path, &number));
    if (!number) return absl::OkStatus();
    if (*number < 1 || *number > 65535) {
      return Error(Field(map, key), Child(path, key),
                   absl::StrCat(*number, " is not a port (1-65535)"));
    }
    *out = static_cast<std::uint16_t>(*number);
    return absl::OkStatus();
  }

  // YAML 1.2 booleans only: yaml-cpp would also take "yes"/"on", which Kubernetes refuses.
  absl::Status GetBool(const YAML::Node& map, std::string_view key, const std::string& path,
                       std::optional<bool>* out) const {
    const YAML::Node value = Field(map, key);
    if (!value.IsDefined()) return absl::OkStatus();
    if (value.IsScalar() && value.Tag() != "!" &&
        (value.Scalar() == "true" || value.Scalar() == "false")) {
      *out = value.Scalar() == "true";
      return absl::OkStatus();
    }
    return Error(value, Child(path, key), "must be true or false");
  }

  // A sequence field; absent means empty.
  absl::Status GetSequence(const YAML::Node& map, std::string_view key, const std::string& path,
                           YAML::Node* out) const {
    const YAML::Node value = Field(map, key);
    if (value.IsDefined() && !value.IsSequence()) {
      return Error(value, Child(path, key), "must be a list");
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status GetIp(const YAML::Node& value, const std::string& path, std::string* out) const {
    if (!value.IsScalar()) return Error(value, path, "must be an IP address");
    absl::StatusOr<std::string> ip = net::CanonicalIp(value.Scalar(), net::V4Mapped::kRefuse);
    if (!ip.ok()) return Error(value, path, ip.status().message());
    *out = *std::move(ip);
    return absl::OkStatus();
  }

  absl::Status GetAnnotations(const YAML::Node& map, const std::string& path,
                              std::map<std::string, std::string>* out) const {
    const YAML::Node value = Field(map, "annotations");
    if (!value.IsDefined()) return absl::OkStatus();
    const std::string annotations_path = Child(path, "annotations");
    if (!value.IsMap()) return Error(value, annotations_path, "must be a mapping");
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      const std::string key_path = absl::StrCat(annotations_path, "[\"", key, "\"]");
      // Other annotations mean nothing to skewless; refusing them catches typos such as
      // "skewles.io/weight" that would otherwise be ignored in silence.
      if (key.size() <= kAnnotationPrefix.size() || !key.starts_with(kAnnotationPrefix)) {
        return Error(
            it->first, key_path,
            absl::StrCat("only annotations under ", Sv(kAnnotationPrefix), " are allowed"));
      }
      if (!it->second.IsScalar()) return Error(it->second, key_path, "must be a string");
      if (!out->emplace(key, it->second.Scalar()).second) {
        return Error(it->first, key_path, "duplicate key");
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseNodes(const YAML::Node& nodes, Snapshot* snapshot);
  absl::Status ParseService(const YAML::Node& node, const std::string& path, Service* service);
  absl::Status ParseEndpoint(const YAML::Node& node, const std::string& path,
                             const Service& service, const Snapshot& snapshot, Endpoint* endpoint);

  std::string source_;
};

absl::Status DocumentParser::ParseNodes(const YAML::Node& nodes, Snapshot* snapshot) {
  std::map<std::string, std::string> defined_at;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string path = Index("nodes", i);
    const YAML::Node entry = nodes[i];
    SKW_RETURN_IF_ERROR(CheckMap(entry, path, {"name", "zone"}));
    Node node;
    SKW_RETURN_IF_ERROR(GetString(entry, "name", path, &node.name, true));
    if (!IsDnsSubdomain(node.name)) {
      return Error(entry["name"], Child(path, "name"),
                   absl::StrCat("\"", node.name, "\" is not a DNS subdomain name"));
    }
    SKW_RETURN_IF_ERROR(GetString(entry, "zone", path, &node.zone, false));
    if (!IsLabelValue(node.zone)) {
      return Error(entry["zone"], Child(path, "zone"),
                   absl::StrCat("\"", node.zone, "\" is not a label value"));
    }
    if (auto [it, inserted] = defined_at.emplace(node.name, path); !inserted) {
      return Error(entry["name"], Child(path, "name"),
                   absl::StrCat("node ", node.name, " is already defined at ", it->second));
    }
    snapshot->nodes.push_back(std::move(node));
  }
  return absl::OkStatus();
}

absl::Status DocumentParser::ParseService(const YAML::Node& node, const std::string& path,
                                          Service* service) {
  SKW_RETURN_IF_ERROR(
      CheckMap(node, path,
               {"namespace", "name", "clusterIPs", "ports", "trafficDistribution", "annotations"}));
  service->key.namespace_name = "default";
  SKW_RETURN_IF_ERROR(GetString(node, "namespace", path, &service->key.namespace_name, false));
  if (!IsDnsLabel(service->key.namespace_name, false)) {
    return Error(node["namespace"], Child(path, "namespace"),
                 absl::StrCat("\"", service->key.namespace_name, "\" is not a DNS label"));
  }
  SKW_RETURN_IF_ERROR(GetString(node, "name", path, &service->key.name, true));
  // Service names are RFC 1035 labels: they become DNS names and must start with a letter.
  if (!IsDnsLabel(service->key.name, true)) {
    return Error(
        node["name"], Child(path, "name"),
        absl::StrCat("\"", service->key.name, "\" is not a DNS label starting with a letter"));
  }

  YAML::Node ips;
  SKW_RETURN_IF_ERROR(GetSequence(node, "clusterIPs", path, &ips));
  const std::string ips_path = Child(path, "clusterIPs");
  // Headless Services ("None") have no VIP to steer, so they have no place here.
  if (!ips.IsDefined() || ips.size() == 0 || ips.size() > 2) {
    return Error(ips.IsDefined() ? ips : node, ips_path,
                 "must list one cluster IP, or two of different families (dual-stack)");
  }
  for (size_t i = 0; i < ips.size(); ++i) {
    std::string ip;
    SKW_RETURN_IF_ERROR(GetIp(ips[i], Index(ips_path, i), &ip));
    service->cluster_ips.push_back(std::move(ip));
  }
  if (ips.size() == 2 &&
      net::IsIpv6Text(service->cluster_ips[0]) == net::IsIpv6Text(service->cluster_ips[1])) {
    return Error(ips[1], Index(ips_path, 1),
                 "a second cluster IP must be of the other family (dual-stack)");
  }

  std::string distribution;
  SKW_RETURN_IF_ERROR(GetString(node, "trafficDistribution", path, &distribution, false));
  absl::StatusOr<TrafficDistribution> parsed_distribution = ParseTrafficDistribution(distribution);
  if (!parsed_distribution.ok()) {
    return Error(node["trafficDistribution"], Child(path, "trafficDistribution"),
                 parsed_distribution.status().message());
  }
  service->traffic_distribution = *parsed_distribution;
  SKW_RETURN_IF_ERROR(GetAnnotations(node, path, &service->annotations));
  // This file is ours, so unlike the API's annotations a policy we do not know is a typo.
  if (auto policy = service->annotations.find(std::string(kLoadBalancingAnnotation));
      policy != service->annotations.end() && !ParseLbPolicy(policy->second)) {
    return Error(node["annotations"][policy->first],
                 absl::StrCat(Child(path, "annotations"), "[\"", policy->first, "\"]"),
                 absl::StrCat("\"", policy->second, "\" is not one of ", LbPolicyNameList()));
  }

  YAML::Node ports;
  SKW_RETURN_IF_ERROR(GetSequence(node, "ports", path, &ports));
  const std::string ports_path = Child(path, "ports");
  if (!ports.IsDefined() || ports.size() == 0) {
    return Error(ports.IsDefined() ? ports : node, ports_path, "must list at least one port");
  }
  std::map<std::string, std::string> name_at;
  std::map<std::pair<std::uint16_t, Protocol>, std::string> port_at;
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string port_path = Index(ports_path, i);
    const YAML::Node entry = ports[i];
    SKW_RETURN_IF_ERROR(
        CheckMap(entry, port_path, {"name", "port", "targetPort", "protocol", "appProtocol"}));
    ServicePort port;
    SKW_RETURN_IF_ERROR(GetString(entry, "name", port_path, &port.name, false));
    // Kubernetes requires names once there are several ports: EndpointSlices refer to
    // service ports by name.
    if (port.name.empty() && ports.size() > 1) {
      return Error(entry, Child(port_path, "name"), "is required when a service has several ports");
    }
    if (!port.name.empty() && !IsDnsLabel(port.name, false)) {
      return Error(entry["name"], Child(port_path, "name"),
                   absl::StrCat("\"", port.name, "\" is not a DNS label"));
    }
    if (auto [it, inserted] = name_at.emplace(port.name, port_path); !inserted) {
      return Error(entry["name"], Child(port_path, "name"),
                   absl::StrCat("port name \"", port.name, "\" is already used at ", it->second));
    }
    std::optional<std::uint16_t> number, target;
    SKW_RETURN_IF_ERROR(GetPort(entry, "port", port_path, &number));
    if (!number) return Error(entry, Child(port_path, "port"), "is required");
    SKW_RETURN_IF_ERROR(GetPort(entry, "targetPort", port_path, &target));
    port.port = *number;
    port.target_port = target.value_or(*number);
    std::string protocol = "TCP";
    SKW_RETURN_IF_ERROR(GetString(entry, "protocol", port_path, &protocol, false));
    absl::StatusOr<Protocol> parsed_protocol = ParseProtocol(protocol);
    if (!parsed_protocol.ok()) {
      return Error(entry["protocol"], Child(port_path, "protocol"),
                   parsed_protocol.status().message());
    }
    port.protocol = *parsed_protocol;
    if (auto [it, inserted] = port_at.emplace(std::pair(port.port, port.protocol), port_path);
        !inserted) {
      return Error(entry["port"], Child(port_path, "port"),
                   absl::StrCat(port.port, "/", Sv(ProtocolName(port.protocol)),
                                " is already exposed at ", it->second));
    }
    SKW_RETURN_IF_ERROR(GetString(entry, "appProtocol", port_path, &port.app_protocol, false));
    if (Field(entry, "appProtocol").IsDefined() && !IsAppProtocol(port.app_protocol)) {
      return Error(entry["appProtocol"], Child(port_path, "appProtocol"),
                   absl::StrCat("\"", port.app_protocol, "\" is not a protocol name"));
    }
    service->ports.push_back(std::move(port));
  }
  return absl::OkStatus();
}

absl::Status DocumentParser::ParseEndpoint(const YAML::Node& node, const std::string& path,
                                           const Service& service, const Snapshot& snapshot,
                                           Endpoint* endpoint) {
  SKW_RETURN_IF_ERROR(CheckMap(node, path,
                               {"address", "addresses", "zone", "nodeName", "hostname",
                                "conditions", "weight", "annotations"}));
  const YAML::Node single = Field(node, "address");
  YAML::Node list;
  SKW_RETURN_IF_ERROR(GetSequence(node, "addresses", path, &list));
  if (single.IsDefined() == list.IsDefined()) {
    return Error(node, path, "give exactly one of address or addresses");
  }
  if (single.IsDefined()) {
    std::string ip;
    SKW_RETURN_IF_ERROR(GetIp(single, Child(path, "address"), &ip));
    endpoint->addresses.push_back(std::move(ip));
  } else {
    if (list.size() == 0) return Error(list, Child(path, "addresses"), "must not be empty");
    for (size_t i = 0; i < list.size(); ++i) {
      std::string ip;
      SKW_RETURN_IF_ERROR(GetIp(list[i], Index(Child(path, "addresses"), i), &ip));
      // An EndpointSlice has one address type; mixing families would make "the first
      // address" depend on the family the consumer wants.
      if (net::IsIpv6Text(ip) !=
          net::IsIpv6Text(endpoint->addresses.empty() ? ip : endpoint->addresses[0])) {
        return Error(list[i], Index(Child(path, "addresses"), i),
                     "all addresses of an endpoint must be of one family");
      }
      endpoint->addresses.push_back(std::move(ip));
    }
  }
  const bool v6 = net::IsIpv6Text(endpoint->addresses[0]);
  if (std::none_of(service.cluster_ips.begin(), service.cluster_ips.end(),
                   [&](const std::string& ip) { return net::IsIpv6Text(ip) == v6; })) {
    return Error(single.IsDefined() ? single : list, path,
                 absl::StrCat("an IPv", v6 ? "6" : "4", " endpoint, but service ",
                              ToString(service.key), " has no IPv", v6 ? "6" : "4", " cluster IP"));
  }

  SKW_RETURN_IF_ERROR(GetString(node, "nodeName", path, &endpoint->node_name, false));
  SKW_RETURN_IF_ERROR(GetString(node, "zone", path, &endpoint->zone, false));
  if (!IsLabelValue(endpoint->zone)) {
    return Error(node["zone"], Child(path, "zone"),
                 absl::StrCat("\"", endpoint->zone, "\" is not a label value"));
  }
  if (!endpoint->node_name.empty()) {
    // The EndpointSlice controller copies the zone from the endpoint's Node; a file that
    // says otherwise is wrong in one of the two places.
    const Node* known = snapshot.FindNode(endpoint->node_name);
    if (known == nullptr) {
      return Error(node["nodeName"], Child(path, "nodeName"),
                   absl::StrCat("unknown node \"", endpoint->node_name, "\" (not in nodes)"));
    }
    if (endpoint->zone.empty()) {
      endpoint->zone = known->zone;
    } else if (endpoint->zone != known->zone) {
      return Error(node["zone"], Child(path, "zone"),
                   absl::StrCat("\"", endpoint->zone, "\" but node ", known->name, " is in zone \"",
                                known->zone, "\""));
    }
  }
  SKW_RETURN_IF_ERROR(GetString(node, "hostname", path, &endpoint->hostname, false));
  if (!endpoint->hostname.empty() && !IsDnsLabel(endpoint->hostname, false)) {
    return Error(node["hostname"], Child(path, "hostname"),
                 absl::StrCat("\"", endpoint->hostname, "\" is not a DNS label"));
  }

  const YAML::Node conditions = Field(node, "conditions");
  if (conditions.IsDefined()) {
    const std::string conditions_path = Child(path, "conditions");
    SKW_RETURN_IF_ERROR(CheckMap(conditions, conditions_path, {"ready", "serving", "terminating"}));
    std::optional<bool> ready, serving, terminating;
    SKW_RETURN_IF_ERROR(GetBool(conditions, "ready", conditions_path, &ready));
    SKW_RETURN_IF_ERROR(GetBool(conditions, "serving", conditions_path, &serving));
    SKW_RETURN_IF_ERROR(GetBool(conditions, "terminating", conditions_path, &terminating));
    endpoint->conditions = MakeConditions(ready, serving, terminating);
  }

  // The weight may come as a field or, as the Kubernetes source will read it from a pod,
  // as an annotation; giving both would leave a reader guessing which one counts.
  std::map<std::string, std::string> annotations;
  SKW_RETURN_IF_ERROR(GetAnnotations(node, path, &annotations));
  for (const auto& [key, value] : annotations) {
    if (key != kWeightAnnotation) {
      return Error(node["annotations"], absl::StrCat(Child(path, "annotations"), "[\"", key, "\"]"),
                   absl::StrCat("endpoints take only the ", Sv(kWeightAnnotation), " annotation"));
    }
  }
  std::optional<long long> weight;
  SKW_RETURN_IF_ERROR(GetInteger(node, "weight", path, &weight));
  if (weight && annotations.contains(std::string(kWeightAnnotation))) {
    return Error(
        node["weight"], Child(path, "weight"),
        absl::StrCat("given both as a field and as the ", Sv(kWeightAnnotation), " annotation"));
  }
  if (weight) {
    if (*weight < 1 || *weight > 65535) {
      return Error(node["weight"], Child(path, "weight"),
                   absl::StrCat(*weight, " is not a weight (1-65535)"));
    }
    endpoint->weight = static_cast<std::uint16_t>(*weight);
  } else if (auto it = annotations.find(std::string(kWeightAnnotation)); it != annotations.end()) {
    absl::StatusOr<std::uint16_t> parsed = ParseWeight(it->second);
    if (!parsed.ok()) {
      return Error(node["annotations"][it->first],
                   absl::StrCat(Child(path, "annotations"), "[\"", it->first, "\"]"),
                   parsed.status().message());
    }
    endpoint->weight = *parsed;
  }
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> DocumentParser::Parse(const YAML::Node& root) {
  // An empty file is what a reader sees mid-write after a truncate; taking it as "no
  // services" would wipe the control plane, so it is an error. `{}` says "nothing" on purpose.
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": document is empty"));
  }
  SKW_RETURN_IF_ERROR(CheckMap(root, "(document)", {"nodes", "services", "endpointSlices"}));
  Snapshot snapshot;

  YAML::Node nodes, services, slices;
  SKW_RETURN_IF_ERROR(GetSequence(root, "nodes", "", &nodes));
  SKW_RETURN_IF_ERROR(GetSequence(root, "services", "", &services));
  SKW_RETURN_IF_ERROR(GetSequence(root, "endpointSlices", "", &slices));
  if (nodes.IsDefined()) SKW_RETURN_IF_ERROR(ParseNodes(nodes, &snapshot));
  std::sort(snapshot.nodes.begin(), snapshot.nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });

  std::map<ServiceKey, std::string> service_at;
  std::map<std::string, std::string> cluster_ip_owner;
  for (size_t i = 0; services.IsDefined() && i < services.size(); ++i) {
    const std::string path = Index("services", i);
    Service service;
    SKW_RETURN_IF_ERROR(ParseService(services[i], path, &service));
    if (auto [it, inserted] = service_at.emplace(service.key, path); !inserted) {
      return Error(
          services[i]["name"], Child(path, "name"),
          absl::StrCat("service ", ToString(service.key), " is already defined at ", it->second));
    }
    for (size_t j = 0; j < service.cluster_ips.size(); ++j) {
      const std::string owner = absl::StrCat(ToString(service.key), " (", path, ")");
      if (auto [it, inserted] = cluster_ip_owner.emplace(service.cluster_ips[j], owner);
          !inserted) {
        return Error(
            services[i]["clusterIPs"][j], Index(Child(path, "clusterIPs"), j),
            absl::StrCat(service.cluster_ips[j], " is already the cluster IP of ", it->second));
      }
    }
    snapshot.services.push_back(std::move(service));
  }
  std::sort(snapshot.services.begin(), snapshot.services.end(),
            [](const Service& a, const Service& b) { return a.key < b.key; });

  std::map<ServiceKey, std::vector<EndpointSlice>> slices_by_service;
  std::map<std::pair<ServiceKey, std::string>, std::string> slice_at;
  for (size_t i = 0; slices.IsDefined() && i < slices.size(); ++i) {
    const std::string path = Index("endpointSlices", i);
    const YAML::Node entry = slices[i];
    SKW_RETURN_IF_ERROR(CheckMap(entry, path, {"namespace", "service", "name", "endpoints"}));
    EndpointSlice slice;
    slice.service.namespace_name = "default";
    SKW_RETURN_IF_ERROR(GetString(entry, "namespace", path, &slice.service.namespace_name, false));
    SKW_RETURN_IF_ERROR(GetString(entry, "service", path, &slice.service.name, true));
    const Service* service = snapshot.FindService(slice.service);
    if (service == nullptr) {
      return Error(entry["service"], Child(path, "service"),
                   absl::StrCat("endpoints for unknown service ", ToString(slice.service)));
    }
    // Unnamed slices are named by position, so the merge's tie-break stays deterministic.
    slice.name = absl::StrCat(slice.service.name, "-", i);
    SKW_RETURN_IF_ERROR(GetString(entry, "name", path, &slice.name, false));
    if (!IsDnsSubdomain(slice.name)) {
      return Error(entry["name"], Child(path, "name"),
                   absl::StrCat("\"", slice.name, "\" is not a DNS subdomain name"));
    }
    if (auto [it, inserted] = slice_at.emplace(std::pair(slice.service, slice.name), path);
        !inserted) {
      return Error(entry["name"], Child(path, "name"),
                   absl::StrCat("slice ", slice.name, " of ", ToString(slice.service),
                                " is already defined at ", it->second));
    }
    for (const ServicePort& port : service->ports) {
      slice.ports.push_back({port.name, port.target_port, port.protocol});
    }
    YAML::Node endpoints;
    SKW_RETURN_IF_ERROR(GetSequence(entry, "endpoints", path, &endpoints));
    std::map<std::string, std::string> address_at;
    for (size_t j = 0; endpoints.IsDefined() && j < endpoints.size(); ++j) {
      const std::string endpoint_path = Index(Child(path, "endpoints"), j);
      Endpoint endpoint;
      SKW_RETURN_IF_ERROR(
          ParseEndpoint(endpoints[j], endpoint_path, *service, snapshot, &endpoint));
      // Within one slice a repeated address is a mistake; across slices it is the
      // transient state the merge rule exists for.
      if (auto [it, inserted] = address_at.emplace(endpoint.addresses[0], endpoint_path);
          !inserted) {
        return Error(endpoints[j], endpoint_path,
                     absl::StrCat(endpoint.addresses[0], " is already listed at ", it->second));
      }
      slice.endpoints.push_back(std::move(endpoint));
    }
    slices_by_service[slice.service].push_back(std::move(slice));
  }
  for (const auto& [key, service_slices] : slices_by_service) {
    absl::StatusOr<std::vector<ServicePortEndpoints>> merged =
        MergeEndpointSlices(key, service_slices);
    if (!merged.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": ", merged.status().message()));
    }
    for (ServicePortEndpoints& port : *merged) snapshot.endpoints.push_back(std::move(port));
  }
  snapshot.Canonicalize();
  return snapshot;
}

}  // namespace

absl::StatusOr<Snapshot> ParseSnapshotYaml(std::string_view document,
                                           std::string_view source_name) {
  absl::StatusOr<YAML::Node> root = LoadYaml(document, source_name);
  if (!root.ok()) return root.status();
  // The checks above every access make yaml-cpp's own exceptions unreachable; catching
  // them anyway keeps a parser bug from escaping the watcher thread.
  try {
    return DocumentParser(source_name).Parse(*root);
  } catch (const YAML::Exception& e) {
    return absl::InternalError(
        absl::StrCat(Sv(source_name), ": unexpected YAML error: ", e.what()));
  }
}

absl::StatusOr<Snapshot> LoadSnapshotFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string document;
  document.resize(kMaxDocumentBytes + 1);
  in.read(document.data(), static_cast<std::streamsize>(document.size()));
  if (in.bad()) return absl::UnavailableError(absl::StrCat(path, ": read failed"));
  document.resize(static_cast<size_t>(in.gcount()));
  if (document.size() > kMaxDocumentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than ", kMaxDocumentBytes, " bytes"));
  }
  return ParseSnapshotYaml(document, path);
}

}  // namespace skewless::controlplane
