// Power of Two Choices on peak-EWMA cost: spreads evenly, avoids load, slowness and errors.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

Backends Started(const std::vector<BackendSpec>& list, BalanceOptions options = {}) {
  Backends backends(std::move(options));
  EXPECT_TRUE(backends.Update(kT0, list).ok());
  return backends;
}

TEST(Pick, TenThousandStreamsOverFourEqualIdleBackendsLandTwentyFivePercentEach) {
  Backends backends = Started(FourBackends());
  std::mt19937 rng(7);
  const auto picks = IdlePicks(backends, rng, 10'000);
  for (const char* address : {"a:80", "b:80", "c:80", "d:80"})
    EXPECT_NEAR(Share(picks, address), 0.25, 0.02) << address;
}

TEST(Pick, ANeverMeasuredBackendIsPricedAtTheMeasuredOnesCurrentCost) {
  // a's first sample is slow (a warm-up), then it settles at 1 ms; b has had no stream.
  BalanceOptions options;
  options.latency.min_sample_weight = 0.05;
  Backends backends = Started({Spec("a:80"), Spec("b:80")}, options);
  const BackendHandle a = *backends.Find("a:80");
  TimePoint now = kT0;
  ASSERT_TRUE(backends.OnStreamStart(a, now));
  now += std::chrono::milliseconds(50);
  ASSERT_TRUE(backends.OnStreamEnd(a, now, std::chrono::milliseconds(50), StreamOutcome::kSuccess));
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(backends.OnStreamStart(a, now));
    now += std::chrono::milliseconds(1);
    ASSERT_TRUE(
        backends.OnStreamEnd(a, now, std::chrono::milliseconds(1), StreamOutcome::kSuccess));
  }
  // Priced at a's first 50 ms sample, b would lose every draw and never be measured.
  std::mt19937 rng(3);
  const auto picks = IdlePicks(backends, rng, 1'000, now);
  EXPECT_GT(Share(picks, "b:80"), 0.3);
}

TEST(Pick, TheTwoCandidatesAreAlwaysDistinct) {
  // With two backends, P2C must compare both: if it could draw the loaded one twice, that one
  // would win a quarter of the picks.
  Backends backends = Started({Spec("idle:80"), Spec("busy:80")});
  const BackendHandle busy = *backends.Find("busy:80");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(backends.OnStreamStart(busy, kT0));
  std::mt19937 rng(1);
  for (int i = 0; i < 1'000; ++i) {
    auto choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    ASSERT_EQ(AddressOf(backends, *choice), "idle:80");
    EXPECT_EQ(choice->reason, PickReason::kP2cReady);
  }
}

TEST(Pick, BackendWithManyOutstandingStreamsIsAvoided) {
  Backends backends = Started(FourBackends());
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  std::mt19937 rng(2);
  const auto picks = IdlePicks(backends, rng, 1'000);
  EXPECT_EQ(picks.count("a:80"), 0u);
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "a:80")->outstanding_streams, 20u);
}

TEST(Pick, TenTimesSlowerBackendGetsFarFewerStreams) {
  Backends backends = Started(FourBackends());
  ClosedLoop loop(backends, 3, 8, [](const std::string& address) -> Nanoseconds {
    return address == "d:80" ? milliseconds(20) : milliseconds(2);
  });
  const auto picks = loop.RunUntil(kT0 + seconds(5));
  EXPECT_LT(Share(picks, "d:80"), 0.01);
  for (const char* fast : {"a:80", "b:80", "c:80"}) EXPECT_GT(Share(picks, fast), 0.30) << fast;
}

TEST(Pick, EqualLatencyUnderLoadStaysEven) {
  Backends backends = Started(FourBackends());
  ClosedLoop loop(backends, 4, 16, [](const std::string&) { return milliseconds(2); });
  const auto picks = loop.RunUntil(kT0 + seconds(5));
  for (const char* address : {"a:80", "b:80", "c:80", "d:80"})
    EXPECT_NEAR(Share(picks, address), 0.25, 0.02) << address;
}

// Like pods on a busy node: every stream 2 ms, but d's every tenth 3.5 ms (a scheduling
// hiccup). Peak-EWMA alone jumps to each hiccup and d loses share; within the splicer's
// tolerance of 2x the median, outstanding streams alone decide.
std::map<std::string, int> HiccupRun(double tolerance) {
  BalanceOptions options;
  options.latency.min_sample_weight = 0.05;
  options.latency_tolerance = tolerance;
  Backends backends = Started(FourBackends(), options);
  int d_streams = 0;
  ClosedLoop loop(backends, 6, 16, [&](const std::string& address) -> Nanoseconds {
    if (address == "d:80" && ++d_streams % 10 == 0) return std::chrono::microseconds(3500);
    return milliseconds(2);
  });
  return loop.RunUntil(kT0 + seconds(5));
}

