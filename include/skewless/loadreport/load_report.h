// LRS load reports: what one data plane counts per endpoint, as the
// envoy.service.load_stats.v3 messages the control plane sums across reporters.
//
// Two kinds of reporter share this builder. An L4 data plane's (the agent's) unit of work
// is the connection: total_requests_in_progress is a backend's open connections from the
// node, total_issued_requests the connections opened since the previous report, and the
// same figures go into the locality's connection fields. The splicer's unit is the
// request (an HTTP/2 stream): in progress = outstanding streams, and issued, successful
// and error requests are counted since the previous report (LRS's delta semantics).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "envoy/service/load_stats/v3/lrs.pb.h"

namespace skewless::loadreport {

// One endpoint of one cluster, as a report and a ClusterLoad name it.
struct EndpointKey {
  std::string cluster;  // the cluster name the control plane serves, "namespace/service:port"
  std::string address;  // canonical IP text
  std::uint16_t port = 0;

  friend auto operator<=>(const EndpointKey&, const EndpointKey&) = default;
};

// A reported endpoint with the id of the counters behind it: the agent's backend id in its
// maps (one counter, whatever clusters list the backend), or the reporter's own number.
struct SteeredEndpoint {
  EndpointKey key;
  std::string zone;  // the endpoint's zone ("" = unknown)
  std::uint32_t backend_id = 0;
};

// An endpoint with its counters now. The totals only grow (a total that went backwards
// belongs to a new owner of the id: all of it counts as new).
struct EndpointLoadSample {
  SteeredEndpoint endpoint;
  std::uint64_t in_progress = 0;       // open connections / outstanding requests now
  std::uint64_t issued_total = 0;      // connections opened / requests sent, ever
  std::uint64_t successful_total = 0;  // requests completed successfully, ever (requests only)
  std::uint64_t error_total = 0;       // requests that failed at the endpoint, ever
};

enum class LoadUnit { kConnections, kRequests };

struct ReportOptions {
  LoadUnit unit = LoadUnit::kConnections;
  // Whether the counters were zero when this reporter started. The agent's are not (they
  // may predate it: an adopted data path), so an id seen for the first time is a base and
  // counts nothing; the splicer's are its own, so a new endpoint's first requests count.
  bool counters_start_at_zero = false;
};

// Which clusters the server asked about (LoadStatsResponse.clusters / send_all_clusters).
struct ReportScope {
  bool all_clusters = false;
  std::set<std::string> clusters;

  bool Includes(const std::string& cluster) const {
    return all_clusters || clusters.contains(cluster);
  }
};

// The in-progress counts as the last report sent them: the agent's share to take off the
// cluster-wide sum that includes it. Kept per backend id (one counter, whatever clusters
// list the backend) with the clusters the report covered, not per endpoint key: ~50 bytes
// an endpoint instead of ~150, on every node.
struct ReportedShares {
  std::set<std::string> clusters;
  std::map<std::uint32_t, std::uint64_t> active_conns;  // backend id → in progress

  // What the report said about `backend_id` in `cluster` (0 when it did not cover it).
  std::uint64_t Of(const std::string& cluster, std::uint32_t backend_id) const {
    if (!clusters.contains(cluster)) return 0;
    auto it = active_conns.find(backend_id);
    return it == active_conns.end() ? 0 : it->second;
  }
  friend bool operator==(const ReportedShares&, const ReportedShares&) = default;
};

// Builds successive reports; keeps each id's totals between them for the deltas. Not
// thread-safe (one per LRS stream owner).
class LoadReportBuilder {
 public:
  explicit LoadReportBuilder(ReportOptions options = {}) : options_(options) {}

  // The ClusterStats of one report (no node: only a stream's first request carries it).
  // `since_last` is the time the report covers. `shares` receives what it says about
  // each endpoint's in-progress count.
  envoy::service::load_stats::v3::LoadStatsRequest Build(
      const std::vector<EndpointLoadSample>& samples, const ReportScope& scope,
      std::chrono::nanoseconds since_last, ReportedShares* shares);

 private:
  struct Totals {
    std::uint64_t issued = 0;
    std::uint64_t successful = 0;
    std::uint64_t errors = 0;
  };
  const ReportOptions options_;
  // The totals each id had at the previous report.
  std::map<std::uint32_t, Totals> last_totals_;
};

}  // namespace skewless::loadreport
