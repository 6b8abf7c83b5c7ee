// The Kubernetes API client over cpp-httplib: URL and TLS setup, requests, watch streams.
#include "kube_client.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "parse_util.h"

namespace skewless::controlplane::kube {
namespace {

constexpr char kUserAgent[] = "skewless-controlplane (kubernetes source)";
// The API server refuses objects over 1.5 MiB (etcd's request limit) and a watch event
// is one object; anything far larger is a broken stream, not an event to buffer.
constexpr std::size_t kMaxEventBytes = 16 << 20;
// Enough of an error body to quote its Status message.
constexpr std::size_t kMaxErrorBodyBytes = 64 << 10;
// PEM files and tokens are a few KiB; a larger "token" is the wrong file.
constexpr std::size_t kMaxCredentialFileBytes = 1 << 20;

template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(Sv(what), " ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::string content(kMaxCredentialFileBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(in.gcount()));
  if (content.size() > kMaxCredentialFileBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(Sv(what), " ", path, ": larger than ", kMaxCredentialFileBytes, " bytes"));
  }
  return content;
}

// The PEM text of `data` when given, else of `file`.
absl::StatusOr<std::string> LoadPem(const std::string& data, const std::string& file,
                                    std::string_view what) {
  if (!data.empty()) return data;
  return ReadFile(file, what);
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

BioPtr MemoryBio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::Status CheckCaBundle(std::string_view pem, std::string_view what) {
  BioPtr bio = MemoryBio(pem);
  int certificates = 0;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) ++certificates;
  ERR_clear_error();  // the loop ends on "no start line", which is not an error here
  if (certificates == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(Sv(what), ": no PEM certificate (-----BEGIN CERTIFICATE-----)"));
  }
  return absl::OkStatus();
}

struct ClientCredentials {
  X509Ptr certificate;
  PkeyPtr key;
};

absl::StatusOr<ClientCredentials> LoadClientCredentials(const KubeConfig& config) {
  absl::StatusOr<std::string> cert_pem =
      LoadPem(config.client_cert_data, config.client_cert_file, "client certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem =
      LoadPem(config.client_key_data, config.client_key_file, "client key");
  if (!key_pem.ok()) return key_pem.status();
  ClientCredentials credentials;
  BioPtr cert_bio = MemoryBio(*cert_pem);
  credentials.certificate.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!credentials.certificate) {
    return absl::FailedPreconditionError(
        absl::StrCat("client certificate: not a PEM certificate: ", OpenSslError()));
  }
  BioPtr key_bio = MemoryBio(*key_pem);
  credentials.key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!credentials.key) {
    return absl::FailedPreconditionError(
        absl::StrCat("client key: not a PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(credentials.certificate.get(), credentials.key.get()) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError("client key: does not match the client certificate");
  }
  return credentials;
}

// Splits "https://host:port/prefix"; kubeconfigs behind a proxy carry a path prefix.
bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (!text->starts_with(prefix)) return false;
  text->remove_prefix(prefix.size());
  return true;
}

absl::Status ParseServer(const std::string& server, bool* tls, std::string* host, int* port,
                         std::string* path_prefix) {
  auto fail = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("server \"", server, "\": ", Sv(why)));
  };
  std::string_view rest = server;
  if (ConsumePrefix(&rest, "https://")) {
    *tls = true;
  } else if (ConsumePrefix(&rest, "http://")) {
    *tls = false;
  } else {
    return fail("must start with https:// or http://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return fail("must not have a query or fragment");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  *path_prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!path_prefix->empty() && path_prefix->back() == '/') path_prefix->pop_back();

  std::string_view port_text;
  if (ConsumePrefix(&authority, "[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed [ in the host");
    *host = std::string(authority.substr(0, close));
    authority.remove_prefix(close + 1);
    if (!authority.empty() && !ConsumePrefix(&authority, ":")) {
      return fail("expected :port after ]");
    }
    port_text = authority;
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != authority.npos) {
      return fail("an IPv6 address must be in brackets");
    }
    *host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host->empty()) return fail("has no host");
  *port = *tls ? 443 : 80;
  if (!port_text.empty()) {
    int number = 0;
    if (!std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(Sv(port_text), &number) || number < 1 || number > 65535) {
      return fail("port must be 1-65535");
    }
    *port = number;
  }
  return absl::OkStatus();
}

