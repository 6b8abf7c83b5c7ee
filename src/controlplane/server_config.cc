// Parsing and validation of the control plane's YAML configuration.
#include "skewless/controlplane/server_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ca_secret.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/log.h"
#include "skewless/common/net.h"
#include "skewless/common/yaml_load.h"

namespace skewless::controlplane {
namespace {

std::string Where(std::string_view source_name, const YAML::Node& node, std::string_view key) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return absl::StrCat(std::string(source_name), ": ", std::string(key));
  return absl::StrCat(std::string(source_name), ":", mark.line + 1, ":", mark.column + 1, ": ",
                      std::string(key));
}

absl::Status ReadString(std::string_view source_name, const YAML::Node& parent,
                        const std::string& key, std::string_view path, std::string* out) {
  const YAML::Node node = parent[key];
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, node, path), ": expected a string"));
  }
  *out = node.Scalar();
  return absl::OkStatus();
}

// Walks a mapping, calling `field(key, value)` for each key and failing on any key the
// mapping does not know.
template <typename Field>
absl::Status ForEachKey(std::string_view source_name, const YAML::Node& map, std::string_view path,
                        Field field) {
  if (!map.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, map, path), ": expected a mapping"));
  }
  for (const auto& entry : map) {
    const std::string key = entry.first.as<std::string>();
    const std::string key_path = path.empty() ? key : absl::StrCat(std::string(path), ".", key);
    absl::StatusOr<bool> known = field(key, key_path);
    if (!known.ok()) return known.status();
    if (!*known) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_name, entry.first, key_path), ": unknown key"));
    }
  }
  return absl::OkStatus();
}

bool HasPort(const std::string& address) {
  absl::StatusOr<net::HostPort> split = net::SplitHostPort(address);
  return split.ok() && !split->host.empty();
}

// The limits' YAML keys (docs/controlplane.md "Limits").
std::size_t* LimitField(xds::StreamLimits& limits, std::string_view key) {
  if (key == "maxStreams") return &limits.max_streams;
  if (key == "maxStreamsPerPeer") return &limits.max_streams_per_peer;
  if (key == "maxNamesPerStream") return &limits.max_names_per_stream;
  if (key == "maxStreamMemoryBytes") return &limits.max_stream_memory_bytes;
  if (key == "maxRequestBytes") return &limits.max_request_bytes;
  if (key == "maxRequestsPerSecond") return &limits.requests_per_second;
  return nullptr;
}

absl::Status ReadStringList(std::string_view source_name, const YAML::Node& parent,
                            const std::string& key, std::string_view path,
                            std::vector<std::string>* out) {
  const YAML::Node node = parent[key];
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, node, path), ": expected a list of strings"));
  }
  out->clear();
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(source_name, item, path), ": expected a list of strings"));
    }
    out->push_back(item.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ReadBool(std::string_view source_name, const YAML::Node& parent,
                      const std::string& key, std::string_view path, bool* out) {
  std::string text;
  absl::Status s = ReadString(source_name, parent, key, path, &text);
  if (!s.ok() || (text != "true" && text != "false")) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, parent[key], path), ": expected true or false"));
  }
  *out = text == "true";
  return absl::OkStatus();
}

// A positive number of `unit`s (seconds, hours) as whole seconds.
absl::Status ReadSeconds(std::string_view source_name, const YAML::Node& parent,
                         const std::string& key, std::string_view path, double unit_seconds,
                         std::chrono::seconds* out) {
  std::string text;
  absl::Status s = ReadString(source_name, parent, key, path, &text);
  double value = 0;
  if (!s.ok() || !absl::SimpleAtod(text, &value) || value * unit_seconds < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(source_name, parent[key], path), ": expected a positive number, got \"", text, "\""));
  }
  *out = std::chrono::seconds(static_cast<long>(value * unit_seconds));
  return absl::OkStatus();
}

