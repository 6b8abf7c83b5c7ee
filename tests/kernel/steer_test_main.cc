// The main() of every steering kernel test: its test cgroup and private bpffs
// are removed at exit, on failure and on Ctrl-C, by these environments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "steer_test_util.h"
#include "test_cgroup.h"

int main(int argc, char** argv) {
  // A child that died early must fail its test, not kill the binary when the parent
  // signals it through its pipe.
  signal(SIGPIPE, SIG_IGN);
  ::testing::InitGoogleMock(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new skewless::testing::TestCgroupEnvironment);
  ::testing::AddGlobalTestEnvironment(new skewless::testing::SteerPinEnvironment);
  return RUN_ALL_TESTS();
}
