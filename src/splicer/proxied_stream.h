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

#include "buffer_account.h"
#include "skewless/balance/backends.h"

namespace skewless::splicer {

class ClientConnection;
class BackendConnection;
struct UpstreamTarget;

// A header list larger than this (RFC 9113 §6.5.2 counting: name + value + 32 per field)
// ends the connection with GOAWAY ENHANCE_YOUR_CALM: HPACK lets a few bytes on the wire
// reference a large table entry many times (an "HPACK bomb"). Below it and above the
// configured request limit (SplicerLimits::max_request_headers_bytes) only that stream is
// refused, and its fields are no longer kept. Responses from backends are held to it too.
inline constexpr std::uint32_t kMaxHeaderListBytes = 64 << 10;
// RFC 9113 §6.5.2: what a header field costs beyond its name and value.
inline constexpr std::size_t kHeaderFieldOverhead = 32;
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

// Bytes received on one side and not yet taken by the other, counted in their client
// connection's buffer account (and so in skewless_splicer_buffered_bytes) while held.
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

  void CountIn(BufferAccount* account) { account_ = account; }
  void Append(const std::uint8_t* data, std::size_t length) {
    bytes_.append(reinterpret_cast<const char*>(data), length);
    Count(static_cast<double>(length));
  }
  // Copies up to `length` bytes out; returns how many.
  std::size_t Take(std::uint8_t* out, std::size_t length);
  // Puts bytes back in front (a request sent again).
  void Prepend(std::string_view bytes);
  std::size_t size() const { return bytes_.size() - offset_; }
  // Drops the bytes (and their count) and the account; keeps the storage unless it has
  // grown past `keep_bytes`.
  void Clear(std::size_t keep_bytes);
  // Drops the bytes and frees their storage; later bytes are still counted.
  void Drop();

 private:
  void Count(double delta) {
    if (account_ != nullptr) account_->Add(static_cast<std::int64_t>(delta));
  }

  std::string bytes_;
  std::size_t offset_ = 0;
  BufferAccount* account_ = nullptr;
};

struct ProxiedStream {
  // Client side.
  ClientConnection* client = nullptr;
  std::int32_t client_stream_id = 0;
  HeaderBlock request_headers;
  HeaderBlock request_trailers;
  std::size_t request_header_bytes = 0;    // headers and trailers, RFC 9113 counting
  bool request_headers_too_large = false;  // over the limit: refused, fields not kept
  // Decoded header bytes (both directions) counted in the connection's account while the
  // stream lives: HPACK makes them cost far more than their bytes on the wire.
  std::size_t header_bytes_counted = 0;
  bool grpc = false;  // content-type application/grpc*: failures answer with grpc-status
  ByteQueue request_body;
  bool request_ended = false;
  // Answered by the splicer itself (refused, reset): request bytes still arriving are
  // dropped and their window given back.
  bool answered_by_splicer = false;
  // The last frame either way, for the stream idle timeout.
  std::chrono::steady_clock::time_point last_active;
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

  // The client connection's buffer account: bodies count in it through their queues; the
  // decoded headers and the replay copy through these.
  BufferAccount* account = nullptr;
  void CountHeaderBytes(std::size_t bytes) {
    header_bytes_counted += bytes;
    if (account != nullptr) account->Add(static_cast<std::int64_t>(bytes));
  }
  void KeepSent(const std::uint8_t* data, std::size_t length) {
    request_sent.append(reinterpret_cast<const char*>(data), length);
    if (account != nullptr) account->Add(static_cast<std::int64_t>(length));
  }
  // Drops the replay copy; `free_storage` also gives its memory back.
  void ForgetSent(bool free_storage) {
    if (account != nullptr) account->Add(-static_cast<std::int64_t>(request_sent.size()));
    request_sent.clear();
    if (free_storage) std::string().swap(request_sent);
  }
  // Frees the header lists counted so far (a stream the splicer answered itself keeps none).
  void DropHeaders() {
    if (account != nullptr) account->Add(-static_cast<std::int64_t>(header_bytes_counted));
    header_bytes_counted = 0;
    request_headers.Clear(0);
    request_trailers.Clear(0);
    response_headers.Clear(0);
    response_trailers.Clear(0);
  }
  // Everything this stream holds, as its connection's budget sees it.
  std::size_t buffered() const {
    return request_body.size() + response_body.size() + request_sent.size() + header_bytes_counted;
  }
  // Takes the headers and replay copy out of the account (the bodies leave with their queues).
  void Uncount() {
    if (account != nullptr) {
      account->Add(-static_cast<std::int64_t>(header_bytes_counted + request_sent.size()));
    }
    header_bytes_counted = 0;
    account = nullptr;
  }
};

// A stream in its initial state: one this thread recycled earlier (buffers kept), or new.
std::unique_ptr<ProxiedStream> TakeStream();
// Gives a stream that is over back to this thread's spares (a bounded number is kept; the
// rest, and buffers grown past a small size, are freed).
void RecycleStream(std::unique_ptr<ProxiedStream> stream);

}  // namespace skewless::splicer
