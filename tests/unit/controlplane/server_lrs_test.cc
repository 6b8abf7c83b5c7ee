// Load reports end to end on a control plane over TLS with token authentication: real
// gRPC LRS clients report, a delta ADS client receives the summed ClusterLoad and EDS
// stays still, a reporter whose stream ends stops counting, callers without a token or
// over the stream bound are refused, and the lrs.* configuration keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "cluster_load_subscriber.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "envoy/service/load_stats/v3/lrs.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server_config.h"
#include "skewless/load/v1/cluster_load.pb.h"
#include "skewless/xds/resources.h"
#include "tls_control_plane_test.h"

namespace skewless::controlplane {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::load_stats::v3::LoadReportingService;
using envoy::service::load_stats::v3::LoadStatsRequest;
using envoy::service::load_stats::v3::LoadStatsResponse;
using ::testing::HasSubstr;

constexpr char kAudience[] = "skewless-controlplane";
constexpr char kControlPlaneToken[] = "controlplane-sa-token";
// The embedded lab snapshot's one Service port and two of its pods.
constexpr char kEcho[] = "default/echo:grpc";
constexpr char kPod0[] = "198.18.0.10";
constexpr char kPod1[] = "198.18.0.11";
constexpr std::uint32_t kPodPort = 8080;
constexpr auto kWait = std::chrono::seconds(10);

std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& ca_pem) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // each client its own connection
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::SslCredentials(options), args);
}

// One LRS stream, as a data plane holds it: the node first, then a report per interval.
class LrsReporter {
 public:
  LrsReporter(int port, const std::string& ca_pem, const std::string& token)
      : stub_(LoadReportingService::NewStub(TlsChannel(port, ca_pem))) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
    stream_ = stub_->StreamLoadStats(&context_);
  }

  // Sends a report naming `node` (the first one must) with one endpoint entry per pod.
  bool Report(const std::string& node_id, const std::string& user_agent,
              const std::vector<std::pair<std::string, std::uint64_t>>& in_progress) {
    LoadStatsRequest request;
    request.mutable_node()->set_id(node_id);
    request.mutable_node()->set_user_agent_name(user_agent);
    auto* cluster = request.add_cluster_stats();
    cluster->set_cluster_name(kEcho);
    auto* locality = cluster->add_upstream_locality_stats();
    for (const auto& [address, value] : in_progress) {
      auto* endpoint = locality->add_upstream_endpoint_stats();
      endpoint->mutable_address()->mutable_socket_address()->set_address(address);
      endpoint->mutable_address()->mutable_socket_address()->set_port_value(kPodPort);
      endpoint->set_total_requests_in_progress(value);
    }
    return stream_->Write(request);
  }

  bool Read(LoadStatsResponse* response) { return stream_->Read(response); }

  // Gone without a goodbye, as a crashed reporter (the server sees a cancel).
  grpc::Status Cancel() {
    context_.TryCancel();
    return stream_->Finish();
  }

  // Half-closes and reads what is left (Finish waits for every message to be read).
  grpc::Status End() {
    stream_->WritesDone();
    LoadStatsResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }

 private:
  std::unique_ptr<LoadReportingService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<LoadStatsRequest, LoadStatsResponse>> stream_;
};

// An agent's delta ADS stream, subscribed to kEcho's ClusterLoad and EDS.
std::unique_ptr<testing::ClusterLoadSubscriber> AgentA(int port, const std::string& ca_pem) {
  return std::make_unique<testing::ClusterLoadSubscriber>(
      TlsChannel(port, ca_pem), testing::ClusterLoadSubscriber::Options{
                                    .node_id = "agent-node-a",
                                    .cluster = kEcho,
                                    .also_types = {std::string(xds::kClusterLoadAssignmentTypeUrl)},
                                    .bearer_token = "agent-a-token",
                                    .wait = kWait});
}

// {connections, requests, reporters} of one pod in a ClusterLoad; zeros when absent.
std::tuple<std::uint64_t, std::uint64_t, std::uint32_t> PodLoad(
    const skewless::load::v1::ClusterLoad& load, const std::string& address) {
  for (const auto& endpoint : load.endpoints()) {
    if (endpoint.address() == address && endpoint.port() == kPodPort) {
      return {endpoint.connections(), endpoint.requests_in_progress(), endpoint.reporters()};
    }
  }
  return {0, 0, 0};
}

