// Loads, attaches and reads the cgroup/connect4 observer (bpf/connect_observer.bpf.c).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/datapath/map_layout.h"

struct connect_observer_bpf;

namespace skewless::datapath {

// How many connect() attempts processes in the cgroup made to one destination.
struct ConnectCount {
  std::string daddr;        // dotted quad, e.g. "10.96.0.10"
  std::uint16_t dport = 0;  // host byte order
  std::uint64_t connects = 0;
};

// Owns one loaded observer program attached to one cgroup. Destroying it
// detaches the program and frees its map; nothing is pinned, so a crash of the
// owning process detaches it too.
class ConnectObserver {
 public:
  // Loads the program, checks its maps against abi.h and attaches it to the
  // cgroup v2 directory `cgroup_path`. Every process in that cgroup (and its
  // descendants) is observed from then on.
  static absl::StatusOr<std::unique_ptr<ConnectObserver>> Attach(const std::string& cgroup_path);

  ConnectObserver(const ConnectObserver&) = delete;
  ConnectObserver& operator=(const ConnectObserver&) = delete;
  ~ConnectObserver();

  // Snapshot of the per-destination counts; entries may still be changing.
  absl::StatusOr<std::vector<ConnectCount>> Counts() const;

  // Key/value sizes of every map as the kernel holds them, for inspection
  // and tests; Attach already refused any that differ from abi.h.
  absl::StatusOr<std::vector<MapLayout>> MapLayouts() const;

  // Kernel id of the attached program (what `bpftool prog show id` takes).
  absl::StatusOr<std::uint32_t> ProgramId() const;

  const std::string& cgroup_path() const { return cgroup_path_; }

 private:
  ConnectObserver(connect_observer_bpf* skel, std::string cgroup_path)
      : skel_(skel), cgroup_path_(std::move(cgroup_path)) {}

  connect_observer_bpf* skel_;
  std::string cgroup_path_;
};

}  // namespace skewless::datapath
