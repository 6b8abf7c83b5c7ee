// Cluster-wide load from LRS reports: each reporter's latest report per cluster and
// endpoint, checked against what the control plane serves, bounded, expired when silent,
// and summed per endpoint for publishing (docs/controlplane.md "Load reports (LRS)").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "envoy/service/load_stats/v3/lrs.pb.h"
#include "skewless/load/v1/cluster_load.pb.h"

namespace skewless::controlplane {

// What a reporter's per-endpoint total_requests_in_progress counts. A skewless agent's
// unit of work is the connection (it reports each open one as a request in progress);
// every other reporter (splicer, Envoy, proxyless gRPC) reports requests.
enum class ReporterKind { kConnections, kRequests };

// The user agent skewless agents put in their Node.
inline constexpr std::string_view kAgentUserAgent = "skewless-agent";

// An endpoint as EDS names it: canonical IP text and port.
using EndpointKey = std::pair<std::string, std::uint32_t>;

// The clusters the control plane serves and their endpoints (every address of each,
// canonical): a report may only name these.
using LoadCatalog = std::map<std::string, std::set<EndpointKey>, std::less<>>;

struct LoadAggregatorLimits {
  // A reporter silent this long no longer counts (its values are "in progress now").
  std::chrono::milliseconds expiry{6000};
  // One reporter's connections or requests for one endpoint count at most this much, so
  // a single reporter cannot make a pod look arbitrarily busy.
  std::uint64_t max_per_endpoint = 4096;
  // Reporters tracked at once; a new one beyond it is refused.
  std::size_t max_reporters = 10000;
  // Endpoint entries one report may carry; a larger report is refused whole.
  std::size_t max_endpoints_per_report = 10000;
};

// A refused report's message starts with the bound it exceeded and a colon.
inline constexpr std::string_view kLimitReporters = "reporters";
inline constexpr std::string_view kLimitEndpointsPerReport = "endpoints_per_report";

// Requests a reporter says it sent one cluster's endpoints since its previous report (LRS's
// deltas), summed over the endpoints it may name.
struct RequestCounts {
  std::uint64_t issued = 0;
  std::uint64_t successful = 0;
  std::uint64_t errors = 0;
  friend bool operator==(const RequestCounts&, const RequestCounts&) = default;
};

// What became of one report, for metrics and logs.
struct ReportOutcome {
  std::size_t endpoints = 0;         // endpoint entries attributed
  std::size_t unknown_cluster = 0;   // endpoint entries of clusters not served
  std::size_t unknown_endpoint = 0;  // endpoints not in their cluster's current endpoints
  std::size_t invalid_address = 0;   // no socket address, or not an IP literal
  std::size_t clamped = 0;           // values cut to max_per_endpoint
  std::size_t locality_only = 0;     // localities without endpoint stats (gRPC's reports)
  // Per cluster, from requests reporters only (an agent's "requests" are connections):
  // counted, not summed into the published load.
  std::map<std::string, RequestCounts, std::less<>> requests;
};

// Thread-safe. Reporters are keyed by stream: a node with two streams is two reporters,
// and a stream that ends takes its report with it at once.
class LoadAggregator {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LoadAggregator(LoadAggregatorLimits limits) : limits_(limits) {}

  // Replaces the clusters and endpoints reports are checked against. Reports already
  // held are checked again at the next Sums (an endpoint gone is no longer summed).
  void SetCatalog(LoadCatalog catalog);

  // Replaces the stream's previous report. `kind` and `node_id` are the stream's (from its
  // first request). `allowed` says whether the caller may report on a cluster (its reader
  // scope); a cluster it may not see is dropped as unknown. Fails, keeping the previous
  // report, when the report has more than max_endpoints_per_report endpoint entries or a
  // new reporter would exceed max_reporters (RESOURCE_EXHAUSTED, naming the limit).
  absl::StatusOr<ReportOutcome> Report(
      std::uint64_t stream_id, std::string_view node_id, ReporterKind kind,
      const envoy::service::load_stats::v3::LoadStatsRequest& request, Clock::time_point now,
      const std::function<bool(std::string_view cluster)>& allowed = {});

  // The stream ended: its report stops counting now.
  void Remove(std::uint64_t stream_id);

  // Forgets reporters silent for longer than the expiry; returns how many.
  std::size_t Expire(Clock::time_point now);

  // Per cluster with any load, the sum over reporters: connections from kConnections
  // reporters, requests from the others, and how many reporters name each endpoint.
  // Endpoints sorted by address and port, clusters and endpoints no longer in the
  // catalog left out.
  std::map<std::string, skewless::load::v1::ClusterLoad> Sums() const;

  std::size_t reporters() const;
  const LoadAggregatorLimits& limits() const { return limits_; }

  // Counts changes that can move the sums (reports with other values than the reporter's
  // previous one, removals, expiries, catalogs): equal values mean equal Sums, so a
  // publisher can skip summing when nothing happened.
  std::uint64_t changes() const;

 private:
  struct Reporter {
    std::string node_id;
    ReporterKind kind = ReporterKind::kRequests;
    Clock::time_point last_report;
    // cluster → endpoint → clamped value
    std::map<std::string, std::map<EndpointKey, std::uint64_t>, std::less<>> load;
  };
  const LoadAggregatorLimits limits_;
  mutable std::mutex mutex_;
  LoadCatalog catalog_;
  std::map<std::uint64_t, Reporter> reporters_;
  std::uint64_t changes_ = 0;
};

}  // namespace skewless::controlplane
