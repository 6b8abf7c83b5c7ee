// skewless-controlplane: Services and EndpointSlices (or a YAML file) served as xDS.
#include <signal.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "skewless/common/cli.h"
#include "skewless/common/log.h"
#include "skewless/common/stop_signals.h"
#include "skewless/controlplane/server.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  using skewless::controlplane::ServerConfig;
  namespace log = skewless::log;

  CLI::App app{
      "skewless-controlplane: watches Services, EndpointSlices and Nodes (or a YAML file)\n"
      "and serves them as Envoy xDS (ADS, state-of-the-world and delta) to skewless agents,\n"
      "Envoy and proxyless gRPC clients (xds:/// targets). Flags override --config.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags or config."};
  std::string config_path;
  std::optional<std::string> xds_listen, http_listen, source, file, kubeconfig, kube_context,
      cluster_domain, default_load_balancing, log_level, log_format;
  std::optional<double> shutdown_grace_s;
  std::optional<std::size_t> max_streams, max_streams_per_peer, max_names_per_stream,
      max_stream_memory_bytes, max_request_bytes, max_requests_per_second;
  // Transport and authentication.
  std::optional<std::string> tls_cert_file, tls_key_file, auth, token_audience, ca_secret,
      ca_bundle_configmap, client_ca_file;
  std::optional<unsigned> tls_refresh_interval_s;
  std::optional<double> issued_cert_lifetime_h;
  // Plain vectors, given or not as CLI11 counts them (GCC 12 under ASan takes an
  // optional<vector> bound by CLI11 for maybe-uninitialized).
  std::vector<std::string> writer_service_accounts, reader_namespaces, tls_dns_names;
  bool plaintext = false;
  // Authorization: what token reviews may cost, which Services a reader sees.
  std::optional<std::size_t> max_concurrent_token_reviews;
  std::optional<std::string> reader_scope;
  std::vector<std::string> reader_shared_namespaces;
  // Load reports (LRS).
  std::optional<double> lrs_interval_s, lrs_expiry_s, load_publish_interval_s;
  std::optional<std::uint64_t> lrs_max_per_endpoint;
  std::optional<std::size_t> lrs_max_report_rate;
  std::optional<std::size_t> lrs_max_streams, lrs_max_reporters, lrs_max_endpoints_per_report;
  bool lrs_grpc_clients = false;
  app.add_option("--config", config_path,
                 "YAML config file (keys: xds.listen, http.listen, source.kind, source.file, "
                 "source.kubeconfig, source.context, clusterDomain, log.level, log.format, "
                 "shutdownGraceSeconds, limits.*, tls.*, auth.*, maxConcurrentTokenReviews, "
                 "readerScope, readerSharedNamespaces, lrs.*; see docs/controlplane.md)");
  app.add_option("--xds-listen", xds_listen,
                 "host:port for ADS over gRPC (default 0.0.0.0:18000; port 0 = any)");
  // ADS is TLS unless --plaintext says otherwise (docs/controlplane.md "TLS and
  // authentication"): the serving certificate from files or issued from --ca-secret.
  app.add_option("--tls-cert-file", tls_cert_file,
                 "PEM certificate chain that ADS serves TLS with (with --tls-key-file); re-read "
                 "every --tls-refresh-interval, so a renewed certificate (cert-manager) is served "
                 "to new connections without a restart");
  app.add_option("--tls-key-file", tls_key_file, "PEM private key of --tls-cert-file");
  app.add_flag("--plaintext", plaintext,
               "Serve ADS without TLS, explicitly. Without it the control plane refuses to start "
               "unless --tls-cert-file/--tls-key-file or --ca-secret is given");
  app.add_option("--tls-refresh-interval", tls_refresh_interval_s,
                 "Seconds between checks of the certificate files (and --client-ca-file) for "
                 "changes (default 60)");
  app.add_option("--ca-secret", ca_secret,
                 "namespace/name of a Secret holding the control plane's CA (keys ca.crt, "
                 "ca.key), created with a new CA (EC P-256, 10 years) when absent. ADS then serves "
                 "a certificate issued from it, renewed at half its lifetime. Default: off");
  app.add_option("--ca-bundle-configmap", ca_bundle_configmap,
                 "namespace/name of the ConfigMap where --ca-secret's CA certificate is "
                 "published (key ca.crt) for clients to trust (default "
                 "skewless-system/skewless-ca-bundle)");
  app.add_option("--tls-dns-names", tls_dns_names,
                 "name,...: DNS names of the certificate issued from --ca-secret (default: "
                 "skewless-controlplane and skewless-controlplane-pods, each also as "
                 "<name>.<ns>, <name>.<ns>.svc and <name>.<ns>.svc.<cluster-domain>, <ns> being "
                 "the Secret's namespace)")
      ->delimiter(',');
  app.add_option("--issued-cert-lifetime", issued_cert_lifetime_h,
                 "Hours a certificate issued from --ca-secret is valid (default 24); a new one "
                 "is issued at half that");
  app.add_option("--client-ca-file", client_ca_file,
                 "PEM CA bundle that client certificates are verified against (needs --auth "
                 "with mtls). Certificates are requested, not required: a client without one "
                 "may still use a token; one signed by another CA fails the handshake");
  app.add_option("--auth", auth,
                 "How ADS clients authenticate: 'none' (default: anyone who reaches the port "
                 "reads every Service), 'tokenreview' (a bound ServiceAccount token in "
                 "'authorization: Bearer', checked with the TokenReview API), 'mtls' (a client "
                 "certificate whose URI SAN is spiffe://<trust-domain>/ns/<ns>/sa/<name>), or "
                 "'tokenreview,mtls' (either; a certificate's SPIFFE ID decides when present). "
                 "Needs TLS");
  app.add_option("--token-audience", token_audience,
                 "Audience client tokens must be bound to (default skewless-controlplane)");
  app.add_option("--writer-service-accounts", writer_service_accounts,
                 "namespace/name,... of the ServiceAccounts that may write (the agent's and the "
                 "splicer's); they may always read")
      ->delimiter(',');
  app.add_option("--reader-namespaces", reader_namespaces,
                 "namespace,...: only ServiceAccounts of these namespaces (and the writers) may "
                 "read (default: any authenticated ServiceAccount)")
      ->delimiter(',');
  app.add_option("--max-concurrent-token-reviews", max_concurrent_token_reviews,
                 "With --auth tokenreview: TokenReviews sent at once; a call whose token is "
                 "neither cached nor under review is refused UNAVAILABLE (reason review_busy) "
                 "beyond it, so a flood of forged tokens cannot tie up the API server or the "
                 "authentication threads (default 8)");
  app.add_option("--reader-scope", reader_scope,
                 "Which Services a reader that is not a writer is served: 'all' (default) or "
                 "'own-namespace' (those of its ServiceAccount's namespace and of "
                 "--reader-shared-namespaces; needs --auth tokenreview)");
  app.add_option("--reader-shared-namespaces", reader_shared_namespaces,
                 "namespace,...: with --reader-scope own-namespace, namespaces whose Services "
                 "every reader is served besides its own")
      ->delimiter(',');
  app.add_option("--http-listen", http_listen,
                 "host:port for /metrics, /healthz, /readyz (default 0.0.0.0:9090)");
  app.add_option("--source", source,
                 "Where Services come from: 'kubernetes' (list+watch the API) or 'file' "
                 "(a YAML snapshot; default)");
  app.add_option("--file", file,
                 "YAML snapshot for --source file, re-read when it changes; without it the "
                 "embedded lab snapshot is served");
  app.add_option("--kubeconfig", kubeconfig,
                 "kubeconfig for --source kubernetes and --auth tokenreview; without it the "
                 "in-cluster service account (KUBERNETES_SERVICE_HOST, token, CA) is used");
  app.add_option("--kube-context", kube_context, "kubeconfig context (default: current-context)");
  app.add_option("--cluster-domain", cluster_domain,
                 "DNS suffix of Service names in gRPC targets (default cluster.local)");
  app.add_option("--default-load-balancing", default_load_balancing,
                 "Connect-time policy of Services without the skewless.io/load-balancing "
                 "annotation: least-loaded (default: the cheapest pod of a tier of up to 16, "
                 "counting every node's connections; P2C above), least-request (the cheaper of "
                 "two random pods) or random (as kube-proxy)");
  app.add_option("--log-level", log_level, "debug, info (default), warn or error");
  app.add_option("--log-format", log_format, "logfmt (default) or json, one line per event");
  app.add_option("--shutdown-grace", shutdown_grace_s,
                 "Seconds SIGTERM waits for ADS streams before cancelling them (default 5)");
  // What one ADS client may cost (docs/controlplane.md "Limits"). A stream over one is
  // closed with RESOURCE_EXHAUSTED and a rate-limited warn line naming the limit.
  app.add_option("--max-streams", max_streams,
                 "ADS streams open at once, from all clients; one more is refused (default "
                 "10000)");
  app.add_option("--max-streams-per-peer", max_streams_per_peer,
                 "ADS streams one peer may hold; the peer is the node.id of the stream's first "
                 "request, or the client's IP without one (default 32)");
  app.add_option("--max-names-per-stream", max_names_per_stream,
                 "resource names one stream may subscribe, all types together, each type "
                 "counting one more (default 100000)");
  app.add_option("--max-stream-memory-bytes", max_stream_memory_bytes,
                 "estimated memory one stream may hold: subscriptions, what it was sent, "
                 "queued requests and unwritten responses (default 67108864 = 64 MiB)");
  app.add_option("--max-request-bytes", max_request_bytes,
                 "largest discovery request accepted, gRPC's max receive message size "
                 "(default 4194304 = 4 MiB, gRPC's own default)");
  app.add_option("--max-requests-per-second", max_requests_per_second,
                 "discovery requests one stream may send per second, in bursts of up to two "
                 "seconds' worth; a faster client (a NACK loop) is not read until it is within "
                 "the rate again, and is not closed (default 100)");
  // Load reports: agents, splicers, Envoy and gRPC clients report per-endpoint load over
  // LRS on the ADS port; the sums go to agents as ClusterLoad resources
  // (docs/controlplane.md "Load reports (LRS)").
  app.add_option("--lrs-interval", lrs_interval_s,
                 "Seconds between the load reports each LRS reporter is asked to send "
                 "(load_reporting_interval; default 5). Agents also report a change in their "
                 "counts as soon as their own --load-report-change-interval allows");
  app.add_option("--lrs-expiry", lrs_expiry_s,
                 "Seconds without a report after which a reporter's load no longer counts "
                 "(default 3 x --lrs-interval); a reporter whose stream ends stops counting at "
                 "once");
  app.add_option("--lrs-max-per-endpoint", lrs_max_per_endpoint,
                 "Most connections or requests in progress one reporter may attribute to one "
                 "endpoint; larger values are cut to it and counted, so no single reporter can "
                 "make a pod look arbitrarily busy (default 4096)");
  app.add_option("--lrs-max-streams", lrs_max_streams,
                 "LRS streams open at once; one more is refused with RESOURCE_EXHAUSTED "
                 "(default 10000)");
  app.add_option("--lrs-max-reporters", lrs_max_reporters,
                 "Reporters tracked at once; a new stream's first report beyond it is refused "
                 "with RESOURCE_EXHAUSTED (default 10000)");
  app.add_option("--lrs-max-endpoints-per-report", lrs_max_endpoints_per_report,
                 "Endpoint entries one load report may carry; a larger report ends its stream "
                 "with RESOURCE_EXHAUSTED (default 10000)");
  app.add_option("--lrs-max-report-rate", lrs_max_report_rate,
                 "Reports read per second from one LRS stream, in bursts of as many; a faster "
                 "reporter is read late, never dropped (HTTP/2 flow control holds it back). "
                 "Agents report a change at most every 0.25 s (default 4)");
  app.add_option("--load-publish-interval", load_publish_interval_s,
                 "Seconds between publications of the summed load to agents (ClusterLoad "
                 "resources over ADS): a cluster's ClusterLoad changes at most this often "
                 "(default 0.25)");
  app.add_flag("--lrs-grpc-clients", lrs_grpc_clients,
               "Clusters served to proxyless gRPC clients name the control plane as their "
               "lrs_server, so those clients report their load here (per locality: counted, "
               "attributed to no endpoint). Default: off (YAML lrs.grpcClientsReport)");
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }

  ServerConfig config;
  if (!config_path.empty()) {
    absl::StatusOr<ServerConfig> loaded = skewless::controlplane::LoadServerConfigFile(config_path);
    if (!loaded.ok()) {
      std::cerr << "skewless-controlplane: " << loaded.status().message() << "\n";
      return kExitBadConfig;
    }
    config = *std::move(loaded);
  }
  if (xds_listen) config.xds_listen = *xds_listen;
  if (http_listen) config.http_listen = *http_listen;
  if (source) {
    absl::StatusOr<skewless::controlplane::SourceKind> kind =
        skewless::controlplane::ParseSourceKind(*source);
    if (!kind.ok()) {
      std::cerr << "skewless-controlplane: --source: " << kind.status().message() << "\n";
      return kExitBadConfig;
    }
    config.source = *kind;
  }
  if (file) config.file = *file;
  // Transport and authentication.
  if (tls_cert_file) config.tls_cert_file = *tls_cert_file;
  if (tls_key_file) config.tls_key_file = *tls_key_file;
  if (plaintext) config.plaintext = true;
  if (tls_refresh_interval_s)
    config.tls_refresh_interval = std::chrono::seconds(*tls_refresh_interval_s);
  if (ca_secret) config.ca_secret = *ca_secret;
  if (ca_bundle_configmap) config.ca_bundle_configmap = *ca_bundle_configmap;
  if (app.count("--tls-dns-names") > 0) config.tls_dns_names = tls_dns_names;
  if (issued_cert_lifetime_h) {
    config.issued_cert_lifetime =
        std::chrono::seconds(static_cast<long>(*issued_cert_lifetime_h * 3600));
  }
  if (client_ca_file) config.client_ca_file = *client_ca_file;
  if (auth) {
    absl::StatusOr<skewless::controlplane::AuthMethods> methods =
        skewless::controlplane::ParseAuthMethods(*auth);
    if (!methods.ok()) {
      std::cerr << "skewless-controlplane: --auth: " << methods.status().message() << "\n";
      return kExitBadConfig;
    }
    config.auth = *methods;
  }
  if (token_audience) config.token_audience = *token_audience;
  if (app.count("--writer-service-accounts") > 0) {
    config.writer_service_accounts = writer_service_accounts;
  }
  if (app.count("--reader-namespaces") > 0) config.reader_namespaces = reader_namespaces;
  if (max_concurrent_token_reviews) {
    config.max_concurrent_token_reviews = *max_concurrent_token_reviews;
  }
  if (reader_scope) {
    absl::StatusOr<skewless::controlplane::ReaderScope> scope =
        skewless::controlplane::ParseReaderScope(*reader_scope);
    if (!scope.ok()) {
      std::cerr << "skewless-controlplane: --reader-scope: " << scope.status().message() << "\n";
      return kExitBadConfig;
    }
    config.reader_scope = *scope;
  }
  if (app.count("--reader-shared-namespaces") > 0) {
    config.reader_shared_namespaces = reader_shared_namespaces;
  }
  if (kubeconfig) config.kubeconfig = *kubeconfig;
  if (kube_context) config.kube_context = *kube_context;
  if (cluster_domain) config.cluster_domain = *cluster_domain;
  if (default_load_balancing) config.default_load_balancing = *default_load_balancing;
  if (log_level) config.log_level = *log_level;
  if (log_format) config.log_format = *log_format;
  if (shutdown_grace_s) {
    config.shutdown_grace = std::chrono::milliseconds(static_cast<long>(*shutdown_grace_s * 1000));
  }
  if (max_streams) config.limits.max_streams = *max_streams;
  if (max_streams_per_peer) config.limits.max_streams_per_peer = *max_streams_per_peer;
  if (max_names_per_stream) config.limits.max_names_per_stream = *max_names_per_stream;
  if (max_stream_memory_bytes) config.limits.max_stream_memory_bytes = *max_stream_memory_bytes;
  if (max_request_bytes) config.limits.max_request_bytes = *max_request_bytes;
  if (max_requests_per_second) config.limits.requests_per_second = *max_requests_per_second;
  auto milliseconds = [](double seconds) {
    return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  };
  if (lrs_interval_s) config.lrs.interval = milliseconds(*lrs_interval_s);
  if (lrs_expiry_s) config.lrs.expiry = milliseconds(*lrs_expiry_s);
  if (load_publish_interval_s) config.lrs.publish_interval = milliseconds(*load_publish_interval_s);
  if (lrs_grpc_clients) config.lrs.grpc_clients_report = true;
  if (lrs_max_per_endpoint) config.lrs.max_per_endpoint = *lrs_max_per_endpoint;
  if (lrs_max_report_rate) config.lrs.max_reports_per_second = *lrs_max_report_rate;
  if (lrs_max_streams) config.lrs.max_streams = *lrs_max_streams;
  if (lrs_max_reporters) config.lrs.max_reporters = *lrs_max_reporters;
  if (lrs_max_endpoints_per_report) {
    config.lrs.max_endpoints_per_report = *lrs_max_endpoints_per_report;
  }
  for (absl::Status valid : {skewless::controlplane::ValidateServerConfig(config),
                             skewless::controlplane::ValidateTransportChosen(config)}) {
    if (!valid.ok()) {
      std::cerr << "skewless-controlplane: " << valid.message() << "\n";
      return kExitBadConfig;
    }
  }
  log::Configure(*log::ParseLevel(config.log_level), *log::ParseFormat(config.log_format));

  // Before any thread starts, so only sigwait below takes SIGTERM/SIGINT.
  const sigset_t stop_signals = skewless::BlockStopSignals();
  absl::StatusOr<std::unique_ptr<skewless::controlplane::ControlPlaneServer>> server =
      skewless::controlplane::ControlPlaneServer::Start(config);
  if (!server.ok()) {
    log::Error("cannot start", {{"error", std::string(server.status().message())}});
    return kExitCannotRun;
  }
  log::Info("control plane serving",
            {{"xds", config.xds_listen.substr(0, config.xds_listen.rfind(':') + 1) +
                         std::to_string((*server)->xds_port())},
             {"http", config.http_listen.substr(0, config.http_listen.rfind(':') + 1) +
                          std::to_string((*server)->http_port())},
             {"source", std::string(skewless::controlplane::SourceKindName(config.source))},
             {"transport", skewless::controlplane::UsesTls(config) ? "tls" : "plaintext"},
             {"auth", skewless::controlplane::AuthMethodsName(config.auth)}});
  skewless::AwaitStopSignal(stop_signals);
  (*server)->Shutdown();
  return kExitOk;
}
