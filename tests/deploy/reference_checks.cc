// Cross-references: whatever a workload, Service, budget or quota names must exist.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

// Port names → numbers over all of a workload's containers.
std::map<std::string, long> WorkloadPorts(const Workload& workload) {
  std::map<std::string, long> ports;
  for (const YAML::Node& container : workload.containers) ports.merge(NamedPorts(container));
  return ports;
}

// A Service port's targetPort; unset means the same number as the port.
YAML::Node TargetPort(const YAML::Node& service_port) {
  const YAML::Node target = At(service_port, {"targetPort"});
  return target.IsDefined() ? target : At(service_port, {"port"});
}

void CheckProbes(const YAML::Node& container, const std::string& where, Problems& problems) {
  const std::map<std::string, long> ports = NamedPorts(container);
  for (const char* probe_name : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    const YAML::Node probe = At(container, {probe_name});
    if (!probe.IsDefined()) continue;
    const YAML::Node http = At(probe, {"httpGet"});
    if (!http.IsDefined()) continue;  // exec and tcpSocket probes name no declared port
    if (!ResolvePort(At(http, {"port"}), ports)) {
      problems.push_back(absl::StrCat(where, ": ", probe_name, " port \"", Text(At(http, {"port"})),
                                      "\" is not a port the container declares"));
    }
    if (!Text(At(http, {"path"})).starts_with("/")) {
      problems.push_back(absl::StrCat(where, ": ", probe_name, " has no path"));
    }
  }
}

void CheckEnv(const ManifestSet& set, const Workload& workload, const YAML::Node& container,
              const std::string& where, Problems& problems) {
  for (const YAML::Node& env : Items(At(container, {"env"}))) {
    const YAML::Node config_map_ref = At(env, {"valueFrom", "configMapKeyRef"});
    if (!config_map_ref.IsDefined()) continue;
    const Document* config_map =
        set.Find("ConfigMap", workload.namespace_name, Text(At(config_map_ref, {"name"})));
    const std::string key = Text(At(config_map_ref, {"key"}));
    if (config_map == nullptr || !StringMap(At(config_map->node, {"data"})).contains(key)) {
      problems.push_back(absl::StrCat(where, ": env ", Text(At(env, {"name"})),
                                      " names ConfigMap key ", Text(At(config_map_ref, {"name"})),
                                      "/", key, ", which does not exist"));
    }
  }
}

void CheckVolumes(const ManifestSet& set, const Workload& workload,
                  const std::set<std::string>& mounted, Problems& problems) {
  const std::string where = Describe(*workload.document);
  std::set<std::string> names;
  for (const YAML::Node& volume : Items(At(workload.pod, {"volumes"}))) {
    const std::string name = Text(At(volume, {"name"}));
    if (!names.insert(name).second) {
      problems.push_back(absl::StrCat(where, ": volume ", name, " defined twice"));
    }
    if (!mounted.contains(name)) {
      problems.push_back(absl::StrCat(where, ": volume ", name, " is mounted by no container"));
    }
    if (const YAML::Node host_path = At(volume, {"hostPath", "path"}); host_path.IsDefined()) {
      if (!Text(host_path).starts_with("/")) {
        problems.push_back(absl::StrCat(where, ": volume ", name, " hostPath is not absolute"));
      }
    }
    const YAML::Node config_map_volume = At(volume, {"configMap"});
    if (!config_map_volume.IsDefined()) continue;
    const std::string config_map_name = Text(At(config_map_volume, {"name"}));
    if (config_map_name == kCaBundleConfigMap) continue;  // the control plane publishes it
    const Document* config_map = set.Find("ConfigMap", workload.namespace_name, config_map_name);
    if (config_map == nullptr) {
      problems.push_back(absl::StrCat(where, ": volume ", name, " names ConfigMap ",
                                      config_map_name, ", which does not exist"));
      continue;
    }
    const std::map<std::string, std::string> data = StringMap(At(config_map->node, {"data"}));
    for (const YAML::Node& item : Items(At(config_map_volume, {"items"}))) {
      if (!data.contains(Text(At(item, {"key"})))) {
        problems.push_back(absl::StrCat(where, ": volume ", name, " uses key ",
                                        Text(At(item, {"key"})), ", which ConfigMap ",
                                        config_map_name, " does not have"));
      }
    }
  }
}

}  // namespace

