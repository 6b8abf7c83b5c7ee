// The fake API server: object store, event log, list and watch handlers over cpp-httplib.
#include "fake_apiserver.h"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <csignal>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace skewless::testing {

using nlohmann::json;
using namespace std::chrono_literals;

struct FakeApiServer::Watch {
  Resource resource;
  std::uint64_t cursor;  // the last version this watch has sent
  bool bookmarks;        // allowWatchBookmarks=true
  std::chrono::steady_clock::time_point deadline;
  bool drop = false;
  bool send_gone = false;
  bool send_bookmark = false;
  // Sent before any event: synthetic ADDED events of a watch from "0", raw test lines.
  std::vector<std::string> initial_lines;
};

namespace {

struct ResourceInfo {
  const char* path;
  const char* kind;
  const char* list_kind;
  const char* api_version;
};

const ResourceInfo& Info(Resource resource) {
  static const ResourceInfo kInfo[] = {
      {"/api/v1/services", "Service", "ServiceList", "v1"},
      {"/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice", "EndpointSliceList",
       "discovery.k8s.io/v1"},
      {"/api/v1/nodes", "Node", "NodeList", "v1"},
  };
  return kInfo[static_cast<int>(resource)];
}

std::string KeyOf(const json& object) {
  const json& metadata = object.at("metadata");
  return absl::StrCat(metadata.value("namespace", ""), "/", metadata.at("name").get<std::string>());
}

// A Status object as the API server returns for errors.
json StatusJson(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

void Reply(httplib::Response& response, int code, const std::string& reason,
           const std::string& message) {
  response.status = code;
  response.set_content(StatusJson(code, reason, message).dump(), "application/json");
}

std::string EventLine(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::string GoneMessage(std::uint64_t requested, std::uint64_t compacted) {
  return absl::StrCat("too old resource version: ", requested, " (", compacted, ")");
}

// The continue token is what the real server sends: base64 of a small JSON document.
std::string EncodeContinue(std::uint64_t version, const std::string& last_key) {
  return absl::Base64Escape(
      json{{"v", "meta.k8s.io/v1"}, {"rv", version}, {"start", last_key + std::string(1, '\0')}}
          .dump());
}

bool DecodeContinue(const std::string& token, std::uint64_t* version, std::string* last_key) {
  std::string decoded;
  if (!absl::Base64Unescape(token, &decoded)) return false;
  const json document = json::parse(decoded, nullptr, false);
  if (!document.is_object() || !document.contains("rv") || !document.contains("start")) {
    return false;
  }
  *version = document["rv"].get<std::uint64_t>();
  *last_key = document["start"].get<std::string>();
  if (!last_key->empty()) last_key->pop_back();  // the trailing NUL
  return true;
}

}  // namespace

FakeApiServer::FakeApiServer(FakeApiServerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<FakeApiServer>> FakeApiServer::Start(FakeApiServerOptions options) {
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a watch whose client went away
  // must not kill the test process (the daemons ignore SIGPIPE the same way).
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<FakeApiServer> server(new FakeApiServer(std::move(options)));
  if (absl::Status status = server->Listen(); !status.ok()) return status;
  return server;
}

absl::Status FakeApiServer::Listen() {
  if (options_.tls_cert_pem.empty()) {
    server_ = std::make_unique<httplib::Server>();
  } else {
    server_ = std::make_unique<httplib::SSLServer>([this](SSL_CTX& context) {
      auto load = [](const std::string& pem, auto reader) {
        BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
        auto* value = reader(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
        return value;
      };
      X509* cert = load(options_.tls_cert_pem, PEM_read_bio_X509);
      EVP_PKEY* key = load(options_.tls_key_pem, PEM_read_bio_PrivateKey);
      bool ok = cert != nullptr && key != nullptr && SSL_CTX_use_certificate(&context, cert) == 1 &&
                SSL_CTX_use_PrivateKey(&context, key) == 1;
      X509_free(cert);
      EVP_PKEY_free(key);
      if (ok && !options_.client_ca_pem.empty()) {
        X509* ca = load(options_.client_ca_pem, PEM_read_bio_X509);
        ok = ca != nullptr && X509_STORE_add_cert(SSL_CTX_get_cert_store(&context), ca) == 1;
        X509_free(ca);
        SSL_CTX_set_verify(&context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      }
      return ok;
    });
  }
  if (!server_->is_valid()) return absl::InternalError("fake apiserver: TLS setup failed");
  // Every open watch holds a worker thread for as long as it lasts.
  server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  // A connection the client abandoned before sending its request must not hold up the
  // server's shutdown for long.
  server_->set_keep_alive_timeout(1);
  server_->set_read_timeout(1, 0);
  for (Resource resource : {Resource::kServices, Resource::kEndpointSlices, Resource::kNodes}) {
    server_->Get(Info(resource).path,
                 [this, resource](const httplib::Request& request, httplib::Response& response) {
                   Handle(resource, request, response);
                 });
  }
  server_->Post("/apis/authentication.k8s.io/v1/tokenreviews",
                [this](const httplib::Request& request, httplib::Response& response) {
                  HandleTokenReview(request, response);
                });
  ServeObjectRoutes();
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return absl::InternalError("fake apiserver: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeApiServer::Kubeconfig(const std::string& token) const {
  return absl::StrCat("apiVersion: v1\nkind: Config\ncurrent-context: t\n",
                      "clusters: [{name: t, cluster: {server: '", url(), "'}}]\n",
                      "users: [{name: t, user: {token: ", token, "}}]\n",
                      "contexts: [{name: t, context: {cluster: t, user: t}}]\n");
}

std::string FakeApiServer::url() const {
  return absl::StrCat(options_.tls_cert_pem.empty() ? "http" : "https", "://127.0.0.1:", port_);
}

std::string FakeApiServer::PathOf(Resource resource) { return Info(resource).path; }

std::uint64_t FakeApiServer::Record(Resource resource, std::string type, json object) {
  ResourceState& state = resources_[static_cast<int>(resource)];
  const std::uint64_t version = ++version_;
  object["metadata"]["resourceVersion"] = std::to_string(version);
  const std::string key = KeyOf(object);
  if (type == "DELETED") {
    state.objects.erase(key);
  } else {
    state.objects[key] = object;
  }
  state.log.push_back({version, std::move(type), std::move(object)});
  changed_.notify_all();
  return version;
}

std::uint64_t FakeApiServer::Add(Resource resource, json object) {
  std::lock_guard<std::mutex> lock(mutex_);
  object["apiVersion"] = Info(resource).api_version;
  object["kind"] = Info(resource).kind;
  char uid[40];
  std::snprintf(uid, sizeof(uid), "6f1c2a9e-41d3-4b8e-9a0c-%012llx",
                static_cast<unsigned long long>(++uid_counter_));
  object["metadata"]["uid"] = uid;
  object["metadata"]["creationTimestamp"] = "2024-05-01T10:00:00Z";
  return Record(resource, "ADDED", std::move(object));
}

std::uint64_t FakeApiServer::Modify(Resource resource, json object) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ResourceState& state = resources_[static_cast<int>(resource)];
  auto existing = state.objects.find(KeyOf(object));
  if (existing == state.objects.end()) return 0;
  object["apiVersion"] = Info(resource).api_version;
  object["kind"] = Info(resource).kind;
  for (const char* kept : {"uid", "creationTimestamp"}) {
    object["metadata"][kept] = existing->second["metadata"][kept];
  }
  return Record(resource, "MODIFIED", std::move(object));
}

std::uint64_t FakeApiServer::Delete(Resource resource, const std::string& namespace_name,
                                    const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const ResourceState& state = resources_[static_cast<int>(resource)];
  auto existing = state.objects.find(absl::StrCat(namespace_name, "/", name));
  if (existing == state.objects.end()) return 0;
  // A DELETED event carries the object's last state.
  return Record(resource, "DELETED", existing->second);
}

std::uint64_t FakeApiServer::resource_version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return version_;
}

void FakeApiServer::Compact() {
  std::lock_guard<std::mutex> lock(mutex_);
  compacted_ = version_;
}

void FakeApiServer::SetGoneStyle(GoneStyle style) {
  std::lock_guard<std::mutex> lock(mutex_);
  gone_style_ = style;
}

void FakeApiServer::SendGoneToWatches() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& watch : watches_) watch->send_gone = true;
  changed_.notify_all();
}

void FakeApiServer::SendBookmarks() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& watch : watches_) watch->send_bookmark = watch->bookmarks;
  changed_.notify_all();
}

