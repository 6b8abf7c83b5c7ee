// The backend side of spliced requests: HTTP/2 client session callbacks.
#include "backend_connection.h"

#include "client_connection.h"

namespace skewless::splicer {
namespace {

std::string_view View(const std::uint8_t* data, std::size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

}  // namespace

BackendConnection::BackendConnection(event_base* base, int fd, std::uint32_t stream_window,
                                     std::function<void(H2Connection*)> on_closed)
    : H2Connection(base, fd, std::move(on_closed)) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
  Open(Role::kClient, callbacks,
       {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}, {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window}});
  nghttp2_session_callbacks_del(callbacks);
}

BackendConnection::~BackendConnection() { OnClosing(); }

ProxiedStream* BackendConnection::Find(std::int32_t stream_id) {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

bool BackendConnection::HasCapacity() const {
  if (closing() || goaway_) return false;
  const std::uint32_t limit =
      nghttp2_session_get_remote_settings(session(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < limit;
}

std::uint32_t BackendConnection::header_list_limit() const {
  return nghttp2_session_get_remote_settings(session(), NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE);
}

void BackendConnection::Submit(ProxiedStream& stream) {
  ++submitted_;
  const std::vector<nghttp2_nv>& nv = stream.request_headers.Nv();
  nghttp2_data_provider body{};
  body.read_callback = &ReadRequest;
  const bool headers_only =
      stream.request_ended && stream.request_body.size() == 0 && stream.request_trailers.empty();
  const std::int32_t id = nghttp2_submit_request(session(), nullptr, nv.data(), nv.size(),
                                                 headers_only ? nullptr : &body, nullptr);
  if (id < 0) {
    stream.client->OnBackendFailed(stream, nghttp2_strerror(id),
                                   balance::StreamOutcome::kStreamReset);
    return;
  }
  stream.backend = this;
  stream.backend_stream_id = id;
  streams_[id] = &stream;
  RequestFlush();
}

void BackendConnection::OnRequestData(ProxiedStream& stream) {
  nghttp2_session_resume_data(session(), stream.backend_stream_id);
  RequestFlush();
}

void BackendConnection::Cancel(ProxiedStream& stream) {
  if (streams_.erase(stream.backend_stream_id) == 0) return;
  if (!closing()) {
    // The connection's window for what it sent was given back on arrival (OnData).
    nghttp2_submit_rst_stream(session(), NGHTTP2_FLAG_NONE, stream.backend_stream_id,
                              NGHTTP2_CANCEL);
    RequestFlush();
  }
  stream.backend = nullptr;
}

void BackendConnection::ConsumeResponse(ProxiedStream& stream, std::size_t length) {
  nghttp2_session_consume_stream(session(), stream.backend_stream_id, length);
  RequestFlush();
}

void BackendConnection::OnClosing() {
  auto streams = std::move(streams_);
  streams_.clear();
  const std::string why = close_reason().empty() ? "connection closed" : close_reason();
  for (auto& [id, stream] : streams) {
    stream->backend = nullptr;
    stream->backend_stream_id = -1;
    if (connected()) {
      // A pod that closed with an error code blaming what it was sent (PROTOCOL_ERROR,
      // ENHANCE_YOUR_CALM, ...) reacted to a client's request: not held against it.
      stream->client->OnBackendFailed(*stream, why,
                                      goaway_error_ ? balance::OutcomeOfReset(*goaway_error_)
                                                    : balance::StreamOutcome::kStreamReset);
    } else {
      // Nothing of the stream left the splicer (output waits for the connect), and its
      // request bytes are all still buffered: another backend can take it.
      stream->client->RetryElsewhere(*stream, why, balance::StreamOutcome::kConnectFailure);
    }
  }
}

int BackendConnection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                                const std::uint8_t* name, std::size_t name_length,
                                const std::uint8_t* value, std::size_t value_length, std::uint8_t,
                                void* self) {
  auto& connection = *static_cast<BackendConnection*>(self);
  ProxiedStream* stream = connection.Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const std::size_t field = name_length + value_length + kHeaderFieldOverhead;
  stream->response_header_bytes += field;
  if (stream->response_header_bytes > kMaxHeaderListBytes) {
    // Only this stream: the backend connection carries other clients' calls.
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  stream->CountHeaderBytes(field);
  if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    stream->response_headers.Add(View(name, name_length), View(value, value_length));
  } else {
    stream->response_trailers.Add(View(name, name_length), View(value, value_length));
  }
  return 0;
}

int BackendConnection::OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& connection = *static_cast<BackendConnection*>(self);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    // No new streams here; those above last-stream-id are closed as REFUSED_STREAM.
    connection.goaway_ = true;
    if (frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      connection.goaway_error_ = frame->goaway.error_code;
    }
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  ProxiedStream* stream = connection.Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    stream->response_at = std::chrono::steady_clock::now();
    stream->response_seen = true;
    // Processed: never sent again. A small copy's storage stays for the stream's next use.
    stream->ForgetSent(/*free_storage=*/stream->request_sent.capacity() > kKeptBufferBytes);
    stream->client->OnResponseHeaders(*stream, end_stream);
  } else if (end_stream) {
    stream->client->OnResponseEnd(*stream);
  }
  return 0;
}

