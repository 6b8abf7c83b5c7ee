// A bidirectional gRPC call: nghttp2 frames it, a nonblocking socket (under TLS when
// asked) and poll(2) move the bytes on the caller's thread, an eventfd lets another
// thread cancel.
#include "skewless/h2/grpc_client_stream.h"

#include <fcntl.h>
#include <google/protobuf/message_lite.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/net.h"
#include "skewless/h2/grpc_framing.h"
#include "skewless/h2/tls_transport.h"

namespace skewless::h2 {
namespace {

using Clock = std::chrono::steady_clock;

// Big windows let the initial state of a large cluster (megabytes, one message) arrive
// without a WINDOW_UPDATE round trip per 64 KiB; the bytes are buffered by us anyway.
constexpr std::int32_t kStreamWindowBytes = 4 << 20;
constexpr std::int32_t kConnectionWindowBytes = 16 << 20;
constexpr std::size_t kReadChunkBytes = 64 << 10;

std::string Errno(int error) { return std::strerror(error); }

std::string AddressText(const sockaddr* address, socklen_t length) {
  std::array<char, NI_MAXHOST> host{};
  std::array<char, NI_MAXSERV> port{};
  if (getnameinfo(address, length, host.data(), host.size(), port.data(), port.size(),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return address->sa_family == AF_INET6 ? absl::StrCat("[", host.data(), "]:", port.data())
                                        : absl::StrCat(host.data(), ":", port.data());
}

// grpc-message is percent-encoded (gRPC's PROTOCOL-HTTP2.md).
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::SimpleHexAtoi(absl::string_view(text.data() + i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// The token as it is now: kubelet rewrites a projected token file in place before the
// token expires, so each connect reads it again.
absl::StatusOr<std::string> ReadBearerToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("bearer token file ", path, ": cannot read: ", Errno(errno)));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("bearer token file ", path, " is empty"));
  }
  // A header value cannot carry control characters (RFC 9113 section 8.2.1).
  if (std::any_of(token.begin(), token.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return absl::FailedPreconditionError(
        absl::StrCat("bearer token file ", path, " holds control characters; it is not one token"));
  }
  return token;
}

nghttp2_nv Header(std::string_view name, std::string_view value) {
  return nghttp2_nv{
      .name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
      .value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
      .namelen = name.size(),
      .valuelen = value.size(),
      .flags = NGHTTP2_NV_FLAG_NONE,
  };
}

}  // namespace

class GrpcClientStream::Connection {
 public:
  explicit Connection(GrpcCallOptions options) : options_(std::move(options)) {
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }

  ~Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
    tls_.reset();  // before the socket it runs on
    if (fd_ >= 0) close(fd_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  absl::Status Start() {
    if (wake_fd_ < 0) return Fail(absl::InternalError(absl::StrCat("eventfd: ", Errno(errno))));
    if (!options_.bearer_token_file.empty()) {
      absl::StatusOr<std::string> token = ReadBearerToken(options_.bearer_token_file);
      if (!token.ok()) {
        return Fail(absl::Status(
            token.status().code(),
            absl::StrCat("calling ", options_.target, ": ", token.status().message())));
      }
      authorization_ = absl::StrCat("Bearer ", *token);
    }
    if (absl::Status dialed = Dial(); !dialed.ok()) return Fail(dialed);
    if (options_.tls.has_value()) {
      if (absl::Status secured = StartTls(); !secured.ok()) return Fail(secured);
    }
    if (absl::Status session = StartSession(); !session.ok()) return Fail(session);
    return Flush();
  }

  bool Write(const google::protobuf::MessageLite& message) {
    if (!Open() || writes_done_) return false;
    AppendGrpcMessage(message, &outgoing_);
    nghttp2_session_resume_data(session_, stream_id_);
    return Flush().ok();
  }

  bool WritesDone() {
    if (!Open() || writes_done_) return false;
    writes_done_ = true;
    nghttp2_session_resume_data(session_, stream_id_);
    return Flush().ok();
  }

  bool Read(google::protobuf::MessageLite* message) {
    return ReadUntil(message, std::nullopt) == ReadOutcome::kMessage;
  }

  ReadOutcome ReadUntil(google::protobuf::MessageLite* message,
                        std::optional<Clock::time_point> deadline) {
    for (;;) {
      // What already arrived is delivered even when the call has since ended.
      absl::StatusOr<bool> next = reader_.Next(message);
      if (!next.ok()) {
        Fail(next.status()).IgnoreError();
        return ReadOutcome::kEnded;
      }
      if (*next) return ReadOutcome::kMessage;
      if (!Open() || stream_closed_) return ReadOutcome::kEnded;
      if (deadline.has_value() && Clock::now() >= *deadline) return ReadOutcome::kTimedOut;
      // A failure still lets whole messages already received be read first.
      if (absl::Status pumped = Pump(deadline); !pumped.ok()) Fail(pumped).IgnoreError();
    }
  }

  absl::Status Finish() {
    if (Open() && !stream_closed_) {
      // The caller gave up on a live call: tell the server, best effort.
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id_, NGHTTP2_CANCEL);
      (void)Flush();
    }
    if (cancelled_) return absl::CancelledError("the call was cancelled by the client");
    if (!error_.ok()) return error_;
    if (grpc_status_.has_value()) {
      return absl::Status(static_cast<absl::StatusCode>(*grpc_status_), grpc_message_);
    }
    if (!stream_closed_) return absl::CancelledError("the call was ended by the client");
    if (reset_code_ != NGHTTP2_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrCat("the server reset the stream (", nghttp2_http2_strerror(reset_code_), ")"));
    }
    return absl::InternalError("the stream ended without a grpc-status");
  }

