// skewless-controlplane's flags over its config file: a given flag wins, an absent one
// leaves the file's value, a bad one is refused naming the flag.
#include "skewless/controlplane/server_flags.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kYaml[] = R"(xds: {listen: 127.0.0.1:1800}
source: {kind: kubernetes, context: prod}
clusterDomain: example.org
shutdownGraceSeconds: 2.5
limits: {maxStreams: 5, maxRequestsPerSecond: 3}
tls: {certFile: /etc/cp/tls.crt, keyFile: /etc/cp/tls.key}
auth: {mode: tokenreview, tokenAudience: aud-file, readerNamespaces: [shop, web]}
lrs: {intervalSeconds: 2, maxPerEndpoint: 9}
)";

class ServerFlagsTest : public ::testing::Test {
 protected:
  ServerFlagsTest()
      : path_(std::filesystem::path(::testing::TempDir()) /
              (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
               "-cp.yaml")) {
    std::ofstream(path_) << kYaml;
    BindFlags(app_, flags_);
  }
  ~ServerFlagsTest() override { std::filesystem::remove(path_); }

  // The config the command line (after --config <the file>) makes.
  absl::StatusOr<ServerConfig> Apply(const std::string& args) {
    app_.parse("--config " + path_.string() + " " + args);
    return ApplyFlags(flags_);
  }

  std::filesystem::path path_;
  CLI::App app_;
  ServerFlags flags_;
};

TEST_F(ServerFlagsTest, AbsentFlagsLeaveTheFileValues) {
  absl::StatusOr<ServerConfig> config = Apply("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->xds_listen, "127.0.0.1:1800");
  EXPECT_EQ(config->source, SourceKind::kKubernetes);
  EXPECT_EQ(config->kube_context, "prod");
  EXPECT_EQ(config->cluster_domain, "example.org");
  EXPECT_EQ(config->shutdown_grace, std::chrono::milliseconds(2500));
  EXPECT_EQ(config->limits.max_streams, 5u);
  EXPECT_EQ(config->limits.requests_per_second, 3u);
  EXPECT_EQ(config->tls_cert_file, "/etc/cp/tls.crt");
  EXPECT_EQ(config->auth, (AuthMethods{.token_review = true}));
  EXPECT_EQ(config->token_audience, "aud-file");
  EXPECT_THAT(config->reader_namespaces, ElementsAre("shop", "web"));
  EXPECT_EQ(config->lrs.interval, std::chrono::milliseconds(2000));
  EXPECT_EQ(config->lrs.max_per_endpoint, 9u);
  // Neither in the file nor given: the default.
  EXPECT_EQ(config->http_listen, "0.0.0.0:9090");
}

TEST_F(ServerFlagsTest, GivenFlagsOverrideTheFile) {
  absl::StatusOr<ServerConfig> config = Apply(
      "--xds-listen 127.0.0.1:0 --source file --cluster-domain cluster.test "
      "--shutdown-grace 0.5 --max-streams 7 --max-requests-per-second 11 "
      "--reader-namespaces a,b,c --lrs-interval 0.25 --lrs-max-per-endpoint 3 "
      "--load-publish-interval 1 --lrs-grpc-clients --issued-cert-lifetime 1.5 "
      "--tls-refresh-interval 9 --token-audience aud --default-load-balancing random");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->xds_listen, "127.0.0.1:0");
  EXPECT_EQ(config->source, SourceKind::kFile);
  EXPECT_EQ(config->cluster_domain, "cluster.test");
  EXPECT_EQ(config->shutdown_grace, std::chrono::milliseconds(500));
  EXPECT_EQ(config->limits.max_streams, 7u);
  EXPECT_EQ(config->limits.requests_per_second, 11u);
  EXPECT_THAT(config->reader_namespaces, ElementsAre("a", "b", "c"));
  EXPECT_EQ(config->lrs.interval, std::chrono::milliseconds(250));
  EXPECT_EQ(config->lrs.max_per_endpoint, 3u);
  EXPECT_EQ(config->lrs.publish_interval, std::chrono::milliseconds(1000));
  EXPECT_TRUE(config->lrs.grpc_clients_report);
  EXPECT_EQ(config->issued_cert_lifetime, std::chrono::minutes(90));
  EXPECT_EQ(config->tls_refresh_interval, std::chrono::seconds(9));
  EXPECT_EQ(config->token_audience, "aud");
  EXPECT_EQ(config->default_load_balancing, "random");
  // The file's values that no flag names stay.
  EXPECT_EQ(config->kube_context, "prod");
  EXPECT_EQ(config->limits.max_streams_per_peer, xds::StreamLimits{}.max_streams_per_peer);
  EXPECT_EQ(config->tls_key_file, "/etc/cp/tls.key");
}

TEST_F(ServerFlagsTest, AValueThatDoesNotParseIsRefusedNamingTheFlag) {
  absl::StatusOr<ServerConfig> source = Apply("--source etcd");
  ASSERT_FALSE(source.ok());
  EXPECT_THAT(std::string(source.status().message()), StartsWith("--source: "));
}

TEST_F(ServerFlagsTest, AnUnknownAuthMethodIsRefusedNamingTheFlag) {
  absl::StatusOr<ServerConfig> auth = Apply("--auth password");
  ASSERT_FALSE(auth.ok());
  EXPECT_THAT(std::string(auth.status().message()), StartsWith("--auth: "));
}

TEST_F(ServerFlagsTest, ANonNumberIsRefusedByTheParserNamingTheFlag) {
  try {
    app_.parse("--max-streams many");
    FAIL() << "--max-streams many was accepted";
  } catch (const CLI::ParseError& error) {
    EXPECT_THAT(error.what(), HasSubstr("--max-streams"));
  }
}

TEST_F(ServerFlagsTest, TheMergedConfigIsValidated) {
  absl::StatusOr<ServerConfig> interval = Apply("--lrs-interval 0.01");
  ASSERT_FALSE(interval.ok());
  EXPECT_THAT(std::string(interval.status().message()), HasSubstr("--lrs-interval"));
}

TEST_F(ServerFlagsTest, WithoutTlsOrPlaintextTheConfigIsRefused) {
  std::ofstream(path_) << "xds: {listen: 127.0.0.1:1800}\n";
  EXPECT_FALSE(Apply("").ok());
}

TEST_F(ServerFlagsTest, PlaintextCanBeChosenByFlag) {
  std::ofstream(path_) << "xds: {listen: 127.0.0.1:1800}\n";
  absl::StatusOr<ServerConfig> config = Apply("--plaintext");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->plaintext);
}

}  // namespace
}  // namespace skewless::controlplane
