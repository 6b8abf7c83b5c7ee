// HTTP(S) GETs (and POSTs and PUTs: TokenReview, the CA Secret and bundle) to the Kubernetes API
// server (bearer token, CA, client certificate), whole or streamed line by line for watches,
// abortable from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/controlplane/kube_source.h"

namespace httplib {
class ClientImpl;
class Result;
}  // namespace httplib

namespace skewless::controlplane::kube {

// Lets another thread abort the request a worker has in flight (KubeSource::Stop).
// Cancel is sticky: later requests fail at once with CANCELLED. cpp-httplib can only
// abort a request whose socket is already open, so a caller that must be sure keeps
// calling Cancel until its worker returns.
class RequestCanceller {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(); }

 private:
  friend class KubeClient;
  // Registers the client of the request about to start; false when already cancelled.
  bool Attach(httplib::ClientImpl* client);
  void Detach();

  std::mutex mutex_;  // guards active_, so Cancel never touches a client being destroyed
  httplib::ClientImpl* active_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

struct HttpResponse {
  int status = 0;
  // Get: the whole body. StreamLines: only a non-200 response's (usually a Kubernetes
  // Status); a 200 response's body went to the line callback.
  std::string body;
};

// Splits a watch stream into lines: an event may arrive split over several reads and
// several events may arrive in one. Empty lines are skipped.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Passes each line completed by `data` to `on_line`. Returns false as soon as
  // `on_line` does, or when a line grows past max_line_bytes (then overflowed()).
  bool Feed(std::string_view data, const std::function<bool(std::string_view)>& on_line);
  bool overflowed() const { return overflowed_; }
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  std::size_t max_line_bytes_;
  std::string pending_;  // the start of a line whose newline has not arrived yet
  bool overflowed_ = false;
};

// "HTTP 403 Forbidden: services is forbidden: User ..." from a Kubernetes Status body
// when there is one, as a status whose code follows the HTTP one (403 -> PERMISSION_DENIED,
// 5xx -> UNAVAILABLE, ...). `what` says which request: "list /api/v1/services".
absl::Status StatusFromResponse(std::string_view what, const HttpResponse& response);

// One API server. Every request opens a fresh connection with the token file re-read
// (projected service-account tokens rotate) and the CA and client certificate files
// re-read (so can they).
class KubeClient {
 public:
  // Checks the configuration once so that a bad URL or unreadable PEM fails at start:
  // scheme http or https, host, optional port and path prefix (kubectl proxy, Rancher).
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(
      KubeConfig config, std::chrono::milliseconds connect_timeout);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // GET `target` ("/api/v1/nodes?limit=500"), the whole body in memory. Non-OK when no
  // complete response arrived (connection, TLS, timeout, CANCELLED); an HTTP error
  // status is a response, for the caller to judge.
  absl::StatusOr<HttpResponse> Get(const std::string& target, std::chrono::milliseconds timeout,
                                   RequestCanceller& canceller) const;

  // POST `json_body` to `target` (a create, such as a TokenReview), the whole response
  // body in memory; errors as for Get.
  absl::StatusOr<HttpResponse> Post(const std::string& target, const std::string& json_body,
                                    std::chrono::milliseconds timeout,
                                    RequestCanceller& canceller) const;
  // PUT `json_body` to `target` (a replace); errors as for Get.
  absl::StatusOr<HttpResponse> Put(const std::string& target, const std::string& json_body,
                                   std::chrono::milliseconds timeout,
                                   RequestCanceller& canceller) const;

  // GET `target` and pass a 200 response's body to `on_line` line by line as it arrives.
  // `on_line` returns false to stop reading (the response then counts as complete).
  // A silence longer than `idle_timeout` is a failed read.
  absl::StatusOr<HttpResponse> StreamLines(const std::string& target,
                                           std::chrono::milliseconds idle_timeout,
                                           const std::function<bool(std::string_view)>& on_line,
                                           RequestCanceller& canceller) const;

  const std::string& server() const { return config_.server; }

 private:
  explicit KubeClient(KubeConfig config) : config_(std::move(config)) {}
  // A client for one request, with the token and TLS material as they are now.
  absl::StatusOr<std::unique_ptr<httplib::ClientImpl>> NewClient(
      std::chrono::milliseconds read_timeout) const;
  // Runs `send` (one GET of path prefix + target) where `canceller` can abort it.
  absl::StatusOr<httplib::Result> Send(
      httplib::ClientImpl& client, const std::string& target, RequestCanceller& canceller,
      const std::function<httplib::Result(httplib::ClientImpl&, const std::string&)>& send) const;
  // POST or PUT of a JSON body.
  absl::StatusOr<HttpResponse> SendJson(std::string_view method, const std::string& target,
                                        const std::string& json_body,
                                        std::chrono::milliseconds timeout,
                                        RequestCanceller& canceller) const;
  absl::StatusOr<std::string> Token() const;
  std::string Describe(const std::string& target, std::string_view method = "GET") const;

  KubeConfig config_;
  bool tls_ = false;
  std::string host_;  // without brackets
  int port_ = 0;
  std::string host_header_;  // with brackets and port as needed
  std::string path_prefix_;  // "" or "/k8s/clusters/c-1", no trailing slash
  std::chrono::milliseconds connect_timeout_{0};
  int ca_memfd_ = -1;    // ca_data, readable by path for cpp-httplib (see kube_client.cc)
  std::string ca_path_;  // ca_file, or /proc/self/fd/<ca_memfd_>
};

}  // namespace skewless::controlplane::kube
