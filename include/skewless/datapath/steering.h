// Loads, pins, attaches and adopts the steering data path (bpf/steer.bpf.c) on one cgroup.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/datapath/feature_probe.h"
#include "skewless/datapath/map_layout.h"
#include "skewless/datapath/steering_maps.h"

struct steer_bpf;
struct bpf_link;

namespace skewless::datapath {

inline constexpr char kDefaultPinDir[] = "/sys/fs/bpf/skewless";

struct SteeringOptions {
  // cgroup v2 directory whose processes (and descendants) are steered.
  // Empty = the root of the cgroup2 hierarchy (FindCgroup2Mount()): the
  // whole node, which is what production wants and tests must never use.
  std::string cgroup_path;
  // Maps are pinned at <pin_dir>/<map name>, links at <pin_dir>/links/<program name>.
  // Must be on bpffs; created if missing.
  std::string pin_dir = kDefaultPinDir;
  // Optional features (feature_probe.h names) to run without even if the kernel has them,
  // as on an older kernel: how the degraded data path is tested on a new one.
  std::vector<std::string> treat_as_missing;
};

// One program of the data path as it is attached now.
struct AttachedProgram {
  std::string name;  // e.g. "skw_connect4"
  std::uint32_t program_id = 0;
  std::uint32_t link_id = 0;
};

// Owns the steering programs of one agent process.
//
// The data path must outlive the agent: programs are attached through bpf
// links pinned in the pin dir, and the maps are pinned too. So:
//  * Destroying a Steering (agent exit, crash) does NOT detach anything; the
//    pinned links keep steering with the maps as they were last written.
//  * Start() on a pin dir that holds pinned links and maps ADOPTS them: it
//    reuses the pinned maps (services, backends, socket storage and load
//    counts survive), loads the new programs and swaps each into its pinned
//    link in place (BPF_LINK_UPDATE), so no connect ever runs without a
//    program. adopted() says which happened.
//  * Only Uninstall() detaches the programs and removes the pins.
class Steering {
 public:
  // Probes kernel features, checks every map against abi.h, then installs
  // or adopts. On a fresh install that fails midway, whatever was pinned is
  // removed again; a failed adopt leaves the running data path untouched.
  static absl::StatusOr<std::unique_ptr<Steering>> Start(SteeringOptions options);

  // Removes the pins and detaches every program of a data path pinned at
  // `pin_dir` without loading anything (for `skewless-agent uninstall` and
  // crash cleanup). Only names this data path uses are touched. Ok if nothing
  // is pinned there.
  static absl::Status UninstallPinned(const std::string& pin_dir);

  Steering(const Steering&) = delete;
  Steering& operator=(const Steering&) = delete;
  // Leaves the data path attached and pinned (see the class comment).
  ~Steering();

  // Detaches every program from the cgroup and removes every pin (maps,
  // links, and the pin dir when empty). The object is then inert.
  absl::Status Uninstall();

  bool adopted() const { return adopted_; }
  // Optional features this kernel lacks: the parts of the data path that are off here
  // (each with what is lost), empty on a kernel that has everything.
  const std::vector<KernelFeature>& features_off() const { return features_off_; }
  const std::string& cgroup_path() const { return cgroup_path_; }
  const std::string& pin_dir() const { return pin_dir_; }

  // Where the service table writes (the kernel maps of this data path).
  SteeringMaps& maps() { return *maps_; }

  // Choices made per enum skw_reason, summed over CPUs.
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> ReasonCounts() const;
  // Connection counts of one backend id (sockops' view).
  absl::StatusOr<skw_backend_load> BackendLoad(std::uint32_t backend_id) const;
  absl::StatusOr<std::vector<AttachedProgram>> Programs() const;
  absl::StatusOr<std::vector<MapLayout>> MapLayouts() const;

  // The contract of docs/datapath.md: what Start() requires of the object.
  static const std::vector<std::string>& ProgramNames();
  static const std::vector<std::string>& MapNames();

 private:
  Steering(steer_bpf* skel, std::string cgroup_path, std::string pin_dir);

  absl::Status CheckMapsAgainstAbi() const;
  absl::Status AttachOrAdoptLinks(int cgroup_fd);

  steer_bpf* skel_;
  std::string cgroup_path_;
  std::string pin_dir_;
  bool adopted_ = false;
  bool uninstalled_ = false;
  std::vector<bpf_link*> links_;            // one per program, pinned
  std::vector<std::string> link_programs_;  // program name of each link
  std::unique_ptr<SteeringMaps> maps_;
  std::vector<KernelFeature> features_off_;
};

}  // namespace skewless::datapath
