// An in-process Kubernetes API server for tests: Services, EndpointSlices and Nodes with
// paginated lists, chunked watch streams, bookmarks, compaction (410 Gone) and outages,
// all driven by the test.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
class DataSink;
struct Request;
struct Response;
}  // namespace httplib

namespace skewless::testing {

enum class Resource { kServices, kEndpointSlices, kNodes };

struct FakeApiServerOptions {
  // Serve HTTPS with this certificate chain and key (PEM) instead of plain HTTP.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // With TLS: require a client certificate signed by this CA (PEM).
  std::string client_ca_pem;
};

// How a watch from a compacted resourceVersion is refused. The real API server answers
// 200 with an ERROR event (Status code 410); older servers and proxies answer HTTP 410.
enum class GoneStyle { kHttpStatus, kErrorEvent };

// One request as the server saw it.
struct RecordedRequest {
  std::string method;  // set for ObjectRequests()
  std::string path;
  std::map<std::string, std::string> params;  // query parameters (first value of each)
  std::string authorization;                  // the Authorization header
  std::string host;                           // the Host header
  std::string user_agent;
  int status = 0;  // what the server answered

  bool is_watch() const { return params.contains("watch"); }
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? "" : it->second;
  }
};

// A token the fake's TokenReview endpoint knows, as the real API server would judge it.
struct FakeToken {
  std::string username;                // "system:serviceaccount:<namespace>:<name>"
  std::vector<std::string> audiences;  // what the token is bound to
};

// One TokenReview as the server saw it.
struct RecordedTokenReview {
  std::string token;                             // spec.token
  std::vector<std::string> requested_audiences;  // spec.audiences
  std::string authorization;                     // the reviewer's own credential
};

class FakeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<FakeApiServer>> Start(FakeApiServerOptions options = {});
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT"
  // A kubeconfig document for this server with `token` as the user's credential.
  std::string Kubeconfig(const std::string& token) const;
  static std::string PathOf(Resource resource);

  // Objects, as kubectl would create them: the server sets metadata.uid,
  // creationTimestamp and resourceVersion (a new one, from one global counter, for every
  // change) and logs a watch event. Each returns the change's resourceVersion.
  std::uint64_t Add(Resource resource, nlohmann::json object);
  std::uint64_t Modify(Resource resource, nlohmann::json object);  // must exist
  std::uint64_t Delete(Resource resource, const std::string& namespace_name,
                       const std::string& name);
  std::uint64_t resource_version() const;

  // Forgets the history up to now, as etcd compaction does: watches and continue tokens
  // from an older resourceVersion are refused with 410 Gone (in `style` for watches).
  void Compact();
  void SetGoneStyle(GoneStyle style);
  // Sends every open watch an ERROR event with a Status of code 410, then ends it.
  void SendGoneToWatches();
  // Sends every open watch that allowed bookmarks a BOOKMARK at the current version.
  void SendBookmarks();
  // Cuts every open watch connection mid-stream (no final chunk).
  void DropWatches();
  // Writes `line` (a newline is added) to every open watch: a corrupt stream.
  void SendRawLineToWatches(const std::string& line);
  // While on, everything is answered 503; turning it on also drops the open watches.
  void SetUnavailable(bool unavailable);
  // Answers 401 unless the request carries "Authorization: Bearer <token>"; "" = no check.
  void SetRequiredToken(std::string token);
  // Writes each watch event in two chunks split inside the JSON, instead of all pending
  // events in one chunk: the client must reassemble and split lines itself.
  void SetSplitEvents(bool split);
  // While paused, watches send nothing; on resume everything pending goes in one chunk.
  void SetWatchesPaused(bool paused);
  // Answers each list request of `resource` only after `delay` (a slow etcd range read).
  void SetListDelay(Resource resource, std::chrono::milliseconds delay);

  // POST /apis/authentication.k8s.io/v1/tokenreviews answers from this table: an unknown
  // token is not authenticated, one bound to none of the requested audiences neither
  // (with the API server's own error text), any other authenticated with the intersection.
  void AddToken(std::string token, FakeToken identity);
  // Answers each TokenReview only after `delay` (an API server under load); the review is
  // recorded when it arrives.
  void SetTokenReviewDelay(std::chrono::milliseconds delay);
  std::vector<RecordedTokenReview> TokenReviews() const;

  // Namespaced objects of `kind` ("secrets", "configmaps") at
  // /api/v1/namespaces/<namespace>/<kind>[/<name>]: GET one (404 when absent), POST a
  // create (409 AlreadyExists when present), PUT a replace (404 when absent, 409 Conflict
  // when metadata.resourceVersion is not the stored one). The server sets uid and
  // resourceVersion as for the other objects.
  std::optional<nlohmann::json> Object(const std::string& kind, const std::string& namespace_name,
                                       const std::string& name) const;
  void AddObject(const std::string& kind, nlohmann::json object);
  // The next `count` GETs of such objects answer 404 whatever exists: a replica that read
  // before another replica's create, and must then survive the 409 of its own create.
  void HideObjectsFromNextGets(int count);
  // Every request to such objects, with its method, in order.
  std::vector<RecordedRequest> ObjectRequests() const;

  std::vector<RecordedRequest> Requests() const;
  std::vector<RecordedRequest> Requests(Resource resource) const;
  std::size_t OpenWatches() const;
  // Waits until `count` watches are open; false after `limit`.
  bool WaitForOpenWatches(std::size_t count, std::chrono::milliseconds limit);

 private:
  struct Event {
    std::uint64_t version;
    std::string type;
    nlohmann::json object;
  };
  struct ResourceState {
    std::map<std::string, nlohmann::json> objects;  // by "namespace/name"
    std::vector<Event> log;
  };
  struct Watch;

  explicit FakeApiServer(FakeApiServerOptions options);
  absl::Status Listen();
  void Handle(Resource resource, const httplib::Request& request, httplib::Response& response);
  void HandleTokenReview(const httplib::Request& request, httplib::Response& response);
  // fake_apiserver_objects.cc
  void ServeObjectRoutes();
  void HandleObject(const std::string& method, const httplib::Request& request,
                    httplib::Response& response);
  // Both with mutex_ held.
  void ServeList(Resource resource, const httplib::Request& request, httplib::Response& response);
  void ServeWatch(Resource resource, const httplib::Request& request, httplib::Response& response);
  bool Pump(const std::shared_ptr<Watch>& watch, httplib::DataSink& sink);
  std::uint64_t Record(Resource resource, std::string type, nlohmann::json object);

  const FakeApiServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::uint64_t version_ = 1000;  // resourceVersions look like etcd revisions
  std::uint64_t compacted_ = 0;
  std::uint64_t uid_counter_ = 0;
  GoneStyle gone_style_ = GoneStyle::kErrorEvent;
  bool unavailable_ = false;
  bool split_events_ = false;
  bool paused_ = false;
  std::string required_token_;
  std::array<ResourceState, 3> resources_;
  std::array<std::chrono::milliseconds, 3> list_delays_{};
  std::set<std::shared_ptr<Watch>> watches_;
  std::vector<RecordedRequest> requests_;
  std::vector<Resource> request_resources_;  // parallel to requests_
  std::map<std::string, FakeToken> tokens_;
  std::vector<RecordedTokenReview> token_reviews_;
  std::map<std::string, nlohmann::json> namespaced_objects_;  // by "kind/namespace/name"
  int hidden_gets_ = 0;
  std::vector<RecordedRequest> object_requests_;
  std::chrono::milliseconds token_review_delay_{0};
};

}  // namespace skewless::testing
