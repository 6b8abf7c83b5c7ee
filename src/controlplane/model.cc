// The snapshot model: name tables, condition rules, the EndpointSlice merge (dual-stack pods
// joined), ordering.
#include "skewless/controlplane/model.h"

#include <algorithm>
#include <array>
#include <set>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "parse_util.h"
#include "skewless/abi.h"
#include "skewless/common/net.h"

namespace skewless::controlplane {

static_assert(kDefaultWeight == SKW_DEFAULT_WEIGHT, "the data path's default weight moved");

std::string_view ProtocolName(Protocol protocol) {
  return protocol == Protocol::kUdp ? "UDP" : "TCP";
}

absl::StatusOr<Protocol> ParseProtocol(std::string_view name) {
  // Kubernetes spells protocols in upper case only; SCTP exists there but not in our
  // data path, so it is refused rather than silently treated as TCP.
  if (name == "TCP") return Protocol::kTcp;
  if (name == "UDP") return Protocol::kUdp;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", Sv(name), "\" is not a protocol (TCP or UDP)"));
}

std::string_view TrafficDistributionName(TrafficDistribution distribution) {
  switch (distribution) {
    case TrafficDistribution::kNone:
      return "";
    case TrafficDistribution::kPreferClose:
      return "PreferClose";
    case TrafficDistribution::kPreferSameZone:
      return "PreferSameZone";
    case TrafficDistribution::kPreferSameNode:
      return "PreferSameNode";
  }
  return "";
}

absl::StatusOr<TrafficDistribution> ParseTrafficDistribution(std::string_view name) {
  for (auto distribution :
       {TrafficDistribution::kNone, TrafficDistribution::kPreferClose,
        TrafficDistribution::kPreferSameZone, TrafficDistribution::kPreferSameNode}) {
    if (name == TrafficDistributionName(distribution)) return distribution;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", Sv(name),
                   "\" is not a traffic distribution (PreferClose, PreferSameZone, "
                   "PreferSameNode, or empty)"));
}

std::string ToString(const ServiceKey& key) {
  return absl::StrCat(key.namespace_name, "/", key.name);
}

EndpointConditions MakeConditions(std::optional<bool> ready, std::optional<bool> serving,
                                  std::optional<bool> terminating) {
  // The API's defaults (discovery/v1 EndpointConditions), which are kube-proxy's too.
  return EndpointConditions{.ready = ready.value_or(true),
                            .serving = serving.value_or(true),
                            .terminating = terminating.value_or(false)};
}

Usability UsabilityOf(const EndpointConditions& conditions) {
  // `ready` alone decides first: with publishNotReadyAddresses the controller sets it on
  // terminating and on not-serving pods, and kube-proxy sends them new traffic.
  if (conditions.ready) return Usability::kReady;
  if (conditions.serving && conditions.terminating) return Usability::kServingTerminating;
  return Usability::kUnusable;
}

absl::StatusOr<std::uint16_t> ParseWeight(std::string_view text) {
  int weight = 0;
  // SimpleAtoi tolerates surrounding spaces and a sign; a weight is plain digits.
  if (text.empty() ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(Sv(text), &weight) || weight < 1 || weight > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", Sv(text), "\" is not a weight (an integer 1-65535)"));
  }
  return static_cast<std::uint16_t>(weight);
}

namespace {

// Merge key within one family: what the data path dials. Endpoints are identified by their
// first address, as kube-proxy does.
using AddressPort = std::pair<std::string, std::uint16_t>;

struct MergeEntry {
  PortEndpoint endpoint;
  const std::string* slice_name;
};

auto PortKey(const ServicePortEndpoints& e) { return std::tie(e.service, e.port_name, e.protocol); }

// Joins each pod's IPv4 and IPv6 endpoints (entries of `merged`, one per address:port)
// into one, primary family first; endpoints without a target_ref stay as they are. The
// result is in `merged`'s (address) order.
std::vector<PortEndpoint> JoinFamilies(std::map<AddressPort, MergeEntry>& merged,
                                       bool primary_ipv6) {
  // Per (pod, port): the entry of the primary family [0] and of the other one [1]. When a
  // pod has two addresses of one family (never from the EndpointSlice controller), the
  // more usable joins and the other stays on its own.
  std::map<std::pair<std::string_view, std::uint16_t>, std::array<PortEndpoint*, 2>> by_pod;
  for (auto& [key, entry] : merged) {
    Endpoint& endpoint = entry.endpoint.endpoint;
    if (endpoint.target_ref.empty()) continue;
    const int family = net::IsIpv6Text(key.first) == primary_ipv6 ? 0 : 1;
    PortEndpoint*& slot = by_pod[{endpoint.target_ref, key.second}][family];
    if (slot == nullptr ||
        UsabilityOf(endpoint.conditions) > UsabilityOf(slot->endpoint.conditions)) {
      slot = &entry.endpoint;
    }
  }
  std::set<const PortEndpoint*> absorbed;
  for (auto& [pod, pair] : by_pod) {
    if (pair[0] == nullptr || pair[1] == nullptr) continue;
    Endpoint& primary = pair[0]->endpoint;
    const Endpoint& other = pair[1]->endpoint;
    primary.addresses.insert(primary.addresses.end(), other.addresses.begin(),
                             other.addresses.end());
    if (UsabilityOf(other.conditions) > UsabilityOf(primary.conditions)) {
      primary.conditions = other.conditions;
    }
    absorbed.insert(pair[1]);
  }
  std::vector<PortEndpoint> joined;
  // Exact size: the snapshot keeps this list for its lifetime, and push_back's
  // doubling would leave up to half of it unused (ten endpoints take sixteen slots).
  joined.reserve(merged.size() - absorbed.size());
  for (auto& [key, entry] : merged) {
    if (!absorbed.contains(&entry.endpoint)) joined.push_back(std::move(entry.endpoint));
  }
  return joined;
}

}  // namespace

