// The splicer's side towards one backend pod: an HTTP/2 client session that carries
// many clients' streams, up to the pod's SETTINGS_MAX_CONCURRENT_STREAMS.
#pragma once

#include <optional>
#include <unordered_map>

#include "h2_connection.h"
#include "proxied_stream.h"

namespace skewless::splicer {

class BackendConnection final : public H2Connection {
 public:
  // `fd` is a socket whose nonblocking connect is in progress; `stream_window` the window
  // (and so the buffer) each response stream gets.
  BackendConnection(event_base* base, int fd, std::uint32_t stream_window,
                    std::function<void(H2Connection*)> on_closed);
  ~BackendConnection() override;

  // The TCP connect completed (streams submitted before wait for it).
  using H2Connection::connected;
  // Streams submitted so far (the first pays the peer's per-connection setup).
  std::uint64_t submitted() const { return submitted_; }
  // Room for one more stream: not closing, no GOAWAY, below the peer's limit.
  bool HasCapacity() const;
  std::size_t active_streams() const { return streams_.size(); }
  // The largest request header list the pod accepts (its SETTINGS_MAX_HEADER_LIST_SIZE;
  // unlimited until it says).
  std::uint32_t header_list_limit() const;

  // Sends the request's headers (and its body as it comes).
  void Submit(ProxiedStream& stream);
  // More request body (or its end) is waiting in the stream.
  void OnRequestData(ProxiedStream& stream);
  // The client side is gone: reset the backend stream and forget it.
  void Cancel(ProxiedStream& stream);
  // The client took `length` response bytes: open the backend's window by as much.
  void ConsumeResponse(ProxiedStream& stream, std::size_t length);

 private:
  void OnClosing() override;
  ProxiedStream* Find(std::int32_t stream_id);

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t flags, void* self);
  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnData(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                    const std::uint8_t* data, std::size_t length, void* self);
  static int OnStreamClose(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                           void* self);
  static ssize_t ReadRequest(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer,
                             std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                             void* self);

  bool goaway_ = false;
  // The error code of the pod's GOAWAY, when it had one: the pod closing on what it was sent.
  std::optional<std::uint32_t> goaway_error_;
  std::uint64_t submitted_ = 0;
  std::unordered_map<std::int32_t, ProxiedStream*> streams_;
};

}  // namespace skewless::splicer
