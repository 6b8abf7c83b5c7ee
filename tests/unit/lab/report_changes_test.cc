// The report's connection view: where clients were over time, and what a pod added or
// removed mid-run shows, from loadgen timelines built by hand.
#include <gtest/gtest.h>

#include <sstream>

#include "absl/strings/str_cat.h"
#include "skewless/lab/report.h"

namespace skewless::lab {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kStart = 1'765'000'000'000;  // the measured period's start, Unix ms

loadgen::ClientResult Client(std::vector<std::pair<int64_t, std::string>> timeline) {
  loadgen::ClientResult client;
  client.pod_timeline = std::move(timeline);
  return client;
}

struct PlannedRun {
  LabConfig config;
  LabPlan plan;
};

// Three pods, a 10 s run; with `late`, a fourth pod that joins.
PlannedRun ThreePods(bool late) {
  PlannedRun run;
  run.config.duration = milliseconds(10000);
  if (late) run.config.add_pod_at = milliseconds(2000);
  run.config.pods_per_zone = {3};
  run.config.zones = {"zone-a"};
  auto plan = Plan(run.config);
  EXPECT_TRUE(plan.ok()) << plan.status();
  run.plan = *plan;
  return run;
}

// A failed call says which gRPC status it failed with, in the JSON and the printed report:
// "1 error" alone cannot tell a refused connect from a deadline.
TEST(Report, ErrorsAreBrokenDownByGrpcStatus) {
  PlannedRun run = ThreePods(false);
  loadgen::Result result;
  result.errors = 3;
  result.errors_by_code = {{"UNAVAILABLE", 2}, {"DEADLINE_EXCEEDED", 1}};
  LabReport report = BuildReport(run.plan, run.config, result, {});
  EXPECT_EQ(ToJson(report)["errors_by_code"],
            (nlohmann::json{{"DEADLINE_EXCEEDED", 1}, {"UNAVAILABLE", 2}}));
  std::ostringstream printed;
  PrintReport(report, printed);
  EXPECT_NE(printed.str().find("errors by gRPC status: DEADLINE_EXCEEDED=1 UNAVAILABLE=2"),
            std::string::npos)
      << printed.str();
}

TEST(ChangeReport, ConnectionsFollowEachClientsLatestPodAndSpreadIsOverListedPods) {
  PlannedRun run = ThreePods(false);
  loadgen::Result result;
  // 0: pod-0 throughout; 1: pod-0, then pod-1 at 5 s; 2: pod-2; 3: pod-0 from 9 s.
  result.clients = {
      Client({{kStart - 100, "pod-0"}}), Client({{kStart - 50, "pod-0"}, {kStart + 5000, "pod-1"}}),
      Client({{kStart - 10, "pod-2"}}), Client({{kStart - 10, "pod-1"}, {kStart + 9000, "pod-0"}})};
  result.clients[1].reconnects_by_age = 1;
  result.clients[3].reconnects_after_error = 1;
  LabReport report = BuildReport(run.plan, run.config, result, {});
  AddChangeReport(run.plan, run.config, result, kStart, {}, report);
  // At the end: pod-0 2, pod-1 1, pod-2 1: busiest 2 over a mean of 4/3.
  EXPECT_DOUBLE_EQ(report.connections_max_over_mean_end, 1.5);
  EXPECT_EQ(report.pods[0].connections_end, 2);
  EXPECT_EQ(report.pods[1].connections_end, 1);
  // Some pod held 2 at every moment (pod-0, then pod-1 from 5 s, then pod-0 from 9 s):
  // the moves show in where the clients were, not in the spread.
  EXPECT_DOUBLE_EQ(report.connections_max_over_mean_worst, 1.5);
  EXPECT_DOUBLE_EQ(report.connections_max_over_mean_mean, 1.5);
  EXPECT_EQ(report.reconnects_by_age, 1u);
  EXPECT_EQ(report.reconnects_after_error, 1u);
}

TEST(ChangeReport, AnAddedPodsTimeToEightyPercentOfItsFairShareIsFromItsListing) {
  PlannedRun run = ThreePods(true);
  loadgen::Result result;
  // 8 clients over 4 pods once pod-3 joins (listed 2 s in): a fair share of 2, so 80% is
  // 1.6 connections: its second client, 3.5 s after the listing, reaches it.
  for (int i = 0; i < 6; ++i) {
    result.clients.push_back(Client({{kStart - 100, absl::StrCat("pod-", i % 3)}}));
  }
  result.clients.push_back(Client({{kStart - 100, "pod-0"}, {kStart + 3000, "pod-3"}}));
  result.clients.push_back(Client({{kStart - 100, "pod-1"}, {kStart + 5500, "pod-3"}}));
  std::vector<PodChange> changes = {
      {PodChange::kAdded, 3, "pod-3", milliseconds(2000), kStart + 2000}};
  LabReport report = BuildReport(run.plan, run.config, result, {});
  AddChangeReport(run.plan, run.config, result, kStart, changes, report);
  EXPECT_EQ(report.added_pod, "pod-3");
  EXPECT_EQ(report.added_pod_connections_end, 2);
  EXPECT_DOUBLE_EQ(report.added_pod_connection_share_end, 0.25);
  EXPECT_DOUBLE_EQ(report.added_pod_fair_share, 0.25);
  EXPECT_EQ(report.added_pod_ms_to_80pct_fair, 3500);
}

TEST(ChangeReport, ARemovedPodsClientsAreCountedAndThoseThatNeverMovedShow) {
  PlannedRun run = ThreePods(false);
  loadgen::Result result;
  result.clients = {Client({{kStart - 100, "pod-0"}, {kStart + 2100, "pod-1"}}),
                    Client({{kStart - 100, "pod-0"}}),  // never answered again
                    Client({{kStart - 100, "pod-2"}})};
  std::vector<PodChange> changes = {
      {PodChange::kRemoved, 0, "pod-0", milliseconds(2000), kStart + 2000}};
  LabReport report = BuildReport(run.plan, run.config, result, {});
  AddChangeReport(run.plan, run.config, result, kStart, changes, report);
  EXPECT_EQ(report.removed_pod, "pod-0");
  EXPECT_EQ(report.removed_pod_clients, 2);
  EXPECT_EQ(report.removed_pod_clients_at_end, 1);
  // Over the two pods left: one client each.
  EXPECT_DOUBLE_EQ(report.connections_max_over_mean_end, 1.0);
}

}  // namespace
}  // namespace skewless::lab
