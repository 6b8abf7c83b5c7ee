// What Steering pins where and the map reads that need only an fd: shared by the loader
// (Steering) and the read-only view of a pinned data path (PinnedSteering).
#pragma once

#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/datapath/bpf_util.h"

namespace skewless::datapath {

struct MapAbi {
  const char* name;
  std::uint32_t key_size_bytes;
  std::uint32_t value_size_bytes;
};

// docs/datapath.md's maps with the abi.h structs they hold. skw_backend_sets'
// values are inner map fds (ids when read); its inner template is checked apart.
inline constexpr MapAbi kSteeringMapAbi[] = {
    {"skw_services", sizeof(skw_service_key), sizeof(skw_service)},
    {"skw_backend_sets", sizeof(std::uint32_t), sizeof(std::uint32_t)},
    {"skw_backends", sizeof(std::uint32_t), sizeof(skw_backend)},
    {"skw_backend_loads", sizeof(std::uint32_t), sizeof(skw_backend_load)},
    {"skw_node", sizeof(std::uint32_t), sizeof(skw_node_config)},
    {"skw_splicer", sizeof(std::uint32_t), sizeof(skw_splicer_lease)},
    {"skw_sock_states", sizeof(int), sizeof(skw_sock_state)},
    {"skw_udp_rev", sizeof(skw_udp_rev_key), sizeof(skw_udp_rev)},
    {"skw_origins", sizeof(skw_origin_key), sizeof(skw_origin)},
    {"skw_reasons", sizeof(std::uint32_t), sizeof(std::uint64_t)},
};

// The map pinned at `path`, checked against `abi`'s sizes. Read-only where only reading
// is meant: an inspector must never be able to change what the data path steers by.
absl::StatusOr<ScopedFd> OpenPinnedMap(const std::string& path, const MapAbi& abi, bool read_only);
// kSteeringMapAbi's entry for `name` (which must be one).
const MapAbi& SteeringMapAbi(const std::string& name);

// <pin_dir>/<map name> and <pin_dir>/links/<program name>.
std::string MapPinPath(const std::string& pin_dir, const std::string& map);
std::string LinkPinPath(const std::string& pin_dir, const std::string& program);

// skw_reasons (a per-CPU array) summed over CPUs, by enum skw_reason.
absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> ReadReasonCounts(int reasons_fd);
// skw_backend_loads[backend_id].
absl::StatusOr<skw_backend_load> ReadBackendLoad(int loads_fd, std::uint32_t backend_id);
// The kernel's info of a link; `what` names it in the error.
absl::StatusOr<bpf_link_info> ReadLinkInfo(int link_fd, const std::string& what);

}  // namespace skewless::datapath
