// The client side of a spliced request: HTTP/2 server session callbacks, the connection's
// buffer budget and its timeouts.
#include "client_connection.h"

#include "absl/strings/str_cat.h"
#include "backend_connection.h"

namespace skewless::splicer {
namespace {

constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcResourceExhausted = 8;

std::string_view View(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

std::string Seconds(std::chrono::milliseconds duration) {
  return absl::StrCat(static_cast<double>(duration.count()) / 1000, " s");
}

}  // namespace

ClientConnection::ClientConnection(event_base* base, int fd, StreamRouter& router,
                                   const ClientEnvironment& env,
                                   std::function<void(H2Connection*)> on_closed)
    : H2Connection(base, fd, std::move(on_closed)),
      router_(router),
      env_(env),
      account_(&env.worker_buffers, env.limits.connection_buffer_bytes, nullptr,
               [this] { env_.over_budget(*this); }),
      accepted_(Clock::now()),
      idle_since_(accepted_) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
  Open(Role::kServer, callbacks,
       {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, env.limits.max_streams_per_connection},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, env.limits.stream_window_bytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, env.limits.max_request_headers_bytes}});
  nghttp2_session_callbacks_del(callbacks);
}

ClientConnection::~ClientConnection() { OnClosing(); }

ProxiedStream* ClientConnection::Find(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ClientConnection::Recycle(std::unique_ptr<ProxiedStream> stream) {
  stream->Uncount();
  RecycleStream(std::move(stream));
}

void ClientConnection::OnClosing() {
  for (auto& [id, stream] : streams_) {
    if (stream->backend != nullptr) stream->backend->Cancel(*stream);
    router_.Finished(*stream);
    Recycle(std::move(stream));
  }
  streams_.clear();
}

void ClientConnection::GoAway() {
  if (closing() || goaway_sent_) return;
  goaway_sent_ = true;
  goaway_last_stream_id_ = nghttp2_session_get_last_proc_stream_id(session());
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE, goaway_last_stream_id_, NGHTTP2_NO_ERROR,
                        nullptr, 0);
  // With GOAWAY sent and no stream left, nghttp2 wants neither to read nor to write,
  // and the flush that finds this closes the connection.
  RequestFlush();
}

void ClientConnection::Release(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  ProxiedStream& stream = *it->second;
  if (stream.backend != nullptr) stream.backend->Cancel(stream);
  router_.Finished(stream);
  Recycle(std::move(it->second));
  streams_.erase(it);
  if (streams_.empty()) idle_since_ = Clock::now();
  RequestFlush();  // a draining connection may be done now
}

int ClientConnection::BeginHeaders(nghttp2_session* session, const nghttp2_frame* frame,
                                   void* self) {
  auto& connection = *static_cast<ClientConnection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (connection.goaway_sent_ && frame->hd.stream_id > connection.goaway_last_stream_id_) {
    // Past our GOAWAY's last-stream-id nothing is processed (RFC 9113 §6.8): refused, so the
    // client may send it again on a new connection.
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    connection.env_.metrics.rejected_streams(RejectReason::kAfterGoaway).Increment();
    return 0;
  }
  std::unique_ptr<ProxiedStream> stream = TakeStream();
  stream->client = &connection;
  stream->client_stream_id = frame->hd.stream_id;
  stream->account = &connection.account_;
  stream->request_body.CountIn(&connection.account_);
  stream->response_body.CountIn(&connection.account_);
  stream->last_active = Clock::now();
  connection.streams_[frame->hd.stream_id] = std::move(stream);
  return 0;
}

int ClientConnection::OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                               const std::uint8_t* name, std::size_t name_length,
                               const std::uint8_t* value, std::size_t value_length, std::uint8_t,
                               void* self) {
  auto& connection = *static_cast<ClientConnection*>(self);
  ProxiedStream* stream = connection.Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const std::size_t field = name_length + value_length + kHeaderFieldOverhead;
  stream->request_header_bytes += field;
  if (stream->request_header_bytes > kMaxHeaderListBytes) {
    // An HPACK bomb, or a client ignoring the limit it was told by far: the connection.
    connection.goaway_sent_ = true;
    connection.goaway_last_stream_id_ = nghttp2_session_get_last_proc_stream_id(session);
    nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  const std::string_view header_name = View(name, name_length);
  const std::string_view header_value = View(value, value_length);
  // Seen even past the limit: a refused gRPC call is answered in gRPC's terms.
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST && header_name == "content-type" &&
      header_value.starts_with("application/grpc")) {
    stream->grpc = true;
  }
  if (stream->request_header_bytes > connection.env_.limits.max_request_headers_bytes) {
    // Refused once the block is complete (OnFrame); the rest is decoded (HPACK's table must
    // stay in step) but not kept.
    stream->request_headers_too_large = true;
    return 0;
  }
  stream->CountHeaderBytes(field);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->request_headers.Add(header_name, header_value);
  } else {
    stream->request_trailers.Add(header_name, header_value);
  }
  return 0;
}

