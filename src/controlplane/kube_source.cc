// KubeSource: one reflector per resource feeding an object cache, and a publisher that
// folds the caches into a Snapshot after each burst of changes.
#include "skewless/controlplane/kube_source.h"

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kube_client.h"
#include "kube_reflector.h"
#include "parse_util.h"
#include "skewless/controlplane/kube_objects.h"

namespace skewless::controlplane {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// What the caches share with the publisher, under one mutex.
struct SharedState {
  std::mutex mutex;
  std::condition_variable changed;
  bool dirty = false;  // something changed since the last fold
  bool stopping = false;
  Clock::time_point first_change;  // of the current burst
  Clock::time_point last_change;
  std::uint64_t rejected_objects = 0;

  void MarkChanged() {
    const Clock::time_point now = Clock::now();
    if (!dirty) first_change = now;
    dirty = true;
    last_change = now;
  }
};

// Runs the user's callbacks one at a time, whichever thread calls.
class Callbacks {
 public:
  Callbacks(KubeSource::SnapshotCallback on_snapshot, KubeSource::ErrorCallback on_error)
      : on_snapshot_(std::move(on_snapshot)), on_error_(std::move(on_error)) {}

  void OnSnapshot(std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (on_snapshot_) on_snapshot_(std::move(snapshot));
  }

  void OnError(const absl::Status& status) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (on_error_) {
      on_error_(status);
    } else {
      std::cerr << "skewless-controlplane: kubernetes: " << status.message() << "\n";
    }
  }

 private:
  std::mutex mutex_;
  const KubeSource::SnapshotCallback on_snapshot_;
  const KubeSource::ErrorCallback on_error_;
};

absl::Status Annotate(const absl::Status& status, std::string_view what_happened) {
  return absl::Status(status.code(), absl::StrCat(status.message(), " (", Sv(what_happened), ")"));
}

// The last good version of every object of one kind, keyed by namespace and name. A
// value of nullopt is an object known to exist that serves nothing (a headless Service).
template <typename T>
class ObjectCache final : public kube::ReflectorSink {
 public:
  using Parser = absl::StatusOr<std::optional<T>> (*)(const json&);

  ObjectCache(std::string kind, Parser parse, SharedState& state, Callbacks& callbacks)
      : kind_(std::move(kind)), parse_(parse), state_(state), callbacks_(callbacks) {}

  void Replace(std::vector<json> items) override {
    // Parsed outside the lock: a large list takes a while, and the publisher reads.
    std::vector<std::pair<Key, absl::StatusOr<std::optional<T>>>> parsed;
    std::vector<absl::Status> errors;
    for (const json& item : items) {
      absl::StatusOr<KubeObjectMeta> meta = ParseKubeObjectMeta(kind_, item);
      if (!meta.ok()) {
        errors.push_back(Annotate(meta.status(), "skipped"));
        continue;
      }
      parsed.emplace_back(Key{meta->namespace_name, meta->name}, parse_(item));
    }
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      // Whatever the list does not name was deleted while we were not watching.
      std::map<Key, std::optional<T>> next;
      for (auto& [key, result] : parsed) {
        if (result.ok()) {
          next[key] = *std::move(result);
        } else if (auto old = objects_.find(key); old != objects_.end()) {
          next[key] = std::move(old->second);
          errors.push_back(Annotate(result.status(), "kept its previous version"));
        } else {
          errors.push_back(Annotate(result.status(), "skipped"));
        }
      }
      objects_ = std::move(next);
      synced_ = true;
      state_.rejected_objects += errors.size();
      state_.MarkChanged();
    }
    state_.changed.notify_all();
    for (const absl::Status& error : errors) callbacks_.OnError(error);
  }

  void Apply(kube::WatchEventType type, const json& object) override {
    absl::StatusOr<KubeObjectMeta> meta = ParseKubeObjectMeta(kind_, object);
    if (!meta.ok()) {
      {
        std::lock_guard<std::mutex> lock(state_.mutex);
        ++state_.rejected_objects;
      }
      callbacks_.OnError(Annotate(meta.status(), "skipped"));
      return;
    }
    const Key key{meta->namespace_name, meta->name};
    std::optional<absl::StatusOr<std::optional<T>>> parsed;
    if (type != kube::WatchEventType::kDeleted) parsed = parse_(object);
    std::optional<absl::Status> error;
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      if (!parsed) {
        objects_.erase(key);
      } else if (parsed->ok()) {
        objects_[key] = **std::move(parsed);
      } else {
        error = Annotate(parsed->status(),
                         objects_.contains(key) ? "kept its previous version" : "skipped");
        ++state_.rejected_objects;
      }
      state_.MarkChanged();
    }
    state_.changed.notify_all();
    if (error) callbacks_.OnError(*error);
  }

  void ReportError(const absl::Status& status) override { callbacks_.OnError(status); }

  // Both under state_.mutex.
  bool synced() const { return synced_; }
  std::vector<T> Values() const {
    std::vector<T> values;
    for (const auto& [key, value] : objects_) {
      if (value) values.push_back(*value);
    }
    return values;
  }

 private:
  using Key = std::pair<std::string, std::string>;  // namespace, name

  const std::string kind_;
  const Parser parse_;
  SharedState& state_;
  Callbacks& callbacks_;
  std::map<Key, std::optional<T>> objects_;  // guarded by state_.mutex
  bool synced_ = false;                      // guarded by state_.mutex
};

