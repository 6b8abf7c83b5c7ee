// Lab flags: valid configs expand to pods and clients; bad ones name the flag.
#include "skewless/lab/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace skewless::lab
