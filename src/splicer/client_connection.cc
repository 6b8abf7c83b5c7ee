// The client side of a spliced request: HTTP/2 server session callbacks.
#include "client_connection.h"

#include "backend_connection.h"

namespace skewless::splicer {
namespace {

// Enough for any gRPC client's concurrency; memory stays bounded by the connection
// window whatever this is.
constexpr std::uint32_t kMaxClientStreams = 1024;

std::string_view View(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

}  // namespace

ClientConnection::ClientConnection(event_base* base, int fd, StreamRouter& router,
                                   prometheus::Gauge& buffered,
                                   std::function<void(H2Connection*)> on_closed)
    : H2Connection(base, fd, std::move(on_closed)), router_(router), buffered_(buffered) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &BeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
  Open(Role::kServer, callbacks,
       {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxClientStreams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindowBytes},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderListBytes}});
  nghttp2_session_callbacks_del(callbacks);
}

ClientConnection::~ClientConnection() { OnClosing(); }

ProxiedStream* ClientConnection::Find(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ClientConnection::OnClosing() {
  for (auto& [id, stream] : streams_) {
    if (stream->backend != nullptr) stream->backend->Cancel(*stream);
    router_.Finished(*stream);
    RecycleStream(std::move(stream));
  }
  streams_.clear();
}

void ClientConnection::GoAway() {
  if (closing()) return;
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session()), NGHTTP2_NO_ERROR,
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
  RecycleStream(std::move(it->second));
  streams_.erase(it);
  RequestFlush();  // a draining connection may be done now
}

int ClientConnection::BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& connection = *static_cast<ClientConnection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  std::unique_ptr<ProxiedStream> stream = TakeStream();
  stream->client = &connection;
  stream->client_stream_id = frame->hd.stream_id;
  stream->request_body.CountIn(&connection.buffered_);
  stream->response_body.CountIn(&connection.buffered_);
  connection.streams_[frame->hd.stream_id] = std::move(stream);
  return 0;
}

int ClientConnection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                               const std::uint8_t* name, std::size_t name_length,
                               const std::uint8_t* value, std::size_t value_length, std::uint8_t,
                               void* self) {
  auto& connection = *static_cast<ClientConnection*>(self);
  ProxiedStream* stream = connection.Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  stream->request_header_bytes += name_length + value_length + 32;
  if (stream->request_header_bytes > kMaxHeaderListBytes) {
    nghttp2_session_terminate_session(connection.session(), NGHTTP2_ENHANCE_YOUR_CALM);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  const std::string_view header_name = View(name, name_length);
  const std::string_view header_value = View(value, value_length);
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (header_name == "content-type" && header_value.starts_with("application/grpc")) {
      stream->grpc = true;
    }
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
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (end_stream) stream->request_ended = true;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    stream->started = std::chrono::steady_clock::now();
    connection.router_.Route(*stream);
  } else if (end_stream && stream->backend != nullptr) {
    stream->backend->OnRequestData(*stream);
  }
  return 0;
}

int ClientConnection::OnData(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                             const std::uint8_t* data, std::size_t length, void* self) {
  ProxiedStream* stream = static_cast<ClientConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return 0;
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
  SubmitResponse(stream, !end_stream);
}

void ClientConnection::OnResponseData(ProxiedStream& stream) {
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
  if (stream.response_ended) return;
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

void ClientConnection::ConsumeRequest(ProxiedStream& stream, std::size_t length) {
  nghttp2_session_consume(session(), stream.client_stream_id, length);
  RequestFlush();
}

ssize_t ClientConnection::ReadResponse(nghttp2_session* session, std::int32_t stream_id,
                                       std::uint8_t* buffer, std::size_t length,
                                       std::uint32_t* flags, nghttp2_data_source*, void* self) {
  ProxiedStream* stream = static_cast<ClientConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::size_t taken = stream->response_body.Take(buffer, length);
  if (taken > 0 && stream->backend != nullptr) stream->backend->ConsumeResponse(*stream, taken);
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
