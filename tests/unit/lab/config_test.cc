// Lab flags: valid configs expand to pods and clients; bad ones name the flag.
#include "skewless/lab/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace skewless::lab {
namespace {

using ::testing::HasSubstr;

TEST(LabPlan, DefaultIsSixPodsInThreeZonesWithClientsInEveryZone) {
  auto plan = Plan(LabConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->pods.size(), 6u);
  EXPECT_EQ(plan->pods[0].zone, "zone-a");
  EXPECT_EQ(plan->pods[5].zone, "zone-c");
  EXPECT_EQ(plan->pods[0].ip, "198.18.0.10");
  ASSERT_EQ(plan->clients.size(), 3u);
  int connections = 0;
  for (const auto& c : plan->clients) connections += c.connections;
  EXPECT_EQ(connections, 12);
  EXPECT_EQ(plan->id.size(), 6u);
}

TEST(LabPlan, UnevenPodsPerZoneAndRemainderClientsGoToFirstZones) {
  LabConfig config;
  config.pods_per_zone = {3, 1, 0};
  config.clients = 5;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->pods.size(), 4u);
  EXPECT_EQ(plan->pods[3].zone, "zone-b");
  EXPECT_EQ(plan->clients[0].connections, 2);
  EXPECT_EQ(plan->clients[1].connections, 2);
  EXPECT_EQ(plan->clients[2].connections, 1);
  // Client links are distinct routed /30s.
  EXPECT_NE(plan->clients[0].ip, plan->clients[1].ip);
  EXPECT_EQ(plan->clients[1].gateway, "198.18.1.5");
}

TEST(LabPlan, SlowPodGetsItsFactor) {
  LabConfig config;
  config.slow_pods = {{"pod-2", 10}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->pods[2].slow_factor, 10);
  EXPECT_EQ(plan->pods[1].slow_factor, 1);
}

TEST(LabPlan, TwelveNodesWithOneClientEachHaveUniqueNamesAndAddresses) {
  LabConfig config;
  config.nodes_per_zone = 4;
  config.clients_per_node = 1;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->nodes.size(), 12u);
  ASSERT_EQ(plan->clients.size(), 12u);
  std::set<std::string> nodes, ips, gateways, netns;
  for (const auto& client : plan->clients) {
    EXPECT_EQ(client.connections, 1) << client.node;
    EXPECT_EQ(client.node.rfind(client.zone + "-", 0), 0u) << client.node << " in " << client.zone;
    nodes.insert(client.node);
    ips.insert(client.ip);
    gateways.insert(client.gateway);
    netns.insert(ClientNetns(plan->id, client.node));
  }
  EXPECT_EQ(nodes.size(), 12u);
  EXPECT_EQ(ips.size(), 12u);
  EXPECT_EQ(gateways.size(), 12u);
  EXPECT_EQ(netns.size(), 12u);
  for (const auto& ip : ips) EXPECT_EQ(gateways.count(ip), 0u) << ip << " is also a gateway";
  // Pods sit on the nodes of their own zone, spread over them.
  for (const auto& pod : plan->pods) {
    EXPECT_EQ(pod.node.rfind(pod.zone + "-", 0), 0u) << pod.name << " on " << pod.node;
    EXPECT_EQ(nodes.count(pod.node), 1u) << pod.node;
  }
  EXPECT_NE(plan->pods[0].node, plan->pods[1].node) << "two pods of zone-a on two of its nodes";
}

TEST(LabPlan, ClientsTotalGoesToNodeZeroOfEveryZoneFirst) {
  LabConfig config;
  config.nodes_per_zone = 2;
  config.clients = 4;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->clients.size(), 4u) << "nodes without clients get no namespace";
  EXPECT_EQ(plan->clients[0].node, "zone-a-0");
  EXPECT_EQ(plan->clients[1].node, "zone-b-0");
  EXPECT_EQ(plan->clients[2].node, "zone-c-0");
  EXPECT_EQ(plan->clients[3].node, "zone-a-1");
  EXPECT_EQ(plan->nodes.size(), 6u) << "every node is still a node of the cluster";
}

