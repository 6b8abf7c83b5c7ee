// libbpf log routing and cgroup v2 directory checks shared by the loaders.
#include "skewless/datapath/bpf_util.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace skewless::datapath {
namespace {

int PrintLibbpfWarnings(enum libbpf_print_level level, const char* format, va_list args) {
  if (level != LIBBPF_WARN) return 0;
  return std::vfprintf(stderr, format, args);
}

}  // namespace

void RouteLibbpfWarningsToStderr() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(PrintLibbpfWarnings); });
}

absl::StatusOr<ScopedFd> OpenCgroup2Dir(const std::string& path) {
  ScopedFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opening cgroup directory ", path));
  }
  struct statfs fs {};
  if (fstatfs(fd.get(), &fs) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("statfs on ", path));
  }
  if (fs.f_type != CGROUP2_SUPER_MAGIC) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     " is not a cgroup v2 directory (BPF cgroup programs attach "
                     "only to cgroup v2; see FindCgroup2Mount)"));
  }
  return fd;
}

}  // namespace skewless::datapath