void FakeApiServer::DropWatches() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& watch : watches_) watch->drop = true;
  changed_.notify_all();
}

void FakeApiServer::SendRawLineToWatches(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& watch : watches_) watch->initial_lines.push_back(line + "\n");
  changed_.notify_all();
}

void FakeApiServer::SetUnavailable(bool unavailable) {
  std::lock_guard<std::mutex> lock(mutex_);
  unavailable_ = unavailable;
  // An outage breaks the open connections too.
  if (unavailable) {
    for (const auto& watch : watches_) watch->drop = true;
  }
  changed_.notify_all();
}

void FakeApiServer::SetRequiredToken(std::string token) {
  std::lock_guard<std::mutex> lock(mutex_);
  required_token_ = std::move(token);
}

void FakeApiServer::SetSplitEvents(bool split) {
  std::lock_guard<std::mutex> lock(mutex_);
  split_events_ = split;
}

void FakeApiServer::SetListDelay(Resource resource, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  list_delays_[static_cast<int>(resource)] = delay;
}

void FakeApiServer::SetWatchesPaused(bool paused) {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = paused;
  changed_.notify_all();
}

void FakeApiServer::AddToken(std::string token, FakeToken identity) {
  std::lock_guard<std::mutex> lock(mutex_);
  tokens_[std::move(token)] = std::move(identity);
}

