// The agent's DaemonSet: the host access it needs, the config it would start with (read
// by the agent's own parser), and the uninstall DaemonSet.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

constexpr char kUninstall[] = "skewless-agent-uninstall";

// The agent's container and its configuration as the binary would resolve it.
struct AgentView {
  Workload workload;
  YAML::Node container;
  agent::AgentConfig file;    // the --config file alone
  agent::AgentConfig config;  // the file, then the container's flags over it
};

absl::StatusOr<AgentView> ViewAgent(const ManifestSet& set) {
  std::optional<Workload> daemonset = set.FindWorkload("DaemonSet", kAgent);
  if (!daemonset) return absl::NotFoundError(absl::StrCat("no DaemonSet ", kAgent));
  std::optional<YAML::Node> container = ContainerRunning(*daemonset, kAgent);
  if (!container) {
    return absl::NotFoundError(
        absl::StrCat(Describe(*daemonset->document), ": no container runs ", kAgent));
  }
  const std::vector<std::string> args = Strings(At(*container, {"args"}));
  agent::AgentConfig file;
  if (std::optional<std::string> path = FlagValue(args, "--config")) {
    absl::StatusOr<std::string> text = MountedConfigFile(set, *daemonset, *container, *path);
    if (!text.ok()) return text.status();
    absl::StatusOr<agent::AgentConfig> parsed = agent::ParseAgentConfigYaml(*text, *path);
    if (!parsed.ok()) return parsed.status();
    file = *std::move(parsed);
  }
  // Flags override the file, as in tools/skewless-agent.cc.
  agent::AgentConfig config = file;
  if (std::vector<std::string> servers = FlagValues(args, "--xds-server"); !servers.empty()) {
    config.xds_servers = servers;
  }
  if (std::optional<std::string> protocol = FlagValue(args, "--xds-protocol")) {
    absl::StatusOr<agent::AdsProtocol> parsed = agent::ParseAdsProtocol(*protocol);
    if (!parsed.ok()) return parsed.status();
    config.xds_protocol = *parsed;
  }
  if (std::optional<std::string> zone = FlagValue(args, "--zone")) config.zone = *zone;
  if (std::find(args.begin(), args.end(), "--plaintext") != args.end()) config.plaintext = true;
  if (std::optional<std::string> mark = FlagValue(args, "--splicer-mark")) {
    config.splicer_mark = static_cast<std::uint32_t>(std::stoul(*mark, nullptr, 0));
  }
  for (auto [flag, field] :
       {std::pair{"--node-name", &config.node_name}, std::pair{"--cgroup", &config.cgroup},
        std::pair{"--pin-dir", &config.pin_dir}, std::pair{"--http-listen", &config.http_listen},
        std::pair{"--log-level", &config.log_level}, std::pair{"--log-format", &config.log_format},
        std::pair{"--splicer-address", &config.splicer_address},
        std::pair{"--controlplane-ca-file", &config.controlplane_ca_file},
        std::pair{"--controlplane-server-name", &config.controlplane_server_name},
        std::pair{"--token-file", &config.token_file},
        std::pair{"--tls-client-cert-file", &config.tls_client_cert_file},
        std::pair{"--tls-client-key-file", &config.tls_client_key_file}}) {
    if (std::optional<std::string> value = FlagValue(args, flag)) *field = *value;
  }
  return AgentView{.workload = *std::move(daemonset),
                   .container = *container,
                   .file = std::move(file),
                   .config = std::move(config)};
}

