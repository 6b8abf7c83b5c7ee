// Zone spill-over for gRPC clients: when to stay local, when to spill and where.
#include "skewless/xds/locality_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace skewless::xds {
namespace {

using Plan = std::map<std::string, LocalityShare>;

std::string Describe(const Plan& plan) {
  std::string out;
  for (const auto& [zone, share] : plan) {
    out += zone + ":p" + std::to_string(share.priority) + "/w" + std::to_string(share.weight) + " ";
  }
  return out;
}

TEST(PlanLocalities, WithoutAClientZoneEveryZoneIsPriorityZeroByCapacity) {
  Plan plan = PlanLocalities({.ready_weight = {{"a", 100}, {"b", 300}}});
  EXPECT_EQ(Describe(plan), "a:p0/w100 b:p0/w300 ");
}

TEST(PlanLocalities, AClientZoneWithoutReadyCapacityPrefersNothing) {
  Plan plan = PlanLocalities({.client_zone = "c", .ready_weight = {{"a", 100}, {"b", 300}}});
  EXPECT_EQ(Describe(plan), "a:p0/w100 b:p0/w300 ");
}

TEST(PlanLocalities, UnknownClientSpreadKeepsTheLocalZoneAloneAtPriorityZero) {
  Plan plan = PlanLocalities({.client_zone = "a", .ready_weight = {{"a", 100}, {"b", 300}}});
  EXPECT_EQ(Describe(plan), "a:p0/w100 b:p1/w300 ");
}

TEST(PlanLocalities, EnoughLocalCapacityStaysLocal) {
  // Zone a: 50% of capacity, 40% of clients.
  Plan plan = PlanLocalities({.client_zone = "a",
                              .ready_weight = {{"a", 500}, {"b", 500}},
                              .client_share = {{"a", 4}, {"b", 6}}});
  EXPECT_EQ(Describe(plan), "a:p0/w500 b:p1/w500 ");
}

TEST(PlanLocalities, ShortLocalCapacitySpillsTheRestToZonesWithSurplus) {
  // Zone a: 20% of capacity for 40% of clients → keeps 50%. Zone b: 60% capacity for 20%
  // clients (surplus 40%); zone c: 20% for 40% (no surplus, failover only).
  Plan plan = PlanLocalities({.client_zone = "a",
                              .ready_weight = {{"a", 200}, {"b", 600}, {"c", 200}},
                              .client_share = {{"a", 2}, {"b", 1}, {"c", 2}}});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan["a"].priority, 0u);
  EXPECT_EQ(plan["a"].weight, kLocalityWeightScale / 2);
  EXPECT_EQ(plan["b"].priority, 0u);
  EXPECT_EQ(plan["b"].weight, kLocalityWeightScale / 2);
  EXPECT_EQ(plan["c"].priority, 1u);
}

TEST(PlanLocalities, ASingleZoneIsPlainPriorityZero) {
  Plan plan = PlanLocalities(
      {.client_zone = "a", .ready_weight = {{"a", 100}}, .client_share = {{"a", 1}, {"b", 9}}});
  EXPECT_EQ(Describe(plan), "a:p0/w100 ");
}

}  // namespace
}  // namespace skewless::xds
