// One bidirectional gRPC call over its own HTTP/2 connection (nghttp2; TLS through
// OpenSSL, or plaintext), with
// the shape of gRPC C++'s ClientReaderWriter: blocking Write/Read on the owner's
// thread, Finish for the status, Cancel from any thread.
//
// Why not gRPC C++: the node agent runs on every node and holds one stream. libgrpc and
// what it pulls in (c-ares, re2, upb, absl, its own TLS stack) add ~10 MiB of resident
// pages and a handful of threads to it; nghttp2, libssl and this file do the one call it
// needs.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "skewless/h2/tls_transport.h"

namespace google::protobuf {
class MessageLite;
}

namespace skewless::h2 {

struct GrpcCallOptions {
  std::string target;  // host:port or [v6]:port; a name is resolved, every address tried
  std::string method;  // "/package.Service/Method"
  std::string user_agent = "skewless";
  std::chrono::milliseconds connect_timeout{5000};
  // A PING after this long without a frame from the server; the connection is declared
  // dead when its ACK takes longer than keepalive_timeout (a peer gone without a FIN).
  std::chrono::milliseconds keepalive_interval{30000};
  std::chrono::milliseconds keepalive_timeout{10000};
  // Unset: plaintext (h2c with prior knowledge). Set: TLS, the server verified as it says.
  std::optional<TlsClientOptions> tls;
  // Non-empty: this file's contents (surrounding whitespace trimmed) are sent as
  // `authorization: Bearer <token>`. Read at every Start, since kubelet rotates projected
  // tokens in place; unreadable or empty is an error of that Start.
  std::string bearer_token_file;
};

enum class ReadOutcome { kMessage, kTimedOut, kEnded };

class GrpcClientStream {
 public:
  explicit GrpcClientStream(GrpcCallOptions options);
  ~GrpcClientStream();
  GrpcClientStream(const GrpcClientStream&) = delete;
  GrpcClientStream& operator=(const GrpcClientStream&) = delete;

  // Connects (and completes TLS), sends the connection preface and the call's headers.
  // Errors name the target and what failed (token file, resolve, connect, TLS, cancelled).
  absl::Status Start();
  // Queues one message and sends what the socket takes now; false once the call ended.
  bool Write(const google::protobuf::MessageLite& message);
  // Blocks for the next message; false when the call ended (Finish says why).
  bool Read(google::protobuf::MessageLite* message);
  // Read, but gives up at `deadline` (kTimedOut; the call stays usable): for a caller that
  // must also act on a timer of its own, such as a periodic report.
  ReadOutcome ReadUntil(google::protobuf::MessageLite* message,
                        std::chrono::steady_clock::time_point deadline);
  // Half-closes: the server sees the end of the request stream.
  bool WritesDone();
  // Ends the call (a call still open is reset) and gives its status: the server's
  // grpc-status, or what broke the connection.
  absl::Status Finish();
  // Thread-safe, at any point (even during Start): what blocks returns, and Finish
  // reports CANCELLED.
  void Cancel();

 private:
  class Connection;  // the socket and the nghttp2 session, in grpc_client_stream.cc
  std::unique_ptr<Connection> connection_;
};

}  // namespace skewless::h2
