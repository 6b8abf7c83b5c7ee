// The client's side of the splicer: an HTTP/2 server session (h2c prior knowledge) whose
// every stream is routed on its own to a backend stream, within the connection's budget
// and timeouts (SplicerLimits).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>

#include "buffer_account.h"
#include "h2_connection.h"
#include "proxied_stream.h"
#include "skewless/splicer/splicer.h"
#include "splicer_metrics.h"

namespace skewless::splicer {

class StreamRouter {
 public:
  virtual ~StreamRouter() = default;
  // The request's headers are complete: attach a backend stream, or fail it.
  virtual void Route(ProxiedStream& stream) = 0;
  // The stream is over on both sides (or the client went away).
  virtual void Finished(ProxiedStream& stream) = 0;
  // The stream's backend did not process it (see RetryElsewhere): the balancer learns
  // `outcome` for that backend, and the stream is routed again, avoiding it.
  virtual void Reroute(ProxiedStream& stream, balance::StreamOutcome outcome) = 0;
  // A client that does not speak HTTP/2 prior knowledge: relay its bytes to a backend
  // (taking `client`'s socket), or return false to close it.
  virtual bool PassThrough(H2Connection& client, std::string first_bytes) = 0;
};

class ClientConnection;

// What a client connection takes from its worker.
struct ClientEnvironment {
  const SplicerLimits& limits;
  BufferAccount& worker_buffers;  // the parent of every connection's account
  SplicerMetrics& metrics;
  // The connection went over its buffer budget: the worker calls ShedOverBudget from its loop.
  std::function<void(ClientConnection&)> over_budget;
};

class ClientConnection final : public H2Connection {
 public:
  using Clock = std::chrono::steady_clock;

  ClientConnection(event_base* base, int fd, StreamRouter& router, const ClientEnvironment& env,
                   std::function<void(H2Connection*)> on_closed);
  ~ClientConnection() override;

  // From the backend side, for a stream of this connection.
  void OnResponseHeaders(ProxiedStream& stream, bool end_stream);
  void OnResponseData(ProxiedStream& stream);
  void OnResponseEnd(ProxiedStream& stream);
  // The backend stream broke (reset, connection lost, refused): the client gets
  // grpc-status UNAVAILABLE (gRPC) or a 502 / reset (other HTTP/2). `kind` is what the
  // balancer learns about the backend from it.
  void OnBackendFailed(ProxiedStream& stream, const std::string& why, balance::StreamOutcome kind);
  // Nothing of the stream was processed by its backend (the connection never came up,
  // or the backend refused the stream): try another backend, a bounded number of times,
  // else fail it as above. `outcome` is what the balancer learns about the first.
  void RetryElsewhere(ProxiedStream& stream, const std::string& why,
                      balance::StreamOutcome outcome);
  // The request cannot be sent to any backend because of what the client sent (headers
  // over the limit a backend accepts): the splicer answers it itself (gRPC
  // RESOURCE_EXHAUSTED, else 431) and the backend learns nothing.
  void RefuseHeaders(ProxiedStream& stream, std::size_t limit);
  // The backend side took `length` request bytes: open the client's window by as much.
  void ConsumeRequest(ProxiedStream& stream, std::size_t length);
  ProxiedStream* Find(std::int32_t stream_id);
  // Graceful shutdown: GOAWAY (streams already begun finish, new ones are refused); the
  // connection closes by itself once its last stream is done and flushed.
  void GoAway();

  // Bytes this connection's streams hold (bodies, decoded headers, replay copies).
  std::int64_t buffered() const { return account_.used(); }
  // Over its budget: resets its largest streams (RST_STREAM ENHANCE_YOUR_CALM, which a gRPC
  // client reports as RESOURCE_EXHAUSTED) until it is within it again.
  void ShedOverBudget();
  // Applies the timeouts (preface, idle, stream idle, maximum age) as of `now`; true when
  // one closed the connection or ended a stream.
  bool Tick(Clock::time_point now);

 private:
  void OnClosing() override;
  bool Divert(std::string first_bytes) override {
    return router_.PassThrough(*this, std::move(first_bytes));
  }
  void SubmitResponse(ProxiedStream& stream, bool with_body);
  // Answers the stream from the splicer with a trailers-only gRPC status or an HTTP status.
  void AnswerLocally(ProxiedStream& stream, int grpc_status, int http_status,
                     const std::string& message);
  // Resets the client's stream with `error_code` and cancels its backend stream; its buffers
  // are freed at once. The balancer learns nothing about the backend from it.
  void ResetStream(ProxiedStream& stream, std::uint32_t error_code);
  void Release(std::int32_t stream_id);
  void Recycle(std::unique_ptr<ProxiedStream> stream);

  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t name_length, const std::uint8_t* value, std::size_t value_length,
                      std::uint8_t flags, void* self);
  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnData(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                    const std::uint8_t* data, std::size_t length, void* self);
  static int OnStreamClose(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                           void* self);
  static ssize_t ReadResponse(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buffer,
                              std::size_t length, std::uint32_t* flags, nghttp2_data_source*,
                              void* self);

  StreamRouter& router_;
  const ClientEnvironment& env_;
  BufferAccount account_;
  const Clock::time_point accepted_;
  Clock::time_point idle_since_;  // the last stream's end (or the accept)
  bool goaway_sent_ = false;      // no stream after it is routed
  std::int32_t goaway_last_stream_id_ = 0;
  Clock::time_point goaway_at_;  // when the maximum age's GOAWAY went out
  std::unordered_map<std::int32_t, std::unique_ptr<ProxiedStream>> streams_;
};

}  // namespace skewless::splicer
