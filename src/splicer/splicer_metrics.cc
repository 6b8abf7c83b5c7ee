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
                                   "Request and response bytes, decoded headers and replay "
                                   "copies held for clients (bounded by the buffer budgets).")
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
  ejected_ = &registry.AddGauge(
      "skewless_splicer_backend_ejected",
      "Workers whose balancer has ejected the backend now (errors it caused; 0 = in use).",
      {"backend"});
  ejections_ = &registry.AddCounter("skewless_splicer_backend_ejections_total",
                                    "Times a worker's balancer ejected the backend.", {"backend"});
  auto& rejected = registry.AddCounter(
      "skewless_splicer_rejected_streams_total",
      "Streams the splicer answered itself instead of a backend, by reason: headers_too_large "
      "(over the limit it advertises, or over a pod's own: gRPC RESOURCE_EXHAUSTED or 431), "
      "after_goaway (opened past its GOAWAY: REFUSED_STREAM).",
      {"reason"});
  rejected_streams_[static_cast<std::size_t>(RejectReason::kHeadersTooLarge)] =
      &rejected.With({"headers_too_large"});
  rejected_streams_[static_cast<std::size_t>(RejectReason::kAfterGoaway)] =
      &rejected.With({"after_goaway"});
  auto& budget = registry.AddCounter(
      "skewless_splicer_budget_resets_total",
      "Buffer budgets enforced: scope connection counts streams reset (RST_STREAM "
      "ENHANCE_YOUR_CALM) because their connection held too much; scope worker counts "
      "connections closed (GOAWAY ENHANCE_YOUR_CALM) because their worker did.",
      {"scope"});
  budget_resets_[static_cast<std::size_t>(BudgetScope::kConnection)] = &budget.With({"connection"});
  budget_resets_[static_cast<std::size_t>(BudgetScope::kWorker)] = &budget.With({"worker"});
  auto& timeouts = registry.AddCounter(
      "skewless_splicer_timeouts_total",
      "Connections and streams ended by a timeout: preface, idle, stream_idle, max_age, "
      "half_close.",
      {"kind"});
  const char* kinds[kTimeoutKinds] = {"preface", "idle", "stream_idle", "max_age", "half_close"};
  for (std::size_t i = 0; i < kTimeoutKinds; ++i) timeouts_[i] = &timeouts.With({kinds[i]});
  rejected_connections_ =
      &registry
           .AddCounter("skewless_splicer_rejected_connections_total",
                       "Client connections closed at accept: the worker already had "
                       "--max-connections-per-worker.")
           .With({});
  limits_ = &registry.AddGauge(
      "skewless_splicer_buffer_limit_bytes",
      "Configured buffer bounds: scope stream (per stream and direction), connection, worker, "
      "process (worker x workers).",
      {"scope"});
}

void SplicerMetrics::SetLimits(const SplicerLimits& limits, int workers) {
  limits_->With({"stream"}).Set(limits.stream_window_bytes);
  limits_->With({"connection"}).Set(static_cast<double>(limits.connection_buffer_bytes));
  limits_->With({"worker"}).Set(static_cast<double>(limits.worker_buffer_bytes));
  limits_->With({"process"}).Set(static_cast<double>(limits.worker_buffer_bytes) * workers);
}

SplicerMetrics::Backend SplicerMetrics::ForBackend(const std::string& address) {
  Backend backend;
  for (std::size_t i = 0; i < kOutcomes; ++i) {
    backend.streams[i] =
        &streams_->With({address, OutcomeLabel(static_cast<balance::StreamOutcome>(i))});
  }
  backend.outstanding = &outstanding_->With({address});
  backend.connections = &connections_->With({address});
  backend.ejected = &ejected_->With({address});
  backend.ejections = &ejections_->With({address});
  return backend;
}

}  // namespace skewless::splicer
