// Socket ↔ nghttp2 session plumbing on libevent (see h2_connection.h).
#include "h2_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace skewless::splicer {
namespace {

// What one send gathers at most: large enough for many small frames, small enough that a
// big DATA stream does not copy megabytes before its first byte leaves.
constexpr std::size_t kFlushGatherBytes = 64 << 10;

constexpr std::size_t kReadChunkBytes = 64 << 10;

}  // namespace

H2Connection::H2Connection(event_base* base, int fd, std::function<void(H2Connection*)> on_closed)
    : base_(base), fd_(fd), on_closed_(std::move(on_closed)) {
  read_event_ = event_new(base_, fd_, EV_READ | EV_PERSIST, &Readable, this);
  write_event_ = event_new(base_, fd_, EV_WRITE, &Writable, this);
  flush_event_ = event_new(base_, -1, 0, &Flushing, this);
  closed_event_ = event_new(base_, -1, 0, &Closed, this);
}

H2Connection::~H2Connection() {
  for (event* ev : {read_event_, write_event_, flush_event_, closed_event_}) {
    if (ev != nullptr) event_free(ev);
  }
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (fd_ >= 0) close(fd_);
}

void H2Connection::Open(Role role, const nghttp2_session_callbacks* callbacks,
                        std::initializer_list<nghttp2_settings_entry> settings) {
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Closed streams are not kept for the RFC 7540 priority tree: memory follows open streams.
  nghttp2_option_set_no_closed_streams(option, 1);
  if (role == Role::kServer) {
    nghttp2_session_server_new2(&session_, callbacks, this, option);
    preface_checked_ = false;
  } else {
    nghttp2_session_client_new2(&session_, callbacks, this, option);
    connected_ = false;  // until the socket is writable
  }
  nghttp2_option_del(option);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.begin(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindowBytes);
  event_add(read_event_, nullptr);
  if (!connected_) {
    // A backend whose SYNs are dropped would otherwise hold its streams for the kernel's
    // two minutes of retries; its streams go to another backend instead.
    const timeval timeout{.tv_sec = kConnectTimeoutSeconds, .tv_usec = 0};
    event_add(write_event_, &timeout);
  }
  RequestFlush();
}

void H2Connection::RequestFlush() {
  if (!closing_ && session_ != nullptr) event_active(flush_event_, 0, 0);
}

void H2Connection::Close(const std::string& why) { Finish(why); }

void H2Connection::Terminate(std::uint32_t error_code, const std::string& why) {
  if (closing_ || session_ == nullptr) return;
  nghttp2_session_terminate_session(session_, error_code);
  Flush();
  Finish(why);
}

int H2Connection::TakeSocket() {
  event_del(read_event_);
  event_del(write_event_);
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void H2Connection::Readable(evutil_socket_t, short, void* self) {
  static_cast<H2Connection*>(self)->Read();
}

void H2Connection::Writable(evutil_socket_t, short what, void* self) {
  auto& connection = *static_cast<H2Connection*>(self);
  if (!connection.connected_ && (what & EV_TIMEOUT) != 0) {
    connection.Finish("connect: no answer within " + std::to_string(kConnectTimeoutSeconds) + " s");
    return;
  }
  if (!connection.connected_) {
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(connection.fd_, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      connection.Finish(std::string("connect: ") + std::strerror(error));
      return;
    }
    connection.connected_ = true;
    connection.OnConnected();
  }
  connection.Flush();
}

void H2Connection::Flushing(evutil_socket_t, short, void* self) {
  static_cast<H2Connection*>(self)->Flush();
}

void H2Connection::Closed(evutil_socket_t, short, void* self) {
  auto& connection = *static_cast<H2Connection*>(self);
  connection.on_closed_(&connection);  // may delete the connection
}

void H2Connection::Read() {
  if (closing_) return;
  std::array<std::uint8_t, kReadChunkBytes> chunk;
  // A few reads per wakeup, then back to the loop so one busy peer cannot starve others.
  for (int round = 0; round < 4 && !closing_; ++round) {
    const ssize_t received = recv(fd_, chunk.data(), chunk.size(), 0);
    if (received < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      Finish(std::string("recv: ") + std::strerror(errno));
      return;
    }
    if (received == 0) {
      Finish("closed by peer");
      return;
    }
    std::string_view bytes(reinterpret_cast<const char*>(chunk.data()),
                           static_cast<std::size_t>(received));
    if (!preface_checked_) {
      // Hold the first bytes until they are the client preface or cannot become it.
      first_bytes_.append(bytes);
      const std::string_view preface(NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
      const std::size_t compared = std::min(first_bytes_.size(), preface.size());
      if (first_bytes_.compare(0, compared, preface.substr(0, compared)) != 0) {
        if (!Divert(std::move(first_bytes_))) Finish("not HTTP/2 (no client preface)");
        if (fd_ < 0) Finish("handed to the L4 relay");
        return;
      }
      if (first_bytes_.size() < preface.size()) continue;
      preface_checked_ = true;
      bytes = first_bytes_;
    }
    const ssize_t taken = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (preface_checked_ && !first_bytes_.empty()) std::string().swap(first_bytes_);
    if (taken < 0) {
      // A fatal error: say so with a GOAWAY, best effort. A flood (SETTINGS or PING acks
      // piling up, too many CONTINUATIONs) is ENHANCE_YOUR_CALM, as RFC 9113 §10.5 asks; a
      // GOAWAY a callback already queued keeps its own code. A peer that does not speak
      // HTTP/2 at all gets no frame.
      if (taken != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
        const bool flood =
            taken == NGHTTP2_ERR_FLOODED || taken == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
        nghttp2_session_terminate_session(
            session_, flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
        Flush();
      }
      Finish(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(taken)));
      return;
    }
    if (static_cast<std::size_t>(received) < chunk.size()) break;
  }
  // Not sent from here: the other connections read in this loop turn may queue more for
  // this one (responses from backends), and one flush after them sends it all at once.
  RequestFlush();
}

void H2Connection::Flush() {
  // A server says nothing until the client's preface shows it speaks HTTP/2: a client
  // that does not may be relayed as bytes, and must not receive our SETTINGS.
  if (closing_ || session_ == nullptr || !connected_ || !preface_checked_) return;
  for (;;) {
    if (unsent_offset_ == unsent_.size()) {
      unsent_.clear();
      unsent_offset_ = 0;
    }
    // nghttp2 hands out one frame at a time: gather what it has (up to a cap) so a
    // call's HEADERS, DATA and trailers leave in one send, not one syscall each.
    while (unsent_.size() - unsent_offset_ < kFlushGatherBytes) {
      const std::uint8_t* data = nullptr;
      const ssize_t produced = nghttp2_session_mem_send(session_, &data);
      if (produced < 0) {
        Finish(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(produced)));
        return;
      }
      if (produced == 0) break;
      unsent_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(produced));
    }
    if (unsent_offset_ == unsent_.size()) break;
    const ssize_t sent =
        send(fd_, unsent_.data() + unsent_offset_, unsent_.size() - unsent_offset_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        event_add(write_event_, nullptr);
        return;
      }
      Finish(std::string("send: ") + std::strerror(errno));
      return;
    }
    unsent_offset_ += static_cast<std::size_t>(sent);
  }
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
    Finish("session ended");
  }
}

void H2Connection::Finish(const std::string& why) {
  if (closing_) return;
  closing_ = true;
  close_reason_ = why;
  event_del(read_event_);
  event_del(write_event_);
  OnClosing();
  event_active(closed_event_, 0, 0);
}

}  // namespace skewless::splicer
