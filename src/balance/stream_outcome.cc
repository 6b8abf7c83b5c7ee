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

StreamOutcome OutcomeOfReset(std::uint32_t http2_error_code) {
  switch (http2_error_code) {
    case 0x1:  // PROTOCOL_ERROR
    case 0x3:  // FLOW_CONTROL_ERROR
    case 0x6:  // FRAME_SIZE_ERROR
    case 0x7:  // REFUSED_STREAM
    case 0x8:  // CANCEL
    case 0x9:  // COMPRESSION_ERROR
    case 0xb:  // ENHANCE_YOUR_CALM
      return StreamOutcome::kCancelled;
    default:
      return StreamOutcome::kStreamReset;
  }
}

}  // namespace skewless::balance
