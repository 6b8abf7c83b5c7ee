// Where the API server is and how to log in to it: in-cluster service account, or a
// kubeconfig file.
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "parse_util.h"
#include "skewless/controlplane/kube_source.h"

namespace skewless::controlplane {
namespace {

// Reads one kubeconfig's fields; every error names the file and the field's path.
class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string path)
      : path_(std::move(path)), directory_(std::filesystem::path(path_).parent_path()) {}

  absl::Status Error(std::string_view field, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", path_, ": ", Sv(field), ": ", Sv(message)));
  }

  // A scalar field; "" when absent or null.
  absl::Status GetString(const YAML::Node& map, std::string_view key, const std::string& path,
                         std::string* out) const {
    const YAML::Node value = map[std::string(key)];
    if (!value.IsDefined() || value.IsNull()) return absl::OkStatus();
    if (!value.IsScalar()) return Error(Child(path, key), "must be a string");
    *out = value.Scalar();
    return absl::OkStatus();
  }

  // A file path field, relative ones taken from the kubeconfig's directory (as kubectl).
  absl::Status GetPath(const YAML::Node& map, std::string_view key, const std::string& path,
                       std::string* out) const {
    std::string value;
    SKW_RETURN_IF_ERROR(GetString(map, key, path, &value));
    if (value.empty()) return absl::OkStatus();
    const std::filesystem::path file(value);
    *out = file.is_absolute() ? value : (directory_ / file).string();
    return absl::OkStatus();
  }

  // A *-data field: base64 of the PEM text.
  absl::Status GetBase64(const YAML::Node& map, std::string_view key, const std::string& path,
                         std::string* out) const {
    std::string encoded;
    SKW_RETURN_IF_ERROR(GetString(map, key, path, &encoded));
    if (encoded.empty()) return absl::OkStatus();
    if (!absl::Base64Unescape(encoded, out) || out->empty()) {
      return Error(Child(path, key), "is not valid base64");
    }
    return absl::OkStatus();
  }

  // The `field` mapping of the entry called `name` in the list `list_key`
  // (clusters[].cluster, users[].user, contexts[].context).
  absl::StatusOr<YAML::Node> Find(const YAML::Node& root, std::string_view list_key,
                                  std::string_view field, const std::string& name) const {
    const YAML::Node list = root[std::string(list_key)];
    if (list.IsDefined() && !list.IsNull() && !list.IsSequence()) {
      return Error(list_key, "must be a list");
    }
    for (size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
      const YAML::Node entry = list[i];
      if (!entry.IsMap() || !entry["name"].IsScalar() || entry["name"].Scalar() != name) continue;
      const YAML::Node value = entry[std::string(field)];
      const std::string path = absl::StrCat(Sv(list_key), "[name=", name, "].", Sv(field));
      if (!value.IsDefined() || value.IsNull()) return YAML::Node(YAML::NodeType::Map);
      if (!value.IsMap()) return Error(path, "must be a mapping");
      return value;
    }
    return Error(list_key, absl::StrCat("has no entry named \"", name, "\""));
  }

 private:
  std::string path_;
  std::filesystem::path directory_;
};