TEST(Pick, JitterWithinTheToleranceDoesNotSkewShares) {
  EXPECT_LT(Share(HiccupRun(1.0), "d:80"), 0.22) << "the hiccups should matter without it";
  const auto picks = HiccupRun(2.0);
  for (const char* address : {"a:80", "b:80", "c:80", "d:80"})
    EXPECT_NEAR(Share(picks, address), 0.25, 0.02) << address;
}

TEST(Pick, ABackendSlowerThanTheToleranceIsStillAvoided) {
  BalanceOptions options;
  options.latency_tolerance = 2.0;
  Backends backends = Started(FourBackends(), options);
  ClosedLoop loop(backends, 3, 8, [](const std::string& address) -> Nanoseconds {
    return address == "d:80" ? milliseconds(20) : milliseconds(2);
  });
  // Priced at its 20 ms against the others' 2 ms (the median): as rare as with no tolerance.
  EXPECT_LT(Share(loop.RunUntil(kT0 + seconds(5)), "d:80"), 0.01);
}

TEST(Pick, WeightTwoHundredTakesAboutTwiceTheStreamsOfWeightOneHundredUnderLoad) {
  Backends backends = Started({Spec("heavy:80", "", 200), Spec("light:80", "", 100)});
  ClosedLoop loop(backends, 5, 32, [](const std::string&) { return milliseconds(2); });
  const auto picks = loop.RunUntil(kT0 + seconds(5));
  const double ratio = Share(picks, "heavy:80") / Share(picks, "light:80");
  EXPECT_GT(ratio, 1.9);
  EXPECT_LT(ratio, 2.1);
}

TEST(Pick, RecentFailuresRaiseCostSoAFailingBackendLosesToHealthyOnes) {
  BalanceOptions options;
  options.outlier.consecutive_failures = 1000;  // error bias alone, no ejection
  Backends backends = Started(FourBackends(), options);
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(backends.OnStreamStart(a, kT0));
    ASSERT_TRUE(backends.OnStreamEnd(
        a, kT0, milliseconds(5), i % 2 ? StreamOutcome::kServerError : StreamOutcome::kSuccess));
  }
  EXPECT_GT(StatusOf(backends.Statuses(kT0), "a:80")->error_multiplier, 1.5);
  std::mt19937 rng(6);
  EXPECT_EQ(IdlePicks(backends, rng, 1'000).count("a:80"), 0u);
}

TEST(Pick, AFastFailureDoesNotMakeABackendLookFast) {
  // A refused connection answers in microseconds; taken as a latency sample it would make the
  // broken backend the cheapest one and draw more streams into the failure.
  Backends backends = Started({Spec("a:80"), Spec("b:80")});
  const BackendHandle a = *backends.Find("a:80");
  const BackendHandle b = *backends.Find("b:80");
  ASSERT_TRUE(backends.OnStreamStart(b, kT0));
  ASSERT_TRUE(backends.OnStreamEnd(b, kT0, milliseconds(40), StreamOutcome::kSuccess));
  ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  ASSERT_TRUE(
      backends.OnStreamEnd(a, kT0, std::chrono::microseconds(50), StreamOutcome::kConnectFailure));
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(kT0), "a:80")->latency_estimate_ns, 40e6);
}

TEST(Pick, NewBackendStartsAtTheSetsMeanLatencyEstimate) {
  Backends backends = Started({Spec("a:80"), Spec("b:80")});
  for (auto [address, latency] : {std::pair{"a:80", milliseconds(4)}, {"b:80", milliseconds(8)}}) {
    const BackendHandle handle = *backends.Find(address);
    ASSERT_TRUE(backends.OnStreamStart(handle, kT0));
    ASSERT_TRUE(backends.OnStreamEnd(handle, kT0, latency, StreamOutcome::kSuccess));
  }
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80"), Spec("new:80")}).ok());
  EXPECT_DOUBLE_EQ(StatusOf(backends.Statuses(kT0), "new:80")->latency_estimate_ns, 6e6);
}

TEST(Pick, NothingListedPicksNothing) {
  Backends backends = Started({});
  std::mt19937 rng(8);
  EXPECT_FALSE(backends.Pick(kT0, rng));
}

}  // namespace
}  // namespace skewless::balance::test
