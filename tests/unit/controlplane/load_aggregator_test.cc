// The LoadAggregator as a specification: sums over reporters by kind, a report replaces
// its reporter's last, silence expires a reporter and a stream's end removes it at once,
// one reporter's values are bounded, reports about what is not served are dropped and
// counted, gRPC's locality-only reports attribute nothing, and IP spellings meet EDS's.
#include "skewless/controlplane/load_aggregator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "skewless/common/net.h"

namespace skewless::controlplane {
namespace {

using envoy::service::load_stats::v3::LoadStatsRequest;
using skewless::load::v1::ClusterLoad;
using std::chrono::milliseconds;

constexpr char kShop[] = "shop/cart:http";
constexpr char kBilling[] = "billing/api:grpc";

struct EndpointStat {
  std::string address;
  std::uint32_t port;
  std::uint64_t in_progress;
};

// One ClusterStats per call of Add, one locality holding the given endpoints.
class ReportBuilder {
 public:
  ReportBuilder& Add(const std::string& cluster, const std::vector<EndpointStat>& endpoints) {
    auto* stats = request_.add_cluster_stats();
    stats->set_cluster_name(cluster);
    auto* locality = stats->add_upstream_locality_stats();
    locality->mutable_locality()->set_zone("zone-a");
    for (const EndpointStat& endpoint : endpoints) {
      auto* entry = locality->add_upstream_endpoint_stats();
      auto* socket = entry->mutable_address()->mutable_socket_address();
      socket->set_address(endpoint.address);
      socket->set_port_value(endpoint.port);
      entry->set_total_requests_in_progress(endpoint.in_progress);
    }
    return *this;
  }
  // What proxyless gRPC sends: locality totals, no endpoints.
  ReportBuilder& AddLocalityOnly(const std::string& cluster, std::uint64_t in_progress) {
    auto* stats = request_.add_cluster_stats();
    stats->set_cluster_name(cluster);
    auto* locality = stats->add_upstream_locality_stats();
    locality->mutable_locality()->set_zone("zone-a");
    locality->set_total_requests_in_progress(in_progress);
    return *this;
  }
  const LoadStatsRequest& request() const { return request_; }

 private:
  LoadStatsRequest request_;
};

class LoadAggregatorTest : public ::testing::Test {
 protected:
  LoadAggregatorTest() : aggregator_(limits_) { aggregator_.SetCatalog(Catalog()); }

  static LoadCatalog Catalog() {
    return {{kShop, {{"10.0.0.1", 8080}, {"10.0.0.2", 8080}, {"fd00::7", 8080}}},
            {kBilling, {{"10.0.1.1", 9000}}}};
  }

  ReportOutcome Report(std::uint64_t stream, ReporterKind kind, const ReportBuilder& report,
                       LoadAggregator::Clock::time_point at) {
    absl::StatusOr<ReportOutcome> outcome =
        aggregator_.Report(stream, "node-" + std::to_string(stream), kind, report.request(), at);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    return outcome.ok() ? *outcome : ReportOutcome{};
  }

  // The summed load of one endpoint: {connections, requests, reporters}; all zero when
  // the endpoint is not in the sums.
  struct Load {
    std::uint64_t connections = 0;
    std::uint64_t requests = 0;
    std::uint32_t reporters = 0;
    bool operator==(const Load&) const = default;
  };
  Load LoadOf(const std::string& cluster, const std::string& address, std::uint32_t port) const {
    const std::map<std::string, ClusterLoad> sums = aggregator_.Sums();
    auto found = sums.find(cluster);
    if (found == sums.end()) return {};
    EXPECT_EQ(found->second.cluster_name(), cluster);
    for (const auto& endpoint : found->second.endpoints()) {
      if (endpoint.address() == address && endpoint.port() == port) {
        return {endpoint.connections(), endpoint.requests_in_progress(), endpoint.reporters()};
      }
    }
    return {};
  }

