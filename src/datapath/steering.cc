// The steering loader: skeleton lifecycle, pinning, attach or adopt, uninstall, counters.
#include "skewless/datapath/steering.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernel_fit.h"
#include "kernel_steering_maps.h"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/bpf_util.h"
#include "skewless/datapath/feature_probe.h"
#include "steer.skel.h"
#include "steering_pins.h"

namespace skewless::datapath {
namespace {

// Attach order on a fresh install: the hooks that count and translate back
// go first, so the first steered socket is already counted and reported as
// its VIP; the hooks that steer go last.
const std::vector<std::string>& AttachOrder() {
  static const std::vector<std::string> order = {
      "skw_sockops",  "skw_getsockopt", "skw_getpeername4", "skw_getpeername6", "skw_recvmsg4",
      "skw_recvmsg6", "skw_sendmsg4",   "skw_sendmsg6",     "skw_connect4",     "skw_connect6",
  };
  return order;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

std::string Parent(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Pins outside bpffs are impossible; saying so (with the fix) beats libbpf's EPERM.
absl::Status PreparePinDir(const std::string& pin_dir) {
  if (pin_dir.empty() || pin_dir.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("pin dir \"", pin_dir, "\" must be an absolute path on bpffs"));
  }
  const std::string parent = Parent(pin_dir);
  struct statfs fs {};
  if (statfs(parent.c_str(), &fs) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("statfs on ", parent, " (parent of pin dir)"));
  }
  if (fs.f_type != BPF_FS_MAGIC) {
    return absl::FailedPreconditionError(
        absl::StrCat(parent, " is not a BPF filesystem, so nothing can be pinned in ", pin_dir,
                     " (mount it: mount -t bpf bpf /sys/fs/bpf)"));
  }
  for (const std::string& dir : {pin_dir, pin_dir + "/links"}) {
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("creating pin directory ", dir));
    }
  }
  return absl::OkStatus();
}

// Detaches the link pinned at `path` (even if another process holds an fd
// to it) and removes the pin.
absl::Status DetachPinnedLink(const std::string& path) {
  ScopedFd link(bpf_obj_get(path.c_str()));
  if (link.get() < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("opening pinned link ", path));
  }
  if (int err = bpf_link_detach(link.get()); err != 0 && err != -ENOLINK) {
    return absl::ErrnoToStatus(-err, absl::StrCat("detaching pinned link ", path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("removing pin ", path));
  }
  return absl::OkStatus();
}

absl::Status RemovePinDirs(const std::string& pin_dir) {
  for (const std::string& dir : {pin_dir + "/links", pin_dir}) {
    if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("removing pin directory ", dir,
                                                     " (something else is pinned there?)"));
    }
  }
  return absl::OkStatus();
}

// The template each swapped-in set must match (the kernel compares type,
// sizes and flags; BPF_F_INNER_MAP frees max_entries). libbpf frees the
// template once the outer map exists, so this runs before load.
absl::Status CheckInnerSetTemplate(bpf_map* backend_sets) {
  const bpf_map* inner = bpf_map__inner_map(backend_sets);
  if (inner == nullptr) {
    return absl::FailedPreconditionError("skw_backend_sets has no inner map template");
  }
  if (bpf_map__type(inner) != BPF_MAP_TYPE_ARRAY ||
      bpf_map__key_size(inner) != sizeof(std::uint32_t) ||
      bpf_map__value_size(inner) != sizeof(skw_slot) ||
      bpf_map__map_flags(inner) != BPF_F_INNER_MAP) {
    return absl::FailedPreconditionError(absl::StrCat(
        "skw_backend_sets' inner map template is type ", bpf_map__type(inner), ", key ",
        bpf_map__key_size(inner), " bytes, value ", bpf_map__value_size(inner), " bytes, flags 0x",
        absl::Hex(bpf_map__map_flags(inner)),
        "; the loader's set swap creates ARRAYs of u32 -> struct skw_slot (", sizeof(skw_slot),
        " bytes) with flags BPF_F_INNER_MAP only"));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& Steering::ProgramNames() { return AttachOrder(); }

const std::vector<std::string>& Steering::MapNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const MapAbi& map : kSteeringMapAbi) out.emplace_back(map.name);
    return out;
  }();
  return names;
}

