// cgroup v2 discovery and lifecycle of the cgroups skewless creates.
#include "skewless/common/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace skewless {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

std::vector<pid_t> ReadProcs(const std::string& cgroup_path) {
  std::vector<pid_t> pids;
  std::ifstream in(cgroup_path + "/cgroup.procs");
  pid_t pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

}  // namespace

absl::StatusOr<std::string> ParseCgroup2Mount(const std::string& mounts_text) {
  for (absl::string_view line : absl::StrSplit(mounts_text, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    // /proc/mounts: device mountpoint fstype options dump pass
    if (fields.size() >= 3 && fields[2] == "cgroup2") return std::string(fields[1]);
  }
  return absl::NotFoundError(
      "no cgroup2 filesystem in the mount table; skewless needs cgroup v2 "
      "(mount -t cgroup2 none /sys/fs/cgroup/unified, or boot with "
      "systemd.unified_cgroup_hierarchy=1)");
}

absl::StatusOr<std::string> FindCgroup2Mount(const std::string& mounts_path) {
  std::ifstream in(mounts_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", mounts_path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseCgroup2Mount(text.str());
}

absl::Status JoinCgroup(const std::string& cgroup_path, pid_t pid) {
  std::ofstream procs(cgroup_path + "/cgroup.procs");
  if (!procs) {
    return absl::InternalError(
        absl::StrCat("cannot open ", cgroup_path, "/cgroup.procs: ", ErrnoText(errno)));
  }
  procs << pid << '\n';
  procs.flush();
  if (!procs) {
    return absl::InternalError(
        absl::StrCat("cannot move pid ", pid, " into ", cgroup_path, ": ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

absl::Status RemoveCgroup(const std::string& cgroup_path) {
  if (rmdir(cgroup_path.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
  int err = errno;
  if (err == EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cgroup ", cgroup_path, " still holds pids: ", absl::StrJoin(ReadProcs(cgroup_path), ",")));
  }
  return absl::InternalError(absl::StrCat("rmdir ", cgroup_path, ": ", ErrnoText(err)));
}

absl::Status KillAndRemoveCgroup(const std::string& cgroup_path) {
  struct stat st;
  if (stat(cgroup_path.c_str(), &st) != 0 && errno == ENOENT) return absl::OkStatus();
  // Children first: a cgroup with sub-cgroups cannot be removed.
  // (Our layouts are at most two levels deep; see lab/node.cc.)
  for (int attempt = 0; attempt < 200; ++attempt) {
    std::vector<pid_t> pids = ReadProcs(cgroup_path);
    if (pids.empty()) break;
    for (pid_t pid : pids) kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return RemoveCgroup(cgroup_path);
}

absl::StatusOr<OwnedCgroup> OwnedCgroup::Create(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0) {
    int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("cgroup ", path, " already exists; refusing to adopt what we did not make"));
    }
    return absl::InternalError(absl::StrCat("mkdir ", path, ": ", ErrnoText(err)));
  }
  return OwnedCgroup(path);
}

OwnedCgroup::OwnedCgroup(OwnedCgroup&& other) noexcept : path_(std::move(other.path_)) {
  other.path_.clear();
}

OwnedCgroup& OwnedCgroup::operator=(OwnedCgroup&& other) noexcept {
  if (this != &other) {
    (void)Destroy();
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

OwnedCgroup::~OwnedCgroup() { (void)Destroy(); }

absl::Status OwnedCgroup::Destroy() {
  if (path_.empty()) return absl::OkStatus();
  absl::Status status = KillAndRemoveCgroup(path_);
  if (status.ok()) path_.clear();
  return status;
}

}  // namespace skewless
