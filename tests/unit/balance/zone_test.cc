// Zone preference: the local zone takes streams until it is clearly overloaded (select.h's
// spill rule on outstanding streams), and kube-proxy's rule for when zones count at all.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

BalanceOptions PreferZone(std::string zone) {
  BalanceOptions options;
  options.prefer_local_zone = true;
  options.local_zone = std::move(zone);
  return options;
}

std::vector<BackendSpec> TwoZones() {
  return {Spec("a1:80", "a"), Spec("a2:80", "a"), Spec("b1:80", "b"), Spec("b2:80", "b")};
}

void Load(Backends& backends, const std::string& address, int streams) {
  const BackendHandle handle = *backends.Find(address);
  for (int i = 0; i < streams; ++i) ASSERT_TRUE(backends.OnStreamStart(handle, kT0));
}

TEST(ZonePreference, LocalZoneTakesEveryStreamWhileLightlyLoaded) {
  Backends backends(PreferZone("a"));
  ASSERT_TRUE(backends.Update(kT0, TwoZones()).ok());
  std::mt19937 rng(1);
  for (int i = 0; i < 1'000; ++i) {
    auto choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    ASSERT_EQ(AddressOf(backends, *choice)[0], 'a');
    EXPECT_EQ(choice->reason, PickReason::kP2cPreferred);
  }
}

TEST(ZonePreference, SpillsToAnotherZoneWhenTheLocalOneIsOverloaded) {
  Backends backends(PreferZone("a"));
  ASSERT_TRUE(backends.Update(kT0, TwoZones()).ok());
  Load(backends, "a1:80", 12);
  Load(backends, "a2:80", 12);
  std::mt19937 rng(2);
  auto choice = backends.Pick(kT0, rng);
  ASSERT_TRUE(choice);
  EXPECT_EQ(AddressOf(backends, *choice)[0], 'b');
  EXPECT_EQ(choice->reason, PickReason::kSpillOverload);
}

TEST(ZonePreference, DoesNotSpillOnFewerThanMinDeltaExtraStreams) {
  // 7 outstanding vs 0 is 8x the cost but below spill_min_delta (8): stay local.
  Backends backends(PreferZone("a"));
  ASSERT_TRUE(backends.Update(kT0, TwoZones()).ok());
  Load(backends, "a1:80", 7);
  Load(backends, "a2:80", 7);
  std::mt19937 rng(3);
  for (int i = 0; i < 100; ++i) {
    auto choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    EXPECT_EQ(AddressOf(backends, *choice)[0], 'a');
  }
}

TEST(ZonePreference, UnderSustainedLoadTheLocalZoneKeepsMoreThanItsShareAndSpillsTheRest) {
  Backends backends(PreferZone("a"));
  ASSERT_TRUE(backends
                  .Update(kT0, {Spec("a1:80", "a"), Spec("b1:80", "b"), Spec("b2:80", "b"),
                                Spec("b3:80", "b")})
                  .ok());
  ClosedLoop loop(backends, 4, 40, [](const std::string&) { return milliseconds(2); });
  const auto picks = loop.RunUntil(kT0 + seconds(5));
  EXPECT_GT(Share(picks, "a1:80"), 0.30);  // more than an even quarter
  EXPECT_LT(Share(picks, "a1:80"), 0.60);  // but the other zones take the overflow
}

TEST(ZonePreference, NoUsableLocalBackendSendsStreamsToOtherZones) {
  Backends backends(PreferZone("a"));
  std::vector<BackendSpec> list = TwoZones();
  list[0].draining = true;
  list[1].weight = 0;
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  std::mt19937 rng(5);
  auto choice = backends.Pick(kT0, rng);
  ASSERT_TRUE(choice);
  EXPECT_EQ(AddressOf(backends, *choice)[0], 'b');
  EXPECT_EQ(choice->reason, PickReason::kSpillNoPreferred);
}

TEST(ZonePreference, OneBackendWithoutAZoneTurnsThePreferenceOff) {
  // kube-proxy uses zone hints only when every ready endpoint has one.
  Backends backends(PreferZone("a"));
  std::vector<BackendSpec> list = TwoZones();
  list.push_back(Spec("nozone:80"));
  ASSERT_TRUE(backends.Update(kT0, list).ok());
  std::mt19937 rng(6);
  const auto picks = IdlePicks(backends, rng, 5'000);
  EXPECT_NEAR(Share(picks, "b1:80"), 0.2, 0.03);
}

TEST(ZonePreference, UnknownLocalZoneOrNoPreferenceIgnoresZones) {
  BalanceOptions unknown_zone = PreferZone("");
  BalanceOptions not_asked;
  not_asked.local_zone = "a";
  for (const BalanceOptions& options : {unknown_zone, not_asked}) {
    Backends backends(options);
    ASSERT_TRUE(backends.Update(kT0, TwoZones()).ok());
    std::mt19937 rng(7);
    auto choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    EXPECT_EQ(choice->reason, PickReason::kP2cReady);
    EXPECT_NEAR(Share(IdlePicks(backends, rng, 4'000), "b2:80"), 0.25, 0.03);
  }
}

}  // namespace
}  // namespace skewless::balance::test
