// Under kube-proxy's baselines a persistent gRPC client never leaves its pod,
// and the load generator's counts are the pods' own counts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "lab_fixture.h"
#include "skewless/lab/scenario.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;

class BaselineSkew : public ::testing::TestWithParam<Dataplane> {
 protected:
  void SetUp() override { SKEWLESS_REQUIRE_ROOT(); }
  void TearDown() override { std::filesystem::remove_all(TestStateDir()); }

  LabReport Run() {
    LabConfig config;
    config.zones = {"zone-a", "zone-b"};
    config.pods_per_zone = {2, 2};
    config.clients = 8;
    config.dataplane = GetParam();
    config.rate = 800;  // well below the generator's ceiling: no queueing noise
    config.duration = std::chrono::milliseconds(2000);
    ScenarioOptions options;
    options.state_dir = TestStateDir();
    options.bin_dir = SKEWLESS_BIN_DIR;
    auto report = RunOnce(config, options, nullptr);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : LabReport{};
  }
};

TEST_P(BaselineSkew, EveryPersistentClientLandsOnExactlyOnePod) {
  LabReport report = Run();
  ASSERT_EQ(report.clients, 8);
  EXPECT_EQ(report.errors, 0u);
  EXPECT_GT(report.requests, 1000u);
  EXPECT_EQ(report.clients_on_one_pod, 8) << "kube-proxy balances connections, not requests";
  EXPECT_EQ(report.service_connects, 8) << "one connect() per persistent client, seen by BPF";
}

TEST_P(BaselineSkew, LoadGeneratorCountsMatchThePodsOwnCounts) {
  LabReport report = Run();
  ASSERT_EQ(report.pods.size(), 4u);
  uint64_t sum = 0;
  for (const auto& pod : report.pods) {
    EXPECT_EQ(pod.requests, pod.server_served) << pod.pod;
    sum += pod.requests;
  }
  EXPECT_EQ(sum, report.requests);
  EXPECT_EQ(report.server_requests, report.client_requests_including_warmup);
  EXPECT_GT(report.server_requests, 0u);
}

INSTANTIATE_TEST_SUITE_P(Baselines, BaselineSkew,
                         ::testing::Values(Dataplane::kIptables, Dataplane::kNftables),
                         [](const auto& info) { return std::string(DataplaneName(info.param)); });

}  // namespace
}  // namespace skewless::lab
