// Opens the pins Steering leaves behind (maps read-only, links by path) for inspection.
#include "skewless/datapath/pinned_steering.h"

#include <bpf/bpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernel_steering_maps.h"
#include "skewless/datapath/bpf_util.h"
#include "skewless/datapath/map_layout.h"
#include "skewless/datapath/steering.h"
#include "steering_pins.h"

namespace skewless::datapath {

struct PinnedSteering::Fds {
  std::map<std::string, ScopedFd> by_map;
  int Of(const std::string& map) const { return by_map.at(map).get(); }
};

namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PinnedSteering>> PinnedSteering::Open(const std::string& pin_dir) {
  std::vector<std::string> missing;
  for (const MapAbi& abi : kSteeringMapAbi) {
    const std::string path = MapPinPath(pin_dir, abi.name);
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) continue;
    // bpffs is root-only by default: EACCES must not read as "nothing installed".
    if (errno != ENOENT && errno != ENOTDIR) {
      return absl::ErrnoToStatus(errno, absl::StrCat("looking for pinned map ", path));
    }
    missing.emplace_back(abi.name);
  }
  if (missing.size() == std::size(kSteeringMapAbi)) {
    return absl::NotFoundError(absl::StrCat("no steering map is pinned in ", pin_dir,
                                            " (looked for ",
                                            absl::StrJoin(Steering::MapNames(), ", "), ")"));
  }
  if (!missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(pin_dir, " holds only part of a data path: ", absl::StrJoin(missing, ", "),
                     " not pinned (an install or uninstall was interrupted?)"));
  }
  auto fds = std::make_unique<Fds>();
  for (const MapAbi& abi : kSteeringMapAbi) {
    absl::StatusOr<ScopedFd> fd =
        OpenPinnedMap(MapPinPath(pin_dir, abi.name), abi, /*read_only=*/true);
    if (!fd.ok()) return fd.status();
    fds->by_map.emplace(abi.name, *std::move(fd));
  }
  return std::unique_ptr<PinnedSteering>(new PinnedSteering(pin_dir, std::move(fds)));
}

PinnedSteering::PinnedSteering(std::string pin_dir, std::unique_ptr<Fds> fds)
    : pin_dir_(std::move(pin_dir)), fds_(std::move(fds)) {
  maps_ = std::make_unique<KernelSteeringMaps>(
      SteeringMapFds{.services = fds_->Of("skw_services"),
                     .backend_sets = fds_->Of("skw_backend_sets"),
                     .backends = fds_->Of("skw_backends"),
                     .node = fds_->Of("skw_node")});
}

PinnedSteering::~PinnedSteering() = default;

absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> PinnedSteering::ReasonCounts() const {
  return ReadReasonCounts(fds_->Of("skw_reasons"));
}

absl::StatusOr<skw_backend_load> PinnedSteering::BackendLoad(std::uint32_t backend_id) const {
  return ReadBackendLoad(fds_->Of("skw_backend_loads"), backend_id);
}

std::vector<PinnedLink> PinnedSteering::Links(const std::string& pin_dir) {
  std::vector<PinnedLink> links;
  for (const std::string& program : Steering::ProgramNames()) {
    PinnedLink& link = links.emplace_back();
    link.program = program;
    link.pin_path = LinkPinPath(pin_dir, program);
    link.pinned = Exists(link.pin_path);
    if (!link.pinned) continue;
    // Links open read-write only (the kernel refuses other flags); nothing is written.
    ScopedFd fd(bpf_obj_get(link.pin_path.c_str()));
    if (fd.get() < 0) {
      link.error = absl::ErrnoToStatus(errno, "opening pinned link " + link.pin_path).ToString();
      continue;
    }
    absl::StatusOr<bpf_link_info> info = ReadLinkInfo(fd.get(), "pinned link " + link.pin_path);
    if (!info.ok()) {
      link.error = info.status().ToString();
      continue;
    }
    link.link_id = info->id;
    link.program_id = info->prog_id;
    if (info->type == BPF_LINK_TYPE_CGROUP) {
      link.cgroup_id = info->cgroup.cgroup_id;
      link.attach_type = info->cgroup.attach_type;
    }
  }
  return links;
}

}  // namespace skewless::datapath
