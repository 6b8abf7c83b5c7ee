// The control plane's Deployment, and the config it would start with, read by its own
// parser (a key the binary rejects would crash-loop both replicas).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

using controlplane::ServerConfig;

// Replicas must land on different nodes: some anti-affinity or spread term keyed on the
// hostname must select the Deployment's own pods.
bool SpreadsOverNodes(const Workload& workload) {
  auto selects_own_pods = [&](const YAML::Node& term) {
    return At(term, {"topologyKey"}).IsDefined() &&
           Text(At(term, {"topologyKey"})) == "kubernetes.io/hostname" &&
           Selects(StringMap(At(term, {"labelSelector", "matchLabels"})), workload.pod_labels);
  };
  const YAML::Node anti_affinity = At(workload.pod, {"affinity", "podAntiAffinity"});
  for (const YAML::Node& term :
       Items(At(anti_affinity, {"requiredDuringSchedulingIgnoredDuringExecution"}))) {
    if (selects_own_pods(term)) return true;
  }
  for (const YAML::Node& weighted :
       Items(At(anti_affinity, {"preferredDuringSchedulingIgnoredDuringExecution"}))) {
    if (selects_own_pods(At(weighted, {"podAffinityTerm"}))) return true;
  }
  for (const YAML::Node& constraint : Items(At(workload.pod, {"topologySpreadConstraints"}))) {
    if (selects_own_pods(constraint)) return true;
  }
  return false;
}

bool RunsAsNonRoot(const Workload& workload, const YAML::Node& container) {
  return IsTrue(At(container, {"securityContext", "runAsNonRoot"})) ||
         IsTrue(At(workload.pod, {"securityContext", "runAsNonRoot"}));
}

void CheckProbe(const YAML::Node& container, const char* probe, const char* path, long http_port,
                const std::string& where, Problems& problems) {
  const YAML::Node http = At(container, {probe, "httpGet"});
  if (Text(At(http, {"path"})) != path ||
      ResolvePort(At(http, {"port"}), NamedPorts(container)) != http_port) {
    problems.push_back(absl::StrCat(where, ": ", probe, " is not GET ", path, " on port ",
                                    http_port, " (http.listen)"));
  }
}

// Who may talk to the control plane (docs/deploy.md): TLS from the CA Secret, tokens
// reviewed, and the agent and the splicer the only writers.
void CheckTransport(const ManifestSet& set, const ServerConfig& config, const YAML::Node& container,
                    const std::string& where, Problems& problems) {
  if (config.plaintext || config.ca_secret.empty()) {
    problems.push_back(absl::StrCat(where, ": ADS does not serve TLS from tls.caSecret"));
  }
  if (!config.auth.token_review) {
    problems.push_back(absl::StrCat(where, ": auth does not include tokenreview"));
  }
  for (const char* writer : {"skewless-agent", "skewless-splicer"}) {
    const std::string account = absl::StrCat("skewless-system/", writer);
    if (std::find(config.writer_service_accounts.begin(), config.writer_service_accounts.end(),
                  account) == config.writer_service_accounts.end()) {
      problems.push_back(absl::StrCat(where, ": ", account, " is not a writer service account"));
    } else if (set.Find("ServiceAccount", "skewless-system", writer) == nullptr) {
      problems.push_back(absl::StrCat(where, ": writer ", account, " does not exist"));
    }
  }
  // The issued certificate is written under /tmp; the root filesystem is read-only.
  if (!config.ca_secret.empty()) {
    bool writable_tmp = false;
    for (const YAML::Node& mount : Items(At(container, {"volumeMounts"}))) {
      writable_tmp |= Text(At(mount, {"mountPath"})) == "/tmp" && !IsTrue(At(mount, {"readOnly"}));
    }
    if (!writable_tmp) {
      problems.push_back(absl::StrCat(
          where, ": no writable volume at /tmp for the certificate issued from tls.caSecret"));
    }
  }
}

}  // namespace