  const LoadAggregator::Clock::time_point t0_ = LoadAggregator::Clock::now();
  LoadAggregatorLimits limits_{.expiry = milliseconds(6000),
                               .max_per_endpoint = 100,
                               .max_reporters = 3,
                               .max_endpoints_per_report = 5};
  LoadAggregator aggregator_;
};

TEST_F(LoadAggregatorTest, SumsConnectionsOfAgentsAndRequestsOfOthersPerEndpoint) {
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 3}}), t0_);
  Report(2, ReporterKind::kConnections,
         ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 4}, {"10.0.0.2", 8080, 1}}), t0_);
  Report(3, ReporterKind::kRequests, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 10}}), t0_);

  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{7, 10, 3}));
  EXPECT_EQ(LoadOf(kShop, "10.0.0.2", 8080), (Load{1, 0, 1}));
  EXPECT_EQ(aggregator_.reporters(), 3u);
}

TEST_F(LoadAggregatorTest, AReportReplacesItsReportersPreviousOne) {
  Report(1, ReporterKind::kConnections,
         ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 5}, {"10.0.0.2", 8080, 2}}), t0_);
  Report(2, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 1}}), t0_);
  // The values are "in progress now": the second report is the whole truth of reporter 1.
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 2}}),
         t0_ + milliseconds(2000));

  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{3, 0, 2}));
  EXPECT_EQ(LoadOf(kShop, "10.0.0.2", 8080), Load{}) << "left out of the newer report";
  EXPECT_EQ(aggregator_.reporters(), 2u);
}

TEST_F(LoadAggregatorTest, AReporterSilentForTheExpiryStopsCounting) {
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 5}}), t0_);
  Report(2, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 1}}),
         t0_ + milliseconds(4000));

  EXPECT_EQ(aggregator_.Expire(t0_ + milliseconds(6000)), 0u) << "exactly the expiry: kept";
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{6, 0, 2}));
  EXPECT_EQ(aggregator_.Expire(t0_ + milliseconds(6001)), 1u);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{1, 0, 1}));
  EXPECT_EQ(aggregator_.reporters(), 1u);
}

TEST_F(LoadAggregatorTest, AStreamThatEndsIsRemovedAtOnce) {
  Report(1, ReporterKind::kRequests, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 5}}), t0_);
  Report(2, ReporterKind::kRequests, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 2}}), t0_);
  aggregator_.Remove(1);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{0, 2, 1}));
  aggregator_.Remove(2);
  EXPECT_TRUE(aggregator_.Sums().empty());
  EXPECT_EQ(aggregator_.reporters(), 0u);
}

TEST_F(LoadAggregatorTest, OneReportersValueIsClampedAndCounted) {
  ReportOutcome outcome = Report(
      1, ReporterKind::kConnections,
      ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 1'000'000}, {"10.0.0.2", 8080, 100}}), t0_);
  EXPECT_EQ(outcome.clamped, 1u);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{100, 0, 1}));
  EXPECT_EQ(LoadOf(kShop, "10.0.0.2", 8080), (Load{100, 0, 1})) << "at the bound: not clamped";

  // The same endpoint named in two localities adds up to the bound, no further.
  outcome = Report(
      2, ReporterKind::kRequests,
      ReportBuilder().Add(kShop, {{"10.0.0.2", 8080, 60}}).Add(kShop, {{"10.0.0.2", 8080, 60}}),
      t0_);
  EXPECT_EQ(outcome.clamped, 1u);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.2", 8080), (Load{100, 100, 2}));

  // Even the largest value cannot overflow a sum.
  Report(3, ReporterKind::kConnections,
         ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, UINT64_MAX}}), t0_);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{200, 0, 2}));
}

TEST_F(LoadAggregatorTest, UnknownClustersAndEndpointsAreDroppedAndCountedByReason) {
  ReportOutcome outcome =
      Report(1, ReporterKind::kConnections,
             ReportBuilder()
                 .Add("shop/ghost:http", {{"10.0.0.1", 8080, 3}, {"10.0.0.2", 8080, 3}})
                 .Add(kShop, {{"10.0.0.1", 9999, 3}, {"10.9.9.9", 8080, 3}})
                 .Add(kBilling, {{"10.0.0.1", 8080, 3}}),  // another cluster's endpoint
             t0_);
  EXPECT_EQ(outcome.unknown_cluster, 2u);
  EXPECT_EQ(outcome.unknown_endpoint, 3u);
  EXPECT_EQ(outcome.endpoints, 0u);
  EXPECT_TRUE(aggregator_.Sums().empty());
}

