// The list + watch loop of one resource: paginated lists, resumable watches, backoff.
#include "kube_reflector.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "parse_util.h"

namespace skewless::controlplane::kube {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Continue tokens are base64 ('+', '/', '='), resource versions opaque: both are encoded.
std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A string member of a JSON object, or "" (json::value() would throw on a wrong type).
std::string StringField(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const json* ObjectField(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? &*it : nullptr;
}

std::string ResourceVersionOf(const json& object) {
  const json* metadata = ObjectField(object, "metadata");
  return metadata == nullptr ? "" : StringField(*metadata, "resourceVersion");
}

std::string Excerpt(std::string_view text) {
  constexpr size_t kMax = 120;
  return text.size() <= kMax ? std::string(text) : absl::StrCat(Sv(text.substr(0, kMax)), "...");
}

}  // namespace

Reflector::Reflector(std::string collection_path, const KubeClient& client,
                     const KubeSourceOptions& options, ReflectorSink& sink)
    : collection_path_(std::move(collection_path)),
      client_(client),
      options_(options),
      sink_(sink),
      backoff_(options.initial_backoff) {}

Reflector::~Reflector() { Join(); }

void Reflector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Reflector::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  canceller_.Cancel();
}

void Reflector::Join() {
  RequestStop();
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  // A request whose socket was not open yet when Cancel ran cannot be aborted by it, so
  // cancel again until the loop has seen the stop.
  while (!wake_.wait_for(lock, 20ms, [&] { return finished_; })) {
    lock.unlock();
    canceller_.Cancel();
    lock.lock();
  }
  lock.unlock();
  thread_.join();
}

ReflectorStats Reflector::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void Reflector::Count(std::uint64_t ReflectorStats::*counter) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++(stats_.*counter);
}

bool Reflector::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, duration, [&] { return stopping_; });
}

std::chrono::milliseconds Reflector::NextBackoff() {
  const std::chrono::milliseconds base = backoff_;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  // ±20%, so that many control-plane replicas do not retry in step after an outage.
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(base.count()) * jitter(random_)));
}

