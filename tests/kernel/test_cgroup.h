// The per-process cgroup kernel tests attach to, and its cleanup on failure and Ctrl-C.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace skewless::testing {

// <cgroup2 mount>/skewless-test-<pid>: unique per test process, and the name
// says who made it if a SIGKILLed run ever leaves one behind.
absl::StatusOr<std::string> TestCgroupPath();

// Tells the signal handler which child to kill before removing the cgroup
// (a cgroup with live members cannot be removed). 0 clears it.
void RecordChildInTestCgroup(pid_t pid);

// Registers SIGINT/SIGTERM/SIGHUP handlers that kill the recorded child and
// rmdir the test cgroup before dying, and removes the cgroup at the end of the
// run if a test left it. BPF programs need no such care: they are attached by
// link fds, which the kernel closes (and so detaches) when the process dies.
class TestCgroupEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

}  // namespace skewless::testing