TEST_F(LoadAggregatorTest, AClusterTheCallerMayNotSeeCountsAsUnknown) {
  absl::StatusOr<ReportOutcome> outcome = aggregator_.Report(
      1, "reader", ReporterKind::kRequests,
      ReportBuilder()
          .Add(kShop, {{"10.0.0.1", 8080, 3}})
          .Add(kBilling, {{"10.0.1.1", 9000, 4}})
          .request(),
      t0_, [](std::string_view cluster) { return cluster.starts_with("shop/"); });
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->unknown_cluster, 1u);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{0, 3, 1}));
  EXPECT_EQ(LoadOf(kBilling, "10.0.1.1", 9000), Load{});
}

TEST_F(LoadAggregatorTest, AnEndpointThatLeavesTheCatalogIsNoLongerSummed) {
  Report(1, ReporterKind::kConnections,
         ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 3}, {"10.0.0.2", 8080, 2}}), t0_);
  LoadCatalog catalog = Catalog();
  catalog[kShop].erase({"10.0.0.2", 8080});
  aggregator_.SetCatalog(catalog);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{3, 0, 1}));
  EXPECT_EQ(LoadOf(kShop, "10.0.0.2", 8080), Load{});
}

TEST_F(LoadAggregatorTest, LocalityOnlyReportsAreAcceptedButAttributeNothing) {
  ReportOutcome outcome =
      Report(1, ReporterKind::kRequests,
             ReportBuilder().AddLocalityOnly(kShop, 40).AddLocalityOnly("shop/ghost:http", 5), t0_);
  EXPECT_EQ(outcome.locality_only, 1u) << "the unknown cluster's locality is not counted";
  EXPECT_EQ(outcome.endpoints, 0u);
  EXPECT_TRUE(aggregator_.Sums().empty());
  EXPECT_EQ(aggregator_.reporters(), 1u) << "the reporter exists, with nothing to sum";
}

TEST_F(LoadAggregatorTest, IpSpellingsMeetEdsCanonicalForm) {
  ReportOutcome outcome = Report(
      1, ReporterKind::kConnections,
      ReportBuilder().Add(
          kShop, {{"::ffff:10.0.0.1", 8080, 2}, {"FD00:0:0::7", 8080, 3}, {"not-an-ip", 8080, 1}}),
      t0_);
  EXPECT_EQ(outcome.endpoints, 2u);
  EXPECT_EQ(outcome.invalid_address, 1u);
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{2, 0, 1}));
  EXPECT_EQ(LoadOf(kShop, "fd00::7", 8080), (Load{3, 0, 1}));

  // Reported addresses are observed ones: net::CanonicalIp reading the mapped form as IPv4.
  EXPECT_EQ(*net::CanonicalIp("::FFFF:192.168.0.1", net::V4Mapped::kReadAsIpv4), "192.168.0.1");
  EXPECT_EQ(*net::CanonicalIp("2001:DB8:0:0:0:0:0:1", net::V4Mapped::kReadAsIpv4), "2001:db8::1");
  EXPECT_FALSE(net::CanonicalIp("010.0.0.1", net::V4Mapped::kReadAsIpv4).ok());
  EXPECT_FALSE(net::CanonicalIp("", net::V4Mapped::kReadAsIpv4).ok());
}

TEST_F(LoadAggregatorTest, ChangesCountWhatCanMoveTheSumsAndNothingElse) {
  const std::uint64_t start = aggregator_.changes();
  Report(1, ReporterKind::kRequests, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 1}}), t0_);
  const std::uint64_t reported = aggregator_.changes();
  EXPECT_GT(reported, start);
  aggregator_.Remove(7);  // no such reporter
  EXPECT_EQ(aggregator_.Expire(t0_ + milliseconds(10)), 0u);
  EXPECT_EQ(aggregator_.changes(), reported) << "nothing moved, nothing to publish";
  EXPECT_EQ(aggregator_.Expire(t0_ + milliseconds(7000)), 1u);
  EXPECT_GT(aggregator_.changes(), reported);
}

TEST_F(LoadAggregatorTest, AHeartbeatRepeatingTheLastReportIsNoChangeButKeepsTheReporter) {
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 2}}), t0_);
  const std::uint64_t reported = aggregator_.changes();
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 2}}),
         t0_ + milliseconds(5000));
  EXPECT_EQ(aggregator_.changes(), reported) << "the same values: nothing to publish";
  EXPECT_EQ(aggregator_.Expire(t0_ + milliseconds(7000)), 0u) << "the heartbeat still counts";
  Report(1, ReporterKind::kConnections, ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 3}}),
         t0_ + milliseconds(7000));
  EXPECT_GT(aggregator_.changes(), reported);
  EXPECT_EQ(aggregator_.Sums().at(kShop).endpoints(0).connections(), 3u);
}

