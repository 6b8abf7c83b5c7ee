// Loading deploy/'s YAML documents and navigating them without yaml-cpp's pitfalls.
#include "manifest_set.h"

#include <algorithm>
#include <fstream>
#include <span>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace skewless::deploy {
namespace {

YAML::Node AtPath(const YAML::Node& node, std::span<const std::string_view> path) {
  if (path.empty()) return node;
  if (!node.IsDefined() || !node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node child = node[std::string(path.front())];
  if (!child.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return AtPath(child, path.subspan(1));
}

}  // namespace

ManifestSet ManifestSet::Clone() const {
  ManifestSet copy;
  for (const Document& document : documents) {
    copy.documents.push_back(Document{document.file, document.index, YAML::Clone(document.node)});
  }
  return copy;
}

ManifestSet ManifestSet::Merged(const ManifestSet& other) const {
  ManifestSet merged = *this;
  for (const Document& document : other.documents) merged.documents.push_back(document);
  return merged;
}

std::vector<const Document*> ManifestSet::OfKind(std::string_view kind) const {
  std::vector<const Document*> found;
  for (const Document& document : documents) {
    if (Text(At(document.node, {"kind"})) == kind) found.push_back(&document);
  }
  return found;
}

const Document* ManifestSet::Find(std::string_view kind, std::string_view namespace_name,
                                  std::string_view name) const {
  for (const Document* document : OfKind(kind)) {
    if (Text(At(document->node, {"metadata", "name"})) == name &&
        Text(At(document->node, {"metadata", "namespace"})) == namespace_name) {
      return document;
    }
  }
  return nullptr;
}

std::vector<Workload> ManifestSet::Workloads() const {
  std::vector<Workload> workloads;
  for (const Document& document : documents) {
    const std::string kind = Text(At(document.node, {"kind"}));
    if (kind != "Deployment" && kind != "DaemonSet") continue;
    Workload workload{
        .document = &document,
        .kind = kind,
        .name = Text(At(document.node, {"metadata", "name"})),
        .namespace_name = Text(At(document.node, {"metadata", "namespace"})),
        .pod = At(document.node, {"spec", "template", "spec"}),
        .pod_labels = StringMap(At(document.node, {"spec", "template", "metadata", "labels"})),
    };
    for (const char* list : {"initContainers", "containers"}) {
      for (const YAML::Node& container : Items(At(workload.pod, {list}))) {
        workload.containers.push_back(container);
      }
    }
    workloads.push_back(std::move(workload));
  }
  return workloads;
}

std::optional<Workload> ManifestSet::FindWorkload(std::string_view kind,
                                                  std::string_view name) const {
  for (Workload& workload : Workloads()) {
    if (workload.kind == kind && workload.name == name) return std::move(workload);
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<Document>> LoadYamlFile(const std::filesystem::path& path,
                                                   const std::string& name) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(text.str());
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", error.what()));
  }
  std::vector<Document> documents;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    // A document of comments only (or an empty one after a trailing ---) is no object;
    // kubectl skips it too.
    if (nodes[i].IsNull()) continue;
    documents.push_back(Document{name, static_cast<int>(i), nodes[i]});
  }
  return documents;
}

absl::StatusOr<ManifestSet> LoadManifests(const std::filesystem::path& dir,
                                          const std::vector<std::string>& files) {
  ManifestSet set;
  for (const std::string& file : files) {
    absl::StatusOr<std::vector<Document>> documents = LoadYamlFile(dir / file, file);
    if (!documents.ok()) return documents.status();
    for (Document& document : *documents) set.documents.push_back(std::move(document));
  }
  return set;
}

std::vector<std::string> ManifestFiles(const std::filesystem::path& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && entry.path().extension() == ".yaml" &&
        name != "kustomization.yaml") {
      files.push_back(name);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

YAML::Node At(const YAML::Node& node, std::initializer_list<std::string_view> path) {
  return AtPath(node, std::span<const std::string_view>(path.begin(), path.size()));
}

std::string Text(const YAML::Node& node) {
  return node.IsDefined() && node.IsScalar() ? node.Scalar() : std::string();
}

std::optional<long> Integer(const YAML::Node& node) {
  long value = 0;
  if (!absl::SimpleAtoi(Text(node), &value)) return std::nullopt;
  return value;
}

bool IsTrue(const YAML::Node& node) { return Text(node) == "true"; }

std::vector<YAML::Node> Items(const YAML::Node& node) {
  std::vector<YAML::Node> items;
  if (!node.IsDefined() || !node.IsSequence()) return items;
  for (const YAML::Node& item : node) items.push_back(item);
  return items;
}

std::map<std::string, std::string> StringMap(const YAML::Node& node) {
  std::map<std::string, std::string> map;
  if (!node.IsDefined() || !node.IsMap()) return map;
  for (const auto& entry : node) map[Text(entry.first)] = Text(entry.second);
  return map;
}

std::vector<std::string> Strings(const YAML::Node& node) {
  std::vector<std::string> strings;
  for (const YAML::Node& item : Items(node)) strings.push_back(Text(item));
  return strings;
}

std::string Describe(const Document& document) {
  const std::string namespace_name = Text(At(document.node, {"metadata", "namespace"}));
  return absl::StrCat(Text(At(document.node, {"kind"})), " ",
                      namespace_name.empty() ? "" : namespace_name + "/",
                      Text(At(document.node, {"metadata", "name"})), " (", document.file, ")");
}

bool Selects(const std::map<std::string, std::string>& selector,
             const std::map<std::string, std::string>& labels) {
  if (selector.empty()) return false;
  return std::all_of(selector.begin(), selector.end(), [&](const auto& pair) {
    auto found = labels.find(pair.first);
    return found != labels.end() && found->second == pair.second;
  });
}

std::vector<std::string> FlagValues(const std::vector<std::string>& args, std::string_view flag) {
  const std::string with_equals = std::string(flag) + "=";
  std::vector<std::string> values;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag && i + 1 < args.size()) {
      values.push_back(args[++i]);
      continue;
    }
    if (args[i].starts_with(with_equals)) values.push_back(args[i].substr(with_equals.size()));
  }
  return values;
}