Steering::Steering(steer_bpf* skel, std::string cgroup_path, std::string pin_dir)
    : skel_(skel), cgroup_path_(std::move(cgroup_path)), pin_dir_(std::move(pin_dir)) {}

Steering::~Steering() {
  // Closing a pinned link's fd leaves it attached: that is the point.
  for (bpf_link* link : links_) bpf_link__destroy(link);
  steer_bpf::destroy(skel_);
}

namespace {

// The link-update probe attaches an allow-all connect4 program for a moment.
// On the target itself (in production the root cgroup: every process on the
// node) that would be a real, if harmless, attach; an empty child cgroup made
// for the probe holds no process at all. Only where no child can be made is
// the target probed instead.
std::vector<KernelFeature> ProbeOnThrowawayCgroup(const std::string& target_path, int target_fd) {
  absl::StatusOr<OwnedCgroup> probe =
      OwnedCgroup::Create(absl::StrCat(target_path, "/skewless-probe-", getpid()));
  if (!probe.ok()) return ProbeKernelFeatures(target_fd);
  absl::StatusOr<ScopedFd> probe_fd = OpenCgroup2Dir(probe->path());
  if (!probe_fd.ok()) return ProbeKernelFeatures(target_fd);
  return ProbeKernelFeatures(probe_fd->get());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Steering>> Steering::Start(SteeringOptions options) {
  RouteLibbpfWarningsToStderr();
  if (options.cgroup_path.empty()) {
    absl::StatusOr<std::string> root = FindCgroup2Mount();
    if (!root.ok()) return root.status();
    options.cgroup_path = *root;
  }
  absl::StatusOr<ScopedFd> cgroup_fd = OpenCgroup2Dir(options.cgroup_path);
  if (!cgroup_fd.ok()) return cgroup_fd.status();
  std::vector<KernelFeature> features =
      ProbeOnThrowawayCgroup(options.cgroup_path, cgroup_fd->get());
  for (const std::string& name : options.treat_as_missing) {
    auto feature = std::find_if(features.begin(), features.end(),
                                [&](const KernelFeature& f) { return f.name == name; });
    if (feature == features.end() || feature->required) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot run without \"", name, "\": not an optional feature"));
    }
    feature->present = false;
  }
  if (absl::Status status = CheckRequiredFeatures(features); !status.ok()) return status;
  if (absl::Status status = PreparePinDir(options.pin_dir); !status.ok()) return status;

  const bool pinned_before =
      std::any_of(MapNames().begin(), MapNames().end(),
                  [&](const std::string& map) { return Exists(options.pin_dir + "/" + map); });
  steer_bpf* skel = steer_bpf::open();
  if (skel == nullptr) return absl::ErrnoToStatus(errno, "opening the steer BPF skeleton");
  std::unique_ptr<Steering> steering(new Steering(skel, options.cgroup_path, options.pin_dir));
  steering->adopted_ = pinned_before;
  FitToKernel(skel->obj, &skel->rodata->skw_have_set_retval, features);
  for (const KernelFeature& feature : features) {
    if (!feature.present) steering->features_off_.push_back(feature);
  }

  // A fresh install that fails removes what it pinned; a failed adopt must
  // not touch the data path that is running.
  auto fail = [&](absl::Status status) -> absl::Status {
    if (!pinned_before) {
      for (bpf_link* link : steering->links_) bpf_link__destroy(link);
      steering->links_.clear();
      steering->link_programs_.clear();
      UninstallPinned(options.pin_dir).IgnoreError();
      steering->uninstalled_ = true;
    }
    return status;
  };

  // Every map pinned by name (libbpf reuses a compatible pinned map, else
  // refuses to load, which is what an ABI change must do).
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, skel->obj) {
    const std::string name = bpf_map__name(map);
    if (name.rfind("skw_", 0) != 0) continue;  // .rodata and friends live per load
    if (int err = bpf_map__set_pin_path(map, absl::StrCat(options.pin_dir, "/", name).c_str());
        err != 0) {
      return fail(absl::ErrnoToStatus(-err, "setting the pin path of map " + name));
    }
  }
  if (absl::Status status = CheckInnerSetTemplate(skel->maps.skw_backend_sets); !status.ok()) {
    return fail(status);
  }
  if (int err = steer_bpf::load(skel); err != 0) {
    return fail(absl::ErrnoToStatus(
        -err,
        absl::StrCat("loading the steering programs",
                     pinned_before ? absl::StrCat(" with the maps pinned in ", options.pin_dir,
                                                  " (if their layout "
                                                  "changed, uninstall first)")
                                   : "",
                     "; the verifier log, if any, is in libbpf's warnings on stderr")));
  }
  if (absl::Status status = steering->CheckMapsAgainstAbi(); !status.ok()) return fail(status);
  if (absl::Status status = steering->AttachOrAdoptLinks(cgroup_fd->get()); !status.ok()) {
    return fail(status);
  }
  steering->maps_ = std::make_unique<KernelSteeringMaps>(
      SteeringMapFds{.services = bpf_map__fd(skel->maps.skw_services),
                     .backend_sets = bpf_map__fd(skel->maps.skw_backend_sets),
                     .backends = bpf_map__fd(skel->maps.skw_backends),
                     .node = bpf_map__fd(skel->maps.skw_node)});
  return steering;
}

