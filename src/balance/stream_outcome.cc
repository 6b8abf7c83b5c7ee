// Which stream endings count against a backend.
#include "skewless/balance/stream_outcome.h"

namespace skewless::balance {

namespace {
constexpr int kGrpcUnavailable = 14;
}  // namespace

bool IsFailure(StreamOutcome outcome) {
  switch (outcome) {
    case StreamOutcome::kSuccess:
    case StreamOutcome::kCancelled:
      return false;
    case StreamOutcome::kConnectFailure:
    case StreamOutcome::kStreamReset:
    case StreamOutcome::kUnavailable:
    case StreamOutcome::kServerError:
      return true;
  }
  return false;
}

StreamOutcome OutcomeOfResponse(int http_status, std::optional<int> grpc_status) {
  if (http_status >= 500 && http_status <= 599) return StreamOutcome::kServerError;
  if (grpc_status == kGrpcUnavailable) return StreamOutcome::kUnavailable;
  return StreamOutcome::kSuccess;
}

}  // namespace skewless::balance