int ClientConnection::OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& connection = *static_cast<ClientConnection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  ProxiedStream* stream = connection.Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  stream->last_active = Clock::now();
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (end_stream) stream->request_ended = true;
  if (stream->answered_by_splicer) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->started = stream->last_active;
    if (stream->request_headers_too_large) {
      connection.env_.metrics.rejected_streams(RejectReason::kHeadersTooLarge).Increment();
      connection.RefuseHeaders(*stream, connection.env_.limits.max_request_headers_bytes);
      return 0;
    }
    connection.router_.Route(*stream);
  } else if (frame->hd.type == NGHTTP2_HEADERS && stream->request_headers_too_large) {
    // Trailers over the limit, after the request went to a backend.
    connection.env_.metrics.rejected_streams(RejectReason::kHeadersTooLarge).Increment();
    connection.ResetStream(*stream, NGHTTP2_ENHANCE_YOUR_CALM);
  } else if (end_stream && stream->backend != nullptr) {
    stream->backend->OnRequestData(*stream);
  }
  return 0;
}

int ClientConnection::OnData(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                             const std::uint8_t* data, std::size_t length, void* self) {
  // The connection's window is given back as soon as the bytes are here (h2_connection.h):
  // what the stream holds is bounded by its own window and by the budget.
  nghttp2_session_consume_connection(session, length);
  ProxiedStream* stream = static_cast<ClientConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return 0;
  if (stream->answered_by_splicer) {
    nghttp2_session_consume_stream(session, stream_id, length);  // dropped: let it finish
    return 0;
  }
  stream->request_body.Append(data, length);
  if (stream->backend != nullptr) stream->backend->OnRequestData(*stream);
  return 0;
}

int ClientConnection::OnStreamClose(nghttp2_session*, std::int32_t stream_id,
                                    std::uint32_t error_code, void* self) {
  // A client reset (CANCEL, a deadline) is the client's choice, not the backend's fault.
  (void)error_code;
  static_cast<ClientConnection*>(self)->Release(stream_id);
  return 0;
}

void ClientConnection::SubmitResponse(ProxiedStream& stream, bool with_body) {
  const std::vector<nghttp2_nv>& nv = stream.response_headers.Nv();
  nghttp2_data_provider body{};
  body.read_callback = &ReadResponse;
  nghttp2_submit_response(session(), stream.client_stream_id, nv.data(), nv.size(),
                          with_body ? &body : nullptr);
  stream.response_submitted = true;
  RequestFlush();
}

void ClientConnection::OnResponseHeaders(ProxiedStream& stream, bool end_stream) {
  if (end_stream) stream.response_ended = true;
  stream.last_active = Clock::now();
  SubmitResponse(stream, !end_stream);
}

void ClientConnection::OnResponseData(ProxiedStream& stream) {
  stream.last_active = Clock::now();
  nghttp2_session_resume_data(session(), stream.client_stream_id);
  RequestFlush();
}

void ClientConnection::OnResponseEnd(ProxiedStream& stream) {
  stream.response_ended = true;
  OnResponseData(stream);
}

void ClientConnection::OnBackendFailed(ProxiedStream& stream, const std::string& why,
                                       balance::StreamOutcome kind) {
  if (!stream.failure) stream.failure = kind;
  if (stream.response_ended || stream.answered_by_splicer) return;
  const std::string message = "skewless-splicer: backend stream failed: " + why;
  if (stream.grpc) {
    // UNAVAILABLE: what a gRPC client sees when its own connection to a server breaks,
    // so its retry policy applies unchanged.
    if (!stream.response_submitted) {
      stream.response_headers = {{":status", "200"},
                                 {"content-type", "application/grpc"},
                                 {"grpc-status", "14"},
                                 {"grpc-message", message}};
      OnResponseHeaders(stream, /*end_stream=*/true);
    } else {
      stream.response_trailers = {{"grpc-status", "14"}, {"grpc-message", message}};
      OnResponseEnd(stream);
    }
    return;
  }
  if (!stream.response_submitted) {
    stream.response_headers = {{":status", "502"}};
    OnResponseHeaders(stream, /*end_stream=*/true);
    return;
  }
  nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, stream.client_stream_id,
                            NGHTTP2_INTERNAL_ERROR);
  RequestFlush();
}

void ClientConnection::RetryElsewhere(ProxiedStream& stream, const std::string& why,
                                      balance::StreamOutcome outcome) {
  constexpr int kMaxAttempts = 3;
  if (stream.attempts >= kMaxAttempts) {
    OnBackendFailed(stream, why, outcome);
    return;
  }
  router_.Reroute(stream, outcome);
}

void ClientConnection::AnswerLocally(ProxiedStream& stream, int grpc_status, int http_status,
                                     const std::string& message) {
  // The client's doing, or the splicer's limit: says nothing about the backend.
  if (!stream.failure) stream.failure = balance::StreamOutcome::kCancelled;
  if (stream.backend != nullptr) stream.backend->Cancel(stream);
  stream.answered_by_splicer = true;
  stream.request_body.Drop();
  stream.ForgetSent(/*free_storage=*/true);
  stream.DropHeaders();
  if (stream.response_submitted) {
    ResetStream(stream, NGHTTP2_CANCEL);
    return;
  }
  if (stream.grpc) {
    stream.response_headers = {{":status", "200"},
                               {"content-type", "application/grpc"},
                               {"grpc-status", absl::StrCat(grpc_status)},
                               {"grpc-message", message}};
  } else {
    stream.response_headers = {{":status", absl::StrCat(http_status)}};
  }
  OnResponseHeaders(stream, /*end_stream=*/true);
}

