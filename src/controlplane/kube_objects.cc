// Reads Services, EndpointSlices and Nodes from the API server's JSON into the model, with
// errors that name the object and the JSON path of the field.
#include "skewless/controlplane/kube_objects.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "parse_util.h"
#include "skewless/common/net.h"

namespace skewless::controlplane {
namespace {

using nlohmann::json;

// A value as an error message quotes it; long ones are cut (an object can be big).
std::string Quote(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  constexpr size_t kMaxQuoted = 64;
  if (text.size() > kMaxQuoted) text = text.substr(0, kMaxQuoted) + "...";
  return text;
}

// The field `key` of `object`, or nullptr when absent or null: Kubernetes reads a JSON
// null as "not set", and its serializer writes null for some empty fields.
const json* Field(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Typed field access for one object; every error starts with the object's description.
class FieldReader {
 public:
  explicit FieldReader(std::string description) : description_(std::move(description)) {}

  absl::Status Error(const std::string& path, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(description_, ": ", path, ": ", message));
  }

  absl::Status Required(const json* value, const std::string& path) const {
    return value == nullptr ? Error(path, "is required") : absl::OkStatus();
  }

  absl::Status GetString(const json& object, std::string_view key, const std::string& path,
                         std::string* out) const {
    const json* value = Field(object, key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) return Error(Child(path, key), Quote(*value) + " is not a string");
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status GetBool(const json& object, std::string_view key, const std::string& path,
                       std::optional<bool>* out) const {
    const json* value = Field(object, key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_boolean()) {
      return Error(Child(path, key), Quote(*value) + " is not true or false");
    }
    *out = value->get<bool>();
    return absl::OkStatus();
  }

  // A port number; a quoted "8080" is a string in Kubernetes, not a number.
  absl::Status GetPort(const json& object, std::string_view key, const std::string& path,
                       std::optional<std::uint16_t>* out) const {
    const json* value = Field(object, key);
    if (value == nullptr) return absl::OkStatus();
    return ToPort(*value, Child(path, key), out);
  }

  absl::Status ToPort(const json& value, const std::string& path,
                      std::optional<std::uint16_t>* out) const {
    if (!value.is_number_integer()) return Error(path, Quote(value) + " is not an integer");
    // nlohmann keeps non-negative numbers unsigned and negative ones signed.
    const std::int64_t number =
        value.is_number_unsigned()
            ? static_cast<std::int64_t>(std::min<std::uint64_t>(value.get<std::uint64_t>(), 65536))
            : value.get<std::int64_t>();
    if (number < 1 || number > 65535) {
      return Error(path, absl::StrCat(Quote(value), " is not a port (1-65535)"));
    }
    *out = static_cast<std::uint16_t>(number);
    return absl::OkStatus();
  }

  // A JSON object field; *out stays nullptr when absent.
  absl::Status GetObject(const json& object, std::string_view key, const std::string& path,
                         const json** out) const {
    const json* value = Field(object, key);
    if (value != nullptr && !value->is_object()) {
      return Error(Child(path, key), Quote(*value) + " is not an object");
    }
    *out = value;
    return absl::OkStatus();
  }

  // A list field; *out stays nullptr when absent (which means empty).
  absl::Status GetArray(const json& object, std::string_view key, const std::string& path,
                        const json** out) const {
    const json* value = Field(object, key);
    if (value != nullptr && !value->is_array()) {
      return Error(Child(path, key), Quote(*value) + " is not a list");
    }
    *out = value;
    return absl::OkStatus();
  }

  // labels and annotations: string to string.
  absl::Status GetStringMap(const json& object, std::string_view key, const std::string& path,
                            std::map<std::string, std::string>* out) const {
    const json* map = nullptr;
    SKW_RETURN_IF_ERROR(GetObject(object, key, path, &map));
    if (map == nullptr) return absl::OkStatus();
    for (const auto& [name, value] : map->items()) {
      if (!value.is_string()) {
        return Error(absl::StrCat(Child(path, key), "[\"", name, "\"]"),
                     Quote(value) + " is not a string");
      }
      (*out)[name] = value.get<std::string>();
    }
    return absl::OkStatus();
  }

 private:
  std::string description_;
};

// Everything a parser needs from metadata, read once.
struct ParsedMeta {
  KubeObjectMeta meta;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

bool IsNamespaced(std::string_view kind) { return kind != "Node"; }

absl::StatusOr<ParsedMeta> ParseMeta(std::string_view kind, const json& object) {
  ParsedMeta parsed;
  // Read the name first, without checks, so even the errors about it can name the object.
  const json* metadata = Field(object, "metadata");
  if (metadata != nullptr) {
    if (const json* name = Field(*metadata, "name"); name != nullptr && name->is_string()) {
      parsed.meta.name = name->get<std::string>();
    }
    if (const json* ns = Field(*metadata, "namespace"); ns != nullptr && ns->is_string()) {
      parsed.meta.namespace_name = ns->get<std::string>();
    }
  }
  const FieldReader reader(DescribeObject(kind, parsed.meta));
  if (!object.is_object()) return reader.Error("(object)", Quote(object) + " is not an object");
  SKW_RETURN_IF_ERROR(reader.GetObject(object, "metadata", "", &metadata));
  SKW_RETURN_IF_ERROR(reader.Required(metadata, "metadata"));
  std::string name, namespace_name;
  SKW_RETURN_IF_ERROR(reader.GetString(*metadata, "name", "metadata", &name));
  if (name.empty()) return reader.Error("metadata.name", "is required");
  SKW_RETURN_IF_ERROR(reader.GetString(*metadata, "namespace", "metadata", &namespace_name));
  if (IsNamespaced(kind) && namespace_name.empty()) {
    return reader.Error("metadata.namespace", "is required");
  }
  SKW_RETURN_IF_ERROR(
      reader.GetString(*metadata, "resourceVersion", "metadata", &parsed.meta.resource_version));
  SKW_RETURN_IF_ERROR(reader.GetStringMap(*metadata, "labels", "metadata", &parsed.labels));
  SKW_RETURN_IF_ERROR(
      reader.GetStringMap(*metadata, "annotations", "metadata", &parsed.annotations));
  return parsed;
}

// Service.spec.ports[i]; nullopt for an SCTP port.
absl::StatusOr<std::optional<ServicePort>> ParseServicePort(const FieldReader& reader,
                                                            const json& entry,
                                                            const std::string& path) {
  if (!entry.is_object()) return reader.Error(path, Quote(entry) + " is not an object");
  ServicePort port;
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "name", path, &port.name));
  std::optional<std::uint16_t> number;
  SKW_RETURN_IF_ERROR(reader.GetPort(entry, "port", path, &number));
  if (!number) return reader.Error(Child(path, "port"), "is required");
  port.port = *number;
  // targetPort is an IntOrString: a number, or the name of a container port, which only
  // the EndpointSlices resolve (0 here until then). Unset means "same as port".
  port.target_port = port.port;
  if (const json* target = Field(entry, "targetPort"); target != nullptr) {
    if (target->is_string()) {
      if (!target->get<std::string>().empty()) port.target_port = 0;
    } else if (target->is_number_integer()) {
      std::optional<std::uint16_t> target_number;
      SKW_RETURN_IF_ERROR(reader.ToPort(*target, Child(path, "targetPort"), &target_number));
      port.target_port = *target_number;
    } else {
      return reader.Error(Child(path, "targetPort"),
                          Quote(*target) + " is neither a port number nor a port name");
    }
  }
  std::string protocol = "TCP";
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "protocol", path, &protocol));
  if (protocol == "SCTP") return std::nullopt;
  absl::StatusOr<Protocol> parsed_protocol = ParseProtocol(protocol);
  if (!parsed_protocol.ok()) {
    return reader.Error(Child(path, "protocol"), parsed_protocol.status().message());
  }
  port.protocol = *parsed_protocol;
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "appProtocol", path, &port.app_protocol));
  return port;
}

