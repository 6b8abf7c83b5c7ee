// ADS authentication by client certificate: a certificate from the client CA whose URI SAN
// is a Kubernetes SPIFFE ID is admitted as that ServiceAccount under the same policy as
// tokens; one from another CA fails the handshake; one without a SPIFFE ID is refused,
// logged and counted; with tokenreview too, token clients without a certificate still
// get in. And the SPIFFE policy itself, case by case.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "fake_apiserver.h"
#include "grpcpp/grpcpp.h"
#include "skewless/controlplane/server.h"
#include "skewless/controlplane/server_config.h"
#include "spiffe_id.h"
#include "test_pki.h"
#include "tls_control_plane_test.h"
#include "token_auth.h"

namespace skewless::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kAgentId[] = "URI:spiffe://cluster.local/ns/skewless-system/sa/skewless-agent";

class MtlsServerTest : public TlsControlPlaneTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SetUpTls("mtls"));
    std::ofstream(dir_ / "client-ca.crt") << pki_.ca_cert_pem;
    config_.client_ca_file = (dir_ / "client-ca.crt").string();
    config_.auth.mtls = true;
    config_.writer_service_accounts = {"skewless-system/skewless-agent"};
    config_.reader_namespaces = {"shop"};
  }
  testing::TestLeaf ClientCert(const std::string& subject_alt_names) {
    absl::StatusOr<testing::TestLeaf> leaf =
        testing::IssueTestLeaf(pki_, "client", subject_alt_names, "clientAuth");
    EXPECT_TRUE(leaf.ok()) << leaf.status();
    return leaf.ok() ? *leaf : testing::TestLeaf{};
  }

  // One CDS request with `client` as the client certificate (none when empty) and
  // `token` as the bearer token (none when empty).
  grpc::Status FetchClusters(const testing::TestLeaf& client, const std::string& token = "") {
    return testing::FetchClusters(server_->xds_port(), {.ca_pem = pki_.ca_cert_pem,
                                                        .client_cert_pem = client.cert_pem,
                                                        .client_key_pem = client.key_pem,
                                                        .token = token,
                                                        .deadline = std::chrono::seconds(5)});
  }
};

TEST_F(MtlsServerTest, ACertificateFromTheClientCaWithAnAllowedSpiffeIdIsAdmitted) {
  StartServer();
  grpc::Status writer = FetchClusters(ClientCert(kAgentId));
  EXPECT_TRUE(writer.ok()) << writer.error_message();
  grpc::Status reader = FetchClusters(ClientCert("URI:spiffe://cluster.local/ns/shop/sa/web"));
  EXPECT_TRUE(reader.ok()) << reader.error_message();
}

TEST_F(MtlsServerTest, TheReaderPolicyAppliesToCertificatesAsToTokens) {
  StartServer();
  grpc::Status status = FetchClusters(ClientCert("URI:spiffe://cluster.local/ns/billing/sa/w"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("billing/w is not in a reader namespace"));
}

TEST_F(MtlsServerTest, ACertificateFromAnotherCaFailsTheHandshake) {
  StartServer();
  absl::StatusOr<testing::TestPki> other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  absl::StatusOr<testing::TestLeaf> foreign =
      testing::IssueTestLeaf(*other, "client", kAgentId, "clientAuth");
  ASSERT_TRUE(foreign.ok());
  grpc::Status status = FetchClusters(*foreign);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(Metrics(),
              HasSubstr("skewless_controlplane_auth_refusals_total{reason=\"no_spiffe_id\"} 0"))
      << "refused by TLS, before any call";
}

TEST_F(MtlsServerTest, ACertificateWithoutASpiffeIdIsRefusedLoggedAndCounted) {
  StartServer();
  ::testing::internal::CaptureStderr();
  grpc::Status status = FetchClusters(ClientCert("DNS:client.example"));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("no_spiffe_id"));
  EXPECT_THAT(log, HasSubstr("reason=no_spiffe_id"));
  EXPECT_THAT(Metrics(),
              HasSubstr("skewless_controlplane_auth_refusals_total{reason=\"no_spiffe_id\"} 1"));
}

TEST_F(MtlsServerTest, WithMtlsAloneAClientWithoutACertificateIsRefused) {
  StartServer();
  grpc::Status status = FetchClusters({});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_THAT(Metrics(), HasSubstr("skewless_controlplane_auth_refusals_total{reason=\""
                                   "no_client_certificate\"} 1"));
}

