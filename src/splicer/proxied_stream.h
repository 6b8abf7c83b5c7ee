// One request in flight through the splicer: the client's stream, the backend stream it
// was given to, and the bytes between them (each direction bounded by the windows in
// h2_connection.h).
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skewless/balance/backends.h"
#include "skewless/common/prometheus.h"

namespace skewless::splicer {

class ClientConnection;
class BackendConnection;
struct UpstreamTarget;

// A header list larger than this (RFC 9113 §6.5.2 counting: name + value + 32 per field)
// ends the connection with GOAWAY ENHANCE_YOUR_CALM: HPACK lets a few bytes on the wire
// reference a large table entry many times (an "HPACK bomb"), and nothing else bounds
// what the decoded list costs. gRPC's own default limit is 8 KiB; Envoy's 60 KiB.
inline constexpr std::uint32_t kMaxHeaderListBytes = 64 << 10;
inline constexpr std::size_t kReplayLimitBytes = 64 << 10;

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// Bytes received on one side and not yet taken by the other, counted in a gauge (the
// splicer's skewless_splicer_buffered_bytes) while they are held.
class ByteQueue {
 public:
  ByteQueue() = default;
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;
  ~ByteQueue() { Count(-static_cast<double>(size())); }

  void CountIn(prometheus::Gauge* gauge) { gauge_ = gauge; }
  void Append(const std::uint8_t* data, std::size_t length) {
    bytes_.append(reinterpret_cast<const char*>(data), length);
    Count(static_cast<double>(length));
  }
  // Copies up to `length` bytes out; returns how many.
  std::size_t Take(std::uint8_t* out, std::size_t length);
  // Puts bytes back in front (a request sent again).
  void Prepend(std::string_view bytes);
  std::size_t size() const { return bytes_.size() - offset_; }

 private:
  void Count(double delta) {
    if (gauge_ != nullptr && delta != 0) gauge_->Add(delta);
  }

  std::string bytes_;
  std::size_t offset_ = 0;
  prometheus::Gauge* gauge_ = nullptr;
};

struct ProxiedStream {
  // Client side.
  ClientConnection* client = nullptr;
  std::int32_t client_stream_id = 0;
  Headers request_headers;
  Headers request_trailers;
  std::size_t request_header_bytes = 0;
  bool grpc = false;  // content-type application/grpc*: failures answer with grpc-status
  ByteQueue request_body;
  bool request_ended = false;
  // What the backend side already took, kept until the response starts (at most
  // kReplayLimitBytes) so a stream the backend refuses unprocessed (REFUSED_STREAM,
  // e.g. above a GOAWAY's last-stream-id) can go to another backend whole.
  std::string request_sent;
  bool replayable = true;
  std::size_t replay_unconsumed = 0;  // front bytes of request_body the client's window
                                      // already got back

  // Backend side.
  BackendConnection* backend = nullptr;  // null before routing and after its stream closed
  std::int32_t backend_stream_id = -1;
  UpstreamTarget* target = nullptr;  // where it is counted (upstream.h)
  int attempts = 0;  // backends tried (a connect that failed sends nothing: safe to retry)
  std::optional<balance::BackendHandle> unreachable_backend;  // the last one not reachable
  std::chrono::steady_clock::time_point started;
  Headers response_headers;
  Headers response_trailers;
  std::size_t response_header_bytes = 0;
  bool response_submitted = false;  // headers handed to the client session
  ByteQueue response_body;
  std::size_t response_unconsumed = 0;  // received from the backend, window not yet reopened
  bool response_ended = false;
  std::chrono::steady_clock::time_point response_at;  // the backend's response headers
  bool response_seen = false;
  // For the balancer: the backend picked and counted, and how the stream failed there.
  balance::BackendHandle pick;
  bool counted = false;
  // False when the stream waited for its backend connection to be set up: its time then
  // says how fast a connect was, not the backend, and is no latency sample.
  bool timed = true;
  std::optional<balance::StreamOutcome> failure;
};

// nghttp2's view of a header list (it copies names and values on submit).
std::vector<nghttp2_nv> ToNv(const Headers& headers);

}  // namespace skewless::splicer