TEST_F(LoadAggregatorTest, ReportsBeyondTheBoundsAreRefusedNamingTheBound) {
  absl::StatusOr<ReportOutcome> big = aggregator_.Report(
      1, "big", ReporterKind::kRequests,
      ReportBuilder()
          .Add(kShop, {{"10.0.0.1", 8080, 1}, {"10.0.0.2", 8080, 1}, {"fd00::7", 8080, 1}})
          .Add(kBilling, {{"10.0.1.1", 9000, 1}, {"10.0.1.1", 9000, 1}, {"10.0.1.1", 9000, 1}})
          .request(),
      t0_);
  ASSERT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(big.status().message()), ::testing::StartsWith("endpoints_per_report:"));
  EXPECT_THAT(std::string(big.status().message()), ::testing::HasSubstr("6 endpoints"));
  EXPECT_EQ(aggregator_.reporters(), 0u);

  const ReportBuilder small = ReportBuilder().Add(kShop, {{"10.0.0.1", 8080, 1}});
  for (std::uint64_t stream = 1; stream <= 3; ++stream) {
    Report(stream, ReporterKind::kRequests, small, t0_);
  }
  absl::StatusOr<ReportOutcome> fourth =
      aggregator_.Report(4, "fourth", ReporterKind::kRequests, small.request(), t0_);
  ASSERT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(fourth.status().message()), ::testing::StartsWith("reporters:"));
  // A reporter already tracked may always report again.
  EXPECT_TRUE(aggregator_.Report(2, "node-2", ReporterKind::kRequests, small.request(), t0_).ok());
  EXPECT_EQ(LoadOf(kShop, "10.0.0.1", 8080), (Load{0, 3, 3}));
}

}  // namespace
}  // namespace skewless::controlplane

namespace skewless::controlplane {
namespace {

// A splicer's completed and failed streams are counted per cluster for the metrics, from
// known endpoints only and never from an agent (whose "requests" are connections).
TEST(LoadAggregatorRequests, RequestReportersCountsArePerClusterAndOnlyForKnownEndpoints) {
  LoadAggregator aggregator(LoadAggregatorLimits{});
  aggregator.SetCatalog({{kShop, {{"10.0.0.1", 8080}, {"10.0.0.2", 8080}}}});
  LoadStatsRequest request;
  auto* stats = request.add_cluster_stats();
  stats->set_cluster_name(kShop);
  auto* locality = stats->add_upstream_locality_stats();
  for (const auto& [address, issued, ok, failed] :
       {std::tuple{"10.0.0.1", 10, 7, 2}, std::tuple{"10.0.0.2", 5, 5, 0},
        std::tuple{"10.0.0.9", 100, 100, 100}}) {  // not an endpoint of the cluster
    auto* entry = locality->add_upstream_endpoint_stats();
    entry->mutable_address()->mutable_socket_address()->set_address(address);
    entry->mutable_address()->mutable_socket_address()->set_port_value(8080);
    entry->set_total_requests_in_progress(1);
    entry->set_total_issued_requests(issued);
    entry->set_total_successful_requests(ok);
    entry->set_total_error_requests(failed);
  }
  const auto now = LoadAggregator::Clock::now();
  absl::StatusOr<ReportOutcome> splicer =
      aggregator.Report(1, "node-a", ReporterKind::kRequests, request, now);
  ASSERT_TRUE(splicer.ok()) << splicer.status();
  EXPECT_EQ(splicer->unknown_endpoint, 1u);
  ASSERT_TRUE(splicer->requests.contains(kShop));
  EXPECT_EQ(splicer->requests.at(kShop),
            (RequestCounts{.issued = 15, .successful = 12, .errors = 2}));

  absl::StatusOr<ReportOutcome> agent =
      aggregator.Report(2, "node-b", ReporterKind::kConnections, request, now);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_TRUE(agent->requests.empty());
}

}  // namespace
}  // namespace skewless::controlplane
