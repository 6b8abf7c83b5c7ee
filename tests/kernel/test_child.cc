// Forked children in the test cgroup and the pipes they talk to the parent through.
#include "test_child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "test_cgroup.h"

namespace skewless::testing {

void Signal(int fd) {
  const char byte = 's';
  if (write(fd, &byte, 1) != 1) _exit(90);
}

bool Await(int fd) {
  char byte;
  return read(fd, &byte, 1) == 1;
}

std::unique_ptr<Child> Child::Start(const OwnedCgroup& cgroup,
                                    const std::function<int(ChildPipes)>& body) {
  int to_parent[2];
  int from_parent[2];
  if (pipe2(to_parent, O_CLOEXEC) != 0 || pipe2(from_parent, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<Child> child(new Child);
  child->to_parent_ = Fd(to_parent[0]);
  child->from_parent_ = Fd(from_parent[1]);
  Fd child_write(to_parent[1]);
  Fd child_read(from_parent[0]);
  child->pid_ = fork();
  if (child->pid_ < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return nullptr;
  }
  if (child->pid_ == 0) {
    close(to_parent[0]);
    close(from_parent[1]);
    // The parent moves us into the cgroup, then says go.
    if (!Await(child_read.get())) _exit(91);
    _exit(body(ChildPipes{.to_parent = child_write.get(), .from_parent = child_read.get()}));
  }
  RecordChildInTestCgroup(child->pid_);
  absl::Status joined = cgroup.Add(child->pid_);
  EXPECT_TRUE(joined.ok()) << joined;
  if (joined.ok()) child->SendSignal();  // else EOF at exit: the child connects nothing
  return child;
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

bool Child::AwaitSignal(int timeout_ms) {
  pollfd ready{.fd = to_parent_.get(), .events = POLLIN, .revents = 0};
  if (poll(&ready, 1, timeout_ms) <= 0) return false;
  return Await(to_parent_.get());
}

void Child::SendSignal() {
  // A child that has already exited cannot read it: its exit code, from Wait(), says why.
  const char byte = 's';
  (void)!write(from_parent_.get(), &byte, 1);
}

int Child::Wait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  RecordChildInTestCgroup(0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::optional<int> Child::TryWait() {
  if (pid_ <= 0) return -1;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  RecordChildInTestCgroup(0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace skewless::testing
