// Byte relay between a non-HTTP/2 client and one backend, on the worker's loop.
#include "tcp_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "h2_connection.h"

namespace skewless::splicer {

TcpRelay::TcpRelay(event_base* base, int client_fd, std::string first_bytes, int backend_fd,
                   RelayTimeouts timeouts, std::function<void(TimeoutKind)> on_timeout,
                   std::function<void(TcpRelay*, bool)> on_done)
    : base_(base),
      timeouts_(timeouts),
      on_timeout_(std::move(on_timeout)),
      last_active_(std::chrono::steady_clock::now()),
      on_done_(std::move(on_done)) {
  client_.fd = client_fd;
  backend_.fd = backend_fd;
  backend_.pending = std::move(first_bytes);
  for (Side* side : {&client_, &backend_}) {
    side->read_event = event_new(base_, side->fd, EV_READ | EV_PERSIST, &Readable, this);
    side->write_event = event_new(base_, side->fd, EV_WRITE, &Writable, this);
  }
  done_event_ = event_new(base_, -1, 0, &Done, this);
  std::chrono::milliseconds shortest{0};
  for (std::chrono::milliseconds limit : {timeouts_.idle, timeouts_.half_close}) {
    if (limit.count() > 0 && (shortest.count() == 0 || limit < shortest)) shortest = limit;
  }
  if (shortest.count() > 0) {
    const auto every =
        std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    check_event_ = event_new(base_, -1, EV_PERSIST, &Check, this);
    const timeval interval{.tv_sec = static_cast<time_t>(every.count() / 1000),
                           .tv_usec = static_cast<suseconds_t>(every.count() % 1000 * 1000)};
    event_add(check_event_, &interval);
  }
  event_add(client_.read_event, nullptr);
  // The backend is readable and writable once its connect completes (or fails).
  const timeval timeout{.tv_sec = kConnectTimeoutSeconds, .tv_usec = 0};
  event_add(backend_.write_event, &timeout);
}

TcpRelay::~TcpRelay() {
  for (Side* side : {&client_, &backend_}) {
    if (side->read_event != nullptr) event_free(side->read_event);
    if (side->write_event != nullptr) event_free(side->write_event);
    if (side->fd >= 0) close(side->fd);
  }
  if (done_event_ != nullptr) event_free(done_event_);
  if (check_event_ != nullptr) event_free(check_event_);
}

void TcpRelay::Check(evutil_socket_t, short, void* self) {
  auto& relay = *static_cast<TcpRelay*>(self);
  if (relay.done_) return;
  const auto now = std::chrono::steady_clock::now();
  auto expired = [now](std::chrono::steady_clock::time_point since,
                       std::chrono::milliseconds limit) {
    return limit.count() > 0 && now - since >= limit;
  };
  if (relay.half_closed_since_ != std::chrono::steady_clock::time_point{} &&
      expired(relay.half_closed_since_, relay.timeouts_.half_close)) {
    relay.on_timeout_(TimeoutKind::kHalfClose);
    relay.Fail();
  } else if (expired(relay.last_active_, relay.timeouts_.idle)) {
    relay.on_timeout_(TimeoutKind::kIdle);
    relay.Fail();
  }
}

void TcpRelay::Readable(evutil_socket_t fd, short, void* self) {
  auto& relay = *static_cast<TcpRelay*>(self);
  relay.Pump(relay.SideOf(fd));
}

void TcpRelay::Writable(evutil_socket_t fd, short what, void* self) {
  auto& relay = *static_cast<TcpRelay*>(self);
  Side& side = relay.SideOf(fd);
  if (&side == &relay.backend_ && !relay.backend_connected_) {
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if ((what & EV_TIMEOUT) != 0 || error != 0) {
      relay.Fail();
      return;
    }
    relay.backend_connected_ = true;
    event_add(relay.backend_.read_event, nullptr);
  }
  relay.Drain(side);
}

void TcpRelay::Done(evutil_socket_t, short, void* self) {
  auto& relay = *static_cast<TcpRelay*>(self);
  relay.on_done_(&relay, relay.backend_connected_);  // may delete the relay
}

void TcpRelay::Pump(Side& from) {
  Side& to = Other(from);
  std::array<char, 64 << 10> chunk;
  while (!done_ && to.pending.size() - to.pending_offset < kRelayBufferBytes) {
    const ssize_t received = recv(from.fd, chunk.data(), chunk.size(), 0);
    if (received < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      Fail();
      return;
    }
    if (received == 0) {
      from.read_closed = true;
      if (half_closed_since_ == std::chrono::steady_clock::time_point{}) {
        half_closed_since_ = std::chrono::steady_clock::now();
      }
      event_del(from.read_event);
      break;
    }
    last_active_ = std::chrono::steady_clock::now();
    to.pending.append(chunk.data(), static_cast<std::size_t>(received));
  }
  // The other side is slow: stop reading this one until it catches up.
  if (to.pending.size() - to.pending_offset >= kRelayBufferBytes) event_del(from.read_event);
  if (&to == &client_ || backend_connected_) Drain(to);
}

void TcpRelay::Drain(Side& to) {
  if (done_) return;
  Side& from = Other(to);
  while (to.pending_offset < to.pending.size()) {
    const ssize_t sent = send(to.fd, to.pending.data() + to.pending_offset,
                              to.pending.size() - to.pending_offset, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        event_add(to.write_event, nullptr);
        return;
      }
      Fail();
      return;
    }
    to.pending_offset += static_cast<std::size_t>(sent);
  }
  to.pending.clear();
  to.pending_offset = 0;
  if (from.read_closed) {
    if (!to.write_closed) {
      shutdown(to.fd, SHUT_WR);
      to.write_closed = true;
    }
  } else {
    event_add(from.read_event, nullptr);  // room again
  }
  MaybeDone();
}

void TcpRelay::Fail() {
  failed_ = true;
  done_ = true;
  event_active(done_event_, 0, 0);
}

void TcpRelay::MaybeDone() {
  if (client_.write_closed && backend_.write_closed && !done_) {
    done_ = true;
    event_active(done_event_, 0, 0);
  }
}

}  // namespace skewless::splicer