// The volume and the path inside it through which `container` sees `path`.
std::optional<std::pair<YAML::Node, std::string>> MountedAt(const Workload& workload,
                                                            const YAML::Node& container,
                                                            const std::string& path) {
  for (const YAML::Node& mount : Items(At(container, {"volumeMounts"}))) {
    const std::string mount_path = Text(At(mount, {"mountPath"}));
    if (At(mount, {"subPath"}).IsDefined() || !path.starts_with(mount_path + "/")) continue;
    return std::pair{Volume(workload, Text(At(mount, {"name"}))),
                     path.substr(mount_path.size() + 1)};
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<agent::AgentConfig> AgentConfig(const ManifestSet& set) {
  absl::StatusOr<AgentView> view = ViewAgent(set);
  if (!view.ok()) return view.status();
  return view->config;
}

Problems CheckAgentDaemonSet(const ManifestSet& set) {
  absl::StatusOr<AgentView> view = ViewAgent(set);
  if (!view.ok()) return {std::string(view.status().message())};
  const Workload& daemonset = view->workload;
  const YAML::Node& pod = daemonset.pod;
  const YAML::Node& container = view->container;
  const agent::AgentConfig& config = view->config;
  const std::string where = Describe(*daemonset.document);
  Problems problems;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(absl::StrCat(where, ": ", what));
  };

  // Steering the host's connections and probing on the node's address.
  require(IsTrue(At(pod, {"hostNetwork"})), "not hostNetwork");
  require(Text(At(pod, {"dnsPolicy"})) == "ClusterFirstWithHostNet",
          "dnsPolicy is not ClusterFirstWithHostNet (the control plane's name would not resolve)");
  require(IsTrue(At(container, {"securityContext", "privileged"})), "the agent is not privileged");
  require(Text(At(pod, {"priorityClassName"})) == "system-node-critical",
          "priorityClassName is not system-node-critical");
  require(Integer(At(pod, {"terminationGracePeriodSeconds"})).has_value(),
          "no terminationGracePeriodSeconds");
  require(ToleratesEverything(pod), "no toleration with operator Exists for every taint");
  require(EnvFromField(container, "NODE_NAME", "spec.nodeName"),
          "NODE_NAME does not come from fieldRef spec.nodeName");

  const YAML::Node strategy = At(daemonset.document->node, {"spec", "updateStrategy"});
  require(Text(At(strategy, {"type"})) == "RollingUpdate" &&
              At(strategy, {"rollingUpdate", "maxUnavailable"}).IsDefined(),
          "updateStrategy is not RollingUpdate with a maxUnavailable");
  require(Integer(At(strategy, {"rollingUpdate", "maxSurge"})).value_or(0) == 0,
          "updateStrategy surges: two agents would share a node's port and pinned maps");

  // The three host mounts, and the settings that point into them.
  const YAML::Node bpffs = HostPathMount(daemonset, container, "/sys/fs/bpf");
  require(Text(At(bpffs, {"mountPath"})) == "/sys/fs/bpf" &&
              Text(At(bpffs, {"mountPropagation"})) == "Bidirectional",
          "the host's /sys/fs/bpf is not mounted at /sys/fs/bpf with Bidirectional propagation");
  require(config.pin_dir.starts_with(Text(At(bpffs, {"mountPath"})) + "/"),
          absl::StrCat("pin_dir ", config.pin_dir,
                       " is not on the bpffs mount: pins would die with the pod"));
  const YAML::Node cgroup = HostPathMount(daemonset, container, "/sys/fs/cgroup");
  require(cgroup.IsDefined() && Text(At(cgroup, {"mountPath"})) == config.cgroup,
          absl::StrCat("--cgroup \"", config.cgroup,
                       "\" is not where the host's /sys/fs/cgroup is mounted"));
  const YAML::Node proc = HostPathMount(daemonset, container, "/proc");
  require(Text(At(proc, {"mountPath"})) == "/host/proc" && IsTrue(At(proc, {"readOnly"})),
          "the host's /proc is not mounted read-only at /host/proc");

  const YAML::Node resources = At(container, {"resources"});
  for (const char* bound : {"requests", "limits"}) {
    for (const char* resource : {"cpu", "memory"}) {
      require(At(resources, {bound, resource}).IsDefined(),
              absl::StrCat("the agent has no ", bound, ".", resource));
    }
  }
  for (const auto& [probe, path] :
       {std::pair{"livenessProbe", "/healthz"}, std::pair{"readinessProbe", "/readyz"}}) {
    const YAML::Node http = At(container, {probe, "httpGet"});
    require(
        Text(At(http, {"path"})) == path &&
            ResolvePort(At(http, {"port"}), NamedPorts(container)) == PortOf(config.http_listen),
        absl::StrCat(probe, " is not GET ", path, " on the agent's http_listen ",
                     config.http_listen));
  }
  return problems;
}

Problems CheckAgentConfig(const ManifestSet& set, const std::string& cluster_domain) {
  absl::StatusOr<AgentView> view = ViewAgent(set);
  if (!view.ok()) return {absl::StrCat(kAgent, " config: ", view.status().message())};
  const std::string where = absl::StrCat(kAgent, " config");
  Problems problems;
  // One ConfigMap serves every node: per-node settings must come from the pod.
  if (!view->file.node_name.empty() || view->file.zone.has_value()) {
    problems.push_back(absl::StrCat(where, ": node_name or zone would be the same on every node"));
  }
  agent::AgentConfig config = view->config;
  if (config.node_name.empty() && EnvFromField(view->container, "NODE_NAME", "spec.nodeName")) {
    config.node_name = "$(spec.nodeName)";  // what NODE_NAME will hold
  }
  // Kubernetes expands $(HOST_IP) in args to the node's IP: validate with an address.
  if (const std::size_t at = config.splicer_address.find("$(HOST_IP)");
      at != std::string::npos && EnvFromField(view->container, "HOST_IP", "status.hostIP")) {
    config.splicer_address.replace(at, std::string_view("$(HOST_IP)").size(), "192.0.2.1");
  }
  if (absl::Status valid = agent::ValidateAgentConfig(config); !valid.ok()) {
    problems.push_back(absl::StrCat(where, ": ", valid.message()));
  }
  for (const std::string& address : config.xds_servers) {
    for (std::string& problem :
         CheckXdsAddress(set, address, cluster_domain, where + " xds_server")) {
      problems.push_back(std::move(problem));
    }
  }
  return problems;
}

Problems CheckAgentControlPlaneAccess(const ManifestSet& set) {
  absl::StatusOr<AgentView> view = ViewAgent(set);
  if (!view.ok()) return {std::string(view.status().message())};
  const std::string where = Describe(*view->workload.document);
  const agent::AgentConfig& config = view->config;
  Problems problems;
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(absl::StrCat(where, ": ", what));
  };
  require(!config.plaintext, "the agent runs with --plaintext: the control plane serves TLS");
  const YAML::Node automount = At(view->workload.pod, {"automountServiceAccountToken"});
  require(automount.IsDefined() && !IsTrue(automount),
          "automountServiceAccountToken is not false: the agent would hold an API credential");

  // The CA bundle: the file the control plane publishes, as its ConfigMap projects it.
  const auto ca = MountedAt(view->workload, view->container, config.controlplane_ca_file);
  std::string ca_map = "no ConfigMap";
  std::string ca_key;
  if (ca) {
    const YAML::Node volume = At(ca->first, {"configMap"});
    ca_map = Text(At(volume, {"name"}));
    ca_key = ca->second;
    for (const YAML::Node& item : Items(At(volume, {"items"}))) {
      if (Text(At(item, {"path"})) == ca->second) ca_key = Text(At(item, {"key"}));
    }
  }
  require(ca_map == kCaBundleConfigMap && ca_key == "ca.crt",
          absl::StrCat("controlplane_ca_file \"", config.controlplane_ca_file,
                       "\" is not key ca.crt of ConfigMap ", kCaBundleConfigMap,
                       " (the control plane's published CA bundle) but key \"", ca_key, "\" of ",
                       ca_map));
  const std::string expected_name = absl::StrCat(kControlPlane, ".", kNamespace, ".svc");
  require(config.controlplane_server_name == expected_name,
          absl::StrCat("controlplane_server_name \"", config.controlplane_server_name, "\" is not ",
                       expected_name,
                       ", the name in the control plane's certificate (for every xds_server)"));

  // The token: projected for the audience the control plane reviews tokens for.
  absl::StatusOr<controlplane::ServerConfig> controlplane = ControlPlaneConfig(set);
  if (!controlplane.ok()) {
    problems.push_back(absl::StrCat(
        where, ": the control plane's configuration: ", controlplane.status().message()));
    return problems;
  }
  const auto token = MountedAt(view->workload, view->container, config.token_file);
  std::optional<YAML::Node> source;
  if (token) {
    for (const YAML::Node& item : Items(At(token->first, {"projected", "sources"}))) {
      const YAML::Node projected = At(item, {"serviceAccountToken"});
      if (projected.IsDefined() && Text(At(projected, {"path"})) == token->second) {
        source = projected;
      }
    }
  }
  if (!source) {
    problems.push_back(absl::StrCat(where, ": token_file \"", config.token_file,
                                    "\" is not a projected serviceAccountToken"));
    return problems;
  }
  const std::string audience = Text(At(*source, {"audience"}));
  require(audience == controlplane->token_audience,
          absl::StrCat("the agent's token audience \"", audience,
                       "\" is not the control plane's token audience \"",
                       controlplane->token_audience, "\": TokenReview would refuse it"));
  require(Integer(At(*source, {"expirationSeconds"})).value_or(0) >= 600,
          "the projected token has no expirationSeconds of at least 600 (kubelet's minimum)");
  return problems;
}