// A positive number of seconds, fractions allowed, as milliseconds (at least one).
absl::Status ReadMilliseconds(std::string_view source_name, const YAML::Node& parent,
                              const std::string& key, std::string_view path,
                              std::chrono::milliseconds* out) {
  std::string text;
  absl::Status s = ReadString(source_name, parent, key, path, &text);
  double seconds = 0;
  if (!s.ok() || !absl::SimpleAtod(text, &seconds) || seconds * 1000 < 1 || seconds > 86400) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(source_name, parent[key], path),
                     ": expected a positive number of seconds up to 86400, got \"", text, "\""));
  }
  *out = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  return absl::OkStatus();
}

// The `lrs:` mapping (docs/controlplane.md "Load reports (LRS)").
absl::Status ParseLrsSection(std::string_view name, const YAML::Node& value, std::string_view path,
                             ServerConfig& config) {
  ServerConfig::Lrs& lrs = config.lrs;
  const std::map<std::string, std::chrono::milliseconds*> durations = {
      {"intervalSeconds", &lrs.interval},
      {"expirySeconds", &lrs.expiry},
      {"publishIntervalSeconds", &lrs.publish_interval}};
  const std::map<std::string, std::uint64_t*> counts = {{"maxPerEndpoint", &lrs.max_per_endpoint}};
  const std::map<std::string, std::size_t*> sizes = {
      {"maxStreams", &lrs.max_streams},
      {"maxReporters", &lrs.max_reporters},
      {"maxEndpointsPerReport", &lrs.max_endpoints_per_report},
      {"maxReportsPerSecond", &lrs.max_reports_per_second}};
  return ForEachKey(
      name, value, path, [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
        if (k == "grpcClientsReport") {
          absl::Status s = ReadBool(name, value, k, p, &lrs.grpc_clients_report);
          if (!s.ok()) return s;
          return true;
        }
        if (const auto field = durations.find(k); field != durations.end()) {
          absl::Status s = ReadMilliseconds(name, value, k, p, field->second);
          if (!s.ok()) return s;
          return true;
        }
        std::uint64_t* count = nullptr;
        std::size_t* size = nullptr;
        if (const auto field = counts.find(k); field != counts.end()) count = field->second;
        if (const auto field = sizes.find(k); field != sizes.end()) size = field->second;
        if (count == nullptr && size == nullptr) return false;
        std::string text;
        absl::Status s = ReadString(name, value, k, p, &text);
        std::uint64_t number = 0;
        if (!s.ok() || !absl::SimpleAtoi(text, &number) || number == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              Where(name, value[k], p), ": expected a positive integer, got \"", text, "\""));
        }
        if (count != nullptr) *count = number;
        if (size != nullptr) *size = number;
        return true;
      });
}

// The `tls:` mapping (docs/controlplane.md "TLS and authentication").
absl::Status ParseTlsSection(std::string_view name, const YAML::Node& value, std::string_view path,
                             ServerConfig& config) {
  const std::map<std::string, std::string*> strings = {
      {"certFile", &config.tls_cert_file},
      {"keyFile", &config.tls_key_file},
      {"caSecret", &config.ca_secret},
      {"caBundleConfigMap", &config.ca_bundle_configmap},
      {"clientCaFile", &config.client_ca_file}};
  return ForEachKey(name, value, path,
                    [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
                      absl::Status s;
                      if (const auto field = strings.find(k); field != strings.end()) {
                        s = ReadString(name, value, k, p, field->second);
                      } else if (k == "plaintext") {
                        s = ReadBool(name, value, k, p, &config.plaintext);
                      } else if (k == "dnsNames") {
                        s = ReadStringList(name, value, k, p, &config.tls_dns_names);
                      } else if (k == "refreshIntervalSeconds") {
                        s = ReadSeconds(name, value, k, p, 1, &config.tls_refresh_interval);
                      } else if (k == "issuedCertLifetimeHours") {
                        s = ReadSeconds(name, value, k, p, 3600, &config.issued_cert_lifetime);
                      } else {
                        return false;
                      }
                      if (!s.ok()) return s;
                      return true;
                    });
}

