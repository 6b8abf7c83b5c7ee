// The lightweight bench pod (see h2_pod_server.h): one epoll loop, an nghttp2 server
// session per connection, replies built once where they never change.
#include "h2_pod_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nghttp2_field.h"
#include "skewless/common/net.h"
#include "skewless/lab/v1/echo.pb.h"

namespace skewless::h2pod {
namespace {

constexpr std::string_view kWorkPath = "/skewless.lab.v1.Echo/Work";
constexpr std::string_view kStatsPath = "/skewless.lab.v1.Echo/Stats";
constexpr std::size_t kGatherBytes = 64 << 10;
constexpr std::size_t kReadBytes = 64 << 10;

// Every field below is made of literals, which outlive every session.
using bench::UncopiedField;

const std::array<nghttp2_nv, 2> kReplyHeaders = {UncopiedField(":status", "200"),
                                                 UncopiedField("content-type", "application/grpc")};
const std::array<nghttp2_nv, 1> kOkTrailers = {UncopiedField("grpc-status", "0")};
// Trailers-only: an unknown method is UNIMPLEMENTED (12), as a gRPC server answers it.
const std::array<nghttp2_nv, 4> kUnimplemented = {
    UncopiedField(":status", "200"), UncopiedField("content-type", "application/grpc"),
    UncopiedField("grpc-status", "12"), UncopiedField("grpc-message", "unknown method")};

// A message in gRPC's length-prefixed framing (uncompressed).
std::string Framed(const google::protobuf::MessageLite& message) {
  const std::string bytes = message.SerializeAsString();
  const auto n = static_cast<std::uint32_t>(bytes.size());
  std::string out(5, '\0');
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + bytes;
}

std::string Errno(const std::string& what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

}  // namespace

class PodServer::Connection {
 public:
  Connection(PodServer* server, int fd) : server_(server), fd_(fd) {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
    nghttp2_session_server_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server->options_.max_concurrent_streams}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  }
  ~Connection() {
    nghttp2_session_del(session_);
    close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  bool writing() const { return writing_; }

  // Takes what the socket has; false when the connection is over.
  bool Read() {
    std::array<std::uint8_t, kReadBytes> chunk;
    for (;;) {
      const ssize_t n = recv(fd_, chunk.data(), chunk.size(), 0);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (n == 0) return false;
      if (nghttp2_session_mem_recv(session_, chunk.data(), static_cast<std::size_t>(n)) < 0) {
        return false;
      }
      if (static_cast<std::size_t>(n) < chunk.size()) return true;
    }
  }

  // Sends what the session has, gathered into as few sends as the socket allows; false
  // when the connection is over. writing() then says whether the socket is full.
  bool Flush() {
    for (;;) {
      if (offset_ == unsent_.size()) {
        unsent_.clear();
        offset_ = 0;
        while (unsent_.size() < kGatherBytes) {
          const std::uint8_t* data = nullptr;
          const ssize_t n = nghttp2_session_mem_send(session_, &data);
          if (n < 0) return false;
          if (n == 0) break;
          unsent_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        if (unsent_.empty()) break;
      }
      const ssize_t sent =
          send(fd_, unsent_.data() + offset_, unsent_.size() - offset_, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        writing_ = errno == EAGAIN || errno == EWOULDBLOCK;
        return writing_;
      }
      offset_ += static_cast<std::size_t>(sent);
    }
    writing_ = false;
    return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
  }

 private:
  enum class Method { kUnknown, kWork, kStats };
  struct Call {
    Method method = Method::kUnknown;
    std::string_view body;  // the reply, framed; owned by the server or by `stats`
    std::size_t sent = 0;
    std::string stats;
  };

  static Connection& Of(void* user) { return *static_cast<Connection*>(user); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      Of(user).calls_[frame->hd.stream_id] = Call{};
    }
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t, void* user) {
    if (std::string_view(reinterpret_cast<const char*>(name), name_length) != ":path") return 0;
    auto call = Of(user).calls_.find(frame->hd.stream_id);
    if (call == Of(user).calls_.end()) return 0;
    const std::string_view path(reinterpret_cast<const char*>(value), value_length);
    call->second.method = path == kWorkPath    ? Method::kWork
                          : path == kStatsPath ? Method::kStats
                                               : Method::kUnknown;
    return 0;
  }

  static int OnFrame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    const bool request_ended =
        (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (!request_ended) return 0;
    Connection& self = Of(user);
    auto found = self.calls_.find(frame->hd.stream_id);
    if (found == self.calls_.end()) return 0;
    Call& call = found->second;
    PodServer& server = *self.server_;
    switch (call.method) {
      case Method::kWork:
        ++server.counts_.work_served;
        if (!self.counted_) {
          self.counted_ = true;
          ++server.counts_.connections_seen;
        }
        call.body = server.work_reply_;
        break;
      case Method::kStats: {
        skewless::lab::v1::StatsReply reply;
        reply.set_pod(server.options_.name);
        reply.set_zone(server.options_.zone);
        reply.set_work_served(server.counts_.work_served);
        reply.set_connections_seen(server.counts_.connections_seen);
        call.stats = Framed(reply);
        call.body = call.stats;
        break;
      }
      case Method::kUnknown:
        nghttp2_submit_response(session, frame->hd.stream_id, kUnimplemented.data(),
                                kUnimplemented.size(), nullptr);
        return 0;
    }
    nghttp2_data_provider body{.source = {.ptr = &call}, .read_callback = &ReadBody};
    nghttp2_submit_response(session, frame->hd.stream_id, kReplyHeaders.data(),
                            kReplyHeaders.size(), &body);
    return 0;
  }

  // The reply message, then grpc-status in trailers (so the DATA does not end the stream).
  static ssize_t ReadBody(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buffer,
                          std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                          void*) {
    Call& call = *static_cast<Call*>(source->ptr);
    const std::size_t n = std::min(length, call.body.size() - call.sent);
    std::memcpy(buffer, call.body.data() + call.sent, n);
    call.sent += n;
    if (call.sent == call.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_submit_trailer(session, stream_id, kOkTrailers.data(), kOkTrailers.size());
    }
    return static_cast<ssize_t>(n);
  }

  static int OnStreamClose(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    Of(user).calls_.erase(stream_id);
    return 0;
  }

  PodServer* server_;
  int fd_;
  nghttp2_session* session_ = nullptr;
  // unordered_map: a call's address stays put while others come and go (the data
  // provider points at it).
  std::unordered_map<std::int32_t, Call> calls_;
  std::string unsent_;
  std::size_t offset_ = 0;
  bool writing_ = false;
  bool counted_ = false;
};

absl::StatusOr<std::unique_ptr<PodServer>> PodServer::Listen(const PodOptions& options) {
  absl::StatusOr<net::IpPort> listen_on = net::ParseIpPort(options.listen);
  if (!listen_on.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: ", listen_on.status().message()));
  }
  net::SocketAddress socket_address = net::ToSocketAddress(*listen_on);
  sockaddr_storage& address = socket_address.storage;
  socklen_t& length = socket_address.length;
  const int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(Errno("socket"));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, 1024) != 0) {
    const std::string why = Errno(absl::StrCat("listen on ", options.listen));
    close(fd);
    return absl::UnavailableError(why);
  }
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  absl::StatusOr<net::IpPort> bound = net::FromSocketAddress(address);
  if (!bound.ok()) {
    close(fd);
    return bound.status();
  }
  return std::unique_ptr<PodServer>(new PodServer(options, fd, net::FormatIpPort(*bound)));
}

