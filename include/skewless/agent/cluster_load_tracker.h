// Cluster-wide load in: the control plane's ClusterLoad resources (every agent's open
// connections per endpoint, summed) turned into each backend's cluster_conns, the load
// other nodes put on it. Transport- and BPF-free: the agent feeds it resources, its own
// last report and the programmed endpoints, and writes what Plan returns.
//
// cluster_conns = max(0, connections − this node's own open connections in the report
// the sum includes): the sum counts this node too, whose exact count the kernel adds
// itself. A report just sent is not in the sum held now, so it is taken off only once a
// ClusterLoad arrives after it; taking it off at once would hide this node's newest picks
// from itself (the pod it just left would look loaded by its old connection, and the pod
// it just chose would not count the new one) until the next publication. Figures are trusted while
// the ADS stream that delivered them is open, and for max_age after it closed or after the last
// update, whichever is later; a stream that delivers no ClusterLoad within max_age of opening (a
// control plane that does not publish them) leaves them at 0. At 0 choices fall back to local
// counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/loadreport/load_report.h"

namespace skewless::agent {

class ClusterLoadTracker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ClusterLoadTracker(std::chrono::nanoseconds max_age) : max_age_(max_age) {}

  // ADS stream lifecycle. A new stream re-reads every ClusterLoad; until its first one
  // arrives the previous figures age from the start of the stream.
  void OnStreamStart(Clock::time_point now);
  void OnStreamEnd(Clock::time_point now);

  // `full_state`: `updated` is every ClusterLoad there is (state of the world); else
  // (delta) only `removed` are dropped. Errors name the resource; the valid ones apply.
  // An empty answer about loads never held (a control plane that does not publish
  // ClusterLoad) is not an update: the figures keep ageing.
  absl::Status OnClusterLoads(const std::vector<skewless::load::v1::ClusterLoad>& updated,
                              const std::vector<std::string>& removed, bool full_state,
                              Clock::time_point now);

  // What this node's last report said; the sums count it from the next ClusterLoad on.
  void OnReportSent(loadreport::ReportedShares shares) { sent_ = std::move(shares); }

  // The endpoints programmed now; backends that left get their cluster_conns cleared.
  void SetEndpoints(std::vector<loadreport::SteeredEndpoint> endpoints) {
    endpoints_ = std::move(endpoints);
  }
  const std::vector<loadreport::SteeredEndpoint>& endpoints() const { return endpoints_; }

  bool Fresh(Clock::time_point now) const;
  // Time since the last ClusterLoad update (none yet: nullopt).
  std::optional<std::chrono::nanoseconds> Age(Clock::time_point now) const;

  // Backend id → the cluster_conns to write now: every programmed backend (0 where no
  // ClusterLoad names it, or everything 0 when stale), and 0 for backends written
  // before but no longer programmed. Only values that differ from what Plan returned
  // last time are included; the caller writes them all.
  std::map<std::uint32_t, std::uint64_t> Plan(Clock::time_point now);
  // Backends whose cluster_conns is non-zero as last planned.
  std::size_t loaded_backends() const;

 private:
  std::map<std::uint32_t, std::uint64_t> Desired(Clock::time_point now) const;

  const std::chrono::nanoseconds max_age_;
  // cluster → (address, port) → connections summed over every reporter
  std::map<std::string, std::map<std::pair<std::string, std::uint32_t>, std::uint64_t>> loads_;
  loadreport::ReportedShares sent_;      // the latest report
  loadreport::ReportedShares included_;  // the report the sums held now are taken to count
  std::vector<loadreport::SteeredEndpoint> endpoints_;
  std::map<std::uint32_t, std::uint64_t> written_;
  bool stream_open_ = false;
  std::optional<Clock::time_point> last_update_;    // last ClusterLoad response
  std::optional<Clock::time_point> stream_change_;  // last stream start or end
  bool updated_this_stream_ = false;
};

}  // namespace skewless::agent
