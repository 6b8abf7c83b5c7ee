// Turns the aggregated LRS load into ClusterLoad resources in the xDS cache at most once
// per publish interval, so agents' streams change at a bounded rate however often
// reporters report.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>

#include "lrs_metrics.h"
#include "skewless/controlplane/load_aggregator.h"
#include "skewless/xds/cache.h"

namespace skewless::controlplane {

class LoadPublisher {
 public:
  LoadPublisher(LoadAggregator& aggregator, xds::ResourceCache& cache, LrsMetrics& metrics,
                std::chrono::milliseconds interval);
  ~LoadPublisher();  // stops the thread

  // One round: forget silent reporters, publish the sums. The thread calls it every
  // interval; tests may call it directly.
  void PublishOnce();

 private:
  void Run();

  LoadAggregator& aggregator_;
  xds::ResourceCache& cache_;
  LrsMetrics& metrics_;
  const std::chrono::milliseconds interval_;
  std::optional<std::uint64_t> published_changes_;  // the aggregator's, at the last round
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace skewless::controlplane
