// Backend lifecycle: updates keep state by address; draining, weight 0 and removed backends
// get no new streams while their outstanding streams finish; stale handles are refused.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

TEST(Lifecycle, DrainingBackendGetsNoNewStreamsButItsStreamsFinish) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const BackendHandle a = *backends.Find("a:80");
  ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  std::vector<BackendSpec> list = FourBackends();
  list[0].draining = true;
  ASSERT_TRUE(backends.Update(kT0, list).ok());

  std::mt19937 rng(1);
  EXPECT_EQ(IdlePicks(backends, rng, 1'000).count("a:80"), 0u);
  EXPECT_FALSE(backends.OnStreamStart(a, kT0)) << "a draining backend takes no new stream";
  const std::optional<BackendStatus> status = StatusOf(backends.Statuses(kT0), "a:80");
  EXPECT_FALSE(status->takes_new_streams);
  EXPECT_EQ(status->outstanding_streams, 1u);
  EXPECT_TRUE(backends.OnStreamEnd(a, kT0, milliseconds(3), StreamOutcome::kSuccess));
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "a:80")->outstanding_streams, 0u);
}

TEST(Lifecycle, WeightZeroGetsNothing) {
  Backends backends({});
  std::vector<BackendSpec> list = FourBackends();
  list[2].weight = 0;
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  std::mt19937 rng(2);
  EXPECT_EQ(IdlePicks(backends, rng, 1'000).count("c:80"), 0u);
}

TEST(Lifecycle, OnlyDrainingOrWeightZeroBackendsMeansNoPick) {
  Backends backends({});
  std::vector<BackendSpec> list = {Spec("a:80"), Spec("b:80", "", 0)};
  list[0].draining = true;
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  std::mt19937 rng(3);
  EXPECT_FALSE(backends.Pick(kT0, rng));
}

TEST(Lifecycle, RemovedBackendKeepsItsOutstandingStreamsUntilTheyEndThenIsForgotten) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const BackendHandle a = *backends.Find("a:80");
  ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  ASSERT_TRUE(backends.Update(kT0, {Spec("b:80"), Spec("c:80"), Spec("d:80")}).ok());

  std::mt19937 rng(4);
  EXPECT_EQ(IdlePicks(backends, rng, 1'000).count("a:80"), 0u);
  const std::optional<BackendStatus> status = StatusOf(backends.Statuses(kT0), "a:80");
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->removed);
  EXPECT_EQ(status->outstanding_streams, 2u);

  EXPECT_TRUE(backends.OnStreamEnd(a, kT0, milliseconds(3), StreamOutcome::kSuccess));
  EXPECT_TRUE(StatusOf(backends.Statuses(kT0), "a:80"));
  EXPECT_TRUE(backends.OnStreamEnd(a, kT0, milliseconds(3), StreamOutcome::kSuccess));
  EXPECT_FALSE(StatusOf(backends.Statuses(kT0), "a:80"));
  EXPECT_FALSE(backends.Find("a:80"));
}

TEST(Lifecycle, HandleOfAForgottenBackendIsRefusedEvenAfterItsSlotIsReused) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80")}).ok());
  const BackendHandle a = *backends.Find("a:80");
  ASSERT_TRUE(backends.Update(kT0, {Spec("b:80")}).ok());
  ASSERT_TRUE(backends.Update(kT0, {Spec("b:80"), Spec("c:80")}).ok());
  EXPECT_EQ(backends.Find("c:80")->index, a.index) << "the test wants the slot reused";
  EXPECT_FALSE(backends.OnStreamStart(a, kT0));
  EXPECT_FALSE(backends.OnStreamEnd(a, kT0, milliseconds(1), StreamOutcome::kSuccess));
  EXPECT_EQ(backends.address(a), nullptr);
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "c:80")->outstanding_streams, 0u);
}

TEST(Lifecycle, BackendsThatStayKeepTheirState) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const BackendHandle b = *backends.Find("b:80");
  ASSERT_TRUE(backends.OnStreamStart(b, kT0));
  ASSERT_TRUE(backends.OnStreamStart(b, kT0));
  ASSERT_TRUE(backends.OnStreamEnd(b, kT0, milliseconds(42), StreamOutcome::kSuccess));

  std::vector<BackendSpec> list = {Spec("b:80", "", 300), Spec("e:80")};
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  EXPECT_EQ(backends.Find("b:80"), b) << "same handle for the same address";
  const std::optional<BackendStatus> status = StatusOf(backends.Statuses(kT0), "b:80");
  EXPECT_EQ(status->outstanding_streams, 1u);
  EXPECT_DOUBLE_EQ(status->latency_estimate_ns, 42e6);
}

TEST(Lifecycle, BackendListedAgainBeforeItsStreamsEndedIsTheSameBackend) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80")}).ok());
  const BackendHandle a = *backends.Find("a:80");
  ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  ASSERT_TRUE(backends.Update(kT0, {Spec("b:80")}).ok());
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80")}).ok());
  EXPECT_EQ(backends.Find("a:80"), a);
  EXPECT_TRUE(backends.OnStreamStart(a, kT0));
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "a:80")->outstanding_streams, 2u);
}

TEST(Lifecycle, UpdateRefusesEmptyOrDuplicateAddressesAndChangesNothing) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const absl::Status duplicate = backends.Update(kT0, {Spec("x:80"), Spec("x:80")});
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(duplicate.message().find("x:80"), std::string_view::npos) << duplicate;
  EXPECT_EQ(backends.Update(kT0, {Spec("")}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backends.Statuses(kT0).size(), 4u);
  EXPECT_FALSE(backends.Find("x:80"));
}

TEST(Lifecycle, AnAvoidedBackendIsLeftOutWhileAnotherRemains) {
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80"), Spec("b:80")}).ok());
  std::mt19937 rng(7);
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 100; ++i) {
    const auto choice = backends.Pick(kT0, rng, a);
    ASSERT_TRUE(choice);
    EXPECT_EQ(AddressOf(backends, *choice), "b:80");
  }
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80")}).ok());
  const auto only = backends.Pick(kT0, rng, a);  // the only one left is still chosen
  ASSERT_TRUE(only);
  EXPECT_EQ(AddressOf(backends, *only), "a:80");
}

TEST(Lifecycle, APickWithoutStreamStartReservesNothing) {
  // A pick with no OnStreamStart leaves no trace: the backend can be removed and forgotten.
  Backends backends({});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80")}).ok());
  std::mt19937 rng(5);
  const auto choice = backends.Pick(kT0, rng);
  ASSERT_TRUE(choice);
  ASSERT_TRUE(backends.Update(kT0, {}).ok());
  EXPECT_FALSE(backends.OnStreamStart(choice->backend, kT0)) << "pick again instead";
  EXPECT_TRUE(backends.Statuses(kT0).empty());
}

}  // namespace
}  // namespace skewless::balance::test
