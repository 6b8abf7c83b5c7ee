// Per-endpoint counts → LoadStatsRequest, grouped by cluster and zone.
#include "skewless/loadreport/load_report.h"

#include <utility>

namespace skewless::loadreport {

using envoy::config::endpoint::v3::ClusterStats;
using envoy::config::endpoint::v3::UpstreamEndpointStats;
using envoy::config::endpoint::v3::UpstreamLocalityStats;
using envoy::service::load_stats::v3::LoadStatsRequest;

namespace {

// Growth of a total since `last`; a total that went backwards belongs to a new owner of
// the id (or a reinstalled data path): everything it counts is new.
std::uint64_t Growth(std::uint64_t now, std::uint64_t last) {
  return now >= last ? now - last : now;
}

}  // namespace

LoadStatsRequest LoadReportBuilder::Build(const std::vector<EndpointLoadSample>& samples,
                                          const ReportScope& scope,
                                          std::chrono::nanoseconds since_last,
                                          ReportedShares* shares) {
  // cluster → zone → endpoints, so that each ClusterStats and locality is made once.
  std::map<std::string, std::map<std::string, std::vector<const EndpointLoadSample*>>> grouped;
  // Growth per id since the last report, once per id however many clusters list it. Every
  // id's totals are remembered, reported now or not, so that a cluster the server asks
  // about later starts from the right base.
  std::map<std::uint32_t, Totals> totals;
  std::map<std::uint32_t, Totals> grown;
  for (const EndpointLoadSample& sample : samples) {
    const std::uint32_t id = sample.endpoint.backend_id;
    const Totals now{.issued = sample.issued_total,
                     .successful = sample.successful_total,
                     .errors = sample.error_total};
    totals[id] = now;
    auto last = last_totals_.find(id);
    Totals growth;
    if (last != last_totals_.end()) {
      growth = {.issued = Growth(now.issued, last->second.issued),
                .successful = Growth(now.successful, last->second.successful),
                .errors = Growth(now.errors, last->second.errors)};
    } else if (options_.counters_start_at_zero) {
      growth = now;
    }
    grown[id] = growth;
    if (!scope.Includes(sample.endpoint.key.cluster)) continue;
    // An endpoint with nothing to say is left out: a report replaces this reporter's
    // previous one whole, so left out means zero, and a node steering every Service would
    // otherwise send every endpoint of the cluster at each report (10,000 endpoints:
    // ~270 kB).
    if (sample.in_progress == 0 && growth.issued == 0 && growth.successful == 0 &&
        growth.errors == 0) {
      continue;
    }
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
      Totals sum;
      for (const EndpointLoadSample* sample : endpoints) {
        const std::uint32_t id = sample->endpoint.backend_id;
        const Totals& growth = grown[id];
        UpstreamEndpointStats& endpoint = *locality.add_upstream_endpoint_stats();
        auto& socket = *endpoint.mutable_address()->mutable_socket_address();
        socket.set_address(sample->endpoint.key.address);
        socket.set_port_value(sample->endpoint.key.port);
        endpoint.set_total_requests_in_progress(sample->in_progress);
        endpoint.set_total_issued_requests(growth.issued);
        endpoint.set_total_successful_requests(growth.successful);
        endpoint.set_total_error_requests(growth.errors);
        in_progress += sample->in_progress;
        sum.issued += growth.issued;
        sum.successful += growth.successful;
        sum.errors += growth.errors;
        if (shares != nullptr) shares->active_conns[id] = sample->in_progress;
      }
      locality.set_total_requests_in_progress(in_progress);
      locality.set_total_issued_requests(sum.issued);
      locality.set_total_successful_requests(sum.successful);
      locality.set_total_error_requests(sum.errors);
      if (options_.unit == LoadUnit::kConnections) {
        // The same figures in the connection fields Envoy has for them.
        locality.set_total_active_connections(in_progress);
        locality.set_total_new_connections(sum.issued);
      }
    }
  }
  last_totals_ = std::move(totals);
  return request;
}

}  // namespace skewless::loadreport
