// skw_service.lb_policy: what each policy does inside a tier, on select.h itself.
#include <algorithm>
#include <map>

#include "gtest/gtest.h"
#include "select_test_env.h"

namespace skewless::select_test {
namespace {

constexpr int kDraws = 4000;

std::map<__u32, int> Picks(Cluster& cluster, int draws) {
  std::map<__u32, int> picks;
  for (int i = 0; i < draws; ++i) ++picks[cluster.Select().backend_id];
  return picks;
}

TEST(SkwSelectPolicy, RandomSpreadsEvenlyWhateverTheLoadAndSaysSo) {
  Cluster cluster(0, 4, 0);
  cluster.service.lb_policy = SKW_LB_RANDOM;
  cluster.SetActive(1, 1000);  // least-request would all but never choose it
  std::map<__u32, int> picks;
  for (int i = 0; i < kDraws; ++i) {
    const skw_choice choice = cluster.Select();
    ASSERT_EQ(choice.reason, SKW_REASON_RANDOM);
    ASSERT_EQ(choice.candidate[1], 0u) << "random weighs one candidate";
    ++picks[choice.backend_id];
  }
  ASSERT_EQ(picks.size(), 4u);
  // Each share is 1/4; with 4,000 draws its standard deviation is ~27 picks.
  for (const auto& [id, count] : picks) EXPECT_NEAR(count, kDraws / 4, 150) << "backend " << id;
}

TEST(SkwSelectPolicy, LeastRequestAvoidsTheLoadedBackendOnTheSameCluster) {
  Cluster cluster(0, 4, 0);
  cluster.SetActive(1, 1000);
  std::map<__u32, int> picks = Picks(cluster, kDraws);
  EXPECT_EQ(picks[Cluster::IdOfSlot(1)], 0);
}

TEST(SkwSelectPolicy, RandomNeverSpillsByLoadButStillLeavesAnEmptyPreferredTier) {
  Cluster cluster(2, 2, 0, /*prefer_local=*/true);
  cluster.SetActive(1, 500);
  cluster.SetActive(2, 500);
  cluster.service.lb_policy = SKW_LB_RANDOM;
  for (int i = 0; i < 500; ++i) {
    const skw_choice choice = cluster.Select();
    ASSERT_EQ(choice.reason, SKW_REASON_RANDOM);
    ASSERT_LE(choice.backend_id, Cluster::IdOfSlot(2)) << "left the preferred tier";
  }
  cluster.Backend(1).state = SKW_BACKEND_EJECTED;
  cluster.Backend(2).state = SKW_BACKEND_EJECTED;
  EXPECT_EQ(cluster.Select().reason, SKW_REASON_SPILL_NO_PREFERRED);

  // The same loads under least-request spill.
  Cluster loaded(2, 2, 0, /*prefer_local=*/true);
  loaded.SetActive(1, 500);
  loaded.SetActive(2, 500);
  EXPECT_EQ(loaded.Select().reason, SKW_REASON_SPILL_OVERLOAD);
}

TEST(SkwSelectPolicy, RandomAppliesToServingTerminatingBackendsToo) {
  Cluster cluster(0, 0, 3);
  cluster.service.lb_policy = SKW_LB_RANDOM;
  cluster.SetActive(1, 1000);
  std::map<__u32, int> picks = Picks(cluster, 1500);
  EXPECT_GT(picks[Cluster::IdOfSlot(1)], 350) << "load was weighed";
}

TEST(SkwSelectPolicy, AnUnknownPolicyActsAsLeastRequest) {
  // A newer agent may write a policy this program does not know.
  Cluster cluster(0, 4, 0);
  cluster.service.lb_policy = 200;
  cluster.SetActive(1, 1000);
  std::map<__u32, int> picks = Picks(cluster, kDraws);
  EXPECT_EQ(picks[Cluster::IdOfSlot(1)], 0);
  EXPECT_EQ(cluster.Select().reason, SKW_REASON_P2C_READY);
}

TEST(SkwSelectPolicy, LeastLoadedWeighsTheWholeSmallTierAndSaysSo) {
  Cluster cluster(0, 6, 0);
  cluster.service.lb_policy = SKW_LB_LEAST_LOADED;
  for (__u32 slot = 1; slot <= 6; ++slot) cluster.SetActive(slot, slot == 4 ? 0 : 1);
  for (int i = 0; i < 500; ++i) {
    const skw_choice choice = cluster.Select();
    ASSERT_EQ(choice.backend_id, Cluster::IdOfSlot(4)) << "P2C would miss it 2 times in 3";
    ASSERT_EQ(choice.reason, SKW_REASON_LEAST_LOADED);
    ASSERT_EQ(choice.candidate[0], choice.backend_id);
  }
}

TEST(SkwSelectPolicy, LeastLoadedBreaksTiesUniformly) {
  Cluster cluster(0, 6, 0);
  cluster.service.lb_policy = SKW_LB_LEAST_LOADED;
  std::map<__u32, int> picks = Picks(cluster, 6000);
  ASSERT_EQ(picks.size(), 6u);
  // Each share is 1/6; with 6,000 draws its standard deviation is ~29 picks.
  for (const auto& [id, count] : picks) EXPECT_NEAR(count, 1000, 150) << "backend " << id;
}

TEST(SkwSelectPolicy, LeastLoadedIsP2cAboveTheScanBound) {
  Cluster cluster(0, SKW_SELECT_SCAN_MAX + 1, 0);
  cluster.service.lb_policy = SKW_LB_LEAST_LOADED;
  EXPECT_EQ(cluster.Select().reason, SKW_REASON_P2C_READY);
  Cluster small(0, SKW_SELECT_SCAN_MAX, 0);
  small.service.lb_policy = SKW_LB_LEAST_LOADED;
  EXPECT_EQ(small.Select().reason, SKW_REASON_LEAST_LOADED);
}

// Only the ready tier of a Service without a zone preference is scanned (a scan per tier
// would triple what the verifier walks): the preferred tier keeps P2C and spills by the
// same rule.
TEST(SkwSelectPolicy, LeastLoadedKeepsP2cInThePreferredTierAndSpillsByTheSameRule) {
  Cluster cluster(2, 2, 0, /*prefer_local=*/true);
  cluster.service.lb_policy = SKW_LB_LEAST_LOADED;
  EXPECT_EQ(cluster.Select().reason, SKW_REASON_P2C_PREFERRED);
  EXPECT_LE(cluster.Select().backend_id, Cluster::IdOfSlot(2));
  cluster.SetActive(1, 500);
  cluster.SetActive(2, 500);
  EXPECT_EQ(cluster.Select().reason, SKW_REASON_SPILL_OVERLOAD);
}

// Long-lived connections arriving one at a time, each seeing every count fresh (what
// cluster-wide load gives a node): 12 over 6 backends. The whole-tier scan fills them
// exactly evenly every time; P2C, in the same runs, leaves some backend with 3 or more.
TEST(SkwSelectPolicy, LeastLoadedFillsEvenlyWhereP2cDoesNot) {
  int p2c_uneven_runs = 0;
  for (unsigned seed = 1; seed <= 50; ++seed) {
    for (const __u8 policy : {__u8{SKW_LB_LEAST_LOADED}, __u8{SKW_LB_LEAST_REQUEST}}) {
      Cluster cluster(0, 6, 0);
      cluster.service.lb_policy = policy;
      cluster.env.prng.seed(seed);
      for (int i = 0; i < 12; ++i) cluster.Connect();
      __u64 most = 0;
      for (const auto& [id, count] : cluster.env.active_conns) most = std::max(most, count);
      if (policy == SKW_LB_LEAST_LOADED) {
        ASSERT_EQ(most, 2u) << "seed " << seed;
      } else if (most > 2) {
        ++p2c_uneven_runs;
      }
    }
  }
  EXPECT_GT(p2c_uneven_runs, 10);
}

}  // namespace
}  // namespace skewless::select_test
