// Sequential-connect simulations: P2C on live counts balances, honours weights; random does not.
#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "select_test_env.h"

namespace skewless::select_test {
namespace {

constexpr int kConnects = 1000;

// Spread of the per-backend counts (max - min).
template <typename Counts>
__u64 Spread(const Counts &counts) {
  auto [low, high] = std::minmax_element(counts.begin(), counts.end());
  return *high - *low;
}

class SkwSelectSimulation : public ::testing::TestWithParam<unsigned> {};

TEST_P(SkwSelectSimulation, P2cKeepsFourEqualBackendsWithinTwoConnections) {
  Cluster cluster(0, 4, 0);
  cluster.env.prng.seed(GetParam());
  for (int i = 0; i < kConnects; ++i) ASSERT_NE(cluster.Connect(), 0u);
  std::array<__u64, 4> counts{};
  for (__u32 slot = 1; slot <= 4; ++slot)
    counts[slot - 1] = cluster.env.active_conns[Cluster::IdOfSlot(slot)];
  EXPECT_LE(Spread(counts), 4u) << "every backend within +-2 of the others' middle";
  for (__u64 count : counts) {
    EXPECT_GE(count, 248u);
    EXPECT_LE(count, 252u);
  }
}

TEST_P(SkwSelectSimulation, UniformRandomChoiceLeavesFourEqualBackendsSkewed) {
  // What kube-proxy and Cilium do at connect time, for comparison.
  std::mt19937 prng(GetParam());
  std::array<__u64, 4> counts{};
  for (int i = 0; i < kConnects; ++i) ++counts[prng() % 4];
  EXPECT_GT(Spread(counts), 4u);
}

TEST_P(SkwSelectSimulation, WeightTwoHundredBackendGetsTwiceTheConnectionsOfWeightOneHundred) {
  Cluster cluster(0, 2, 0);
  cluster.env.prng.seed(GetParam());
  cluster.Backend(1).weight = 200;
  for (int i = 0; i < 3 * kConnects; ++i) cluster.Connect();
  double heavy = static_cast<double>(cluster.env.active_conns[Cluster::IdOfSlot(1)]);
  double light = static_cast<double>(cluster.env.active_conns[Cluster::IdOfSlot(2)]);
  EXPECT_NEAR(heavy / light, 2.0, 0.02);
}

TEST_P(SkwSelectSimulation, WeightsAreHonouredAcrossALargerMixedSet) {
  // Weights 100, 100, 200, 400 over 8 backends: P2C with increments keeps
  // connections roughly proportional to weight.
  Cluster cluster(0, 8, 0);
  cluster.env.prng.seed(GetParam());
  const std::array<__u16, 8> weights{100, 100, 100, 100, 200, 200, 400, 400};
  for (__u32 slot = 1; slot <= 8; ++slot) cluster.Backend(slot).weight = weights[slot - 1];
  for (int i = 0; i < 8 * kConnects; ++i) cluster.Connect();
  double per_weight_100 = 8.0 * kConnects / (4 * 100 + 2 * 200 + 2 * 400) * 100;
  for (__u32 slot = 1; slot <= 8; ++slot) {
    double expected = per_weight_100 * weights[slot - 1] / 100;
    EXPECT_NEAR(static_cast<double>(cluster.env.active_conns[Cluster::IdOfSlot(slot)]), expected,
                0.1 * expected)
        << "slot " << slot << " weight " << weights[slot - 1];
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, SkwSelectSimulation, ::testing::Values(1u, 7u, 42u, 2024u, 99991u));

}  // namespace
}  // namespace skewless::select_test
