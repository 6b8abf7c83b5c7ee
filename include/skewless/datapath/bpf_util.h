// Small pieces every BPF loader here needs: an owned fd, libbpf's log
// routed to warnings only, and opening a cgroup v2 directory to attach to.
#pragma once

#include <unistd.h>

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace skewless::datapath {

// Closes the fd it owns (if any) when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { reset(); }

  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// libbpf is chatty at info/debug level (every relocation); only warnings
// (verifier rejections, missing kernel features) help whoever reads stderr.
// Idempotent; process-wide (libbpf has one print callback).
void RouteLibbpfWarningsToStderr();

// Opens a cgroup v2 directory for attaching. libbpf attaches to any
// directory fd and only the kernel's EBADF hints at a wrong path; saying
// "not cgroup v2" up front saves a confused operator.
absl::StatusOr<ScopedFd> OpenCgroup2Dir(const std::string& path);

}  // namespace skewless::datapath
