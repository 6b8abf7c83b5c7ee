// open_by_handle_at(FILEID_KERNFS) on the cgroup2 mount, then readlink of the fd.
#include "cgroup_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "skewless/common/cgroup.h"
#include "skewless/datapath/bpf_util.h"

namespace skewless::ctl {
namespace {

// include/linux/exportfs.h: kernfs (and so cgroupfs) file handles carry the 64-bit id.
constexpr int kFileIdKernfs = 0xfe;

}  // namespace

absl::StatusOr<std::string> CgroupPathOf(std::uint64_t cgroup_id) {
  absl::StatusOr<std::string> mount = FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  datapath::ScopedFd mount_fd(open(mount->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (mount_fd.get() < 0) return absl::ErrnoToStatus(errno, "opening " + *mount);
  // file_handle ends in a flexible array: give it room for the id, suitably aligned.
  alignas(file_handle) unsigned char storage[sizeof(file_handle) + sizeof(cgroup_id)] = {};
  auto* handle = reinterpret_cast<file_handle*>(storage);
  handle->handle_bytes = sizeof(cgroup_id);
  handle->handle_type = kFileIdKernfs;
  std::memcpy(storage + sizeof(file_handle), &cgroup_id, sizeof(cgroup_id));
  datapath::ScopedFd cgroup(open_by_handle_at(mount_fd.get(), handle, O_RDONLY | O_CLOEXEC));
  if (cgroup.get() < 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("finding cgroup id ", cgroup_id, " under ", *mount));
  }
  char path[4096];
  const std::string link = absl::StrCat("/proc/self/fd/", cgroup.get());
  const ssize_t length = readlink(link.c_str(), path, sizeof(path) - 1);
  if (length < 0) return absl::ErrnoToStatus(errno, "readlink " + link);
  return std::string(path, static_cast<std::size_t>(length));
}

}  // namespace skewless::ctl
