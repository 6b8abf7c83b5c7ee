// SteeringMaps over the kernel's steering maps, by file descriptor.
#pragma once

#include <cstddef>
#include <string>

#include "skewless/datapath/steering_maps.h"

namespace skewless::datapath {

// The fds stay owned by whoever loaded the maps (Steering); this only uses them.
struct SteeringMapFds {
  int services = -1;
  int backend_sets = -1;
  int backends = -1;
  int node = -1;
};

class KernelSteeringMaps : public SteeringMaps {
 public:
  explicit KernelSteeringMaps(SteeringMapFds fds) : fds_(fds) {}

  absl::Status WriteBackend(std::uint32_t backend_id, const skw_backend& backend) override;
  absl::Status DeleteBackend(std::uint32_t backend_id) override;
  absl::Status SwapBackendSets(const BackendSetSwaps& swaps) override;
  absl::Status DeleteBackendSets(const std::vector<std::uint32_t>& service_ids) override;
  absl::Status WriteService(const skw_service_key& key, const skw_service& service) override;
  absl::Status DeleteService(const skw_service_key& key) override;
  absl::Status WriteNode(const skw_node_config& node) override;
  absl::StatusOr<SteeringMapsSnapshot> Read() const override;

  // Empty while skw_backend_sets takes batch updates; else why this kernel
  // refused them (the swaps then go one update, and one RCU wait, each).
  const std::string& batch_fallback_reason() const { return batch_fallback_reason_; }

 private:
  absl::Status SwapChunk(const BackendSetSwaps& swaps, std::size_t begin, std::size_t end);

  SteeringMapFds fds_;
  std::string batch_fallback_reason_;
};

}  // namespace skewless::datapath
