// Load-time guard that a BPF map's key/value sizes match the abi.h structs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless::datapath {

// Sizes of one map as the kernel reports them after load.
struct MapLayout {
  std::string name;
  std::uint32_t key_size_bytes = 0;
  std::uint32_t value_size_bytes = 0;
};

// Reads name, key and value size of the loaded map behind `map_fd`.
absl::StatusOr<MapLayout> ReadMapLayout(int map_fd);

// Ok when `loaded` has exactly the sizes abi.h declares; otherwise an error
// naming the map and both sizes, because a silent mismatch corrupts every
// lookup and update across the boundary.
absl::Status CheckMapLayout(const MapLayout& loaded, std::uint32_t abi_key_size_bytes,
                            std::uint32_t abi_value_size_bytes);

}  // namespace skewless::datapath
