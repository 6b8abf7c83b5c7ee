// Logs a client cannot flood: client strings cut with their length, repeated events
// limited per (kind, peer) with a count of what was left out, the table bounded.
#include "skewless/common/log_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "skewless/common/log.h"

namespace skewless::log {
namespace {

TEST(Clip, ShortStringsAreKeptAndLongOnesCutWithTheirLength) {
  EXPECT_EQ(Clip("node-a"), "node-a");
  const std::string id(1 << 20, 'n');
  const std::string clipped = Clip(id);
  EXPECT_EQ(clipped, std::string(256, 'n') + "...(1048576 bytes)");
  EXPECT_EQ(Clip("abcdef", 3), "abc...(6 bytes)");
}

TEST(KeyedLimiter, EachPeerAndKindIsLimitedApartAndCountsWhatItLeftOut) {
  KeyedLimiter limiter(std::chrono::milliseconds(50));
  std::uint64_t suppressed = 99;
  EXPECT_TRUE(limiter.Allow("nack", "peer-a", &suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(limiter.Allow("nack", "peer-a", &suppressed));
  EXPECT_TRUE(limiter.Allow("nack", "peer-b", &suppressed)) << "another peer";
  EXPECT_TRUE(limiter.Allow("stream_opened", "peer-a", &suppressed)) << "another kind";
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_TRUE(limiter.Allow("nack", "peer-a", &suppressed));
  EXPECT_EQ(suppressed, 10u);
}

TEST(KeyedLimiter, PastItsSizeIdlePeersAreForgottenAndTheRestShareOneLimiter) {
  KeyedLimiter limiter(std::chrono::milliseconds(50), /*max_keys=*/2);
  std::uint64_t suppressed = 0;
  EXPECT_TRUE(limiter.Allow("nack", "a", &suppressed));
  EXPECT_TRUE(limiter.Allow("nack", "b", &suppressed));
  EXPECT_TRUE(limiter.Allow("nack", "c", &suppressed)) << "the first of the others";
  EXPECT_FALSE(limiter.Allow("nack", "d", &suppressed)) << "shares c's limiter";
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  // a and b are idle now: forgotten, so e gets a limiter of its own.
  EXPECT_TRUE(limiter.Allow("nack", "e", &suppressed));
  EXPECT_FALSE(limiter.Allow("nack", "e", &suppressed));
}

}  // namespace
}  // namespace skewless::log
