// Registration of the load reporting metrics.
#include "lrs_metrics.h"

namespace skewless::controlplane {

LrsMetrics::LrsMetrics(prometheus::Registry& registry)
    : streams(registry.AddGauge("skewless_controlplane_lrs_streams",
                                "LRS (load report) streams open.")),
      rejections(registry.AddCounter(
          "skewless_controlplane_lrs_rejections_total",
          "LRS streams ended with RESOURCE_EXHAUSTED, by the bound they exceeded: streams "
          "(--lrs-max-streams), reporters (--lrs-max-reporters), endpoints_per_report "
          "(--lrs-max-endpoints-per-report).",
          {"reason"})),
      reports(registry.AddCounter("skewless_controlplane_lrs_reports_total",
                                  "Load reports accepted (each replaces its reporter's last).")),
      dropped_endpoints(registry.AddCounter(
          "skewless_controlplane_lrs_dropped_endpoints_total",
          "Endpoint entries of load reports attributed to nothing, by reason: unknown_cluster "
          "(a cluster not served, or not the reporter's to see), unknown_endpoint (not among "
          "its cluster's current endpoints), invalid_address (no IP socket address).",
          {"reason"})),
      clamped(registry.AddCounter(
          "skewless_controlplane_lrs_clamped_total",
          "Per-endpoint values of one reporter cut to --lrs-max-per-endpoint.")),
      locality_only(registry.AddCounter(
          "skewless_controlplane_lrs_locality_only_total",
          "Locality stats without endpoint stats (proxyless gRPC's reports): accepted, "
          "attributed to no endpoint.")),
      reporters(registry.AddGauge("skewless_controlplane_lrs_reporters",
                                  "Reporters whose latest report counts (not expired).")),
      expired(registry.AddCounter(
          "skewless_controlplane_lrs_expired_reporters_total",
          "Reporters forgotten after --lrs-expiry without a report (streams that ended are "
          "forgotten at once and not counted here).")),
      publishes(registry.AddCounter(
          "skewless_controlplane_cluster_load_publishes_total",
          "ClusterLoad resources published with a new version (added, changed or removed).")),
      issued_requests(registry.AddCounter(
          "skewless_controlplane_lrs_issued_requests_total",
          "Requests that request reporters (splicers, Envoy, proxyless gRPC; not agents) say "
          "they sent to the cluster's known endpoints, summed from their reports' deltas.",
          {"cluster"})),
      completed_requests(registry.AddCounter(
          "skewless_controlplane_lrs_completed_requests_total",
          "Requests that request reporters say completed at the cluster's known endpoints, by "
          "result: success (total_successful_requests) or error (total_error_requests).",
          {"cluster", "result"})) {
  // Exported from the start, so rate() and alerts see the series before any event.
  streams.With({});
  reports.With({});
  clamped.With({});
  locality_only.With({});
  reporters.With({});
  expired.With({});
  publishes.With({});
  for (const char* reason : {"streams", "reporters", "endpoints_per_report"}) {
    rejections.With({reason});
  }
  for (const char* reason : {"unknown_cluster", "unknown_endpoint", "invalid_address"}) {
    dropped_endpoints.With({reason});
  }
}

}  // namespace skewless::controlplane
