// ADS over TLS from certificate files: a client trusting the CA gets resources, a
// plaintext client to the same port gets nothing; rewritten files are served without a
// restart; bad files fail at start, naming them; no TLS and no plaintext is no start.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"
#include "tls_control_plane_test.h"

namespace skewless::controlplane {
namespace {

using ::testing::HasSubstr;

constexpr char kClusterType[] = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

class TlsServerTest : public TlsControlPlaneTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(SetUpTls("tls")); }

  std::shared_ptr<grpc::ChannelCredentials> TrustingCredentials() const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pki_.ca_cert_pem;
    return grpc::SslCredentials(options);
  }

  // One CDS request on a new stream; the stream's status when no response came.
  grpc::Status FetchClusters(std::shared_ptr<grpc::ChannelCredentials> credentials,
                             envoy::service::discovery::v3::DiscoveryResponse* response) {
    return testing::FetchClusters(server_->xds_port(), credentials,
                                  {.deadline = std::chrono::seconds(5)}, response);
  }
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

// As the kubelet updates a mounted Secret: new files swapped in by a rename.
void ReplaceFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path.string() + ".tmp") << content;
  std::filesystem::rename(path.string() + ".tmp", path);
}

TEST_F(TlsServerTest, RewrittenCertificateFilesAreServedToNewConnectionsWithoutARestart) {
  config_.tls_refresh_interval = std::chrono::seconds(1);
  StartServer();
  absl::StatusOr<testing::ServedCertificate> before =
      testing::FetchServedCertificate(server_->xds_port(), "localhost", pki_.ca_cert_pem);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->common_name, "kube-apiserver");

  absl::StatusOr<testing::TestLeaf> renewed = testing::IssueTestLeaf(
      pki_, "renewed-controlplane", "IP:127.0.0.1,DNS:localhost", "serverAuth");
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ReplaceFile(dir_ / "tls.key", renewed->key_pem);
  ReplaceFile(dir_ / "tls.crt", renewed->cert_pem);

  absl::StatusOr<testing::ServedCertificate> after = before;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (after.ok() && after->common_name != "renewed-controlplane" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = testing::FetchServedCertificate(server_->xds_port(), "localhost", pki_.ca_cert_pem);
  }
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->common_name, "renewed-controlplane");
  EXPECT_NE(after->serial_hex, before->serial_hex);
  envoy::service::discovery::v3::DiscoveryResponse response;
  grpc::Status status = FetchClusters(TrustingCredentials(), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
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

TEST(TlsConfig, WithoutTlsMaterialOrPlaintextTheServerRefusesToStartNamingTheOptions) {
  ServerConfig config;
  config.xds_listen = "127.0.0.1:0";
  config.http_listen = "127.0.0.1:0";
  auto server = ControlPlaneServer::Start(config);
  ASSERT_FALSE(server.ok());
  const std::string message(server.status().message());
  EXPECT_THAT(message, HasSubstr("--tls-cert-file"));
  EXPECT_THAT(message, HasSubstr("--ca-secret"));
  EXPECT_THAT(message, HasSubstr("--plaintext"));
  config.plaintext = true;
  EXPECT_TRUE(ControlPlaneServer::Start(config).ok());
}

TEST(TlsConfig, CertificateFilesAndTheCaSecretExcludeEachOther) {
  ServerConfig config;
  config.tls_cert_file = "/c";
  config.tls_key_file = "/k";
  config.ca_secret = "skewless-system/skewless-ca";
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("certificate files and caSecret both given"));
  config.tls_cert_file = config.tls_key_file = "";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.ca_secret = "skewless-ca";
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("tls.caSecret: \"skewless-ca\" is not namespace/name"));
}

TEST(TlsConfig, TokenReviewNeedsTls) {
  ServerConfig config;
  config.auth.token_review = true;
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()), HasSubstr("needs TLS"));
}

}  // namespace
}  // namespace skewless::controlplane
