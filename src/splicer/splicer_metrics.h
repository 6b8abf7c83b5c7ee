// The splicer's Prometheus metrics. Every series a worker touches on the request path is
// resolved once, when the worker starts: the path itself only does relaxed atomic adds.
#pragma once

#include <array>
#include <vector>

#include "skewless/balance/stream_outcome.h"
#include "skewless/common/prometheus.h"
#include "skewless/splicer/splicer.h"

namespace skewless::splicer {

inline constexpr std::size_t kOutcomes = 6;  // balance::StreamOutcome's values

class SplicerMetrics {
 public:
  SplicerMetrics(prometheus::Registry& registry, const std::vector<SplicerBackend>& backends);

  struct Backend {
    std::array<prometheus::Counter*, kOutcomes> streams{};  // by outcome
    prometheus::Gauge* outstanding = nullptr;
    prometheus::Gauge* connections = nullptr;
  };

  prometheus::Gauge& client_connections() { return *client_connections_; }
  prometheus::Counter& reroutes() { return *reroutes_; }
  prometheus::Gauge& buffered_bytes() { return *buffered_bytes_; }
  prometheus::Counter& passthroughs() { return *passthroughs_; }
  Backend& backend(std::size_t index) { return backends_[index]; }

 private:
  prometheus::Gauge* client_connections_;
  prometheus::Counter* reroutes_;
  prometheus::Gauge* buffered_bytes_;
  prometheus::Counter* passthroughs_;
  std::vector<Backend> backends_;
};

}  // namespace skewless::splicer
