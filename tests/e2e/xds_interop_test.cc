// Interop with xDS clients we did not write: Debian's gRPC C++ (built-in xds resolver)
// and Node's @grpc/grpc-js-xds dial xds:///echo.default.svc.cluster.local:8080 through
// skewless-controlplane (file source) to the lab's pods. RPCs succeed and spread, follow
// endpoint additions and removals within a second, and survive a control-plane restart.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "file_source_lab.h"
#include "lab_fixture.h"
#include "nlohmann/json.hpp"
#include "skewless/lab/node.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kTarget[] = "xds:///echo.default.svc.cluster.local:8080";
// Resolution of the clients' counters; "within a second" is checked as 1 s + one line.
constexpr milliseconds kInterval{200};
constexpr milliseconds kFollowBudget{1000 + 200};

// One line of a client: calls that succeeded per pod, and failures, in one interval.
struct Counts {
  std::map<std::string, std::uint64_t> pods;
  std::uint64_t failed = 0;
  std::string raw;
  std::uint64_t ok() const {
    std::uint64_t sum = 0;
    for (const auto& [pod, n] : pods) sum += n;
    return sum;
  }
};

class XdsInterop : public ::testing::TestWithParam<std::string>, protected FileSourceLab {
 protected:
  void SetUp() override {
    SKEWLESS_REQUIRE_ROOT();
    service_ = {.grpc = true, .hostname = true};
    LabConfig config;
    config.id = "x" + std::to_string(getpid() % 100000);
    config.zones = {"zone-a", "zone-b"};
    config.pods_per_zone = {2, 2};
    config.clients = 1;
    config.client_zones = {"zone-a"};
    config.dataplane = Dataplane::kNone;  // gRPC balances itself; no VIP involved
    ASSERT_NO_FATAL_FAILURE(CreateLab(config, "xds"));
    WriteBootstrap("");
  }

  void TearDown() override {
    client_.reset();
    TearDownLab();
  }

  // The client's bootstrap; `zone` is its node.locality.zone (empty = unknown).
  void WriteBootstrap(const std::string& zone) {
    nlohmann::json bootstrap = {
        {"xds_servers",
         {{{"server_uri", kXdsAddress},
           {"channel_creds", {{{"type", "insecure"}}}},
           {"server_features", {"xds_v3"}}}}},
        {"node", {{"id", "interop-" + GetParam()}, {"locality", {{"zone", zone}}}}}};
    std::ofstream(dir_ + "/bootstrap.json") << bootstrap.dump(2);
  }

  void StartControlPlane() { FileSourceLab::StartControlPlane("127.0.0.1:19000"); }

  void StopControlPlane() {
    control_plane_->Signal(SIGTERM);
    auto code = control_plane_->Wait(milliseconds(10000));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << control_plane_->LogTail();
    control_plane_.reset();
  }

  void StartClient() {
    std::vector<std::string> argv;
    const std::string interval = std::to_string(kInterval.count());
    if (GetParam() == "cpp") {
      argv = {std::string(SKEWLESS_BIN_DIR) + "/xds_echo_client",
              "--target",
              kTarget,
              "--bootstrap",
              dir_ + "/bootstrap.json",
              "--interval-ms",
              interval};
    } else {
      const std::string script = std::string(SKEWLESS_INTEROP_NODE_DIR) + "/xds_echo_client.js";
      ASSERT_TRUE(std::filesystem::exists(std::string(SKEWLESS_INTEROP_NODE_DIR) +
                                          "/node_modules/@grpc/grpc-js-xds"))
          << "npm packages missing: the build runs `npm ci` in " << SKEWLESS_INTEROP_NODE_DIR;
      argv = {
          "/usr/bin/env",  "GRPC_XDS_BOOTSTRAP=" + dir_ + "/bootstrap.json",
          "node",          script,
          "--target",      kTarget,
          "--proto",       std::string(SKEWLESS_SOURCE_DIR) + "/proto/skewless/lab/v1/echo.proto",
          "--interval-ms", interval};
    }
    auto child = node_->SpawnClient("zone-a", argv, "client-" + GetParam());
    ASSERT_TRUE(child.ok()) << child.status();
    client_ = std::make_unique<Child>(*std::move(child));
  }

  // The client's next interval line.
  Counts NextCounts() {
    auto line = client_->ReadLine(milliseconds(5000));
    EXPECT_TRUE(line.ok()) << line.status() << "\nclient: " << client_->LogTail()
                           << "\ncontrol plane: "
                           << (control_plane_ ? control_plane_->LogTail() : "");
    Counts counts;
    if (!line.ok()) return counts;
    counts.raw = *line;
    auto json = nlohmann::json::parse(*line, nullptr, false);
    if (json.is_discarded()) return counts;
    for (const auto& [pod, n] : json["pods"].items()) counts.pods[pod] = n.get<std::uint64_t>();
    counts.failed = json.value("failed", 0);
    return counts;
  }

  // Reads lines until `done` holds for one; returns how long that took, or fails the
  // test after `timeout`.
  milliseconds Await(const std::function<bool(const Counts&)>& done, milliseconds timeout,
                     const std::string& what) {
    const auto start = Clock::now();
    Counts last;
    while (Clock::now() - start < timeout) {
      last = NextCounts();
      if (last.raw.empty()) break;
      if (done(last)) {
        return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      }
    }
    ADD_FAILURE() << "not seen within " << timeout.count() << " ms: " << what
                  << "\nlast line: " << last.raw << "\nclient log: " << client_->LogTail();
    return timeout;
  }

