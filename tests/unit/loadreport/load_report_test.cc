// Load reports from per-endpoint counters: the LoadStatsRequest's shape, the connection
// deltas between reports, and the server's choice of clusters.
#include "skewless/loadreport/load_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::loadreport {
namespace {

using namespace std::chrono_literals;
using envoy::config::endpoint::v3::ClusterStats;
using envoy::config::endpoint::v3::UpstreamEndpointStats;
using envoy::config::endpoint::v3::UpstreamLocalityStats;

EndpointLoadSample Sample(std::string cluster, std::string address, std::string zone,
                          std::uint32_t id, std::uint64_t active, std::uint64_t total) {
  return {.endpoint = {.key = {.cluster = std::move(cluster),
                               .address = std::move(address),
                               .port = 8080},
                       .zone = std::move(zone),
                       .backend_id = id},
          .in_progress = active,
          .issued_total = total};
}

const UpstreamLocalityStats& Locality(const ClusterStats& stats, const std::string& zone) {
  for (const auto& locality : stats.upstream_locality_stats()) {
    if (locality.locality().zone() == zone) return locality;
  }
  ADD_FAILURE() << "no locality " << zone << " in " << stats.DebugString();
  static const UpstreamLocalityStats none;
  return none;
}

const UpstreamEndpointStats& Endpoint(const UpstreamLocalityStats& locality,
                                      const std::string& address) {
  for (const auto& endpoint : locality.upstream_endpoint_stats()) {
    if (endpoint.address().socket_address().address() == address) return endpoint;
  }
  ADD_FAILURE() << "no endpoint " << address << " in " << locality.DebugString();
  static const UpstreamEndpointStats none;
  return none;
}

TEST(LoadReport, GroupsEndpointsByClusterAndZoneWithOpenConnectionsAsRequestsInProgress) {
  LoadReportBuilder builder;
  ReportedShares shares;
  builder.Build({Sample("default/echo:80", "10.0.0.1", "zone-a", 1, 0, 100),
                 Sample("default/echo:80", "10.0.0.2", "zone-a", 2, 0, 50),
                 Sample("default/echo:80", "10.0.1.1", "zone-b", 3, 0, 7),
                 Sample("default/web:80", "10.0.2.1", "zone-a", 4, 0, 0)},
                {.all_clusters = true}, 10s, &shares);
  const auto request = builder.Build({Sample("default/echo:80", "10.0.0.1", "zone-a", 1, 3, 104),
                                      Sample("default/echo:80", "10.0.0.2", "zone-a", 2, 1, 50),
                                      Sample("default/echo:80", "10.0.1.1", "zone-b", 3, 5, 9),
                                      Sample("default/web:80", "10.0.2.1", "zone-a", 4, 2, 2)},
                                     {.all_clusters = true}, 2500ms, &shares);

  EXPECT_FALSE(request.has_node());  // only a stream's first request carries it
  ASSERT_EQ(request.cluster_stats_size(), 2);
  const ClusterStats& echo = request.cluster_stats(0);
  EXPECT_EQ(echo.cluster_name(), "default/echo:80");
  EXPECT_EQ(echo.load_report_interval().seconds(), 2);
  EXPECT_EQ(echo.load_report_interval().nanos(), 500'000'000);
  ASSERT_EQ(echo.upstream_locality_stats_size(), 2);
  const UpstreamLocalityStats& zone_a = Locality(echo, "zone-a");
  EXPECT_EQ(zone_a.total_requests_in_progress(), 4u);  // 3 + 1
  EXPECT_EQ(zone_a.total_issued_requests(), 4u);       // 4 new + 0 new
  EXPECT_EQ(zone_a.total_active_connections(), 4u);
  EXPECT_EQ(zone_a.total_new_connections(), 4u);
  const UpstreamEndpointStats& first = Endpoint(zone_a, "10.0.0.1");
  EXPECT_EQ(first.address().socket_address().port_value(), 8080u);
  EXPECT_EQ(first.total_requests_in_progress(), 3u);
  EXPECT_EQ(first.total_issued_requests(), 4u);
  const UpstreamLocalityStats& zone_b = Locality(echo, "zone-b");
  EXPECT_EQ(zone_b.total_requests_in_progress(), 5u);
  EXPECT_EQ(Endpoint(zone_b, "10.0.1.1").total_issued_requests(), 2u);
  EXPECT_EQ(request.cluster_stats(1).cluster_name(), "default/web:80");

  EXPECT_EQ(shares.Of("default/echo:80", 1), 3u);
  EXPECT_EQ(shares.Of("default/echo:80", 3), 5u);
  EXPECT_EQ(shares.Of("default/web:80", 4), 2u);
}

TEST(LoadReport, AnEndpointsFirstReportCountsNoIssuedConnections) {
  LoadReportBuilder builder;
  const auto request = builder.Build({Sample("c", "10.0.0.1", "z", 1, 2, 5000)},
                                     {.all_clusters = true}, 1s, nullptr);
  const auto& endpoint =
      request.cluster_stats(0).upstream_locality_stats(0).upstream_endpoint_stats(0);
  EXPECT_EQ(endpoint.total_requests_in_progress(), 2u);
  EXPECT_EQ(endpoint.total_issued_requests(), 0u);
}

TEST(LoadReport, ACounterThatWentBackwardsIsCountedFromZero) {
  LoadReportBuilder builder;
  builder.Build({Sample("c", "10.0.0.1", "z", 1, 0, 90)}, {.all_clusters = true}, 1s, nullptr);
  const auto request =
      builder.Build({Sample("c", "10.0.0.1", "z", 1, 0, 6)}, {.all_clusters = true}, 1s, nullptr);
  EXPECT_EQ(request.cluster_stats(0)
                .upstream_locality_stats(0)
                .upstream_endpoint_stats(0)
                .total_issued_requests(),
            6u);
}

// A report replaces the node's previous one whole, so an idle endpoint (no open and no new
// connection) is left out rather than sent as zeros: at 10,000 steered endpoints a report
// listing every one would be ~270 kB.
TEST(LoadReport, IdleEndpointsAndClustersAreLeftOut) {
  LoadReportBuilder builder;
  builder.Build(
      {Sample("busy", "10.0.0.1", "z", 1, 0, 10), Sample("busy", "10.0.0.2", "z", 2, 0, 3),
       Sample("idle", "10.0.1.1", "z", 3, 0, 7)},
      {.all_clusters = true}, 1s, nullptr);
  ReportedShares shares;
  const auto request = builder.Build(
      {Sample("busy", "10.0.0.1", "z", 1, 2, 12), Sample("busy", "10.0.0.2", "z", 2, 0, 4),
       Sample("busy", "10.0.0.3", "z", 4, 0, 0), Sample("idle", "10.0.1.1", "z", 3, 0, 7)},
      {.all_clusters = true}, 1s, &shares);
  ASSERT_EQ(request.cluster_stats_size(), 1) << request.DebugString();
  const ClusterStats& busy = request.cluster_stats(0);
  EXPECT_EQ(busy.cluster_name(), "busy");
  const UpstreamLocalityStats& locality = Locality(busy, "z");
  ASSERT_EQ(locality.upstream_endpoint_stats_size(), 2) << "10.0.0.3 did nothing";
  EXPECT_EQ(Endpoint(locality, "10.0.0.1").total_requests_in_progress(), 2u);
  EXPECT_EQ(Endpoint(locality, "10.0.0.2").total_issued_requests(), 1u)
      << "closed again, but opened one since the last report";
  EXPECT_EQ(shares.Of("idle", 3), 0u);
  EXPECT_EQ(shares.Of("busy", 1), 2u);
}

TEST(LoadReport, OnlyTheClustersTheServerAskedForAreReportedAndShared) {
  LoadReportBuilder builder;
  ReportedShares shares;
  builder.Build({Sample("a", "10.0.0.1", "z", 1, 0, 10), Sample("b", "10.0.0.2", "z", 2, 0, 10)},
                ReportScope{}, 1s, &shares);
  EXPECT_EQ(shares, ReportedShares{});
  const auto request = builder.Build(
      {Sample("a", "10.0.0.1", "z", 1, 1, 13), Sample("b", "10.0.0.2", "z", 2, 1, 12)},
      {.clusters = {"b"}}, 1s, &shares);
  ASSERT_EQ(request.cluster_stats_size(), 1);
  EXPECT_EQ(request.cluster_stats(0).cluster_name(), "b");
  // The base was taken even while unreported: b's two new connections, not twelve.
  EXPECT_EQ(request.cluster_stats(0).upstream_locality_stats(0).total_issued_requests(), 2u);
  EXPECT_EQ(shares, (ReportedShares{.clusters = {"b"}, .active_conns = {{2, 1}}}));
  EXPECT_EQ(shares.Of("a", 1), 0u);
}

TEST(LoadReport, ABackendInTwoClustersIsReportedInEachWithTheSameCounts) {
  LoadReportBuilder builder;
  builder.Build({Sample("a", "10.0.0.1", "z", 7, 0, 10), Sample("b", "10.0.0.1", "z", 7, 0, 10)},
                {.all_clusters = true}, 1s, nullptr);
  ReportedShares shares;
  const auto request = builder.Build(
      {Sample("a", "10.0.0.1", "z", 7, 4, 13), Sample("b", "10.0.0.1", "z", 7, 4, 13)},
      {.all_clusters = true}, 1s, &shares);
  ASSERT_EQ(request.cluster_stats_size(), 2);
  for (const auto& stats : request.cluster_stats()) {
    const auto& endpoint = stats.upstream_locality_stats(0).upstream_endpoint_stats(0);
    EXPECT_EQ(endpoint.total_requests_in_progress(), 4u) << stats.cluster_name();
    EXPECT_EQ(endpoint.total_issued_requests(), 3u) << stats.cluster_name();
  }
  EXPECT_EQ(shares.Of("a", 7), 4u);
  EXPECT_EQ(shares.Of("b", 7), 4u);
}

TEST(LoadReport, AnEndpointWithoutAZoneIsInALocalityWithoutOne) {
  LoadReportBuilder builder;
  const auto request =
      builder.Build({Sample("c", "10.0.0.1", "", 1, 1, 1)}, {.all_clusters = true}, 1s, nullptr);
  EXPECT_FALSE(request.cluster_stats(0).upstream_locality_stats(0).has_locality());
}

}  // namespace
}  // namespace skewless::loadreport