TEST(LabPlan, ClientLinksContinueIntoTheNextSlash24) {
  LabConfig config;
  config.zones = {"a", "b"};
  config.pods_per_zone = {1, 1};
  config.nodes_per_zone = 40;
  config.clients_per_node = 1;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->clients.size(), 80u);
  EXPECT_EQ(plan->clients[63].ip, "198.18.1.254");
  EXPECT_EQ(plan->clients[64].gateway, "198.18.2.1");
  EXPECT_EQ(plan->clients[64].ip, "198.18.2.2");
}

TEST(LabPlan, ResourcesListEveryNodesNamespaceAndCgroupChildrenFirst) {
  LabConfig config;
  config.id = "r1";
  config.nodes_per_zone = 2;
  config.clients_per_node = 1;
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  PlannedResources resources = PlanResources(*plan, "/cg/skewless-lab-r1");
  EXPECT_EQ(resources.netns.size(), 1u + 6u + 6u);
  EXPECT_EQ(std::set<std::string>(resources.netns.begin(), resources.netns.end()).size(),
            resources.netns.size());
  EXPECT_THAT(resources.netns, ::testing::Contains("skl-r1-client-zone-c-1"));
  for (const auto& netns : resources.netns) EXPECT_EQ(netns.rfind("skl-r1-", 0), 0u) << netns;
  ASSERT_EQ(resources.cgroups.size(), 6u + 2u);
  EXPECT_EQ(resources.cgroups[0], "/cg/skewless-lab-r1/clients/zone-a-0");
  EXPECT_EQ(resources.cgroups[6], "/cg/skewless-lab-r1/clients");
  EXPECT_EQ(resources.cgroups[7], "/cg/skewless-lab-r1");
}

struct BadCase {
  const char* what;
  std::function<void(LabConfig&)> mutate;
  const char* flag;
};
void PrintTo(const BadCase& bad, std::ostream* out) { *out << bad.what; }

class LabPlanRejects : public ::testing::TestWithParam<BadCase> {};

std::string CaseName(const ::testing::TestParamInfo<BadCase>& info) {
  std::string name;
  bool upper = true;
  for (const char* c = info.param.what; *c; ++c) {
    if (*c == ' ') {
      upper = true;
      continue;
    }
    name += upper ? static_cast<char>(std::toupper(*c)) : *c;
    upper = false;
  }
  return name;
}