PodServer::PodServer(const PodOptions& options, int listen_fd, std::string address)
    : options_(options), listen_fd_(listen_fd), address_(std::move(address)) {
  skewless::lab::v1::WorkReply reply;
  reply.set_pod(options_.name);
  reply.set_zone(options_.zone);
  work_reply_ = Framed(reply);
}

PodServer::~PodServer() {
  connections_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  close(listen_fd_);
}

void PodServer::Watch(int fd, std::uint32_t events, int op) {
  epoll_event event{.events = events, .data = {.fd = fd}};
  epoll_ctl(epoll_fd_, op, fd, &event);
}

absl::Status PodServer::Serve(int stop_fd) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return absl::InternalError(Errno("epoll"));
  Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
  Watch(stop_fd, EPOLLIN, EPOLL_CTL_ADD);
  std::array<epoll_event, 64> events;
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno != EINTR) return absl::InternalError(Errno("epoll_wait"));
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd) return absl::OkStatus();
      if (fd == listen_fd_) {
        Accept();
        continue;
      }
      auto found = connections_.find(fd);
      if (found != connections_.end()) Serve(*found->second, events[i].events);
    }
  }
}

void PodServer::Accept() {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: all taken; anything else: the client gave up
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto connection = std::make_unique<Connection>(this, fd);
    Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    Connection& added = *connection;
    connections_[fd] = std::move(connection);
    Serve(added, 0);  // our SETTINGS go out before the client's preface arrives
  }
}

void PodServer::Serve(Connection& connection, std::uint32_t events) {
  const bool was_writing = connection.writing();
  const bool alive =
      ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0 || connection.Read()) && connection.Flush();
  if (!alive) {
    connections_.erase(connection.fd());  // closes the socket, which leaves the epoll set
    return;
  }
  if (connection.writing() != was_writing) {
    Watch(connection.fd(), EPOLLIN | (connection.writing() ? EPOLLOUT : 0u), EPOLL_CTL_MOD);
  }
}

}  // namespace skewless::h2pod
