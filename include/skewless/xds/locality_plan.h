// Zone-aware answers for proxyless gRPC clients: which localities of a Service port a
// client in one zone should use, at which priority and with what share of its traffic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace skewless::xds {

// What one locality (zone) gets in a client's ClusterLoadAssignment.
struct LocalityShare {
  std::uint32_t priority = 0;
  // The locality's load_balancing_weight: gRPC splits a priority's traffic between its
  // localities in proportion to these (weighted_target), then round-robins inside.
  std::uint32_t weight = 0;
};

// Inputs, all per zone.
struct LocalityPlanInput {
  std::string client_zone;  // empty = unknown: no preference
  // Summed endpoint weight of the ready endpoints in each zone (the capacity there).
  std::map<std::string, std::uint64_t> ready_weight;
  // How the clients are spread over zones (any non-negative numbers, e.g. node counts);
  // empty = unknown.
  std::map<std::string, double> client_share;
};

// Envoy's zone-aware routing, computed once by the control plane instead of by every
// client (XDS-FACTS "Zone spill-over"). With local% the client zone's share of clients
// and upstream% its share of ready capacity:
//  - no usable preference (client zone unknown or without ready capacity, fewer than two
//    zones with capacity): every zone at priority 0, weighted by its capacity;
//  - upstream% >= local%, or the client spread unknown: the client zone alone at priority
//    0, the others at priority 1 (gRPC fails over when the local zone is unreachable);
//  - upstream% < local%: the local zone keeps upstream%/local% of the client's traffic and
//    the rest spills, at priority 0, to zones with spare capacity (upstream% - local% > 0)
//    in proportion to that surplus; zones without surplus wait at priority 1.
// Weights are scaled so the priority-0 weights sum to about kLocalityWeightScale.
std::map<std::string, LocalityShare> PlanLocalities(const LocalityPlanInput& input);

inline constexpr std::uint32_t kLocalityWeightScale = 1'000'000;

}  // namespace skewless::xds
