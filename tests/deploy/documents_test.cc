// Every manifest parses, is well formed and in skewless-system; kustomize applies all.
#include <fstream>

#include "deploy_test.h"

namespace skewless::deploy {
namespace {

TEST(DeployDocuments, EveryYamlFileParsesIntoAtLeastOneDocument) {
  std::vector<std::filesystem::path> files = {"kustomization.yaml",
                                              "examples/envoy-bootstrap.yaml"};
  for (const std::string& file : ManifestFiles(kDeployDir)) files.emplace_back(file);
  for (const std::string& file : ManifestFiles(kDeployDir / "uninstall")) {
    files.push_back(std::filesystem::path("uninstall") / file);
  }
  ASSERT_GE(files.size(), 10u);
  for (const std::filesystem::path& file : files) {
    absl::StatusOr<std::vector<Document>> documents = LoadYamlFile(kDeployDir / file, file);
    ASSERT_TRUE(documents.ok()) << documents.status();
    EXPECT_THAT(*documents, Not(IsEmpty())) << file;
  }
}

TEST(DeployDocuments, ASyntaxErrorNamesTheFile) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / "skewless-deploy-broken.yaml";
  std::ofstream(path) << "kind: Service\nmetadata: {name: [unclosed\n";
  absl::StatusOr<std::vector<Document>> documents = LoadYamlFile(path, "broken.yaml");
  std::filesystem::remove(path);
  ASSERT_FALSE(documents.ok());
  EXPECT_THAT(documents.status().message(), HasSubstr("broken.yaml"));
}

TEST(DeployDocuments, EveryObjectHasKindNameNamespaceAndOurLabels) {
  ASSERT_THAT(WithUninstall().documents, Not(IsEmpty()));
  EXPECT_THAT(CheckDocuments(WithUninstall()), IsEmpty());
  EXPECT_NE(Installed().Find("Namespace", "", kNamespace), nullptr);
}

TEST(DeployDocuments, AnObjectOutsideSkewlessSystemIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "Service", kControlPlane)["metadata"]["namespace"] = "default";
  EXPECT_THAT(CheckDocuments(broken), Contains(HasSubstr("not skewless-system")));
}

TEST(DeployDocuments, AClusterScopedObjectWithANamespaceIsCaught) {
  ManifestSet broken = Installed().Clone();
  DocumentNode(broken, "ClusterRole", kControlPlane)["metadata"]["namespace"] = "skewless-system";
  EXPECT_THAT(CheckDocuments(broken), Contains(HasSubstr("cluster-scoped")));
}

TEST(DeployKustomization, ListsExactlyTheManifestFiles) {
  EXPECT_THAT(CheckKustomization(Kustomization(), ManifestFiles(kDeployDir)), IsEmpty());
}

TEST(DeployKustomization, AManifestItDoesNotListIsCaught) {
  std::vector<std::string> files = ManifestFiles(kDeployDir);
  files.push_back("agent-networkpolicy.yaml");
  EXPECT_THAT(CheckKustomization(Kustomization(), files),
              Contains(HasSubstr("misses agent-networkpolicy.yaml")));
}

TEST(DeployKustomization, AListedFileThatDoesNotExistIsCaught) {
  std::vector<std::string> files = ManifestFiles(kDeployDir);
  files.erase(std::find(files.begin(), files.end(), "agent-daemonset.yaml"));
  EXPECT_THAT(CheckKustomization(Kustomization(), files),
              Contains(HasSubstr("agent-daemonset.yaml, which do not exist")));
}

}  // namespace
}  // namespace skewless::deploy