// cpp-httplib 0.11 names its errors by their enumerator ("SSLServerVerification").
std::string ErrorText(httplib::Error error, const httplib::ClientImpl& client) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect";
    case httplib::Error::ConnectionTimeout:
      return "connect timed out";
    case httplib::Error::Read:
      return "connection closed or timed out while reading";
    case httplib::Error::Write:
      return "connection closed while writing";
    case httplib::Error::SSLConnection:
      return "TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the certificate authority";
    case httplib::Error::SSLServerVerification: {
      std::string text = "server certificate not trusted";
      if (const auto* ssl = dynamic_cast<const httplib::SSLClient*>(&client); ssl != nullptr) {
        absl::StrAppend(&text, " (",
                        X509_verify_cert_error_string(ssl->get_openssl_verify_result()), ")");
      }
      return text;
    }
    default:
      return httplib::to_string(error);
  }
}

// A dead peer that never closes (a partitioned node) would otherwise hold a watch until
// the idle timeout; keepalive probes notice it within about a minute.
void SetKeepalive(socket_t sock) {
  const int on = 1, idle_s = 30, interval_s = 10, count = 3;
  ::setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  ::setsockopt(sock, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

httplib::Headers RequestHeaders(const std::string& host_header, const std::string& token) {
  // Host is set here because cpp-httplib would write an IPv6 host without brackets.
  httplib::Headers headers = {
      {"Host", host_header}, {"Accept", "application/json"}, {"User-Agent", kUserAgent}};
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  return headers;
}

}  // namespace

void RequestCanceller::Cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (active_ != nullptr) active_->stop();
}

bool RequestCanceller::Attach(httplib::ClientImpl* client) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cancelled_) return false;
  active_ = client;
  return true;
}

void RequestCanceller::Detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  active_ = nullptr;
}

bool LineSplitter::Feed(std::string_view data,
                        const std::function<bool(std::string_view)>& on_line) {
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const std::string_view piece = data.substr(0, newline);
    if (pending_.size() + piece.size() > max_line_bytes_) {
      overflowed_ = true;
      return false;
    }
    if (newline == std::string_view::npos) {
      pending_.append(piece);
      return true;
    }
    data.remove_prefix(newline + 1);
    std::string_view line = piece;
    if (!pending_.empty()) {
      pending_.append(piece);
      line = pending_;
    }
    if (line.ends_with('\r')) line.remove_suffix(1);
    const bool keep_going = line.empty() || on_line(line);
    pending_.clear();
    if (!keep_going) return false;
  }
  return true;
}

