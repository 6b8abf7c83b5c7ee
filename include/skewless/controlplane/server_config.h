// skewless-controlplane's configuration: a YAML file (schema in docs/controlplane.md),
// overridden by flags, validated before anything starts.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/xds/stream_limits.h"

namespace skewless::controlplane {

enum class SourceKind { kFile, kKubernetes };

// How ADS clients prove who they are (docs/deploy.md, "Who may talk to the control plane").
enum class AuthMode {
  kNone,         // anyone who reaches the port reads everything
  kTokenReview,  // a bound ServiceAccount token, checked with the TokenReview API
};

// Which Services a reader that is not a writer is served (docs/controlplane.md, "Reader
// scope").
enum class ReaderScope {
  kAll,           // every Service
  kOwnNamespace,  // those of its ServiceAccount's namespace and the shared namespaces
};

struct ServerConfig {
  std::string xds_listen = "0.0.0.0:18000";  // ADS over gRPC
  std::string http_listen = "0.0.0.0:9090";  // /metrics, /healthz, /readyz
  SourceKind source = SourceKind::kFile;
  std::string file;  // the YAML snapshot; empty = the embedded lab default
  // For the Kubernetes source and for TokenReview; empty = in-cluster service account.
  std::string kubeconfig;
  std::string kube_context;                      // empty = the kubeconfig's current-context
  std::string cluster_domain = "cluster.local";  // for gRPC target names
  std::string log_level = "info";
  std::string log_format = "logfmt";
  // How long SIGTERM waits for streams to end before cancelling them.
  std::chrono::milliseconds shutdown_grace{5000};
  xds::StreamLimits limits;  // what one ADS client may cost
  // TLS for ADS: a PEM certificate chain and its key (cert-manager writes both). Neither
  // = plaintext h2c, today's default while the agent has no TLS; `plaintext` says so
  // explicitly and then forbids the files.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool plaintext = false;
  AuthMode auth = AuthMode::kNone;
  // kTokenReview: the audience client tokens must be bound to (a projected token's
  // `audience`), so an API credential or another service's token is refused.
  std::string token_audience = "skewless-controlplane";
  // "namespace/name" of the ServiceAccounts that may write (the agent's, the splicer's);
  // they may always read. Carried on each stream for write APIs (LRS) to check.
  std::vector<std::string> writer_service_accounts;
  // When not empty, only ServiceAccounts of these namespaces (and the writers) may read.
  std::vector<std::string> reader_namespaces;
  // How long TokenReview verdicts are kept, and how many (tests shorten them).
  struct TokenCache {
    std::chrono::milliseconds admitted_ttl{30000};
    std::chrono::milliseconds refused_ttl{5000};
    std::size_t max_entries = 10000;
  } token_cache;
  // Authorization (reader_scope.h, token_auth.h): TokenReviews in flight at once; a call
  // with an unknown token beyond it is refused UNAVAILABLE, so a flood of forged tokens
  // costs the API server and our auth threads a bounded amount.
  std::size_t max_concurrent_token_reviews = 8;
  ReaderScope reader_scope = ReaderScope::kAll;
  // With kOwnNamespace: namespaces whose Services every reader is served besides its own.
  std::vector<std::string> reader_shared_namespaces;
};

// Parses the YAML document over the defaults. Unknown keys are errors (a typo must not
// silently keep a default); every error names the file, line and key.
absl::StatusOr<ServerConfig> ParseServerConfigYaml(std::string_view document,
                                                   std::string_view source_name);
absl::StatusOr<ServerConfig> LoadServerConfigFile(const std::string& path);

// Checks values that parse but cannot work (a listen address without a port, an
// unknown log level...). The message names the field.
absl::Status ValidateServerConfig(const ServerConfig& config);

std::string_view SourceKindName(SourceKind kind);  // "file", "kubernetes"
absl::StatusOr<SourceKind> ParseSourceKind(std::string_view name);
std::string_view AuthModeName(AuthMode mode);  // "none", "tokenreview"
absl::StatusOr<AuthMode> ParseAuthMode(std::string_view name);
bool UsesTls(const ServerConfig& config);
std::string_view ReaderScopeName(ReaderScope scope);  // "all", "own-namespace"
absl::StatusOr<ReaderScope> ParseReaderScope(std::string_view name);

}  // namespace skewless::controlplane
