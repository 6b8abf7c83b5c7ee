// skewless-agent's flags over its config file: a given flag wins, an absent one leaves the
// file's value, a bad one is refused naming the flag.
#include "skewless/agent/agent_flags.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kYaml[] = R"(xds_server: [cp-file:18000]
xds_protocol: sotw
node_name: node-from-file
zone: zone-file
pin_dir: /sys/fs/bpf/from-file
http_listen: 127.0.0.1:9191
slow_start_window_seconds: 2.5
splicer_mark: 7
plaintext: true
load_reporting: true
cluster_load_max_age_seconds: 30
)";

class AgentFlagsTest : public ::testing::Test {
 protected:
  AgentFlagsTest()
      : path_(std::filesystem::path(::testing::TempDir()) /
              (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
               "-agent.yaml")) {
    std::ofstream(path_) << kYaml;
    BindFlags(app_, flags_);
  }
  ~AgentFlagsTest() override { std::filesystem::remove(path_); }

  // The config the command line (after --config <the file>) makes.
  absl::StatusOr<AgentConfig> Apply(const std::string& args) {
    app_.parse("--config " + path_.string() + " " + args);
    return ApplyFlags(flags_);
  }

  std::filesystem::path path_;
  CLI::App app_;
  AgentFlags flags_;
};

TEST_F(AgentFlagsTest, AbsentFlagsLeaveTheFileValues) {
  absl::StatusOr<AgentConfig> config = Apply("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->xds_servers, ElementsAre("cp-file:18000"));
  EXPECT_EQ(config->xds_protocol, AdsProtocol::kStateOfTheWorld);
  EXPECT_EQ(config->node_name, "node-from-file");
  EXPECT_EQ(config->zone, "zone-file");
  EXPECT_EQ(config->pin_dir, "/sys/fs/bpf/from-file");
  EXPECT_EQ(config->slow_start_window.count(), 2500);
  EXPECT_EQ(config->splicer_mark, 7u);
  EXPECT_TRUE(config->plaintext);
  EXPECT_TRUE(config->load_reporting);
  EXPECT_EQ(config->cluster_load_max_age.count(), 30000);
  // Neither in the file nor given: the default.
  EXPECT_EQ(config->log_level, "info");
}

TEST_F(AgentFlagsTest, GivenFlagsOverrideTheFile) {
  absl::StatusOr<AgentConfig> config = Apply(
      "--xds-server cp-a:1 --xds-server cp-b:2 --xds-protocol delta --node-name node-flag "
      "--zone zone-flag --pin-dir /sys/fs/bpf/flag --slow-start-window 0.5 --splicer-mark 0x10 "
      "--no-load-reporting --cluster-load-max-age 0 --load-report-change-interval 1.5 "
      "--log-level debug --uninstall-on-stop");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->xds_servers, ElementsAre("cp-a:1", "cp-b:2"));
  EXPECT_EQ(config->xds_protocol, AdsProtocol::kDelta);
  EXPECT_EQ(config->node_name, "node-flag");
  EXPECT_EQ(config->zone, "zone-flag");
  EXPECT_EQ(config->pin_dir, "/sys/fs/bpf/flag");
  EXPECT_EQ(config->slow_start_window.count(), 500);
  EXPECT_EQ(config->splicer_mark, 0x10u);
  EXPECT_FALSE(config->load_reporting);
  EXPECT_EQ(config->cluster_load_max_age.count(), 0);
  EXPECT_EQ(config->load_report_change_interval.count(), 1500);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_TRUE(config->uninstall_on_stop);
  // The file's values that no flag names stay.
  EXPECT_EQ(config->http_listen, "127.0.0.1:9191");
}

TEST_F(AgentFlagsTest, AnExplicitFalseOverridesTheFilesTrue) {
  absl::StatusOr<AgentConfig> config =
      Apply("--plaintext=false --controlplane-ca-file /etc/ca.crt --load-reporting=false");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->plaintext);
  EXPECT_EQ(config->controlplane_ca_file, "/etc/ca.crt");
  EXPECT_FALSE(config->load_reporting);
}

TEST_F(AgentFlagsTest, SecurityFlagsLandInTheirFields) {
  absl::StatusOr<AgentConfig> config = Apply(
      "--plaintext=false --controlplane-ca-file /ca.crt --controlplane-server-name cp.svc "
      "--token-file /token --tls-client-cert-file /tls.crt --tls-client-key-file /tls.key");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->controlplane_ca_file, "/ca.crt");
  EXPECT_EQ(config->controlplane_server_name, "cp.svc");
  EXPECT_EQ(config->token_file, "/token");
  EXPECT_EQ(config->tls_client_cert_file, "/tls.crt");
  EXPECT_EQ(config->tls_client_key_file, "/tls.key");
}

TEST_F(AgentFlagsTest, NodeNameComesFromTheEnvironmentWhenNotGiven) {
  setenv("NODE_NAME", "node-from-env", 1);
  absl::StatusOr<AgentConfig> config = Apply("");
  unsetenv("NODE_NAME");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->node_name, "node-from-env");
}

TEST_F(AgentFlagsTest, AValueThatDoesNotParseIsRefusedNamingTheFlag) {
  absl::StatusOr<AgentConfig> protocol = Apply("--xds-protocol grpc");
  ASSERT_FALSE(protocol.ok());
  EXPECT_THAT(std::string(protocol.status().message()), StartsWith("--xds-protocol: "));
}

TEST_F(AgentFlagsTest, ASecondsValueOutOfRangeIsRefusedNamingTheFlag) {
  absl::StatusOr<AgentConfig> window = Apply("--slow-start-window 3601");
  ASSERT_FALSE(window.ok());
  EXPECT_EQ(window.status().message(), "--slow-start-window: expected 0-3600 seconds");
}

TEST_F(AgentFlagsTest, ANonNumberIsRefusedByTheParserNamingTheFlag) {
  try {
    app_.parse("--splicer-mark lots");
    FAIL() << "--splicer-mark lots was accepted";
  } catch (const CLI::ParseError& error) {
    EXPECT_THAT(error.what(), HasSubstr("--splicer-mark"));
  }
}

TEST_F(AgentFlagsTest, TheMergedConfigIsValidated) {
  absl::StatusOr<AgentConfig> config = Apply("--http-listen no-port");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("http_listen"));
}

TEST_F(AgentFlagsTest, SubcommandsReadTheFlagsWithoutTheFile) {
  app_.parse("--config " + path_.string() + " --cgroup /sys/fs/cgroup/test --xds-protocol bad");
  const AgentConfig given = FlagsOverDefaults(flags_);
  EXPECT_EQ(given.cgroup, "/sys/fs/cgroup/test");
  EXPECT_EQ(given.pin_dir, "/sys/fs/bpf/skewless");  // the default, not the file's
}

}  // namespace
}  // namespace skewless::agent
