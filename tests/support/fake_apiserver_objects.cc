// The fake API server's Secrets and ConfigMaps: get, create and replace one object, with
// the API server's 404/409 answers, for the control plane's CA handling.
#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "fake_apiserver.h"

namespace skewless::testing {

using nlohmann::json;

namespace {

constexpr char kObjectRoute[] = R"(/api/v1/namespaces/([^/]+)/(secrets|configmaps)(?:/([^/]+))?)";

void ReplyStatus(httplib::Response& response, int code, const std::string& reason,
                 const std::string& message) {
  response.status = code;
  response.set_content(json{{"kind", "Status"},
                            {"apiVersion", "v1"},
                            {"metadata", json::object()},
                            {"status", "Failure"},
                            {"message", message},
                            {"reason", reason},
                            {"code", code}}
                           .dump(),
                       "application/json");
}

std::string ObjectKey(const std::string& kind, const std::string& namespace_name,
                      const std::string& name) {
  return absl::StrCat(kind, "/", namespace_name, "/", name);
}

}  // namespace

void FakeApiServer::ServeObjectRoutes() {
  server_->Get(kObjectRoute, [this](const httplib::Request& request, httplib::Response& response) {
    HandleObject("GET", request, response);
  });
  server_->Post(kObjectRoute, [this](const httplib::Request& request, httplib::Response& response) {
    HandleObject("POST", request, response);
  });
  server_->Put(kObjectRoute, [this](const httplib::Request& request, httplib::Response& response) {
    HandleObject("PUT", request, response);
  });
}

std::optional<json> FakeApiServer::Object(const std::string& kind,
                                          const std::string& namespace_name,
                                          const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = namespaced_objects_.find(ObjectKey(kind, namespace_name, name));
  if (it == namespaced_objects_.end()) return std::nullopt;
  return it->second;
}

void FakeApiServer::AddObject(const std::string& kind, json object) {
  std::lock_guard<std::mutex> lock(mutex_);
  json& metadata = object["metadata"];
  metadata["uid"] = absl::StrCat("uid-", ++uid_counter_);
  metadata["resourceVersion"] = absl::StrCat(++version_);
  namespaced_objects_[ObjectKey(kind, metadata.value("namespace", ""),
                                metadata.value("name", ""))] = std::move(object);
}

void FakeApiServer::HideObjectsFromNextGets(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  hidden_gets_ = count;
}

std::vector<RecordedRequest> FakeApiServer::ObjectRequests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return object_requests_;
}

void FakeApiServer::HandleObject(const std::string& method, const httplib::Request& request,
                                 httplib::Response& response) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string namespace_name = request.matches[1];
  const std::string kind = request.matches[2];
  const std::string path_name = request.matches[3];
  RecordedRequest record;
  record.method = method;
  record.path = request.path;
  record.authorization = request.get_header_value("Authorization");
  auto finish = [&] {
    record.status = response.status;
    object_requests_.push_back(record);
  };
  if (unavailable_) {
    ReplyStatus(response, 503, "ServiceUnavailable",
                "the server is currently unable to handle the request");
    return finish();
  }
  if (!required_token_.empty() && record.authorization != "Bearer " + required_token_) {
    ReplyStatus(response, 401, "Unauthorized", "Unauthorized");
    return finish();
  }
  json body;
  std::string name = path_name;
  if (method != "GET") {
    body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("metadata") || !body["metadata"].is_object()) {
      ReplyStatus(response, 400, "BadRequest", "the object has no metadata");
      return finish();
    }
    const std::string body_name = body["metadata"].value("name", "");
    if (method == "POST" ? !path_name.empty() : body_name != path_name) {
      ReplyStatus(response, 400, "BadRequest", "the name in the path and the body differ");
      return finish();
    }
    name = body_name;
    body["metadata"]["namespace"] = namespace_name;
  }
  if (name.empty()) {
    ReplyStatus(response, 405, "MethodNotAllowed", "lists are not served here");
    return finish();
  }
  const std::string key = ObjectKey(kind, namespace_name, name);
  auto stored = namespaced_objects_.find(key);
  const std::string what = absl::StrCat(kind, " \"", name, "\"");
  if (method == "GET") {
    if (hidden_gets_ > 0)
      --hidden_gets_;
    else if (stored != namespaced_objects_.end()) {
      response.status = 200;
      response.set_content(stored->second.dump(), "application/json");
      return finish();
    }
    ReplyStatus(response, 404, "NotFound", what + " not found");
    return finish();
  }
  if (method == "POST" && stored != namespaced_objects_.end()) {
    ReplyStatus(response, 409, "AlreadyExists", what + " already exists");
    return finish();
  }
  if (method == "PUT") {
    if (stored == namespaced_objects_.end()) {
      ReplyStatus(response, 404, "NotFound", what + " not found");
      return finish();
    }
    if (body["metadata"].value("resourceVersion", "") !=
        stored->second["metadata"].value("resourceVersion", "")) {
      ReplyStatus(response, 409, "Conflict",
                  "Operation cannot be fulfilled on " + what +
                      ": the object has been modified; please apply your changes to the latest "
                      "version and try again");
      return finish();
    }
    body["metadata"]["uid"] = stored->second["metadata"]["uid"];
  } else {
    body["metadata"]["uid"] = absl::StrCat("uid-", ++uid_counter_);
  }
  body["metadata"]["resourceVersion"] = absl::StrCat(++version_);
  namespaced_objects_[key] = body;
  response.status = method == "POST" ? 201 : 200;
  response.set_content(body.dump(), "application/json");
  finish();
}

}  // namespace skewless::testing