// Reads the slice-wide weight annotation; kDefaultWeight when absent.
absl::StatusOr<std::uint16_t> SliceWeight(const FieldReader& reader,
                                          const std::map<std::string, std::string>& annotations) {
  auto it = annotations.find(std::string(kWeightAnnotation));
  if (it == annotations.end()) return kDefaultWeight;
  absl::StatusOr<std::uint16_t> weight = ParseWeight(it->second);
  if (!weight.ok()) {
    return reader.Error(absl::StrCat("metadata.annotations[\"", it->first, "\"]"),
                        weight.status().message());
  }
  return *weight;
}

absl::StatusOr<Endpoint> ParseSliceEndpoint(const FieldReader& reader, const json& entry,
                                            const std::string& path, bool want_ipv6,
                                            std::string_view address_type) {
  if (!entry.is_object()) return reader.Error(path, Quote(entry) + " is not an object");
  Endpoint endpoint;
  const json* addresses = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetArray(entry, "addresses", path, &addresses));
  const std::string addresses_path = Child(path, "addresses");
  if (addresses == nullptr || addresses->empty()) {
    return reader.Error(addresses_path, "must list at least one address");
  }
  for (size_t i = 0; i < addresses->size(); ++i) {
    const json& address = (*addresses)[i];
    const std::string address_path = Index(addresses_path, i);
    if (!address.is_string())
      return reader.Error(address_path, Quote(address) + " is not a string");
    // As the API server validates it: "::ffff:a.b.c.d" and leading zeros are valid IPv4
    // (the EndpointSlice controller never writes them, but a client may have).
    absl::StatusOr<net::IpAddress> parsed = net::ParseKubernetesIp(address.get<std::string>());
    if (!parsed.ok()) return reader.Error(address_path, parsed.status().message());
    std::string ip = parsed->ToString();
    if (parsed->is_v4() == want_ipv6) {
      return reader.Error(address_path, absl::StrCat(Quote(address), " is not an ",
                                                     Sv(address_type), " address (addressType)"));
    }
    endpoint.addresses.push_back(std::move(ip));
  }

  const json* conditions = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetObject(entry, "conditions", path, &conditions));
  if (conditions != nullptr) {
    const std::string conditions_path = Child(path, "conditions");
    std::optional<bool> ready, serving, terminating;
    SKW_RETURN_IF_ERROR(reader.GetBool(*conditions, "ready", conditions_path, &ready));
    SKW_RETURN_IF_ERROR(reader.GetBool(*conditions, "serving", conditions_path, &serving));
    SKW_RETURN_IF_ERROR(reader.GetBool(*conditions, "terminating", conditions_path, &terminating));
    endpoint.conditions = MakeConditions(ready, serving, terminating);
  }
  // targetRef names the pod; it is how one pod's IPv4 and IPv6 slices are joined.
  const json* target_ref = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetObject(entry, "targetRef", path, &target_ref));
  if (target_ref != nullptr) {
    const std::string target_path = Child(path, "targetRef");
    std::string kind, namespace_name, name, uid;
    SKW_RETURN_IF_ERROR(reader.GetString(*target_ref, "kind", target_path, &kind));
    SKW_RETURN_IF_ERROR(reader.GetString(*target_ref, "namespace", target_path, &namespace_name));
    SKW_RETURN_IF_ERROR(reader.GetString(*target_ref, "name", target_path, &name));
    SKW_RETURN_IF_ERROR(reader.GetString(*target_ref, "uid", target_path, &uid));
    if (!name.empty() || !uid.empty()) {
      endpoint.target_ref = absl::StrCat(kind, "/", namespace_name, "/", name, "/", uid);
    }
  }
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "nodeName", path, &endpoint.node_name));
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "zone", path, &endpoint.zone));
  SKW_RETURN_IF_ERROR(reader.GetString(entry, "hostname", path, &endpoint.hostname));
  return endpoint;
}

}  // namespace

