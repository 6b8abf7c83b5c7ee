// The LRS client (the agent's and the splicer's) against a gRPC C++ LoadReportingService on
// loopback: the first request's Node, reports that follow the server's interval and cluster list, a
// new stream after the server goes away, and a server without LRS.
#include "skewless/loadreport/lrs_client.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"
#include "fake_lrs.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace skewless::loadreport {
namespace {

using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;
using skewless::testing::FakeLrs;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Two clusters of one endpoint each; every sample opens one more connection to each.
class GrowingLoad final : public LoadSource {
 public:
  std::vector<EndpointLoadSample> SampleLoads() override {
    std::lock_guard lock(mutex_);
    ++samples_;
    return {{.endpoint = {.key = {"echo", "10.0.0.1", 8080}, .zone = "zone-a", .backend_id = 1},
             .in_progress = 2,
             .issued_total = samples_},
            {.endpoint = {.key = {"web", "10.0.1.1", 8080}, .zone = "zone-b", .backend_id = 2},
             .in_progress = 5,
             .issued_total = samples_}};
  }
  void OnReportSent(ReportedShares shares) override {
    std::lock_guard lock(mutex_);
    shares_ = std::move(shares);
  }
  ReportedShares shares() {
    std::lock_guard lock(mutex_);
    return shares_;
  }

 private:
  std::mutex mutex_;
  std::uint64_t samples_ = 0;
  ReportedShares shares_;
};

LoadStatsResponse Asking(std::vector<std::string> clusters, bool all,
                         std::chrono::milliseconds interval) {
  LoadStatsResponse response;
  for (const std::string& cluster : clusters) response.add_clusters(cluster);
  response.set_send_all_clusters(all);
  response.mutable_load_reporting_interval()->set_seconds(interval.count() / 1000);
  response.mutable_load_reporting_interval()->set_nanos(
      static_cast<std::int32_t>(interval.count() % 1000 * 1'000'000));
  return response;
}

LrsClientOptions Options(const std::string& server) {
  return {.servers = {server},
          .node_name = "node-1",
          .zone = "zone-a",
          .initial_backoff = 50ms,
          .max_backoff = 200ms,
          .min_interval = 100ms};
}

TEST(LrsClient, SendsTheAgentsNodeThenReportsTheAskedClustersAtTheAskedInterval) {
  FakeLrs server(Asking({"web"}, false, 200ms));
  GrowingLoad load;
  prometheus::Registry registry;
  LrsClient client(Options(server.address()), load, registry);
  client.Start();
  ASSERT_TRUE(server.AwaitReports(3));
  client.Stop();

  std::lock_guard lock(server.mutex_);
  ASSERT_EQ(server.firsts_.size(), 1u);
  const auto& node = server.firsts_[0].node();
  EXPECT_EQ(node.id(), "node-1");
  EXPECT_EQ(node.user_agent_name(), "skewless-agent");
  EXPECT_EQ(node.locality().zone(), "zone-a");
  EXPECT_EQ(server.firsts_[0].cluster_stats_size(), 0);
  for (const auto& [at, report] : server.reports_) {
    EXPECT_FALSE(report.has_node());
    ASSERT_EQ(report.cluster_stats_size(), 1) << report.DebugString();
    const auto& stats = report.cluster_stats(0);
    EXPECT_EQ(stats.cluster_name(), "web");
    const auto& endpoint = stats.upstream_locality_stats(0).upstream_endpoint_stats(0);
    EXPECT_EQ(endpoint.total_requests_in_progress(), 5u);
    // One new connection per sample since the previous one.
    EXPECT_EQ(endpoint.total_issued_requests(), 1u);
    const auto covered = std::chrono::seconds(stats.load_report_interval().seconds()) +
                         std::chrono::nanoseconds(stats.load_report_interval().nanos());
    EXPECT_GE(covered, 190ms);
    EXPECT_LT(covered, 3000ms);  // generous: a loaded CI machine
  }
  const auto gap = server.reports_[2].first - server.reports_[1].first;
  EXPECT_GE(gap, 150ms);
  EXPECT_LT(gap, 3000ms);
  EXPECT_THAT(registry.Render(),
              HasSubstr("skewless_agent_lrs_reports_total{server=\"" + server.address() + "\"}"));
  // Only what was reported is this node's share: web's endpoint, not echo's.
  EXPECT_EQ(load.shares(), (ReportedShares{.clusters = {"web"}, .active_conns = {{2, 5}}}));
}

// One endpoint whose open connections the test sets.
class SettableLoad final : public LoadSource {
 public:
  void Set(std::uint64_t active) { active_ = active; }
  std::vector<EndpointLoadSample> SampleLoads() override {
    return {{.endpoint = {.key = {"web", "10.0.1.1", 8080}, .zone = "zone-b", .backend_id = 2},
             .in_progress = active_.load(),
             .issued_total = active_.load()}};
  }
  void OnReportSent(ReportedShares /*shares*/) override {}

