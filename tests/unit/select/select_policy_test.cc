// skw_service.lb_policy: what each policy does inside a tier, on select.h itself.
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

}  // namespace
}  // namespace skewless::select_test