absl::Status Steering::CheckMapsAgainstAbi() const {
  for (const MapAbi& abi : kSteeringMapAbi) {
    const bpf_map* map = bpf_object__find_map_by_name(skel_->obj, abi.name);
    if (map == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("the steering object has no map ", abi.name,
                                                        " (docs/datapath.md requires it)"));
    }
    absl::StatusOr<MapLayout> loaded = ReadMapLayout(bpf_map__fd(map));
    if (!loaded.ok()) return loaded.status();
    if (absl::Status status = CheckMapLayout(*loaded, abi.key_size_bytes, abi.value_size_bytes);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status Steering::AttachOrAdoptLinks(int cgroup_fd) {
  struct stat cgroup_stat {};
  if (fstat(cgroup_fd, &cgroup_stat) != 0) {
    return absl::ErrnoToStatus(errno, "stat on cgroup " + cgroup_path_);
  }
  std::vector<std::string> names;
  bpf_program* program = nullptr;
  bpf_object__for_each_program(program, skel_->obj) names.emplace_back(bpf_program__name(program));
  for (const std::string& required : AttachOrder()) {
    if (std::find(names.begin(), names.end(), required) == names.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the steering object has no program ", required, " (docs/datapath.md requires it)"));
    }
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    auto rank = [](const std::string& name) {
      return std::find(AttachOrder().begin(), AttachOrder().end(), name) - AttachOrder().begin();
    };
    return rank(a) < rank(b);
  });

  for (const std::string& name : names) {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, name.c_str());
    const std::string path = LinkPinPath(pin_dir_, name);
    if (!bpf_program__autoload(prog)) continue;  // left out on this kernel (kernel_fit.h)
    if (Exists(path)) {
      bpf_link* link = bpf_link__open(path.c_str());
      if (link == nullptr) return absl::ErrnoToStatus(errno, "opening pinned link " + path);
      links_.push_back(link);
      link_programs_.push_back(name);
      absl::StatusOr<bpf_link_info> info = ReadLinkInfo(bpf_link__fd(link), "pinned link " + path);
      if (!info.ok()) return info.status();
      if (info->type != BPF_LINK_TYPE_CGROUP || info->cgroup.cgroup_id != cgroup_stat.st_ino ||
          info->cgroup.attach_type != bpf_program__expected_attach_type(prog)) {
        return absl::FailedPreconditionError(
            absl::StrCat("pinned link ", path, " is not ", name, "'s hook on cgroup ", cgroup_path_,
                         " (cgroup id ", info->cgroup.cgroup_id, " vs ", cgroup_stat.st_ino,
                         "): another install uses this pin dir; uninstall it first"));
      }
      // The no-gap restart: the hook switches from the old program to the
      // new one in one step.
      if (int err = bpf_link__update_program(link, prog); err != 0) {
        return absl::ErrnoToStatus(
            -err, absl::StrCat("updating pinned link ", path, " to the new ", name));
      }
      continue;
    }
    bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
    if (link == nullptr) {
      return absl::ErrnoToStatus(errno,
                                 absl::StrCat("attaching ", name, " to cgroup ", cgroup_path_));
    }
    links_.push_back(link);
    link_programs_.push_back(name);
    if (int err = bpf_link__pin(link, path.c_str()); err != 0) {
      return absl::ErrnoToStatus(-err, absl::StrCat("pinning the link of ", name, " at ", path));
    }
  }
  return absl::OkStatus();
}

