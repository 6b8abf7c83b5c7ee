// The rules of skw_select (docs/datapath.md) case by case: tiers, P2C, cost, spill, reasons.
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "select_test_env.h"

namespace skewless::select_test {
namespace {

constexpr int kDraws = 300;

TEST(SkwSelect, ChoosesOnlyReadyBackendsWhileAnyIsReady) {
  Cluster cluster(/*n_preferred=*/0, /*n_other_ready=*/3, /*n_serving=*/3);
  for (int i = 0; i < kDraws; ++i) {
    skw_choice choice = cluster.Select();
    ASSERT_GE(choice.backend_id, Cluster::IdOfSlot(1));
    ASSERT_LE(choice.backend_id, Cluster::IdOfSlot(3));
    EXPECT_EQ(choice.reason, SKW_REASON_P2C_READY);
  }
}

TEST(SkwSelect, FallsBackToServingTerminatingBackendsWhenNoneIsReady) {
  Cluster cluster(0, 0, 2);
  int result = -1;
  skw_choice choice = cluster.Select(&result);
  EXPECT_EQ(result, 0);
  EXPECT_EQ(choice.reason, SKW_REASON_TERMINATING);
  EXPECT_GE(choice.backend_id, Cluster::IdOfSlot(1));
  EXPECT_LE(choice.backend_id, Cluster::IdOfSlot(2));
}

TEST(SkwSelect, FallsBackToServingTerminatingBackendsWhenEveryReadyOneIsEjected) {
  Cluster cluster(0, 2, 1);
  cluster.Backend(1).state = SKW_BACKEND_EJECTED;
  cluster.Backend(2).state = SKW_BACKEND_EJECTED;
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.reason, SKW_REASON_TERMINATING);
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(3));
}

// Everything that leaves no usable backend refuses the connect the same way.
struct NoBackendCase {
  std::string name;
  int n_ready;
  int n_serving;
  bool eject_all;
  bool forget_backends;  // the env does not know the ids (or hides them: wrong family)
};

class SkwSelectNoBackend : public ::testing::TestWithParam<NoBackendCase> {};

TEST_P(SkwSelectNoBackend, RefusesWithReasonNoneAndNoBackend) {
  const NoBackendCase &c = GetParam();
  Cluster cluster(0, c.n_ready, c.n_serving);
  for (__u32 slot = 1; slot <= cluster.SlotCount(); ++slot) {
    if (c.eject_all) cluster.Backend(slot).state = SKW_BACKEND_EJECTED;
  }
  if (c.forget_backends) cluster.env.backends.clear();
  int result = 0;
  skw_choice choice = cluster.Select(&result);
  EXPECT_EQ(result, -SKW_SELECT_ENOENT);
  EXPECT_EQ(choice.reason, SKW_REASON_NONE);
  EXPECT_EQ(choice.backend_id, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SkwSelectNoBackend,
    ::testing::Values(NoBackendCase{"EmptySet", 0, 0, false, false},
                      NoBackendCase{"AllReadyAndServingEjected", 3, 2, true, false},
                      NoBackendCase{"SlotsNameUnknownBackends", 3, 2, false, true},
                      NoBackendCase{"LargeTierAllEjected", 40, 0, true, false}),
    [](const auto &info) { return info.param.name; });

TEST(SkwSelect, TwoCandidatesAreAlwaysDistinctBackends) {
  // Sizes on both sides of SKW_SELECT_MAX_PROBES (scan vs random draws),
  // with every third backend ejected.
  for (int size : {2, 3, 5, 16, 17, 40, 200}) {
    Cluster cluster(0, size, 0);
    for (__u32 slot = 3; slot <= cluster.SlotCount(); slot += 3) {
      cluster.Backend(slot).state = SKW_BACKEND_EJECTED;
    }
    for (int i = 0; i < kDraws; ++i) {
      skw_choice choice = cluster.Select();
      ASSERT_NE(choice.candidate[0], 0u) << "size " << size;
      ASSERT_NE(choice.candidate[1], 0u) << "size " << size;
      ASSERT_NE(choice.candidate[0], choice.candidate[1]) << "size " << size;
    }
  }
}

TEST(SkwSelect, NeverChoosesAnEjectedBackend) {
  // A small tier is scanned whole, so even 3 of 4 ejected always finds the
  // fourth; a large one is sampled (SKW_SELECT_MAX_PROBES draws), so it is
  // tested at an Envoy-like ejection share (1 in 4) where a miss is ~1e-10.
  struct Case {
    int size;
    bool eject_three_of_four;
  };
  for (Case c : {Case{4, true}, Case{40, false}}) {
    Cluster cluster(0, c.size, 0);
    std::set<__u32> ejected;
    for (__u32 slot = 1; slot <= cluster.SlotCount(); ++slot) {
      if ((slot % 4 != 0) == c.eject_three_of_four) {
        cluster.Backend(slot).state = SKW_BACKEND_EJECTED;
        ejected.insert(Cluster::IdOfSlot(slot));
      }
    }
    for (int i = 0; i < kDraws; ++i) {
      skw_choice choice = cluster.Select();
      ASSERT_NE(choice.backend_id, 0u);
      ASSERT_EQ(ejected.count(choice.backend_id), 0u) << "size " << c.size;
    }
  }
}

TEST(SkwSelect, SingleBackendIsChosenWithReasonSingle) {
  Cluster cluster(0, 1, 0);
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(1));
  EXPECT_EQ(choice.reason, SKW_REASON_SINGLE);
  EXPECT_EQ(choice.candidate[0], Cluster::IdOfSlot(1));
  EXPECT_EQ(choice.candidate[1], 0u);
}

