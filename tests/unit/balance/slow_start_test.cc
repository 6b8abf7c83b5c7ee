// Slow start: a backend that joins a serving set ramps from 0.1 to full weight over the window.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

constexpr Nanoseconds kWindow = seconds(30);

BalanceOptions WithWindow(Nanoseconds window = kWindow) {
  BalanceOptions options;
  options.slow_start_window = window;
  return options;
}

std::vector<BackendSpec> ThreeOldOneNew() {
  std::vector<BackendSpec> list = {Spec("old1:80"), Spec("old2:80"), Spec("old3:80")};
  list.push_back(Spec("new:80"));
  return list;
}

TEST(SlowStart, BackendsOfTheFirstListStartAtFullWeight) {
  Backends backends(WithWindow());
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  for (const BackendStatus& status : backends.Statuses(kT0))
    EXPECT_DOUBLE_EQ(status.slow_start_factor, 1.0) << status.address;
}

TEST(SlowStart, JoiningBackendRampsFromOneTenthToFullWeightOverTheWindow) {
  Backends backends(WithWindow());
  ASSERT_TRUE(backends.Update(kT0, {Spec("old1:80"), Spec("old2:80"), Spec("old3:80")}).ok());
  const TimePoint joined = kT0 + seconds(100);
  ASSERT_TRUE(backends.Update(joined, ThreeOldOneNew()).ok());
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(joined), "new:80")->slow_start_factor, 0.1);
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(joined + seconds(15)), "new:80")->slow_start_factor,
                   0.55);
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(joined + kWindow), "new:80")->slow_start_factor, 1.0);
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(joined), "old1:80")->slow_start_factor, 1.0);
}

TEST(SlowStart, UnderLoadTheJoiningBackendsShareGrowsToAnEvenOne) {
  Backends backends(WithWindow());
  ASSERT_TRUE(backends.Update(kT0, {Spec("old1:80"), Spec("old2:80"), Spec("old3:80")}).ok());
  ClosedLoop loop(backends, 9, 24, [](const std::string&) { return milliseconds(2); });
  loop.RunUntil(kT0 + seconds(1));
  ASSERT_TRUE(backends.Update(loop.now(), ThreeOldOneNew()).ok());
  const TimePoint joined = loop.now();

  const double first_second = Share(loop.RunUntil(joined + seconds(1)), "new:80");
  loop.RunUntil(joined + seconds(14));
  const double mid_window = Share(loop.RunUntil(joined + seconds(16)), "new:80");
  loop.RunUntil(joined + kWindow);
  const double after_window = Share(loop.RunUntil(joined + kWindow + seconds(2)), "new:80");

  EXPECT_LT(first_second, 0.10);
  EXPECT_GT(mid_window, first_second);
  EXPECT_LT(mid_window, after_window);
  EXPECT_NEAR(after_window, 0.25, 0.02);
}

TEST(SlowStart, ZeroWindowMeansFullWeightAtOnce) {
  Backends backends(WithWindow(Nanoseconds(0)));
  ASSERT_TRUE(backends.Update(kT0, {Spec("old1:80"), Spec("old2:80"), Spec("old3:80")}).ok());
  ASSERT_TRUE(backends.Update(kT0 + seconds(1), ThreeOldOneNew()).ok());
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(kT0 + seconds(1)), "new:80")->slow_start_factor, 1.0);
}

TEST(SlowStart, BackendThatStopsDrainingRampsAgain) {
  Backends backends(WithWindow());
  std::vector<BackendSpec> list = ThreeOldOneNew();
  list[3].draining = true;
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  list[3].draining = false;
  ASSERT_TRUE(backends.Update(kT0 + seconds(5), list).ok());
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(kT0 + seconds(5)), "new:80")->slow_start_factor, 0.1);
}

}  // namespace
}  // namespace skewless::balance::test
