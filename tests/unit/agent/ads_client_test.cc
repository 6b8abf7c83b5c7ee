// The agent's ADS client against the real ADS server (in process, on loopback): what it
// subscribes to, what it hands the handler, NACKs, and failing over between servers.
#include "skewless/agent/ads_client.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "ads_protocols.h"
#include "agent_fixtures.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording_handler.h"
#include "tests/unit/xds/ads_harness.h"

namespace skewless::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::Pod;
using testing::Port;
using namespace std::chrono_literals;

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
  testing::RecordingHandler handler_;
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

TEST_P(AdsClientTest, AClusterLoadSubscriptionToAControlPlaneWithoutThemChangesNothing) {
  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1"), Pod("10.0.0.2")})});
  AdsClientOptions options = Options({Address()});
  options.cluster_load = true;
  AdsClient client(options, handler_, registry_);
  client.Start();
  ASSERT_TRUE(handler_.Await([&] { return handler_.endpoint_counts.size() == 1; }));
  // A later change still arrives on the same stream, and nothing was NACKed.
  Serve({Port("echo", {"10.96.0.10"}, {Pod("10.0.0.1"), Pod("10.0.0.2"), Pod("10.0.0.3")})});
  ASSERT_TRUE(handler_.Await([&] { return handler_.endpoint_counts["default/echo:80"] == 3; }));
  EXPECT_TRUE(client.connected());
  EXPECT_THAT(registry_.Render(), ::testing::Not(HasSubstr("skewless_agent_xds_nacks_total{")));
  EXPECT_THAT(registry_.Render(),
              HasSubstr("skewless_agent_xds_streams_total{server=\"" + Address() + "\"} 1"));
}

INSTANTIATE_TEST_SUITE_P(Protocols, AdsClientTest, ::testing::ValuesIn(testing::kAdsProtocols),
                         testing::AdsProtocolName);

}  // namespace
}  // namespace skewless::agent