// Two backends: the first draw decides which slot is candidate[0] (random %
// 2), the second one must be the other slot.
struct P2cCase {
  std::string name;
  __u64 active_slot1;
  __u64 active_slot2;
  __u32 first_draw_slot;
  __u32 expected_slot;
};

class SkwSelectP2c : public ::testing::TestWithParam<P2cCase> {};

TEST_P(SkwSelectP2c, PicksTheLowerCostCandidateAndTiesGoToTheFirst) {
  const P2cCase &c = GetParam();
  Cluster cluster(0, 2, 0);
  cluster.SetActive(1, c.active_slot1);
  cluster.SetActive(2, c.active_slot2);
  cluster.env.scripted_random = {c.first_draw_slot - 1, 0};
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.candidate[0], Cluster::IdOfSlot(c.first_draw_slot));
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(c.expected_slot));
  EXPECT_EQ(choice.reason, SKW_REASON_P2C_READY);
  // Equal weights, no slow start: cost = (active + 1) x 10.
  EXPECT_EQ(choice.cost[0] + choice.cost[1], (c.active_slot1 + c.active_slot2 + 2) * 10);
}

INSTANTIATE_TEST_SUITE_P(Cases, SkwSelectP2c,
                         ::testing::Values(P2cCase{"FirstDrawLessLoaded", 1, 5, 1, 1},
                                           P2cCase{"SecondDrawLessLoaded", 1, 5, 2, 1},
                                           P2cCase{"SecondDrawLessLoadedOther", 7, 0, 1, 2},
                                           P2cCase{"TieGoesToFirstDrawSlot1", 3, 3, 1, 1},
                                           P2cCase{"TieGoesToFirstDrawSlot2", 3, 3, 2, 2}),
                         [](const auto &info) { return info.param.name; });

TEST(SkwSelect, WeightHalvesTheCostAtEqualLoad) {
  Cluster cluster(0, 2, 0);
  cluster.Backend(1).weight = 200;
  cluster.SetActive(1, 3);
  cluster.SetActive(2, 3);
  cluster.env.scripted_random = {1, 0};  // slot 2 first: the lower cost must still win
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(1));
  EXPECT_EQ(choice.cost[0], 40u);
  EXPECT_EQ(choice.cost[1], 20u);
}

TEST(SkwSelect, ZeroWeightCountsAsOne) {
  EXPECT_EQ(skw_cost(0, 0, SKW_PERMILLE), 1000u);
  EXPECT_EQ(skw_cost(0, 1, SKW_PERMILLE), 1000u);
}

TEST(SkwSelect, CostOfAHugeActiveCountDoesNotOverflow) {
  EXPECT_EQ(skw_cost(~0ull, 1, SKW_SLOW_START_MIN_PERMILLE),
            (SKW_SELECT_ACTIVE_CAP + 1) * 1000000ull / 100);
}

