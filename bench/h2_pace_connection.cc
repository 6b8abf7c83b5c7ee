// Socket and nghttp2 client session of one paced connection (see h2_pace_connection.h).
#include "h2_pace_connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nghttp2_field.h"

namespace skewless::h2pace {
namespace {

// One send gathers the frames of every call started in a loop turn, up to this much.
constexpr std::size_t kGatherBytes = 64 << 10;
constexpr std::size_t kReadBytes = 64 << 10;

// The names are literals and the values live in the CallTemplate, which outlives every
// session.
using bench::UncopiedField;

int ParseInt(std::string_view text) {
  int value = -1;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// gRPC's status code names: absl::StatusCode numbers them as the gRPC spec does.
std::string GrpcCodeName(int code) {
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("GRPC_", code) : name;
}

absl::StatusOr<int> ConnectSocket(const std::string& target, int timeout_ms) {
  const std::size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) {
    return absl::InvalidArgumentError(absl::StrCat("target ", target, " is not host:port"));
  }
  std::string host = target.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = target.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", target, ": ", gai_strerror(rc)));
  }
  std::string why = "no address";
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // A blocking connect bounded by the send timeout: connections are made before the
    // paced run starts, so nothing waits on them.
    const timeval timeout{.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      why = errno == EINPROGRESS ? "timed out" : std::strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot connect to ", target, ": ", why));
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PaceConnection>> PaceConnection::Connect(const std::string& target,
                                                                        const CallTemplate* call,
                                                                        int max_in_flight,
                                                                        int connect_timeout_ms,
                                                                        CallDone done) {
  absl::StatusOr<int> fd = ConnectSocket(target, connect_timeout_ms);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<PaceConnection>(
      new PaceConnection(*fd, call, max_in_flight, std::move(done)));
}

PaceConnection::PaceConnection(int fd, const CallTemplate* call, int max_in_flight, CallDone done)
    : fd_(fd),
      call_(call),
      done_(std::move(done)),
      slots_(static_cast<std::size_t>(max_in_flight)) {
  for (int i = 0; i < max_in_flight; ++i) slots_[i].next_free = i + 1 < max_in_flight ? i + 1 : -1;
  free_slot_ = max_in_flight > 0 ? 0 : -1;
  headers_ = {UncopiedField(":method", "POST"),
              UncopiedField(":scheme", "http"),
              UncopiedField(":path", call_->path),
              UncopiedField(":authority", call_->authority),
              UncopiedField("content-type", "application/grpc"),
              UncopiedField("te", "trailers")};
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
  nghttp2_session_client_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
}

PaceConnection::~PaceConnection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (fd_ >= 0) close(fd_);
}

void PaceConnection::Start(std::int64_t intended_ns) {
  if (lost()) {
    done_(intended_ns, "CONNECTION_LOST");
  } else if (free_slot_ < 0) {
    queued_.push_back(intended_ns);
  } else {
    Submit(intended_ns);
  }
}

std::size_t PaceConnection::DropQueued() {
  const std::size_t dropped = queued_.size();
  queued_.clear();
  return dropped;
}

void PaceConnection::Submit(std::int64_t intended_ns) {
  Slot& slot = slots_[free_slot_];
  free_slot_ = slot.next_free;
  slot = Slot{.intended_ns = intended_ns, .in_use = true};
  nghttp2_data_provider body{};
  body.source.ptr = &slot;
  body.read_callback = &ReadBody;
  const std::int32_t stream_id =
      nghttp2_submit_request(session_, nullptr, headers_.data(), headers_.size(), &body, &slot);
  if (stream_id < 0) {  // out of stream ids, or the server said GOAWAY
    Release(slot);
    done_(intended_ns, "REFUSED");
    return;
  }
  ++in_flight_;
}

void PaceConnection::OnReadable() {
  if (lost()) return;
  std::array<std::uint8_t, kReadBytes> chunk;
  for (;;) {
    const ssize_t received = recv(fd_, chunk.data(), chunk.size(), 0);
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Abandon("CONNECTION_LOST");
      return;
    }
    if (received == 0 ||
        nghttp2_session_mem_recv(session_, chunk.data(), static_cast<std::size_t>(received)) < 0) {
      Abandon("CONNECTION_LOST");
      return;
    }
    if (static_cast<std::size_t>(received) < chunk.size()) break;
  }
  // Slots freed by the calls that just ended go to the calls waiting for one, outside
  // nghttp2's callbacks.
  while (free_slot_ >= 0 && !queued_.empty()) {
    const std::int64_t next = queued_.front();
    queued_.pop_front();
    Submit(next);
  }
}

bool PaceConnection::Flush() {
  if (lost()) return false;
  for (;;) {
    if (unsent_offset_ == unsent_.size()) {
      unsent_.clear();
      unsent_offset_ = 0;
    }
    while (unsent_.size() - unsent_offset_ < kGatherBytes) {
      const std::uint8_t* data = nullptr;
      const ssize_t produced = nghttp2_session_mem_send(session_, &data);
      if (produced < 0) {
        Abandon("CONNECTION_LOST");
        return false;
      }
      if (produced == 0) break;
      unsent_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(produced));
    }
    if (unsent_offset_ == unsent_.size()) return false;
    const ssize_t sent =
        send(fd_, unsent_.data() + unsent_offset_, unsent_.size() - unsent_offset_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      Abandon("CONNECTION_LOST");
      return false;
    }
    unsent_offset_ += static_cast<std::size_t>(sent);
  }
}

