// The spill rule (spill_rule.h) is written once; this runs the same cases through the
// connect hook's choice (select.h) and the splicer's (balance::Backends), each with one
// backend in the preferred tier and one outside it, so each side's decision is exact.
#include <string>

#include "gtest/gtest.h"
#include "select_test_env.h"
#include "skewless/balance/backends.h"

namespace skewless::select_test {
namespace {

struct SpillCase {
  std::string name;
  std::uint64_t preferred_load;  // active connections / outstanding streams
  std::uint64_t other_load;
  std::uint32_t ratio_permille;  // 0 = the default (2000)
  std::uint32_t min_delta;       // 0 = the default (8)
  bool spills;
};

// Equal weights and latencies: each side's cost is proportional to (load + 1).
bool HookSpills(const SpillCase& c) {
  Cluster cluster(1, 1, 0, /*prefer_local=*/true);
  cluster.SetActive(1, c.preferred_load);
  cluster.SetActive(2, c.other_load);
  cluster.node.spill_ratio_permille = c.ratio_permille;
  cluster.node.spill_min_delta = c.min_delta;
  const skw_choice choice = cluster.Select();
  EXPECT_NE(choice.reason, SKW_REASON_NONE);
  return choice.reason == SKW_REASON_SPILL_OVERLOAD;
}

bool SplicerSpills(const SpillCase& c) {
  using namespace skewless::balance;
  const TimePoint now = TimePoint(std::chrono::hours(1));
  BalanceOptions options{.prefer_local_zone = true, .local_zone = "local"};
  if (c.ratio_permille) options.spill_ratio_permille = c.ratio_permille;
  if (c.min_delta) options.spill_min_delta = c.min_delta;
  Backends backends(options);
  EXPECT_TRUE(backends
                  .Update(now, {{.address = "10.0.0.1:80", .zone = "local"},
                                {.address = "10.0.0.2:80", .zone = "remote"}})
                  .ok());
  for (std::uint64_t i = 0; i < c.preferred_load; ++i) {
    EXPECT_TRUE(backends.OnStreamStart(*backends.Find("10.0.0.1:80"), now));
  }
  for (std::uint64_t i = 0; i < c.other_load; ++i) {
    EXPECT_TRUE(backends.OnStreamStart(*backends.Find("10.0.0.2:80"), now));
  }
  std::mt19937 rng(7);
  const std::optional<Choice> choice = backends.Pick(now, rng);
  EXPECT_TRUE(choice.has_value());
  return choice && choice->reason == PickReason::kSpillOverload;
}

class SpillConformance : public ::testing::TestWithParam<SpillCase> {};

TEST_P(SpillConformance, TheHookAndTheSplicerDecideAlike) {
  const SpillCase& c = GetParam();
  EXPECT_EQ(HookSpills(c), c.spills) << "select.h";
  EXPECT_EQ(SplicerSpills(c), c.spills) << "balance::Backends";
}

INSTANTIATE_TEST_SUITE_P(Cases, SpillConformance,
                         ::testing::Values(
                             // Defaults: more than 2x the cost AND at least 8 more in flight.
                             SpillCase{"Idle", 0, 0, 0, 0, false},
                             SpillCase{"EightMoreThanAnIdleOne", 8, 0, 0, 0, true},
                             SpillCase{"SevenMoreIsNotEnough", 7, 0, 0, 0, false},
                             SpillCase{"ExactlyTwiceTheCostIsNotMore", 17, 8, 0, 0, false},
                             SpillCase{"JustOverTwiceTheCost", 18, 8, 0, 0, true},
                             SpillCase{"FarAheadButUnderTheRatio", 100, 60, 0, 0, false},
                             SpillCase{"LessLoadedThanTheOther", 3, 40, 0, 0, false},
                             // The node's (and the splicer's) own thresholds.
                             SpillCase{"LowerRatio", 12, 7, 1500, 2, true},
                             SpillCase{"LowerRatioBelowIt", 9, 7, 1500, 2, false},
                             SpillCase{"HigherDeltaHolds", 20, 0, 0, 30, false},
                             SpillCase{"HigherDeltaMet", 30, 0, 0, 30, true}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace skewless::select_test
