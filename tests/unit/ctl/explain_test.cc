// explain: tiers and their reasons, candidate costs and the simulated outcome, on sets the
// service table wrote, with select.h doing the choosing.
#include "skewless/ctl/explain.h"

#include <arpa/inet.h>

#include "ctl_test_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "skewless/common/net.h"
#include "skewless/ctl/service_view.h"

namespace skewless::ctl {
namespace {

using datapath::TrafficDistribution;
using ::testing::HasSubstr;
using testing::Ready;
using testing::Terminating;
using testing::TestNode;

skw_service_key Key(const std::string& vip_port, const std::string& proto = "tcp") {
  absl::StatusOr<skw_service_key> key = ParseServiceKey(vip_port, proto);
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

Explanation ExplainOk(const TestNode& node, const std::string& vip_port,
                      ExplainOptions options = {}) {
  absl::StatusOr<Explanation> explanation = Explain(node.State(), Key(vip_port), options);
  EXPECT_TRUE(explanation.ok()) << explanation.status();
  return explanation.ok() ? *std::move(explanation) : Explanation{};
}

std::uint64_t Picks(const Scenario& scenario, std::uint32_t backend_id) {
  auto it = scenario.simulation.picks.find(backend_id);
  return it == scenario.simulation.picks.end() ? 0 : it->second;
}

TEST(CtlExplain, PreferCloseKeepsEveryConnectInTheNodesZoneWhileItIsNotOverloaded) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 80,
           {Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "zone-a"), Ready("10.0.1.1", "zone-b"),
            Ready("10.0.1.2", "zone-b")},
           TrafficDistribution::kPreferClose);
  const Explanation explanation = ExplainOk(node, "10.96.0.10:80");
  const Scenario& current = explanation.current;
  EXPECT_EQ(current.reason, TierReason::kPreferred);
  EXPECT_EQ(current.scope, PreferredScope::kSameZone);
  EXPECT_EQ(current.n_preferred, 2);
  EXPECT_EQ(current.n_ready, 4);
  ASSERT_EQ(current.candidates.size(), 4u);
  EXPECT_EQ(current.candidates[0].tier, Tier::kPreferred);
  EXPECT_EQ(current.candidates[2].tier, Tier::kReady);
  EXPECT_EQ(current.simulation.draws, 10000u);
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_P2C_PREFERRED], 10000u);
  EXPECT_EQ(Picks(current, node.IdOf("10.0.1.1")) + Picks(current, node.IdOf("10.0.1.2")), 0u);
  // Equal loads: P2C's tie goes to the first (random) draw, so the two split about evenly.
  EXPECT_NEAR(static_cast<double>(Picks(current, node.IdOf("10.0.0.1"))), 5000, 300);
}

TEST(CtlExplain, AnOverloadedPreferredTierSpillsToTheOtherZone) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a"), Ready("10.0.1.1", "zone-b")},
           TrafficDistribution::kPreferClose);
  node.SetActive("10.0.0.1", 40);
  node.SetActive("10.0.1.1", 2);
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kPreferred);
  // 41 x cost vs 3 x cost and 38 more connections: the rule says spill, every time.
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_SPILL_OVERLOAD], 10000u);
  EXPECT_EQ(Picks(current, node.IdOf("10.0.1.1")), 10000u);
}

TEST(CtlExplain, CandidateCostsAreSelectHsFormula) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a", 200), Ready("10.0.0.2", "zone-a")});
  node.SetActive("10.0.0.1", 3);
  node.SetActive("10.0.0.2", 1);
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kNoPreference);
  ASSERT_EQ(current.candidates.size(), 2u);
  // (active + 1) x 1e6 / (weight x 1000).
  EXPECT_EQ(current.candidates[0].cost, 4u * 1000000 / (200 * 1000));
  EXPECT_EQ(current.candidates[0].weight, 200);
  EXPECT_EQ(current.candidates[1].cost, 2u * 1000000 / (100 * 1000));
  EXPECT_EQ(current.candidates[0].ramp_permille, 1000u);
}

