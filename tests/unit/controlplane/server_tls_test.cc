// ADS over TLS from certificate files: a client trusting the CA gets resources, a
// plaintext client to the same port gets nothing; bad files fail at start, naming them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("skewless-cp-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    std::ofstream(dir_ / "tls.crt") << pki_.server_cert_pem;
    std::ofstream(dir_ / "tls.key") << pki_.server_key_pem;
    config_.xds_listen = "127.0.0.1:0";
    config_.http_listen = "127.0.0.1:0";
    config_.shutdown_grace = std::chrono::milliseconds(200);
    config_.tls_cert_file = (dir_ / "tls.crt").string();
    config_.tls_key_file = (dir_ / "tls.key").string();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartServer() {
    auto server = ControlPlaneServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::ChannelCredentials> TrustingCredentials() const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pki_.ca_cert_pem;
    return grpc::SslCredentials(options);
  }

  // One CDS request on a new stream; the stream's status when no response came.
  grpc::Status FetchClusters(std::shared_ptr<grpc::ChannelCredentials> credentials,
                             envoy::service::discovery::v3::DiscoveryResponse* response) {
    grpc::ChannelArguments args;
    // The certificate names 127.0.0.1 and localhost; gRPC checks the target's host.
    args.SetSslTargetNameOverride("localhost");
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->xds_port()),
                                             credentials, args);
    auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->StreamAggregatedResources(&context);
    envoy::service::discovery::v3::DiscoveryRequest request;
    request.set_type_url(kClusterType);
    stream->Write(request);
    if (stream->Read(response)) {
      context.TryCancel();
      stream->Finish().IgnoreError();
      return grpc::Status::OK;
    }
    return stream->Finish();
  }

  std::filesystem::path dir_;
  testing::TestPki pki_;
  ServerConfig config_;
  std::unique_ptr<ControlPlaneServer> server_;
};

TEST_F(TlsServerTest, AClientTrustingTheCaGetsResources) {
  StartServer();
  envoy::service::discovery::v3::DiscoveryResponse response;
  grpc::Status status = FetchClusters(TrustingCredentials(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.type_url(), kClusterType);
  EXPECT_GT(response.resources_size(), 0);
}

TEST_F(TlsServerTest, APlaintextClientToTheTlsPortGetsNothing) {
  StartServer();
  envoy::service::discovery::v3::DiscoveryResponse response;
  grpc::Status status = FetchClusters(grpc::InsecureChannelCredentials(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.resources_size(), 0);
}

TEST_F(TlsServerTest, AClientNotTrustingTheCaGetsNothing) {
  StartServer();
  absl::StatusOr<testing::TestPki> other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = other->ca_cert_pem;
  envoy::service::discovery::v3::DiscoveryResponse response;
  grpc::Status status = FetchClusters(grpc::SslCredentials(options), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(TlsServerTest, AMissingKeyFileIsNamedAtStart) {
  config_.tls_key_file = (dir_ / "absent.key").string();
  auto server = ControlPlaneServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("absent.key"));
}

TEST_F(TlsServerTest, AFileThatIsNotPemIsNamedAtStart) {
  std::ofstream(dir_ / "tls.crt") << "not a certificate";
  auto server = ControlPlaneServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("tls.crt: no PEM block"));
}

TEST(TlsConfig, ACertificateNeedsItsKeyAndPlaintextExcludesBoth) {
  ServerConfig config;
  config.tls_cert_file = "/c";
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()), HasSubstr("its key file"));
  config.tls_key_file = "/k";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.plaintext = true;
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("plaintext chosen, but TLS files or caSecret given"));
}

TEST(TlsConfig, TokenReviewNeedsTls) {
  ServerConfig config;
  config.auth.token_review = true;
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()), HasSubstr("needs TLS"));
}

}  // namespace
}  // namespace skewless::controlplane
