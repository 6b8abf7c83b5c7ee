// The control plane reads Services, EndpointSlices and Nodes, creates TokenReviews, reads
// and creates its CA Secret and bundle ConfigMap by name in skewless-system, and can do
// nothing else.
#include "deploy_test.h"

namespace skewless::deploy {
namespace {

TEST(DeployRbac, TheClusterRoleGrantsExactlyReadsOfTheWatchedKinds) {
  EXPECT_THAT(CheckRoles(Installed()), IsEmpty());
}

TEST(DeployRbac, BindingsNameRolesAndServiceAccountsThatExist) {
  EXPECT_THAT(CheckBindings(Installed()), IsEmpty());
}

TEST(DeployRbac, AWriteVerbIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRole", kControlPlane)["rules"][0]["verbs"].push_back("patch");
  EXPECT_THAT(CheckRoles(broken), Contains(HasSubstr("grants \"patch\"")));
}

TEST(DeployRbac, AResourceTheControlPlaneDoesNotWatchIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRole", kControlPlane)["rules"][0]["resources"].push_back("secrets");
  EXPECT_THAT(CheckRoles(broken), Contains(HasSubstr("grants access to secrets")));
}

TEST(DeployRbac, AMissingWatchIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRole", kControlPlane)["rules"][1]["verbs"] =
      YAML::Load("[get, list]");
  EXPECT_THAT(CheckRoles(broken),
              Contains(HasSubstr("does not grant watch on endpointslices.discovery.k8s.io")));
}

TEST(DeployRbac, TokenReviewsMayOnlyBeCreated) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRole", kControlPlane)["rules"][2]["verbs"] = YAML::Load("[get]");
  const Problems problems = CheckRoles(broken);
  EXPECT_THAT(problems,
              Contains(HasSubstr("grants \"get\" on tokenreviews.authentication.k8s.io")));
  EXPECT_THAT(problems,
              Contains(HasSubstr("does not grant create on tokenreviews.authentication.k8s.io")));
}

TEST(DeployRbac, ARoleRefToAMissingClusterRoleIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRoleBinding", kControlPlane)["roleRef"]["name"] = "skewless-cp";
  const Problems problems = CheckBindings(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("\"skewless-cp\", which does not exist")));
  EXPECT_THAT(problems, Contains(HasSubstr("is bound to no ClusterRole")));
}

TEST(DeployRbac, ASubjectInTheWrongNamespaceIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRoleBinding", kControlPlane)["subjects"][0]["namespace"] = "default";
  EXPECT_THAT(CheckBindings(broken), Contains(HasSubstr("default/skewless-controlplane\" does not "
                                                        "exist")));
}

TEST(DeployRbac, SecretsAreGrantedInTheCaNamespaceAloneAndByName) {
  const Document* role = Installed().Find("Role", "skewless-system", kControlPlane);
  ASSERT_NE(role, nullptr);
  EXPECT_EQ(Strings(role->node["rules"][0]["resources"]), std::vector<std::string>{"secrets"});
  EXPECT_EQ(Strings(role->node["rules"][0]["resourceNames"]),
            std::vector<std::string>{"skewless-ca"});
}

TEST(DeployRbac, ACaRuleWithoutResourceNamesIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Role", kControlPlane)["rules"][0].remove("resourceNames");
  EXPECT_THAT(CheckRoles(broken),
              Contains(HasSubstr("grants \"get\" on every secrets of the namespace")));
}

TEST(DeployRbac, ARoleForAnotherSecretIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Role", kControlPlane)["rules"][0]["resourceNames"] =
      YAML::Load("[other-ca]");
  EXPECT_THAT(CheckRoles(broken), Contains(HasSubstr("does not grant get on secrets skewless-ca")));
}

TEST(DeployRbac, TheBundleMayBeUpdatedButTheSecretNot) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Role", kControlPlane)["rules"][0]["verbs"] = YAML::Load("[get, update]");
  EXPECT_THAT(CheckRoles(broken), Contains(HasSubstr("grants \"update\" on secrets")));
  ManifestSet no_update = Installed().Clone();
  DocumentNode(no_update, "Role", kControlPlane)["rules"][1]["verbs"] = YAML::Load("[get]");
  EXPECT_THAT(CheckRoles(no_update),
              Contains(HasSubstr("does not grant update on configmaps skewless-ca-bundle")));
}

TEST(DeployRbac, AnUnboundCaRoleIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "RoleBinding", kControlPlane)["subjects"][0]["name"] = "skewless-agent";
  const Problems problems = CheckBindings(broken);
  EXPECT_THAT(problems, Contains(HasSubstr("is bound to no Role skewless-controlplane in "
                                           "skewless-system")));
  EXPECT_THAT(problems, Contains(HasSubstr("(the agent's) is bound to a role")));
}

}  // namespace
}  // namespace skewless::deploy