std::string DescribeObject(std::string_view kind, const KubeObjectMeta& meta) {
  const std::string name = meta.name.empty() ? "<unnamed>" : meta.name;
  if (!IsNamespaced(kind)) return absl::StrCat(Sv(kind), " ", name);
  const std::string ns = meta.namespace_name.empty() ? "<no namespace>" : meta.namespace_name;
  return absl::StrCat(Sv(kind), " ", ns, "/", name);
}

absl::StatusOr<KubeObjectMeta> ParseKubeObjectMeta(std::string_view kind, const json& object) {
  absl::StatusOr<ParsedMeta> parsed = ParseMeta(kind, object);
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed->meta);
}

absl::StatusOr<std::optional<Service>> ParseKubeService(const json& object) {
  absl::StatusOr<ParsedMeta> parsed = ParseMeta("Service", object);
  if (!parsed.ok()) return parsed.status();
  const FieldReader reader(DescribeObject("Service", parsed->meta));
  Service service;
  service.key = {parsed->meta.namespace_name, parsed->meta.name};
  // Other annotations (kubectl's last-applied configuration, controllers' notes) mean
  // nothing to skewless; unlike the file source they are not ours to refuse.
  for (auto& [key, value] : parsed->annotations) {
    if (key.starts_with(kAnnotationPrefix)) service.annotations.emplace(key, value);
  }

  const json* spec = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetObject(object, "spec", "", &spec));
  SKW_RETURN_IF_ERROR(reader.Required(spec, "spec"));
  std::string type;
  SKW_RETURN_IF_ERROR(reader.GetString(*spec, "type", "spec", &type));
  // An ExternalName Service is a DNS CNAME: no virtual IP, no endpoints.
  if (type == "ExternalName") return std::nullopt;

  // clusterIPs (1.20+) lists the primary family first; older objects carry only clusterIP.
  std::vector<std::pair<std::string, std::string>> ips;  // (text, path)
  const json* cluster_ips = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetArray(*spec, "clusterIPs", "spec", &cluster_ips));
  for (size_t i = 0; cluster_ips != nullptr && i < cluster_ips->size(); ++i) {
    const std::string path = Index("spec.clusterIPs", i);
    const json& ip = (*cluster_ips)[i];
    if (!ip.is_string()) return reader.Error(path, Quote(ip) + " is not a string");
    ips.emplace_back(ip.get<std::string>(), path);
  }
  if (ips.empty()) {
    std::string ip;
    SKW_RETURN_IF_ERROR(reader.GetString(*spec, "clusterIP", "spec", &ip));
    if (!ip.empty()) ips.emplace_back(ip, "spec.clusterIP");
  }
  // Headless Services ("None") have no VIP to steer: clients resolve the pods by DNS.
  if (ips.empty() || ips[0].first.empty() || ips[0].first == "None") return std::nullopt;
  if (ips.size() > 2) {
    return reader.Error("spec.clusterIPs",
                        absl::StrCat("lists ", ips.size(), " addresses; at most one per family"));
  }
  for (const auto& [text, path] : ips) {
    absl::StatusOr<net::IpAddress> ip = net::ParseKubernetesIp(text);
    if (!ip.ok()) return reader.Error(path, ip.status().message());
    service.cluster_ips.push_back(ip->ToString());
  }
  if (ips.size() == 2 &&
      net::IsIpv6Text(service.cluster_ips[0]) == net::IsIpv6Text(service.cluster_ips[1])) {
    return reader.Error(ips[1].second, "a second cluster IP must be of the other family");
  }

  std::string distribution;
  SKW_RETURN_IF_ERROR(reader.GetString(*spec, "trafficDistribution", "spec", &distribution));
  service.traffic_distribution =
      ParseTrafficDistribution(distribution).value_or(TrafficDistribution::kNone);

  const json* ports = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetArray(*spec, "ports", "spec", &ports));
  for (size_t i = 0; ports != nullptr && i < ports->size(); ++i) {
    absl::StatusOr<std::optional<ServicePort>> port =
        ParseServicePort(reader, (*ports)[i], Index("spec.ports", i));
    if (!port.ok()) return port.status();
    if (*port) service.ports.push_back(**std::move(port));
  }
  if (service.ports.empty()) return std::nullopt;
  return service;
}

