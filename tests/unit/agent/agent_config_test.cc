// The agent's YAML config and its validation: errors name the field.
#include "skewless/agent/agent_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skewless::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AgentConfig, ParsesEveryKey) {
  absl::StatusOr<AgentConfig> config = ParseAgentConfigYaml(R"(
xds_server: [cp-0:18000, cp-1:18000]
xds_protocol: sotw
node_name: node-1
zone: zone-a
cgroup: /run/skewless/cgroupv2
pin_dir: /sys/fs/bpf/skw
http_listen: 127.0.0.1:9191
log_level: debug
log_format: json
slow_start_window_seconds: 2.5
splicer_address: 10.0.0.5:15001
splicer_mark: 7
uninstall_on_stop: true
controlplane_ca_file: /etc/skewless/ca/ca.crt
controlplane_server_name: skewless-controlplane.skewless-system.svc
token_file: /var/run/secrets/skewless/token/token
tls_client_cert_file: /etc/skewless/client/tls.crt
tls_client_key_file: /etc/skewless/client/tls.key
)",
                                                            "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->xds_servers, ElementsAre("cp-0:18000", "cp-1:18000"));
  EXPECT_EQ(config->xds_protocol, AdsProtocol::kStateOfTheWorld);
  EXPECT_EQ(config->node_name, "node-1");
  EXPECT_EQ(config->zone, "zone-a");
  EXPECT_EQ(config->cgroup, "/run/skewless/cgroupv2");
  EXPECT_EQ(config->pin_dir, "/sys/fs/bpf/skw");
  EXPECT_EQ(config->http_listen, "127.0.0.1:9191");
  EXPECT_EQ(config->slow_start_window.count(), 2500);
  EXPECT_TRUE(config->uninstall_on_stop);
  EXPECT_EQ(config->splicer_address, "10.0.0.5:15001");
  EXPECT_EQ(config->splicer_mark, 7u);
  EXPECT_EQ(config->controlplane_ca_file, "/etc/skewless/ca/ca.crt");
  EXPECT_EQ(config->controlplane_server_name, "skewless-controlplane.skewless-system.svc");
  EXPECT_EQ(config->token_file, "/var/run/secrets/skewless/token/token");
  EXPECT_EQ(config->tls_client_cert_file, "/etc/skewless/client/tls.crt");
  EXPECT_EQ(config->tls_client_key_file, "/etc/skewless/client/tls.key");
  EXPECT_FALSE(config->plaintext);
  EXPECT_TRUE(ValidateAgentConfig(*config).ok());
  const std::optional<h2::TlsClientOptions> tls = ControlPlaneTls(*config);
  ASSERT_TRUE(tls.has_value());
  EXPECT_EQ(tls->ca_file, "/etc/skewless/ca/ca.crt");
  EXPECT_EQ(tls->server_name, "skewless-controlplane.skewless-system.svc");
  EXPECT_EQ(tls->client_key_file, "/etc/skewless/client/tls.key");

  absl::StatusOr<AgentConfig> plain =
      ParseAgentConfigYaml("node_name: n\nplaintext: true\n", "agent.yaml");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->plaintext);
  EXPECT_FALSE(ControlPlaneTls(*plain).has_value());
  EXPECT_THAT(
      std::string(ParseAgentConfigYaml("plaintext: maybe\n", "agent.yaml").status().message()),
      HasSubstr("plaintext: expected true or false"));
}

TEST(AgentConfig, WithoutACaFileOrPlaintextTheAgentRefusesNamingBoth) {
  AgentConfig config;
  config.node_name = "node-1";
  const std::string message(ValidateAgentConfig(config).message());
  EXPECT_THAT(message, HasSubstr("--controlplane-ca-file"));
  EXPECT_THAT(message, HasSubstr("--plaintext"));
  config.plaintext = true;
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
}

