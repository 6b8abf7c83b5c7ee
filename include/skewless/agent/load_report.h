// The agent's LRS load reports: what this node's data path counts per backend, as the
// envoy.service.load_stats.v3 messages the control plane sums across nodes.
//
// An L4 data plane's unit of work is the connection, so a report's "requests" are
// connections: total_requests_in_progress is the backend's open connections from this
// node (skw_backend_load.active_conns), total_issued_requests the connections opened to
// it since the previous report (the growth of total_conns).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "envoy/service/load_stats/v3/lrs.pb.h"

namespace skewless::agent {

// One programmed endpoint of one steered cluster, as a report and a ClusterLoad name it.
struct EndpointKey {
  std::string cluster;
  std::string address;  // canonical IP text
  std::uint16_t port = 0;

  friend auto operator<=>(const EndpointKey&, const EndpointKey&) = default;
};

// A steered endpoint with the backend id the agent gave it in the maps.
struct SteeredEndpoint {
  EndpointKey key;
  std::string zone;  // the endpoint's zone ("" = unknown)
  std::uint32_t backend_id = 0;
};

// A steered endpoint with its counters read from skw_backend_loads.
struct EndpointLoadSample {
  SteeredEndpoint endpoint;
  std::uint64_t active_conns = 0;
  std::uint64_t total_conns = 0;
};

// Which clusters the server asked about (LoadStatsResponse.clusters / send_all_clusters).
struct ReportScope {
  bool all_clusters = false;
  std::set<std::string> clusters;

  bool Includes(const std::string& cluster) const {
    return all_clusters || clusters.contains(cluster);
  }
};

// This node's own open connections, as the last report sent them: the share to take off
// the cluster-wide sum that includes it. Kept per backend id (one counter, whatever
// clusters list the backend) with the clusters the report covered, not per endpoint
// key: ~50 bytes an endpoint instead of ~150, on every node.
struct ReportedShares {
  std::set<std::string> clusters;
  std::map<std::uint32_t, std::uint64_t> active_conns;  // backend id → open connections

  // What the report said about `backend_id` in `cluster` (0 when it did not cover it).
  std::uint64_t Of(const std::string& cluster, std::uint32_t backend_id) const {
    if (!clusters.contains(cluster)) return 0;
    auto it = active_conns.find(backend_id);
    return it == active_conns.end() ? 0 : it->second;
  }
  friend bool operator==(const ReportedShares&, const ReportedShares&) = default;
};

// Builds successive reports; keeps each endpoint's total_conns between them for the
// deltas. Not thread-safe (one per LRS stream owner).
class LoadReportBuilder {
 public:
  // The ClusterStats of one report (no node: only a stream's first request carries it).
  // `since_last` is the time the report covers. `shares` receives what it says about
  // each endpoint's open connections.
  envoy::service::load_stats::v3::LoadStatsRequest Build(
      const std::vector<EndpointLoadSample>& samples, const ReportScope& scope,
      std::chrono::nanoseconds since_last, ReportedShares* shares);

 private:
  // The total_conns each backend had at the previous report. A backend seen for the
  // first time counts no issued connections: its counter may predate this agent (an
  // adopted data path) and would report hours of connections as one interval's.
  std::map<std::uint32_t, std::uint64_t> last_total_conns_;
};

}  // namespace skewless::agent