TEST_P(LabPlanRejects, NamingTheFlag) {
  LabConfig config;
  GetParam().mutate(config);
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok()) << GetParam().what;
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr(GetParam().flag));
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, LabPlanRejects,
    ::testing::Values(
        BadCase{"zero pods",
                [](LabConfig& c) {
                  c.pods_per_zone = {0, 0, 0};
                },
                "at least 1 pod"},
        BadCase{"too many pods",
                [](LabConfig& c) {
                  c.pods_per_zone = {300, 0, 0};
                },
                "--pods"},
        BadCase{"counts vs zones",
                [](LabConfig& c) {
                  c.pods_per_zone = {1, 1};
                },
                "--pods-per-zone"},
        BadCase{"unknown client zone", [](LabConfig& c) { c.client_zones = {"zone-z"}; },
                "--client-zones: unknown zone 'zone-z'"},
        BadCase{"bad zone name",
                [](LabConfig& c) {
                  c.zones = {"Zone A", "b", "c"};
                },
                "--zones"},
        BadCase{"duplicate zone",
                [](LabConfig& c) {
                  c.zones = {"a", "a", "c"};
                },
                "twice"},
        BadCase{"unknown slow pod",
                [](LabConfig& c) {
                  c.slow_pods = {{"pod-9", 2}};
                },
                "--slow-pod: no pod named 'pod-9'"},
        BadCase{"bad id", [](LabConfig& c) { c.id = "Has Space"; }, "--id"},
        BadCase{"zero clients", [](LabConfig& c) { c.clients = 0; }, "--clients"},
        BadCase{"zero nodes per zone", [](LabConfig& c) { c.nodes_per_zone = 0; },
                "--nodes-per-zone"},
        BadCase{"too many nodes per zone", [](LabConfig& c) { c.nodes_per_zone = 65; },
                "--nodes-per-zone"},
        BadCase{"too many client nodes",
                [](LabConfig& c) {
                  c.zones = {"a", "b", "c", "d", "e"};
                  c.pods_per_zone = {1, 1, 1, 1, 1};
                  c.nodes_per_zone = 60;
                },
                "--nodes-per-zone: 300 client nodes"},
        BadCase{"negative clients per node", [](LabConfig& c) { c.clients_per_node = -1; },
                "--clients-per-node"},
        BadCase{"too many clients in total",
                [](LabConfig& c) {
                  c.nodes_per_zone = 4;
                  c.clients_per_node = 100;
                },
                "--clients-per-node"},
        BadCase{"vip in pod range", [](LabConfig& c) { c.service_vip = "198.18.0.50"; }, "--vip"},
        BadCase{"vip not an address", [](LabConfig& c) { c.service_vip = "echo"; }, "--vip"},
        BadCase{"zero concurrency", [](LabConfig& c) { c.concurrency = 0; }, "--concurrency"},
        BadCase{"tiny duration", [](LabConfig& c) { c.duration = std::chrono::milliseconds(1); },
                "--duration"}),
    CaseName);

TEST(Dataplane, ParsesKnownNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseDataplane("nftables"), Dataplane::kNftables);
  EXPECT_EQ(*ParseDataplane("iptables"), Dataplane::kIptables);
  EXPECT_THAT(std::string(ParseDataplane("ipvs").status().message()), HasSubstr("--dataplane"));
}

TEST(LabPlan, AnAddedPodIsPlannedLastInItsZoneAndMarkedToJoinLate) {
  LabConfig config;
  config.add_pod_at = std::chrono::milliseconds(2000);
  config.add_pod_zone = "zone-b";
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->pods.size(), 7u);
  EXPECT_EQ(plan->pods[6].name, "pod-6");
  EXPECT_EQ(plan->pods[6].zone, "zone-b");
  EXPECT_EQ(plan->pods[6].ip, "198.18.0.16");
  EXPECT_TRUE(plan->pods[6].joins_late);
  EXPECT_FALSE(plan->pods[0].joins_late);
}

TEST(LabPlan, PodChangesAndChurnOutsideTheRunAreRefusedNamingTheFlag) {
  const auto error = [](LabConfig config) { return std::string(Plan(config).status().message()); };
  LabConfig late;
  late.add_pod_at = std::chrono::milliseconds(20000);  // after the 10 s run
  EXPECT_THAT(error(late), HasSubstr("--add-pod-at"));
  LabConfig zone;
  zone.add_pod_at = std::chrono::milliseconds(1000);
  zone.add_pod_zone = "zone-z";
  EXPECT_THAT(error(zone), HasSubstr("--add-pod-at: unknown zone 'zone-z'"));
  LabConfig missing;
  missing.remove_pod_at = std::chrono::milliseconds(1000);
  missing.remove_pod = "pod-42";
  EXPECT_THAT(error(missing), HasSubstr("--remove-pod-at: no pod named 'pod-42'"));
  LabConfig age;
  age.max_connection_age = std::chrono::milliseconds(10);
  EXPECT_THAT(error(age), HasSubstr("--max-connection-age"));
  LabConfig fine;
  fine.remove_pod_at = std::chrono::milliseconds(1000);
  fine.max_connection_age = std::chrono::milliseconds(4000);
  EXPECT_TRUE(Plan(fine).ok());
}

}  // namespace
}  // namespace skewless::lab
