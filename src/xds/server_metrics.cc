// Registration of the xDS server's metrics.
#include "skewless/xds/server_metrics.h"

namespace skewless::xds {

XdsMetrics::XdsMetrics(prometheus::Registry& registry)
    : streams(registry.AddGauge("skewless_xds_streams",
                                "ADS streams connected, by protocol (sotw, delta) and audience "
                                "(agent for agents and Envoy, grpc for proxyless gRPC clients).",
                                {"protocol", "audience"})),
      requests(registry.AddCounter("skewless_xds_requests_total",
                                   "Discovery requests received (ACKs, NACKs, subscriptions).",
                                   {"type"})),
      pushes(
          registry.AddCounter("skewless_xds_pushes_total", "Discovery responses sent.", {"type"})),
      nacks(registry.AddCounter("skewless_xds_nacks_total",
                                "Responses a client rejected (requests with error_detail).",
                                {"type"})),
      push_latency(registry.AddHistogram(
          "skewless_xds_push_latency_seconds",
          "From a change reaching the resource cache to its response being written to a stream.",
          prometheus::LatencyBucketsSeconds())),
      resources(registry.AddGauge("skewless_xds_resources",
                                  "Resources served, by type (gRPC listeners: one per target).",
                                  {"type"})),
      streams_opened(registry.AddCounter(
          "skewless_xds_streams_opened_total",
          "ADS streams opened, by protocol, including those closed at once over a limit.",
          {"protocol"})),
      rejections(registry.AddCounter(
          "skewless_xds_stream_rejections_total",
          "ADS streams closed with RESOURCE_EXHAUSTED, by the limit they exceeded: streams, "
          "streams_per_peer, names_per_stream, stream_memory.",
          {"reason"})),
      stream_memory(registry.AddGauge(
          "skewless_xds_stream_memory_bytes",
          "Estimated memory held for open ADS streams (subscriptions, what each client was "
          "sent, requests and responses queued): the sum of the per-stream estimates that "
          "--max-stream-memory-bytes limits.")),
      log_lines_suppressed(registry.AddCounter(
          "skewless_xds_log_lines_suppressed_total",
          "Log lines left out by the per-peer, per-kind rate limit (the events are still "
          "counted by their own metrics).",
          {"kind"})) {
  push_latency.With({});  // exported (empty) before the first push
}

std::string TypeLabel(std::string_view type_url) {
  const std::size_t dot = type_url.rfind('.');
  return std::string(dot == std::string_view::npos ? type_url : type_url.substr(dot + 1));
}

}  // namespace skewless::xds
