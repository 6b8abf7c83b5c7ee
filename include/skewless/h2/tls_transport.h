// TLS for the agent's gRPC call (OpenSSL): a client session over an already connected
// nonblocking socket that verifies the server against a CA bundle and a name, insists
// on ALPN h2, and can present a client certificate (mTLS).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct ssl_ctx_st;
struct ssl_st;

namespace skewless::h2 {

struct TlsClientOptions {
  std::string ca_file;      // PEM bundle the server's certificate must chain to (required)
  std::string server_name;  // the name verified (and sent as SNI); empty = the target's host.
                            // An IP address is matched against the certificate's IP SANs.
  // Both or neither: the certificate chain and key presented for mTLS.
  std::string client_cert_file;
  std::string client_key_file;
};

// Checks what can be checked without a server: a CA file, a cert with its key.
absl::Status ValidateTlsClientOptions(const TlsClientOptions& options);

// What a nonblocking TLS call needs before it can go on.
enum class TlsWait { kNone, kReadable, kWritable };

struct TlsIo {
  std::size_t bytes = 0;          // plaintext bytes moved
  TlsWait wait = TlsWait::kNone;  // set when nothing moved and the socket must be polled
  bool closed = false;            // the server ended the TLS session (or the TCP stream)
};

class TlsTransport {
 public:
  // Reads the files anew (a rotated CA bundle or client certificate counts from the next
  // connect) and prepares a session on `fd`, which stays owned by the caller. `host` is
  // the target's host, verified when options.server_name is empty; `target` names the
  // peer in errors.
  static absl::StatusOr<std::unique_ptr<TlsTransport>> Create(const TlsClientOptions& options,
                                                              int fd, std::string_view host,
                                                              std::string_view target);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // One step of the handshake: kNone once it is done and the server chose h2, or what to
  // wait for before the next step. Errors say what failed (certificate verification with
  // OpenSSL's reason, the name expected, ALPN).
  absl::StatusOr<TlsWait> Handshake();
  absl::StatusOr<TlsIo> Write(const void* data, std::size_t length);
  absl::StatusOr<TlsIo> Read(void* data, std::size_t length);

 private:
  TlsTransport(ssl_ctx_st* context, ssl_st* ssl, std::string verified_name, std::string target);
  // Turns an OpenSSL result into a wait, a close or an error naming `doing`.
  absl::StatusOr<TlsIo> Outcome(int result, const char* doing);

  ssl_ctx_st* context_;
  ssl_st* ssl_;
  const std::string verified_name_;
  const std::string target_;
};

}  // namespace skewless::h2
