// Builds a service's backend set (the slot order of docs/datapath.md) from its endpoints,
// following kube-proxy's topology and terminating-endpoint rules.
#pragma once

#include <compare>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/abi.h"

namespace skewless::datapath {

// Most backends one set may hold: the inner array has one header slot more.
inline constexpr std::size_t kMaxBackendsPerSet = SKW_MAX_SET_SLOTS - 1;

// spec.trafficDistribution of a Kubernetes Service.
enum class TrafficDistribution {
  kNone,
  kPreferClose,  // the older alias of kPreferSameZone
  kPreferSameZone,
  kPreferSameNode,
};

// One endpoint as an EndpointSlice lists it.
struct Endpoint {
  std::string address;     // "10.0.0.7" or "fd00::7"
  std::uint16_t port = 0;  // host byte order
  std::string zone;        // EndpointSlice `zone`; empty = unknown
  std::string node_name;   // EndpointSlice `nodeName`; empty = unknown
  std::uint16_t weight = SKW_DEFAULT_WEIGHT;
  // EndpointSlice conditions. Kubernetes sets ready = publishNotReadyAddresses ||
  // (serving && !terminating); as in kube-proxy, ready alone decides first.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

// Where the node running the data path is.
struct NodeLocality {
  std::string zone;  // topology.kubernetes.io/zone; empty = unknown
  std::string node_name;
};

// An endpoint's identity in the data path: one backend per address:port.
struct BackendAddress {
  skw_addr addr{};         // v4-mapped for IPv4, network byte order
  std::uint16_t port = 0;  // host byte order

  friend bool operator==(const BackendAddress&, const BackendAddress&) = default;
  friend auto operator<=>(const BackendAddress& a, const BackendAddress& b) {
    const int bytes = std::memcmp(&a.addr, &b.addr, sizeof(a.addr));
    if (bytes != 0) return bytes < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
    return a.port <=> b.port;
  }
};

// One member of a set: a slot (>= 1) once the service table gives it an id.
struct SetMember {
  BackendAddress backend;
  std::string zone;
  std::uint16_t weight = SKW_DEFAULT_WEIGHT;
  skw_backend_state state = SKW_BACKEND_READY;  // READY or SERVING

  friend bool operator==(const SetMember&, const SetMember&) = default;
};

// Members in slot order: preferred-ready | other-ready | serving-terminating,
// each tier sorted by address so the same endpoints always give the same set
// (and an unchanged set is never rewritten). Endpoints that are neither ready
// nor serving are left out.
struct BackendSet {
  std::vector<SetMember> members;
  std::uint16_t n_preferred = 0;
  std::uint16_t n_ready = 0;
  std::uint16_t n_serving = 0;
};

// Errors name the offending endpoint (unparsable address, port 0) or the
// count when more than kMaxBackendsPerSet endpoints are usable. The same
// address:port listed twice (EndpointSlices overlap during updates) counts
// once, with its best condition.
absl::StatusOr<BackendSet> BuildBackendSet(const std::vector<Endpoint>& endpoints,
                                           TrafficDistribution traffic_distribution,
                                           const NodeLocality& node);

}  // namespace skewless::datapath