absl::StatusOr<std::optional<EndpointSlice>> ParseKubeEndpointSlice(const json& object) {
  absl::StatusOr<ParsedMeta> parsed = ParseMeta("EndpointSlice", object);
  if (!parsed.ok()) return parsed.status();
  const FieldReader reader(DescribeObject("EndpointSlice", parsed->meta));
  auto service_name = parsed->labels.find(std::string(kServiceNameLabel));
  if (service_name == parsed->labels.end() || service_name->second.empty()) return std::nullopt;

  std::string address_type;
  SKW_RETURN_IF_ERROR(reader.GetString(object, "addressType", "", &address_type));
  if (address_type.empty()) return reader.Error("addressType", "is required");
  // FQDN slices name hosts, not addresses; there is nothing to put in a BPF map.
  if (address_type == "FQDN") return std::nullopt;
  if (address_type != "IPv4" && address_type != "IPv6") {
    return reader.Error(
        "addressType",
        absl::StrCat("\"", address_type, "\" is not an address type (IPv4, IPv6, FQDN)"));
  }
  const bool ipv6 = address_type == "IPv6";

  EndpointSlice slice;
  slice.name = parsed->meta.name;
  slice.service = {parsed->meta.namespace_name, service_name->second};
  absl::StatusOr<std::uint16_t> weight = SliceWeight(reader, parsed->annotations);
  if (!weight.ok()) return weight.status();

  const json* ports = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetArray(object, "ports", "", &ports));
  for (size_t i = 0; ports != nullptr && i < ports->size(); ++i) {
    const std::string path = Index("ports", i);
    const json& entry = (*ports)[i];
    if (!entry.is_object()) return reader.Error(path, Quote(entry) + " is not an object");
    EndpointSlicePort port;
    SKW_RETURN_IF_ERROR(reader.GetString(entry, "name", path, &port.name));
    std::optional<std::uint16_t> number;
    SKW_RETURN_IF_ERROR(reader.GetPort(entry, "port", path, &number));
    std::string protocol = "TCP";
    SKW_RETURN_IF_ERROR(reader.GetString(entry, "protocol", path, &protocol));
    // No number means "every port" (headless Services without ports): nothing to dial.
    if (!number || protocol == "SCTP") continue;
    absl::StatusOr<Protocol> parsed_protocol = ParseProtocol(protocol);
    if (!parsed_protocol.ok()) {
      return reader.Error(Child(path, "protocol"), parsed_protocol.status().message());
    }
    port.port = *number;
    port.protocol = *parsed_protocol;
    slice.ports.push_back(std::move(port));
  }

  const json* endpoints = nullptr;
  SKW_RETURN_IF_ERROR(reader.GetArray(object, "endpoints", "", &endpoints));
  // The store keeps every slice: no growth slack on its longest list.
  if (endpoints != nullptr) slice.endpoints.reserve(endpoints->size());
  for (size_t i = 0; endpoints != nullptr && i < endpoints->size(); ++i) {
    absl::StatusOr<Endpoint> endpoint =
        ParseSliceEndpoint(reader, (*endpoints)[i], Index("endpoints", i), ipv6, address_type);
    if (!endpoint.ok()) return endpoint.status();
    endpoint->weight = *weight;
    slice.endpoints.push_back(*std::move(endpoint));
  }
  return slice;
}

absl::StatusOr<Node> ParseKubeNode(const json& object) {
  absl::StatusOr<ParsedMeta> parsed = ParseMeta("Node", object);
  if (!parsed.ok()) return parsed.status();
  Node node;
  node.name = parsed->meta.name;
  if (auto zone = parsed->labels.find(std::string(kZoneLabel)); zone != parsed->labels.end()) {
    node.zone = zone->second;
  }
  return node;
}

}  // namespace skewless::controlplane
