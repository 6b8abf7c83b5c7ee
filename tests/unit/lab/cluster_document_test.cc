// The lab's cluster document is what the control plane's file source accepts, and carries
// the Service's policy, zones, nodes and pod states through it.
#include "skewless/lab/cluster_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "skewless/controlplane/file_source.h"
#include "skewless/lab/shipped_path.h"

namespace skewless::lab {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

LabConfig MultiNode() {
  LabConfig config;
  config.id = "d1";
  config.zones = {"zone-a", "zone-b"};
  config.pods_per_zone = {2, 2};
  config.nodes_per_zone = 2;
  config.clients_per_node = 1;
  config.traffic_distribution = "PreferSameZone";
  config.lb_policy = "random";
  return config;
}

controlplane::Snapshot Parse(const std::string& yaml) {
  auto snapshot = controlplane::ParseSnapshotYaml(yaml, "lab");
  EXPECT_TRUE(snapshot.ok()) << snapshot.status() << "\n" << yaml;
  return snapshot.ok() ? *snapshot : controlplane::Snapshot{};
}

TEST(ClusterDocument, TheFileSourceReadsEveryNodeTheServicePolicyAndEveryPod) {
  LabConfig config = MultiNode();
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto snapshot = Parse(ClusterDocument(config, *plan, {}, /*splice=*/false));
  ASSERT_EQ(snapshot.nodes.size(), 4u);
  EXPECT_EQ(snapshot.FindNode("zone-b-1")->zone, "zone-b");
  const controlplane::ServiceKey key{"default", "echo"};
  const auto* service = snapshot.FindService(key);
  ASSERT_NE(service, nullptr);
  EXPECT_THAT(service->cluster_ips, ElementsAre("198.19.0.10"));
  EXPECT_EQ(service->traffic_distribution, controlplane::TrafficDistribution::kPreferSameZone);
  EXPECT_EQ(service->annotations.at("skewless.io/load-balancing"), "random");
  ASSERT_EQ(service->ports.size(), 1u);
  EXPECT_EQ(service->ports[0].port, 8080);
  EXPECT_EQ(service->ports[0].app_protocol, "") << "L4: nothing is spliced";
  const auto* endpoints = snapshot.FindEndpoints(key, "grpc");
  ASSERT_NE(endpoints, nullptr);
  ASSERT_EQ(endpoints->endpoints.size(), 4u);
  for (const auto& e : endpoints->endpoints) {
    auto pod = std::find_if(plan->pods.begin(), plan->pods.end(),
                            [&](const PodSpec& p) { return p.ip == e.endpoint.addresses[0]; });
    ASSERT_NE(pod, plan->pods.end());
    EXPECT_EQ(e.endpoint.zone, pod->zone);
    EXPECT_EQ(e.endpoint.node_name, pod->node);
    EXPECT_TRUE(e.endpoint.conditions.ready);
  }
}

TEST(ClusterDocument, L7MarksThePortGrpcSoAgentsWithASplicerSpliceIt) {
  LabConfig config = MultiNode();
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok());
  auto snapshot = Parse(ClusterDocument(config, *plan, {}, /*splice=*/true));
  ASSERT_FALSE(snapshot.services.empty());
  EXPECT_EQ(snapshot.services[0].ports[0].app_protocol, "grpc");
}

TEST(ClusterDocument, AWebSocketPortIsPlainHttpSoNoAgentSplicesIt) {
  LabConfig config = MultiNode();
  config.workload = Workload::kWebSocket;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok());
  auto snapshot = Parse(ClusterDocument(config, *plan, {}, /*splice=*/false));
  ASSERT_FALSE(snapshot.services.empty());
  EXPECT_EQ(snapshot.services[0].ports[0].name, "http");
  EXPECT_EQ(snapshot.services[0].ports[0].app_protocol, "");
}

