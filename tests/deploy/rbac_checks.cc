// RBAC: the control plane may read Services, EndpointSlices and Nodes and create
// TokenReviews cluster-wide, read and create its CA Secret and bundle ConfigMap by name
// in its own namespace, and nothing else.
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

using GroupResource = std::pair<std::string, std::string>;  // ("" = core, resource)
using Grants = std::map<GroupResource, std::set<std::string>>;

// Exactly what the control plane needs cluster-wide: the kinds the Kubernetes source
// lists and watches (docs/controlplane-kubernetes.md), and TokenReviews to check ADS
// clients' tokens with --auth tokenreview (docs/deploy.md).
const Grants& ClusterGrants() {
  static const Grants needed = {{{"", "services"}, {"get", "list", "watch"}},
                                {{"", "nodes"}, {"get", "list", "watch"}},
                                {{"discovery.k8s.io", "endpointslices"}, {"get", "list", "watch"}},
                                {{"authentication.k8s.io", "tokenreviews"}, {"create"}}};
  return needed;
}

// What tls.caSecret needs in the Secret's namespace: the Secret read (or created once),
// the bundle ConfigMap read, created and updated. Only create goes without resourceNames.
const Grants& CaGrants() {
  static const Grants needed = {{{"", "secrets"}, {"get", "create"}},
                                {{"", "configmaps"}, {"get", "create", "update"}}};
  return needed;
}

std::string Name(const GroupResource& grant) {
  return grant.first.empty() ? grant.second : absl::StrCat(grant.second, ".", grant.first);
}

// What one role grants: verb → resource → names ("" = every object of the resource).
using Granted = std::map<GroupResource, std::map<std::string, std::set<std::string>>>;

Granted CheckRules(const Document& role, const Grants& allowed, bool namespaced,
                   Problems& problems) {
  const std::string where = Describe(role);
  Granted granted;
  for (const YAML::Node& rule : Items(At(role.node, {"rules"}))) {
    if (At(rule, {"nonResourceURLs"}).IsDefined()) {
      problems.push_back(absl::StrCat(where, ": grants nonResourceURLs"));
    }
    const std::vector<std::string> verbs = Strings(At(rule, {"verbs"}));
    std::vector<std::string> names = Strings(At(rule, {"resourceNames"}));
    if (names.empty()) names = {""};
    for (const std::string& group : Strings(At(rule, {"apiGroups"}))) {
      for (const std::string& resource : Strings(At(rule, {"resources"}))) {
        const auto needed = allowed.find({group, resource});
        if (needed == allowed.end()) {
          problems.push_back(absl::StrCat(where, ": grants access to ", Name({group, resource}),
                                          namespaced ? "" : " cluster-wide",
                                          ", which the control plane does not use",
                                          namespaced ? "" : " there"));
          continue;
        }
        for (const std::string& verb : verbs) {
          if (!needed->second.contains(verb)) {
            problems.push_back(absl::StrCat(where, ": grants \"", verb, "\" on ",
                                            Name({group, resource}), "; only ",
                                            absl::StrJoin(needed->second, ", "), " needed"));
          }
          if (namespaced && verb != "create" && names.front().empty()) {
            problems.push_back(absl::StrCat(where, ": grants \"", verb, "\" on every ",
                                            Name({group, resource}),
                                            " of the namespace; name them in resourceNames"));
          }
          granted[{group, resource}][verb].insert(names.begin(), names.end());
        }
      }
    }
  }
  return granted;
}

// Whether `granted` allows `verb` on `resource` object `name` ("" = any, for create).
bool Allows(Granted& granted, const GroupResource& resource, const std::string& verb,
            const std::string& name) {
  const std::set<std::string>& names = granted[resource][verb];
  return names.contains("") || (!name.empty() && names.contains(name));
}

}  // namespace

Problems CheckRoles(const ManifestSet& set) {
  Problems problems;
  for (const Document* role : set.OfKind("ClusterRole")) {
    Granted granted = CheckRules(*role, ClusterGrants(), false, problems);
    if (Text(At(role->node, {"metadata", "name"})) != kControlPlane) continue;
    for (const auto& [needed, needed_verbs] : ClusterGrants()) {
      for (const std::string& verb : needed_verbs) {
        if (!Allows(granted, needed, verb, "")) {
          problems.push_back(
              absl::StrCat(Describe(*role), ": does not grant ", verb, " on ", Name(needed)));
        }
      }
    }
  }
  if (set.Find("ClusterRole", "", kControlPlane) == nullptr) {
    problems.push_back(absl::StrCat("no ClusterRole ", kControlPlane));
  }
  std::map<std::string, Granted> by_namespace;  // the control plane's Role in each
  for (const Document* role : set.OfKind("Role")) {
    Granted granted = CheckRules(*role, CaGrants(), true, problems);
    if (Text(At(role->node, {"metadata", "name"})) == kControlPlane) {
      by_namespace[Text(At(role->node, {"metadata", "namespace"}))] = granted;
    }
  }
  // With tls.caSecret the Role must grant exactly what the CA handling does.
  absl::StatusOr<controlplane::ServerConfig> config = ControlPlaneConfig(set);
  if (!config.ok() || config->ca_secret.empty()) return problems;
  const auto split = [](const std::string& text) {
    const std::size_t slash = text.find('/');
    return std::pair{text.substr(0, slash), text.substr(slash + 1)};
  };
  const auto [secret_namespace, secret] = split(config->ca_secret);
  const auto [bundle_namespace, bundle] = split(config->ca_bundle_configmap);
  if (bundle_namespace != secret_namespace) {
    problems.push_back(absl::StrCat("tls.caBundleConfigMap ", config->ca_bundle_configmap,
                                    " is not in the CA Secret's namespace ", secret_namespace));
  }
  if (!by_namespace.contains(secret_namespace)) {
    problems.push_back(absl::StrCat("no Role ", secret_namespace, "/", kControlPlane,
                                    " for tls.caSecret ", config->ca_secret));
    return problems;
  }
  Granted& granted = by_namespace[secret_namespace];
  const std::vector<std::tuple<std::string, std::string, std::string>> needed = {
      {"secrets", "get", secret},
      {"secrets", "create", ""},
      {"configmaps", "get", bundle},
      {"configmaps", "create", ""},
      {"configmaps", "update", bundle}};
  for (const auto& [resource, verb, name] : needed) {
    if (!Allows(granted, {"", resource}, verb, name)) {
      problems.push_back(absl::StrCat("Role ", secret_namespace, "/", kControlPlane,
                                      ": does not grant ", verb, " on ", resource,
                                      name.empty() ? "" : absl::StrCat(" ", name)));
    }
  }
  return problems;
}

