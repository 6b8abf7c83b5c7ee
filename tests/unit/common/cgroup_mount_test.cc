// Finding the cgroup2 mount in a mount table, on hybrid and unified hosts.
#include <gtest/gtest.h>

#include "skewless/common/cgroup.h"

namespace skewless {
namespace {

TEST(Cgroup2Mount, FoundOnHybridHostsUnderUnified) {
  auto mount = ParseCgroup2Mount(
      "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n"
      "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n");
  ASSERT_TRUE(mount.ok());
  EXPECT_EQ(*mount, "/sys/fs/cgroup/unified");
}

TEST(Cgroup2Mount, FoundOnUnifiedHosts) {
  auto mount = ParseCgroup2Mount("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n");
  ASSERT_TRUE(mount.ok());
  EXPECT_EQ(*mount, "/sys/fs/cgroup");
}

TEST(Cgroup2Mount, MissingIsAnErrorThatSaysWhatToDo) {
  auto mount = ParseCgroup2Mount("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n");
  ASSERT_FALSE(mount.ok());
  EXPECT_NE(mount.status().message().find("cgroup v2"), std::string::npos);
}

}  // namespace
}  // namespace skewless