void PaceConnection::Abandon(std::string_view error) {
  if (lost()) return;
  close(fd_);
  fd_ = -1;
  // Every call in flight or waiting ends here; the session goes without its callbacks.
  for (Slot& slot : slots_) {
    if (!slot.in_use) continue;
    slot.in_use = false;
    done_(slot.intended_ns, error);
  }
  for (const std::int64_t intended_ns : queued_) done_(intended_ns, error);
  queued_.clear();
  in_flight_ = 0;
  nghttp2_session_del(session_);
  session_ = nullptr;
}

void PaceConnection::Release(Slot& slot) {
  slot.in_use = false;
  slot.next_free = free_slot_;
  free_slot_ = static_cast<int>(&slot - slots_.data());
}

std::string PaceConnection::Verdict(const Slot& slot, std::uint32_t reset_code) const {
  if (slot.http_status == 0) return reset_code == NGHTTP2_REFUSED_STREAM ? "REFUSED" : "RESET";
  if (slot.http_status != 200) return absl::StrCat("HTTP_", slot.http_status);
  if (slot.grpc_status < 0) return reset_code != NGHTTP2_NO_ERROR ? "RESET" : "NO_GRPC_STATUS";
  if (slot.grpc_status != 0) return GrpcCodeName(slot.grpc_status);
  return "";
}

int PaceConnection::OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                             const std::uint8_t* name, std::size_t namelen,
                             const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* slot =
      static_cast<Slot*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (slot == nullptr) return 0;
  const std::string_view key(reinterpret_cast<const char*>(name), namelen);
  const std::string_view text(reinterpret_cast<const char*>(value), valuelen);
  // grpc-status comes in the trailers, or in the only HEADERS of a trailers-only reply
  // (how servers answer an unknown method).
  if (key == ":status") {
    slot->http_status = ParseInt(text);
  } else if (key == "grpc-status") {
    slot->grpc_status = ParseInt(text);
  }
  return 0;
}

int PaceConnection::OnStreamClose(nghttp2_session* session, std::int32_t stream_id,
                                  std::uint32_t error_code, void* self) {
  auto* connection = static_cast<PaceConnection*>(self);
  auto* slot = static_cast<Slot*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (slot == nullptr || !slot->in_use) return 0;
  const std::int64_t intended_ns = slot->intended_ns;
  const std::string verdict = connection->Verdict(*slot, error_code);
  connection->Release(*slot);
  --connection->in_flight_;
  connection->done_(intended_ns, verdict);
  return 0;
}

ssize_t PaceConnection::ReadBody(nghttp2_session*, std::int32_t, std::uint8_t* buf,
                                 std::size_t length, std::uint32_t* data_flags,
                                 nghttp2_data_source* source, void* self) {
  const std::string& body = static_cast<PaceConnection*>(self)->call_->body;
  auto* slot = static_cast<Slot*>(source->ptr);
  const std::size_t n = std::min(length, body.size() - slot->body_sent);
  std::memcpy(buf, body.data() + slot->body_sent, n);
  slot->body_sent += n;
  if (slot->body_sent == body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace skewless::h2pace