  std::string PodName(int index) { return node_->plan().pods.at(index).name; }

  std::unique_ptr<Child> client_;
};

TEST_P(XdsInterop, CallsSpreadFollowEndpointChangesAndSurviveAControlPlaneRestart) {
  WriteEndpoints({0, 1, 2});
  StartControlPlane();
  StartClient();
  const std::string pod0 = PodName(0), pod1 = PodName(1), pod2 = PodName(2), pod3 = PodName(3);

  // 1. Calls succeed and reach every endpoint the control plane serves.
  Await([&](const Counts& c) { return c.pods.size() == 3; }, milliseconds(20000),
        "calls to all three pods");
  std::map<std::string, std::uint64_t> total;
  for (int i = 0; i < 5; ++i) {
    Counts counts = NextCounts();
    EXPECT_EQ(counts.failed, 0u) << counts.raw;
    for (const auto& [pod, n] : counts.pods) total[pod] += n;
  }
  EXPECT_FALSE(total.contains(pod3)) << "pod-3 is not an endpoint yet";
  std::uint64_t sum = total[pod0] + total[pod1] + total[pod2];
  ASSERT_GT(sum, 30u);
  for (const std::string& pod : {pod0, pod1, pod2}) {
    EXPECT_GT(total[pod], sum / 6) << pod << " got " << total[pod] << " of " << sum;
  }

  // 2. An added endpoint takes calls within a second.
  WriteEndpoints({0, 1, 2, 3});
  milliseconds added = Await([&](const Counts& c) { return c.pods.contains(pod3); },
                             milliseconds(5000), "calls to the added pod");
  EXPECT_LE(added, kFollowBudget);
  std::cout << "[ INFO     ] added endpoint took calls after " << added.count() << " ms\n";

  // 3. A removed endpoint stops getting calls within a second, without failures.
  WriteEndpoints({1, 2, 3});
  milliseconds removed =
      Await([&](const Counts& c) { return !c.pods.contains(pod0) && c.ok() > 0; },
            milliseconds(5000), "no calls to the removed pod");
  EXPECT_LE(removed, kFollowBudget + kInterval);  // the line in flight may still count it
  std::cout << "[ INFO     ] removed endpoint left after " << removed.count() << " ms\n";
  for (int i = 0; i < 3; ++i) {
    Counts counts = NextCounts();
    EXPECT_FALSE(counts.pods.contains(pod0)) << counts.raw;
    EXPECT_EQ(counts.failed, 0u) << counts.raw;
  }

  // 4. The control plane goes away: calls keep working on the last good endpoints.
  StopControlPlane();
  for (int i = 0; i < 5; ++i) {
    Counts counts = NextCounts();
    EXPECT_GT(counts.ok(), 0u) << counts.raw;
    EXPECT_EQ(counts.failed, 0u) << counts.raw;
  }
  // ... and when it is back, the client follows changes again.
  WriteEndpoints({2, 3});
  StartControlPlane();
  Await([&](const Counts& c) { return !c.pods.contains(pod1) && c.ok() > 0; }, milliseconds(15000),
        "following a change after the control plane restarted");
  Counts after = NextCounts();
  EXPECT_THAT(after.pods, ::testing::Each(::testing::Key(::testing::AnyOf(pod2, pod3))))
      << after.raw;
  EXPECT_EQ(after.failed, 0u) << after.raw;
}

TEST_P(XdsInterop, AClientInAZoneWithEnoughCapacityStaysInItsZone) {
  // Two pods per zone, clients only in zone-a (the Nodes list both zones): zone-a has
  // half the capacity for half the clients, so its clients stay home (gRPC priority 0).
  WriteBootstrap("zone-a");
  WriteEndpoints({0, 1, 2, 3});
  StartControlPlane();
  StartClient();
  std::set<std::string> zone_a;
  for (const PodSpec& pod : node_->plan().pods) {
    if (pod.zone == "zone-a") zone_a.insert(pod.name);
  }
  Await([&](const Counts& c) { return c.ok() > 0; }, milliseconds(20000), "first calls");
  std::map<std::string, std::uint64_t> total;
  for (int i = 0; i < 5; ++i) {
    Counts counts = NextCounts();
    EXPECT_EQ(counts.failed, 0u) << counts.raw;
    for (const auto& [pod, n] : counts.pods) total[pod] += n;
  }
  for (const auto& [pod, n] : total) EXPECT_TRUE(zone_a.contains(pod)) << pod << " got " << n;
  EXPECT_EQ(total.size(), zone_a.size()) << "both zone-a pods share the calls";

  // Zone-a's pods go away: the client spills to zone-b (priority 1) without failing.
  WriteEndpoints({2, 3});
  Await(
      [&](const Counts& c) {
        return c.ok() > 0 && !c.pods.contains(PodName(0)) && !c.pods.contains(PodName(1));
      },
      milliseconds(5000), "spill to zone-b");
}

INSTANTIATE_TEST_SUITE_P(Clients, XdsInterop, ::testing::Values("cpp", "node"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skewless::lab
