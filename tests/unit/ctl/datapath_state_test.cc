// The message when there is no data path: where it looked, what it found, what to do.
#include "skewless/ctl/datapath_state.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::ctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(CtlNoDatapathMessage, BpffsNotMountedSaysToMountIt) {
  const std::string message = NoDatapathMessage({.pin_dir = "/sys/fs/bpf/skewless",
                                                 .exists = false,
                                                 .fs_path = "/sys/fs/bpf",
                                                 .fs_is_bpffs = false});
  EXPECT_THAT(message,
              AllOf(HasSubstr("looked in: /sys/fs/bpf/skewless"),
                    HasSubstr("/sys/fs/bpf is not a BPF filesystem"),
                    HasSubstr("mount -t bpf bpf /sys/fs/bpf"), HasSubstr("start skewless-agent")));
}

TEST(CtlNoDatapathMessage, MissingPinDirSaysToStartTheAgent) {
  const std::string message = NoDatapathMessage(
      {.pin_dir = "/sys/fs/bpf/x", .exists = false, .fs_path = "/sys/fs/bpf", .fs_is_bpffs = true});
  EXPECT_THAT(message, AllOf(HasSubstr("bpffs is mounted, but /sys/fs/bpf/x does not exist"),
                             HasSubstr("pass the same --pin-dir here")));
}

TEST(CtlNoDatapathMessage, EmptyPinDirNamesTheMapsItLookedFor) {
  const std::string message = NoDatapathMessage({.pin_dir = "/sys/fs/bpf/x",
                                                 .exists = true,
                                                 .fs_path = "/sys/fs/bpf/x",
                                                 .fs_is_bpffs = true});
  EXPECT_THAT(message, HasSubstr("holds none of the data path's maps (skw_services, "));
}

TEST(CtlNoDatapathMessage, APinDirOffBpffsAsksForTheAgentsPinDir) {
  const std::string message = NoDatapathMessage(
      {.pin_dir = "/tmp", .exists = true, .fs_path = "/tmp", .fs_is_bpffs = false});
  EXPECT_THAT(message, AllOf(HasSubstr("/tmp exists but is not on a BPF filesystem"),
                             HasSubstr("pass the --pin-dir the agent uses")));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("mount -t bpf bpf /tmp")));
}

TEST(CtlReadDatapathState, NothingPinnedIsNotFoundWithTheMessage) {
  absl::StatusOr<DatapathState> state = ReadDatapathState("/nonexistent-skewless-pin-dir");
  ASSERT_TRUE(absl::IsNotFound(state.status())) << state.status();
  EXPECT_THAT(state.status().message(), HasSubstr("looked in: /nonexistent-skewless-pin-dir"));
}

}  // namespace
}  // namespace skewless::ctl
