// The life of one ADS stream on gRPC's callback API, shared by the SotW and delta
// protocols. No thread per stream: reads and writes complete on gRPC's threads, and the
// protocol work runs on the shared StreamWorkers. Each stream has one "dirty" flag and at
// most one pending evaluation, so a change is latest-state-wins per stream; a stream
// whose client stopped reading keeps its write in flight and is simply not evaluated
// again until it drains, so it delays no other stream and holds no shared lock. A client
// that sends faster than its requests are applied is not read until they are (HTTP/2
// flow control holds the rest in its own buffers), so what a stream queues is bounded.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/server_metrics.h"
#include "src/xds/stream_admission.h"
#include "src/xds/stream_identity.h"
#include "src/xds/stream_workers.h"

namespace skewless::xds::internal {

// The protocol half of a stream: what a request changes and what to send next. Called
// by one worker at a time.
template <typename Request, typename Response>
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // Applies one request. A non-OK status ends the stream with it.
  virtual grpc::Status OnRequest(const Request& request) = 0;
  // The view to read resources for; empty until the first request named the node.
  virtual std::optional<ClientView> view() const = 0;
  // Appends the responses `snapshot` calls for, in make-before-break type order.
  virtual void Respond(const ResourceSnapshot& snapshot, std::vector<Response>* out) = 0;
  // What the handler holds for its client: subscriptions and what was sent, estimated
  // from the strings' sizes plus a per-entry overhead of the containers.
  virtual std::size_t EstimatedBytes() const = 0;
  virtual StreamIdentity& identity() = 0;
  // Whether the client subscribes to `type_url` (a wildcard or any name).
  virtual bool Subscribes(std::string_view type_url) const = 0;
};

// The units of the handlers' memory estimates beside the strings' bytes: a std::set or
// std::map node holding strings (tree node, string headers, malloc's bookkeeping), and a
// type's state with its map entry.
inline constexpr std::size_t kEntryBytes = 112;
inline constexpr std::size_t kTypeBytes = 512;

// Requests read but not yet applied, at most; past it (or past the request byte limit in
// all) the stream stops reading until they are applied.
inline constexpr std::size_t kMaxQueuedRequests = 16;
// A stream whose requests waiting or whose estimate pass these has heavy work (see
// StreamWorkers): a few hundred names apply in well under a millisecond.
inline constexpr std::size_t kHeavyQueuedBytes = 64u << 10;
inline constexpr std::size_t kHeavyStreamBytes = 1u << 20;

