// skewless-controlplane's configuration: a YAML file (schema in docs/controlplane.md),
// overridden by flags, validated before anything starts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/xds/stream_limits.h"

namespace skewless::controlplane {

enum class SourceKind { kFile, kKubernetes };

// How ADS clients prove who they are (docs/deploy.md, "Who may talk to the control
// plane"): none, or one or both of the methods. With both, a client certificate carrying
// a SPIFFE ID decides, and a call without one is judged by its token.
struct AuthMethods {
  bool token_review = false;  // a bound ServiceAccount token, checked with TokenReview
  bool mtls = false;          // a client certificate (client_ca_file) with a SPIFFE ID
  bool any() const { return token_review || mtls; }
  bool operator==(const AuthMethods&) const = default;
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
  // The connect-time policy of a Service without the skewless.io/load-balancing annotation
  // (or with a value this build does not know): enum skw_lb_policy (common/lb_policy.h).
  std::string default_load_balancing = "least-loaded";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  // How long SIGTERM waits for streams to end before cancelling them.
  std::chrono::milliseconds shutdown_grace{5000};
  xds::StreamLimits limits;  // what one ADS client may cost
  // --- Transport and authentication (docs/controlplane.md "TLS and authentication") ---
  // ADS serves TLS; plaintext only when `plaintext` says so. The serving certificate comes
  // from files (cert-manager writes them; re-read every tls_refresh_interval) or is issued
  // from the CA in Secret `ca_secret`: one of the two, or `plaintext`.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool plaintext = false;
  std::chrono::seconds tls_refresh_interval{60};
  // "namespace/name" of the CA Secret (keys ca.crt, ca.key), created when absent; empty =
  // off. The issued certificate names tls_dns_names (empty = the Services' names in the
  // Secret's namespace, DefaultTlsDnsNames) and lives issued_cert_lifetime, renewed at half.
  std::string ca_secret;
  std::string ca_bundle_configmap = "skewless-system/skewless-ca-bundle";  // key ca.crt
  std::vector<std::string> tls_dns_names;
  std::chrono::seconds issued_cert_lifetime{std::chrono::hours(24)};
  // PEM CA bundle that client certificates are verified against (requested, not
  // required); needs auth mtls. Re-read with the serving certificate.
  std::string client_ca_file;
  AuthMethods auth;
  // token_review: the audience client tokens must be bound to (a projected token's
  // `audience`), so an API credential or another service's token is refused.
  std::string token_audience = "skewless-controlplane";
  // "namespace/name" of the ServiceAccounts that may write (the agent's, the splicer's);
  // they may always read. Carried on each stream for write APIs (LRS) to check.
  std::vector<std::string> writer_service_accounts;
  // When not empty, only ServiceAccounts of these namespaces (and the writers) may read.
  std::vector<std::string> reader_namespaces;
  // --- end of transport and authentication ---
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
  // Load reports (docs/controlplane.md "Load reports (LRS)"): what reporters are asked
  // for, what one may cost, and how often the sums reach agents.
  struct Lrs {
    // load_reporting_interval asked of reporters. Agents also report a change in their
    // counts as soon as their own change interval allows, so this is their heartbeat.
    std::chrono::milliseconds interval{5000};
    std::chrono::milliseconds expiry{0};    // silent this long = gone; 0 = 3 × interval
    std::uint64_t max_per_endpoint = 4096;  // one reporter's value for one endpoint
    std::size_t max_streams = 10000;        // LRS streams open at once
    std::size_t max_reporters = 10000;      // reporters tracked at once
    std::size_t max_endpoints_per_report = 10000;
    // Reports read per second from one stream (bursts of as many); faster ones wait.
    std::size_t max_reports_per_second = 4;
    // ClusterLoads change at most this often: with the agents' change reports, what keeps
    // a node's view of the others within a fraction of a second (docs/BENCHMARKS.md,
    // "Connect-time policy across nodes").
    std::chrono::milliseconds publish_interval{250};
    // Clusters served to proxyless gRPC clients name the control plane as lrs_server, so
    // they report (per locality) over LRS.
    bool grpc_clients_report = false;
    std::chrono::milliseconds Expiry() const { return expiry.count() > 0 ? expiry : 3 * interval; }
  } lrs;
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
std::string AuthMethodsName(AuthMethods methods);  // "none", "tokenreview,mtls", ...
// "none", or a comma-separated list of tokenreview and mtls.
absl::StatusOr<AuthMethods> ParseAuthMethods(std::string_view text);
bool UsesTls(const ServerConfig& config);  // certificate files or the CA Secret
// TLS material or an explicit plaintext: a daemon given neither must not start (it would
// otherwise serve every Service's endpoints in the clear by accident).
absl::Status ValidateTransportChosen(const ServerConfig& config);
// The names the Services in deploy/ give the control plane in `namespace_name`.
std::vector<std::string> DefaultTlsDnsNames(const std::string& namespace_name,
                                            const std::string& cluster_domain);
std::string_view ReaderScopeName(ReaderScope scope);  // "all", "own-namespace"
absl::StatusOr<ReaderScope> ParseReaderScope(std::string_view name);

}  // namespace skewless::controlplane
