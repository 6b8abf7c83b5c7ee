// L4 pass-through for a client on an HTTP/2 port that does not speak HTTP/2 prior
// knowledge (HTTP/1.1, TLS): its bytes are relayed to one backend as they are, both
// ways, rather than the connection being refused. Half-closes are passed on; each
// direction buffers at most kRelayBufferBytes (a slow side pauses reading the other). A
// relay does not outlive its use: once either side has finished sending, the other has
// RelayTimeouts::half_close to finish too (a pod that closed must not leave the client's
// socket in FIN-WAIT-2 and its own in CLOSE-WAIT for as long as the client keeps its end),
// and one that moves no byte for RelayTimeouts::idle is closed.
#pragma once

#include <event2/event.h>

#include <chrono>
#include <functional>
#include <string>

#include "splicer_metrics.h"

namespace skewless::splicer {

inline constexpr std::size_t kRelayBufferBytes = 256 << 10;

struct RelayTimeouts {
  std::chrono::milliseconds idle{0};        // no byte either way (0: none)
  std::chrono::milliseconds half_close{0};  // after one side's EOF (0: none)
};

class TcpRelay {
 public:
  // `client_fd` is the accepted socket, `first_bytes` what was already read from it;
  // `backend_fd` a socket whose nonblocking connect is in progress. `on_done` runs from
  // the loop once both directions are closed (or either failed), saying whether the
  // backend was ever reached; it may delete the relay. `on_timeout` counts a relay ended by
  // one of `timeouts` (kIdle or kHalfClose).
  TcpRelay(event_base* base, int client_fd, std::string first_bytes, int backend_fd,
           RelayTimeouts timeouts, std::function<void(TimeoutKind)> on_timeout,
           std::function<void(TcpRelay*, bool backend_reached)> on_done);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

 private:
  // One socket: what is waiting to be written to it, and how far its two halves are.
  struct Side {
    int fd = -1;
    event* read_event = nullptr;
    event* write_event = nullptr;
    std::string pending;  // bytes for this socket
    std::size_t pending_offset = 0;
    bool read_closed = false;   // its peer finished sending (EOF read)
    bool write_closed = false;  // we shut down our writes to it
  };

  static void Readable(evutil_socket_t fd, short what, void* self);
  static void Writable(evutil_socket_t fd, short what, void* self);
  static void Done(evutil_socket_t fd, short what, void* self);
  static void Check(evutil_socket_t fd, short what, void* self);
  Side& SideOf(evutil_socket_t fd) { return fd == client_.fd ? client_ : backend_; }
  Side& Other(const Side& side) { return &side == &client_ ? backend_ : client_; }
  // Reads from `from` into the other side's pending bytes, then writes them.
  void Pump(Side& from);
  // Writes `to`'s pending bytes; passes on a finished direction as a shutdown.
  void Drain(Side& to);
  void Fail();
  void MaybeDone();

  event_base* base_;
  Side client_;
  Side backend_;
  bool backend_connected_ = false;
  bool done_ = false;
  bool failed_ = false;
  event* done_event_ = nullptr;
  event* check_event_ = nullptr;  // the timeouts, checked a few times per shortest one
  RelayTimeouts timeouts_;
  std::function<void(TimeoutKind)> on_timeout_;
  std::chrono::steady_clock::time_point last_active_;
  std::chrono::steady_clock::time_point half_closed_since_{};  // the first EOF
  std::function<void(TcpRelay*, bool)> on_done_;
};

}  // namespace skewless::splicer
