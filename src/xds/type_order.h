// Resource types in make-before-break order, and which are state-of-the-world "full".
#pragma once

#include <array>
#include <string_view>

#include "skewless/xds/resources.h"

namespace skewless::xds::internal {

// An agent's own node first (its zone decides how it reads every endpoint), then
// clusters before their endpoints, both before the listeners and routes that point at
// them (xDS protocol "eventual consistency considerations"). An agent's cluster-wide load
// names endpoints, so it follows them.
inline constexpr std::array<std::string_view, 6> kTypeOrder = {
    kNodeInfoTypeUrl,    kClusterTypeUrl,  kClusterLoadAssignmentTypeUrl,
    kClusterLoadTypeUrl, kListenerTypeUrl, kRouteConfigurationTypeUrl};

// LDS and CDS responses carry every subscribed resource (absence = deletion); RDS and
// EDS responses may carry just what changed.
inline bool IsFullStateType(std::string_view type_url) {
  return type_url == kListenerTypeUrl || type_url == kClusterTypeUrl;
}

inline bool IsKnownType(std::string_view type_url) {
  for (std::string_view known : kTypeOrder) {
    if (known == type_url) return true;
  }
  return false;
}

}  // namespace skewless::xds::internal