// Slow start: ramp from 100 to 1000 permille over the window, linearly.
struct SlowStartCase {
  std::string name;
  __u32 window_ms;
  __u64 ready_since_ns;  // relative to now = 10'000 s; 0 = "long ago"
  __u32 expected_ramp_permille;
  __u64 expected_cost_at_9_active;
};

class SkwSelectSlowStart : public ::testing::TestWithParam<SlowStartCase> {};

constexpr __u64 kNowNs = 10'000'000'000'000ull;
constexpr __u64 kSecondNs = 1'000'000'000ull;

TEST_P(SkwSelectSlowStart, ScalesTheCostByTheRamp) {
  const SlowStartCase &c = GetParam();
  Cluster cluster(0, 1, 0);
  cluster.env.now_ns = kNowNs;
  cluster.service.slow_start_window_ms = c.window_ms;
  cluster.Backend(1).ready_since_ns = c.ready_since_ns;
  cluster.SetActive(1, 9);
  EXPECT_EQ(skw_ramp_permille(&cluster.service, &cluster.Backend(1), kNowNs),
            c.expected_ramp_permille);
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.cost[0], c.expected_cost_at_9_active);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SkwSelectSlowStart,
    ::testing::Values(
        // cost = 10 x 1e6 / (100 x ramp)
        SlowStartCase{"JustReadyStartsAtTenPercent", 30'000, kNowNs, 100, 1000},
        SlowStartCase{"HalfWayIsFiveHundredFifty", 30'000, kNowNs - 15 * kSecondNs, 550, 181},
        SlowStartCase{"TenthOfTheWayIsOneNinety", 30'000, kNowNs - 3 * kSecondNs, 190, 526},
        SlowStartCase{"WindowOverIsFullWeight", 30'000, kNowNs - 30 * kSecondNs, 1000, 100},
        SlowStartCase{"ReadySinceZeroMeansLongAgo", 30'000, 0, 1000, 100},
        SlowStartCase{"NoWindowMeansNoSlowStart", 0, kNowNs, 1000, 100},
        SlowStartCase{"ReadySinceInTheFutureIsJustReady", 30'000, kNowNs + kSecondNs, 100, 1000}),
    [](const auto &info) { return info.param.name; });

TEST(SkwSelect, SlowStartingBackendIsPassedOverAtEqualLoad) {
  Cluster cluster(0, 2, 0);
  cluster.env.now_ns = kNowNs;
  cluster.service.slow_start_window_ms = 60'000;
  cluster.Backend(1).ready_since_ns = kNowNs;  // ramp 100: costs 10x at equal load
  cluster.SetActive(1, 2);
  cluster.SetActive(2, 2);
  for (int first_draw : {0, 1}) {
    cluster.env.scripted_random = {static_cast<__u32>(first_draw), 0};
    EXPECT_EQ(cluster.Select().backend_id, Cluster::IdOfSlot(2));
  }
}

TEST(SkwSelect, PrefersThePreferredTierWhenItIsNotOverloaded) {
  Cluster cluster(/*n_preferred=*/3, /*n_other_ready=*/3, 0, /*prefer_local=*/true);
  for (int i = 0; i < kDraws; ++i) {
    skw_choice choice = cluster.Select();
    ASSERT_LE(choice.backend_id, Cluster::IdOfSlot(3));
    ASSERT_EQ(choice.reason, SKW_REASON_P2C_PREFERRED);
  }
}

TEST(SkwSelect, IgnoresThePreferredTierWithoutThePreferLocalFlag) {
  Cluster cluster(1, 3, 0, /*prefer_local=*/false);
  std::set<__u32> chosen;
  for (int i = 0; i < kDraws; ++i) {
    skw_choice choice = cluster.Select();
    EXPECT_EQ(choice.reason, SKW_REASON_P2C_READY);
    chosen.insert(choice.backend_id);
  }
  EXPECT_EQ(chosen.size(), 4u);
}

TEST(SkwSelect, SinglePreferredBackendIsChosenWithReasonSingle) {
  Cluster cluster(1, 3, 0, true);
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(1));
  EXPECT_EQ(choice.reason, SKW_REASON_SINGLE);
}

TEST(SkwSelect, PreferredCountAboveReadyCountIsClampedToTheReadyTier) {
  Cluster cluster(0, 2, 2, true);
  cluster.header.n_preferred = 9;  // a bad header must not reach the serving slots
  for (int i = 0; i < kDraws; ++i) {
    ASSERT_LE(cluster.Select().backend_id, Cluster::IdOfSlot(2));
  }
}

// One preferred and one other backend, so both draws are forced and the
// spill decision depends on the loads and thresholds alone.
struct SpillCase {
  std::string name;
  __u32 ratio_permille;  // 0 = default 2000
  __u32 min_delta;       // 0 = default 8
  __u64 active_preferred;
  __u64 active_other;
  bool expect_spill;
};

class SkwSelectSpill : public ::testing::TestWithParam<SpillCase> {};

TEST_P(SkwSelectSpill, SpillsOnlyPastBothThresholds) {
  const SpillCase &c = GetParam();
  Cluster cluster(1, 1, 0, true);
  cluster.node.spill_ratio_permille = c.ratio_permille;
  cluster.node.spill_min_delta = c.min_delta;
  cluster.SetActive(1, c.active_preferred);
  cluster.SetActive(2, c.active_other);
  skw_choice choice = cluster.Select();
  if (c.expect_spill) {
    EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(2));
    EXPECT_EQ(choice.reason, SKW_REASON_SPILL_OVERLOAD);
    EXPECT_EQ(choice.candidate[0], Cluster::IdOfSlot(1));
    EXPECT_EQ(choice.candidate[1], Cluster::IdOfSlot(2));
  } else {
    EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(1));
    EXPECT_EQ(choice.reason, SKW_REASON_SINGLE);
  }
}

// Equal weights: cost = (active + 1) x 10. Default rule: spill when
// (p + 1) > 2 (o + 1) and p >= o + 8.
INSTANTIATE_TEST_SUITE_P(
    Cases, SkwSelectSpill,
    ::testing::Values(SpillCase{"DefaultRatioExactlyTwiceStays", 0, 0, 21, 10, false},
                      SpillCase{"DefaultRatioJustAboveTwiceSpills", 0, 0, 22, 10, true},
                      SpillCase{"DefaultDeltaSevenStays", 0, 0, 7, 0, false},
                      SpillCase{"DefaultDeltaEightSpills", 0, 0, 8, 0, true},
                      SpillCase{"EqualLoadStays", 0, 0, 50, 50, false},
                      SpillCase{"CustomRatioJustBelowStays", 3000, 4, 8, 2, false},
                      SpillCase{"CustomRatioJustAboveSpills", 3000, 4, 9, 2, true},
                      SpillCase{"CustomDeltaJustBelowStays", 3000, 4, 3, 0, false},
                      SpillCase{"CustomDeltaReachedSpills", 3000, 4, 4, 0, true}),
    [](const auto &info) { return info.param.name; });

TEST(SkwSelect, SpillsWhenTheWholePreferredTierIsEjected) {
  Cluster cluster(3, 2, 0, true);
  for (__u32 slot = 1; slot <= 3; ++slot) cluster.Backend(slot).state = SKW_BACKEND_EJECTED;
  for (int i = 0; i < kDraws; ++i) {
    skw_choice choice = cluster.Select();
    ASSERT_GE(choice.backend_id, Cluster::IdOfSlot(4));
    ASSERT_EQ(choice.reason, SKW_REASON_SPILL_NO_PREFERRED);
  }
}

TEST(SkwSelect, SpillsWhenThePreferredTierIsEmpty) {
  Cluster cluster(0, 2, 0, true);
  skw_choice choice = cluster.Select();
  EXPECT_NE(choice.backend_id, 0u);
  EXPECT_EQ(choice.reason, SKW_REASON_SPILL_NO_PREFERRED);
}

TEST(SkwSelect, EjectedPreferredTierWithNothingElseReadyFallsBackToTerminating) {
  Cluster cluster(2, 0, 1, true);
  cluster.Backend(1).state = SKW_BACKEND_EJECTED;
  cluster.Backend(2).state = SKW_BACKEND_EJECTED;
  skw_choice choice = cluster.Select();
  EXPECT_EQ(choice.backend_id, Cluster::IdOfSlot(3));
  EXPECT_EQ(choice.reason, SKW_REASON_TERMINATING);
}

}  // namespace
}  // namespace skewless::select_test