absl::StatusOr<std::optional<Node>> ParseNodeEntry(const json& object) {
  absl::StatusOr<Node> node = ParseKubeNode(object);
  if (!node.ok()) return node.status();
  return std::optional<Node>(*std::move(node));
}

class KubeSourceImpl final : public KubeSource {
 public:
  KubeSourceImpl(std::unique_ptr<kube::KubeClient> client, SnapshotCallback on_snapshot,
                 ErrorCallback on_error, const KubeSourceOptions& options)
      : options_(options),
        client_(std::move(client)),
        callbacks_(std::move(on_snapshot), std::move(on_error)),
        services_("Service", ParseKubeService, state_, callbacks_),
        slices_("EndpointSlice", ParseKubeEndpointSlice, state_, callbacks_),
        nodes_("Node", ParseNodeEntry, state_, callbacks_) {
    reflectors_.push_back(
        std::make_unique<kube::Reflector>("/api/v1/services", *client_, options_, services_));
    reflectors_.push_back(std::make_unique<kube::Reflector>(
        "/apis/discovery.k8s.io/v1/endpointslices", *client_, options_, slices_));
    reflectors_.push_back(
        std::make_unique<kube::Reflector>("/api/v1/nodes", *client_, options_, nodes_));
  }

  ~KubeSourceImpl() override { Stop(); }

  void Begin() {
    publisher_ = std::thread([this] { PublishLoop(); });
    for (auto& reflector : reflectors_) reflector->Start();
  }