absl::Status StatusFromResponse(std::string_view what, const HttpResponse& response) {
  std::string message = absl::StrCat(Sv(what), ": HTTP ", response.status);
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.value("kind", "") == "Status") {
    const std::string reason = body.value("reason", "");
    if (!reason.empty()) absl::StrAppend(&message, " (", reason, ")");
    absl::StrAppend(&message, ": ", body.value("message", "(no message)"));
  } else if (!response.body.empty()) {
    absl::StrAppend(&message, ": ", response.body.substr(0, 200));
  }
  switch (response.status) {
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 410:
      return absl::OutOfRangeError(message);
    case 429:
      return absl::ResourceExhaustedError(message);
    default:
      return response.status >= 500 ? absl::UnavailableError(message) : absl::UnknownError(message);
  }
}

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(
    KubeConfig config, std::chrono::milliseconds connect_timeout) {
  std::unique_ptr<KubeClient> client(new KubeClient(std::move(config)));
  const KubeConfig& c = client->config_;
  SKW_RETURN_IF_ERROR(
      ParseServer(c.server, &client->tls_, &client->host_, &client->port_, &client->path_prefix_));
  const bool default_port = client->port_ == (client->tls_ ? 443 : 80);
  const bool ipv6 = client->host_.find(':') != std::string::npos;
  client->host_header_ = ipv6 ? absl::StrCat("[", client->host_, "]") : client->host_;
  if (!default_port) absl::StrAppend(&client->host_header_, ":", client->port_);
  client->connect_timeout_ = connect_timeout;

  if (client->tls_) {
    if (!c.ca_data.empty()) {
      SKW_RETURN_IF_ERROR(CheckCaBundle(c.ca_data, "certificate authority data"));
      // cpp-httplib takes trusted CAs only as a file path (its in-memory store would be
      // extended with the system's CAs), so inline CA data goes to an anonymous memfd that
      // only this process can open, through /proc/self/fd.
      client->ca_memfd_ = ::memfd_create("skewless-kube-ca", MFD_CLOEXEC);
      if (client->ca_memfd_ < 0 || ::write(client->ca_memfd_, c.ca_data.data(), c.ca_data.size()) !=
                                       static_cast<ssize_t>(c.ca_data.size())) {
        return absl::InternalError(
            absl::StrCat("certificate authority data: memfd: ", std::strerror(errno)));
      }
      client->ca_path_ = absl::StrCat("/proc/self/fd/", client->ca_memfd_);
    } else if (!c.ca_file.empty()) {
      absl::StatusOr<std::string> pem = ReadFile(c.ca_file, "certificate authority");
      if (!pem.ok()) return pem.status();
      SKW_RETURN_IF_ERROR(CheckCaBundle(*pem, absl::StrCat("certificate authority ", c.ca_file)));
      client->ca_path_ = c.ca_file;
    }
    const bool has_cert = !c.client_cert_data.empty() || !c.client_cert_file.empty();
    const bool has_key = !c.client_key_data.empty() || !c.client_key_file.empty();
    if (has_cert != has_key) {
      return absl::InvalidArgumentError(
          "a client certificate needs its key and a key its certificate");
    }
    if (has_cert) {
      absl::StatusOr<ClientCredentials> credentials = LoadClientCredentials(c);
      if (!credentials.ok()) return credentials.status();
    }
  }
  if (!c.bearer_token_file.empty()) {
    absl::StatusOr<std::string> token = client->Token();
    if (!token.ok()) return token.status();
  }
  return client;
}

KubeClient::~KubeClient() {
  if (ca_memfd_ >= 0) ::close(ca_memfd_);
}

absl::StatusOr<std::string> KubeClient::Token() const {
  if (config_.bearer_token_file.empty()) return config_.bearer_token;
  absl::StatusOr<std::string> token = ReadFile(config_.bearer_token_file, "bearer token file");
  if (!token.ok()) return token.status();
  return std::string(absl::StripAsciiWhitespace(*token));
}

std::string KubeClient::Describe(const std::string& target, std::string_view method) const {
  return absl::StrCat(Sv(method), " ", config_.server, target);
}

absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> KubeClient::NewClient(
    std::chrono::milliseconds read_timeout) const {
  absl::StatusOr<std::string> token = Token();
  if (!token.ok()) return token.status();
  std::unique_ptr<httplib::ClientImpl> client;
  if (tls_) {
    std::unique_ptr<httplib::SSLClient> ssl;
    if (!config_.client_cert_data.empty() || !config_.client_cert_file.empty()) {
      absl::StatusOr<ClientCredentials> credentials = LoadClientCredentials(config_);
      if (!credentials.ok()) return credentials.status();
      // The SSL context takes its own references; ours go with `credentials`.
      ssl = std::make_unique<httplib::SSLClient>(host_, port_, credentials->certificate.get(),
                                                 credentials->key.get());
    } else {
      ssl = std::make_unique<httplib::SSLClient>(host_, port_);
    }
    if (!ssl->is_valid()) {
      return absl::InternalError(
          absl::StrCat("TLS setup for ", config_.server, " failed: ", OpenSslError()));
    }
    if (config_.insecure_skip_tls_verify) {
      ssl->enable_server_certificate_verification(false);
    } else if (!ca_path_.empty()) {
      ssl->set_ca_cert_path(ca_path_);
    }
    client = std::move(ssl);
  } else {
    client = std::make_unique<httplib::ClientImpl>(host_, port_);
  }
  client->set_default_headers(RequestHeaders(host_header_, *token));
  client->set_connection_timeout(connect_timeout_);
  client->set_read_timeout(read_timeout);
  client->set_write_timeout(connect_timeout_);
  client->set_keep_alive(false);
  client->set_follow_location(false);
  client->set_socket_options(SetKeepalive);
  return client;
}

