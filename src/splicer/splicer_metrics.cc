// Registers the splicer's metric families (names in docs/splicer.md).
#include "splicer_metrics.h"

namespace skewless::splicer {
namespace {

const char* OutcomeLabel(balance::StreamOutcome outcome) {
  switch (outcome) {
    case balance::StreamOutcome::kSuccess:
      return "success";
    case balance::StreamOutcome::kCancelled:
      return "cancelled";
    case balance::StreamOutcome::kConnectFailure:
      return "connect_failure";
    case balance::StreamOutcome::kStreamReset:
      return "stream_reset";
    case balance::StreamOutcome::kUnavailable:
      return "unavailable";
    case balance::StreamOutcome::kServerError:
      return "server_error";
  }
  return "unknown";
}

}  // namespace

SplicerMetrics::SplicerMetrics(prometheus::Registry& registry) {
  client_connections_ =
      &registry.AddGauge("skewless_splicer_client_connections", "Client connections open.")
           .With({});
  reroutes_ = &registry
                   .AddCounter("skewless_splicer_stream_reroutes_total",
                               "Streams sent to another backend because theirs could not be "
                               "reached (nothing had been sent).")
                   .With({});
  buffered_bytes_ = &registry
                         .AddGauge("skewless_splicer_buffered_bytes",
                                   "Request and response bytes held between a client and a "
                                   "backend (bounded by the flow-control windows).")
                         .With({});
  passthroughs_ = &registry
                       .AddCounter("skewless_splicer_passthrough_connections_total",
                                   "Client connections that were not HTTP/2 prior knowledge "
                                   "(HTTP/1.1, TLS), relayed to a backend as bytes.")
                       .With({});
  auto& unrouted = registry.AddCounter(
      "skewless_splicer_unrouted_connections_total",
      "Client connections closed unserved, by reason: no_origin (not redirected by the data "
      "path and no --backend given), unknown_service (its Service left the maps), map_error.",
      {"reason"});
  unrouted_[static_cast<std::size_t>(UnroutedReason::kNoOrigin)] = &unrouted.With({"no_origin"});
  unrouted_[static_cast<std::size_t>(UnroutedReason::kUnknownService)] =
      &unrouted.With({"unknown_service"});
  unrouted_[static_cast<std::size_t>(UnroutedReason::kMapError)] = &unrouted.With({"map_error"});
  streams_ = &registry.AddCounter(
      "skewless_splicer_streams_total",
      "Streams finished, per backend and outcome (success, cancelled, connect_failure, "
      "stream_reset, unavailable, server_error).",
      {"backend", "outcome"});
  outstanding_ = &registry.AddGauge("skewless_splicer_backend_outstanding_streams",
                                    "Streams in flight on each backend.", {"backend"});
  connections_ = &registry.AddGauge("skewless_splicer_backend_connections",
                                    "HTTP/2 connections open to each backend.", {"backend"});
}

SplicerMetrics::Backend SplicerMetrics::ForBackend(const std::string& address) {
  Backend backend;
  for (std::size_t i = 0; i < kOutcomes; ++i) {
    backend.streams[i] =
        &streams_->With({address, OutcomeLabel(static_cast<balance::StreamOutcome>(i))});
  }
  backend.outstanding = &outstanding_->With({address});
  backend.connections = &connections_->With({address});
  return backend;
}

}  // namespace skewless::splicer
