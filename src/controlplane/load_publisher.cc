// The publishing loop: expire, sum, hand the changed ClusterLoads to the cache.
#include "load_publisher.h"

namespace skewless::controlplane {

LoadPublisher::LoadPublisher(LoadAggregator& aggregator, xds::ResourceCache& cache,
                             LrsMetrics& metrics, std::chrono::milliseconds interval)
    : aggregator_(aggregator),
      cache_(cache),
      metrics_(metrics),
      interval_(interval),
      thread_([this] { Run(); }) {}

LoadPublisher::~LoadPublisher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LoadPublisher::PublishOnce() {
  metrics_.expired.With({}).Increment(aggregator_.Expire(LoadAggregator::Clock::now()));
  metrics_.reporters.With({}).Set(static_cast<double>(aggregator_.reporters()));
  // Summing walks every reporter's every entry: not when nothing happened since. A
  // Cluster's removal needs no round either (the cache drops its ClusterLoad itself).
  const std::uint64_t changes = aggregator_.changes();
  if (published_changes_ && *published_changes_ == changes) return;
  metrics_.publishes.With({}).Increment(cache_.UpdateClusterLoads(aggregator_.Sums()));
  published_changes_ = changes;
}

void LoadPublisher::Run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    PublishOnce();
    lock.lock();
  }
}

}  // namespace skewless::controlplane
