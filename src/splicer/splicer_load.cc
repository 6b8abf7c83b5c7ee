// The splicer's per-endpoint stream counts and their samples for LRS.
#include "splicer_load.h"

namespace skewless::splicer {

void EndpointCounters::End(balance::StreamOutcome outcome) {
  in_progress.fetch_sub(1, std::memory_order_relaxed);
  if (outcome == balance::StreamOutcome::kSuccess) {
    successful.fetch_add(1, std::memory_order_relaxed);
  } else if (balance::IsFailure(outcome)) {
    errors.fetch_add(1, std::memory_order_relaxed);
  }
}

std::shared_ptr<EndpointCounters> SplicerLoad::For(const std::string& cluster,
                                                   const std::string& ip, std::uint16_t port,
                                                   const std::string& zone) {
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[loadreport::EndpointKey{.cluster = cluster, .address = ip, .port = port}];
  if (entry.counters == nullptr) {
    entry.id = next_id_++;
    entry.counters = std::make_shared<EndpointCounters>();
  }
  entry.zone = zone;
  return entry.counters;
}

std::vector<loadreport::EndpointLoadSample> SplicerLoad::SampleLoads() {
  std::lock_guard lock(mutex_);
  std::vector<loadreport::EndpointLoadSample> samples;
  samples.reserve(entries_.size());
  for (auto it = entries_.begin(); it != entries_.end();) {
    const EndpointCounters& counters = *it->second.counters;
    samples.push_back(
        {.endpoint = {.key = it->first, .zone = it->second.zone, .backend_id = it->second.id},
         .in_progress = counters.in_progress.load(std::memory_order_relaxed),
         .issued_total = counters.issued.load(std::memory_order_relaxed),
         .successful_total = counters.successful.load(std::memory_order_relaxed),
         .error_total = counters.errors.load(std::memory_order_relaxed)});
    // Held by the ledger alone: no worker lists it or has a stream on it; what it counted
    // is in this sample.
    if (it->second.counters.use_count() == 1) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return samples;
}

std::size_t SplicerLoad::endpoints() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace skewless::splicer