TEST(AgentConfig, PlaintextExcludesEveryTlsSettingAndTheToken) {
  for (std::string AgentConfig::*field :
       {&AgentConfig::controlplane_ca_file, &AgentConfig::controlplane_server_name,
        &AgentConfig::tls_client_cert_file, &AgentConfig::tls_client_key_file,
        &AgentConfig::token_file}) {
    AgentConfig config;
    config.node_name = "node-1";
    config.plaintext = true;
    config.*field = "x";
    EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("plaintext"));
  }
}

TEST(AgentConfig, AClientCertificateNeedsItsKey) {
  AgentConfig config;
  config.node_name = "node-1";
  config.controlplane_ca_file = "/ca.crt";
  config.tls_client_cert_file = "/tls.crt";
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("tls_client_key_file"));
  config.tls_client_key_file = "/tls.key";
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
}

TEST(AgentConfig, AnEmptyDocumentKeepsTheDefaults) {
  absl::StatusOr<AgentConfig> config = ParseAgentConfigYaml("", "agent.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(config->xds_servers, ElementsAre(kDefaultXdsServer));
  EXPECT_EQ(config->xds_protocol, AdsProtocol::kDelta);
  EXPECT_EQ(config->pin_dir, "/sys/fs/bpf/skewless");
  EXPECT_FALSE(config->zone.has_value());
  EXPECT_EQ(config->splicer_address, "") << "no splicer unless one is named";
  EXPECT_EQ(config->splicer_mark, kDefaultSplicerMark);
  EXPECT_TRUE(config->load_reporting);
  EXPECT_EQ(config->cluster_load_max_age, std::chrono::seconds(10));
}

TEST(AgentConfig, LoadReportingAndTheClusterLoadMaxAgeAreKeys) {
  auto config = ParseAgentConfigYaml("load_reporting: false\ncluster_load_max_age_seconds: 2.5\n",
                                     "agent.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->load_reporting);
  EXPECT_EQ(config->cluster_load_max_age, std::chrono::milliseconds(2500));
  EXPECT_THAT(
      std::string(ParseAgentConfigYaml("load_reporting: often\n", "agent.yaml").status().message()),
      HasSubstr("agent.yaml:1:1: load_reporting: expected true or false"));
  EXPECT_THAT(std::string(ParseAgentConfigYaml("cluster_load_max_age_seconds: -1\n", "agent.yaml")
                              .status()
                              .message()),
              HasSubstr("cluster_load_max_age_seconds: expected 0-3600 seconds"));
}

TEST(AgentConfig, ErrorsNameTheFileLineAndKey) {
  auto typo = ParseAgentConfigYaml("node_name: n\nxds_sever: cp:18000\n", "agent.yaml");
  EXPECT_THAT(std::string(typo.status().message()),
              HasSubstr("agent.yaml:2:1: xds_sever: unknown key"));
  auto protocol = ParseAgentConfigYaml("xds_protocol: grpc\n", "agent.yaml");
  EXPECT_THAT(std::string(protocol.status().message()), HasSubstr("xds_protocol"));
  auto syntax = ParseAgentConfigYaml("node_name: [\n", "agent.yaml");
  EXPECT_THAT(std::string(syntax.status().message()), HasSubstr("not valid YAML"));
}

TEST(AgentConfig, ValidationNamesTheField) {
  AgentConfig config;
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("node_name"));
  config.node_name = "node-1";
  config.plaintext = true;
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
  config.xds_servers = {"cp-without-port"};
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("xds_server"));
  config.xds_servers = {"cp:18000"};
  config.pin_dir = "relative";
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("pin_dir"));
  config.pin_dir = "/sys/fs/bpf/skewless";
  config.log_level = "loud";
  EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("log_level"));
  config.log_level = "info";
  for (const char* bad : {"node-ip:15001", "10.0.0.5", "10.0.0.5:0"}) {
    config.splicer_address = bad;
    EXPECT_THAT(std::string(ValidateAgentConfig(config).message()), HasSubstr("splicer_address"))
        << bad;
  }
  config.splicer_address = "[fd00::5]:15001";
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
}

}  // namespace
}  // namespace skewless::agent
