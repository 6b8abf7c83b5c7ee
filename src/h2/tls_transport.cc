// The agent's TLS client session on OpenSSL: verification against a CA bundle and a
// name, ALPN h2 required, optional client certificate, nonblocking steps.
#include "skewless/h2/tls_transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/net.h"

namespace skewless::h2 {
namespace {

// ALPN wire format: a length byte, then the protocol.
constexpr std::array<unsigned char, 3> kAlpnH2 = {2, 'h', '2'};

bool IsIpAddress(const std::string& host) {
  return net::ParseIp(host, net::V4Mapped::kReadAsIpv4).ok();
}

// Everything OpenSSL queued on this thread, oldest first, then cleared.
std::string OpenSslErrors() {
  std::vector<std::string> reasons;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    reasons.emplace_back(text.data());
  }
  return reasons.empty() ? "unknown OpenSSL error" : absl::StrJoin(reasons, "; ");
}

// OpenSSL's own messages for a missing file are "system library" codes; this says which
// option named a file that cannot be read.
absl::Status Readable(const std::string& path, const char* option) {
  if (!std::ifstream(path).good()) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE when the server has
// gone; a library must not kill its process for that. This BIO sends with MSG_NOSIGNAL.
int SocketWrite(BIO* bio, const char* data, int length) {
  BIO_clear_retry_flags(bio);
  const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  const ssize_t sent = send(fd, data, static_cast<std::size_t>(length), MSG_NOSIGNAL);
  if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_write(bio);
  }
  return static_cast<int>(sent);
}

int SocketRead(BIO* bio, char* data, int length) {
  BIO_clear_retry_flags(bio);
  const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio)));
  const ssize_t received = recv(fd, data, static_cast<std::size_t>(length), 0);
  if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return static_cast<int>(received);
}

long SocketControl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // every write goes straight to the socket
}

const BIO_METHOD* NoSignalSocketMethod() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "skewless socket");
    BIO_meth_set_write(made, &SocketWrite);
    BIO_meth_set_read(made, &SocketRead);
    BIO_meth_set_ctrl(made, &SocketControl);
    return made;
  }();
  return method;
}

}  // namespace

