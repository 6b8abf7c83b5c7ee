// Outlier ejection: consecutive failures eject with growing backoff, probation sends one trial
// stream, and ejection never leaves the service without a backend.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

// Defaults: 5 consecutive failures, 30 s base, 300 s max, at most 50% ejected.
class Ejection : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(backends_.Update(kT0, FourBackends()).ok()); }

  void End(const std::string& address, TimePoint now, StreamOutcome outcome, int times = 1) {
    const BackendHandle handle = *backends_.Find(address);
    for (int i = 0; i < times; ++i) {
      ASSERT_TRUE(backends_.OnStreamStart(handle, now));
      ASSERT_TRUE(backends_.OnStreamEnd(handle, now, milliseconds(2), outcome));
    }
  }
  void Fail(const std::string& address, TimePoint now, int times = 1) {
    End(address, now, StreamOutcome::kServerError, times);
  }
  Health HealthOf(const std::string& address, TimePoint now) {
    return StatusOf(backends_.Statuses(now), address)->health;
  }
  int PicksOf(const std::string& address, TimePoint now, int n = 1'000) {
    std::map<std::string, int> picks;
    for (int i = 0; i < n; ++i) {
      auto choice = backends_.Pick(now, rng_);  // picked, not started: nothing changes
      if (choice) ++picks[AddressOf(backends_, *choice)];
    }
    return picks[address];
  }

  Backends backends_{BalanceOptions{}};
  std::mt19937 rng_{11};
};

TEST_F(Ejection, FiveConsecutiveFailuresEjectForThirtySeconds) {
  Fail("a:80", kT0, 4);
  EXPECT_EQ(HealthOf("a:80", kT0), Health::kHealthy);
  Fail("a:80", kT0);
  EXPECT_EQ(HealthOf("a:80", kT0), Health::kEjected);
  EXPECT_EQ(PicksOf("a:80", kT0), 0);
  EXPECT_EQ(HealthOf("a:80", kT0 + seconds(29)), Health::kEjected);
  EXPECT_EQ(HealthOf("a:80", kT0 + seconds(30)), Health::kProbation);
}

TEST_F(Ejection, ASuccessBreaksTheStreak) {
  Fail("a:80", kT0, 4);
  End("a:80", kT0, StreamOutcome::kSuccess);
  Fail("a:80", kT0, 4);
  EXPECT_EQ(HealthOf("a:80", kT0), Health::kHealthy);
}

TEST_F(Ejection, CancelledStreamsNeitherCountNorBreakTheStreak) {
  Fail("a:80", kT0, 4);
  End("a:80", kT0, StreamOutcome::kCancelled, 3);
  EXPECT_EQ(HealthOf("a:80", kT0), Health::kHealthy);
  Fail("a:80", kT0);
  EXPECT_EQ(HealthOf("a:80", kT0), Health::kEjected);
}

class EveryFailureKind : public Ejection, public ::testing::WithParamInterface<StreamOutcome> {};

TEST_P(EveryFailureKind, CountsTowardsEjection) {
  End("b:80", kT0, GetParam(), 5);
  EXPECT_EQ(HealthOf("b:80", kT0), Health::kEjected);
}

INSTANTIATE_TEST_SUITE_P(Kinds, EveryFailureKind,
                         ::testing::Values(StreamOutcome::kConnectFailure,
                                           StreamOutcome::kStreamReset, StreamOutcome::kUnavailable,
                                           StreamOutcome::kServerError));

TEST_F(Ejection, ProbationSendsOneTrialStreamAtATimeAndOneSuccessRestores) {
  Fail("a:80", kT0, 5);
  const TimePoint probation = kT0 + seconds(30);
  ASSERT_EQ(HealthOf("a:80", probation), Health::kProbation);
  ASSERT_GT(PicksOf("a:80", probation), 0);

  const BackendHandle a = *backends_.Find("a:80");
  ASSERT_TRUE(backends_.OnStreamStart(a, probation));  // the trial
  for (const char* busy : {"b:80", "c:80", "d:80"}) {
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(backends_.OnStreamStart(*backends_.Find(busy), probation));
  }
  EXPECT_EQ(PicksOf("a:80", probation), 0)
      << "no second trial while one is in flight, however busy the others are";

  ASSERT_TRUE(backends_.OnStreamEnd(a, probation, milliseconds(2), StreamOutcome::kSuccess));
  EXPECT_EQ(HealthOf("a:80", probation), Health::kHealthy);
  EXPECT_GT(PicksOf("a:80", probation), 0);
}

TEST_F(Ejection, FailedTrialReEjectsWithDoubledBackoffUpToTheMaximum) {
  Fail("a:80", kT0, 5);
  TimePoint now = kT0;
  for (int backoff_s : {30, 60, 120, 240, 300, 300}) {
    EXPECT_EQ(HealthOf("a:80", now + seconds(backoff_s) - milliseconds(1)), Health::kEjected)
        << "backoff " << backoff_s << " s";
    now += seconds(backoff_s);
    ASSERT_EQ(HealthOf("a:80", now), Health::kProbation) << "backoff " << backoff_s << " s";
    Fail("a:80", now);  // one failed trial is enough
  }
}