Problems CheckWorkloads(const ManifestSet& set) {
  Problems problems;
  for (const Workload& workload : set.Workloads()) {
    const std::string where = Describe(*workload.document);
    const std::string account = Text(At(workload.pod, {"serviceAccountName"}));
    if (account.empty()) {
      problems.push_back(absl::StrCat(where,
                                      ": no serviceAccountName (the namespace's default "
                                      "account is shared with anything else there)"));
    } else if (set.Find("ServiceAccount", workload.namespace_name, account) == nullptr) {
      problems.push_back(absl::StrCat(where, ": serviceAccountName ", account,
                                      " does not exist in ", workload.namespace_name));
    }
    const auto selector =
        StringMap(At(workload.document->node, {"spec", "selector", "matchLabels"}));
    if (!Selects(selector, workload.pod_labels)) {
      problems.push_back(
          absl::StrCat(where, ": spec.selector.matchLabels does not match the pod template"));
    }
    std::set<std::string> container_names, mounted;
    for (const YAML::Node& container : workload.containers) {
      const std::string name = Text(At(container, {"name"}));
      const std::string container_where = absl::StrCat(where, " container ", name);
      if (!container_names.insert(name).second) {
        problems.push_back(absl::StrCat(container_where, ": name used twice"));
      }
      if (Text(At(container, {"image"})).empty()) {
        problems.push_back(absl::StrCat(container_where, ": no image"));
      }
      if (NamedPorts(container).size() != Items(At(container, {"ports"})).size()) {
        problems.push_back(absl::StrCat(container_where, ": port names are not unique"));
      }
      CheckProbes(container, container_where, problems);
      CheckEnv(set, workload, container, container_where, problems);
      for (const YAML::Node& mount : Items(At(container, {"volumeMounts"}))) {
        const std::string volume = Text(At(mount, {"name"}));
        mounted.insert(volume);
        if (!Volume(workload, volume).IsDefined()) {
          problems.push_back(absl::StrCat(container_where, ": mounts volume ", volume,
                                          ", which the pod does not define"));
        }
      }
      const std::vector<std::string> args = Strings(At(container, {"args"}));
      if (std::optional<std::string> config = FlagValue(args, "--config")) {
        absl::StatusOr<std::string> text = MountedConfigFile(set, workload, container, *config);
        if (!text.ok()) {
          problems.push_back(
              absl::StrCat(container_where, ": --config ", *config, ": ", text.status().message()));
        }
      }
    }
    CheckVolumes(set, workload, mounted, problems);
  }
  return problems;
}

absl::StatusOr<std::string> MountedConfigFile(const ManifestSet& set, const Workload& workload,
                                              const YAML::Node& container, std::string_view path) {
  for (const YAML::Node& mount : Items(At(container, {"volumeMounts"}))) {
    const std::string mount_path = Text(At(mount, {"mountPath"}));
    const std::string sub_path = Text(At(mount, {"subPath"}));
    std::string file;  // the path inside the volume
    if (!sub_path.empty() && mount_path == path) {
      file = sub_path;
    } else if (sub_path.empty() && path.starts_with(mount_path + "/")) {
      file = std::string(path.substr(mount_path.size() + 1));
    } else {
      continue;
    }
    const std::string volume_name = Text(At(mount, {"name"}));
    const YAML::Node config_map_volume = At(Volume(workload, volume_name), {"configMap"});
    if (!config_map_volume.IsDefined()) {
      return absl::NotFoundError(
          absl::StrCat("volume ", volume_name, " at ", mount_path, " is not a ConfigMap"));
    }
    std::string key = file;
    const std::vector<YAML::Node> items = Items(At(config_map_volume, {"items"}));
    if (!items.empty()) {
      key.clear();
      for (const YAML::Node& item : items) {
        if (Text(At(item, {"path"})) == file) key = Text(At(item, {"key"}));
      }
      if (key.empty()) {
        return absl::NotFoundError(
            absl::StrCat("volume ", volume_name, " projects no item at ", file));
      }
    }
    const std::string config_map_name = Text(At(config_map_volume, {"name"}));
    const Document* config_map = set.Find("ConfigMap", workload.namespace_name, config_map_name);
    if (config_map == nullptr) {
      return absl::NotFoundError(absl::StrCat("ConfigMap ", config_map_name, " does not exist"));
    }
    const std::map<std::string, std::string> data = StringMap(At(config_map->node, {"data"}));
    auto found = data.find(key);
    if (found == data.end()) {
      return absl::NotFoundError(absl::StrCat("ConfigMap ", config_map_name, " has no key ", key));
    }
    return found->second;
  }
  return absl::NotFoundError("no volume is mounted there");
}

Problems CheckServices(const ManifestSet& set) {
  Problems problems;
  for (const Document* service : set.OfKind("Service")) {
    const std::string where = Describe(*service);
    const std::string namespace_name = Text(At(service->node, {"metadata", "namespace"}));
    const auto selector = StringMap(At(service->node, {"spec", "selector"}));
    std::vector<Workload> selected;
    for (Workload& workload : set.Workloads()) {
      if (workload.namespace_name == namespace_name && Selects(selector, workload.pod_labels)) {
        selected.push_back(std::move(workload));
      }
    }
    if (selected.empty()) {
      problems.push_back(absl::StrCat(where, ": spec.selector matches no workload's pods"));
    }
    std::set<std::string> names;
    for (const YAML::Node& port : Items(At(service->node, {"spec", "ports"}))) {
      const std::string name = Text(At(port, {"name"}));
      if (!names.insert(name).second) {
        problems.push_back(absl::StrCat(where, ": port name \"", name, "\" used twice"));
      }
      const YAML::Node target = TargetPort(port);
      for (const Workload& workload : selected) {
        if (!ResolvePort(target, WorkloadPorts(workload))) {
          problems.push_back(absl::StrCat(where, ": port ", name, " targets \"", Text(target),
                                          "\", which ", Describe(*workload.document),
                                          " does not declare"));
        }
      }
    }
  }
  return problems;
}

