// One resource's list + watch loop (client-go's Reflector): keeps a sink equal to the API
// server's collection, resuming watches from the last resourceVersion and relisting only
// when the server says that version is gone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "kube_client.h"
#include "skewless/controlplane/kube_source.h"

namespace skewless::controlplane::kube {

enum class WatchEventType { kAdded, kModified, kDeleted };

// Where a reflector delivers what it learns; called from the reflector's thread only.
class ReflectorSink {
 public:
  virtual ~ReflectorSink() = default;
  // The whole collection from one complete (all pages) list: replaces everything.
  virtual void Replace(std::vector<nlohmann::json> items) = 0;
  virtual void Apply(WatchEventType type, const nlohmann::json& object) = 0;
  // A failed request or broken watch; the reflector retries on its own.
  virtual void ReportError(const absl::Status& status) = 0;
};

struct ReflectorStats {
  std::uint64_t lists = 0;
  std::uint64_t watch_starts = 0;
  std::uint64_t events = 0;
  std::uint64_t bookmarks = 0;
  std::uint64_t relists_gone = 0;
  std::uint64_t errors = 0;
};

class Reflector {
 public:
  // `collection_path` is the resource's cluster-wide list path ("/api/v1/services"), also
  // what errors name. `client` and `sink` must outlive the reflector.
  Reflector(std::string collection_path, const KubeClient& client, const KubeSourceOptions& options,
            ReflectorSink& sink);
  ~Reflector();  // RequestStop + Join
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void Start();
  // Asks the loop to end and aborts its request in flight; returns at once.
  void RequestStop();
  // Stops the loop (RequestStop) and waits for it to end; idempotent.
  void Join();

  ReflectorStats Stats() const;

 private:
  enum class WatchEnd { kClosed, kGone, kFailed, kStopped };

  void Run();
  absl::Status List();
  WatchEnd Watch(absl::Status* failure, bool* progressed);
  // Handles one watch event line; false ends the watch with *end set.
  bool HandleEvent(std::string_view line, WatchEnd* end, absl::Status* failure, bool* progressed);
  std::chrono::milliseconds NextBackoff();
  // Sleeps unless stopping; false when stopping.
  bool Sleep(std::chrono::milliseconds duration);
  void Count(std::uint64_t ReflectorStats::*counter);

  const std::string collection_path_;
  const KubeClient& client_;
  const KubeSourceOptions options_;
  ReflectorSink& sink_;

  RequestCanceller canceller_;
  std::thread thread_;
  std::mt19937 random_{std::random_device{}()};
  std::chrono::milliseconds backoff_;
  std::string resource_version_;  // of the last list, event or bookmark; loop thread only

  mutable std::mutex mutex_;  // guards the four below
  std::condition_variable wake_;
  bool stopping_ = false;
  bool finished_ = false;
  ReflectorStats stats_;
};

}  // namespace skewless::controlplane::kube
