// The threading of one ADS stream, shared by the SotW and delta protocols: a reader
// thread queues requests, the handler thread applies them and writes responses for the
// newest cache generation. A change while a write blocks only marks the stream dirty
// (latest state wins), so a stuck client holds no lock and delays no other stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/server_metrics.h"

namespace skewless::xds::internal {

// The protocol half of a stream: what a request changes and what to send next.
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
};

template <typename Request, typename Response>
grpc::Status RunStream(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<Response, Request>* stream, ResourceCache& cache,
                       XdsMetrics& metrics, StreamHandler<Request, Response>& handler) {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Request> requests;
  bool reader_done = false;
  bool dirty = false;

  const ResourceCache::WatcherId watcher = cache.AddWatcher([&] {
    std::lock_guard lock(mutex);
    dirty = true;
    wake.notify_one();
  });
  std::thread reader([&] {
    Request request;
    while (stream->Read(&request)) {
      std::lock_guard lock(mutex);
      requests.push_back(std::move(request));
      wake.notify_one();
    }
    std::lock_guard lock(mutex);
    reader_done = true;
    wake.notify_one();
  });

  grpc::Status status = grpc::Status::OK;
  std::uint64_t seen_generation = 0;
  std::vector<Response> out;
  while (true) {
    std::deque<Request> batch;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return !requests.empty() || dirty || reader_done; });
      if (requests.empty() && reader_done) break;
      batch.swap(requests);
      dirty = false;
    }
    for (const Request& request : batch) {
      status = handler.OnRequest(request);
      if (!status.ok()) break;
    }
    if (!status.ok()) break;
    const std::optional<ClientView> view = handler.view();
    if (!view) continue;
    std::shared_ptr<const ResourceSnapshot> snapshot = cache.Snapshot(*view);
    out.clear();
    handler.Respond(*snapshot, &out);
    bool written = true;
    for (const Response& response : out) {
      if (!stream->Write(response)) {
        written = false;
        break;
      }
    }
    if (!written) break;  // the client is gone; the reader sees it too
    // A push caused by a change (not the first answer to a request) is timed from the
    // moment the change reached the cache.
    if (!out.empty() && seen_generation != 0 && snapshot->generation != seen_generation) {
      metrics.push_latency.With({}).Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - snapshot->updated_at)
              .count());
    }
    seen_generation = snapshot->generation;
  }

  cache.RemoveWatcher(watcher);
  context->TryCancel();  // unblocks the reader's Read
  reader.join();
  return status;
}

}  // namespace skewless::xds::internal
