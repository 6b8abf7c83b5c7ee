// The agent's ADS client against the real ADS server (in process, on loopback): what it
// subscribes to, what it hands the handler, NACKs, and failing over between servers.
#include "skewless/agent/ads_client.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "agent_fixtures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/xds/ads_harness.h"

namespace skewless::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Pod;
using testing::Port;
using namespace std::chrono_literals;

// Records what the client delivers; subscribes to the endpoints of every cluster seen.
class RecordingHandler : public AdsHandler {
 public:
  void OnStreamStart(const std::string& server) override {
    std::lock_guard lock(mutex_);
    servers.push_back(server);
    changed_.notify_all();
  }
  absl::Status OnNodeInfo(const std::optional<skewless::agent::v1::NodeInfo>& info) override {
    std::lock_guard lock(mutex_);
    zone = info ? info->zone() : "<none>";
    changed_.notify_all();
    return absl::OkStatus();
  }
  absl::Status OnClusters(const std::vector<envoy::config::cluster::v3::Cluster>& updated,
                          const std::vector<std::string>& removed, bool full_state) override {
    std::lock_guard lock(mutex_);
    ++cluster_responses;
    changed_.notify_all();
    if (reject_clusters) return absl::InvalidArgumentError("cluster default/echo:80: nope");
    if (full_state) clusters.clear();
    for (const auto& cluster : updated) clusters.insert(cluster.name());
    for (const auto& name : removed) clusters.erase(name);
    changed_.notify_all();
    return absl::OkStatus();
  }
  absl::Status OnAssignments(
      const std::vector<envoy::config::endpoint::v3::ClusterLoadAssignment>& updated,
      const std::vector<std::string>& /*removed*/) override {
    std::lock_guard lock(mutex_);
    for (const auto& assignment : updated) {
      endpoint_counts[assignment.cluster_name()] =
          assignment.endpoints_size() == 0 ? 0 : assignment.endpoints(0).lb_endpoints_size();
    }
    changed_.notify_all();
    return absl::OkStatus();
  }
  std::vector<std::string> EndpointSubscriptions() override {
    std::lock_guard lock(mutex_);
    return {clusters.begin(), clusters.end()};
  }

  // Waits until `done()` holds (under the lock); false after 5 s.
  template <typename Done>
  bool Await(Done done) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, done);
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> servers;
  std::string zone;
  std::set<std::string> clusters;
  std::map<std::string, int> endpoint_counts;
  int cluster_responses = 0;
  bool reject_clusters = false;
};

class AdsClientTest : public ::testing::TestWithParam<AdsProtocol> {
 protected:
  void Serve(std::vector<xds::ServicePort> ports) {
    ASSERT_THAT(server_.cache().Update({.ports = xds::SharedPorts(std::move(ports)),
                                        .node_zones = {{"node-1", "zone-a"}}}),
                ::testing::IsEmpty());
  }
  AdsClientOptions Options(std::vector<std::string> servers) {
    return {.servers = std::move(servers),
            .protocol = GetParam(),
            .node_name = "node-1",
            .initial_backoff = 20ms,
            .max_backoff = 100ms};
  }
  std::string Address() { return "127.0.0.1:" + std::to_string(server_.port()); }

  xds::testing::AdsServerFixture server_;
  prometheus::Registry registry_;
  RecordingHandler handler_;
};

TEST_P(AdsClientTest, DeliversNodeClustersAndTheirEndpointsThenChanges) {
  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1"), Pod("10.0.0.2")}),
         Port("web", {"10.96.0.11"}, {Pod("10.0.1.1")})});
  AdsClient client(Options({Address()}), handler_, registry_);
  client.Start();
  ASSERT_TRUE(handler_.Await([&] { return handler_.endpoint_counts.size() == 2; }));
  {
    std::lock_guard lock(handler_.mutex_);
    EXPECT_EQ(handler_.zone, "zone-a");
    EXPECT_THAT(handler_.clusters, ElementsAre("default/echo:80", "default/web:80"));
    EXPECT_EQ(handler_.endpoint_counts["default/echo:80"], 2);
  }
  EXPECT_TRUE(client.connected());

  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1"), Pod("10.0.0.2"), Pod("10.0.0.3")})});
  ASSERT_TRUE(handler_.Await([&] {
    return handler_.endpoint_counts["default/echo:80"] == 3 && handler_.clusters.size() == 1;
  }));
  client.Stop();
  EXPECT_FALSE(client.connected());
}

TEST_P(AdsClientTest, WhatTheHandlerRejectsIsNackedWithItsError) {
  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")})});
  {
    std::lock_guard lock(handler_.mutex_);
    handler_.reject_clusters = true;
  }
  AdsClient client(Options({Address()}), handler_, registry_);
  client.Start();
  ASSERT_TRUE(handler_.Await([&] { return handler_.cluster_responses >= 1; }));
  // The server sees the NACK (its metric counts it, labelled by type).
  bool nacked = false;
  for (int i = 0; i < 100 && !nacked; ++i) {
    nacked = server_.registry().Render().find("skewless_xds_nacks_total{type=\"Cluster\"} 1") !=
             std::string::npos;
    if (!nacked) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(nacked) << server_.registry().Render();
  EXPECT_THAT(registry_.Render(), HasSubstr("skewless_agent_xds_nacks_total{type=\"Cluster\"} 1"));
}

TEST_P(AdsClientTest, FailsOverToTheNextServer) {
  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1")})});
  // A port nobody listens on (bound and closed) first.
  int dead_port = 0;
  {
    xds::testing::AdsServerFixture gone;
    dead_port = gone.port();
  }
  const std::string dead = "127.0.0.1:" + std::to_string(dead_port);
  AdsClient client(Options({dead, Address()}), handler_, registry_);
  client.Start();
  ASSERT_TRUE(handler_.Await([&] { return handler_.endpoint_counts.size() == 1; }));
  // The dead address was tried first; only a stream that opened starts a re-read.
  EXPECT_THAT(registry_.Render(),
              HasSubstr("skewless_agent_xds_streams_total{server=\"" + dead + "\"} 1"));
  std::lock_guard lock(handler_.mutex_);
  EXPECT_THAT(handler_.servers, ElementsAre(Address()));
}

INSTANTIATE_TEST_SUITE_P(Protocols, AdsClientTest,
                         ::testing::Values(AdsProtocol::kDelta, AdsProtocol::kStateOfTheWorld),
                         [](const auto& info) {
                           return info.param == AdsProtocol::kDelta ? std::string("Delta")
                                                                    : std::string("Sotw");
                         });

}  // namespace
}  // namespace skewless::agent
