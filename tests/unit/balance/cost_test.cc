// Cost, slow-start factor and spill rule; the spill rule checked against select.h's own.
#include "skewless/balance/cost.h"

#include <linux/types.h>

#include <cstdint>

#include "balance_test_util.h"
#include "skewless/abi.h"

// select.h needs an env; skw_should_spill reads none of it.
static inline const struct skw_backend *skw_env_backend(void *, __u32) { return nullptr; }
static inline __u64 skw_env_active(void *, __u32) { return 0; }
static inline __u32 skw_env_slot(void *, __u32) { return 0; }
static inline __u32 skw_env_random(void *) { return 0; }
static inline __u64 skw_env_now_ns(void *) { return 0; }
#include "skewless/select.h"

namespace skewless::balance::test {
namespace {

TEST(SlowStartFactor, RisesLinearlyFromOneTenthToOneOverTheWindow) {
  const Nanoseconds window = seconds(30);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0, window), 0.1);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0 + seconds(15), window), 0.55);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0 + seconds(30), window), 1.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0 + seconds(300), window), 1.0);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0 - seconds(1), window), 0.1);
  EXPECT_DOUBLE_EQ(SlowStartFactor(kT0, kT0, Nanoseconds(0)), 1.0);
}

TEST(SlowStartFactor, MatchesSelectHRampPermille) {
  const skw_service service{.slow_start_window_ms = 30'000};
  const skw_backend backend{.ready_since_ns = 1'000'000'000};
  for (std::uint64_t elapsed_ms : {0, 1, 3'000, 15'000, 29'999, 30'000, 60'000}) {
    const std::uint32_t permille =
        skw_ramp_permille(&service, &backend, backend.ready_since_ns + elapsed_ms * 1'000'000);
    EXPECT_NEAR(SlowStartFactor(kT0, kT0 + milliseconds(elapsed_ms), seconds(30)),
                permille / 1000.0, 0.001)
        << elapsed_ms << " ms into the window";
  }
}

TEST(StreamCost, ScalesWithLatencyLoadAndErrorsAndShrinksWithWeightAndRamp) {
  const double base = StreamCost(1e6, 0, 1.0, 100, 1.0);
  EXPECT_DOUBLE_EQ(StreamCost(10e6, 0, 1.0, 100, 1.0), 10 * base);
  EXPECT_DOUBLE_EQ(StreamCost(1e6, 3, 1.0, 100, 1.0), 4 * base);
  EXPECT_DOUBLE_EQ(StreamCost(1e6, 0, 2.0, 100, 1.0), 2 * base);
  EXPECT_DOUBLE_EQ(StreamCost(1e6, 0, 1.0, 200, 1.0), base / 2);
  EXPECT_DOUBLE_EQ(StreamCost(1e6, 0, 1.0, 100, 0.1), 10 * base);
}

TEST(ShouldSpill, DefaultsAreSelectHs) {
  EXPECT_EQ(kDefaultSpillRatioPermille, SKW_DEFAULT_SPILL_RATIO_PERMILLE);
  EXPECT_EQ(kDefaultSpillMinDelta, SKW_DEFAULT_SPILL_MIN_DELTA);
}

TEST(ShouldSpill, AgreesWithSkwShouldSpillOnIntegerInputs) {
  const skw_node_config node{.spill_ratio_permille = kDefaultSpillRatioPermille,
                             .spill_min_delta = kDefaultSpillMinDelta};
  int spills = 0;
  for (std::uint64_t preferred_cost : {1, 10, 19, 20, 21, 40, 100}) {
    for (std::uint64_t other_cost : {1, 5, 10, 11, 50}) {
      for (std::uint64_t preferred_load : {0, 7, 8, 9, 20}) {
        for (std::uint64_t other_load : {0, 1, 12}) {
          const skw_candidate preferred{.active_conns = preferred_load, .cost = preferred_cost};
          const skw_candidate other{.active_conns = other_load, .cost = other_cost};
          const bool expected = skw_should_spill(&node, &preferred, &other) != 0;
          spills += expected;
          EXPECT_EQ(ShouldSpill({static_cast<double>(preferred_cost), preferred_load},
                                {static_cast<double>(other_cost), other_load},
                                kDefaultSpillRatioPermille, kDefaultSpillMinDelta),
                    expected)
              << "costs " << preferred_cost << " vs " << other_cost << ", load " << preferred_load
              << " vs " << other_load;
        }
      }
    }
  }
  EXPECT_GT(spills, 0) << "the grid must exercise both answers";
}

}  // namespace
}  // namespace skewless::balance::test