// The `auth:` mapping.
absl::Status ParseAuthSection(std::string_view name, const YAML::Node& value, std::string_view path,
                              ServerConfig& config) {
  return ForEachKey(
      name, value, path, [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
        absl::Status s;
        if (k == "mode") {
          std::string text;
          s = ReadString(name, value, k, p, &text);
          if (!s.ok()) return s;
          absl::StatusOr<AuthMethods> methods = ParseAuthMethods(text);
          if (!methods.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(name, value[k], p), ": ", methods.status().message()));
          }
          config.auth = *methods;
        } else if (k == "tokenAudience") {
          s = ReadString(name, value, k, p, &config.token_audience);
        } else if (k == "writerServiceAccounts") {
          s = ReadStringList(name, value, k, p, &config.writer_service_accounts);
        } else if (k == "readerNamespaces") {
          s = ReadStringList(name, value, k, p, &config.reader_namespaces);
        } else {
          return false;
        }
        if (!s.ok()) return s;
        return true;
      });
}

}  // namespace

std::string_view SourceKindName(SourceKind kind) {
  return kind == SourceKind::kKubernetes ? "kubernetes" : "file";
}

absl::StatusOr<SourceKind> ParseSourceKind(std::string_view name) {
  if (name == "file") return SourceKind::kFile;
  if (name == "kubernetes") return SourceKind::kKubernetes;
  return absl::InvalidArgumentError(
      absl::StrCat("source \"", std::string(name), "\" is not one of file, kubernetes"));
}

std::string AuthMethodsName(AuthMethods methods) {
  if (!methods.any()) return "none";
  if (methods.token_review && methods.mtls) return "tokenreview,mtls";
  return methods.token_review ? "tokenreview" : "mtls";
}

absl::StatusOr<AuthMethods> ParseAuthMethods(std::string_view text) {
  if (text == "none") return AuthMethods{};
  AuthMethods methods;
  const std::vector<std::string> methods_named = absl::StrSplit(std::string(text), ',');
  for (const std::string& method : methods_named) {
    if (method == "tokenreview") {
      methods.token_review = true;
    } else if (method == "mtls") {
      methods.mtls = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("auth \"", std::string(text),
                       "\" is not none or a list of tokenreview, mtls (e.g. tokenreview,mtls)"));
    }
  }
  return methods;
}

bool UsesTls(const ServerConfig& config) {
  return !config.tls_cert_file.empty() || !config.ca_secret.empty();
}

absl::Status ValidateTransportChosen(const ServerConfig& config) {
  if (config.plaintext || UsesTls(config)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "no TLS for ADS: give --tls-cert-file and --tls-key-file (tls.certFile, tls.keyFile), "
      "or --ca-secret (tls.caSecret), or serve plaintext explicitly with --plaintext "
      "(tls.plaintext: true)");
}

std::vector<std::string> DefaultTlsDnsNames(const std::string& namespace_name,
                                            const std::string& cluster_domain) {
  std::vector<std::string> names;
  // deploy/controlplane-service.yaml and deploy/controlplane-headless-service.yaml.
  for (const char* service : {"skewless-controlplane", "skewless-controlplane-pods"}) {
    names.push_back(service);
    names.push_back(absl::StrCat(service, ".", namespace_name));
    names.push_back(absl::StrCat(service, ".", namespace_name, ".svc"));
    names.push_back(absl::StrCat(service, ".", namespace_name, ".svc.", cluster_domain));
  }
  return names;
}

std::string_view ReaderScopeName(ReaderScope scope) {
  return scope == ReaderScope::kOwnNamespace ? "own-namespace" : "all";
}

absl::StatusOr<ReaderScope> ParseReaderScope(std::string_view name) {
  if (name == "all") return ReaderScope::kAll;
  if (name == "own-namespace") return ReaderScope::kOwnNamespace;
  return absl::InvalidArgumentError(
      absl::StrCat("reader scope \"", std::string(name), "\" is not one of all, own-namespace"));
}