TEST_F(Ejection, CancelledTrialAllowsAnotherTrial) {
  Fail("a:80", kT0, 5);
  const TimePoint probation = kT0 + seconds(30);
  End("a:80", probation, StreamOutcome::kCancelled);
  EXPECT_EQ(HealthOf("a:80", probation), Health::kProbation);
  EXPECT_GT(PicksOf("a:80", probation), 0);
}

TEST_F(Ejection, StreamsEndingWhileEjectedDoNotChangeTheEjection) {
  const BackendHandle a = *backends_.Find("a:80");
  ASSERT_TRUE(backends_.OnStreamStart(a, kT0));  // in flight before the ejection
  Fail("a:80", kT0, 5);
  ASSERT_TRUE(backends_.OnStreamEnd(a, kT0 + seconds(1), milliseconds(2), StreamOutcome::kSuccess));
  EXPECT_EQ(HealthOf("a:80", kT0 + seconds(1)), Health::kEjected);
  EXPECT_EQ(HealthOf("a:80", kT0 + seconds(30)), Health::kProbation);
}

TEST_F(Ejection, BackoffFallsBackAfterTimeSpentHealthy) {
  Fail("a:80", kT0, 5);             // 30 s
  Fail("a:80", kT0 + seconds(30));  // trial fails: 60 s
  const TimePoint restored = kT0 + seconds(90);
  End("a:80", restored, StreamOutcome::kSuccess);
  ASSERT_EQ(HealthOf("a:80", restored), Health::kHealthy);

  // Failing again at once: the level stands, 120 s.
  Fail("a:80", restored, 5);
  EXPECT_EQ(HealthOf("a:80", restored + seconds(119)), Health::kEjected);
  const TimePoint restored_again = restored + seconds(120);
  End("a:80", restored_again, StreamOutcome::kSuccess);

  // Three base periods healthy take the level from 3 back to 0: 30 s again.
  const TimePoint later = restored_again + seconds(90);
  Fail("a:80", later, 5);
  EXPECT_EQ(HealthOf("a:80", later + seconds(29)), Health::kEjected);
  EXPECT_EQ(HealthOf("a:80", later + seconds(30)), Health::kProbation);
}

TEST_F(Ejection, AtMostHalfTheBackendsAreEjected) {
  for (const char* address : {"a:80", "b:80", "c:80", "d:80"}) Fail(address, kT0, 5);
  int ejected = 0;
  for (const BackendStatus& status : backends_.Statuses(kT0))
    ejected += status.health != Health::kHealthy;
  EXPECT_EQ(ejected, 2);
  EXPECT_GT(PicksOf("c:80", kT0) + PicksOf("d:80", kT0), 0);
}

TEST_F(Ejection, RefusedBackendAsksAgainOnItsNextFailureOnceThereIsRoom) {
  Fail("a:80", kT0, 5);
  Fail("b:80", kT0, 5);
  Fail("c:80", kT0, 5);  // refused: a and b are out
  ASSERT_EQ(HealthOf("c:80", kT0), Health::kHealthy);
  const TimePoint probation = kT0 + seconds(30);
  End("a:80", probation, StreamOutcome::kSuccess);  // a back: room for one
  Fail("c:80", probation);
  EXPECT_EQ(HealthOf("c:80", probation), Health::kEjected);
}

TEST(EjectionLimits, TheLastBackendIsNeverEjected) {
  // Ejecting it would fail every stream; kept, it may still answer some. Its error bias
  // remains, so it is the first to lose once anything else appears.
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("only:80")}).ok());
  const BackendHandle only = *backends.Find("only:80");
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(backends.OnStreamStart(only, kT0));
    ASSERT_TRUE(backends.OnStreamEnd(only, kT0, milliseconds(1), StreamOutcome::kConnectFailure));
  }
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "only:80")->health, Health::kHealthy);
  std::mt19937 rng(1);
  auto choice = backends.Pick(kT0, rng);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->backend, only);
}

TEST(EjectionLimits, WhenOnlyEjectedBackendsTakeStreamsTheyArePickedInPanic) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80")}).ok());
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(backends.OnStreamStart(a, kT0));
    ASSERT_TRUE(backends.OnStreamEnd(a, kT0, milliseconds(1), StreamOutcome::kStreamReset));
  }
  ASSERT_EQ(StatusOf(backends.Statuses(kT0), "a:80")->health, Health::kEjected);
  std::vector<BackendSpec> list = {Spec("a:80"), Spec("b:80")};
  list[1].draining = true;  // the healthy one goes away
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  std::mt19937 rng(2);
  auto choice = backends.Pick(kT0, rng);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->backend, a);
  EXPECT_EQ(choice->reason, PickReason::kPanic);
}

}  // namespace
}  // namespace skewless::balance::test