absl::Status ValidateTlsClientOptions(const TlsClientOptions& options) {
  if (options.ca_file.empty()) {
    return absl::InvalidArgumentError("TLS needs a CA bundle file to verify the server with");
  }
  if (options.client_cert_file.empty() != options.client_key_file.empty()) {
    return absl::InvalidArgumentError(
        "a TLS client certificate needs its key and a key needs its certificate (give both "
        "or neither)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TlsTransport>> TlsTransport::Create(const TlsClientOptions& options,
                                                                   int fd, std::string_view host,
                                                                   std::string_view target) {
  if (absl::Status valid = ValidateTlsClientOptions(options); !valid.ok()) return valid;
  if (absl::Status readable = Readable(options.ca_file, "CA file"); !readable.ok()) {
    return readable;
  }
  ERR_clear_error();
  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  if (context == nullptr) {
    return absl::InternalError(absl::StrCat("TLS context: ", OpenSslErrors()));
  }
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> owned_context(context, &SSL_CTX_free);
  // gRPC over HTTP/2 requires TLS 1.2 or later (RFC 7540 section 9.2).
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
  // The write buffer may move between a WANT_WRITE and its retry, and a write may be
  // taken in part: the call keeps the rest and retries when the socket is writable.
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_load_verify_locations(context, options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA file ", options.ca_file, ": not a PEM certificate bundle: ", OpenSslErrors()));
  }
  if (!options.client_cert_file.empty()) {
    for (const auto& [path, option] : {std::pair{&options.client_cert_file, "client certificate"},
                                       std::pair{&options.client_key_file, "client key"}}) {
      if (absl::Status readable = Readable(*path, option); !readable.ok()) return readable;
    }
    if (SSL_CTX_use_certificate_chain_file(context, options.client_cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("client certificate ",
                                                     options.client_cert_file,
                                                     ": not a PEM certificate: ", OpenSslErrors()));
    }
    if (SSL_CTX_use_PrivateKey_file(context, options.client_key_file.c_str(), SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(context) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("client key ", options.client_key_file,
                       ": not the PEM key of the client certificate: ", OpenSslErrors()));
    }
  }
  if (SSL_CTX_set_alpn_protos(context, kAlpnH2.data(), kAlpnH2.size()) != 0) {
    return absl::InternalError(absl::StrCat("TLS ALPN: ", OpenSslErrors()));
  }

  SSL* ssl = SSL_new(context);
  if (ssl == nullptr) return absl::InternalError(absl::StrCat("TLS session: ", OpenSslErrors()));
  std::unique_ptr<SSL, decltype(&SSL_free)> owned_ssl(ssl, &SSL_free);
  const std::string name = options.server_name.empty() ? std::string(host) : options.server_name;
  X509_VERIFY_PARAM* verify = SSL_get0_param(ssl);
  if (IsIpAddress(name)) {
    // SNI carries host names only (RFC 6066 section 3); an address is checked as an IP SAN.
    if (X509_VERIFY_PARAM_set1_ip_asc(verify, name.c_str()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("server name ", name, ": ", OpenSslErrors()));
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(verify, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, name.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("server name \"", name, "\": ", OpenSslErrors()));
    }
  }
  BIO* socket = BIO_new(NoSignalSocketMethod());
  if (socket == nullptr) {
    return absl::InternalError(absl::StrCat("TLS on the socket: ", OpenSslErrors()));
  }
  BIO_set_data(socket, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
  BIO_set_init(socket, 1);
  SSL_set_bio(ssl, socket, socket);  // the session owns the BIO, not the socket
  SSL_set_connect_state(ssl);
  return std::unique_ptr<TlsTransport>(
      new TlsTransport(owned_context.release(), owned_ssl.release(), name, std::string(target)));
}

TlsTransport::TlsTransport(ssl_ctx_st* context, ssl_st* ssl, std::string verified_name,
                           std::string target)
    : context_(context),
      ssl_(ssl),
      verified_name_(std::move(verified_name)),
      target_(std::move(target)) {}

TlsTransport::~TlsTransport() {
  SSL_free(ssl_);
  SSL_CTX_free(context_);
}

absl::StatusOr<TlsWait> TlsTransport::Handshake() {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_);
  if (result != 1) {
    const long verified = SSL_get_verify_result(ssl_);
    if (verified != X509_V_OK) {
      ERR_clear_error();
      return absl::UnavailableError(absl::StrCat(
          "TLS handshake with ", target_, ": certificate verify failed: ",
          X509_verify_cert_error_string(verified), " (verifying \"", verified_name_, "\")"));
    }
    absl::StatusOr<TlsIo> outcome = Outcome(result, "TLS handshake");
    if (!outcome.ok()) return outcome.status();
    if (outcome->closed) {
      return absl::UnavailableError(
          absl::StrCat(target_, " closed the connection during the TLS handshake"));
    }
    return outcome->wait;
  }
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  if (std::string_view(reinterpret_cast<const char*>(protocol), length) != "h2") {
    return absl::UnavailableError(
        absl::StrCat("TLS handshake with ", target_,
                     ": server did not negotiate h2 (ALPN); it is not a gRPC server"));
  }
  return TlsWait::kNone;
}

absl::StatusOr<TlsIo> TlsTransport::Write(const void* data, std::size_t length) {
  ERR_clear_error();
  errno = 0;
  std::size_t written = 0;
  const int result = SSL_write_ex(ssl_, data, length, &written);
  if (result == 1) return TlsIo{.bytes = written};
  return Outcome(result, "TLS write");
}

absl::StatusOr<TlsIo> TlsTransport::Read(void* data, std::size_t length) {
  ERR_clear_error();
  errno = 0;
  std::size_t read = 0;
  const int result = SSL_read_ex(ssl_, data, length, &read);
  if (result == 1) return TlsIo{.bytes = read};
  return Outcome(result, "TLS read");
}

absl::StatusOr<TlsIo> TlsTransport::Outcome(int result, const char* doing) {
  const int error = SSL_get_error(ssl_, result);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return TlsIo{.wait = TlsWait::kReadable};
    case SSL_ERROR_WANT_WRITE:
      return TlsIo{.wait = TlsWait::kWritable};
    case SSL_ERROR_ZERO_RETURN:
      return TlsIo{.closed = true};
    case SSL_ERROR_SYSCALL:
      // An empty error queue and no errno: the peer closed the TCP stream without a
      // close_notify, which for us is the same as a close.
      if (ERR_peek_error() == 0 && errno == 0) return TlsIo{.closed = true};
      if (ERR_peek_error() == 0) {
        return absl::UnavailableError(
            absl::StrCat(doing, " with ", target_, ": ", std::strerror(errno)));
      }
      break;
    default:
      break;
  }
  return absl::UnavailableError(absl::StrCat(doing, " with ", target_, ": ", OpenSslErrors()));
}

}  // namespace skewless::h2