absl::Status Steering::UninstallPinned(const std::string& pin_dir) {
  std::vector<std::string> errors;
  for (const std::string& program : AttachOrder()) {
    if (absl::Status status = DetachPinnedLink(LinkPinPath(pin_dir, program)); !status.ok()) {
      errors.push_back(std::string(status.message()));
    }
  }
  for (const std::string& map : MapNames()) {
    const std::string path = MapPinPath(pin_dir, map);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      errors.push_back(absl::StrCat("removing pin ", path, ": ", std::strerror(errno)));
    }
  }
  if (absl::Status status = RemovePinDirs(pin_dir); !status.ok()) {
    errors.push_back(std::string(status.message()));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("uninstalling ", pin_dir, ": ", absl::StrJoin(errors, "; ")));
}

absl::Status Steering::Uninstall() {
  if (uninstalled_) return absl::OkStatus();
  std::vector<std::string> errors;
  // Steering hooks first (reverse attach order), counting hooks last.
  for (auto it = links_.rbegin(); it != links_.rend(); ++it) {
    bpf_link* link = *it;
    bpf_link__unpin(link);
    if (int err = bpf_link__detach(link); err != 0 && err != -ENOLINK) {
      errors.push_back(
          absl::StrCat("detaching link id fd ", bpf_link__fd(link), ": ", std::strerror(-err)));
    }
    bpf_link__destroy(link);
  }
  links_.clear();
  link_programs_.clear();
  if (absl::Status status = UninstallPinned(pin_dir_); !status.ok()) {
    errors.push_back(std::string(status.message()));
  }
  uninstalled_ = true;
  if (errors.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrJoin(errors, "; "));
}

absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> Steering::ReasonCounts() const {
  return ReadReasonCounts(bpf_map__fd(skel_->maps.skw_reasons));
}

absl::StatusOr<skw_backend_load> Steering::BackendLoad(std::uint32_t backend_id) const {
  return ReadBackendLoad(bpf_map__fd(skel_->maps.skw_backend_loads), backend_id);
}

absl::StatusOr<std::vector<AttachedProgram>> Steering::Programs() const {
  std::vector<AttachedProgram> programs;
  for (std::size_t i = 0; i < links_.size(); ++i) {
    absl::StatusOr<bpf_link_info> info =
        ReadLinkInfo(bpf_link__fd(links_[i]), "the link of " + link_programs_[i]);
    if (!info.ok()) return info.status();
    // The kernel's own program name is cut at 15 characters, so the name is ours.
    programs.push_back(
        {.name = link_programs_[i], .program_id = info->prog_id, .link_id = info->id});
  }
  return programs;
}

absl::StatusOr<std::vector<MapLayout>> Steering::MapLayouts() const {
  std::vector<MapLayout> layouts;
  for (const MapAbi& abi : kSteeringMapAbi) {
    absl::StatusOr<MapLayout> loaded =
        ReadMapLayout(bpf_map__fd(bpf_object__find_map_by_name(skel_->obj, abi.name)));
    if (!loaded.ok()) return loaded.status();
    layouts.push_back(*std::move(loaded));
  }
  return layouts;
}

}  // namespace skewless::datapath