std::optional<std::string> FlagValue(const std::vector<std::string>& args, std::string_view flag) {
  std::vector<std::string> values = FlagValues(args, flag);
  if (values.empty()) return std::nullopt;
  return values.front();
}

YAML::Node Volume(const Workload& workload, std::string_view name) {
  for (const YAML::Node& volume : Items(At(workload.pod, {"volumes"}))) {
    if (Text(At(volume, {"name"})) == name) return volume;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string Program(const YAML::Node& container) {
  const std::vector<std::string> command = Strings(At(container, {"command"}));
  if (command.empty()) return "";
  return std::filesystem::path(command.front()).filename().string();
}

std::map<std::string, long> NamedPorts(const YAML::Node& container) {
  std::map<std::string, long> ports;
  for (const YAML::Node& port : Items(At(container, {"ports"}))) {
    ports[Text(At(port, {"name"}))] = Integer(At(port, {"containerPort"})).value_or(0);
  }
  return ports;
}

std::optional<long> ResolvePort(const YAML::Node& port, const std::map<std::string, long>& ports) {
  if (std::optional<long> number = Integer(port)) {
    for (const auto& [name, declared] : ports) {
      if (declared == *number) return number;
    }
    return std::nullopt;
  }
  auto named = ports.find(Text(port));
  if (named == ports.end()) return std::nullopt;
  return named->second;
}

std::optional<long> PortOf(std::string_view host_port) {
  const std::size_t colon = host_port.rfind(':');
  long port = 0;
  if (colon == std::string_view::npos ||
      !absl::SimpleAtoi(std::string(host_port.substr(colon + 1)), &port)) {
    return std::nullopt;
  }
  return port;
}

std::optional<YAML::Node> ContainerRunning(const Workload& workload, std::string_view program) {
  for (const YAML::Node& container : workload.containers) {
    if (Program(container) == program) return container;
  }
  return std::nullopt;
}

YAML::Node HostPathMount(const Workload& workload, const YAML::Node& container,
                         std::string_view host_path) {
  for (const YAML::Node& mount : Items(At(container, {"volumeMounts"}))) {
    for (const YAML::Node& volume : Items(At(workload.pod, {"volumes"}))) {
      if (Text(At(volume, {"name"})) == Text(At(mount, {"name"})) &&
          Text(At(volume, {"hostPath", "path"})) == host_path) {
        return mount;
      }
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool ToleratesEverything(const YAML::Node& pod) {
  const std::vector<YAML::Node> tolerations = Items(At(pod, {"tolerations"}));
  return std::any_of(tolerations.begin(), tolerations.end(), [](const YAML::Node& toleration) {
    return Text(At(toleration, {"operator"})) == "Exists" && !At(toleration, {"key"}).IsDefined() &&
           !At(toleration, {"effect"}).IsDefined();
  });
}

bool EnvFromField(const YAML::Node& container, std::string_view name, std::string_view field_path) {
  const std::vector<YAML::Node> env = Items(At(container, {"env"}));
  return std::any_of(env.begin(), env.end(), [&](const YAML::Node& variable) {
    return Text(At(variable, {"name"})) == name &&
           Text(At(variable, {"valueFrom", "fieldRef", "fieldPath"})) == field_path;
  });
}

}  // namespace skewless::deploy