Problems CheckUninstall(const ManifestSet& set) {
  absl::StatusOr<AgentView> agent = ViewAgent(set);
  if (!agent.ok()) return {std::string(agent.status().message())};
  const std::optional<Workload> uninstall = set.FindWorkload("DaemonSet", kUninstall);
  if (!uninstall) return {absl::StrCat("no DaemonSet ", kUninstall)};
  const std::string where = Describe(*uninstall->document);
  const std::optional<YAML::Node> container = ContainerRunning(*uninstall, kAgent);
  if (!container) return {absl::StrCat(where, ": no container runs ", kAgent)};
  const std::vector<std::string> args = Strings(At(*container, {"args"}));
  Problems problems;
  if (args.empty() || args.front() != "uninstall") {
    problems.push_back(absl::StrCat(where, ": does not run `", kAgent, " uninstall`"));
  }
  // It must remove what the agent pinned, on every node the agent ran on.
  const std::string pin_dir = FlagValue(args, "--pin-dir").value_or(agent::AgentConfig().pin_dir);
  if (pin_dir != agent->config.pin_dir) {
    problems.push_back(absl::StrCat(where, ": --pin-dir ", pin_dir, " is not the agent's ",
                                    agent->config.pin_dir));
  }
  const YAML::Node bpffs = HostPathMount(*uninstall, *container, "/sys/fs/bpf");
  if (Text(At(bpffs, {"mountPath"})) != "/sys/fs/bpf") {
    problems.push_back(absl::StrCat(where, ": the host's /sys/fs/bpf is not at /sys/fs/bpf"));
  }
  if (!IsTrue(At(*container, {"securityContext", "privileged"}))) {
    problems.push_back(absl::StrCat(where, ": uninstall is not privileged (detaching needs it)"));
  }
  if (!ToleratesEverything(uninstall->pod)) {
    problems.push_back(absl::StrCat(where, ": does not tolerate every taint, as the agent does"));
  }
  return problems;
}

}  // namespace skewless::deploy
