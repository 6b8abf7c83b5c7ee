// Envoy-style zone spill-over as static locality priorities and weights.
#include "skewless/xds/locality_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace skewless::xds {
namespace {

// Capacity-proportional weights, clamped so a priority's sum stays within uint32.
std::uint32_t CapacityWeight(std::uint64_t ready_weight) {
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(
      std::max<std::uint64_t>(ready_weight, 1), std::numeric_limits<std::uint32_t>::max() / 64));
}

std::uint32_t ScaledWeight(double fraction) {
  // A zone that spills at all gets at least weight 1: gRPC skips weight 0 localities.
  return static_cast<std::uint32_t>(
      std::max(1.0, std::round(fraction * static_cast<double>(kLocalityWeightScale))));
}

}  // namespace

std::map<std::string, LocalityShare> PlanLocalities(const LocalityPlanInput& input) {
  std::map<std::string, LocalityShare> plan;
  std::uint64_t total_ready = 0;
  int zones_with_capacity = 0;
  for (const auto& [zone, weight] : input.ready_weight) {
    plan[zone] = {.priority = 0, .weight = CapacityWeight(weight)};
    total_ready += weight;
    if (weight > 0) ++zones_with_capacity;
  }
  auto local = input.ready_weight.find(input.client_zone);
  if (input.client_zone.empty() || local == input.ready_weight.end() || local->second == 0 ||
      zones_with_capacity < 2) {
    return plan;  // flat: nothing to prefer
  }

  double total_clients = 0;
  for (const auto& [zone, share] : input.client_share) total_clients += std::max(0.0, share);
  auto client_local = input.client_share.find(input.client_zone);
  const double local_clients = client_local == input.client_share.end() || total_clients <= 0
                                   ? 0
                                   : std::max(0.0, client_local->second) / total_clients;
  const double local_upstream =
      static_cast<double>(local->second) / static_cast<double>(total_ready);

  auto upstream_of = [&](const std::string& zone) {
    auto it = input.ready_weight.find(zone);
    return it == input.ready_weight.end()
               ? 0.0
               : static_cast<double>(it->second) / static_cast<double>(total_ready);
  };
  auto clients_of = [&](const std::string& zone) {
    auto it = input.client_share.find(zone);
    return it == input.client_share.end() || total_clients <= 0
               ? 0.0
               : std::max(0.0, it->second) / total_clients;
  };

  if (local_clients <= 0 || local_upstream >= local_clients) {
    for (auto& [zone, share] : plan) share.priority = zone == input.client_zone ? 0 : 1;
    return plan;
  }

  // The local zone is short of capacity for its clients: keep what it can carry.
  const double keep = local_upstream / local_clients;
  double total_surplus = 0;
  for (const auto& [zone, share] : plan) {
    if (zone != input.client_zone)
      total_surplus += std::max(0.0, upstream_of(zone) - clients_of(zone));
  }
  for (auto& [zone, share] : plan) {
    if (zone == input.client_zone) {
      share = {.priority = 0, .weight = ScaledWeight(keep)};
      continue;
    }
    const double surplus = std::max(0.0, upstream_of(zone) - clients_of(zone));
    if (surplus <= 0 || total_surplus <= 0 || input.ready_weight.at(zone) == 0) {
      share.priority = 1;  // no spare capacity: failover only
      continue;
    }
    share = {.priority = 0, .weight = ScaledWeight((1 - keep) * surplus / total_surplus)};
  }
  return plan;
}

}  // namespace skewless::xds
