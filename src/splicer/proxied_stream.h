// One request in flight through the splicer: the client's stream, the backend stream it
// was given to, and the bytes between them (each direction bounded by the windows in
// h2_connection.h). Streams are recycled per worker thread with their buffers' capacity,
// so a steady flow of calls copies headers and small bodies without touching the heap.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
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
// A recycled stream's buffer grown past this (a large message, big headers, a long
// replay copy) is freed rather than kept for the next call: spares stay small.
inline constexpr std::size_t kKeptBufferBytes = 4 << 10;

struct Header {
  std::string name;
  std::string value;
};

// A header list that keeps its storage when cleared: the next request's fields are
// copied into the strings the last one left, and nghttp2's view of the list is rebuilt
// in a vector kept for the purpose.
class HeaderBlock {
 public:
  HeaderBlock() = default;
  HeaderBlock(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  void Add(std::string_view name, std::string_view value);
  // Empties the list; every string keeps its capacity for the next Add.
  void Clear() { size_ = 0; }
  // Empties the list, and frees its storage if that has grown past `keep_bytes`.
  void Clear(std::size_t keep_bytes);
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  const Header* begin() const { return fields_.data(); }
  const Header* end() const { return fields_.data() + size_; }
  // nghttp2's view of the list (nghttp2 copies it on submit), valid until the next change.
  const std::vector<nghttp2_nv>& Nv();

 private:
  std::vector<Header> fields_;  // [0, size_) in use; the rest kept for their capacity
  std::size_t size_ = 0;
  std::vector<nghttp2_nv> nv_;
};

// Bytes received on one side and not yet taken by the other, counted in a gauge (the
// splicer's skewless_splicer_buffered_bytes) while they are held.
class ByteQueue {
 public:
  ByteQueue() = default;
  ByteQueue(const ByteQueue&) = delete;
  ByteQueue& operator=(const ByteQueue&) = delete;
  // Moves the bytes, their count in the gauge and the capacity; `other` is left empty and
  // counted nowhere.
  ByteQueue(ByteQueue&& other) noexcept;
  ByteQueue& operator=(ByteQueue&& other) noexcept;
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
  // Drops the bytes (and their count) and the gauge; keeps the storage unless it has
  // grown past `keep_bytes`.
  void Clear(std::size_t keep_bytes);

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
  HeaderBlock request_headers;
  HeaderBlock request_trailers;
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
  HeaderBlock response_headers;
  HeaderBlock response_trailers;
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

// A stream in its initial state: one this thread recycled earlier (buffers kept), or new.
std::unique_ptr<ProxiedStream> TakeStream();
// Gives a stream that is over back to this thread's spares (a bounded number is kept; the
// rest, and buffers grown past a small size, are freed).
void RecycleStream(std::unique_ptr<ProxiedStream> stream);

}  // namespace skewless::splicer
