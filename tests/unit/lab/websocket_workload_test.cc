// The WebSocket workload's plumbing: the client's JSON becomes the report's per-pod
// messages, connections and failures; Plan() refuses it with the HTTP/2 splicer.
#include "skewless/lab/websocket_workload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skewless/lab/websocket_report.h"

namespace skewless::lab {
namespace {

using ::testing::HasSubstr;

nlohmann::json ClientOutput() {
  return nlohmann::json::parse(R"json({
    "schema": "skewless.lab.websocket-load/v1", "target": "198.19.0.10:8080",
    "zone": "zone-a", "offered_rate": 20.0, "elapsed_s": 2.0,
    "connections": [
      {"id": 0, "pod": "pod-1", "pod_zone": "zone-b", "messages": 3, "warmup_messages": 2,
       "failures": 0, "error": "", "rtt_us": [1000, 2000, 3000]},
      {"id": 1, "pod": "pod-1", "pod_zone": "zone-b", "messages": 1, "warmup_messages": 0,
       "failures": 2, "error": "ConnectionClosedError()", "rtt_us": [4000]},
      {"id": 2, "pod": "", "pod_zone": "", "messages": 0, "warmup_messages": 0,
       "failures": 0, "error": "connect refused", "rtt_us": []}]})json");
}

TEST(WebSocketRun, ConnectionsMessagesAndFailuresAreAttributedToTheGreetingPod) {
  auto run = WebSocketRunFromJson(ClientOutput());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->connections_by_pod, (std::map<std::string, int>{{"pod-1", 2}}));
  EXPECT_EQ(run->failed_connections, 2);
  EXPECT_EQ(run->message_failures, 2u);
  EXPECT_EQ(run->result.rpcs, 4u);
  EXPECT_EQ(run->result.warmup_rpcs, 2u);
  EXPECT_EQ(run->result.errors, 2u);
  ASSERT_EQ(run->result.clients.size(), 3u);
  EXPECT_EQ(run->result.clients[0].rpcs_by_pod.at("pod-1"), 3u);
  EXPECT_EQ(run->result.pods.at("pod-1").zone, "zone-b");
  EXPECT_EQ(run->result.latency.count(), 4u);
  EXPECT_EQ(run->result.latency.max_ns(), 4'000'000);
  EXPECT_DOUBLE_EQ(run->result.achieved_rps, 2.0);
}

TEST(WebSocketRun, MergedNodesAddUpAndTheReportCountsConnectionsPerPlannedPod) {
  auto a = WebSocketRunFromJson(ClientOutput());
  auto b = WebSocketRunFromJson(ClientOutput());
  ASSERT_TRUE(a.ok() && b.ok());
  MergeWebSocketRuns(*a, *b);
  EXPECT_EQ(a->connections_by_pod.at("pod-1"), 4);
  EXPECT_EQ(a->failed_connections, 4);
  EXPECT_EQ(a->result.clients.size(), 6u);

  LabConfig config;
  config.workload = Workload::kWebSocket;
  auto plan = Plan(config);  // 6 pods
  ASSERT_TRUE(plan.ok()) << plan.status();
  LabReport report = BuildReport(*plan, config, a->result, {});
  AddWebSocketFigures(*a, report);
  EXPECT_EQ(report.workload, "websocket");
  EXPECT_EQ(report.pods[1].connections, 4);
  EXPECT_EQ(report.pods[0].connections, 0);
  EXPECT_EQ(report.connections_per_pod_max, 4);
  // 4 connections over 6 pods: the idle ones count in the mean.
  EXPECT_DOUBLE_EQ(report.connections_max_over_mean, 6.0);
  EXPECT_EQ(ToJson(report)["websocket"]["failed_connections"], 4);
  EXPECT_EQ(ToJson(report)["pods"][1]["connections"], 4);
}

TEST(WebSocketRun, AnotherSchemaIsRefused) {
  auto run = WebSocketRunFromJson(nlohmann::json{{"schema", "skewless.loadgen/v1"}});
  EXPECT_FALSE(run.ok());
}

TEST(WebSocketPlan, TheSplicerDataplaneIsRefusedSayingWhy) {
  LabConfig config;
  config.workload = Workload::kWebSocket;
  config.dataplane = Dataplane::kSkewlessL7;
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("--dataplane skewless"));
  config.dataplane = Dataplane::kSkewless;
  EXPECT_TRUE(Plan(config).ok());
  EXPECT_EQ(*ParseWorkload("websocket"), Workload::kWebSocket);
  EXPECT_FALSE(ParseWorkload("ws").ok());
}

TEST(WebSocketPlan, PodChangesAndChurnAreRefusedAsGrpcOnly) {
  LabConfig config;
  config.workload = Workload::kWebSocket;
  config.dataplane = Dataplane::kSkewless;
  config.max_connection_age = std::chrono::seconds(4);
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("gRPC workload only"));
  config.max_connection_age = {};
  config.remove_pod_at = std::chrono::seconds(2);
  EXPECT_FALSE(Plan(config).ok());
}

}  // namespace
}  // namespace skewless::lab
