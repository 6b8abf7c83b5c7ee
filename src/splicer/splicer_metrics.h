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

// Why a client connection was closed without being served.
enum class UnroutedReason : std::uint8_t {
  kNoOrigin,        // not redirected by the data path, and no --backend to fall back on
  kUnknownService,  // redirected, but its Service is no longer in the maps
  kMapError,        // reading the maps failed
};
inline constexpr std::size_t kUnroutedReasons = 3;

class SplicerMetrics {
 public:
  explicit SplicerMetrics(prometheus::Registry& registry);

  struct Backend {
    std::array<prometheus::Counter*, kOutcomes> streams{};  // by outcome
    prometheus::Gauge* outstanding = nullptr;
    prometheus::Gauge* connections = nullptr;
  };

  prometheus::Gauge& client_connections() { return *client_connections_; }
  prometheus::Counter& reroutes() { return *reroutes_; }
  prometheus::Gauge& buffered_bytes() { return *buffered_bytes_; }
  prometheus::Counter& passthroughs() { return *passthroughs_; }
  prometheus::Counter& unrouted(UnroutedReason reason) {
    return *unrouted_[static_cast<std::size_t>(reason)];
  }
  // The series of one backend address (created on first use; takes the registry's lock, so
  // resolve it once per backend, not per stream).
  Backend ForBackend(const std::string& address);

 private:
  prometheus::Gauge* client_connections_;
  prometheus::Counter* reroutes_;
  prometheus::Gauge* buffered_bytes_;
  prometheus::Counter* passthroughs_;
  prometheus::Family<prometheus::Counter>* streams_;
  prometheus::Family<prometheus::Gauge>* outstanding_;
  prometheus::Family<prometheus::Gauge>* connections_;
  std::array<prometheus::Counter*, kUnroutedReasons> unrouted_{};
};

}  // namespace skewless::splicer
