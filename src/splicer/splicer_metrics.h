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

// Why a stream was answered by the splicer instead of a backend.
enum class RejectReason : std::uint8_t {
  kHeadersTooLarge,  // over the limit advertised to clients, or over a pod's own
  kAfterGoaway,      // opened past this side's GOAWAY (refused, for the client to retry)
};
inline constexpr std::size_t kRejectReasons = 2;

// Which buffer budget was enforced: a connection's (its largest stream reset) or a worker's
// (its costliest connection closed).
enum class BudgetScope : std::uint8_t { kConnection, kWorker };
inline constexpr std::size_t kBudgetScopes = 2;

enum class TimeoutKind : std::uint8_t {
  kPreface,     // no HTTP/2 client preface after accept
  kIdle,        // a connection with no stream, or a relay moving no byte
  kStreamIdle,  // a stream with no frame either way
  kMaxAge,      // a connection's maximum age (GOAWAY)
  kHalfClose,   // a relay one side of which finished long ago
};
inline constexpr std::size_t kTimeoutKinds = 5;

class SplicerMetrics {
 public:
  explicit SplicerMetrics(prometheus::Registry& registry);

  struct Backend {
    std::array<prometheus::Counter*, kOutcomes> streams{};  // by outcome
    prometheus::Gauge* outstanding = nullptr;
    prometheus::Gauge* connections = nullptr;
    prometheus::Gauge* ejected = nullptr;      // workers whose balancer ejects it now
    prometheus::Counter* ejections = nullptr;  // times a worker ejected it
  };

  prometheus::Gauge& client_connections() { return *client_connections_; }
  prometheus::Counter& reroutes() { return *reroutes_; }
  prometheus::Gauge& buffered_bytes() { return *buffered_bytes_; }
  prometheus::Counter& passthroughs() { return *passthroughs_; }
  prometheus::Counter& unrouted(UnroutedReason reason) {
    return *unrouted_[static_cast<std::size_t>(reason)];
  }
  prometheus::Counter& rejected_streams(RejectReason reason) {
    return *rejected_streams_[static_cast<std::size_t>(reason)];
  }
  prometheus::Counter& budget_resets(BudgetScope scope) {
    return *budget_resets_[static_cast<std::size_t>(scope)];
  }
  prometheus::Counter& timeouts(TimeoutKind kind) {
    return *timeouts_[static_cast<std::size_t>(kind)];
  }
  prometheus::Counter& rejected_connections() { return *rejected_connections_; }
  // The configured limits, exported so a dashboard can show use against them.
  void SetLimits(const SplicerLimits& limits, int workers);
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
  std::array<prometheus::Counter*, kRejectReasons> rejected_streams_{};
  std::array<prometheus::Counter*, kBudgetScopes> budget_resets_{};
  std::array<prometheus::Counter*, kTimeoutKinds> timeouts_{};
  prometheus::Counter* rejected_connections_;
  prometheus::Family<prometheus::Gauge>* limits_;
  prometheus::Family<prometheus::Gauge>* ejected_;
  prometheus::Family<prometheus::Counter>* ejections_;
};

}  // namespace skewless::splicer
