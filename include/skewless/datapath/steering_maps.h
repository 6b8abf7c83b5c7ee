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

// (service id, slots with the header first) per backend set to swap in.
using BackendSetSwaps = std::vector<std::pair<std::uint32_t, std::vector<skw_slot>>>;

class SteeringMaps {
 public:
  virtual ~SteeringMaps() = default;

  virtual absl::Status WriteBackend(std::uint32_t backend_id, const skw_backend& backend) = 0;
  virtual absl::Status DeleteBackend(std::uint32_t backend_id) = 0;
  // For every (service id, slots) pair: builds a new inner array holding the
  // slots (slot 0 = header) and replaces the service's entry in
  // skw_backend_sets with it, so a concurrent connect sees the old set or the
  // new one, never a mix. All of them at once because the kernel waits for an
  // RCU grace period (~10 ms) after each syscall write of a map-in-map: one
  // wait per call, not per set. Service ids must be distinct.
  virtual absl::Status SwapBackendSets(const BackendSetSwaps& swaps) = 0;
  // Deletes the sets of these services, with one wait for the lot. NotFound
  // when one was already gone (the others are still deleted).
  virtual absl::Status DeleteBackendSets(const std::vector<std::uint32_t>& service_ids) = 0;
  virtual absl::Status WriteService(const skw_service_key& key, const skw_service& service) = 0;
  virtual absl::Status DeleteService(const skw_service_key& key) = 0;
  virtual absl::Status WriteNode(const skw_node_config& node) = 0;

  virtual absl::StatusOr<SteeringMapsSnapshot> Read() const = 0;
};

}  // namespace skewless::datapath
