// A data path pinned by Steering, opened read-only without loading or attaching anything:
// what skewlessctl reads (services, sets, backends, node, loads, reasons, links).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/datapath/steering_maps.h"

namespace skewless::datapath {

// One program's pinned link (<pin_dir>/links/<program>) as the kernel reports it.
struct PinnedLink {
  std::string program;  // e.g. "skw_connect4"
  std::string pin_path;
  bool pinned = false;  // a pin exists at pin_path
  std::uint32_t link_id = 0;
  std::uint32_t program_id = 0;
  // The attach cgroup's inode number; 0 once detached (a pin can outlive its attachment,
  // e.g. after the cgroup was removed).
  std::uint64_t cgroup_id = 0;
  std::uint32_t attach_type = 0;  // enum bpf_attach_type
  std::string error;              // why a pinned link could not be read ("" = read)
};

class PinnedSteering {
 public:
  // NotFound (naming the pin dir) when none of Steering::MapNames() is pinned there;
  // FailedPrecondition naming the maps when only some are, or when one's layout differs
  // from abi.h (a data path of another build); the kernel's error otherwise (EPERM
  // without CAP_BPF/CAP_SYS_ADMIN).
  static absl::StatusOr<std::unique_ptr<PinnedSteering>> Open(const std::string& pin_dir);

  PinnedSteering(const PinnedSteering&) = delete;
  PinnedSteering& operator=(const PinnedSteering&) = delete;
  ~PinnedSteering();

  const std::string& pin_dir() const { return pin_dir_; }
  // For Read(); the maps are opened read-only, so every write fails with EPERM.
  const SteeringMaps& maps() const { return *maps_; }
  // Choices made per enum skw_reason, summed over CPUs.
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> ReasonCounts() const;
  // Connection counts of one backend id (sockops' view).
  absl::StatusOr<skw_backend_load> BackendLoad(std::uint32_t backend_id) const;
  // The links pinned in `pin_dir` (readable even when the maps are not): one entry per
  // Steering::ProgramNames(), in that order; absent pins have pinned == false.
  static std::vector<PinnedLink> Links(const std::string& pin_dir);

 private:
  struct Fds;
  PinnedSteering(std::string pin_dir, std::unique_ptr<Fds> fds);

  std::string pin_dir_;
  std::unique_ptr<Fds> fds_;
  std::unique_ptr<SteeringMaps> maps_;
};

}  // namespace skewless::datapath
