// Which responses and stream endings count as a backend's failure.
#include "skewless/balance/stream_outcome.h"

#include <optional>

#include "gtest/gtest.h"

namespace skewless::balance {
namespace {

struct ResponseCase {
  int http_status;
  std::optional<int> grpc_status;
  StreamOutcome expected;
};

class OutcomeOfResponseTest : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(OutcomeOfResponseTest, ClassifiesTheResponse) {
  const ResponseCase& c = GetParam();
  EXPECT_EQ(OutcomeOfResponse(c.http_status, c.grpc_status), c.expected)
      << ":status " << c.http_status << " grpc-status " << c.grpc_status.value_or(-1);
}

INSTANTIATE_TEST_SUITE_P(
    Responses, OutcomeOfResponseTest,
    ::testing::Values(ResponseCase{200, std::nullopt, StreamOutcome::kSuccess},
                      ResponseCase{200, 0, StreamOutcome::kSuccess},
                      ResponseCase{200, 14, StreamOutcome::kUnavailable},  // UNAVAILABLE
                      ResponseCase{200, 5, StreamOutcome::kSuccess},       // NOT_FOUND: app
                      ResponseCase{200, 13, StreamOutcome::kSuccess},      // INTERNAL: app
                      ResponseCase{200, 4, StreamOutcome::kSuccess},       // DEADLINE: latency
                      ResponseCase{200, 8, StreamOutcome::kSuccess},       // RESOURCE_EXHAUSTED
                      ResponseCase{404, std::nullopt, StreamOutcome::kSuccess},
                      ResponseCase{429, std::nullopt, StreamOutcome::kSuccess},
                      ResponseCase{500, std::nullopt, StreamOutcome::kServerError},
                      ResponseCase{503, 14, StreamOutcome::kServerError},
                      ResponseCase{599, std::nullopt, StreamOutcome::kServerError}));

TEST(StreamOutcome, OnlyBackendHealthSignalsAreFailures) {
  EXPECT_FALSE(IsFailure(StreamOutcome::kSuccess));
  EXPECT_FALSE(IsFailure(StreamOutcome::kCancelled));
  EXPECT_TRUE(IsFailure(StreamOutcome::kConnectFailure));
  EXPECT_TRUE(IsFailure(StreamOutcome::kStreamReset));
  EXPECT_TRUE(IsFailure(StreamOutcome::kUnavailable));
  EXPECT_TRUE(IsFailure(StreamOutcome::kServerError));
}

// RFC 9113 §7 codes a backend resets a stream (or sends GOAWAY) with: the ones that blame
// what it was sent, or say nothing was processed, never count against it.
TEST(OutcomeOfResetTest, OnlyTheBackendsOwnTroubleCountsAgainstIt) {
  for (std::uint32_t blames_request : {0x1u, 0x3u, 0x6u, 0x9u, 0xbu}) {
    EXPECT_EQ(OutcomeOfReset(blames_request), StreamOutcome::kCancelled) << blames_request;
    EXPECT_FALSE(IsFailure(OutcomeOfReset(blames_request)));
  }
  EXPECT_EQ(OutcomeOfReset(0x7), StreamOutcome::kCancelled);  // REFUSED_STREAM: not processed
  EXPECT_EQ(OutcomeOfReset(0x8), StreamOutcome::kCancelled);  // CANCEL
  for (std::uint32_t backends_own : {0x2u, 0x4u, 0x5u, 0xau, 0xcu, 0xdu, 0xffu}) {
    EXPECT_EQ(OutcomeOfReset(backends_own), StreamOutcome::kStreamReset) << backends_own;
    EXPECT_TRUE(IsFailure(OutcomeOfReset(backends_own)));
  }
}

}  // namespace
}  // namespace skewless::balance
