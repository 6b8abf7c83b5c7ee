// skewless's connect hooks in the lab, programmed by the shipped path (control plane →
// agent per node → pinned maps): zone affinity keeps connections in the client's zone,
// spills when the zone's pods go away or are overloaded, and the whole data path goes
// away with the run. Loads are read through each agent's pinned maps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "lab_fixture.h"
#include "skewless/lab/node.h"
#include "skewless/lab/node_maps.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using std::chrono::milliseconds;

class SkewlessZones : public ::testing::Test {
 protected:
  void SetUp() override { SKEWLESS_REQUIRE_ROOT(); }
  void TearDown() override {
    held_.clear();
    node_.reset();
    std::filesystem::remove_all(TestStateDir());
  }

  void Build(std::vector<int> pods_per_zone) {
    LabConfig config;
    config.id = "z" + std::to_string(getpid() % 100000);
    config.zones = {"zone-a", "zone-b"};
    config.pods_per_zone = std::move(pods_per_zone);
    config.clients = 2;
    config.dataplane = Dataplane::kSkewless;
    config.traffic_distribution = "PreferClose";
    NodeOptions options;
    options.state_dir = TestStateDir();
    options.bin_dir = SKEWLESS_BIN_DIR;
    auto node = Node::Create(config, options);
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = *std::move(node);
  }

  // Opens `n` TCP connections to the VIP one after another from the zone's
  // cgroup and namespace, and keeps them open (bash /dev/tcp: a real
  // connect() per descriptor, nothing else).
  void Hold(const std::string& zone, int n) {
    std::string script =
        absl::StrCat("for i in $(seq 10 ", 9 + n,
                     "); do eval \"exec $i<>/dev/tcp/198.19.0.10/8080\" || exit 1; "
                     "done; echo HELD; exec sleep 600");
    auto child = node_->SpawnClient(zone, {"/bin/bash", "-c", script}, "hold-" + zone);
    ASSERT_TRUE(child.ok()) << child.status();
    auto line = child->ReadLine(milliseconds(10000));
    ASSERT_TRUE(line.ok()) << line.status() << " " << child->LogTail();
    ASSERT_EQ(*line, "HELD");
    held_.push_back(*std::move(child));
  }

  // Active connections per pod as the zone's node's own sockops counted them, read
  // through its agent's pinned maps.
  std::map<std::string, uint64_t> ActiveByPod(const std::string& zone) {
    std::map<std::string, uint64_t> active;
    auto service = ReadProgrammedService(node_->PinDir(zone), "198.19.0.10", 8080);
    EXPECT_TRUE(service.ok()) << service.status();
    if (!service.ok()) return active;
    EXPECT_TRUE(service->found) << "the agent of " << zone << " holds no Service";
    for (const auto& backend : service->backends) {
      for (const auto& pod : node_->plan().pods) {
        if (pod.ip == backend.address) active[pod.name] = backend.active_conns;
      }
    }
    return active;
  }

  uint64_t InZone(const std::map<std::string, uint64_t>& active, const std::string& zone) {
    uint64_t sum = 0;
    for (const auto& pod : node_->plan().pods) {
      if (pod.zone == zone && active.count(pod.name)) sum += active.at(pod.name);
    }
    return sum;
  }

  std::unique_ptr<Node> node_;
  std::vector<Child> held_;
};

TEST_F(SkewlessZones, PreferCloseKeepsConnectionsInTheClientsZoneAndEvenWithinIt) {
  Build({2, 2});
  Hold("zone-a", 6);
  auto active = ActiveByPod("zone-a");
  EXPECT_EQ(InZone(active, "zone-a"), 6u);
  EXPECT_EQ(InZone(active, "zone-b"), 0u);
  EXPECT_EQ(active["pod-0"], 3u) << "P2C over the two local pods";
  EXPECT_EQ(active["pod-1"], 3u);
}

TEST_F(SkewlessZones, SpillsToOtherZonesWhenTheLocalPodsGoAway) {
  Build({2, 2});
  // The Service loses its zone-a endpoints (scaled down): the control plane's file
  // changes, and every agent follows before SetPodEndpoint returns.
  ASSERT_TRUE(node_->SetPodEndpoint(0, PodEndpoint::kRemoved).ok());
  ASSERT_TRUE(node_->SetPodEndpoint(1, PodEndpoint::kRemoved).ok());
  Hold("zone-a", 4);
  auto active = ActiveByPod("zone-a");
  EXPECT_EQ(InZone(active, "zone-b"), 4u);
  EXPECT_EQ(active["pod-2"], 2u);
  EXPECT_EQ(active["pod-3"], 2u);
}

TEST_F(SkewlessZones, SpillsWhenTheLocalZoneIsOverloadedButStillPrefersIt) {
  Build({1, 3});  // one pod in zone-a, three in zone-b
  Hold("zone-a", 24);
  auto active = ActiveByPod("zone-a");
  // With the default thresholds (2x cost and 8 more connections) the lone
  // local pod takes the first 8 and then about its fair share plus 8;
  // the rest spills. Without spill it would hold all 24.
  EXPECT_GE(active["pod-0"], 8u);
  EXPECT_LT(active["pod-0"], 24u);
  EXPECT_GT(InZone(active, "zone-b"), 0u);
  EXPECT_EQ(InZone(active, "zone-a") + InZone(active, "zone-b"), 24u);
}

TEST_F(SkewlessZones, ClosedConnectionsAreUncounted) {
  Build({2, 2});
  Hold("zone-b", 4);
  EXPECT_EQ(InZone(ActiveByPod("zone-b"), "zone-b"), 4u);
  held_.clear();  // SIGKILL: the kernel closes the sockets
  uint64_t left = 4;
  for (int i = 0; i < 100 && left != 0; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
    left = InZone(ActiveByPod("zone-b"), "zone-b");
  }
  EXPECT_EQ(left, 0u);
}

}  // namespace
}  // namespace skewless::lab
