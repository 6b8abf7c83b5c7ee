// The agent's DaemonSet reaches the host (BPF, cgroup, /proc) and the control plane.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

YAML::Node AgentPod(ManifestSet& set) {
  return DocumentNode(set, "DaemonSet", kAgent)["spec"]["template"]["spec"];
}

void SetAgentConfig(ManifestSet& set, const std::string& text) {
  DocumentNode(set, "ConfigMap", "skewless-agent-config")["data"]["agent.yaml"] = text;
}

TEST(DeployAgent, TheDaemonSetHasTheHostAccessTheAgentNeeds) {
  EXPECT_THAT(CheckAgentDaemonSet(Installed()), IsEmpty());
}

TEST(DeployAgent, ItsConfigUsesAgentFlagsAndReachesTheControlPlane) {
  EXPECT_THAT(CheckAgentConfig(Installed(), ClusterDomain()), IsEmpty());
  absl::StatusOr<agent::AgentConfig> config = AgentConfig(Installed());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cgroup, "/run/skewless/cgroupv2");
  EXPECT_EQ(config->xds_servers.size(), 2u);
}

TEST(DeployAgent, TheUninstallDaemonSetCleansWhatTheAgentPinned) {
  EXPECT_THAT(CheckUninstall(WithUninstall()), IsEmpty());
}

TEST(DeployAgent, NodeNameNotFromTheDownwardApiIsCaught) {
  ManifestSet broken = Installed().Clone();
  AgentPod(broken)["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] =
      "metadata.name";
  EXPECT_THAT(CheckAgentDaemonSet(broken), Contains(HasSubstr("NODE_NAME")));
}

TEST(DeployAgent, ACgroupFlagAwayFromTheHostMountIsCaught) {
  ManifestSet broken = Installed().Clone();
  AgentPod(broken)["containers"][0]["args"][1] = "--cgroup=/sys/fs/cgroup";
  EXPECT_THAT(CheckAgentDaemonSet(broken), Contains(HasSubstr("--cgroup \"/sys/fs/cgroup\"")));
}

TEST(DeployAgent, LosingHostNetworkOrPrivilegeIsCaught) {
  ManifestSet broken = Installed().Clone();
  AgentPod(broken)["hostNetwork"] = false;
  AgentPod(broken)["containers"][0]["securityContext"]["privileged"] = false;
  const Problems problems = CheckAgentDaemonSet(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("not hostNetwork")));
  EXPECT_THAT(problems, Contains(HasSubstr("not privileged")));
}

TEST(DeployAgent, ABpffsMountWithoutBidirectionalPropagationIsCaught) {
  ManifestSet broken = Installed().Clone();
  AgentPod(broken)["containers"][0]["volumeMounts"][0]["mountPropagation"] = "HostToContainer";
  EXPECT_THAT(CheckAgentDaemonSet(broken), Contains(HasSubstr("Bidirectional")));
}

TEST(DeployAgent, AConfigKeyTheAgentsParserRejectsIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetAgentConfig(broken, "xds_protocol: delta\nxds-server: x.skewless-system.svc:18000\n");
  EXPECT_THAT(CheckAgentConfig(broken, ClusterDomain()),
              Contains(AllOf(HasSubstr("xds-server"), HasSubstr("unknown key"))));
}

TEST(DeployAgent, ANodeNameSharedByEveryNodeIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetAgentConfig(broken, "node_name: node-1\n");
  EXPECT_THAT(CheckAgentConfig(broken, ClusterDomain()),
              Contains(HasSubstr("the same on every node")));
}

TEST(DeployAgent, AnXdsServerThatIsNotTheControlPlaneIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetAgentConfig(broken, "xds_server: [skewless-controlplane.kube-system.svc:18000]\n");
  EXPECT_THAT(CheckAgentConfig(broken, ClusterDomain()),
              Contains(HasSubstr("Service kube-system/skewless-controlplane does not exist")));
  SetAgentConfig(broken, "xds_server: [skewless-controlplane.skewless-system.svc:9090]\n");
  EXPECT_THAT(CheckAgentConfig(broken, ClusterDomain()),
              Contains(HasSubstr("does not lead to the control plane's xds port")));
}

TEST(DeployAgent, AProbeAwayFromHttpListenIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetAgentConfig(broken, "http_listen: 0.0.0.0:9095\n");
  EXPECT_THAT(CheckAgentDaemonSet(broken), Contains(HasSubstr("http_listen 0.0.0.0:9095")));
}

TEST(DeployAgent, ItReachesTheControlPlaneOverTlsWithATokenForItsAudience) {
  EXPECT_THAT(CheckAgentControlPlaneAccess(Installed()), IsEmpty());
  absl::StatusOr<agent::AgentConfig> config = AgentConfig(Installed());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->controlplane_ca_file, "/etc/skewless/ca/ca.crt");
  EXPECT_EQ(config->token_file, "/var/run/secrets/skewless/token/token");
}

TEST(DeployAgent, AnAgentOnPlaintextIsCaught) {
  ManifestSet broken = Installed().Clone();
  AgentPod(broken)["containers"][0]["args"].push_back("--plaintext");
  EXPECT_THAT(CheckAgentControlPlaneAccess(broken), Contains(HasSubstr("--plaintext")));
}

TEST(DeployAgent, ATokenForAnotherAudienceIsCaught) {
  ManifestSet broken = Installed().Clone();
  for (YAML::Node volume : AgentPod(broken)["volumes"]) {
    if (volume["name"].as<std::string>() == "controlplane-token") {
      volume["projected"]["sources"][0]["serviceAccountToken"]["audience"] = "vault";
    }
  }
  EXPECT_THAT(CheckAgentControlPlaneAccess(broken),
              Contains(AllOf(HasSubstr("\"vault\""), HasSubstr("\"skewless-controlplane\""))));
}

TEST(DeployAgent, AControlPlaneReviewingForAnotherAudienceIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Deployment",
               kControlPlane)["spec"]["template"]["spec"]["containers"][0]["args"]
      .push_back("--token-audience=skewless-xds");
  EXPECT_THAT(CheckAgentControlPlaneAccess(broken),
              Contains(HasSubstr("control plane's token audience \"skewless-xds\"")));
}

TEST(DeployAgent, ACaBundleFromAnotherConfigMapIsCaught) {
  ManifestSet broken = Installed().Clone();
  for (YAML::Node volume : AgentPod(broken)["volumes"]) {
    if (volume["name"].as<std::string>() == "controlplane-ca") {
      volume["configMap"]["name"] = "kube-root-ca.crt";
    }
  }
  EXPECT_THAT(CheckAgentControlPlaneAccess(broken),
              Contains(AllOf(HasSubstr("skewless-ca-bundle"), HasSubstr("kube-root-ca.crt"))));
}

TEST(DeployAgent, AnUninstallOfAnotherPinDirIsCaught) {
  ManifestSet broken = WithUninstall().Clone();
  SetAgentConfig(broken, "pin_dir: /sys/fs/bpf/skewless-v2\n");
  EXPECT_THAT(CheckUninstall(broken), Contains(HasSubstr("is not the agent's")));
}

}  // namespace
}  // namespace skewless::deploy
