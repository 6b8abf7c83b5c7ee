// The checks `make test` runs on deploy/. Each returns what is wrong, one line per
// problem naming the object and the field, so that a test can assert both that the
// real manifests pass and that a copy with one thing broken does not.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "manifest_set.h"
#include "skewless/agent/agent_config.h"
#include "skewless/controlplane/server_config.h"

namespace skewless::deploy {

using Problems = std::vector<std::string>;

// document_checks.cc: every object is well formed, labelled and in our namespace; the
// kustomization lists exactly the manifest files.
Problems CheckDocuments(const ManifestSet& set);
Problems CheckKustomization(const YAML::Node& kustomization, const std::vector<std::string>& files);

// rbac_checks.cc: roles only read the three kinds the control plane watches; bindings
// name roles and service accounts that exist.
Problems CheckRoles(const ManifestSet& set);
Problems CheckBindings(const ManifestSet& set);

// reference_checks.cc: what workloads, Services, budgets and quotas refer to exists.
Problems CheckWorkloads(const ManifestSet& set);
Problems CheckServices(const ManifestSet& set);
Problems CheckDisruptionBudgets(const ManifestSet& set);
Problems CheckPriorityQuotas(const ManifestSet& set);
// The content of the file at `path` in `container`, which must be a ConfigMap key
// mounted through one of the workload's volumes.
absl::StatusOr<std::string> MountedConfigFile(const ManifestSet& set, const Workload& workload,
                                              const YAML::Node& container, std::string_view path);
// `host_port` must be a Service's DNS name (<name>.<namespace>.svc, optionally followed
// by .<cluster_domain>) and port, leading to the control plane's ADS container port.
Problems CheckXdsAddress(const ManifestSet& set, const std::string& host_port,
                         const std::string& cluster_domain, const std::string& where);

// controlplane_checks.cc: the Deployment, and its config through the real parser.
absl::StatusOr<controlplane::ServerConfig> ControlPlaneConfig(const ManifestSet& set);
Problems CheckControlPlaneDeployment(const ManifestSet& set);

// agent_checks.cc: the DaemonSet's node access, its config through the agent's own
// parser, and the uninstall DaemonSet.
Problems CheckAgentDaemonSet(const ManifestSet& set);
// The agent's --config file with the container's flags over it, as the binary reads them.
absl::StatusOr<agent::AgentConfig> AgentConfig(const ManifestSet& set);
Problems CheckAgentConfig(const ManifestSet& set, const std::string& cluster_domain);
// Needs the installed set merged with uninstall/.
Problems CheckUninstall(const ManifestSet& set);
// The agent reaches the control plane over TLS (the published CA bundle, the Service's
// name) with a projected token bound to the control plane's audience.
Problems CheckAgentControlPlaneAccess(const ManifestSet& set);

// splicer_checks.cc: the splicer's DaemonSet listens where the agent redirects, reads the
// agent's pins, carries its mark, and has the host access it needs.
Problems CheckSplicerDaemonSet(const ManifestSet& set);

// bootstrap_checks.cc: the example clients reach the control plane's Service.
Problems CheckEnvoyBootstrap(const YAML::Node& bootstrap, const ManifestSet& set,
                             const std::string& cluster_domain);
Problems CheckGrpcBootstrap(const nlohmann::json& bootstrap, const ManifestSet& set,
                            const std::string& cluster_domain);

// image_checks.cc: one image for every container, built by the Containerfile.
Problems CheckImages(const ManifestSet& set, const YAML::Node& kustomization);
Problems CheckContainerfile(const std::string& containerfile, const ManifestSet& set);

// cli_checks.cc: the command lines the manifests give our binaries.
struct Invocation {
  std::string where;       // the workload and container
  std::string program;     // skewless-controlplane, skewless-agent
  std::string subcommand;  // the first argument that is not a flag, if any
  std::vector<std::string> args;
};
std::vector<Invocation> Invocations(const ManifestSet& set);
// Every --flag of the invocation appears in `help` (the program's --help output).
Problems CheckFlagsInHelp(const Invocation& invocation, std::string_view help);
// Runs `binary [subcommand] --help` and returns what it printed.
absl::StatusOr<std::string> HelpText(const std::string& binary, const std::string& subcommand);

}  // namespace skewless::deploy
