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
                                  {"type"})) {
  push_latency.With({});  // exported (empty) before the first push
}

std::string TypeLabel(std::string_view type_url) {
  const std::size_t dot = type_url.rfind('.');
  return std::string(dot == std::string_view::npos ? type_url : type_url.substr(dot + 1));
}

}  // namespace skewless::xds
