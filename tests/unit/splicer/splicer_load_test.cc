// The splicer's load source for LRS: streams counted per cluster and endpoint by outcome,
// shared by every worker, turned into per-report deltas, and endpoints no worker holds
// reported once more and then forgotten.
#include "splicer_load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "skewless/loadreport/load_report.h"

namespace skewless::splicer {
namespace {

using balance::StreamOutcome;
using envoy::config::endpoint::v3::UpstreamEndpointStats;
using envoy::service::load_stats::v3::LoadStatsRequest;

constexpr char kEcho[] = "default/echo:grpc";
constexpr char kWeb[] = "default/web:http";

const loadreport::EndpointLoadSample* Find(
    const std::vector<loadreport::EndpointLoadSample>& samples, const std::string& cluster,
    const std::string& address) {
  for (const auto& sample : samples) {
    if (sample.endpoint.key.cluster == cluster && sample.endpoint.key.address == address) {
      return &sample;
    }
  }
  return nullptr;
}

// The endpoint stats a report gives `address` in `cluster`; nullopt when it leaves it out.
std::optional<UpstreamEndpointStats> StatsOf(const LoadStatsRequest& report,
                                             const std::string& cluster,
                                             const std::string& address) {
  for (const auto& stats : report.cluster_stats()) {
    if (stats.cluster_name() != cluster) continue;
    for (const auto& locality : stats.upstream_locality_stats()) {
      for (const auto& endpoint : locality.upstream_endpoint_stats()) {
        if (endpoint.address().socket_address().address() == address) return endpoint;
      }
    }
  }
  return std::nullopt;
}

TEST(SplicerLoad, CountsOutstandingCompletedAndFailedStreamsPerClusterAndEndpoint) {
  SplicerLoad load;
  // Two workers' upstreams of the same Service share one endpoint's counters.
  std::shared_ptr<EndpointCounters> a = load.For(kEcho, "10.0.0.1", 8080, "zone-a");
  std::shared_ptr<EndpointCounters> a_again = load.For(kEcho, "10.0.0.1", 8080, "zone-a");
  std::shared_ptr<EndpointCounters> b = load.For(kEcho, "10.0.0.2", 8080, "zone-b");
  // The same pod behind another Service is that cluster's load, not echo's.
  std::shared_ptr<EndpointCounters> web = load.For(kWeb, "10.0.0.1", 8080, "zone-a");
  EXPECT_EQ(a, a_again);
  EXPECT_NE(a, web);

  for (int i = 0; i < 5; ++i) a->Start();
  a_again->End(StreamOutcome::kSuccess);
  a->End(StreamOutcome::kSuccess);
  a->End(StreamOutcome::kUnavailable);  // the pod's failure: an error
  a->End(StreamOutcome::kCancelled);    // the client left: neither
  b->Start();
  b->End(StreamOutcome::kConnectFailure);
  web->Start();

  const std::vector<loadreport::EndpointLoadSample> samples = load.SampleLoads();
  ASSERT_EQ(samples.size(), 3u);
  const auto* sa = Find(samples, kEcho, "10.0.0.1");
  ASSERT_NE(sa, nullptr);
  EXPECT_EQ(sa->in_progress, 1u);
  EXPECT_EQ(sa->issued_total, 5u);
  EXPECT_EQ(sa->successful_total, 2u);
  EXPECT_EQ(sa->error_total, 1u);
  EXPECT_EQ(sa->endpoint.zone, "zone-a");
  EXPECT_EQ(sa->endpoint.key.port, 8080);
  const auto* sb = Find(samples, kEcho, "10.0.0.2");
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->in_progress, 0u);
  EXPECT_EQ(sb->error_total, 1u);
  const auto* sw = Find(samples, kWeb, "10.0.0.1");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->in_progress, 1u);
  EXPECT_NE(sw->endpoint.backend_id, sa->endpoint.backend_id);
}

