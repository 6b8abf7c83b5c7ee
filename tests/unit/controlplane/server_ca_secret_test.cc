// The control plane's CA kept in a Secret, against the fake API server: the first replica
// creates the Secret and the bundle ConfigMap and serves a certificate for the Service's
// names that verifies against the bundle; later replicas (also one that loses the create
// race) reuse the CA; a stale bundle is replaced; the issued certificate is renewed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "ads_probe.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "test_pki.h"

namespace skewless::controlplane {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kServiceName[] = "skewless-controlplane.skewless-system.svc";

class CaSecretServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("skewless-cp-ca-secret-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    auto api = testing::FakeApiServer::Start();
    ASSERT_TRUE(api.ok()) << api.status();
    api_ = *std::move(api);
    std::ofstream(dir_ / "kubeconfig") << api_->Kubeconfig("controlplane-token");
    config_.xds_listen = "127.0.0.1:0";
    config_.http_listen = "127.0.0.1:0";
    config_.shutdown_grace = std::chrono::milliseconds(200);
    config_.kubeconfig = (dir_ / "kubeconfig").string();
    config_.ca_secret = "skewless-system/skewless-ca";
  }
  void TearDown() override {
    api_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<ControlPlaneServer> StartServer() {
    auto server = ControlPlaneServer::Start(config_);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  std::string BundleCa() const {
    std::optional<nlohmann::json> bundle =
        api_->Object("configmaps", "skewless-system", "skewless-ca-bundle");
    return bundle ? (*bundle)["data"].value("ca.crt", "") : "";
  }

  std::string SecretCa() const {
    std::optional<nlohmann::json> secret =
        api_->Object("secrets", "skewless-system", "skewless-ca");
    std::string pem;
    if (secret) absl::Base64Unescape((*secret)["data"].value("ca.crt", ""), &pem);
    return pem;
  }

  int Count(const std::string& method, const std::string& kind) const {
    int count = 0;
    for (const testing::RecordedRequest& request : api_->ObjectRequests()) {
      if (request.method == method && request.path.find("/" + kind) != std::string::npos) ++count;
    }
    return count;
  }

  // One CDS request from a client trusting only `ca_pem`, checking the Service's name.
  grpc::Status FetchClusters(int port, const std::string& ca_pem) {
    return testing::FetchClusters(
        port, {.ca_pem = ca_pem, .deadline = std::chrono::seconds(5), .target_name = kServiceName});
  }

  std::filesystem::path dir_;
  std::unique_ptr<testing::FakeApiServer> api_;
  ServerConfig config_;
};

TEST_F(CaSecretServerTest,
       TheFirstStartCreatesTheCaAndItsBundleAndServesACertificateForTheService) {
  std::unique_ptr<ControlPlaneServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string ca = SecretCa();
  ASSERT_THAT(ca, HasSubstr("BEGIN CERTIFICATE"));
  std::optional<nlohmann::json> secret = api_->Object("secrets", "skewless-system", "skewless-ca");
  EXPECT_TRUE((*secret)["data"].contains("ca.key"));
  EXPECT_EQ(BundleCa(), ca) << "the bundle publishes the Secret's CA";

  absl::StatusOr<testing::ServedCertificate> served =
      testing::FetchServedCertificate(server->xds_port(), kServiceName, BundleCa());
  ASSERT_TRUE(served.ok()) << served.status();
  for (const char* name :
       {"skewless-controlplane", "skewless-controlplane.skewless-system.svc.cluster.local",
        "skewless-controlplane-pods.skewless-system.svc"}) {
    EXPECT_THAT(served->dns_names, Contains(name));
  }
  grpc::Status status = FetchClusters(server->xds_port(), BundleCa());
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(CaSecretServerTest, ASecondReplicaReusesTheCaAndLeavesTheBundleAlone) {
  std::unique_ptr<ControlPlaneServer> first = StartServer();
  ASSERT_NE(first, nullptr);
  const std::string ca = SecretCa();
  const std::string bundle_version =
      (*api_->Object("configmaps", "skewless-system", "skewless-ca-bundle"))["metadata"].value(
          "resourceVersion", "");
  std::unique_ptr<ControlPlaneServer> second = StartServer();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(SecretCa(), ca);
  EXPECT_EQ(Count("POST", "secrets"), 1);
  EXPECT_EQ(Count("PUT", "configmaps"), 0);
  EXPECT_EQ(
      (*api_->Object("configmaps", "skewless-system", "skewless-ca-bundle"))["metadata"].value(
          "resourceVersion", ""),
      bundle_version);
  absl::StatusOr<testing::ServedCertificate> a =
      testing::FetchServedCertificate(first->xds_port(), kServiceName, BundleCa());
  absl::StatusOr<testing::ServedCertificate> b =
      testing::FetchServedCertificate(second->xds_port(), kServiceName, BundleCa());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(a->serial_hex, b->serial_hex) << "each replica issues its own certificate";
}

TEST_F(CaSecretServerTest, AReplicaThatLosesTheCreateRaceUsesTheWinnersCa) {
  std::unique_ptr<ControlPlaneServer> winner = StartServer();
  ASSERT_NE(winner, nullptr);
  const std::string ca = SecretCa();
  // The loser read "not found" before the winner's create landed.
  api_->HideObjectsFromNextGets(1);
  std::unique_ptr<ControlPlaneServer> loser = StartServer();
  ASSERT_NE(loser, nullptr);
  EXPECT_EQ(Count("POST", "secrets"), 2);
  EXPECT_EQ(SecretCa(), ca) << "the 409 left the winner's Secret in place";
  absl::StatusOr<testing::ServedCertificate> served =
      testing::FetchServedCertificate(loser->xds_port(), kServiceName, BundleCa());
  EXPECT_TRUE(served.ok()) << served.status();
}

TEST_F(CaSecretServerTest, AStaleBundleIsReplaced) {
  api_->AddObject("configmaps",
                  {{"metadata", {{"name", "skewless-ca-bundle"}, {"namespace", "skewless-system"}}},
                   {"data", {{"ca.crt", "an old CA"}}}});
  std::unique_ptr<ControlPlaneServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Count("PUT", "configmaps"), 1);
  EXPECT_EQ(BundleCa(), SecretCa());
}

TEST_F(CaSecretServerTest, TheIssuedCertificateIsRenewedWithoutARestart) {
  config_.issued_cert_lifetime = std::chrono::seconds(4);  // renewed after 2 s
  config_.tls_refresh_interval = std::chrono::seconds(1);
  std::unique_ptr<ControlPlaneServer> server = StartServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<testing::ServedCertificate> before =
      testing::FetchServedCertificate(server->xds_port(), kServiceName, BundleCa());
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<testing::ServedCertificate> after = before;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (after.ok() && after->serial_hex == before->serial_hex &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    after = testing::FetchServedCertificate(server->xds_port(), kServiceName, BundleCa());
  }
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->serial_hex, before->serial_hex);
}

TEST_F(CaSecretServerTest, ASecretWithoutItsKeyIsNamedAtStart) {
  api_->AddObject("secrets",
                  {{"metadata", {{"name", "skewless-ca"}, {"namespace", "skewless-system"}}},
                   {"data", {{"ca.crt", absl::Base64Escape("not used")}}}});
  auto server = ControlPlaneServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("Secret skewless-system/skewless-ca: no base64 data key ca.key"));
}

TEST_F(CaSecretServerTest, AnApiErrorIsNamedAtStart) {
  api_->SetUnavailable(true);
  auto server = ControlPlaneServer::Start(config_);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("get Secret skewless-system/skewless-ca"));
}

}  // namespace
}  // namespace skewless::controlplane
