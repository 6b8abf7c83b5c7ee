// The repository's deploy/ directory as the tests see it, parsed once.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "manifest_set.h"

namespace skewless::deploy::testing {

inline const std::filesystem::path kDeployDir = SKEWLESS_DEPLOY_DIR;

// deploy/*.yaml: what `kubectl apply -k deploy/` installs.
const ManifestSet& Installed();
// Installed() plus uninstall/*.yaml, which refers to installed objects.
const ManifestSet& WithUninstall();
const YAML::Node& Kustomization();
// The control plane's clusterDomain (from its ConfigMap), for DNS names of Services.
std::string ClusterDomain();
std::string ReadFile(const std::filesystem::path& path);

// The one document of `kind` and `name` in a test's own copy, to break a field of it.
YAML::Node DocumentNode(ManifestSet& set, std::string_view kind, std::string_view name);

}  // namespace skewless::deploy::testing
