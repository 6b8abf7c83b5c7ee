// Error bias: recent failures multiply a backend's cost by about 1 / (success fraction).
#include "skewless/balance/error_bias.h"

#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

constexpr Nanoseconds kTau = seconds(10);

TEST(ErrorBias, NoFailuresCostsNothingExtra) {
  ErrorBias bias;
  EXPECT_DOUBLE_EQ(bias.CostMultiplier(kT0, kTau), 1.0);
  for (int i = 0; i < 100; ++i) bias.Record(kT0, false, kTau);
  EXPECT_DOUBLE_EQ(bias.CostMultiplier(kT0, kTau), 1.0);
}

TEST(ErrorBias, OneFailureOnAFreshBackendDoublesItsCost) {
  ErrorBias bias;
  bias.Record(kT0, true, kTau);
  EXPECT_DOUBLE_EQ(bias.CostMultiplier(kT0, kTau), 2.0);
}

TEST(ErrorBias, SteadyFailureFractionCostsAboutOneOverTheSuccessFraction) {
  ErrorBias ten_percent;
  ErrorBias ninety_percent;
  for (int i = 0; i < 1000; ++i) {
    const TimePoint now = kT0 + milliseconds(i);
    ten_percent.Record(now, i % 10 == 0, kTau);
    ninety_percent.Record(now, i % 10 != 0, kTau);
  }
  const TimePoint end = kT0 + milliseconds(1000);
  EXPECT_NEAR(ten_percent.CostMultiplier(end, kTau), 1.0 / 0.9, 0.01);
  EXPECT_NEAR(ninety_percent.CostMultiplier(end, kTau), 10.0, 0.2);
}

TEST(ErrorBias, FailuresFadeWhileTheBackendIsIdle) {
  ErrorBias bias;
  for (int i = 0; i < 20; ++i) bias.Record(kT0, true, kTau);
  EXPECT_GT(bias.CostMultiplier(kT0, kTau), 20.0);
  EXPECT_LT(bias.CostMultiplier(kT0 + seconds(60), kTau), 1.1);
}

}  // namespace
}  // namespace skewless::balance::test