  void Stop() override {
    std::lock_guard<std::mutex> stop_lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    // All three are told first, so their aborts overlap instead of adding up.
    for (auto& reflector : reflectors_) reflector->RequestStop();
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      state_.stopping = true;
    }
    state_.changed.notify_all();
    for (auto& reflector : reflectors_) reflector->Join();
    if (publisher_.joinable()) publisher_.join();
  }

  std::shared_ptr<const Snapshot> Current() const override {
    std::lock_guard<std::mutex> lock(state_.mutex);
    return current_;
  }

  KubeSourceStats Stats() const override {
    KubeSourceStats stats;
    for (const auto& reflector : reflectors_) {
      const kube::ReflectorStats r = reflector->Stats();
      stats.lists += r.lists;
      stats.watch_starts += r.watch_starts;
      stats.events += r.events;
      stats.bookmarks += r.bookmarks;
      stats.relists_gone += r.relists_gone;
      stats.errors += r.errors;
    }
    std::lock_guard<std::mutex> lock(state_.mutex);
    stats.rejected_objects = state_.rejected_objects;
    stats.snapshots = snapshots_;
    stats.synced = AllSynced();
    return stats;
  }

 private:
  bool AllSynced() const { return services_.synced() && slices_.synced() && nodes_.synced(); }

  void PublishLoop() {
    std::unique_lock<std::mutex> lock(state_.mutex);
    while (true) {
      state_.changed.wait(lock, [&] { return state_.stopping || state_.dirty; });
      // A rollout rewrites many slices in a row: wait for a quiet moment, but not past
      // max_delay from the burst's first change.
      while (!state_.stopping) {
        const Clock::time_point deadline = std::min(state_.last_change + options_.debounce,
                                                    state_.first_change + options_.max_delay);
        if (Clock::now() >= deadline) break;
        state_.changed.wait_until(lock, deadline);
      }
      if (state_.stopping) return;
      state_.dirty = false;
      // A snapshot from a partial view (Services listed, slices not yet) would tell the
      // agents that every Service has no endpoints.
      if (!AllSynced()) continue;
      std::vector<Service> services = services_.Values();
      std::vector<EndpointSlice> slices = slices_.Values();
      std::vector<Node> nodes = nodes_.Values();
      lock.unlock();
      Publish(BuildKubeSnapshot(std::move(services), std::move(slices), std::move(nodes)));
      lock.lock();
    }
  }

  // Runs on the publisher thread only, the one writer of current_.
  void Publish(absl::StatusOr<Snapshot> built) {
    if (!built.ok()) {
      callbacks_.OnError(built.status());
      return;
    }
    // Resource versions and fields we do not model change all the time (status updates,
    // managedFields, labels): only a change in what we serve is news for the agents.
    if (current_ != nullptr && *current_ == *built) return;
    auto snapshot = std::make_shared<const Snapshot>(*std::move(built));
    {
      std::lock_guard<std::mutex> lock(state_.mutex);
      current_ = snapshot;
      ++snapshots_;
    }
    callbacks_.OnSnapshot(std::move(snapshot));
  }

  const KubeSourceOptions options_;
  const std::unique_ptr<kube::KubeClient> client_;
  mutable SharedState state_;
  Callbacks callbacks_;
  ObjectCache<Service> services_;
  ObjectCache<EndpointSlice> slices_;
  ObjectCache<Node> nodes_;
  std::vector<std::unique_ptr<kube::Reflector>> reflectors_;
  std::thread publisher_;
  std::shared_ptr<const Snapshot> current_;  // written under state_.mutex
  std::uint64_t snapshots_ = 0;              // guarded by state_.mutex

  std::mutex stop_mutex_;
  bool stopped_ = false;
};

absl::Status CheckOptions(const KubeSourceOptions& options) {
  using std::chrono::milliseconds;
  if (options.page_size == 0) return absl::InvalidArgumentError("page_size must be at least 1");
  if (options.watch_timeout.count() < 1) {
    return absl::InvalidArgumentError("watch_timeout must be at least 1 s");
  }
  if (options.initial_backoff <= milliseconds(0) || options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("backoffs must satisfy 0 < initial_backoff <= max_backoff");
  }
  if (options.debounce < milliseconds(0) || options.max_delay < options.debounce) {
    return absl::InvalidArgumentError(
        "debounce and max_delay must satisfy 0 <= debounce <= max_delay");
  }
  if (options.request_timeout.count() < 1 || options.connect_timeout <= milliseconds(0)) {
    return absl::InvalidArgumentError("request_timeout and connect_timeout must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<KubeSource>> KubeSource::Start(KubeConfig config,
                                                              SnapshotCallback on_snapshot,
                                                              ErrorCallback on_error,
                                                              KubeSourceOptions options) {
  SKW_RETURN_IF_ERROR(CheckOptions(options));
  absl::StatusOr<std::unique_ptr<kube::KubeClient>> client =
      kube::KubeClient::Create(std::move(config), options.connect_timeout);
  if (!client.ok()) return client.status();
  auto source = std::make_unique<KubeSourceImpl>(*std::move(client), std::move(on_snapshot),
                                                 std::move(on_error), options);
  source->Begin();
  return source;
}

}  // namespace skewless::controlplane
