// The deploy/ manifests as parsed YAML documents, with the lookups the checks share.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace skewless::deploy {

// Arrays, not std::string_view: this Abseil's string_view is its own type, which
// absl::StrCat does not take std::string_view for.
inline constexpr char kNamespace[] = "skewless-system";
inline constexpr char kControlPlane[] = "skewless-controlplane";
inline constexpr char kAgent[] = "skewless-agent";
inline constexpr char kSplicer[] = "skewless-splicer";
// Written by the control plane at run time (its CA bundle, for clients), not applied.
inline constexpr char kCaBundleConfigMap[] = "skewless-ca-bundle";

// One YAML document of a manifest file.
struct Document {
  std::string file;  // relative to the directory it was loaded from
  int index = 0;     // its position in the file (documents separated by ---)
  YAML::Node node;

  // yaml-cpp's Node assignment rebinds the node it overwrites, corrupting whatever
  // shares it: documents are copied, never assigned.
  Document& operator=(const Document&) = delete;
};

// A Deployment's or DaemonSet's pod template: where most cross-references start.
struct Workload {
  const Document* document = nullptr;
  std::string kind, name, namespace_name;
  YAML::Node pod;                                 // spec.template.spec
  std::map<std::string, std::string> pod_labels;  // spec.template.metadata.labels
  std::vector<YAML::Node> containers;             // initContainers, then containers
};

class ManifestSet {
 public:
  std::vector<Document> documents;

  // A deep copy: tests break one field of it without touching the shared original.
  ManifestSet Clone() const;
  // The documents of both sets (the uninstall DaemonSet refers to installed objects).
  ManifestSet Merged(const ManifestSet& other) const;

  std::vector<const Document*> OfKind(std::string_view kind) const;
  // namespace_name is "" for cluster-scoped kinds.
  const Document* Find(std::string_view kind, std::string_view namespace_name,
                       std::string_view name) const;
  std::vector<Workload> Workloads() const;
  std::optional<Workload> FindWorkload(std::string_view kind, std::string_view name) const;
};

// Every document of one YAML file (a syntax error names the file and line).
absl::StatusOr<std::vector<Document>> LoadYamlFile(const std::filesystem::path& path,
                                                   const std::string& name);
// The named files of a directory.
absl::StatusOr<ManifestSet> LoadManifests(const std::filesystem::path& dir,
                                          const std::vector<std::string>& files);
// The manifests `kubectl apply -k` should see: *.yaml directly in dir, but the
// kustomization itself; sorted.
std::vector<std::string> ManifestFiles(const std::filesystem::path& dir);

// Safe navigation: an undefined node when any step is missing or not a mapping (yaml-cpp
// throws on subscripting a scalar, and assigning Nodes rebinds the original document,
// so these helpers never assign one).
YAML::Node At(const YAML::Node& node, std::initializer_list<std::string_view> path);
std::string Text(const YAML::Node& node);  // "" unless a scalar
std::optional<long> Integer(const YAML::Node& node);
bool IsTrue(const YAML::Node& node);
std::vector<YAML::Node> Items(const YAML::Node& node);  // empty unless a sequence
std::map<std::string, std::string> StringMap(const YAML::Node& node);
std::vector<std::string> Strings(const YAML::Node& node);  // a sequence of scalars

// "Deployment skewless-system/skewless-controlplane (controlplane-deployment.yaml)".
std::string Describe(const Document& document);
// True when every pair of `selector` is in `labels` (and the selector is not empty).
bool Selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels);

// Container arguments: the value of `--name=value` or `--name value`, if present.
std::optional<std::string> FlagValue(const std::vector<std::string>& args, std::string_view flag);
// Every value of a repeatable flag, in order.
std::vector<std::string> FlagValues(const std::vector<std::string>& args, std::string_view flag);
// The program a container runs: the last path component of command[0].
std::string Program(const YAML::Node& container);
// A container's port names → numbers.
std::map<std::string, long> NamedPorts(const YAML::Node& container);
// A port given by name or number (a probe's, a Service's targetPort): the number it
// means among `ports`, if it is one of them.
std::optional<long> ResolvePort(const YAML::Node& port, const std::map<std::string, long>& ports);
// The port of "host:port".
std::optional<long> PortOf(std::string_view host_port);
// The first container of the workload that runs `program`, if any.
std::optional<YAML::Node> ContainerRunning(const Workload& workload, std::string_view program);
// The pod's volume called `name`; undefined if none.
YAML::Node Volume(const Workload& workload, std::string_view name);
// The volumeMount through which `container` sees the host's `host_path`; undefined if none.
YAML::Node HostPathMount(const Workload& workload, const YAML::Node& container,
                         std::string_view host_path);
// A toleration with operator Exists and no key or effect: the pod runs on every node.
bool ToleratesEverything(const YAML::Node& pod);
// The container's environment variable `name` comes from the downward API's `field_path`.
bool EnvFromField(const YAML::Node& container, std::string_view name, std::string_view field_path);

}  // namespace skewless::deploy