TEST(ClusterDocument, PodStatesBecomeConditionsOrLeaveTheSlice) {
  LabConfig config = MultiNode();
  config.traffic_distribution = "";
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok());
  auto snapshot = Parse(ClusterDocument(
      config, *plan,
      {PodEndpoint::kRemoved, PodEndpoint::kTerminating, PodEndpoint::kReady, PodEndpoint::kReady},
      false));
  EXPECT_EQ(snapshot.services[0].traffic_distribution, controlplane::TrafficDistribution::kNone);
  const auto* endpoints = snapshot.FindEndpoints({"default", "echo"}, "grpc");
  ASSERT_NE(endpoints, nullptr);
  ASSERT_EQ(endpoints->endpoints.size(), 3u);
  for (const auto& e : endpoints->endpoints) {
    EXPECT_NE(e.endpoint.addresses[0], plan->pods[0].ip) << "removed";
    if (e.endpoint.addresses[0] == plan->pods[1].ip) {
      EXPECT_FALSE(e.endpoint.conditions.ready);
      EXPECT_TRUE(e.endpoint.conditions.serving);
      EXPECT_TRUE(e.endpoint.conditions.terminating);
    }
  }
  // Every pod gone: still a valid document, with an empty slice.
  auto empty = Parse(
      ClusterDocument(config, *plan, std::vector<PodEndpoint>(4, PodEndpoint::kRemoved), false));
  EXPECT_EQ(empty.services.size(), 1u);
}

TEST(ShippedPath, EachAgentNamesItsNodeZoneCgroupPinsAndOwnPort) {
  LabConfig config = MultiNode();
  config.agent_flags = {"--log-level", "debug"};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok());
  auto a = AgentArgv(config, "/bin", plan->clients[1], 1, "/cg/n1", "/pins/n1");
  auto b = AgentArgv(config, "/bin", plan->clients[2], 2, "/cg/n2", "/pins/n2");
  auto after = [](const std::vector<std::string>& argv, const std::string& flag) {
    auto it = std::find(argv.begin(), argv.end(), flag);
    return it == argv.end() || it + 1 == argv.end() ? std::string("<missing>") : *(it + 1);
  };
  EXPECT_EQ(after(a, "--node-name"), plan->clients[1].node);
  EXPECT_EQ(after(a, "--zone"), plan->clients[1].zone);
  EXPECT_EQ(after(a, "--cgroup"), "/cg/n1");
  EXPECT_EQ(after(a, "--pin-dir"), "/pins/n1");
  EXPECT_EQ(after(a, "--xds-server"), kControlPlaneXdsAddress);
  EXPECT_NE(after(a, "--http-listen"), after(b, "--http-listen"));
  EXPECT_THAT(a, Not(Contains("--splicer-address"))) << "L4 agents have no splicer";
  EXPECT_EQ(a.back(), "debug") << "extra flags come last, verbatim";
  EXPECT_THAT(a, Not(Contains("--no-load-reporting"))) << "cluster-wide is the default";
  LabConfig local = config;
  local.cluster_load = false;
  auto node_local = AgentArgv(local, "/bin", plan->clients[1], 1, "/cg/n1", "/pins/n1");
  EXPECT_THAT(node_local, Contains("--no-load-reporting"));
  EXPECT_EQ(after(node_local, "--cluster-load-max-age"), "0") << "no ClusterLoad in either";

  config.dataplane = Dataplane::kSkewlessL7;
  auto l7 = AgentArgv(config, "/bin", plan->clients[0], 0, "/cg/n0", "/pins/n0");
  EXPECT_EQ(after(l7, "--splicer-address"), kSplicerAddress);
  EXPECT_EQ(after(l7, "--splicer-mark"), std::to_string(kSplicerMark));
  EXPECT_EQ(after(SplicerArgv("/bin", "/pins/n0"), "--pin-dir"), "/pins/n0");

  config.controlplane_flags = {"--max-streams", "64"};
  auto cp = ControlPlaneArgv(config, "/bin", "/run/doc.yaml");
  EXPECT_EQ(after(cp, "--file"), "/run/doc.yaml");
  EXPECT_EQ(after(cp, "--xds-listen"), kControlPlaneXdsAddress);
  EXPECT_EQ(cp.back(), "64");
}

}  // namespace
}  // namespace skewless::lab
