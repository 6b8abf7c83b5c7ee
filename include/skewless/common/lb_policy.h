// The names of abi.h's skw_lb_policy values, as one Service's `skewless.io/load-balancing`
// annotation, the control plane's Cluster metadata, skewlessctl and the lab spell them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "skewless/abi.h"

namespace skewless {

inline constexpr std::string_view kLbPolicyNames[SKW_LB_POLICY_COUNT] = {
    "least-request",  // SKW_LB_LEAST_REQUEST
    "random",         // SKW_LB_RANDOM
    "least-loaded",   // SKW_LB_LEAST_LOADED
};

inline std::optional<std::uint8_t> ParseLbPolicy(std::string_view name) {
  for (std::uint8_t policy = 0; policy < SKW_LB_POLICY_COUNT; ++policy) {
    if (kLbPolicyNames[policy] == name) return policy;
  }
  return std::nullopt;
}

// Unknown values (a newer writer's) read as the default, as the data path treats them.
inline std::string_view LbPolicyName(std::uint8_t policy) {
  return kLbPolicyNames[policy < SKW_LB_POLICY_COUNT ? policy : std::uint8_t{SKW_LB_LEAST_REQUEST}];
}

// "least-request, random, least-loaded": the known names, for error messages and --help.
inline std::string LbPolicyNameList(std::string_view separator = ", ") {
  std::string list;
  for (std::string_view name : kLbPolicyNames) {
    if (!list.empty()) list.append(separator);
    list.append(name);
  }
  return list;
}

}  // namespace skewless