absl::StatusOr<ServerConfig> ControlPlaneConfig(const ManifestSet& set) {
  const std::optional<Workload> deployment = set.FindWorkload("Deployment", kControlPlane);
  if (!deployment) return absl::NotFoundError(absl::StrCat("no Deployment ", kControlPlane));
  const std::optional<YAML::Node> container = ContainerRunning(*deployment, kControlPlane);
  if (!container) {
    return absl::NotFoundError(
        absl::StrCat("no container of Deployment ", kControlPlane, " runs ", kControlPlane));
  }
  const std::vector<std::string> args = Strings(At(*container, {"args"}));
  const std::optional<std::string> path = FlagValue(args, "--config");
  if (!path) return absl::NotFoundError(absl::StrCat(kControlPlane, " has no --config"));
  absl::StatusOr<std::string> text = MountedConfigFile(set, *deployment, *container, *path);
  if (!text.ok()) return text.status();
  absl::StatusOr<ServerConfig> config = controlplane::ParseServerConfigYaml(*text, *path);
  if (!config.ok()) return config.status();
  // Flags override the file, as in the binary; these are the ones the checks read.
  if (std::optional<std::string> source = FlagValue(args, "--source")) {
    absl::StatusOr<controlplane::SourceKind> kind = controlplane::ParseSourceKind(*source);
    if (!kind.ok()) return kind.status();
    config->source = *kind;
  }
  if (std::optional<std::string> listen = FlagValue(args, "--xds-listen")) {
    config->xds_listen = *listen;
  }
  if (std::optional<std::string> listen = FlagValue(args, "--http-listen")) {
    config->http_listen = *listen;
  }
  if (std::optional<std::string> domain = FlagValue(args, "--cluster-domain")) {
    config->cluster_domain = *domain;
  }
  if (std::optional<std::string> secret = FlagValue(args, "--ca-secret")) {
    config->ca_secret = *secret;
  }
  if (std::find(args.begin(), args.end(), "--plaintext") != args.end()) config->plaintext = true;
  if (std::optional<std::string> audience = FlagValue(args, "--token-audience")) {
    config->token_audience = *audience;
  }
  if (absl::Status valid = controlplane::ValidateServerConfig(*config); !valid.ok()) return valid;
  if (absl::Status chosen = controlplane::ValidateTransportChosen(*config); !chosen.ok()) {
    return chosen;
  }
  return config;
}

Problems CheckControlPlaneDeployment(const ManifestSet& set) {
  const std::optional<Workload> deployment = set.FindWorkload("Deployment", kControlPlane);
  if (!deployment) return {absl::StrCat("no Deployment ", kControlPlane)};
  const std::string where = Describe(*deployment->document);
  Problems problems;
  // Two: one to serve while the other restarts, moves or is drained.
  if (Integer(At(deployment->document->node, {"spec", "replicas"})) != 2) {
    problems.push_back(absl::StrCat(where, ": spec.replicas is not 2"));
  }
  if (!SpreadsOverNodes(*deployment)) {
    problems.push_back(absl::StrCat(where,
                                    ": no anti-affinity or topology spread over "
                                    "kubernetes.io/hostname selects its own pods"));
  }
  const std::optional<YAML::Node> container = ContainerRunning(*deployment, kControlPlane);
  if (!container) {
    problems.push_back(absl::StrCat(where, ": no container runs ", kControlPlane));
    return problems;
  }
  if (!RunsAsNonRoot(*deployment, *container)) {
    problems.push_back(absl::StrCat(where, ": does not set runAsNonRoot (it needs no privilege)"));
  }
  absl::StatusOr<ServerConfig> config = ControlPlaneConfig(set);
  if (!config.ok()) {
    problems.push_back(absl::StrCat(where, ": its configuration: ", config.status().message()));
    return problems;
  }
  if (config->source != controlplane::SourceKind::kKubernetes || !config->kubeconfig.empty()) {
    problems.push_back(absl::StrCat(where, ": the source is not the in-cluster Kubernetes API"));
  }
  const std::map<std::string, long> ports = NamedPorts(*container);
  for (const auto& [port_name, listen] :
       {std::pair{"xds", config->xds_listen}, std::pair{"http", config->http_listen}}) {
    auto declared = ports.find(port_name);
    if (declared == ports.end() || PortOf(listen) != declared->second) {
      problems.push_back(absl::StrCat(where, ": container port \"", port_name,
                                      "\" is not the configured ", listen));
    }
  }
  const long http_port = PortOf(config->http_listen).value_or(0);
  CheckProbe(*container, "livenessProbe", "/healthz", http_port, where, problems);
  CheckProbe(*container, "readinessProbe", "/readyz", http_port, where, problems);
  CheckTransport(set, *config, *container, where, problems);
  // The kubelet's default grace is 30 s.
  const long grace_seconds =
      Integer(At(deployment->pod, {"terminationGracePeriodSeconds"})).value_or(30);
  if (grace_seconds * 1000 <= config->shutdown_grace.count()) {
    problems.push_back(absl::StrCat(where, ": terminationGracePeriodSeconds ", grace_seconds,
                                    " does not outlast shutdownGraceSeconds: streams are killed"));
  }
  return problems;
}

}  // namespace skewless::deploy