int BackendConnection::OnData(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                              const std::uint8_t* data, std::size_t length, void* self) {
  // The connection's window is given back as soon as the bytes are buffered, so a client
  // that reads slowly (or not at all) holds only its own stream's window, never the window
  // other clients' streams on this shared connection need (h2_connection.h).
  nghttp2_session_consume_connection(session, length);
  ProxiedStream* stream = static_cast<BackendConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return 0;
  stream->response_body.Append(data, length);
  stream->client->OnResponseData(*stream);
  return 0;
}

int BackendConnection::OnStreamClose(nghttp2_session*, std::int32_t stream_id,
                                     std::uint32_t error_code, void* self) {
  auto& connection = *static_cast<BackendConnection*>(self);
  ProxiedStream* stream = connection.Find(stream_id);
  if (stream == nullptr) return 0;
  connection.streams_.erase(stream_id);
  // Its unread response bytes stay with the client side (the connection's window for them
  // was given back on arrival).
  stream->backend = nullptr;
  if (error_code == NGHTTP2_REFUSED_STREAM && !stream->response_seen && stream->replayable) {
    // Never processed (above a GOAWAY's last-stream-id, or over the backend's limit):
    // send it whole to another backend; it says nothing about this one's health.
    stream->request_body.Prepend(stream->request_sent);
    stream->replay_unconsumed += stream->request_sent.size();
    stream->ForgetSent(/*free_storage=*/false);
    stream->client->RetryElsewhere(*stream, "refused by the backend",
                                   balance::StreamOutcome::kCancelled);
  } else if (error_code != NGHTTP2_NO_ERROR || !stream->response_ended) {
    stream->client->OnBackendFailed(
        *stream, std::string("reset by the backend (") + nghttp2_http2_strerror(error_code) + ")",
        error_code == NGHTTP2_NO_ERROR ? balance::StreamOutcome::kStreamReset
                                       : balance::OutcomeOfReset(error_code));
  }
  return 0;
}

ssize_t BackendConnection::ReadRequest(nghttp2_session* session, std::int32_t stream_id,
                                       std::uint8_t* buffer, std::size_t length,
                                       std::uint32_t* flags, nghttp2_data_source*, void* self) {
  ProxiedStream* stream = static_cast<BackendConnection*>(self)->Find(stream_id);
  if (stream == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::size_t taken = stream->request_body.Take(buffer, length);
  if (taken > 0) {
    // Bytes sent again after a refusal were already given back to the client's window.
    const std::size_t replayed = std::min(taken, stream->replay_unconsumed);
    stream->replay_unconsumed -= replayed;
    if (taken > replayed) stream->client->ConsumeRequest(*stream, taken - replayed);
    if (stream->replayable && !stream->response_seen) {
      if (stream->request_sent.size() + taken > kReplayLimitBytes) {
        stream->replayable = false;
        stream->ForgetSent(/*free_storage=*/true);
      } else {
        stream->KeepSent(buffer, taken);
      }
    }
  }
  if (stream->request_body.size() == 0 && stream->request_ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!stream->request_trailers.empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::vector<nghttp2_nv>& nv = stream->request_trailers.Nv();
      nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size());
    }
    return static_cast<ssize_t>(taken);
  }
  return taken > 0 ? static_cast<ssize_t>(taken) : static_cast<ssize_t>(NGHTTP2_ERR_DEFERRED);
}

}  // namespace skewless::splicer