TEST(SplicerLoad, AnEndpointNoWorkerHoldsIsReportedOnceMoreThenForgotten) {
  SplicerLoad load;
  std::shared_ptr<EndpointCounters> gone = load.For(kEcho, "10.0.0.1", 8080, "");
  const std::uint32_t first_id = load.SampleLoads().at(0).endpoint.backend_id;
  gone->Start();
  gone->End(StreamOutcome::kSuccess);
  gone.reset();  // the pod left every worker's list and its last stream ended
  const auto last = load.SampleLoads();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].successful_total, 1u);
  EXPECT_TRUE(load.SampleLoads().empty());
  EXPECT_EQ(load.endpoints(), 0u);
  // Back again: new counters under a new id, so the report's deltas start over.
  std::shared_ptr<EndpointCounters> back = load.For(kEcho, "10.0.0.1", 8080, "");
  EXPECT_NE(load.SampleLoads().at(0).endpoint.backend_id, first_id);
}

TEST(SplicerLoad, ReportsCarryOutstandingStreamsAndTheDeltasSinceThePreviousReport) {
  SplicerLoad load;
  loadreport::LoadReportBuilder builder(
      {.unit = loadreport::LoadUnit::kRequests, .counters_start_at_zero = true});
  const loadreport::ReportScope all{.all_clusters = true};
  std::shared_ptr<EndpointCounters> a = load.For(kEcho, "10.0.0.1", 8080, "zone-a");
  for (int i = 0; i < 4; ++i) a->Start();
  a->End(StreamOutcome::kSuccess);
  a->End(StreamOutcome::kServerError);

  LoadStatsRequest first = builder.Build(load.SampleLoads(), all, std::chrono::seconds(2), nullptr);
  std::optional<UpstreamEndpointStats> stats = StatsOf(first, kEcho, "10.0.0.1");
  ASSERT_TRUE(stats.has_value()) << first.DebugString();
  // The splicer's counters began with it: a new endpoint's first streams count.
  EXPECT_EQ(stats->total_requests_in_progress(), 2u);
  EXPECT_EQ(stats->total_issued_requests(), 4u);
  EXPECT_EQ(stats->total_successful_requests(), 1u);
  EXPECT_EQ(stats->total_error_requests(), 1u);
  const auto& locality = first.cluster_stats(0).upstream_locality_stats(0);
  EXPECT_EQ(locality.locality().zone(), "zone-a");
  EXPECT_EQ(locality.total_requests_in_progress(), 2u);
  EXPECT_EQ(locality.total_successful_requests(), 1u);
  EXPECT_EQ(locality.total_error_requests(), 1u);
  // Streams are not connections: the connection fields stay unset.
  EXPECT_EQ(locality.total_active_connections(), 0u);
  EXPECT_EQ(locality.total_new_connections(), 0u);

  a->Start();
  a->End(StreamOutcome::kSuccess);
  a->End(StreamOutcome::kSuccess);
  LoadStatsRequest second =
      builder.Build(load.SampleLoads(), all, std::chrono::seconds(2), nullptr);
  stats = StatsOf(second, kEcho, "10.0.0.1");
  ASSERT_TRUE(stats.has_value()) << second.DebugString();
  EXPECT_EQ(stats->total_requests_in_progress(), 1u);
  EXPECT_EQ(stats->total_issued_requests(), 1u);      // only what happened since
  EXPECT_EQ(stats->total_successful_requests(), 2u);  // the first report
  EXPECT_EQ(stats->total_error_requests(), 0u);

  a->End(StreamOutcome::kSuccess);
  LoadStatsRequest third = builder.Build(load.SampleLoads(), all, std::chrono::seconds(2), nullptr);
  ASSERT_TRUE(StatsOf(third, kEcho, "10.0.0.1").has_value());
  // Idle, nothing new: left out (left out means zero, as each report replaces the last).
  LoadStatsRequest fourth =
      builder.Build(load.SampleLoads(), all, std::chrono::seconds(2), nullptr);
  EXPECT_FALSE(StatsOf(fourth, kEcho, "10.0.0.1").has_value()) << fourth.DebugString();
}

}  // namespace
}  // namespace skewless::splicer
