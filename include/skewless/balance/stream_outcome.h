// How a stream on a backend ended, as far as balancing cares, and the mapping from responses.
#pragma once

#include <cstdint>
#include <optional>

namespace skewless::balance {

enum class StreamOutcome : std::uint8_t {
  kSuccess,  // the backend answered, whatever the application status (see OutcomeOfResponse)
  // Neither success nor failure: the client cancelled, or a GOAWAY sent the unprocessed stream
  // elsewhere. Records no latency and leaves failure counts alone.
  kCancelled,
  kConnectFailure,  // no connection to the backend could carry the stream
  kStreamReset,     // RST_STREAM from the backend, or its connection died mid-stream
  kUnavailable,     // grpc-status 14 UNAVAILABLE
  kServerError,     // HTTP 5xx
};

bool IsFailure(StreamOutcome outcome);

// Classifies a completed response. http_status is the :status header; grpc_status the
// grpc-status from trailers (or a trailers-only response), nullopt when absent. Only a
// backend-health signal counts as failure: 5xx and UNAVAILABLE. Other gRPC errors
// (NOT_FOUND, INVALID_ARGUMENT, INTERNAL...) are answers from a live backend, and
// DEADLINE_EXCEEDED already shows up as latency; 429 / RESOURCE_EXHAUSTED is the backend
// saying "slow down", which outstanding-stream cost already does.
StreamOutcome OutcomeOfResponse(int http_status, std::optional<int> grpc_status);

// Classifies an HTTP/2 error code (RFC 9113 §7) with which a backend reset a stream, or
// closed its connection with GOAWAY. A code that blames what the backend was sent
// (PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, COMPRESSION_ERROR, ENHANCE_YOUR_CALM)
// is the backend refusing a client's request, and REFUSED_STREAM and CANCEL say the stream was
// not processed or not wanted: none of these counts against the backend (kCancelled). The
// backend's own trouble (INTERNAL_ERROR, and any other code) is kStreamReset.
StreamOutcome OutcomeOfReset(std::uint32_t http2_error_code);

}  // namespace skewless::balance