void ClientConnection::RefuseHeaders(ProxiedStream& stream, std::size_t limit) {
  AnswerLocally(stream, kGrpcResourceExhausted, /*431 Request Header Fields Too Large*/ 431,
                absl::StrCat("skewless-splicer: request headers of ", stream.request_header_bytes,
                             " bytes exceed the limit of ", limit));
}

void ClientConnection::ResetStream(ProxiedStream& stream, std::uint32_t error_code) {
  if (!stream.failure) stream.failure = balance::StreamOutcome::kCancelled;
  if (stream.backend != nullptr) stream.backend->Cancel(stream);
  stream.answered_by_splicer = true;
  // Freed now, not when the reset is sent: the budget is back at once.
  stream.request_body.Drop();
  stream.response_body.Drop();
  stream.ForgetSent(/*free_storage=*/true);
  stream.DropHeaders();
  nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, stream.client_stream_id, error_code);
  RequestFlush();
}

void ClientConnection::ShedOverBudget() {
  while (account_.over() && !closing()) {
    ProxiedStream* largest = nullptr;
    for (auto& [id, stream] : streams_) {
      if (largest == nullptr || stream->buffered() > largest->buffered()) largest = stream.get();
    }
    if (largest == nullptr || largest->buffered() == 0) return;
    env_.metrics.budget_resets(BudgetScope::kConnection).Increment();
    ResetStream(*largest, NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

bool ClientConnection::Tick(Clock::time_point now) {
  if (closing()) return false;
  const SplicerLimits& limits = env_.limits;
  auto expired = [now](Clock::time_point since, std::chrono::milliseconds limit) {
    return limit.count() > 0 && now - since >= limit;
  };
  if (!preface_received()) {
    if (expired(accepted_, limits.preface_timeout)) {
      env_.metrics.timeouts(TimeoutKind::kPreface).Increment();
      Close("no HTTP/2 client preface within " + Seconds(limits.preface_timeout));
      return true;
    }
    return false;
  }
  if (streams_.empty() && expired(idle_since_, limits.idle_timeout)) {
    env_.metrics.timeouts(TimeoutKind::kIdle).Increment();
    Terminate(NGHTTP2_NO_ERROR, "no stream for " + Seconds(limits.idle_timeout));
    return true;
  }
  if (limits.max_connection_age.count() > 0) {
    if (!goaway_sent_ && expired(accepted_, limits.max_connection_age)) {
      // As gRPC's MAX_CONNECTION_AGE: the client opens a new connection (and so a new pick
      // by the connect hook) for its next calls; these finish here.
      env_.metrics.timeouts(TimeoutKind::kMaxAge).Increment();
      GoAway();
      goaway_at_ = now;
      return true;
    } else if (goaway_at_ != Clock::time_point{} &&
               expired(goaway_at_, limits.max_connection_age_grace)) {
      Close("calls still open " + Seconds(limits.max_connection_age_grace) +
            " after the maximum age's GOAWAY");
      return true;
    }
  }
  bool acted = false;
  if (limits.stream_idle_timeout.count() > 0) {
    for (auto& [id, stream] : streams_) {
      if (stream->answered_by_splicer ||
          !expired(stream->last_active, limits.stream_idle_timeout)) {
        continue;
      }
      env_.metrics.timeouts(TimeoutKind::kStreamIdle).Increment();
      // Envoy's stream_idle_timeout: an answer while none has started, else a reset.
      AnswerLocally(
          *stream, kGrpcDeadlineExceeded, /*408 Request Timeout*/ 408,
          "skewless-splicer: no frame on the stream for " + Seconds(limits.stream_idle_timeout));
      acted = true;
    }
  }
  return acted;
}

void ClientConnection::ConsumeRequest(ProxiedStream& stream, std::size_t length) {
  nghttp2_session_consume_stream(session(), stream.client_stream_id, length);
  RequestFlush();
}

ssize_t ClientConnection::ReadResponse(nghttp2_session* session, std::int32_t stream_id,
                                       std::uint8_t* buffer, std::size_t length,
                                       std::uint32_t* flags, nghttp2_data_source*, void* self) {
  ProxiedStream* stream = static_cast<ClientConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::size_t taken = stream->response_body.Take(buffer, length);
  if (taken > 0) {
    stream->last_active = Clock::now();
    // The client took them: the backend's stream window (and only it) reopens by as much.
    if (stream->backend != nullptr) stream->backend->ConsumeResponse(*stream, taken);
  }
  if (stream->response_body.size() == 0 && stream->response_ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!stream->response_trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::vector<nghttp2_nv>& nv = stream->response_trailers.Nv();
      nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size());
    }
    return static_cast<ssize_t>(taken);
  }
  return taken > 0 ? static_cast<ssize_t>(taken) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
}

}  // namespace skewless::splicer
