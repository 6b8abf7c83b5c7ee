// skewless-lab's flags: the text given becomes a LabConfig, errors name the flag, and the
// demo's defaults fill only what its command line left out.
#include "skewless/lab/lab_flags.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::lab {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

class LabFlagsTest : public ::testing::Test {
 protected:
  LabFlagsTest() {
    BindNodeFlags(app_, flags_);
    BindWorkloadFlags(app_, flags_);
    BindChangeFlags(app_, flags_);
  }

  absl::Status Apply(const std::string& args) {
    app_.parse(args);
    return ApplyFlags(flags_);
  }

  CLI::App app_;
  LabFlags flags_;
};

TEST_F(LabFlagsTest, TextFlagsBecomeTheConfig) {
  ASSERT_TRUE(Apply("--zones a,b --pods-per-zone 3,1 --duration 1500ms --client-stagger 2s "
                    "--slow-pod pod-1=4 --dataplane nftables")
                  .ok());
  const LabConfig& config = flags_.config;
  EXPECT_THAT(config.zones, ElementsAre("a", "b"));
  EXPECT_THAT(config.pods_per_zone, ElementsAre(3, 1));
  EXPECT_EQ(config.duration, std::chrono::milliseconds(1500));
  EXPECT_EQ(config.client_stagger, std::chrono::seconds(2));
  ASSERT_EQ(config.slow_pods.size(), 1u);
  EXPECT_EQ(config.slow_pods[0].first, "pod-1");
  EXPECT_EQ(config.slow_pods[0].second, 4);
  EXPECT_EQ(config.dataplane, Dataplane::kNftables);
}

TEST_F(LabFlagsTest, ABadDurationIsRefusedNamingTheFlag) {
  const absl::Status status = Apply("--max-connection-age 5h");
  EXPECT_THAT(std::string(status.message()), StartsWith("--max-connection-age: "));
}

TEST_F(LabFlagsTest, ClientsAndClientsPerNodeConflict) {
  const absl::Status status = Apply("--clients 4 --clients-per-node 1");
  EXPECT_THAT(std::string(status.message()), StartsWith("--clients and --clients-per-node"));
}

TEST_F(LabFlagsTest, TheDemoDefaultsFillOnlyWhatWasNotGiven) {
  ASSERT_TRUE(Apply("--rate 300").ok());
  ApplyDemoDefaults(app_, flags_.config);
  EXPECT_EQ(flags_.config.rate, 300);  // given
  EXPECT_EQ(flags_.config.duration, std::chrono::seconds(10));
  EXPECT_EQ(flags_.config.nodes_per_zone, 4);
  EXPECT_EQ(flags_.config.clients_per_node, 1);
  EXPECT_EQ(flags_.config.client_stagger, std::chrono::seconds(1));
}

}  // namespace
}  // namespace skewless::lab