std::vector<RecordedTokenReview> FakeApiServer::TokenReviews() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return token_reviews_;
}

void FakeApiServer::SetTokenReviewDelay(std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  token_review_delay_ = delay;
}

void FakeApiServer::HandleTokenReview(const httplib::Request& request,
                                      httplib::Response& response) {
  std::unique_lock<std::mutex> lock(mutex_);
  const json body = json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("spec") || !body["spec"].is_object()) {
    return Reply(response, 400, "BadRequest", "a TokenReview needs a spec");
  }
  RecordedTokenReview record;
  record.token = body["spec"].value("token", "");
  record.requested_audiences = body["spec"].value("audiences", std::vector<std::string>{});
  record.authorization = request.get_header_value("Authorization");
  token_reviews_.push_back(record);
  if (token_review_delay_.count() > 0) {
    // Recorded on arrival, so a test sees how many reviews are in flight while it waits.
    const std::chrono::milliseconds delay = token_review_delay_;
    lock.unlock();
    std::this_thread::sleep_for(delay);
    lock.lock();
  }
  if (unavailable_) {
    return Reply(response, 503, "ServiceUnavailable",
                 "the server is currently unable to handle the request");
  }
  if (!required_token_.empty() && record.authorization != "Bearer " + required_token_) {
    return Reply(response, 401, "Unauthorized", "Unauthorized");
  }
  json status = {{"authenticated", false}};
  const auto known = tokens_.find(record.token);
  if (known == tokens_.end()) {
    status["error"] = "[invalid bearer token, square/go-jose: error in cryptographic primitive]";
  } else {
    std::vector<std::string> shared;
    for (const std::string& audience : known->second.audiences) {
      if (std::find(record.requested_audiences.begin(), record.requested_audiences.end(),
                    audience) != record.requested_audiences.end()) {
        shared.push_back(audience);
      }
    }
    if (shared.empty()) {
      status["error"] = absl::StrCat(
          "[invalid bearer token, token audiences ", json(known->second.audiences).dump(),
          " is invalid for the target audiences ", json(record.requested_audiences).dump(), "]");
    } else {
      status = {{"authenticated", true},
                {"user", {{"username", known->second.username}, {"uid", "uid-1"}}},
                {"audiences", shared}};
    }
  }
  response.status = 201;
  response.set_content(json{{"apiVersion", "authentication.k8s.io/v1"},
                            {"kind", "TokenReview"},
                            {"metadata", {{"creationTimestamp", nullptr}}},
                            {"spec", body["spec"]},
                            {"status", status}}
                           .dump(),
                       "application/json");
}