absl::StatusOr<std::vector<ServicePortEndpoints>> MergeEndpointSlices(
    const ServiceKey& service, std::span<const EndpointSlice> slices, bool primary_ipv6) {
  std::map<std::pair<std::string, Protocol>, std::map<AddressPort, MergeEntry>> by_port;
  for (const EndpointSlice& slice : slices) {
    if (slice.service != service) {
      return absl::InvalidArgumentError(absl::StrCat("EndpointSlice ", slice.name, " belongs to ",
                                                     ToString(slice.service), ", not ",
                                                     ToString(service)));
    }
    for (const EndpointSlicePort& port : slice.ports) {
      auto& merged = by_port[{port.name, port.protocol}];
      for (const Endpoint& endpoint : slice.endpoints) {
        if (endpoint.addresses.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("EndpointSlice ", slice.name, " has an endpoint with no address"));
        }
        MergeEntry candidate{PortEndpoint{port.port, endpoint}, &slice.name};
        auto [it, inserted] =
            merged.try_emplace(AddressPort{endpoint.addresses.front(), port.port}, candidate);
        if (inserted) continue;
        const Usability old_use = UsabilityOf(it->second.endpoint.endpoint.conditions);
        const Usability new_use = UsabilityOf(endpoint.conditions);
        if (new_use > old_use || (new_use == old_use && slice.name < *it->second.slice_name)) {
          it->second = candidate;
        }
      }
    }
  }
  std::vector<ServicePortEndpoints> result;
  for (auto& [port, merged] : by_port) {
    ServicePortEndpoints& out = result.emplace_back();
    out.service = service;
    out.port_name = port.first;
    out.protocol = port.second;
    out.endpoints = JoinFamilies(merged, primary_ipv6);
  }
  return result;
}

void Snapshot::Canonicalize() {
  std::sort(services.begin(), services.end(),
            [](const Service& a, const Service& b) { return a.key < b.key; });
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  for (ServicePortEndpoints& port : endpoints) {
    std::sort(port.endpoints.begin(), port.endpoints.end(),
              [](const PortEndpoint& a, const PortEndpoint& b) {
                const std::string& a_address =
                    a.endpoint.addresses.empty() ? std::string() : a.endpoint.addresses.front();
                const std::string& b_address =
                    b.endpoint.addresses.empty() ? std::string() : b.endpoint.addresses.front();
                return std::tie(a_address, a.port) < std::tie(b_address, b.port);
              });
  }
  std::sort(endpoints.begin(), endpoints.end(),
            [](const ServicePortEndpoints& a, const ServicePortEndpoints& b) {
              return PortKey(a) < PortKey(b);
            });
}

const Service* Snapshot::FindService(const ServiceKey& key) const {
  auto it = std::lower_bound(services.begin(), services.end(), key,
                             [](const Service& s, const ServiceKey& k) { return s.key < k; });
  return it != services.end() && it->key == key ? &*it : nullptr;
}

const Node* Snapshot::FindNode(std::string_view name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const Node& n, std::string_view k) { return n.name < k; });
  return it != nodes.end() && it->name == name ? &*it : nullptr;
}

const ServicePortEndpoints* Snapshot::FindEndpoints(const ServiceKey& key,
                                                    std::string_view port_name) const {
  for (const ServicePortEndpoints& port : endpoints) {
    if (port.service == key && port.port_name == port_name) return &port;
  }
  return nullptr;
}

}  // namespace skewless::controlplane
