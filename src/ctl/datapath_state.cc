// Reads a pinned data path through PinnedSteering, and says where it looked when there is none.
#include "skewless/ctl/datapath_state.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/datapath/pinned_steering.h"
#include "skewless/datapath/service_table.h"
#include "skewless/datapath/steering.h"

namespace skewless::ctl {
namespace {

std::string Parent(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

PinDirProbe ProbePinDir(const std::string& pin_dir) {
  PinDirProbe probe{.pin_dir = pin_dir};
  struct stat st {};
  probe.exists = stat(pin_dir.c_str(), &st) == 0;
  probe.fs_path = probe.exists ? pin_dir : Parent(pin_dir);
  struct statfs fs {};
  probe.fs_is_bpffs = statfs(probe.fs_path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
  return probe;
}

std::string NoDatapathMessage(const PinDirProbe& probe) {
  std::string found;
  std::string fix;
  const std::string start_agent =
      "start skewless-agent on this node (it loads the data path and pins its maps there); "
      "if the agent runs with --pin-dir, pass the same --pin-dir here";
  if (probe.exists && !probe.fs_is_bpffs) {
    found = absl::StrCat(probe.pin_dir,
                         " exists but is not on a BPF filesystem, so nothing can be pinned there");
    fix = absl::StrCat("pass the --pin-dir the agent uses (a directory on bpffs, by default ",
                       datapath::kDefaultPinDir, ")");
  } else if (!probe.fs_is_bpffs) {
    found = absl::StrCat(probe.fs_path, " is not a BPF filesystem: bpffs is not mounted there");
    fix = absl::StrCat("mount bpffs (mount -t bpf bpf ", probe.fs_path, "), then ", start_agent);
  } else if (!probe.exists) {
    found = absl::StrCat("bpffs is mounted, but ", probe.pin_dir, " does not exist");
    fix = start_agent;
  } else {
    found = absl::StrCat(probe.pin_dir, " exists on bpffs but holds none of the data path's maps (",
                         absl::StrJoin(datapath::Steering::MapNames(), ", "), ")");
    fix = start_agent;
  }
  return absl::StrCat("no skewless data path found\n  looked in: ", probe.pin_dir,
                      " (the pin dir; --pin-dir changes it)\n  found:     ", found,
                      "\n  to fix:    ", fix);
}

absl::StatusOr<DatapathState> ReadDatapathState(const std::string& pin_dir) {
  absl::StatusOr<std::unique_ptr<datapath::PinnedSteering>> pinned =
      datapath::PinnedSteering::Open(pin_dir);
  if (absl::IsNotFound(pinned.status())) {
    return absl::NotFoundError(NoDatapathMessage(ProbePinDir(pin_dir)));
  }
  if (!pinned.ok()) return pinned.status();
  DatapathState state{.pin_dir = pin_dir};
  absl::StatusOr<datapath::SteeringMapsSnapshot> maps = (*pinned)->maps().Read();
  if (!maps.ok()) return maps.status();
  state.maps = *std::move(maps);
  for (const auto& [id, backend] : state.maps.backends) {
    absl::StatusOr<skw_backend_load> load = (*pinned)->BackendLoad(id);
    if (!load.ok()) return load.status();
    state.loads[id] = *load;
  }
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> reasons = (*pinned)->ReasonCounts();
  if (!reasons.ok()) return reasons.status();
  state.reasons = *reasons;
  state.now_ns = datapath::MonotonicNowNs();
  return state;
}

}  // namespace skewless::ctl