std::vector<RecordedRequest> FakeApiServer::Requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::vector<RecordedRequest> FakeApiServer::Requests(Resource resource) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<RecordedRequest> selected;
  for (size_t i = 0; i < requests_.size(); ++i) {
    if (request_resources_[i] == resource) selected.push_back(requests_[i]);
  }
  return selected;
}

std::size_t FakeApiServer::OpenWatches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::size_t>(std::count_if(watches_.begin(), watches_.end(),
                                                [](const auto& watch) { return !watch->drop; }));
}

bool FakeApiServer::WaitForOpenWatches(std::size_t count, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (OpenWatches() >= count) return true;
    std::this_thread::sleep_for(5ms);
  }
  return OpenWatches() >= count;
}

void FakeApiServer::Handle(Resource resource, const httplib::Request& request,
                           httplib::Response& response) {
  if (!request.has_param("watch")) {
    std::chrono::milliseconds delay;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      delay = list_delays_[static_cast<int>(resource)];
    }
    std::this_thread::sleep_for(delay);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  RecordedRequest record;
  record.path = request.path;
  for (const auto& [name, value] : request.params) record.params.emplace(name, value);
  record.authorization = request.get_header_value("Authorization");
  record.host = request.get_header_value("Host");
  record.user_agent = request.get_header_value("User-Agent");
  if (unavailable_) {
    Reply(response, 503, "ServiceUnavailable",
          "the server is currently unable to handle the request");
  } else if (!required_token_.empty() && record.authorization != "Bearer " + required_token_) {
    Reply(response, 401, "Unauthorized", "Unauthorized");
  } else if (record.is_watch()) {
    ServeWatch(resource, request, response);
  } else {
    ServeList(resource, request, response);
  }
  record.status = response.status;
  requests_.push_back(std::move(record));
  request_resources_.push_back(resource);
}

void FakeApiServer::ServeList(Resource resource, const httplib::Request& request,
                              httplib::Response& response) {
  const ResourceState& state = resources_[static_cast<int>(resource)];
  std::size_t limit = 0;
  if (request.has_param("limit") && !absl::SimpleAtoi(request.get_param_value("limit"), &limit)) {
    return Reply(response, 400, "BadRequest", "limit must be an integer");
  }
  std::uint64_t list_version = version_;
  auto next = state.objects.begin();
  if (request.has_param("continue")) {
    std::string last_key;
    if (!DecodeContinue(request.get_param_value("continue"), &list_version, &last_key)) {
      return Reply(response, 400, "BadRequest", "invalid continue token");
    }
    if (list_version < compacted_) {
      return Reply(response, 410, "Expired",
                   "The provided continue parameter is too old to display a consistent list "
                   "result. You can start a new list without the continue parameter.");
    }
    next = state.objects.upper_bound(last_key);
  }
  json items = json::array();
  for (; next != state.objects.end() && (limit == 0 || items.size() < limit); ++next) {
    json item = next->second;
    // As the real server does, list items carry no apiVersion and kind of their own.
    item.erase("apiVersion");
    item.erase("kind");
    items.push_back(std::move(item));
  }
  json metadata = {{"resourceVersion", std::to_string(list_version)}};
  if (next != state.objects.end()) {
    metadata["continue"] = EncodeContinue(list_version, std::prev(next)->first);
    metadata["remainingItemCount"] = std::distance(next, state.objects.end());
  }
  const json list = {{"kind", Info(resource).list_kind},
                     {"apiVersion", Info(resource).api_version},
                     {"metadata", metadata},
                     {"items", items}};
  response.status = 200;
  response.set_content(list.dump(), "application/json");
}