  void Cancel() {
    cancelled_ = true;
    const std::uint64_t one = 1;
    if (wake_fd_ >= 0) (void)write(wake_fd_, &one, sizeof(one));
  }

 private:
  bool Open() const { return error_.ok() && !cancelled_ && session_ != nullptr; }

  // Records what ended the call (the first cause wins) and returns it.
  absl::Status Fail(absl::Status status) {
    if (error_.ok()) error_ = std::move(status);
    return error_;
  }

  // Resolves the target and connects to the first address that answers, within
  // connect_timeout in all. (getaddrinfo itself cannot be cancelled; it has its own
  // resolver timeouts.)
  absl::Status Dial() {
    absl::StatusOr<net::HostPort> split = net::SplitHostPort(options_.target);
    if (!split.ok() || split->host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("gRPC target \"", options_.target, "\" is not host:port"));
    }
    host_ = split->host;
    const std::string& host = host_;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(split->port);
    if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve ", options_.target, ": ", gai_strerror(rc)));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
    const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    std::vector<std::string> failures;
    for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
      absl::Status connected = ConnectTo(*address, deadline);
      if (connected.ok()) return connected;
      if (cancelled_) return absl::CancelledError("cancelled while connecting");
      failures.push_back(std::string(connected.message()));
    }
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", options_.target, ": ", absl::StrJoin(failures, "; ")));
  }

  absl::Status ConnectTo(const addrinfo& address, Clock::time_point deadline) {
    const std::string text = AddressText(address.ai_addr, address.ai_addrlen);
    const int fd = socket(address.ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return absl::UnavailableError(absl::StrCat(text, ": socket: ", Errno(errno)));
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, address.ai_addr, address.ai_addrlen) != 0 && errno != EINPROGRESS) {
      const int error = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat(text, ": ", Errno(error)));
    }
    const absl::Status writable = WaitFor(fd, POLLOUT, deadline);
    int error = 0;
    socklen_t length = sizeof(error);
    if (writable.ok() && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    if (!writable.ok() || error != 0) {
      close(fd);
      return absl::UnavailableError(
          absl::StrCat(text, ": ", writable.ok() ? Errno(error) : writable.message()));
    }
    fd_ = fd;
    return absl::OkStatus();
  }

  // The handshake on the connected socket, within connect_timeout of its own.
  absl::Status StartTls() {
    absl::StatusOr<std::unique_ptr<TlsTransport>> tls =
        TlsTransport::Create(*options_.tls, fd_, host_, options_.target);
    if (!tls.ok()) {
      return absl::Status(tls.status().code(),
                          absl::StrCat("TLS to ", options_.target, ": ", tls.status().message()));
    }
    tls_ = *std::move(tls);
    const Clock::time_point deadline = Clock::now() + options_.connect_timeout;
    for (;;) {
      absl::StatusOr<TlsWait> step = tls_->Handshake();
      if (!step.ok()) return step.status();
      if (*step == TlsWait::kNone) return absl::OkStatus();
      const absl::Status ready =
          WaitFor(fd_, *step == TlsWait::kReadable ? POLLIN : POLLOUT, deadline);
      if (absl::IsCancelled(ready))
        return absl::CancelledError("cancelled during the TLS handshake");
      if (!ready.ok()) {
        return absl::Status(ready.code(), absl::StrCat("TLS handshake with ", options_.target, ": ",
                                                       ready.message()));
      }
    }
  }

  // Waits until `fd` has `events` (true) or the deadline or a Cancel comes.
  absl::Status WaitFor(int fd, short events, Clock::time_point deadline) {
    for (;;) {
      if (cancelled_) return absl::CancelledError("cancelled");
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return absl::DeadlineExceededError("timed out");
      std::array<pollfd, 2> fds{pollfd{fd, events, 0}, pollfd{wake_fd_, POLLIN, 0}};
      const int ready = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR)
        return absl::InternalError(absl::StrCat("poll: ", Errno(errno)));
      if (ready > 0 && fds[0].revents != 0) return absl::OkStatus();
    }
  }

  absl::Status StartSession() {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) {
      return absl::ResourceExhaustedError("nghttp2: out of memory");
    }
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
    const int created = nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    if (created != 0) {
      return absl::InternalError(absl::StrCat("nghttp2: ", nghttp2_strerror(created)));
    }
    const std::array<nghttp2_settings_entry, 2> settings{{
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindowBytes},
    }};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindowBytes);

    const std::string user_agent = absl::StrCat(options_.user_agent, " nghttp2/", NGHTTP2_VERSION);
    std::vector<nghttp2_nv> headers{
        Header(":method", "POST"),
        Header(":scheme", tls_ != nullptr ? "https" : "http"),
        Header(":path", options_.method),
        Header(":authority", options_.target),
        Header("content-type", "application/grpc"),
        Header("te", "trailers"),
        Header("user-agent", user_agent),
    };
    if (!authorization_.empty()) {
      // Never into the HPACK tables, where a compression side channel could probe it
      // (RFC 7541 section 7.1.3).
      nghttp2_nv authorization = Header("authorization", authorization_);
      authorization.flags = NGHTTP2_NV_FLAG_NO_INDEX;
      headers.push_back(authorization);
    }
    nghttp2_data_provider body{};
    body.read_callback = &ReadBody;
    stream_id_ =
        nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), &body, nullptr);
    if (stream_id_ < 0) {
      return absl::InternalError(absl::StrCat("nghttp2: ", nghttp2_strerror(stream_id_)));
    }
    last_received_ = Clock::now();
    return absl::OkStatus();
  }

  // Hands nghttp2's output to the socket until it has nothing more or the socket is full
  // (the rest goes out from Pump when poll says writable).
  absl::Status Flush() {
    if (!Open()) return error_.ok() ? absl::CancelledError("cancelled") : error_;
    for (;;) {
      if (unsent_offset_ == unsent_.size()) {
        unsent_.clear();
        unsent_offset_ = 0;
        const std::uint8_t* data = nullptr;
        const ssize_t produced = nghttp2_session_mem_send(session_, &data);
        if (produced < 0) {
          return Fail(absl::InternalError(
              absl::StrCat("nghttp2: ", nghttp2_strerror(static_cast<int>(produced)))));
        }
        if (produced == 0) return absl::OkStatus();
        unsent_.assign(reinterpret_cast<const char*>(data), static_cast<std::size_t>(produced));
      }
      absl::StatusOr<std::size_t> sent =
          SendSome(unsent_.data() + unsent_offset_, unsent_.size() - unsent_offset_);
      if (!sent.ok()) return Fail(sent.status());
      if (*sent == 0) return absl::OkStatus();  // the rest when poll says writable
      unsent_offset_ += *sent;
    }
  }

  // Bytes to the socket, through TLS when it is on: how many were taken, 0 when the
  // socket is full.
  absl::StatusOr<std::size_t> SendSome(const char* data, std::size_t length) {
    if (tls_ != nullptr) {
      absl::StatusOr<TlsIo> io = tls_->Write(data, length);
      if (!io.ok()) return io.status();
      if (io->closed) {
        return absl::UnavailableError(
            absl::StrCat(options_.target, " closed the connection", goaway_));
      }
      return io->bytes;
    }
    for (;;) {
      const ssize_t sent = send(fd_, data, length, MSG_NOSIGNAL);
      if (sent >= 0) return static_cast<std::size_t>(sent);
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      if (errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat("sending to ", options_.target, ": ", Errno(errno)));
      }
    }
  }

  // One wait for the socket, a Cancel or the keepalive timer, then whatever it allows:
  // reading frames, writing what is queued, sending or timing out a PING.
  // `until`: return by then even if nothing happened (a caller with a timer of its own).
  absl::Status Pump(std::optional<Clock::time_point> until = std::nullopt) {
    const Clock::time_point now = Clock::now();
    if (ping_sent_.has_value() && now - *ping_sent_ >= options_.keepalive_timeout) {
      return absl::UnavailableError(absl::StrCat("no answer from ", options_.target,
                                                 " to a keepalive PING within ",
                                                 options_.keepalive_timeout.count(), " ms"));
    }
    if (!ping_sent_.has_value() && now - last_received_ >= options_.keepalive_interval) {
      nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
      ping_sent_ = now;
      if (absl::Status flushed = Flush(); !flushed.ok()) return flushed;
    }
    Clock::time_point timer = ping_sent_.has_value() ? *ping_sent_ + options_.keepalive_timeout
                                                     : last_received_ + options_.keepalive_interval;
    if (until.has_value()) timer = std::min(timer, *until);
    const auto wait = std::max<long>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(timer - now).count() + 1);
    const bool want_writable = unsent_offset_ < unsent_.size() || tls_read_wants_write_;
    const short events = static_cast<short>(POLLIN | (want_writable ? POLLOUT : 0));
    std::array<pollfd, 2> fds{pollfd{fd_, events, 0}, pollfd{wake_fd_, POLLIN, 0}};
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(wait));
    if (ready < 0) {
      return errno == EINTR ? absl::OkStatus()
                            : absl::InternalError(absl::StrCat("poll: ", Errno(errno)));
    }
    if (cancelled_) return absl::CancelledError("cancelled");
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 ||
        (tls_read_wants_write_ && (fds[0].revents & POLLOUT) != 0)) {
      if (absl::Status received = Receive(); !received.ok()) return received;
    }
    if (absl::Status flushed = Flush(); !flushed.ok()) return flushed;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) &&
        !stream_closed_) {
      return absl::UnavailableError(
          absl::StrCat("the connection to ", options_.target, " ended", goaway_));
    }
    return absl::OkStatus();
  }

  // Plaintext: one read of what the socket has. TLS: reads until OpenSSL waits for the
  // socket, since a record it already took in would not wake poll again.
  absl::Status Receive() {
    do {
      std::array<std::uint8_t, kReadChunkBytes> chunk;
      absl::StatusOr<std::size_t> received = ReceiveSome(chunk.data(), chunk.size());
      if (!received.ok()) return received.status();
      if (*received == 0) return absl::OkStatus();
      if (absl::Status framed = Frames(chunk.data(), *received); !framed.ok()) return framed;
    } while (tls_ != nullptr);
    return absl::OkStatus();
  }

  // Bytes from the socket, through TLS when it is on: how many, 0 when nothing is ready;
  // the peer's close is an error naming it.
  absl::StatusOr<std::size_t> ReceiveSome(std::uint8_t* data, std::size_t length) {
    std::size_t received = 0;
    if (tls_ != nullptr) {
      absl::StatusOr<TlsIo> io = tls_->Read(data, length);
      if (!io.ok()) return io.status();
      tls_read_wants_write_ = io->wait == TlsWait::kWritable;
      if (!io->closed && io->bytes == 0) return 0;
      received = io->bytes;
    } else {
      const ssize_t got = recv(fd_, data, length, 0);
      if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        return absl::UnavailableError(
            absl::StrCat("receiving from ", options_.target, ": ", Errno(errno)));
      }
      received = static_cast<std::size_t>(got);
    }
    if (received == 0) {
      return absl::UnavailableError(
          absl::StrCat(options_.target, " closed the connection", goaway_));
    }
    return received;
  }

  absl::Status Frames(const std::uint8_t* data, std::size_t received) {
    last_received_ = Clock::now();
    const ssize_t taken = nghttp2_session_mem_recv(session_, data, received);
    if (taken < 0) {
      return absl::UnavailableError(absl::StrCat("HTTP/2 from ", options_.target, ": ",
                                                 nghttp2_strerror(static_cast<int>(taken))));
    }
    return response_error_;
  }

  static ssize_t ReadBody(nghttp2_session*, std::int32_t, std::uint8_t* buffer, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& self = *static_cast<Connection*>(user);
    const std::size_t left = self.outgoing_.size() - self.outgoing_offset_;
    if (left == 0) {
      if (!self.writes_done_) return NGHTTP2_ERR_DEFERRED;
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    const std::size_t taken = std::min(left, length);
    std::memcpy(buffer, self.outgoing_.data() + self.outgoing_offset_, taken);
    self.outgoing_offset_ += taken;
    if (self.outgoing_offset_ == self.outgoing_.size()) {
      self.outgoing_.clear();
      self.outgoing_offset_ = 0;
    }
    return static_cast<ssize_t>(taken);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t, void* user) {
    auto& self = *static_cast<Connection*>(user);
    if (frame->hd.stream_id != self.stream_id_) return 0;
    const std::string_view key(reinterpret_cast<const char*>(name), name_length);
    const std::string_view text(reinterpret_cast<const char*>(value), value_length);
    if (key == ":status") {
      (void)absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &self.http_status_);
    } else if (key == "content-type") {
      self.content_type_ = std::string(text);
    } else if (key == "grpc-status") {
      int code = 0;
      if (absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &code) && code >= 0 &&
          code <= 16) {
        self.grpc_status_ = code;
      } else {
        self.grpc_status_ = static_cast<int>(absl::StatusCode::kUnknown);
      }
    } else if (key == "grpc-message") {
      self.grpc_message_ = PercentDecode(text);
    }
    return 0;
  }

  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<Connection*>(user);
    switch (frame->hd.type) {
      case NGHTTP2_PING:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) self.ping_sent_.reset();
        break;
      case NGHTTP2_GOAWAY:
        self.goaway_ =
            absl::StrCat(" (GOAWAY ", nghttp2_http2_strerror(frame->goaway.error_code),
                         frame->goaway.opaque_data_len > 0 ? ": " : "",
                         absl::string_view(reinterpret_cast<const char*>(frame->goaway.opaque_data),
                                           frame->goaway.opaque_data_len),
                         ")");
        break;
      case NGHTTP2_HEADERS:
        // A reply that is not gRPC (a proxy's error page, a plain HTTP/2 server) is
        // named, not parsed as messages.
        if (frame->hd.stream_id == self.stream_id_ && frame->headers.cat == NGHTTP2_HCAT_RESPONSE &&
            (self.http_status_ != 200 || !self.content_type_.starts_with("application/grpc")) &&
            self.response_error_.ok()) {
          self.response_error_ = absl::UnavailableError(
              absl::StrCat(self.options_.target, " answered HTTP ", self.http_status_,
                           " with content-type \"", self.content_type_, "\": not a gRPC server"));
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int OnData(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                    const std::uint8_t* data, std::size_t length, void* user) {
    auto& self = *static_cast<Connection*>(user);
    if (stream_id == self.stream_id_) {
      self.reader_.Append(std::string_view(reinterpret_cast<const char*>(data), length));
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                           void* user) {
    auto& self = *static_cast<Connection*>(user);
    if (stream_id == self.stream_id_) {
      self.stream_closed_ = true;
      self.reset_code_ = error_code;
    }
    return 0;
  }

  const GrpcCallOptions options_;
  std::string host_;           // the target's host, verified under TLS by default
  std::string authorization_;  // "Bearer <token>" when a token file is given
  int fd_ = -1;
  std::unique_ptr<TlsTransport> tls_;  // set once the socket is connected, under TLS
  bool tls_read_wants_write_ = false;
  int wake_fd_ = -1;
  std::atomic<bool> cancelled_{false};
  nghttp2_session* session_ = nullptr;
  std::int32_t stream_id_ = -1;
  absl::Status error_;           // what ended the call on our side; the first one wins
  absl::Status response_error_;  // a reply that is not gRPC

  // Request: framed messages nghttp2 has not taken yet, and the serialized frames the
  // socket has not taken yet.
  std::string outgoing_;
  std::size_t outgoing_offset_ = 0;
  bool writes_done_ = false;
  std::string unsent_;
  std::size_t unsent_offset_ = 0;

  // Response.
  GrpcMessageReader reader_;
  int http_status_ = 0;
  std::string content_type_;
  std::optional<int> grpc_status_;
  std::string grpc_message_;
  bool stream_closed_ = false;
  std::uint32_t reset_code_ = NGHTTP2_NO_ERROR;
  std::string goaway_;  // " (GOAWAY ...)" once the server sent one, for errors

  // Keepalive.
  Clock::time_point last_received_;
  std::optional<Clock::time_point> ping_sent_;
};

GrpcClientStream::GrpcClientStream(GrpcCallOptions options)
    : connection_(std::make_unique<Connection>(std::move(options))) {}
GrpcClientStream::~GrpcClientStream() = default;
absl::Status GrpcClientStream::Start() { return connection_->Start(); }
bool GrpcClientStream::Write(const google::protobuf::MessageLite& message) {
  return connection_->Write(message);
}
bool GrpcClientStream::Read(google::protobuf::MessageLite* message) {
  return connection_->Read(message);
}
ReadOutcome GrpcClientStream::ReadUntil(google::protobuf::MessageLite* message,
                                        std::chrono::steady_clock::time_point deadline) {
  return connection_->ReadUntil(message, deadline);
}
bool GrpcClientStream::WritesDone() { return connection_->WritesDone(); }
absl::Status GrpcClientStream::Finish() { return connection_->Finish(); }
void GrpcClientStream::Cancel() { connection_->Cancel(); }

}  // namespace skewless::h2
