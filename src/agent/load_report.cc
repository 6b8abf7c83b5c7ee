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
  // Connections opened per backend since the last report, once per backend however many
  // clusters list it. Every backend's total is remembered, reported now or not, so that
  // a cluster the server asks about later starts from the right base.
  std::map<std::uint32_t, std::uint64_t> totals;
  std::map<std::uint32_t, std::uint64_t> opened;
  for (const EndpointLoadSample& sample : samples) {
    const std::uint32_t id = sample.endpoint.backend_id;
    totals[id] = sample.total_conns;
    auto last = last_total_conns_.find(id);
    std::uint64_t new_conns = 0;
    if (last != last_total_conns_.end()) {
      // A counter that went backwards belongs to a new owner of the backend id (or a
      // reinstalled data path): everything it counts is new.
      new_conns = sample.total_conns >= last->second ? sample.total_conns - last->second
                                                     : sample.total_conns;
    }
    opened[id] = new_conns;
    if (!scope.Includes(sample.endpoint.key.cluster)) continue;
    // An endpoint with nothing to say is left out: a report replaces this node's previous
    // one whole, so left out means zero, and a node steering every Service would otherwise
    // send every endpoint of the cluster at each report (10,000 endpoints: ~270 kB).
    if (sample.active_conns == 0 && new_conns == 0) continue;
    grouped[sample.endpoint.key.cluster][sample.endpoint.zone].push_back(&sample);
  }

  LoadStatsRequest request;
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_last);
  for (const auto& [cluster, zones] : grouped) {
    ClusterStats& stats = *request.add_cluster_stats();
    stats.set_cluster_name(cluster);
    stats.mutable_load_report_interval()->set_seconds(seconds.count());
    stats.mutable_load_report_interval()->set_nanos(
        static_cast<std::int32_t>((since_last - seconds).count()));
    if (shares != nullptr) shares->clusters.insert(cluster);
    for (const auto& [zone, endpoints] : zones) {
      UpstreamLocalityStats& locality = *stats.add_upstream_locality_stats();
      if (!zone.empty()) locality.mutable_locality()->set_zone(zone);
      std::uint64_t in_progress = 0;
      std::uint64_t issued = 0;
      for (const EndpointLoadSample* sample : endpoints) {
        const std::uint32_t id = sample->endpoint.backend_id;
        UpstreamEndpointStats& endpoint = *locality.add_upstream_endpoint_stats();
        auto& socket = *endpoint.mutable_address()->mutable_socket_address();
        socket.set_address(sample->endpoint.key.address);
        socket.set_port_value(sample->endpoint.key.port);
        endpoint.set_total_requests_in_progress(sample->active_conns);
        endpoint.set_total_issued_requests(opened[id]);
        in_progress += sample->active_conns;
        issued += opened[id];
        if (shares != nullptr) shares->active_conns[id] = sample->active_conns;
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