TEST_F(MtlsServerTest, WithTokenReviewTooEitherCredentialIsEnough) {
  auto api = testing::FakeApiServer::Start();
  ASSERT_TRUE(api.ok()) << api.status();
  api_ = *std::move(api);
  api_->AddToken("reader-token",
                 {"system:serviceaccount:shop:frontend", {"skewless-controlplane"}});
  std::ofstream(dir_ / "kubeconfig") << api_->Kubeconfig("controlplane-token");
  config_.kubeconfig = (dir_ / "kubeconfig").string();
  config_.auth.token_review = true;
  StartServer();
  grpc::Status token_only = FetchClusters({}, "reader-token");
  EXPECT_TRUE(token_only.ok()) << token_only.error_message();
  grpc::Status certificate_only = FetchClusters(ClientCert(kAgentId));
  EXPECT_TRUE(certificate_only.ok()) << certificate_only.error_message();
  EXPECT_EQ(api_->TokenReviews().size(), 1u) << "a SPIFFE ID needs no review";
  grpc::Status neither = FetchClusters({});
  EXPECT_EQ(neither.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(neither.error_message(), HasSubstr("no_token"));
}

TEST(MtlsConfig, MtlsNeedsAClientCaAndAClientCaNeedsMtls) {
  ServerConfig config;
  config.tls_cert_file = "/c";
  config.tls_key_file = "/k";
  config.auth.mtls = true;
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()), HasSubstr("--client-ca-file"));
  config.client_ca_file = "/ca";
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.auth.mtls = false;
  EXPECT_THAT(std::string(ValidateServerConfig(config).message()),
              HasSubstr("tls.clientCaFile: set, but auth does not include mtls"));
}

TEST(MtlsConfig, AuthMethodsParseAsACommaSeparatedList) {
  EXPECT_EQ(*ParseAuthMethods("tokenreview,mtls"), (AuthMethods{true, true}));
  EXPECT_EQ(*ParseAuthMethods("mtls"), (AuthMethods{false, true}));
  EXPECT_EQ(*ParseAuthMethods("none"), AuthMethods{});
  EXPECT_EQ(AuthMethodsName(AuthMethods{true, true}), "tokenreview,mtls");
  EXPECT_THAT(std::string(ParseAuthMethods("tokenreview,x509").status().message()),
              HasSubstr("\"tokenreview,x509\" is not none or a list of tokenreview, mtls"));
}

struct SpiffeCase {
  std::string name;
  std::vector<std::string> uris;
  std::optional<Refusal> refusal;
  std::string service_account;
  bool writer;
};

TEST(JudgeCertificate, MapsTheSpiffeIdToItsServiceAccountUnderThePolicy) {
  const TokenPolicy policy{"aud", {"skewless-system/skewless-agent"}, {"shop"}, false, true};
  const std::string td = "spiffe://cluster.local";
  const std::vector<SpiffeCase> cases = {
      {"writer",
       {td + "/ns/skewless-system/sa/skewless-agent"},
       std::nullopt,
       "skewless-system/skewless-agent",
       true},
      {"reader beside another URI",
       {"https://example.com", td + "/ns/shop/sa/web"},
       std::nullopt,
       "shop/web",
       false},
      {"other namespace", {td + "/ns/billing/sa/w"}, Refusal::kNotAllowed, "billing/w", false},
      {"no URI", {}, Refusal::kNoSpiffeId, "", false},
      {"not SPIFFE", {"https://example.com/ns/shop/sa/web"}, Refusal::kNoSpiffeId, "", false},
      {"two SPIFFE IDs",
       {td + "/ns/shop/sa/a", td + "/ns/shop/sa/b"},
       Refusal::kNoSpiffeId,
       "",
       false},
      {"not a ServiceAccount path", {td + "/workload/web"}, Refusal::kNoSpiffeId, "", false},
      {"empty name", {td + "/ns/shop/sa/"}, Refusal::kNoSpiffeId, "", false},
      {"extra segment", {td + "/ns/shop/sa/web/x"}, Refusal::kNoSpiffeId, "", false},
  };
  for (const SpiffeCase& c : cases) {
    SCOPED_TRACE(c.name);
    const TokenVerdict verdict = JudgeCertificate(c.uris, policy);
    EXPECT_EQ(verdict.refusal, c.refusal);
    EXPECT_EQ(verdict.service_account, c.service_account);
    EXPECT_EQ(verdict.writer, c.writer);
  }
}

TEST(UriSubjectAltNames, ReadsTheUrisOfACertificate) {
  absl::StatusOr<testing::TestPki> pki = testing::MakeTestPki();
  ASSERT_TRUE(pki.ok());
  absl::StatusOr<testing::TestLeaf> leaf = testing::IssueTestLeaf(
      *pki, "c", "DNS:a.example,URI:spiffe://td/ns/n/sa/s,URI:https://x", "clientAuth");
  ASSERT_TRUE(leaf.ok());
  EXPECT_THAT(UriSubjectAltNames(leaf->cert_pem),
              ElementsAre("spiffe://td/ns/n/sa/s", "https://x"));
  EXPECT_TRUE(UriSubjectAltNames("not a certificate").empty());
}

}  // namespace
}  // namespace skewless::controlplane