void FakeApiServer::ServeWatch(Resource resource, const httplib::Request& request,
                               httplib::Response& response) {
  const ResourceState& state = resources_[static_cast<int>(resource)];
  std::uint64_t from = 0;
  const std::string version_text = request.get_param_value("resourceVersion");
  if (!version_text.empty() && !absl::SimpleAtoi(version_text, &from)) {
    return Reply(response, 400, "BadRequest", "resourceVersion must be an integer");
  }
  auto watch = std::make_shared<Watch>();
  watch->resource = resource;
  watch->bookmarks = request.get_param_value("allowWatchBookmarks") == "true";
  std::int64_t timeout_s = 1800;
  if (request.has_param("timeoutSeconds")) {
    absl::SimpleAtoi(request.get_param_value("timeoutSeconds"), &timeout_s);
  }
  watch->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  if (from == 0) {
    // "Any version": the current state as ADDED events, then changes from now.
    for (const auto& [key, object] : state.objects) {
      watch->initial_lines.push_back(EventLine("ADDED", object));
    }
    watch->cursor = version_;
  } else if (from < compacted_) {
    if (gone_style_ == GoneStyle::kHttpStatus) {
      return Reply(response, 410, "Expired", GoneMessage(from, compacted_));
    }
    watch->cursor = from;
    watch->send_gone = true;
  } else {
    watch->cursor = from;
  }
  watches_.insert(watch);
  response.status = 200;
  response.set_chunked_content_provider(
      "application/json",
      [this, watch](size_t, httplib::DataSink& sink) { return Pump(watch, sink); },
      [this, watch](bool) {
        std::lock_guard<std::mutex> lock(mutex_);
        watches_.erase(watch);
      });
}

// Called by cpp-httplib in a loop for as long as it returns true: waits a little for
// something to send, sends it, and ends the stream at the watch's deadline.
bool FakeApiServer::Pump(const std::shared_ptr<Watch>& watch, httplib::DataSink& sink) {
  std::unique_lock<std::mutex> lock(mutex_);
  const ResourceState& state = resources_[static_cast<int>(watch->resource)];
  auto pending = [&] {
    return !watch->initial_lines.empty() ||
           (!state.log.empty() && state.log.back().version > watch->cursor);
  };
  changed_.wait_for(lock, 50ms, [&] {
    return stopping_ || watch->drop ||
           (!paused_ && (watch->send_gone || watch->send_bookmark || pending() ||
                         std::chrono::steady_clock::now() >= watch->deadline));
  });
  if (stopping_ || watch->drop) return false;
  if (paused_) return true;

  std::vector<std::string> lines = std::move(watch->initial_lines);
  watch->initial_lines.clear();
  bool end = false;
  if (watch->send_gone) {
    lines.push_back(
        EventLine("ERROR", StatusJson(410, "Expired", GoneMessage(watch->cursor, compacted_))));
    end = true;
  } else {
    for (const Event& event : state.log) {
      if (event.version <= watch->cursor) continue;
      lines.push_back(EventLine(event.type, event.object));
      watch->cursor = event.version;
    }
    if (watch->send_bookmark) {
      // Only a resourceVersion: "this watch has seen everything up to here".
      const json bookmark = {{"kind", Info(watch->resource).kind},
                             {"apiVersion", Info(watch->resource).api_version},
                             {"metadata", {{"resourceVersion", std::to_string(version_)}}}};
      lines.push_back(EventLine("BOOKMARK", bookmark));
      watch->cursor = version_;
      watch->send_bookmark = false;
    }
    end = std::chrono::steady_clock::now() >= watch->deadline;
  }
  const bool split = split_events_;
  lock.unlock();

  if (split) {
    for (const std::string& line : lines) {
      const size_t half = line.size() / 2;
      if (!sink.write(line.data(), half) || !sink.write(line.data() + half, line.size() - half)) {
        return false;
      }
    }
  } else if (!lines.empty()) {
    std::string chunk;
    for (const std::string& line : lines) chunk += line;
    if (!sink.write(chunk.data(), chunk.size())) return false;
  }
  if (end) sink.done();
  return true;
}

}  // namespace skewless::testing