class LrsServerTest : public TlsControlPlaneTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpTls("lrs"));
    auto api = testing::FakeApiServer::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    api_->SetRequiredToken(kControlPlaneToken);
    api_->AddToken("agent-a-token",
                   {"system:serviceaccount:skewless-system:skewless-agent", {kAudience}});
    api_->AddToken("envoy-token", {"system:serviceaccount:default:ingress", {kAudience}});
    api_->AddToken("shop-token", {"system:serviceaccount:shop:frontend", {kAudience}});
    std::ofstream(dir_ / "kubeconfig") << api_->Kubeconfig(kControlPlaneToken);
    config_.auth.token_review = true;
    config_.kubeconfig = (dir_ / "kubeconfig").string();
    config_.writer_service_accounts = {"skewless-system/skewless-agent"};
    config_.lrs.interval = std::chrono::milliseconds(500);
    config_.lrs.publish_interval = std::chrono::milliseconds(50);
    // Far beyond every wait here: what leaves the sums left it because its stream ended.
    config_.lrs.expiry = std::chrono::seconds(60);
  }

  int xds_port() const { return server_->xds_port(); }

  // Starts the server and has each token reviewed once: calls racing a token's first
  // review may be told to retry (review_pending), which a real client does and the
  // plain streams here do not.
  void StartServerWithReviewedTokens() {
    ASSERT_NO_FATAL_FAILURE(StartServer());
    for (const char* token : {"agent-a-token", "envoy-token", "shop-token"}) {
      grpc::Status status =
          testing::FetchClusters(xds_port(), {.ca_pem = pki_.ca_cert_pem, .token = token});
      ASSERT_TRUE(status.ok()) << token << ": " << status.error_message();
    }
  }

  // The metric's sample line ("name{labels} value"), or "" when absent: failures then
  // print one line, not the whole page.
  std::string Sample(const std::string& series) {
    const std::string page = Metrics();
    for (std::size_t at = page.find(series + " "); at != std::string::npos;
         at = page.find(series + " ", at + 1)) {
      if (at == 0 || page[at - 1] == '\n') return page.substr(at, page.find('\n', at) - at);
    }
    return "";
  }

  // Gauges set when a stream is done may trail the client's view of its end by a moment.
  std::string AwaitSample(const std::string& series, const std::string& value) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    std::string sample = Sample(series);
    while (sample != series + " " + value && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      sample = Sample(series);
    }
    return sample;
  }
};

