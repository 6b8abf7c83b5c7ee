// `skewlessctl xds` against the real skewless-controlplane (file source, loopback, any
// free port), in plaintext and over TLS: it lists the clusters and endpoints the control
// plane serves to agents.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "run_tool.h"
#include "skewless/lab/subprocess.h"
#include "test_pki.h"

namespace skewless::ctl {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kServices[] = R"(nodes:
  - {name: node-a, zone: zone-a}
  - {name: node-b, zone: zone-b}
services:
  - namespace: shop
    name: cart
    clusterIPs: [198.19.9.10]
    trafficDistribution: PreferClose
    ports:
      - {name: grpc, port: 80, targetPort: 8080, appProtocol: grpc}
  - namespace: shop
    name: dns
    clusterIPs: [198.19.9.53]
    ports:
      - {name: dns, port: 53, targetPort: 8053, protocol: UDP}
endpointSlices:
  - namespace: shop
    service: cart
    endpoints:
      - {address: 10.0.0.2, nodeName: node-a}
      - {address: 10.0.1.2, nodeName: node-b, weight: 200}
      - {address: 10.0.1.3, nodeName: node-b, conditions: {ready: false, terminating: true, serving: true}}
  - namespace: shop
    service: dns
    endpoints: []
)";

class CtlXdsCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("skewlessctl-xds-", getpid());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "services.yaml") << kServices;
    std::vector<std::string> argv = {std::string(SKEWLESS_BIN_DIR) + "/skewless-controlplane",
                                     "--file",
                                     (dir_ / "services.yaml").string(),
                                     "--xds-listen",
                                     "127.0.0.1:0",
                                     "--http-listen",
                                     "127.0.0.1:0"};
    const std::vector<std::string> security = ServerSecurity();
    argv.insert(argv.end(), security.begin(), security.end());
    absl::StatusOr<lab::Child> control_plane =
        lab::Child::Spawn({.argv = argv, .log_path = (dir_ / "controlplane.log").string()});
    ASSERT_TRUE(control_plane.ok()) << control_plane.status();
    control_plane_.emplace(*std::move(control_plane));
    // It logs the bound address once serving: msg="control plane serving" xds=127.0.0.1:N
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      const std::string log = control_plane_->LogTail();
      const std::size_t at = log.find("control plane serving");
      const std::size_t xds = log.find("xds=", at == std::string::npos ? log.size() : at);
      if (xds != std::string::npos) {
        server_ = log.substr(xds + 4, log.find(' ', xds) - xds - 4);
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "control plane did not start:\n"
                                                            << log;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void TearDown() override {
    if (control_plane_) {
      control_plane_->Signal(SIGTERM);
      absl::StatusOr<int> code = control_plane_->Wait(std::chrono::seconds(10));
      EXPECT_TRUE(code.ok() && *code == 0) << control_plane_->LogTail();
    }
    std::filesystem::remove_all(dir_);
  }

  // How the control plane serves ADS, and how skewlessctl is told to reach it.
  virtual std::vector<std::string> ServerSecurity() { return {"--plaintext"}; }
  virtual std::vector<std::string> ClientSecurity() { return {"--plaintext"}; }

  testing::ToolRun Xds(std::vector<std::string> args, bool with_security = true) {
    std::vector<std::string> argv = {std::string(SKEWLESS_BIN_DIR) + "/skewlessctl", "xds",
                                     "--server", server_};
    if (with_security) {
      const std::vector<std::string> security = ClientSecurity();
      argv.insert(argv.end(), security.begin(), security.end());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunTool(argv);
  }

  std::filesystem::path dir_;
  std::optional<lab::Child> control_plane_;
  std::string server_;
};

TEST_F(CtlXdsCommand, JsonListsClustersWithTheirMetadataAndEndpoints) {
  const testing::ToolRun run = Xds({"--node-id", "node-a", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Json json = Json::parse(run.out);
  EXPECT_EQ(json["control_plane"], "skewless-controlplane");
  EXPECT_EQ(json["node"]["known"], true);
  EXPECT_EQ(json["node"]["zone"], "zone-a");
  ASSERT_EQ(json["clusters"].size(), 2u);
  const Json& cart = json["clusters"][0];
  EXPECT_EQ(cart["name"], "shop/cart:grpc");
  EXPECT_EQ(cart["cluster_ips"], Json::array({"198.19.9.10"}));
  EXPECT_EQ(cart["port"], 80);
  EXPECT_EQ(cart["protocol"], "TCP");
  EXPECT_EQ(cart["app_protocol"], "grpc");
  EXPECT_EQ(cart["trafficDistribution"], "PreferClose");
  EXPECT_EQ(cart["endpoints_received"], true);
  ASSERT_EQ(cart["endpoints"].size(), 3u);
  EXPECT_EQ(cart["endpoints"][0]["address"], "10.0.0.2");
  EXPECT_EQ(cart["endpoints"][0]["zone"], "zone-a");
  EXPECT_EQ(cart["endpoints"][0]["node_name"], "node-a");
  EXPECT_EQ(cart["endpoints"][0]["health"], "HEALTHY");
  EXPECT_EQ(cart["endpoints"][1]["weight"], 200);
  // Agents get every endpoint with its health, terminating ones as DRAINING.
  EXPECT_EQ(cart["endpoints"][2]["health"], "DRAINING");
  const Json& dns = json["clusters"][1];
  EXPECT_EQ(dns["protocol"], "UDP");
  EXPECT_EQ(dns["endpoints_received"], true);
  EXPECT_TRUE(dns["endpoints"].empty());
}

TEST_F(CtlXdsCommand, TableAndAnUnknownNode) {
  const testing::ToolRun run = Xds({"--node-id", "node-x"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, AllOf(HasSubstr("node node-x: the control plane knows no Node"),
                             HasSubstr("clusters: 2"), HasSubstr("shop/cart:grpc  198.19.9.10"),
                             HasSubstr("10.0.1.3:8080  zone-b  node-b  DRAINING")));
}

TEST_F(CtlXdsCommand, NeitherACaFileNorPlaintextIsAUsageErrorNamingBoth) {
  const testing::ToolRun run = Xds({"--node-id", "node-a"}, /*with_security=*/false);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, AllOf(HasSubstr("--ca-file"), HasSubstr("--plaintext")));
}

// The control plane serving TLS with a certificate of a throwaway CA (IP SAN 127.0.0.1).
class CtlXdsCommandTls : public CtlXdsCommand {
 protected:
  std::vector<std::string> ServerSecurity() override {
    absl::StatusOr<skewless::testing::TestPki> pki = skewless::testing::MakeTestPki();
    EXPECT_TRUE(pki.ok()) << pki.status();
    std::ofstream(dir_ / "tls.crt") << pki->server_cert_pem;
    std::ofstream(dir_ / "tls.key") << pki->server_key_pem;
    std::ofstream(dir_ / "ca.crt") << pki->ca_cert_pem;
    std::ofstream(dir_ / "token") << "a-token\n";
    return {"--tls-cert-file", (dir_ / "tls.crt").string(), "--tls-key-file",
            (dir_ / "tls.key").string()};
  }
  std::vector<std::string> ClientSecurity() override {
    return {"--ca-file", (dir_ / "ca.crt").string()};
  }
};

TEST_F(CtlXdsCommandTls, ACaFileReachesATlsControlPlaneAndATokenFileIsSent) {
  const testing::ToolRun run =
      Xds({"--node-id", "node-a", "--token-file", (dir_ / "token").string(), "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Json::parse(run.out)["clusters"].size(), 2u);
  const testing::ToolRun named = Xds({"--node-id", "node-a", "--server-name", "localhost"});
  EXPECT_EQ(named.exit_code, 0) << named.err;
}

TEST_F(CtlXdsCommandTls, PlaintextToATlsControlPlaneGetsNothingAndAMissingTokenIsNamed) {
  const testing::ToolRun plaintext =
      Xds({"--node-id", "node-a", "--plaintext", "--timeout", "1"}, /*with_security=*/false);
  EXPECT_EQ(plaintext.exit_code, 1);
  const testing::ToolRun no_token =
      Xds({"--node-id", "node-a", "--token-file", (dir_ / "no-token").string()});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, AllOf(HasSubstr("--token-file"), HasSubstr("no-token")));
}

TEST(CtlXdsCommandNoServer, NoServerIsARuntimeErrorNamingIt) {
  const testing::ToolRun run =
      testing::RunTool({std::string(SKEWLESS_BIN_DIR) + "/skewlessctl", "xds", "--server",
                        "127.0.0.1:1", "--plaintext", "--timeout", "2"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, AllOf(HasSubstr("no clusters from the ADS server at 127.0.0.1:1"),
                             HasSubstr("is skewless-controlplane running there?")));
}

}  // namespace
}  // namespace skewless::ctl
