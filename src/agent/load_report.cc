// Per-endpoint connection counts → LoadStatsRequest, grouped by cluster and zone.
#include "skewless/agent/load_report.h"

#include <utility>

namespace skewless::agent {

using envoy::config::endpoint::v3::ClusterStats;
using envoy::config::endpoint::v3::UpstreamEndpointStats;
using envoy::config::endpoint::v3::UpstreamLocalityStats;
using envoy::service::load_stats::v3::LoadStatsRequest;

LoadStatsRequest LoadReportBuilder::Build(const std::vector<EndpointLoadSample>& samples,
                                          const ReportScope& scope,
                                          std::chrono::nanoseconds since_last,
                                          ReportedShares* shares) {
  // cluster → zone → endpoints, so that each ClusterStats and locality is made once.
  std::map<std::string, std::map<std::string, std::vector<const EndpointLoadSample*>>> grouped;
  std::map<EndpointKey, std::uint64_t> totals;
  for (const EndpointLoadSample& sample : samples) {
    const EndpointKey& key = sample.endpoint.key;
    // Every endpoint's total is remembered even when it is not reported now, so that a
    // cluster the server asks about later starts from the right base.
    totals[key] = sample.total_conns;
    if (!scope.Includes(key.cluster)) continue;
    grouped[key.cluster][sample.endpoint.zone].push_back(&sample);
  }

  LoadStatsRequest request;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_last);
  for (const auto& [cluster, zones] : grouped) {
    ClusterStats& stats = *request.add_cluster_stats();
    stats.set_cluster_name(cluster);
    stats.mutable_load_report_interval()->set_seconds(seconds.count());
    stats.mutable_load_report_interval()->set_nanos(
        static_cast<std::int32_t>((since_last - seconds).count()));
    for (const auto& [zone, endpoints] : zones) {
      UpstreamLocalityStats& locality = *stats.add_upstream_locality_stats();
      if (!zone.empty()) locality.mutable_locality()->set_zone(zone);
      std::uint64_t in_progress = 0;
      std::uint64_t issued = 0;
      for (const EndpointLoadSample* sample : endpoints) {
        const EndpointKey& key = sample->endpoint.key;
        std::uint64_t new_conns = 0;
        auto last = last_total_conns_.find(key);
        if (last != last_total_conns_.end()) {
          // A counter that went backwards belongs to a new owner of the backend id (or a
          // reinstalled data path): everything it counts is new.
          new_conns = sample->total_conns >= last->second ? sample->total_conns - last->second
                                                          : sample->total_conns;
        }
        UpstreamEndpointStats& endpoint = *locality.add_upstream_endpoint_stats();
        auto& socket = *endpoint.mutable_address()->mutable_socket_address();
        socket.set_address(key.address);
        socket.set_port_value(key.port);
        endpoint.set_total_requests_in_progress(sample->active_conns);
        endpoint.set_total_issued_requests(new_conns);
        in_progress += sample->active_conns;
        issued += new_conns;
        if (shares != nullptr) (*shares)[key] = sample->active_conns;
      }
      locality.set_total_requests_in_progress(in_progress);
      locality.set_total_issued_requests(issued);
      // The same figures in the connection fields Envoy has for them.
      locality.set_total_active_connections(in_progress);
      locality.set_total_new_connections(issued);
    }
  }
  last_total_conns_ = std::move(totals);
  return request;
}

}  // namespace skewless::agent
