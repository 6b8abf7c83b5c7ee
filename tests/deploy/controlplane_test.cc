// The control plane's Deployment and the config its own parser would read.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "checks.h"
#include "deploy_fixture.h"

namespace skewless::deploy {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using testing::DocumentNode;
using ::testing::HasSubstr;
using testing::Installed;
using ::testing::IsEmpty;

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
  SetConfig(broken, "xds:\n  listen: 0.0.0.0:18001\n");
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

}  // namespace
}  // namespace skewless::deploy
