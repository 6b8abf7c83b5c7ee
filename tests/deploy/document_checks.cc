// Every object well formed, labelled and in skewless-system; the kustomization complete.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checks.h"

namespace skewless::deploy {
namespace {

// Kinds without a namespace among those a deployment like ours uses.
bool IsClusterScoped(std::string_view kind) {
  return kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding" ||
         kind == "PriorityClass" || kind == "CustomResourceDefinition";
}

}  // namespace

Problems CheckDocuments(const ManifestSet& set) {
  Problems problems;
  std::set<std::string> seen;
  for (const Document& document : set.documents) {
    const std::string where = absl::StrCat(document.file, " document ", document.index + 1);
    if (!document.node.IsMap()) {
      problems.push_back(absl::StrCat(where, ": not a mapping"));
      continue;
    }
    const std::string kind = Text(At(document.node, {"kind"}));
    const std::string name = Text(At(document.node, {"metadata", "name"}));
    for (const auto& [field, value] :
         {std::pair{"apiVersion", Text(At(document.node, {"apiVersion"}))}, std::pair{"kind", kind},
          std::pair{"metadata.name", name}}) {
      if (value.empty()) problems.push_back(absl::StrCat(where, ": no ", field));
    }
    const std::string namespace_name = Text(At(document.node, {"metadata", "namespace"}));
    if (IsClusterScoped(kind) && !namespace_name.empty()) {
      problems.push_back(absl::StrCat(Describe(document), ": a ", kind,
                                      " is cluster-scoped but names a namespace"));
    }
    if (!IsClusterScoped(kind) && namespace_name != kNamespace) {
      problems.push_back(absl::StrCat(Describe(document), ": metadata.namespace is \"",
                                      namespace_name, "\", not ", kNamespace));
    }
    if (Text(At(document.node, {"metadata", "labels", "app.kubernetes.io/part-of"})) !=
        "skewless") {
      problems.push_back(
          absl::StrCat(Describe(document), ": no label app.kubernetes.io/part-of: skewless"));
    }
    if (!seen.insert(absl::StrCat(kind, "/", namespace_name, "/", name)).second) {
      problems.push_back(absl::StrCat(Describe(document), ": defined twice"));
    }
  }
  // Pods carry the same labels as their workload, so `kubectl get pods -l` finds them.
  for (const Workload& workload : set.Workloads()) {
    for (const char* key :
         {"app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"}) {
      if (!workload.pod_labels.contains(key)) {
        problems.push_back(
            absl::StrCat(Describe(*workload.document), ": the pod template has no label ", key));
      }
    }
  }
  return problems;
}

Problems CheckKustomization(const YAML::Node& kustomization,
                            const std::vector<std::string>& files) {
  Problems problems;
  if (Text(At(kustomization, {"apiVersion"})) != "kustomize.config.k8s.io/v1beta1" ||
      Text(At(kustomization, {"kind"})) != "Kustomization") {
    problems.push_back("kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization");
  }
  const std::vector<std::string> listed = Strings(At(kustomization, {"resources"}));
  const std::set<std::string> listed_set(listed.begin(), listed.end());
  const std::set<std::string> present(files.begin(), files.end());
  if (listed_set.size() != listed.size()) {
    problems.push_back("kustomization.yaml: resources lists a file twice");
  }
  std::vector<std::string> missing, extra;
  std::set_difference(present.begin(), present.end(), listed_set.begin(), listed_set.end(),
                      std::back_inserter(missing));
  std::set_difference(listed_set.begin(), listed_set.end(), present.begin(), present.end(),
                      std::back_inserter(extra));
  if (!missing.empty()) {
    problems.push_back(absl::StrCat("kustomization.yaml: resources misses ",
                                    absl::StrJoin(missing, ", "), " (not applied by kubectl -k)"));
  }
  if (!extra.empty()) {
    problems.push_back(absl::StrCat("kustomization.yaml: resources lists ",
                                    absl::StrJoin(extra, ", "), ", which do not exist"));
  }
  return problems;
}

}  // namespace skewless::deploy