// A stream refused before it starts (too many streams open): finished at once.
template <typename Request, typename Response>
class RejectedStream final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RejectedStream(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

template <typename Request, typename Response>
class StreamReactor final : public grpc::ServerBidiReactor<Request, Response>,
                            public std::enable_shared_from_this<StreamReactor<Request, Response>> {
 public:
  using Handler = StreamHandler<Request, Response>;

  // gRPC owns the returned pointer until OnDone; the reactor keeps itself alive until
  // then (and until any queued work on it has run).
  // `admission` has admitted the stream (Open); the reactor reports its close.
  static StreamReactor* Start(ResourceCache& cache, StreamAdmission& admission,
                              StreamWorkers& workers, std::unique_ptr<Handler> handler) {
    auto reactor = std::shared_ptr<StreamReactor>(
        new StreamReactor(cache, admission, workers, std::move(handler)));
    reactor->self_ = reactor;
    std::weak_ptr<StreamReactor> weak = reactor;
    reactor->watcher_ = cache.AddWatcher([weak](ResourceCache::Change change) {
      auto alive = weak.lock();
      if (!alive) return;
      // Load publications come every second or so: streams without a ClusterLoad
      // subscription (Envoy, gRPC clients) are not even woken for them.
      if (change == ResourceCache::Change::kClusterLoads &&
          !alive->wants_cluster_loads_.load(std::memory_order_acquire)) {
        return;
      }
      alive->MarkDirty();
    });
    reactor->StartRead(&reactor->request_);
    return reactor.get();
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!ok) {  // the client closed its side (or the call is gone)
      reader_done_ = true;
      MaybeFinishLocked(grpc::Status::OK);
      return;
    }
    queued_bytes_ += request_.ByteSizeLong();
    requests_.push_back(std::move(request_));
    request_.Clear();
    if (!TakeRequestTokenLocked()) {
      // Over its request rate (a NACK loop): read on when the bucket has a token again.
      const double rate = static_cast<double>(admission_.limits().requests_per_second);
      workers_.PostAfter(
          std::chrono::microseconds(static_cast<long>((1 - request_tokens_) / rate * 1e6) + 1),
          [self = this->shared_from_this()] { self->ResumeAfterRate(); });
    } else {
      ContinueReadingLocked();
    }
    ScheduleLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    reader_done_ = true;
    MaybeFinishLocked(grpc::Status::CANCELLED);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) {
      reader_done_ = true;  // the client is gone; nothing more will be read or written
      MaybeFinishLocked(grpc::Status::CANCELLED);
      return;
    }
    outgoing_.pop_front();
    if (!outgoing_.empty()) {
      StartWriteLocked();
      return;
    }
    if (pushed_at_) {
      metrics_.push_latency.With({}).Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - *pushed_at_).count());
      pushed_at_.reset();
    }
    if (dirty_ || !requests_.empty()) ScheduleLocked();
    MaybeFinishLocked(final_status_);
  }

  ~StreamReactor() override {
    admission_.AddMemory(-static_cast<std::int64_t>(reported_bytes_));
    admission_.Closed();
  }

  void OnDone() override {
    cache_.RemoveWatcher(watcher_);
    std::lock_guard lock(mutex_);
    done_ = true;
    self_.reset();  // queued work may still hold the reactor; it ends with the last holder
  }

 private:
  StreamReactor(ResourceCache& cache, StreamAdmission& admission, StreamWorkers& workers,
                std::unique_ptr<Handler> handler)
      : cache_(cache),
        admission_(admission),
        metrics_(admission.metrics()),
        workers_(workers),
        handler_(std::move(handler)),
        request_tokens_(2.0 * static_cast<double>(admission.limits().requests_per_second)),
        tokens_at_(std::chrono::steady_clock::now()) {}

  // Reads the next request unless too many wait to be applied (then Evaluate resumes).
  void ContinueReadingLocked() {
    if (reader_done_ || finishing_ || done_) return;
    if (requests_.size() < kMaxQueuedRequests &&
        queued_bytes_ < admission_.limits().max_request_bytes) {
      this->StartRead(&request_);
    } else {
      read_paused_ = true;
    }
  }

  // A token bucket of requests_per_second, holding up to two seconds' worth: a client's
  // burst at start goes through, a loop is slowed to the rate by HTTP/2 flow control
  // (the stream is not read), costing the server nothing while it waits.
  bool TakeRequestTokenLocked() {
    const double rate = static_cast<double>(admission_.limits().requests_per_second);
    const auto now = std::chrono::steady_clock::now();
    request_tokens_ = std::min(
        2 * rate, request_tokens_ + rate * std::chrono::duration<double>(now - tokens_at_).count());
    tokens_at_ = now;
    if (request_tokens_ < 1) return false;
    request_tokens_ -= 1;
    return true;
  }

  void ResumeAfterRate() {
    std::lock_guard lock(mutex_);
    if (!TakeRequestTokenLocked()) {
      const double rate = static_cast<double>(admission_.limits().requests_per_second);
      workers_.PostAfter(
          std::chrono::microseconds(static_cast<long>((1 - request_tokens_) / rate * 1e6) + 1),
          [self = this->shared_from_this()] { self->ResumeAfterRate(); });
      return;
    }
    ContinueReadingLocked();
  }

  void MarkDirty() {
    std::lock_guard lock(mutex_);
    dirty_ = true;
    ScheduleLocked();
  }

  // At most one evaluation queued or running, and none while a write is in flight:
  // the evaluation after the write sees the newest state (latest wins).
  void ScheduleLocked() {
    if (scheduled_ || writing_ || finishing_ || done_) return;
    scheduled_ = true;
    workers_.Post([self = this->shared_from_this()] { self->Evaluate(); },
                  queued_bytes_ > kHeavyQueuedBytes || reported_bytes_ > kHeavyStreamBytes);
  }

  void Evaluate() {
    std::deque<Request> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(requests_);
      queued_bytes_ = 0;
      dirty_ = false;
      if (finishing_ || done_) {
        scheduled_ = false;
        return;
      }
      if (read_paused_ && !reader_done_) {
        read_paused_ = false;
        this->StartRead(&request_);
      }
    }
    grpc::Status status = grpc::Status::OK;
    for (const Request& request : batch) {
      status = handler_->OnRequest(request);
      if (!status.ok()) break;
    }
    batch.clear();
    // Before the snapshot is taken: a load publication after this point wakes the stream,
    // and one before it is in the snapshot.
    wants_cluster_loads_.store(handler_->Subscribes(kClusterLoadTypeUrl),
                               std::memory_order_release);
    std::vector<Response> out;
    std::shared_ptr<const ResourceSnapshot> snapshot;
    if (status.ok() && handler_->view()) {
      snapshot = cache_.Snapshot(*handler_->view());
      handler_->Respond(*snapshot, &out);
    }
    std::size_t out_bytes = 0;
    for (const Response& response : out) out_bytes += response.ByteSizeLong();
    std::lock_guard lock(mutex_);
    // The estimate: what the handler holds, plus the responses waiting to be written
    // (a client that stopped reading keeps them here).
    std::size_t estimate = handler_->EstimatedBytes() + out_bytes + queued_bytes_;
    for (const Response& response : outgoing_) estimate += response.GetCachedSize();
    admission_.AddMemory(static_cast<std::int64_t>(estimate) -
                         static_cast<std::int64_t>(reported_bytes_));
    reported_bytes_ = estimate;
    if (status.ok() && estimate > admission_.limits().max_stream_memory_bytes) {
      status = admission_.Reject(
          "stream_memory", handler_->identity().peer(), handler_->identity().stream_id(),
          absl::StrCat("the stream's estimated memory ", estimate, " bytes exceeds ",
                       admission_.limits().max_stream_memory_bytes,
                       " (--max-stream-memory-bytes)"));
    }
    scheduled_ = false;
    if (!status.ok()) {
      reader_done_ = true;
      final_status_ = status;
      MaybeFinishLocked(status);
      return;
    }
    // A push caused by a change (not the first answer to a request) is timed from the
    // moment the change reached the cache until its last response is written.
    if (!out.empty() && seen_generation_ != 0 && snapshot->generation != seen_generation_) {
      pushed_at_ = snapshot->updated_at;
    }
    if (snapshot) seen_generation_ = snapshot->generation;
    for (Response& response : out) outgoing_.push_back(std::move(response));
    if (!outgoing_.empty() && !writing_) {
      StartWriteLocked();
    } else if (dirty_ || !requests_.empty()) {
      ScheduleLocked();  // something arrived while we worked
    }
    MaybeFinishLocked(final_status_);
  }

  void StartWriteLocked() {
    writing_ = true;
    this->StartWrite(&outgoing_.front());
  }

  // Finishes once the client is done and nothing is in flight.
  void MaybeFinishLocked(const grpc::Status& status) {
    if (finishing_ || !reader_done_ || writing_ || scheduled_) return;
    finishing_ = true;
    this->Finish(status);
  }

  ResourceCache& cache_;
  StreamAdmission& admission_;
  XdsMetrics& metrics_;
  StreamWorkers& workers_;
  const std::unique_ptr<Handler> handler_;
  ResourceCache::WatcherId watcher_ = 0;
  std::shared_ptr<StreamReactor> self_;
  std::atomic<bool> wants_cluster_loads_{false};  // read by the cache's notifier

  std::mutex mutex_;  // guards everything below
  Request request_;   // the read in flight
  std::deque<Request> requests_;
  std::size_t queued_bytes_ = 0;  // of requests_
  bool read_paused_ = false;      // for the queue; Evaluate resumes
  double request_tokens_ = 0;
  std::chrono::steady_clock::time_point tokens_at_;
  std::size_t reported_bytes_ = 0;  // the estimate last added to the gauge
  std::deque<Response> outgoing_;   // front() is being written when writing_
  bool dirty_ = false;
  bool scheduled_ = false;
  bool writing_ = false;
  bool reader_done_ = false;
  bool finishing_ = false;
  bool done_ = false;
  grpc::Status final_status_ = grpc::Status::OK;
  std::uint64_t seen_generation_ = 0;
  std::optional<std::chrono::steady_clock::time_point> pushed_at_;
};

}  // namespace skewless::xds::internal