Problems CheckDisruptionBudgets(const ManifestSet& set) {
  Problems problems;
  for (const Document* budget : set.OfKind("PodDisruptionBudget")) {
    const std::string where = Describe(*budget);
    const auto selector = StringMap(At(budget->node, {"spec", "selector", "matchLabels"}));
    bool matched = false;
    for (const Workload& workload : set.Workloads()) {
      if (!Selects(selector, workload.pod_labels)) continue;
      matched = true;
      const long replicas = Integer(At(workload.document->node, {"spec", "replicas"})).value_or(1);
      const std::optional<long> min_available = Integer(At(budget->node, {"spec", "minAvailable"}));
      if (min_available && *min_available >= replicas) {
        problems.push_back(absl::StrCat(where, ": minAvailable ", *min_available, " of ", replicas,
                                        " replicas blocks every node drain"));
      }
    }
    if (!matched) problems.push_back(absl::StrCat(where, ": selector matches no workload's pods"));
  }
  return problems;
}

Problems CheckPriorityQuotas(const ManifestSet& set) {
  Problems problems;
  for (const Workload& workload : set.Workloads()) {
    const std::string priority_class = Text(At(workload.pod, {"priorityClassName"}));
    if (!priority_class.starts_with("system-")) continue;
    bool covered = false;
    for (const Document* quota : set.OfKind("ResourceQuota")) {
      if (Text(At(quota->node, {"metadata", "namespace"})) != workload.namespace_name) continue;
      for (const YAML::Node& expression :
           Items(At(quota->node, {"spec", "scopeSelector", "matchExpressions"}))) {
        const std::vector<std::string> values = Strings(At(expression, {"values"}));
        if (Text(At(expression, {"scopeName"})) == "PriorityClass" &&
            Text(At(expression, {"operator"})) == "In" &&
            std::find(values.begin(), values.end(), priority_class) != values.end()) {
          covered = true;
        }
      }
    }
    if (!covered) {
      problems.push_back(absl::StrCat(Describe(*workload.document), ": priorityClassName ",
                                      priority_class, " but no ResourceQuota in ",
                                      workload.namespace_name, " admits that class"));
    }
  }
  return problems;
}

Problems CheckXdsAddress(const ManifestSet& set, const std::string& host_port,
                         const std::string& cluster_domain, const std::string& where) {
  const std::optional<long> port = PortOf(host_port);
  if (!port) return {absl::StrCat(where, ": \"", host_port, "\" is not host:port")};
  std::string host = host_port.substr(0, host_port.rfind(':'));
  const std::string qualified = absl::StrCat(".svc.", cluster_domain);
  if (host.ends_with(qualified)) host.erase(host.size() - cluster_domain.size() - 1);
  const std::vector<std::string> labels = absl::StrSplit(host, '.');
  if (labels.size() != 3 || labels[2] != "svc") {
    return {absl::StrCat(where, ": \"", host, "\" is not <service>.<namespace>.svc[.",
                         cluster_domain, "]")};
  }
  const Document* service = set.Find("Service", labels[1], labels[0]);
  if (service == nullptr) {
    return {absl::StrCat(where, ": Service ", labels[1], "/", labels[0], " does not exist")};
  }
  const std::optional<Workload> control_plane = set.FindWorkload("Deployment", kControlPlane);
  if (!control_plane ||
      !Selects(StringMap(At(service->node, {"spec", "selector"})), control_plane->pod_labels)) {
    return {absl::StrCat(where, ": ", Describe(*service), " does not select the control plane")};
  }
  for (const YAML::Node& service_port : Items(At(service->node, {"spec", "ports"}))) {
    if (Integer(At(service_port, {"port"})) != port) continue;
    const YAML::Node target = TargetPort(service_port);
    const std::map<std::string, long> ports = WorkloadPorts(*control_plane);
    auto xds = ports.find("xds");
    if (xds == ports.end() || ResolvePort(target, ports) != xds->second) {
      return {absl::StrCat(where, ": ", Describe(*service), " port ", *port,
                           " does not lead to the control plane's xds port")};
    }
    return {};
  }
  return {absl::StrCat(where, ": ", Describe(*service), " has no port ", *port)};
}

}  // namespace skewless::deploy
