// Endpoint conditions and topology → the tiered slot order of one backend set.
#include "skewless/datapath/backend_set.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "skewless/common/net.h"

namespace skewless::datapath {
namespace {

// Kubernetes' own order of usefulness (kube-proxy's pkg/proxy/topology.go): ready
// endpoints take new traffic whatever else is set, serving-terminating ones only when
// nothing is ready, the rest none.
enum class Usability { kUnusable = 0, kServingTerminating = 1, kReady = 2 };

Usability UsabilityOf(const Endpoint& endpoint) {
  if (endpoint.ready) return Usability::kReady;
  if (endpoint.serving && endpoint.terminating) return Usability::kServingTerminating;
  return Usability::kUnusable;
}

struct Candidate {
  const Endpoint* endpoint;
  BackendAddress backend;
  Usability usability;
};

std::string Describe(const Endpoint& endpoint, std::size_t index) {
  return absl::StrCat("endpoint #", index, " (address \"", endpoint.address, "\", port ",
                      endpoint.port, ")");
}

SetMember MemberOf(const Candidate& candidate, skw_backend_state state) {
  return SetMember{.backend = candidate.backend,
                   .zone = candidate.endpoint->zone,
                   .weight = candidate.endpoint->weight,
                   .state = state};
}

// kube-proxy's rule: zone preference only when the node has a zone, every
// ready endpoint has one, and at least one ready endpoint is in ours;
// otherwise every ready endpoint is equally preferred (here: no preferred tier).
std::vector<bool> PreferredByTopology(const std::vector<const Candidate*>& ready,
                                      TrafficDistribution traffic_distribution,
                                      const NodeLocality& node) {
  std::vector<bool> preferred(ready.size(), false);
  if (traffic_distribution == TrafficDistribution::kNone) return preferred;
  if (traffic_distribution == TrafficDistribution::kPreferSameNode && !node.node_name.empty()) {
    bool any = false;
    for (std::size_t i = 0; i < ready.size(); ++i) {
      preferred[i] = ready[i]->endpoint->node_name == node.node_name;
      any = any || preferred[i];
    }
    if (any) return preferred;
  }
  std::fill(preferred.begin(), preferred.end(), false);
  if (node.zone.empty()) return preferred;
  const bool every_ready_has_zone = std::all_of(
      ready.begin(), ready.end(), [](const Candidate* c) { return !c->endpoint->zone.empty(); });
  if (!every_ready_has_zone) return preferred;
  bool any = false;
  for (std::size_t i = 0; i < ready.size(); ++i) {
    preferred[i] = ready[i]->endpoint->zone == node.zone;
    any = any || preferred[i];
  }
  if (!any) std::fill(preferred.begin(), preferred.end(), false);
  return preferred;
}

}  // namespace

absl::StatusOr<BackendSet> BuildBackendSet(const std::vector<Endpoint>& endpoints,
                                           TrafficDistribution traffic_distribution,
                                           const NodeLocality& node) {
  // Deduplicated by address:port, keeping the most usable listing.
  std::map<BackendAddress, Candidate> by_address;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    const Endpoint& endpoint = endpoints[i];
    absl::StatusOr<skw_addr> addr = net::ParseSkwAddr(endpoint.address);
    if (!addr.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Describe(endpoint, i), ": ", addr.status().message()));
    }
    if (endpoint.port == 0) {
      return absl::InvalidArgumentError(absl::StrCat(Describe(endpoint, i), ": port 0"));
    }
    Candidate candidate{.endpoint = &endpoint,
                        .backend = {.addr = *addr, .port = endpoint.port},
                        .usability = UsabilityOf(endpoint)};
    auto [it, inserted] = by_address.try_emplace(candidate.backend, candidate);
    if (!inserted && candidate.usability > it->second.usability) it->second = candidate;
  }

  std::vector<const Candidate*> ready;
  std::vector<const Candidate*> serving;
  for (const auto& [address, candidate] : by_address) {
    if (candidate.usability == Usability::kReady) ready.push_back(&candidate);
    if (candidate.usability == Usability::kServingTerminating) serving.push_back(&candidate);
  }
  if (ready.size() + serving.size() > kMaxBackendsPerSet) {
    return absl::InvalidArgumentError(absl::StrCat(
        ready.size() + serving.size(), " usable endpoints (", ready.size(), " ready, ",
        serving.size(), " serving-terminating): a set holds at most ", kMaxBackendsPerSet));
  }

  BackendSet set;
  const std::vector<bool> preferred = PreferredByTopology(ready, traffic_distribution, node);
  for (bool want_preferred : {true, false}) {
    for (std::size_t i = 0; i < ready.size(); ++i) {
      if (preferred[i] == want_preferred)
        set.members.push_back(MemberOf(*ready[i], SKW_BACKEND_READY));
    }
  }
  for (const Candidate* candidate : serving) {
    set.members.push_back(MemberOf(*candidate, SKW_BACKEND_SERVING));
  }
  set.n_preferred =
      static_cast<std::uint16_t>(std::count(preferred.begin(), preferred.end(), true));
  set.n_ready = static_cast<std::uint16_t>(ready.size());
  set.n_serving = static_cast<std::uint16_t>(serving.size());
  return set;
}

}  // namespace skewless::datapath
