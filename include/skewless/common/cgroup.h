// cgroup v2 helpers: find the unified hierarchy and own cgroups we create.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace skewless {

// Mount point of the cgroup2 (unified) hierarchy, read from /proc/mounts.
// Never assume /sys/fs/cgroup: hybrid hosts mount it elsewhere
// (e.g. /sys/fs/cgroup/unified).
absl::StatusOr<std::string> FindCgroup2Mount(const std::string& mounts_path = "/proc/mounts");

// Parses the text of a mounts file; split out so it can be tested on fixtures.
absl::StatusOr<std::string> ParseCgroup2Mount(const std::string& mounts_text);

// Moves `pid` into the cgroup at `cgroup_path` (a directory under the cgroup2 mount).
absl::Status JoinCgroup(const std::string& cgroup_path, pid_t pid);

// Removes a cgroup directory we created. Fails (and says which pids) if
// processes are still inside; succeeds if it is already gone.
absl::Status RemoveCgroup(const std::string& cgroup_path);

// A cgroup directory created by us and removed when this object dies.
// Processes still inside at destruction are killed (SIGKILL) first: only ones
// we put there, since nobody else knows the directory exists.
class OwnedCgroup {
 public:
  static absl::StatusOr<OwnedCgroup> Create(const std::string& path);
  OwnedCgroup(OwnedCgroup&& other) noexcept;
  OwnedCgroup& operator=(OwnedCgroup&& other) noexcept;
  OwnedCgroup(const OwnedCgroup&) = delete;
  OwnedCgroup& operator=(const OwnedCgroup&) = delete;
  ~OwnedCgroup();

  const std::string& path() const { return path_; }
  absl::Status Add(pid_t pid) const { return JoinCgroup(path_, pid); }
  // Kills what is inside and removes the directory; idempotent.
  absl::Status Destroy();

 private:
  explicit OwnedCgroup(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Kills every process listed in the cgroup's cgroup.procs, waits until it is
// empty (bounded), then removes it. For crash recovery of cgroups we recorded.
absl::Status KillAndRemoveCgroup(const std::string& cgroup_path);

}  // namespace skewless
