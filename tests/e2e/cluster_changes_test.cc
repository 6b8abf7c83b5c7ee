// Cluster-wide load while the cluster changes, on the real path (control plane, one agent
// per node, BPF connect hooks, gRPC clients and pods): many nodes reconnecting at once
// after a pod restart, and a pod joining while clients churn. 2 zones x 2 nodes x 3
// clients = 12 connections over 4 pods (a fair share of 3), small enough for CI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lab_fixture.h"
#include "skewless/lab/scenario.h"

namespace skewless::lab {
namespace {

using namespace skewless::lab::testing;
using std::chrono::milliseconds;

LabConfig FourNodesOfThreeClients(const std::string& id) {
  LabConfig config;
  config.id = id;
  config.zones = {"zone-a", "zone-b"};
  config.pods_per_zone = {2, 2};
  config.nodes_per_zone = 2;
  config.clients_per_node = 3;
  config.dataplane = Dataplane::kSkewless;
  config.lb_policy = "least-loaded";
  config.cluster_load = true;
  // A rollout: each node's picks reach the others (LRS, the control plane, ClusterLoad:
  // at most ~0.5 s) before the next node starts.
  config.client_stagger = milliseconds(700);
  config.rate = 600;
  config.concurrency = 2;
  return config;
}

class ClusterChanges : public ::testing::Test {
 protected:
  void SetUp() override {
    SKEWLESS_REQUIRE_ROOT();
    options_.state_dir = TestStateDir();
    options_.bin_dir = SKEWLESS_BIN_DIR;
  }
  void TearDown() override { std::filesystem::remove_all(TestStateDir()); }
  std::string Id(const char* suffix) const {
    return absl::StrCat("c", getpid() % 100000, suffix).substr(0, 8);
  }
  ScenarioOptions options_;
};

// A pod restarted the way a Deployment restarts it: its replacement (a new pod, a new
// address) is listed, then the old pod is unlisted and drains with a GOAWAY, so every
// client it held reconnects at once, from several nodes, within one staleness window.
// Cluster-wide least-loaded has filled the pods evenly (3 each; a rare herd leaves one
// off, 4/3/3/2) and the replacement is the one empty pod in every node's view, so the
// reconnecting clients refill it: the end state is at most 4 on a pod (max/mean 1.33).
// Picks that ignore the other nodes (kube-proxy, node-local) land 12 connections over 4
// pods at random: a pod with 5 or more in about 70% of runs, and the old pod's clients
// spread at random, so 2 of them reach the replacement in only ~16%.
TEST_F(ClusterChanges, EveryClientOfARestartedPodReconnectsAndTheReplacementTakesThem) {
  LabConfig config = FourNodesOfThreeClients(Id("r"));
  config.duration = milliseconds(3000);
  config.add_pod_at = milliseconds(1000);
  config.remove_pod_at = milliseconds(1000);
  auto report = RunOnce(config, options_, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();

  // Every reconnect succeeded: no call failed but those gRPC's own server shutdown may
  // cancel. A C++ server told to shut down cancels (RST_STREAM CANCEL) the calls it has
  // received and not yet started, so a call sent in the instant of the SIGTERM can come
  // back CANCELLED: at most the calls then in flight to the stopped pod. Anything else
  // (UNAVAILABLE: a reconnect refused; DEADLINE_EXCEEDED) is a reconnect that failed.
  const std::string by_code = ToJson(*report)["errors_by_code"].dump();
  const auto cancelled = report->errors_by_code.find("CANCELLED");
  const uint64_t shutdown_cancelled =
      cancelled == report->errors_by_code.end() ? 0 : cancelled->second;
  EXPECT_EQ(report->errors - shutdown_cancelled, 0u) << by_code;
  EXPECT_LE(shutdown_cancelled,
            static_cast<uint64_t>(report->removed_pod_clients * config.concurrency))
      << by_code;
  EXPECT_EQ(report->clients, 12);
  EXPECT_EQ(report->removed_pod, "pod-0");
  EXPECT_GE(report->removed_pod_clients, 1) << "the restarted pod held no client";
  EXPECT_EQ(report->removed_pod_clients_at_end, 0) << "a client stayed on the stopped pod";
  EXPECT_EQ(report->added_pod, "pod-4");
  EXPECT_GE(report->added_pod_connections_end, 2)
      << "the reconnecting clients did not refill the empty replacement";
  EXPECT_LE(report->connections_max_over_mean_end, 4.0 / 3.0 + 1e-9);
  EXPECT_THAT(NetnsOfRun(config.id), ::testing::IsEmpty());
}

// A pod joins while clients reconnect at a steady rate (MaxConnectionAge 8 s: 1.5
// reconnects/s over 12 clients). Each reconnect weighs every node's connections, and the
// new pod is the least loaded once its slow start (0.5 s) has eased, so it reaches 80% of
// its fair share (2 of 12 over 5 pods) before the end. The pods that were there stay
// balanced: least-loaded filled them 3 each and a pod gains a connection only as the
// least loaded, so none ends above 4. What is not asserted: the new pod itself can
// overshoot, since reconnects within one staleness window all see it emptiest (the herd,
// docs/datapath.md; the bench's "pod added" case shows how far). Random picks leave an
// original pod with 5 or more of the 12 in about 70% of runs, and give the new pod a
// fifth of the ~8 reconnects: fewer than 2 in about half the runs. Node-local picks pass
// this bound more often than not here (each node's own 3 clients land on 3 different pods,
// so no pod gets more than 4 of the 4 nodes): the test's hold on cluster-wide load is the
// weaker one of the two, and without churn (no reconnect) the new pod gets nothing.
TEST_F(ClusterChanges, APodJoiningUnderChurnGetsItsShareAndTheRestStayBalanced) {
  LabConfig config = FourNodesOfThreeClients(Id("j"));
  config.duration = milliseconds(5000);
  config.add_pod_at = milliseconds(1000);
  config.max_connection_age = milliseconds(8000);
  config.slow_start_window = milliseconds(500);
  auto report = RunOnce(config, options_, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();

  EXPECT_EQ(report->errors, 0u);
  EXPECT_GT(report->reconnects_by_age, 0u) << "no client reconnected: churn is missing";
  EXPECT_EQ(report->added_pod, "pod-4");
  EXPECT_GE(report->added_pod_ms_to_80pct_fair, 0)
      << "the new pod never held 80% of its fair share; it ended with "
      << report->added_pod_connections_end;
  for (const auto& pod : report->pods) {
    if (pod.pod == report->added_pod) continue;
    EXPECT_LE(pod.connections_end, 4) << pod.pod << " gained while the new pod was emptier";
  }
  EXPECT_THAT(NetnsOfRun(config.id), ::testing::IsEmpty());
}

}  // namespace
}  // namespace skewless::lab
