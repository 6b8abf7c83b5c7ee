// The agent's ADS client against the real control plane server (in process, loopback)
// serving over TLS from the test PKI and admitting by TokenReview on the fake API
// server: with its bound token it gets its resources, without one it is refused and
// keeps retrying, and a token rewritten in place is what the next connect sends.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fake_apiserver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording_handler.h"
#include "skewless/agent/ads_client.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"

namespace skewless::agent {
namespace {

using namespace std::chrono_literals;

constexpr char kAudience[] = "skewless-controlplane";
constexpr char kControlPlaneToken[] = "controlplane-sa-token";

class AdsClientAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("skewless-agent-auth-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    absl::StatusOr<skewless::testing::TestPki> pki = skewless::testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    std::ofstream(dir_ / "tls.crt") << pki->server_cert_pem;
    std::ofstream(dir_ / "tls.key") << pki->server_key_pem;
    std::ofstream(dir_ / "ca.crt") << pki->ca_cert_pem;

    auto api = skewless::testing::FakeApiServer::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    api_->SetRequiredToken(kControlPlaneToken);
    api_->AddToken("agent-token",
                   {"system:serviceaccount:skewless-system:skewless-agent", {kAudience}});
    std::ofstream(dir_ / "kubeconfig")
        << "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
        << "clusters: [{name: t, cluster: {server: '" << api_->url() << "'}}]\n"
        << "users: [{name: t, user: {token: " << kControlPlaneToken << "}}]\n"
        << "contexts: [{name: t, context: {cluster: t, user: t}}]\n";

    controlplane::ServerConfig config;
    config.xds_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.shutdown_grace = 200ms;
    config.tls_cert_file = (dir_ / "tls.crt").string();
    config.tls_key_file = (dir_ / "tls.key").string();
    config.auth = controlplane::AuthMethods{.token_review = true};
    config.kubeconfig = (dir_ / "kubeconfig").string();
    config.writer_service_accounts = {"skewless-system/skewless-agent"};
    auto server = controlplane::ControlPlaneServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    server_.reset();
    api_.reset();
    std::filesystem::remove_all(dir_);
  }

  AdsClientOptions Options(std::string token_file) {
    return {.servers = {Server()},
            .node_name = "node-1",
            .initial_backoff = 20ms,
            .max_backoff = 100ms,
            .tls = h2::TlsClientOptions{.ca_file = (dir_ / "ca.crt").string()},
            .bearer_token_file = std::move(token_file)};
  }
  std::string Server() const { return "127.0.0.1:" + std::to_string(server_->xds_port()); }

  // ADS streams the client has opened so far (its own counter).
  int StreamsOpened() const {
    const std::string rendered = registry_.Render();
    const std::string key = "skewless_agent_xds_streams_total{server=\"" + Server() + "\"} ";
    const std::size_t at = rendered.find(key);
    return at == std::string::npos ? 0 : std::atoi(rendered.c_str() + at + key.size());
  }

  std::filesystem::path dir_;
  std::unique_ptr<skewless::testing::FakeApiServer> api_;
  std::unique_ptr<controlplane::ControlPlaneServer> server_;
  prometheus::Registry registry_;
  testing::RecordingHandler handler_;
};

TEST_F(AdsClientAuthTest, WithItsBoundTokenTheAgentReceivesItsResourcesOverTls) {
  std::ofstream(dir_ / "token") << "agent-token\n";
  AdsClient client(Options((dir_ / "token").string()), handler_, registry_);
  client.Start();
  ASSERT_TRUE(handler_.Await([&] { return !handler_.clusters.empty(); }));
  EXPECT_TRUE(client.connected());
  const std::vector<skewless::testing::RecordedTokenReview> reviews = api_->TokenReviews();
  ASSERT_FALSE(reviews.empty());
  EXPECT_EQ(reviews[0].token, "agent-token");
  EXPECT_THAT(reviews[0].requested_audiences, ::testing::ElementsAre(kAudience));
}

TEST_F(AdsClientAuthTest, WithoutATokenTheAgentIsRefusedAndKeepsRetrying) {
  AdsClient client(Options(""), handler_, registry_);
  client.Start();
  for (int i = 0; i < 250 && StreamsOpened() < 3; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(StreamsOpened(), 3) << registry_.Render();
  EXPECT_FALSE(client.connected());
  std::lock_guard lock(handler_.mutex_);
  EXPECT_TRUE(handler_.clusters.empty());
}

TEST_F(AdsClientAuthTest, ATokenRewrittenInPlaceIsWhatTheNextConnectSends) {
  std::ofstream(dir_ / "token") << "stale-token";  // unknown to the API server: refused
  AdsClient client(Options((dir_ / "token").string()), handler_, registry_);
  client.Start();
  for (int i = 0; i < 250 && StreamsOpened() < 2; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_GE(StreamsOpened(), 2);
  EXPECT_FALSE(client.connected());
  std::ofstream(dir_ / "token") << "agent-token";  // kubelet's rotation
  ASSERT_TRUE(handler_.Await([&] { return !handler_.clusters.empty(); }));
  EXPECT_TRUE(client.connected());
}

}  // namespace
}  // namespace skewless::agent
