// Test cgroup naming and last-resort cleanup for the kernel tests.
#include "test_cgroup.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "skewless/common/cgroup.h"

namespace skewless::testing {
namespace {

// Plain storage: a signal handler may read these but not touch std::string.
char g_cgroup_path[PATH_MAX];
volatile sig_atomic_t g_child_pid = 0;

constexpr int kCleanupSignals[] = {SIGINT, SIGTERM, SIGHUP};

// Only async-signal-safe calls (kill, waitpid, rmdir, signal, raise).
void CleanUpAndDie(int signo) {
  const pid_t child = g_child_pid;
  if (child > 0) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  if (g_cgroup_path[0] != '\0') rmdir(g_cgroup_path);
  signal(signo, SIG_DFL);
  raise(signo);
}

}  // namespace

absl::StatusOr<std::string> TestCgroupPath() {
  absl::StatusOr<std::string> mount = FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  return absl::StrCat(*mount, "/skewless-test-", getpid());
}

void RecordChildInTestCgroup(pid_t pid) { g_child_pid = pid; }

void TestCgroupEnvironment::SetUp() {
  absl::StatusOr<std::string> path = TestCgroupPath();
  if (!path.ok() || path->size() >= sizeof(g_cgroup_path)) return;  // tests report it
  std::memcpy(g_cgroup_path, path->c_str(), path->size() + 1);
  for (int signo : kCleanupSignals) signal(signo, CleanUpAndDie);
}

void TestCgroupEnvironment::TearDown() {
  for (int signo : kCleanupSignals) signal(signo, SIG_DFL);
  if (g_cgroup_path[0] == '\0') return;
  if (absl::Status status = KillAndRemoveCgroup(g_cgroup_path); !status.ok()) {
    ADD_FAILURE() << "test cgroup left behind: " << status;
  }
}

}  // namespace skewless::testing