 private:
  std::atomic<std::uint64_t> active_{1};
};

TEST(LrsClient, AChangeInTheCountsIsReportedWithinTheChangeIntervalNotTheServersInterval) {
  FakeLrs server(Asking({}, true, 30'000ms));
  SettableLoad load;
  prometheus::Registry registry;
  LrsClientOptions options = Options(server.address());
  options.change_interval = 50ms;
  LrsClient client(options, load, registry);
  client.Start();
  ASSERT_TRUE(server.AwaitReports(1, 5s)) << "the first report comes at the first check";
  std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(server.mutex_);
    EXPECT_EQ(server.reports_.size(), 1u) << "unchanged counts wait for the heartbeat";
  }
  load.Set(3);
  ASSERT_TRUE(server.AwaitReports(2, 5s)) << "a change waits for no 30 s interval";
  client.Stop();
  std::lock_guard lock(server.mutex_);
  const auto& endpoint =
      server.reports_[1].second.cluster_stats(0).upstream_locality_stats(0).upstream_endpoint_stats(
          0);
  EXPECT_EQ(endpoint.total_requests_in_progress(), 3u);
}

TEST(LrsClient, WithoutChangeReportsOnlyTheServersIntervalCounts) {
  FakeLrs server(Asking({}, true, 30'000ms));
  SettableLoad load;
  prometheus::Registry registry;
  LrsClientOptions options = Options(server.address());
  options.change_interval = 0ms;
  LrsClient client(options, load, registry);
  client.Start();
  std::this_thread::sleep_for(200ms);
  load.Set(3);
  EXPECT_FALSE(server.AwaitReports(1, 1s));
  client.Stop();
}

TEST(LrsClient, SendAllClustersReportsEverySteeredCluster) {
  FakeLrs server(Asking({}, true, 100ms));
  GrowingLoad load;
  prometheus::Registry registry;
  LrsClient client(Options(server.address()), load, registry);
  client.Start();
  ASSERT_TRUE(server.AwaitReports(1));
  EXPECT_TRUE(client.connected());
  client.Stop();
  std::lock_guard lock(server.mutex_);
  EXPECT_EQ(server.reports_[0].second.cluster_stats_size(), 2);
}

TEST(LrsClient, ANewStreamFollowsAServerThatCameBack) {
  GrowingLoad load;
  prometheus::Registry registry;
  int port = 0;
  std::unique_ptr<LrsClient> client;
  {
    FakeLrs first(Asking({}, true, 100ms));
    port = first.port();
    client = std::make_unique<LrsClient>(Options(first.address()), load, registry);
    client->Start();
    ASSERT_TRUE(first.AwaitReports(1));
  }
  FakeLrs second(Asking({}, true, 100ms), port);
  ASSERT_TRUE(second.AwaitReports(1)) << "no report after the server came back";
  {
    std::lock_guard lock(second.mutex_);
    EXPECT_EQ(second.firsts_.size(), 1u);
    EXPECT_EQ(second.firsts_[0].node().id(), "node-1");
  }
  client->Stop();
  EXPECT_THAT(registry.Render(), HasSubstr("skewless_agent_lrs_streams_total{server=\"127.0.0.1:" +
                                           std::to_string(port) + "\"} 2"));
}

TEST(LrsClient, AServerWithoutLrsIsRetriedAtTheMaximumBackoffAndStopsPromptly) {
  // A control plane with ADS only: the LRS call is UNIMPLEMENTED.
  int port = 0;
  envoy::service::discovery::v3::AggregatedDiscoveryService::Service ads_only;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&ads_only);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  GrowingLoad load;
  prometheus::Registry registry;
  LrsClientOptions options = Options("127.0.0.1:" + std::to_string(port));
  options.max_backoff = 10s;
  LrsClient client(options, load, registry);
  client.Start();
  std::this_thread::sleep_for(500ms);
  const auto stopping = std::chrono::steady_clock::now();
  client.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, 1s);
  EXPECT_FALSE(client.connected());
  // One attempt, then the long wait (not 50 ms doubling).
  EXPECT_THAT(registry.Render(), HasSubstr("skewless_agent_lrs_streams_total{server=\"127.0.0.1:" +
                                           std::to_string(port) + "\"} 1"));
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace skewless::loadreport
