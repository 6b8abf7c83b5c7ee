// PinnedSteering on the real kernel: what a started Steering pinned, read back without it.
#include "skewless/datapath/pinned_steering.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steer_test_util.h"

namespace skewless::testing {
namespace {

using ::testing::HasSubstr;

class PinnedSteeringTest : public SteerTest {};

TEST_F(PinnedSteeringTest, ReadsWhatTheLoaderWrote) {
  Backend a = ListenOn("127.0.0.2");
  Backend b = ListenOn("127.0.0.3");
  SKW_ASSERT_OK(table_->Apply({Service("198.19.8.1", 80, {EndpointOf(a), EndpointOf(b, 300)})}));

  absl::StatusOr<std::unique_ptr<datapath::PinnedSteering>> pinned =
      datapath::PinnedSteering::Open(SteerPinDir());
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  absl::StatusOr<datapath::SteeringMapsSnapshot> via_pins = (*pinned)->maps().Read();
  absl::StatusOr<datapath::SteeringMapsSnapshot> via_loader = steering_->maps().Read();
  ASSERT_TRUE(via_pins.ok()) << via_pins.status();
  ASSERT_TRUE(via_loader.ok()) << via_loader.status();
  ASSERT_EQ(via_pins->services.size(), 1u);
  EXPECT_EQ(
      std::memcmp(&via_pins->services[0], &via_loader->services[0], sizeof(via_pins->services[0])),
      0);
  ASSERT_EQ(via_pins->backends.size(), 2u);
  const std::uint32_t b_id = *table_->BackendId(b.ip, b.port);
  EXPECT_EQ(via_pins->backends.at(b_id).weight, 300);
  EXPECT_EQ(via_pins->sets.size(), 1u);
  EXPECT_EQ(via_pins->sets.begin()->second.front().n_ready, 2);

  absl::StatusOr<skw_backend_load> load = (*pinned)->BackendLoad(b_id);
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_EQ(load->active_conns, 0u);
  absl::StatusOr<std::array<std::uint64_t, SKW_REASON_COUNT>> reasons = (*pinned)->ReasonCounts();
  ASSERT_TRUE(reasons.ok()) << reasons.status();
}

TEST_F(PinnedSteeringTest, LinksMatchTheAttachedPrograms) {
  absl::StatusOr<std::vector<datapath::AttachedProgram>> programs = steering_->Programs();
  ASSERT_TRUE(programs.ok()) << programs.status();
  struct stat cgroup {};
  ASSERT_EQ(stat(cgroup_->path().c_str(), &cgroup), 0);
  const std::vector<datapath::PinnedLink> links = datapath::PinnedSteering::Links(SteerPinDir());
  ASSERT_EQ(links.size(), datapath::Steering::ProgramNames().size());
  for (const datapath::PinnedLink& link : links) {
    EXPECT_TRUE(link.pinned) << link.program;
    EXPECT_EQ(link.error, "") << link.program;
    EXPECT_EQ(link.cgroup_id, cgroup.st_ino) << link.program;
    auto program = std::find_if(programs->begin(), programs->end(),
                                [&](const auto& p) { return p.name == link.program; });
    ASSERT_NE(program, programs->end()) << link.program;
    EXPECT_EQ(link.link_id, program->link_id) << link.program;
    EXPECT_EQ(link.program_id, program->program_id) << link.program;
  }
}

TEST_F(PinnedSteeringTest, AnEmptyDirIsNotFoundAndAPartialOneNamesWhatIsMissing) {
  const std::string empty = TestBpffsDir() + "/empty";
  ASSERT_EQ(mkdir(empty.c_str(), 0700), 0) << std::strerror(errno);
  absl::StatusOr<std::unique_ptr<datapath::PinnedSteering>> none =
      datapath::PinnedSteering::Open(empty);
  rmdir(empty.c_str());
  EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
  EXPECT_THAT(none.status().message(), HasSubstr(empty));
  const std::vector<datapath::PinnedLink> links = datapath::PinnedSteering::Links(empty);
  EXPECT_TRUE(std::none_of(links.begin(), links.end(), [](const auto& l) { return l.pinned; }));

  // Unpinning one map (the loader keeps it loaded) leaves a partial pin dir.
  ASSERT_EQ(unlink((SteerPinDir() + "/skw_udp_rev").c_str()), 0) << std::strerror(errno);
  absl::StatusOr<std::unique_ptr<datapath::PinnedSteering>> partial =
      datapath::PinnedSteering::Open(SteerPinDir());
  EXPECT_TRUE(absl::IsFailedPrecondition(partial.status())) << partial.status();
  EXPECT_THAT(partial.status().message(), HasSubstr("skw_udp_rev not pinned"));
}

}  // namespace
}  // namespace skewless::testing
