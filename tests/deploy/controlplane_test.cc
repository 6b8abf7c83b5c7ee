// The control plane's Deployment and the config its own parser would read.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

void SetConfig(ManifestSet& set, const std::string& text) {
  DocumentNode(set, "ConfigMap", "skewless-controlplane-config")["data"]["controlplane.yaml"] =
      text;
}

TEST(DeployControlPlane, TwoSpreadReplicasOfTheInClusterSourceWithProbesOnTheirPorts) {
  EXPECT_THAT(CheckControlPlaneDeployment(Installed()), IsEmpty());
}

TEST(DeployControlPlane, ItsConfigMapPassesTheControlPlanesOwnParser) {
  absl::StatusOr<controlplane::ServerConfig> config = ControlPlaneConfig(Installed());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, controlplane::SourceKind::kKubernetes);
  EXPECT_EQ(config->xds_listen, "0.0.0.0:18000");
}

TEST(DeployControlPlane, AConfigKeyTheParserRejectsIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetConfig(broken, "xds:\n  listen: 0.0.0.0:18000\nshutdownGrace: 5\n");
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(AllOf(HasSubstr("shutdownGrace"), HasSubstr("unknown key"))));
}

TEST(DeployControlPlane, AListenPortNoContainerPortDeclaresIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetConfig(broken,
            "xds:\n  listen: 0.0.0.0:18001\ntls:\n  caSecret: skewless-system/skewless-ca\n");
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(HasSubstr("\"xds\" is not the configured 0.0.0.0:18001")));
}

TEST(DeployControlPlane, OneReplicaIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Deployment", kControlPlane)["spec"]["replicas"] = 1;
  EXPECT_THAT(CheckControlPlaneDeployment(broken), Contains(HasSubstr("replicas is not 2")));
}

TEST(DeployControlPlane, AGraceShorterThanTheDrainIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Deployment",
               kControlPlane)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5;
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(HasSubstr("does not outlast shutdownGraceSeconds")));
}

TEST(DeployControlPlane, TheFileSourceIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Deployment",
               kControlPlane)["spec"]["template"]["spec"]["containers"][0]["args"][1] =
      "--source=file";
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(HasSubstr("not the in-cluster Kubernetes API")));
}

TEST(DeployControlPlane, ItServesTlsFromTheCaSecretWithTokensAndTheTwoWriters) {
  absl::StatusOr<controlplane::ServerConfig> config = ControlPlaneConfig(Installed());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_secret, "skewless-system/skewless-ca");
  EXPECT_EQ(config->ca_bundle_configmap, "skewless-system/skewless-ca-bundle");
  EXPECT_TRUE(config->auth.token_review);
  EXPECT_EQ(config->token_audience, "skewless-controlplane");
}

TEST(DeployControlPlane, PlaintextIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetConfig(broken,
            "xds:\n  listen: 0.0.0.0:18000\nhttp:\n  listen: 0.0.0.0:9090\n"
            "tls:\n  plaintext: true\n");
  const Problems problems = CheckControlPlaneDeployment(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("does not serve TLS from tls.caSecret")));
  EXPECT_THAT(problems, Contains(HasSubstr("auth does not include tokenreview")));
}

TEST(DeployControlPlane, NeitherTlsNorPlaintextIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetConfig(broken, "xds:\n  listen: 0.0.0.0:18000\n");
  EXPECT_THAT(CheckControlPlaneDeployment(broken), Contains(HasSubstr("--plaintext")));
}

TEST(DeployControlPlane, AMissingWriterIsCaught) {
  ManifestSet broken = Installed().Clone();
  SetConfig(broken,
            "tls: {caSecret: skewless-system/skewless-ca}\n"
            "auth: {mode: tokenreview, writerServiceAccounts: [skewless-system/skewless-agent]}\n");
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(HasSubstr("skewless-system/skewless-splicer is not a writer")));
}

TEST(DeployControlPlane, NoWritableTmpForTheIssuedCertificateIsCaught) {
  ManifestSet broken = Installed().Clone();
  YAML::Node mounts =
      DocumentNode(broken, "Deployment",
                   kControlPlane)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
  for (YAML::Node mount : mounts) {
    if (mount["mountPath"].as<std::string>() == "/tmp") mount["readOnly"] = true;
  }
  EXPECT_THAT(CheckControlPlaneDeployment(broken),
              Contains(HasSubstr("no writable volume at /tmp")));
}

}  // namespace
}  // namespace skewless::deploy
