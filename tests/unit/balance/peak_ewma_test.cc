// Peak-EWMA: slower samples count at once, faster ones by elapsed time, idle estimates decay.
#include "skewless/balance/peak_ewma.h"

#include <cmath>

#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

constexpr double kMs = 1e6;

PeakEwma Seeded(Nanoseconds seed = milliseconds(30)) { return PeakEwma({}, kT0, seed); }

TEST(PeakEwma, SeedIsTheEstimateUntilTheFirstSample) {
  PeakEwma ewma = Seeded();
  EXPECT_FALSE(ewma.measured());
  EXPECT_DOUBLE_EQ(ewma.EstimateNs(kT0), 30 * kMs);
}

TEST(PeakEwma, FirstSampleReplacesTheSeedEvenWhenFaster) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0 + milliseconds(1), milliseconds(4));
  EXPECT_TRUE(ewma.measured());
  EXPECT_NEAR(ewma.EstimateNs(kT0 + milliseconds(1)), 4 * kMs, 1);
}

TEST(PeakEwma, SlowerSampleIsTakenAtOnce) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, milliseconds(5));
  ewma.Observe(kT0 + milliseconds(1), milliseconds(80));
  EXPECT_NEAR(ewma.EstimateNs(kT0 + milliseconds(1)), 80 * kMs, 1);
}

TEST(PeakEwma, FasterSampleBlendsInByTheTimeSinceTheLastOne) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, milliseconds(100));
  ewma.Observe(kT0 + seconds(10), milliseconds(10));  // one tau later
  const double d = std::exp(-1.0);
  EXPECT_NEAR(ewma.EstimateNs(kT0 + seconds(10)), 100 * kMs * d + 10 * kMs * (1 - d), 1);
}

TEST(PeakEwma, FasterSampleRightAfterAnotherBarelyMovesTheEstimate) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, milliseconds(100));
  ewma.Observe(kT0 + milliseconds(1), milliseconds(10));
  EXPECT_GT(ewma.EstimateNs(kT0 + milliseconds(1)), 99 * kMs);
}

TEST(PeakEwma, WithAMinimumSampleWeightASpikeFadesWithinTensOfFastSamples) {
  PeakEwmaOptions options;
  options.min_sample_weight = 0.05;
  PeakEwma ewma(options, kT0, milliseconds(30));
  ewma.Observe(kT0, milliseconds(2));
  ewma.Observe(kT0 + std::chrono::microseconds(10), milliseconds(20));  // a scheduling spike
  TimePoint now = kT0 + std::chrono::microseconds(10);
  for (int i = 0; i < 60; ++i) {
    now += std::chrono::microseconds(100);
    ewma.Observe(now, milliseconds(2));
  }
  // 18 ms of excess times 0.95^60 is under 1 ms; pure wall-clock decay would keep ~20 ms.
  EXPECT_LT(ewma.EstimateNs(now), 3 * kMs);
}

TEST(PeakEwma, WithAMinimumSampleWeightAConsistentlySlowBackendStaysSlow) {
  PeakEwmaOptions options;
  options.min_sample_weight = 0.05;
  PeakEwma ewma(options, kT0, milliseconds(30));
  TimePoint now = kT0;
  for (int i = 0; i < 200; ++i) {
    now += std::chrono::microseconds(100);
    ewma.Observe(now, milliseconds(20));
  }
  EXPECT_NEAR(ewma.EstimateNs(now), 20 * kMs, 0.1 * kMs);
}

TEST(PeakEwma, ABoundedRiseHalvesNoHiccupButReachesARealSlowdownInAFewSamples) {
  PeakEwma ewma({.max_rise_per_sample = 2.0}, kT0, milliseconds(30));
  ewma.Observe(kT0, milliseconds(2));
  ewma.Observe(kT0 + microseconds(10), milliseconds(10));  // one hiccup
  EXPECT_NEAR(ewma.EstimateNs(kT0 + microseconds(10)), 4 * kMs, 1e3) << "doubled, not 10 ms";
  ewma.Observe(kT0 + microseconds(20), milliseconds(20));
  ewma.Observe(kT0 + microseconds(30), milliseconds(20));
  EXPECT_NEAR(ewma.EstimateNs(kT0 + microseconds(30)), 16 * kMs, 1e3);
  ewma.Observe(kT0 + microseconds(40), milliseconds(20));
  EXPECT_NEAR(ewma.EstimateNs(kT0 + microseconds(40)), 20 * kMs, 1e3) << "there in four";

  PeakEwma fresh({.max_rise_per_sample = 2.0}, kT0, milliseconds(2));
  fresh.Observe(kT0, milliseconds(50));  // a warm-up answer
  EXPECT_NEAR(fresh.EstimateNs(kT0), 4 * kMs, 1e3) << "bounded from the seed";
  PeakEwma faster({.max_rise_per_sample = 2.0}, kT0, milliseconds(2));
  faster.Observe(kT0, milliseconds(1));
  EXPECT_NEAR(faster.EstimateNs(kT0), 1 * kMs, 1e3) << "a faster first sample replaces it";
}

TEST(PeakEwma, EstimateDecaysWhenReadAndReadingChangesNothing) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, milliseconds(100));
  const double after_tau = ewma.EstimateNs(kT0 + seconds(10));
  EXPECT_NEAR(after_tau, 100 * kMs * std::exp(-1.0), 1);
  EXPECT_DOUBLE_EQ(ewma.EstimateNs(kT0 + seconds(10)), after_tau);
}

TEST(PeakEwma, NeverBelowTheFloor) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, std::chrono::microseconds(100));
  EXPECT_DOUBLE_EQ(ewma.EstimateNs(kT0), 1 * kMs);
  EXPECT_DOUBLE_EQ(ewma.EstimateNs(kT0 + std::chrono::hours(1)), 1 * kMs);
}

TEST(PeakEwma, ClockGoingBackwardsCountsAsNoTime) {
  PeakEwma ewma = Seeded();
  ewma.Observe(kT0, milliseconds(50));
  EXPECT_DOUBLE_EQ(ewma.EstimateNs(kT0 - seconds(5)), 50 * kMs);
}

}  // namespace
}  // namespace skewless::balance::test