void Reflector::Run() {
  bool need_list = true;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    if (need_list) {
      const absl::Status listed = List();
      if (absl::IsCancelled(listed)) break;
      if (!listed.ok()) {
        Count(&ReflectorStats::errors);
        sink_.ReportError(listed);
        if (!Sleep(NextBackoff())) break;
        continue;
      }
      need_list = false;
      backoff_ = options_.initial_backoff;
    }

    absl::Status failure;
    bool progressed = false;
    const auto started = std::chrono::steady_clock::now();
    const WatchEnd end = Watch(&failure, &progressed);
    // A watch that delivered something or stayed open a while was healthy: whatever
    // ended it, the next attempt starts from the initial backoff.
    if (progressed || std::chrono::steady_clock::now() - started >= 1s) {
      backoff_ = options_.initial_backoff;
    }
    if (end == WatchEnd::kStopped) break;
    if (end == WatchEnd::kGone) {
      // Our resourceVersion fell out of the server's history (etcd compaction): events
      // were lost, so only a fresh list can say what exists now.
      Count(&ReflectorStats::relists_gone);
      need_list = true;
      continue;
    }
    if (end == WatchEnd::kFailed) {
      Count(&ReflectorStats::errors);
      sink_.ReportError(failure);
      if (!Sleep(NextBackoff())) break;
    } else if (!progressed && std::chrono::steady_clock::now() - started < 1s) {
      // A proxy that closes every watch at once would otherwise make this a busy loop.
      if (!Sleep(NextBackoff())) break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  wake_.notify_all();
}

absl::Status Reflector::List() {
  const std::string what = absl::StrCat("list ", collection_path_);
  std::vector<json> items;
  std::string continue_token;
  std::string list_version;
  int restarts = 0;
  while (true) {
    std::string target = absl::StrCat(collection_path_, "?limit=", options_.page_size);
    if (!continue_token.empty()) absl::StrAppend(&target, "&continue=", UrlEncode(continue_token));
    absl::StatusOr<HttpResponse> response = client_.Get(
        target, std::chrono::duration_cast<std::chrono::milliseconds>(options_.request_timeout),
        canceller_);
    if (!response.ok()) return response.status();
    if (response->status == 410 && !continue_token.empty() && restarts < 3) {
      // The continue token outlived the server's history (slow paging through a big
      // list): start over, as client-go does.
      ++restarts;
      items.clear();
      continue_token.clear();
      continue;
    }
    if (response->status != 200) return StatusFromResponse(what, *response);

    json page = json::parse(response->body, nullptr, false);
    const json* metadata = ObjectField(page, "metadata");
    if (metadata == nullptr) {
      return absl::DataLossError(absl::StrCat(what, ": not a list: ", Excerpt(response->body)));
    }
    list_version = StringField(*metadata, "resourceVersion");
    if (list_version.empty()) {
      return absl::DataLossError(absl::StrCat(what, ": the list has no metadata.resourceVersion"));
    }
    auto page_items = page.find("items");
    if (page_items != page.end() && page_items->is_array()) {
      for (json& item : *page_items) items.push_back(std::move(item));
    } else if (page_items != page.end() && !page_items->is_null()) {
      return absl::DataLossError(absl::StrCat(what, ": items is not a list"));
    }
    continue_token = StringField(*metadata, "continue");
    if (continue_token.empty()) break;
  }
  sink_.Replace(std::move(items));
  resource_version_ = std::move(list_version);
  Count(&ReflectorStats::lists);
  return absl::OkStatus();
}

Reflector::WatchEnd Reflector::Watch(absl::Status* failure, bool* progressed) {
  // Spread over [min, 2*min) so that watches of many replicas do not all end together.
  const std::int64_t min_s = std::max<std::int64_t>(1, options_.watch_timeout.count());
  std::uniform_int_distribution<std::int64_t> spread(min_s, 2 * min_s - 1);
  const std::int64_t timeout_s = spread(random_);
  const std::string target =
      absl::StrCat(collection_path_, "?watch=1&resourceVersion=", UrlEncode(resource_version_),
                   "&allowWatchBookmarks=true&timeoutSeconds=", timeout_s);
  // The server ends the watch after timeout_s; silence well past that means a dead peer.
  const auto idle_timeout = std::chrono::seconds(timeout_s) + 30s;

  Count(&ReflectorStats::watch_starts);
  WatchEnd end = WatchEnd::kClosed;
  absl::StatusOr<HttpResponse> response = client_.StreamLines(
      target, idle_timeout,
      [&](std::string_view line) { return HandleEvent(line, &end, failure, progressed); },
      canceller_);
  if (absl::IsCancelled(response.status())) return WatchEnd::kStopped;
  if (!response.ok()) {
    *failure = response.status();
    return WatchEnd::kFailed;
  }
  if (response->status == 410) return WatchEnd::kGone;
  if (response->status != 200) {
    *failure = StatusFromResponse(absl::StrCat("watch ", collection_path_), *response);
    return WatchEnd::kFailed;
  }
  return end;
}

bool Reflector::HandleEvent(std::string_view line, WatchEnd* end, absl::Status* failure,
                            bool* progressed) {
  const std::string what = absl::StrCat("watch ", collection_path_);
  const json event = json::parse(line, nullptr, false);
  const std::string type = StringField(event, "type");
  const json* object = ObjectField(event, "object");
  if (type.empty() || object == nullptr) {
    // A stream we cannot read is resumed from the last good resourceVersion.
    *failure = absl::DataLossError(absl::StrCat(what, ": not a watch event: ", Excerpt(line)));
    *end = WatchEnd::kFailed;
    return false;
  }
  if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
    *progressed = true;
    sink_.Apply(type == "ADDED"      ? WatchEventType::kAdded
                : type == "MODIFIED" ? WatchEventType::kModified
                                     : WatchEventType::kDeleted,
                *object);
    Count(&ReflectorStats::events);
    // Even an object the sink refused was seen: resuming before it would replay it.
    if (std::string version = ResourceVersionOf(*object); !version.empty()) {
      resource_version_ = std::move(version);
    }
    return true;
  }
  if (type == "BOOKMARK") {
    *progressed = true;
    // A bookmark carries only a resourceVersion: the point this watch has reached, so a
    // reconnect resumes there even when none of our objects changed for a long time.
    if (std::string version = ResourceVersionOf(*object); !version.empty()) {
      resource_version_ = std::move(version);
    }
    Count(&ReflectorStats::bookmarks);
    return true;
  }
  if (type == "ERROR") {
    // The object is a Status; 410 means the resourceVersion was compacted away.
    auto code = object->find("code");
    if (code != object->end() && code->is_number_integer() && code->get<std::int64_t>() == 410) {
      *end = WatchEnd::kGone;
      return false;
    }
    *failure =
        absl::UnavailableError(absl::StrCat(what, ": ERROR event: ", StringField(*object, "reason"),
                                            ": ", StringField(*object, "message")));
    *end = WatchEnd::kFailed;
    return false;
  }
  *failure = absl::DataLossError(absl::StrCat(what, ": unknown event type \"", type, "\""));
  *end = WatchEnd::kFailed;
  return false;
}

}  // namespace skewless::controlplane::kube
