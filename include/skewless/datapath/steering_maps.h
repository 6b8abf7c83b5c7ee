// The writes the service table makes to the steering maps, as an interface:
// the kernel's pinned maps in production (Steering::maps()), memory in unit tests.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/abi.h"

namespace skewless::datapath {

// Everything the agent writes, as the maps hold it now (read when adopting
// pinned maps after a restart).
struct SteeringMapsSnapshot {
  std::vector<std::pair<skw_service_key, skw_service>> services;
  std::map<std::uint32_t, std::vector<skw_slot>> sets;  // service id → slots, header first
  std::map<std::uint32_t, skw_backend> backends;        // backend id → backend
  skw_node_config node{};
};

class SteeringMaps {
 public:
  virtual ~SteeringMaps() = default;

  virtual absl::Status WriteBackend(std::uint32_t backend_id, const skw_backend& backend) = 0;
  virtual absl::Status DeleteBackend(std::uint32_t backend_id) = 0;
  // Builds a new inner array holding `slots` (slot 0 = header) and replaces
  // the service's entry in skw_backend_sets with it in one update: a
  // concurrent connect sees the old set or the new one, never a mix.
  virtual absl::Status SwapBackendSet(std::uint32_t service_id,
                                      const std::vector<skw_slot>& slots) = 0;
  virtual absl::Status DeleteBackendSet(std::uint32_t service_id) = 0;
  virtual absl::Status WriteService(const skw_service_key& key, const skw_service& service) = 0;
  virtual absl::Status DeleteService(const skw_service_key& key) = 0;
  virtual absl::Status WriteNode(const skw_node_config& node) = 0;

  virtual absl::StatusOr<SteeringMapsSnapshot> Read() const = 0;
};

}  // namespace skewless::datapath