Problems CheckBindings(const ManifestSet& set) {
  Problems problems;
  // Service accounts that some binding grants the control plane's ClusterRole.
  std::set<std::string> can_read;
  std::set<std::string> can_manage_ca;  // "namespace: account" bound to the CA Role there
  std::set<std::string> bound;
  std::vector<const Document*> bindings = set.OfKind("ClusterRoleBinding");
  for (const Document* binding : set.OfKind("RoleBinding")) bindings.push_back(binding);
  for (const Document* binding : bindings) {
    const std::string where = Describe(*binding);
    const std::string namespace_name = Text(At(binding->node, {"metadata", "namespace"}));
    const YAML::Node role_ref = At(binding->node, {"roleRef"});
    const std::string role_kind = Text(At(role_ref, {"kind"}));
    const std::string role_name = Text(At(role_ref, {"name"}));
    if (Text(At(role_ref, {"apiGroup"})) != "rbac.authorization.k8s.io") {
      problems.push_back(
          absl::StrCat(where, ": roleRef.apiGroup is not rbac.authorization.k8s.io"));
    }
    const Document* role = role_kind == "ClusterRole" ? set.Find("ClusterRole", "", role_name)
                           : role_kind == "Role"      ? set.Find("Role", namespace_name, role_name)
                                                      : nullptr;
    if (role == nullptr) {
      problems.push_back(absl::StrCat(where, ": roleRef names ", role_kind, " \"", role_name,
                                      "\", which does not exist"));
    }
    const std::vector<YAML::Node> subjects = Items(At(binding->node, {"subjects"}));
    if (subjects.empty()) problems.push_back(absl::StrCat(where, ": no subjects"));
    for (const YAML::Node& subject : subjects) {
      const std::string kind = Text(At(subject, {"kind"}));
      const std::string name = Text(At(subject, {"name"}));
      const std::string subject_namespace = Text(At(subject, {"namespace"}));
      if (kind != "ServiceAccount") {
        problems.push_back(absl::StrCat(where, ": subject ", kind, " \"", name,
                                        "\"; only our service accounts should be bound"));
        continue;
      }
      if (set.Find("ServiceAccount", subject_namespace, name) == nullptr) {
        problems.push_back(absl::StrCat(where, ": subject ServiceAccount \"", subject_namespace,
                                        "/", name, "\" does not exist"));
        continue;
      }
      const std::string account = absl::StrCat(subject_namespace, "/", name);
      bound.insert(account);
      if (role_kind == "ClusterRole" && role_name == kControlPlane) can_read.insert(account);
      if (role_kind == "Role" && role_name == kControlPlane) {
        can_manage_ca.insert(absl::StrCat(namespace_name, ": ", account));
      }
    }
  }
  // The control plane must be able to read what it watches; the agent gets its view over
  // xDS and must hold no API permissions at all.
  if (std::optional<Workload> deployment = set.FindWorkload("Deployment", kControlPlane)) {
    const std::string account = absl::StrCat(deployment->namespace_name, "/",
                                             Text(At(deployment->pod, {"serviceAccountName"})));
    if (!can_read.contains(account)) {
      problems.push_back(absl::StrCat("ServiceAccount ", account,
                                      " (the control plane's) is bound to no ClusterRole ",
                                      kControlPlane));
    }
    absl::StatusOr<controlplane::ServerConfig> config = ControlPlaneConfig(set);
    if (config.ok() && !config->ca_secret.empty()) {
      const std::string ca_namespace = config->ca_secret.substr(0, config->ca_secret.find('/'));
      if (!can_manage_ca.contains(absl::StrCat(ca_namespace, ": ", account))) {
        problems.push_back(absl::StrCat("ServiceAccount ", account,
                                        " (the control plane's) is bound to no Role ",
                                        kControlPlane, " in ", ca_namespace, " for tls.caSecret"));
      }
    }
  }
  if (std::optional<Workload> daemonset = set.FindWorkload("DaemonSet", kAgent)) {
    const std::string account = absl::StrCat(daemonset->namespace_name, "/",
                                             Text(At(daemonset->pod, {"serviceAccountName"})));
    if (bound.contains(account)) {
      problems.push_back(absl::StrCat("ServiceAccount ", account,
                                      " (the agent's) is bound to a role; it needs none"));
    }
  }
  return problems;
}

}  // namespace skewless::deploy
