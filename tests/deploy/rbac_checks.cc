// RBAC: the control plane may read Services, EndpointSlices and Nodes and create
// TokenReviews, and nothing else.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

using GroupResource = std::pair<std::string, std::string>;  // ("" = core, resource)

// Exactly what the control plane needs: the kinds the Kubernetes source lists and
// watches (docs/controlplane-kubernetes.md), and TokenReviews to check ADS clients'
// tokens with --auth tokenreview (docs/deploy.md).
const std::map<GroupResource, std::set<std::string>>& NeededGrants() {
  static const std::map<GroupResource, std::set<std::string>> needed = {
      {{"", "services"}, {"get", "list", "watch"}},
      {{"", "nodes"}, {"get", "list", "watch"}},
      {{"discovery.k8s.io", "endpointslices"}, {"get", "list", "watch"}},
      {{"authentication.k8s.io", "tokenreviews"}, {"create"}}};
  return needed;
}

std::string Name(const GroupResource& grant) {
  return grant.first.empty() ? grant.second : absl::StrCat(grant.second, ".", grant.first);
}

}  // namespace

Problems CheckRoles(const ManifestSet& set) {
  Problems problems;
  std::vector<const Document*> roles = set.OfKind("ClusterRole");
  for (const Document* role : set.OfKind("Role")) roles.push_back(role);
  for (const Document* role : roles) {
    const std::string where = Describe(*role);
    std::map<GroupResource, std::set<std::string>> granted;
    for (const YAML::Node& rule : Items(At(role->node, {"rules"}))) {
      if (At(rule, {"nonResourceURLs"}).IsDefined()) {
        problems.push_back(absl::StrCat(where, ": grants nonResourceURLs"));
      }
      const std::vector<std::string> verbs = Strings(At(rule, {"verbs"}));
      for (const std::string& group : Strings(At(rule, {"apiGroups"}))) {
        for (const std::string& resource : Strings(At(rule, {"resources"}))) {
          const auto needed = NeededGrants().find({group, resource});
          if (needed == NeededGrants().end()) {
            problems.push_back(absl::StrCat(where, ": grants access to ", Name({group, resource}),
                                            ", which the control plane does not use"));
            continue;
          }
          for (const std::string& verb : verbs) {
            if (!needed->second.contains(verb)) {
              problems.push_back(absl::StrCat(where, ": grants \"", verb, "\" on ",
                                              Name({group, resource}), "; only ",
                                              absl::StrJoin(needed->second, ", "), " needed"));
            }
          }
          granted[{group, resource}].insert(verbs.begin(), verbs.end());
        }
      }
    }
    if (Text(At(role->node, {"metadata", "name"})) != kControlPlane) continue;
    for (const auto& [needed, needed_verbs] : NeededGrants()) {
      for (const std::string& verb : needed_verbs) {
        if (!granted[needed].contains(verb)) {
          problems.push_back(absl::StrCat(where, ": does not grant ", verb, " on ", Name(needed)));
        }
      }
    }
  }
  if (set.Find("ClusterRole", "", kControlPlane) == nullptr) {
    problems.push_back(absl::StrCat("no ClusterRole ", kControlPlane));
  }
  return problems;
}

Problems CheckBindings(const ManifestSet& set) {
  Problems problems;
  // Service accounts that some binding grants the control plane's ClusterRole.
  std::set<std::string> can_read;
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