TEST_F(LrsServerTest, ReportersAreSummedForAgentsAndAnEndedStreamStopsCounting) {
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  auto agent = AgentA(xds_port(), pki_.ca_cert_pem);

  // Two agents (writers: their values are connections) and an Envoy (requests).
  LrsReporter agent_a(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  LrsReporter agent_b(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  LrsReporter envoy(xds_port(), pki_.ca_cert_pem, "envoy-token");
  ASSERT_TRUE(agent_a.Report("node-a", "skewless-agent", {{kPod0, 3}, {kPod1, 1}}));
  ASSERT_TRUE(agent_b.Report("node-b", "skewless-agent", {{kPod0, 4}}));
  ASSERT_TRUE(envoy.Report("envoy-1", "envoy", {{kPod0, 9}}));

  LoadStatsResponse answer;
  ASSERT_TRUE(agent_a.Read(&answer));
  EXPECT_TRUE(answer.send_all_clusters());
  EXPECT_TRUE(answer.report_endpoint_granularity());
  EXPECT_EQ(answer.load_reporting_interval().nanos(), 500'000'000);
  EXPECT_EQ(answer.load_reporting_interval().seconds(), 0);

  auto summed = agent->Await([](const auto& load) {
    return PodLoad(load, kPod0) == std::tuple<std::uint64_t, std::uint64_t, std::uint32_t>{7, 9, 3};
  });
  ASSERT_TRUE(summed.has_value()) << "no ClusterLoad for " << kEcho;
  EXPECT_EQ(PodLoad(*summed, kPod0), std::make_tuple(7ull, 9ull, 3u)) << summed->DebugString();
  EXPECT_EQ(PodLoad(*summed, kPod1), std::make_tuple(1ull, 0ull, 1u));
  EXPECT_EQ(summed->cluster_name(), kEcho);

  // One agent's stream ends: its connections leave the sum without waiting for expiry.
  EXPECT_TRUE(agent_b.End().ok());
  auto dropped = agent->Await([](const auto& load) {
    return PodLoad(load, kPod0) == std::tuple<std::uint64_t, std::uint64_t, std::uint32_t>{3, 9, 2};
  });
  ASSERT_TRUE(dropped.has_value());
  EXPECT_EQ(PodLoad(*dropped, kPod0), std::make_tuple(3ull, 9ull, 2u)) << dropped->DebugString();

  // A newer report replaces the older one.
  ASSERT_TRUE(envoy.Report("envoy-1", "envoy", {{kPod1, 2}}));
  auto replaced = agent->Await([](const auto& load) {
    return PodLoad(load, kPod0) == std::tuple<std::uint64_t, std::uint64_t, std::uint32_t>{3, 0, 1};
  });
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(PodLoad(*replaced, kPod1), std::make_tuple(1ull, 2ull, 2u)) << replaced->DebugString();

  // Only the load changed: the agent got its ClusterLoadAssignment once, at subscription.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(agent->responses(std::string(xds::kClusterLoadAssignmentTypeUrl)), 1);

  EXPECT_EQ(AwaitSample("skewless_controlplane_lrs_streams", "2"),
            "skewless_controlplane_lrs_streams 2");
  EXPECT_EQ(Sample("skewless_controlplane_lrs_reports_total"),
            "skewless_controlplane_lrs_reports_total 4");
  EXPECT_EQ(Sample("skewless_controlplane_lrs_reporters"), "skewless_controlplane_lrs_reporters 2");
  EXPECT_THAT(Sample("skewless_controlplane_cluster_load_publishes_total"),
              ::testing::MatchesRegex(".* [1-9][0-9]*"));
}

TEST_F(LrsServerTest, AnAgentClaimByANonWriterCountsAsRequests) {
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  auto agent = AgentA(xds_port(), pki_.ca_cert_pem);
  LrsReporter impostor(xds_port(), pki_.ca_cert_pem, "envoy-token");
  ASSERT_TRUE(impostor.Report("node-x", "skewless-agent", {{kPod0, 5}}));
  auto load = agent->Await([](const auto& load) { return load.endpoints_size() > 0; });
  ASSERT_TRUE(load.has_value());
  EXPECT_EQ(PodLoad(*load, kPod0), std::make_tuple(0ull, 5ull, 1u));
}

TEST_F(LrsServerTest, DroppedEndpointsAreCountedByReason) {
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter reporter(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  ASSERT_TRUE(reporter.Report("node-a", "skewless-agent", {{kPod0, 1}, {"10.99.0.1", 1}}));
  LoadStatsResponse answer;
  ASSERT_TRUE(reporter.Read(&answer));  // the report before it has been applied
  const std::string series =
      "skewless_controlplane_lrs_dropped_endpoints_total{reason=\"unknown_endpoint\"}";
  EXPECT_EQ(Sample(series), series + " 1");
}

TEST_F(LrsServerTest, AReportWithoutATokenIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter anonymous(xds_port(), pki_.ca_cert_pem, "");
  anonymous.Report("node-x", "skewless-agent", {{kPod0, 100}});
  grpc::Status status = anonymous.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_EQ(Sample("skewless_controlplane_lrs_reports_total"),
            "skewless_controlplane_lrs_reports_total 0");
}

TEST_F(LrsServerTest, StreamsOverTheBoundAreRefusedAndCounted) {
  config_.lrs.max_streams = 1;
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter first(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  ASSERT_TRUE(first.Report("node-a", "skewless-agent", {{kPod0, 1}}));
  LoadStatsResponse answer;
  ASSERT_TRUE(first.Read(&answer));
  LrsReporter second(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  second.Report("node-b", "skewless-agent", {{kPod0, 1}});
  grpc::Status status = second.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--lrs-max-streams"));
  const std::string series = "skewless_controlplane_lrs_rejections_total{reason=\"streams\"}";
  EXPECT_EQ(Sample(series), series + " 1");
}

TEST_F(LrsServerTest, AReporterFasterThanItsIntervalIsReadAtItsRateNotDropped) {
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter flood(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  const auto start = std::chrono::steady_clock::now();
  constexpr int kReports = 12;
  for (int i = 0; i < kReports; ++i) {
    ASSERT_TRUE(flood.Report("node-a", "skewless-agent", {{kPod0, static_cast<std::uint64_t>(i)}}));
  }
  // Interval 0.5 s: a burst of 4 after the first, then 2 per interval (one per 250 ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::string applied = Sample("skewless_controlplane_lrs_reports_total");
  if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400)) {
    EXPECT_THAT(applied, ::testing::MatchesRegex(".* [1-6]")) << "read at once, not paced";
  }
  EXPECT_EQ(AwaitSample("skewless_controlplane_lrs_reports_total", std::to_string(kReports)),
            "skewless_controlplane_lrs_reports_total " + std::to_string(kReports))
      << "a paced report is read late, never lost";
  EXPECT_TRUE(flood.End().ok());

  // A reporter that vanishes while it waits for its rate is cleaned up all the same.
  LrsReporter vanishing(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  for (int i = 0; i < kReports; ++i) {
    ASSERT_TRUE(vanishing.Report("node-b", "skewless-agent", {{kPod0, 1}}));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  vanishing.Cancel().IgnoreError();
  EXPECT_EQ(AwaitSample("skewless_controlplane_lrs_streams", "0"),
            "skewless_controlplane_lrs_streams 0");
  EXPECT_EQ(AwaitSample("skewless_controlplane_lrs_reporters", "0"),
            "skewless_controlplane_lrs_reporters 0");
}

TEST_F(LrsServerTest, AReportOverTheEndpointBoundEndsItsStreamAndIsCounted) {
  config_.lrs.max_endpoints_per_report = 1;
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter reporter(xds_port(), pki_.ca_cert_pem, "agent-a-token");
  ASSERT_TRUE(reporter.Report("node-a", "skewless-agent", {{kPod0, 1}, {kPod1, 1}}));
  grpc::Status status = reporter.End();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--lrs-max-endpoints-per-report"));
  const std::string series =
      "skewless_controlplane_lrs_rejections_total{reason=\"endpoints_per_report\"}";
  EXPECT_EQ(Sample(series), series + " 1");
}

TEST_F(LrsServerTest, AScopedReaderReportsOnlyOnItsOwnNamespacesClusters) {
  config_.reader_scope = ReaderScope::kOwnNamespace;
  ASSERT_NO_FATAL_FAILURE(StartServerWithReviewedTokens());
  LrsReporter outsider(xds_port(), pki_.ca_cert_pem, "shop-token");  // echo is default's
  ASSERT_TRUE(outsider.Report("shop-envoy", "envoy", {{kPod0, 50}}));
  LoadStatsResponse answer;
  ASSERT_TRUE(outsider.Read(&answer));
  const std::string series =
      "skewless_controlplane_lrs_dropped_endpoints_total{reason=\"unknown_cluster\"}";
  EXPECT_EQ(Sample(series), series + " 1");

  LrsReporter insider(xds_port(), pki_.ca_cert_pem, "envoy-token");
  ASSERT_TRUE(insider.Report("default-envoy", "envoy", {{kPod0, 5}}));
  ASSERT_TRUE(insider.Read(&answer));
  EXPECT_EQ(Sample(series), series + " 1") << "a reader of default may report on echo";
}

TEST(LrsConfigTest, LrsKeysParseAndBadValuesNameTheKey) {
  absl::StatusOr<ServerConfig> config = ParseServerConfigYaml(
      "lrs:\n  intervalSeconds: 0.5\n  expirySeconds: 4\n  maxPerEndpoint: 64\n"
      "  maxStreams: 7\n  maxReporters: 8\n  maxEndpointsPerReport: 9\n"
      "  publishIntervalSeconds: 0.25\n  grpcClientsReport: true\n",
      "cp.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->lrs.interval, std::chrono::milliseconds(500));
  EXPECT_EQ(config->lrs.Expiry(), std::chrono::milliseconds(4000));
  EXPECT_EQ(config->lrs.max_per_endpoint, 64u);
  EXPECT_EQ(config->lrs.max_streams, 7u);
  EXPECT_EQ(config->lrs.max_reporters, 8u);
  EXPECT_EQ(config->lrs.max_endpoints_per_report, 9u);
  EXPECT_EQ(config->lrs.publish_interval, std::chrono::milliseconds(250));
  EXPECT_TRUE(config->lrs.grpc_clients_report);

  ServerConfig defaults;
  EXPECT_EQ(defaults.lrs.Expiry(), 3 * defaults.lrs.interval);

  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"lrs: {intervalSecs: 1}\n", "cp.yaml:1:7: lrs.intervalSecs: unknown key"},
           {"lrs: {intervalSeconds: soon}\n", "lrs.intervalSeconds: expected a positive number"},
           {"lrs: {maxStreams: 0}\n", "lrs.maxStreams: expected a positive integer"},
           {"lrs: {intervalSeconds: 4, expirySeconds: 2}\n",
            "lrs.expirySeconds (--lrs-expiry): must be at least"},
           {"lrs: {intervalSeconds: 0.01}\n",
            "lrs.intervalSeconds (--lrs-interval): must be at least 0.1"},
       }) {
    absl::StatusOr<ServerConfig> bad = ParseServerConfigYaml(yaml, "cp.yaml");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_THAT(std::string(bad.status().message()), HasSubstr(error)) << yaml;
  }
}

}  // namespace
}  // namespace skewless::controlplane
