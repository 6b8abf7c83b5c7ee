// SteeringMaps over the kernel's steering maps, by file descriptor.
#pragma once

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
  absl::Status SwapBackendSet(std::uint32_t service_id,
                              const std::vector<skw_slot>& slots) override;
  absl::Status DeleteBackendSet(std::uint32_t service_id) override;
  absl::Status WriteService(const skw_service_key& key, const skw_service& service) override;
  absl::Status DeleteService(const skw_service_key& key) override;
  absl::Status WriteNode(const skw_node_config& node) override;
  absl::StatusOr<SteeringMapsSnapshot> Read() const override;

 private:
  SteeringMapFds fds_;
};

}  // namespace skewless::datapath