absl::StatusOr<KubeConfig> ParseKubeconfig(const KubeconfigReader& reader, const YAML::Node& root,
                                           const std::string& context_name) {
  if (!root.IsMap()) return reader.Error("(document)", "must be a mapping");
  std::string context = context_name;
  if (context.empty()) {
    SKW_RETURN_IF_ERROR(reader.GetString(root, "current-context", "", &context));
    if (context.empty()) {
      return reader.Error("current-context", "is not set and no context was given");
    }
  }
  absl::StatusOr<YAML::Node> context_node = reader.Find(root, "contexts", "context", context);
  if (!context_node.ok()) return context_node.status();
  const std::string context_path = absl::StrCat("contexts[name=", context, "].context");
  std::string cluster_name, user_name;
  SKW_RETURN_IF_ERROR(reader.GetString(*context_node, "cluster", context_path, &cluster_name));
  SKW_RETURN_IF_ERROR(reader.GetString(*context_node, "user", context_path, &user_name));
  if (cluster_name.empty()) return reader.Error(context_path + ".cluster", "is required");

  KubeConfig config;
  absl::StatusOr<YAML::Node> found_cluster = reader.Find(root, "clusters", "cluster", cluster_name);
  if (!found_cluster.ok()) return found_cluster.status();
  // Read through a const node: yaml-cpp's non-const operator[] adds missing keys.
  const YAML::Node* cluster = &*found_cluster;
  const std::string cluster_path = absl::StrCat("clusters[name=", cluster_name, "].cluster");
  SKW_RETURN_IF_ERROR(reader.GetString(*cluster, "server", cluster_path, &config.server));
  if (config.server.empty()) return reader.Error(cluster_path + ".server", "is required");
  SKW_RETURN_IF_ERROR(
      reader.GetPath(*cluster, "certificate-authority", cluster_path, &config.ca_file));
  SKW_RETURN_IF_ERROR(
      reader.GetBase64(*cluster, "certificate-authority-data", cluster_path, &config.ca_data));
  std::string insecure;
  SKW_RETURN_IF_ERROR(
      reader.GetString(*cluster, "insecure-skip-tls-verify", cluster_path, &insecure));
  if (!insecure.empty() && insecure != "true" && insecure != "false") {
    return reader.Error(cluster_path + ".insecure-skip-tls-verify", "must be true or false");
  }
  config.insecure_skip_tls_verify = insecure == "true";
  // Ignoring these would connect somewhere else than the file says, or check another name.
  for (const char* unsupported : {"proxy-url", "tls-server-name"}) {
    if ((*cluster)[unsupported].IsDefined() && !(*cluster)[unsupported].IsNull()) {
      return reader.Error(Child(cluster_path, unsupported), "is not supported by skewless");
    }
  }

  if (user_name.empty()) return config;  // anonymous, or authenticated by a proxy
  absl::StatusOr<YAML::Node> found_user = reader.Find(root, "users", "user", user_name);
  if (!found_user.ok()) return found_user.status();
  const YAML::Node* user = &*found_user;
  const std::string user_path = absl::StrCat("users[name=", user_name, "].user");
  for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
    if ((*user)[unsupported].IsDefined() && !(*user)[unsupported].IsNull()) {
      return reader.Error(Child(user_path, unsupported),
                          "is not supported by skewless; use a token, a token file or a client "
                          "certificate");
    }
  }
  SKW_RETURN_IF_ERROR(reader.GetString(*user, "token", user_path, &config.bearer_token));
  SKW_RETURN_IF_ERROR(reader.GetPath(*user, "tokenFile", user_path, &config.bearer_token_file));
  SKW_RETURN_IF_ERROR(
      reader.GetPath(*user, "client-certificate", user_path, &config.client_cert_file));
  SKW_RETURN_IF_ERROR(
      reader.GetBase64(*user, "client-certificate-data", user_path, &config.client_cert_data));
  SKW_RETURN_IF_ERROR(reader.GetPath(*user, "client-key", user_path, &config.client_key_file));
  SKW_RETURN_IF_ERROR(
      reader.GetBase64(*user, "client-key-data", user_path, &config.client_key_data));
  return config;
}

}  // namespace

absl::StatusOr<KubeConfig> InClusterConfig(const std::string& service_account_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both "
        "set (not running in a pod?)");
  }
  KubeConfig config;
  const std::string host_text(host);
  // An IPv6-only cluster gives the service host as a bare IPv6 literal.
  config.server = host_text.find(':') == std::string::npos
                      ? absl::StrCat("https://", host_text, ":", port)
                      : absl::StrCat("https://[", host_text, "]:", port);
  config.bearer_token_file = service_account_dir + "/token";
  config.ca_file = service_account_dir + "/ca.crt";
  for (const std::string& file : {config.bearer_token_file, config.ca_file}) {
    if (::access(file.c_str(), R_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("in-cluster config: ", file,
                                                        ": cannot read: ", std::strerror(errno),
                                                        " (is a service account token mounted?)"));
    }
  }
  return config;
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path,
                                          const std::string& context_name) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("kubeconfig ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const KubeconfigReader reader(path);
  try {
    return ParseKubeconfig(reader, YAML::Load(text.str()), context_name);
  } catch (const YAML::Exception& e) {
    std::string where = absl::StrCat("kubeconfig ", path);
    if (!e.mark.is_null()) absl::StrAppend(&where, ":", e.mark.line + 1, ":", e.mark.column + 1);
    return absl::InvalidArgumentError(absl::StrCat(where, ": not valid YAML: ", e.msg));
  }
}

}  // namespace skewless::controlplane