TEST(CtlExplain, OtherNodesConnectionsCountInTheCostAsInTheKernel) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1"), Ready("10.0.0.2")});
  node.SetActive("10.0.0.1", 1);
  node.SetClusterConns("10.0.0.1", 30);  // busy elsewhere, idle here
  node.SetActive("10.0.0.2", 2);
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  ASSERT_EQ(current.candidates.size(), 2u);
  EXPECT_EQ(current.candidates[0].active_conns, 1u);
  EXPECT_EQ(current.candidates[0].cluster_conns, 30u);
  EXPECT_EQ(current.candidates[0].cost, 32u * 1000000 / (100 * 1000));
  EXPECT_EQ(current.candidates[1].cost, 3u * 1000000 / (100 * 1000));
  // Two candidates, P2C: the one with fewer connections cluster-wide wins every draw.
  EXPECT_EQ(Picks(current, node.IdOf("10.0.0.2")), 10000u);
}

TEST(CtlExplain, SlowStartRampsTheCostOfANewBackend) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1")}, TrafficDistribution::kNone, 10'000);
  node.AdvanceClock(5'000'000'000);  // halfway through the 10 s window
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  ASSERT_EQ(current.candidates.size(), 1u);
  EXPECT_EQ(current.candidates[0].ramp_permille, 100u + 900 / 2);
  EXPECT_EQ(current.candidates[0].ready_for_ns, 5'000'000'000u);
  EXPECT_EQ(current.candidates[0].cost, 1000000u / (100 * 550));
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_SINGLE], 10000u);
}

TEST(CtlExplain, ABackendWithoutAZoneTurnsZonePreferenceOff) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a"), Ready("10.0.0.2", "")},
           TrafficDistribution::kPreferSameZone);
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kPreferredBackendWithoutZone);
  EXPECT_EQ(current.n_preferred, 0);
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_SPILL_NO_PREFERRED], 10000u);
}

TEST(CtlExplain, NoReadyBackendInTheNodesZone) {
  TestNode node("zone-c");
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a"), Ready("10.0.1.1", "zone-b")},
           TrafficDistribution::kPreferClose);
  EXPECT_EQ(ExplainOk(node, "10.96.0.10:80").current.reason, TierReason::kPreferredNoneInZone);
}

TEST(CtlExplain, UnknownNodeZoneMeansNoPreferredTier) {
  TestNode node("");
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a")}, TrafficDistribution::kPreferClose);
  EXPECT_EQ(ExplainOk(node, "10.96.0.10:80").current.reason, TierReason::kPreferredNodeZoneUnknown);
}

TEST(CtlExplain, PreferSameNodeIsSeenAsATierNarrowerThanTheZone) {
  TestNode node("zone-a", "node-1");
  datapath::Endpoint here = Ready("10.0.0.1", "zone-a");
  here.node_name = "node-1";
  datapath::Endpoint elsewhere = Ready("10.0.0.2", "zone-a");
  elsewhere.node_name = "node-2";
  node.Add("10.96.0.10", 80, {here, elsewhere}, TrafficDistribution::kPreferSameNode);
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kPreferred);
  EXPECT_EQ(current.scope, PreferredScope::kNarrowerThanZone);
  EXPECT_EQ(current.n_preferred, 1);
}

TEST(CtlExplain, OnlyTerminatingBackendsAreTheFallback) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Terminating("10.0.0.1"), Terminating("10.0.0.2")});
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kNothingReady);
  EXPECT_EQ(current.candidates[0].tier, Tier::kTerminating);
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_TERMINATING], 10000u);
}

TEST(CtlExplain, NoBackendAtAllRefusesEveryConnect) {
  TestNode node;
  node.Add("10.96.0.10", 80, {});
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.reason, TierReason::kNoBackend);
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_NONE], 10000u);
  EXPECT_TRUE(current.simulation.picks.empty());
}

TEST(CtlExplain, EjectedBackendsAreNeverDrawn) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1"), Ready("10.0.0.2")});
  // The splicer ejects by rewriting the backend's state.
  skw_backend& ejected = node.maps().backends.at(node.IdOf("10.0.0.1"));
  ejected.state = SKW_BACKEND_EJECTED;
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.candidates[0].skipped, "ejected");
  EXPECT_EQ(Picks(current, node.IdOf("10.0.0.2")), 10000u);
}

