// The Service's policy (BalanceOptions::lb_policy, Backends::SetPolicy): random ignores load
// and spills by none; least-loaded weighs the whole tier; switching policy keeps every
// backend's state.
#include "balance_test_util.h"

namespace skewless::balance::test {
namespace {

TEST(Policy, RandomSpreadsEvenlyOverABackendWithManyOutstandingStreams) {
  Backends backends(BalanceOptions{.lb_policy = SKW_LB_RANDOM});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  std::mt19937 rng(2);
  std::map<std::string, int> picks;
  for (int i = 0; i < 4000; ++i) {
    const std::optional<Choice> choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    ASSERT_EQ(choice->reason, PickReason::kRandom);
    ++picks[AddressOf(backends, *choice)];
  }
  for (const char* address : {"a:80", "b:80", "c:80", "d:80"})
    EXPECT_NEAR(Share(picks, address), 0.25, 0.04) << address;
}

TEST(Policy, RandomStaysInALoadedPreferredZone) {
  Backends backends(
      BalanceOptions{.prefer_local_zone = true, .local_zone = "z1", .lb_policy = SKW_LB_RANDOM});
  ASSERT_TRUE(backends.Update(kT0, {Spec("a:80", "z1"), Spec("b:80", "z2")}).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(backends.OnStreamStart(*backends.Find("a:80"), kT0));
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    const std::optional<Choice> choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    EXPECT_EQ(AddressOf(backends, *choice), "a:80");
  }
}

TEST(Policy, SwitchingPolicyTakesEffectAtTheNextPickAndKeepsState) {
  Backends backends(BalanceOptions{});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  const BackendHandle a = *backends.Find("a:80");
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(backends.OnStreamStart(a, kT0));
  std::mt19937 rng(5);
  auto picks_of_a = [&](int n) {
    int count = 0;
    for (int i = 0; i < n; ++i) {
      const std::optional<Choice> choice = backends.Pick(kT0, rng);
      if (choice && AddressOf(backends, *choice) == "a:80") ++count;
    }
    return count;
  };
  EXPECT_EQ(picks_of_a(1000), 0);
  backends.SetPolicy(SKW_LB_RANDOM);
  EXPECT_GT(picks_of_a(1000), 150);
  EXPECT_EQ(StatusOf(backends.Statuses(kT0), "a:80")->outstanding_streams, 20u);
  backends.SetPolicy(SKW_LB_LEAST_REQUEST);
  EXPECT_EQ(picks_of_a(1000), 0);
}

TEST(Policy, LeastLoadedTakesTheOneIdleBackendEveryTime) {
  Backends backends(BalanceOptions{.lb_policy = SKW_LB_LEAST_LOADED});
  ASSERT_TRUE(backends.Update(kT0, FourBackends()).ok());
  for (const char* busy : {"a:80", "b:80", "d:80"}) {
    ASSERT_TRUE(backends.OnStreamStart(*backends.Find(busy), kT0));
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    const std::optional<Choice> choice = backends.Pick(kT0, rng);
    ASSERT_TRUE(choice);
    ASSERT_EQ(AddressOf(backends, *choice), "c:80") << "P2C would miss it half the time";
  }
}

}  // namespace
}  // namespace skewless::balance::test
