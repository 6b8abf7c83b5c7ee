// One h2c connection of skewless-h2-pace: a nonblocking socket, an nghttp2 client session,
// at most `max_in_flight` unary gRPC calls on it at once and a queue of calls waiting for a
// slot. The owner's event loop calls OnReadable/Flush; nothing here blocks or allocates per
// call (slots are reused, header fields point at storage that outlives the session).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless::h2pace {

// What every call sends: the same request line and body on every connection.
struct CallTemplate {
  std::string authority;  // host:port as given
  std::string path;       // e.g. /skewless.lab.v1.Echo/Work
  std::string body;       // gRPC-framed message
};

// Called once per call that was sent or queued, when it ends. `error` is empty for a call
// that succeeded (HTTP 200, grpc-status 0); otherwise the gRPC status code's name
// (e.g. "UNIMPLEMENTED"), "HTTP_<status>", "NO_GRPC_STATUS", "RESET" (the stream was
// reset), "REFUSED" (no stream could be opened), "CONNECTION_LOST", or Abandon's `error`.
using CallDone = std::function<void(std::int64_t intended_ns, std::string_view error)>;

class PaceConnection {
 public:
  // Connects (blocking, up to `connect_timeout_ms`) to `address`, then makes the socket
  // nonblocking and sends the HTTP/2 preface on the first Flush. The error names the
  // target and the reason.
  static absl::StatusOr<std::unique_ptr<PaceConnection>> Connect(const std::string& target,
                                                                 const CallTemplate* call,
                                                                 int max_in_flight,
                                                                 int connect_timeout_ms,
                                                                 CallDone done);
  ~PaceConnection();
  PaceConnection(const PaceConnection&) = delete;
  PaceConnection& operator=(const PaceConnection&) = delete;

  int fd() const { return fd_; }
  // Sends the call now if a slot is free, else queues it (it keeps its intended time).
  void Start(std::int64_t intended_ns);
  // Forgets the queued calls (the run is over); returns how many there were.
  std::size_t DropQueued();
  // Reads what the socket has; finished calls are reported and free their slots.
  void OnReadable();
  // Writes what the session has queued. Returns true when output is left over for
  // when the socket is writable again.
  bool Flush();
  // Closes the connection now: every call in flight or queued ends with `error`.
  void Abandon(std::string_view error);
  int in_flight() const { return in_flight_; }
  bool lost() const { return fd_ < 0; }

 private:
  struct Slot {
    std::int64_t intended_ns = 0;
    int http_status = 0;
    int grpc_status = -1;  // -1: not seen
    std::size_t body_sent = 0;
    bool in_use = false;
    int next_free = -1;  // the free list, while not in use
  };

  PaceConnection(int fd, const CallTemplate* call, int max_in_flight, CallDone done);
  void Submit(std::int64_t intended_ns);
  // "" for a call that succeeded, else what CallDone's `error` says.
  std::string Verdict(const Slot& slot, std::uint32_t reset_code) const;
  void Release(Slot& slot);

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                      std::size_t valuelen, std::uint8_t flags, void* self);
  static int OnStreamClose(nghttp2_session* session, std::int32_t stream_id,
                           std::uint32_t error_code, void* self);
  static ssize_t ReadBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                          std::size_t length, std::uint32_t* data_flags,
                          nghttp2_data_source* source, void* self);

  int fd_;
  const CallTemplate* call_;
  CallDone done_;
  nghttp2_session* session_ = nullptr;
  std::vector<nghttp2_nv> headers_;
  std::vector<Slot> slots_;
  int free_slot_ = -1;
  int in_flight_ = 0;
  std::deque<std::int64_t> queued_;
  std::string unsent_;
  std::size_t unsent_offset_ = 0;
};

}  // namespace skewless::h2pace