TEST(CtlExplain, ABackendOfTheOtherFamilyIsHiddenAsTheKernelHidesIt) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1")});
  // Force an IPv6 backend into the IPv4 service's set (the agent never writes one).
  const std::uint32_t id = node.IdOf("10.0.0.1");
  skw_backend& backend = node.maps().backends.at(id);
  absl::StatusOr<skw_addr> v6 = net::ParseSkwAddr("fd00::1");
  ASSERT_TRUE(v6.ok());
  backend.addr = *v6;
  const Scenario current = ExplainOk(node, "10.96.0.10:80").current;
  EXPECT_EQ(current.candidates[0].skipped, "IPv6 backend, IPv4 VIP");
  EXPECT_EQ(current.simulation.reasons[SKW_REASON_NONE], 10000u);
}

TEST(CtlExplain, ZoneOptionLaysTheSetOutForThatZone) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 80,
           {Ready("10.0.0.1", "zone-a"), Ready("10.0.1.1", "zone-b"), Ready("10.0.1.2", "zone-b")},
           TrafficDistribution::kPreferClose);
  const std::uint16_t zone_b = *node.Zones().IdOf("zone-b");
  const Explanation explanation = ExplainOk(node, "10.96.0.10:80", {.zone_id = zone_b});
  ASSERT_TRUE(explanation.with_zone.has_value());
  const Scenario& with_zone = *explanation.with_zone;
  EXPECT_EQ(with_zone.node_zone_id, zone_b);
  EXPECT_EQ(with_zone.reason, TierReason::kPreferred);
  EXPECT_EQ(with_zone.scope, PreferredScope::kSameZone);
  EXPECT_EQ(with_zone.n_preferred, 2);
  EXPECT_EQ(Picks(with_zone, node.IdOf("10.0.0.1")), 0u);
  EXPECT_EQ(Picks(with_zone, node.IdOf("10.0.1.1")) + Picks(with_zone, node.IdOf("10.0.1.2")),
            10000u);
  // The maps themselves are unchanged: the current layout still prefers zone-a.
  EXPECT_EQ(Picks(explanation.current, node.IdOf("10.0.0.1")), 10000u);
}

TEST(CtlExplain, ZoneOptionChangesNothingForAServiceWithoutPreference) {
  TestNode node("zone-a");
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1", "zone-a"), Ready("10.0.1.1", "zone-b")});
  const Explanation explanation = ExplainOk(node, "10.96.0.10:80", {.zone_id = 2});
  ASSERT_TRUE(explanation.with_zone.has_value());
  EXPECT_EQ(explanation.with_zone->reason, TierReason::kNoPreference);
  EXPECT_EQ(explanation.with_zone->simulation.picks, explanation.current.simulation.picks);
}

TEST(CtlExplain, TheSameSeedGivesTheSameOutcome) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1"), Ready("10.0.0.2"), Ready("10.0.0.3")});
  node.SetActive("10.0.0.2", 5);
  const ExplainOptions options{.draws = 1000, .seed = 7};
  EXPECT_EQ(ExplainOk(node, "10.96.0.10:80", options).current.simulation.picks,
            ExplainOk(node, "10.96.0.10:80", options).current.simulation.picks);
}

TEST(CtlExplain, SpillDefaultsApplyWhenTheNodeSaysZero) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1")});
  DatapathState state = node.State();
  state.maps.node.spill_ratio_permille = 0;
  state.maps.node.spill_min_delta = 0;
  absl::StatusOr<Explanation> explanation = Explain(state, Key("10.96.0.10:80"), {});
  ASSERT_TRUE(explanation.ok());
  EXPECT_EQ(explanation->spill_ratio_permille, 2000u);
  EXPECT_EQ(explanation->spill_min_delta, 8u);
}

TEST(CtlExplain, AnUnknownServiceNamesTheOtherPortsOfItsVip) {
  TestNode node;
  node.Add("10.96.0.10", 80, {Ready("10.0.0.1")});
  node.Add("10.96.0.10", 443, {Ready("10.0.0.1")});
  absl::StatusOr<Explanation> explanation = Explain(node.State(), Key("10.96.0.10:81"), {});
  ASSERT_TRUE(absl::IsNotFound(explanation.status())) << explanation.status();
  EXPECT_THAT(explanation.status().message(),
              HasSubstr("no service 10.96.0.10:81/tcp in the data path's maps (that VIP has "
                        "10.96.0.10:80/tcp, 10.96.0.10:443/tcp)"));
}

}  // namespace
}  // namespace skewless::ctl