absl::StatusOr<ServerConfig> ParseServerConfigYaml(std::string_view document,
                                                   std::string_view source_name) {
  absl::StatusOr<YAML::Node> loaded = LoadYaml(document, source_name);
  if (!loaded.ok()) return loaded.status();
  const YAML::Node& root = *loaded;
  ServerConfig config;
  if (root.IsNull()) return config;
  const std::string name(source_name);
  absl::Status status = ForEachKey(
      name, root, "", [&](const std::string& key, const std::string& path) -> absl::StatusOr<bool> {
        const YAML::Node value = root[key];
        if (key == "xds" || key == "http") {
          std::string& listen = key == "xds" ? config.xds_listen : config.http_listen;
          absl::Status inner =
              ForEachKey(name, value, path,
                         [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
                           if (k != "listen") return false;
                           absl::Status s = ReadString(name, value, k, p, &listen);
                           if (!s.ok()) return s;
                           return true;
                         });
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "source") {
          absl::Status inner =
              ForEachKey(name, value, path,
                         [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
                           std::string text;
                           if (k != "kind" && k != "file" && k != "kubeconfig" && k != "context") {
                             return false;
                           }
                           absl::Status s = ReadString(name, value, k, p, &text);
                           if (!s.ok()) return s;
                           if (k == "kind") {
                             absl::StatusOr<SourceKind> kind = ParseSourceKind(text);
                             if (!kind.ok()) {
                               return absl::InvalidArgumentError(absl::StrCat(
                                   Where(name, value[k], p), ": ", kind.status().message()));
                             }
                             config.source = *kind;
                           } else if (k == "file") {
                             config.file = text;
                           } else if (k == "kubeconfig") {
                             config.kubeconfig = text;
                           } else {
                             config.kube_context = text;
                           }
                           return true;
                         });
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "log") {
          absl::Status inner = ForEachKey(
              name, value, path,
              [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
                if (k != "level" && k != "format") return false;
                absl::Status s = ReadString(name, value, k, p,
                                            k == "level" ? &config.log_level : &config.log_format);
                if (!s.ok()) return s;
                return true;
              });
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "limits") {
          absl::Status inner =
              ForEachKey(name, value, path,
                         [&](const std::string& k, const std::string& p) -> absl::StatusOr<bool> {
                           std::size_t* field = LimitField(config.limits, k);
                           if (field == nullptr) return false;
                           std::string text;
                           absl::Status s = ReadString(name, value, k, p, &text);
                           std::uint64_t number = 0;
                           if (!s.ok() || !absl::SimpleAtoi(text, &number) || number == 0) {
                             return absl::InvalidArgumentError(
                                 absl::StrCat(Where(name, value[k], p),
                                              ": expected a positive integer, got \"", text, "\""));
                           }
                           *field = number;
                           return true;
                         });
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "lrs") {
          absl::Status inner = ParseLrsSection(name, value, path, config);
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "tls" || key == "auth") {
          absl::Status inner = key == "tls" ? ParseTlsSection(name, value, path, config)
                                            : ParseAuthSection(name, value, path, config);
          if (!inner.ok()) return inner;
          return true;
        }
        if (key == "defaultLoadBalancing") {
          absl::Status s = ReadString(name, root, key, path, &config.default_load_balancing);
          if (!s.ok()) return s;
          return true;
        }
        if (key == "clusterDomain") {
          absl::Status s = ReadString(name, root, key, path, &config.cluster_domain);
          if (!s.ok()) return s;
          return true;
        }
        if (key == "shutdownGraceSeconds") {
          std::string text;
          absl::Status s = ReadString(name, root, key, path, &text);
          double seconds = 0;
          if (!s.ok() || !absl::SimpleAtod(text, &seconds) || seconds < 0 || seconds > 3600) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(name, value, path),
                             ": expected seconds between 0 and 3600, got \"", text, "\""));
          }
          config.shutdown_grace = std::chrono::milliseconds(static_cast<long>(seconds * 1000));
          return true;
        }
        // Authorization: the TokenReview bound and the reader scope.
        if (key == "maxConcurrentTokenReviews") {
          std::string text;
          absl::Status s = ReadString(name, root, key, path, &text);
          std::uint64_t number = 0;
          if (!s.ok() || !absl::SimpleAtoi(text, &number) || number == 0) {
            return absl::InvalidArgumentError(absl::StrCat(
                Where(name, value, path), ": expected a positive integer, got \"", text, "\""));
          }
          config.max_concurrent_token_reviews = number;
          return true;
        }
        if (key == "readerScope") {
          std::string text;
          absl::Status s = ReadString(name, root, key, path, &text);
          if (!s.ok()) return s;
          absl::StatusOr<ReaderScope> scope = ParseReaderScope(text);
          if (!scope.ok()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(name, value, path), ": ", scope.status().message()));
          }
          config.reader_scope = *scope;
          return true;
        }
        if (key == "readerSharedNamespaces") {
          if (!value.IsSequence()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Where(name, value, path), ": expected a list of namespaces"));
          }
          config.reader_shared_namespaces.clear();
          for (const YAML::Node& entry : value) {
            if (!entry.IsScalar() || entry.Scalar().empty()) {
              return absl::InvalidArgumentError(
                  absl::StrCat(Where(name, entry, path), ": expected a namespace name"));
            }
            config.reader_shared_namespaces.push_back(entry.Scalar());
          }
          return true;
        }
        return false;
      });
  if (!status.ok()) return status;
  if (absl::Status valid = ValidateServerConfig(config); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", valid.message()));
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the config file"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseServerConfigYaml(text.str(), path);
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  if (!HasPort(config.xds_listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("xds.listen: \"", config.xds_listen, "\" is not host:port"));
  }
  if (!HasPort(config.http_listen)) {
    return absl::InvalidArgumentError(
        absl::StrCat("http.listen: \"", config.http_listen, "\" is not host:port"));
  }
  if (config.cluster_domain.empty()) {
    return absl::InvalidArgumentError("clusterDomain: must not be empty");
  }
  if (!ParseLbPolicy(config.default_load_balancing)) {
    return absl::InvalidArgumentError(absl::StrCat("defaultLoadBalancing: unknown policy \"",
                                                   config.default_load_balancing,
                                                   "\" (known: ", LbPolicyNameList(), ")"));
  }
  if (absl::StatusOr<log::Level> level = log::ParseLevel(config.log_level); !level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("log.level: ", level.status().message()));
  }
  if (absl::StatusOr<log::Format> format = log::ParseFormat(config.log_format); !format.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("log.format: ", format.status().message()));
  }
  const xds::StreamLimits& limits = config.limits;
  if (limits.max_streams == 0 || limits.max_streams_per_peer == 0 ||
      limits.max_names_per_stream == 0 || limits.max_stream_memory_bytes == 0 ||
      limits.requests_per_second == 0) {
    return absl::InvalidArgumentError("limits: every limit must be at least 1");
  }
  // gRPC takes the receive limit as an int; below 1 KiB not even a first request fits.
  if (limits.max_request_bytes < 1024 || limits.max_request_bytes > (1u << 30)) {
    return absl::InvalidArgumentError(
        "limits.maxRequestBytes: must be between 1024 and 1073741824");
  }
  // Load reports.
  const ServerConfig::Lrs& lrs = config.lrs;
  if (lrs.interval < std::chrono::milliseconds(100)) {
    return absl::InvalidArgumentError("lrs.intervalSeconds (--lrs-interval): must be at least 0.1");
  }
  // A reporter reports once per interval: an expiry shorter would forget live ones.
  if (lrs.Expiry() < lrs.interval) {
    return absl::InvalidArgumentError(
        "lrs.expirySeconds (--lrs-expiry): must be at least lrs.intervalSeconds (default 3 "
        "intervals)");
  }
  if (lrs.publish_interval < std::chrono::milliseconds(10)) {
    return absl::InvalidArgumentError(
        "lrs.publishIntervalSeconds (--load-publish-interval): must be at least 0.01");
  }
  if (lrs.max_per_endpoint == 0 || lrs.max_streams == 0 || lrs.max_reporters == 0 ||
      lrs.max_endpoints_per_report == 0 || lrs.max_reports_per_second == 0) {
    return absl::InvalidArgumentError(
        "lrs: maxPerEndpoint, maxStreams, maxReporters, maxEndpointsPerReport and "
        "maxReportsPerSecond must be at least 1");
  }
  // --- Transport and authentication ---
  if (config.source == SourceKind::kFile && !config.auth.token_review && config.ca_secret.empty() &&
      !config.kubeconfig.empty()) {
    return absl::InvalidArgumentError(
        "source.kubeconfig: set, but source.kind is file, auth is not tokenreview and there "
        "is no tls.caSecret");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "tls: a certificate file needs its key file and a key file its certificate");
  }
  if (!config.tls_cert_file.empty() && !config.ca_secret.empty()) {
    return absl::InvalidArgumentError(
        "tls: certificate files and caSecret both given; the serving certificate comes from "
        "one of them");
  }
  if (config.plaintext && UsesTls(config)) {
    return absl::InvalidArgumentError("tls: plaintext chosen, but TLS files or caSecret given");
  }
  if (config.tls_refresh_interval < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("tls.refreshIntervalSeconds: must be at least 1");
  }
  if (!config.ca_secret.empty()) {
    for (const auto& [value, key] : {std::pair{&config.ca_secret, "tls.caSecret"},
                                     {&config.ca_bundle_configmap, "tls.caBundleConfigMap"}}) {
      if (absl::StatusOr<ObjectName> parsed = ParseObjectName(*value, key); !parsed.ok()) {
        return parsed.status();
      }
    }
    // Renewed at half the lifetime, and the watcher must see a renewal before the next.
    if (config.issued_cert_lifetime < 4 * config.tls_refresh_interval) {
      return absl::InvalidArgumentError(
          "tls.issuedCertLifetimeHours: must be at least four refresh intervals");
    }
  } else if (!config.tls_dns_names.empty()) {
    return absl::InvalidArgumentError("tls.dnsNames: set, but there is no caSecret to issue from");
  }
  if (!config.client_ca_file.empty() && !config.auth.mtls) {
    return absl::InvalidArgumentError("tls.clientCaFile: set, but auth does not include mtls");
  }
  if (config.auth.mtls && config.client_ca_file.empty()) {
    return absl::InvalidArgumentError("auth mtls: needs tls.clientCaFile (--client-ca-file)");
  }
  if (config.auth.any()) {
    // A bearer token sent in the clear can be copied and replayed by anyone on the path,
    // and without TLS there is no client certificate.
    if (!UsesTls(config)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth ", AuthMethodsName(config.auth), ": needs TLS (certificate files or caSecret)"));
    }
  }
  if (config.auth.token_review && config.token_audience.empty()) {
    return absl::InvalidArgumentError("auth tokenreview: the token audience is empty");
  }
  for (const std::string& account : config.writer_service_accounts) {
    if (!ParseObjectName(account, "writer service account").ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("writer service account \"", account, "\" is not namespace/name"));
    }
  }
  if (!config.auth.any() &&
      (!config.writer_service_accounts.empty() || !config.reader_namespaces.empty())) {
    return absl::InvalidArgumentError(
        "writer service accounts and reader namespaces need auth tokenreview or mtls");
  }
  // Authorization: the TokenReview bound and the reader scope.
  if (config.max_concurrent_token_reviews == 0) {
    return absl::InvalidArgumentError("maxConcurrentTokenReviews: must be at least 1");
  }
  for (const std::string& ns : config.reader_shared_namespaces) {
    if (ns.empty() || ns.find_first_of("/: ") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("readerSharedNamespaces: \"", ns, "\" is not a namespace name"));
    }
  }
  if (config.reader_scope == ReaderScope::kAll && !config.reader_shared_namespaces.empty()) {
    return absl::InvalidArgumentError(
        "readerSharedNamespaces: set, but readerScope is all (every reader sees everything)");
  }
  // Without an authenticated identity there is no namespace to scope a reader to.
  if (config.reader_scope == ReaderScope::kOwnNamespace && !config.auth.any()) {
    return absl::InvalidArgumentError(
        "readerScope own-namespace: needs authenticated readers (auth tokenreview or mtls)");
  }
  return absl::OkStatus();
}

}  // namespace skewless::controlplane
