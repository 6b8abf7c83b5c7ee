// Loads deploy/ once for every test; a file that does not parse fails loudly here.
#include "deploy_fixture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "checks.h"

namespace skewless::deploy::testing {
namespace {

ManifestSet LoadOrFail(const std::filesystem::path& dir, const std::vector<std::string>& files) {
  absl::StatusOr<ManifestSet> set = LoadManifests(dir, files);
  if (!set.ok()) {
    ADD_FAILURE() << set.status();
    return ManifestSet();
  }
  return *std::move(set);
}

}  // namespace

const ManifestSet& Installed() {
  static const ManifestSet installed = LoadOrFail(kDeployDir, ManifestFiles(kDeployDir));
  return installed;
}

const ManifestSet& WithUninstall() {
  static const ManifestSet merged = Installed().Merged(
      LoadOrFail(kDeployDir / "uninstall", ManifestFiles(kDeployDir / "uninstall")));
  return merged;
}

const YAML::Node& Kustomization() {
  static const YAML::Node kustomization = [] {
    absl::StatusOr<std::vector<Document>> documents =
        LoadYamlFile(kDeployDir / "kustomization.yaml", "kustomization.yaml");
    if (!documents.ok() || documents->size() != 1) {
      ADD_FAILURE() << "kustomization.yaml: not one YAML document";
      return YAML::Node(YAML::NodeType::Undefined);
    }
    return documents->front().node;
  }();
  return kustomization;
}

std::string ClusterDomain() {
  absl::StatusOr<controlplane::ServerConfig> config = ControlPlaneConfig(Installed());
  return config.ok() ? config->cluster_domain : "cluster.local";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

YAML::Node DocumentNode(ManifestSet& set, std::string_view kind, std::string_view name) {
  for (Document& document : set.documents) {
    if (Text(At(document.node, {"kind"})) == kind &&
        Text(At(document.node, {"metadata", "name"})) == name) {
      return document.node;
    }
  }
  ADD_FAILURE() << "no " << kind << " " << name;
  return YAML::Node(YAML::NodeType::Undefined);
}

}  // namespace skewless::deploy::testing