absl::StatusOr<httplib::Result> KubeClient::Send(
    httplib::ClientImpl& client, const std::string& target, RequestCanceller& canceller,
    const std::function<httplib::Result(httplib::ClientImpl&, const std::string&)>& send) const {
  if (!canceller.Attach(&client)) {
    return absl::CancelledError(absl::StrCat(Describe(target), ": cancelled"));
  }
  httplib::Result result = send(client, path_prefix_ + target);
  canceller.Detach();
  if (canceller.cancelled()) {
    return absl::CancelledError(absl::StrCat(Describe(target), ": cancelled"));
  }
  return result;
}

absl::StatusOr<HttpResponse> KubeClient::Get(const std::string& target,
                                             std::chrono::milliseconds timeout,
                                             RequestCanceller& canceller) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = NewClient(timeout);
  if (!client.ok()) return client.status();
  absl::StatusOr<httplib::Result> result =
      Send(**client, target, canceller,
           [](httplib::ClientImpl& c, const std::string& path) { return c.Get(path); });
  if (!result.ok()) return result.status();
  if (!*result) {
    return absl::UnavailableError(
        absl::StrCat(Describe(target), ": ", ErrorText(result->error(), **client)));
  }
  return HttpResponse{(*result)->status, std::move((*result)->body)};
}

absl::StatusOr<HttpResponse> KubeClient::Post(const std::string& target,
                                              const std::string& json_body,
                                              std::chrono::milliseconds timeout,
                                              RequestCanceller& canceller) const {
  return SendJson("POST", target, json_body, timeout, canceller);
}

absl::StatusOr<HttpResponse> KubeClient::Put(const std::string& target,
                                             const std::string& json_body,
                                             std::chrono::milliseconds timeout,
                                             RequestCanceller& canceller) const {
  return SendJson("PUT", target, json_body, timeout, canceller);
}

absl::StatusOr<HttpResponse> KubeClient::SendJson(std::string_view method,
                                                  const std::string& target,
                                                  const std::string& json_body,
                                                  std::chrono::milliseconds timeout,
                                                  RequestCanceller& canceller) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = NewClient(timeout);
  if (!client.ok()) return client.status();
  const bool put = method == "PUT";
  absl::StatusOr<httplib::Result> result =
      Send(**client, target, canceller, [&](httplib::ClientImpl& c, const std::string& path) {
        return put ? c.Put(path, json_body, "application/json")
                   : c.Post(path, json_body, "application/json");
      });
  if (!result.ok()) return result.status();
  if (!*result) {
    return absl::UnavailableError(
        absl::StrCat(Describe(target, method), ": ", ErrorText(result->error(), **client)));
  }
  return HttpResponse{(*result)->status, std::move((*result)->body)};
}

absl::StatusOr<HttpResponse> KubeClient::StreamLines(
    const std::string& target, std::chrono::milliseconds idle_timeout,
    const std::function<bool(std::string_view)>& on_line, RequestCanceller& canceller) const {
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> client = NewClient(idle_timeout);
  if (!client.ok()) return client.status();

  HttpResponse response;
  LineSplitter splitter(kMaxEventBytes);
  bool stopped_by_callback = false;
  auto on_response = [&](const httplib::Response& head) {
    response.status = head.status;
    return true;
  };
  auto on_data = [&](const char* data, size_t size) {
    if (canceller.cancelled()) return false;
    if (response.status != 200) {
      const size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, response.body.size());
      response.body.append(data, std::min(size, room));
      return true;
    }
    if (splitter.Feed({data, size}, on_line)) return true;
    stopped_by_callback = !splitter.overflowed();
    return false;
  };
  absl::StatusOr<httplib::Result> result =
      Send(**client, target, canceller, [&](httplib::ClientImpl& c, const std::string& path) {
        return c.Get(path, on_response, on_data);
      });
  if (!result.ok()) return result.status();
  if (splitter.overflowed()) {
    return absl::ResourceExhaustedError(
        absl::StrCat(Describe(target), ": a line longer than ", kMaxEventBytes, " bytes"));
  }
  if (stopped_by_callback) return response;
  if (!*result) {
    return absl::UnavailableError(
        absl::StrCat(Describe(target), ": ", ErrorText(result->error(), **client)));
  }
  // The body ended cleanly; a last line without its newline still counts.
  if (response.status == 200) splitter.Feed("\n", on_line);
  return response;
}

}  // namespace skewless::controlplane::kube
