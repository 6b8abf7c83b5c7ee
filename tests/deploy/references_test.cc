// What workloads, Services, budgets and quotas refer to exists and matches.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

YAML::Node PodSpec(ManifestSet& set, std::string_view kind, std::string_view name) {
  return DocumentNode(set, kind, name)["spec"]["template"]["spec"];
}

TEST(DeployReferences, WorkloadsReferToAccountsConfigMapsVolumesAndPortsThatExist) {
  EXPECT_THAT(CheckWorkloads(WithUninstall()), IsEmpty());
}

TEST(DeployReferences, ServicesSelectTheControlPlaneAndTargetItsNamedPorts) {
  EXPECT_THAT(CheckServices(Installed()), IsEmpty());
}

TEST(DeployReferences, TheDisruptionBudgetCoversTheControlPlaneWithoutBlockingDrains) {
  EXPECT_THAT(CheckDisruptionBudgets(Installed()), IsEmpty());
  EXPECT_THAT(Installed().OfKind("PodDisruptionBudget"), Not(IsEmpty()));
}

TEST(DeployReferences, NodeCriticalPodsAreAdmittedByAQuota) {
  EXPECT_THAT(CheckPriorityQuotas(WithUninstall()), IsEmpty());
}

TEST(DeployReferences, AServiceTargetPortNoContainerDeclaresIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Service", kControlPlane)["spec"]["ports"][0]["targetPort"] = "grpc";
  EXPECT_THAT(CheckServices(broken), Contains(HasSubstr("targets \"grpc\"")));
}

TEST(DeployReferences, AServiceSelectorMatchingNoPodsIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Service", kControlPlane)["spec"]["selector"]["app.kubernetes.io/name"] =
      "skewless-control-plane";
  EXPECT_THAT(CheckServices(broken), Contains(HasSubstr("matches no workload's pods")));
}

TEST(DeployReferences, AMissingServiceAccountIsCaught) {
  ManifestSet broken = Installed().Clone();
  PodSpec(broken, "Deployment", kControlPlane)["serviceAccountName"] = "controlplane";
  EXPECT_THAT(CheckWorkloads(broken), Contains(HasSubstr("serviceAccountName controlplane does "
                                                         "not exist")));
}

TEST(DeployReferences, ASelectorThatDoesNotMatchTheTemplateIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "DaemonSet",
               kAgent)["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] =
      "node-agent";
  EXPECT_THAT(CheckWorkloads(broken), Contains(HasSubstr("does not match the pod template")));
}

TEST(DeployReferences, AConfigMapKeyThatDoesNotExistIsCaught) {
  ManifestSet broken = Installed().Clone();
  PodSpec(broken, "Deployment", kControlPlane)["volumes"][0]["configMap"]["items"][0]["key"] =
      "config.yaml";
  const Problems problems = CheckWorkloads(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("uses key config.yaml")));
  EXPECT_THAT(problems, Contains(HasSubstr("--config /etc/skewless/controlplane.yaml")));
}

TEST(DeployReferences, AProbeOnAnUndeclaredPortIsCaught) {
  ManifestSet broken = Installed().Clone();
  PodSpec(broken, "DaemonSet", kAgent)["containers"][0]["readinessProbe"]["httpGet"]["port"] =
      "metrics";
  EXPECT_THAT(CheckWorkloads(broken), Contains(HasSubstr("readinessProbe port \"metrics\"")));
}

TEST(DeployReferences, ABudgetThatBlocksEveryDrainIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "PodDisruptionBudget", kControlPlane)["spec"]["minAvailable"] = 2;
  EXPECT_THAT(CheckDisruptionBudgets(broken), Contains(HasSubstr("blocks every node drain")));
}

TEST(DeployReferences, ANodeCriticalPodWithoutAQuotaIsCaught) {
  ManifestSet broken;
  for (const Document& document : Installed().documents) {
    if (Text(At(document.node, {"kind"})) != "ResourceQuota") broken.documents.push_back(document);
  }
  EXPECT_THAT(CheckPriorityQuotas(broken), Contains(HasSubstr("no ResourceQuota")));
}

}  // namespace
}  // namespace skewless::deploy
