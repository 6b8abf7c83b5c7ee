// skewless-controlplane's flags over its config file (docs/controlplane.md): names, help and
// how each lands in ServerConfig.
#include "skewless/controlplane/server_flags.h"

#include <chrono>

namespace skewless::controlplane {
namespace {

// Groups of flags, in the order --help lists them.

void BindTransportFlags(CLI::App& app, FlagOverrides<ServerConfig>& overrides) {
  // ADS is TLS unless --plaintext says otherwise (docs/controlplane.md "TLS and
  // authentication"): the serving certificate from files or issued from --ca-secret.
  overrides.Add(app, "--tls-cert-file", &ServerConfig::tls_cert_file,
                "PEM certificate chain that ADS serves TLS with (with --tls-key-file); re-read "
                "every --tls-refresh-interval, so a renewed certificate (cert-manager) is "
                "served to new connections without a restart");
  overrides.Add(app, "--tls-key-file", &ServerConfig::tls_key_file,
                "PEM private key of --tls-cert-file");
  overrides.Add(app, "--plaintext", &ServerConfig::plaintext,
                "Serve ADS without TLS, explicitly. Without it the control plane refuses to "
                "start unless --tls-cert-file/--tls-key-file or --ca-secret is given");
  overrides.Add<unsigned>(
      app, "--tls-refresh-interval", &ServerConfig::tls_refresh_interval,
      "Seconds between checks of the certificate files (and --client-ca-file) for changes "
      "(default 60)",
      [](unsigned seconds) -> absl::StatusOr<std::chrono::seconds> {
        return std::chrono::seconds(seconds);
      });
  overrides.Add(app, "--ca-secret", &ServerConfig::ca_secret,
                "namespace/name of a Secret holding the control plane's CA (keys ca.crt, "
                "ca.key), created with a new CA (EC P-256, 10 years) when absent. ADS then "
                "serves a certificate issued from it, renewed at half its lifetime. Default: "
                "off");
  overrides.Add(app, "--ca-bundle-configmap", &ServerConfig::ca_bundle_configmap,
                "namespace/name of the ConfigMap where --ca-secret's CA certificate is "
                "published (key ca.crt) for clients to trust (default "
                "skewless-system/skewless-ca-bundle)");
  overrides
      .Add(app, "--tls-dns-names", &ServerConfig::tls_dns_names,
           "name,...: DNS names of the certificate issued from --ca-secret (default: "
           "skewless-controlplane and skewless-controlplane-pods, each also as <name>.<ns>, "
           "<name>.<ns>.svc and <name>.<ns>.svc.<cluster-domain>, <ns> being the Secret's "
           "namespace)")
      ->delimiter(',');
  overrides.Add<double>(
      app, "--issued-cert-lifetime", &ServerConfig::issued_cert_lifetime,
      "Hours a certificate issued from --ca-secret is valid (default 24); a new one is "
      "issued at half that",
      [](double hours) -> absl::StatusOr<std::chrono::seconds> {
        return std::chrono::seconds(static_cast<long>(hours * 3600));
      });
  overrides.Add(app, "--client-ca-file", &ServerConfig::client_ca_file,
                "PEM CA bundle that client certificates are verified against (needs --auth "
                "with mtls). Certificates are requested, not required: a client without one "
                "may still use a token; one signed by another CA fails the handshake");
}

void BindAuthFlags(CLI::App& app, FlagOverrides<ServerConfig>& overrides) {
  overrides.Add<std::string>(
      app, "--auth", &ServerConfig::auth,
      "How ADS clients authenticate: 'none' (default: anyone who reaches the port reads every "
      "Service), 'tokenreview' (a bound ServiceAccount token in 'authorization: Bearer', "
      "checked with the TokenReview API), 'mtls' (a client certificate whose URI SAN is "
      "spiffe://<trust-domain>/ns/<ns>/sa/<name>), or 'tokenreview,mtls' (either; a "
      "certificate's SPIFFE ID decides when present). Needs TLS",
      [](const std::string& text) { return ParseAuthMethods(text); });
  overrides.Add(app, "--token-audience", &ServerConfig::token_audience,
                "Audience client tokens must be bound to (default skewless-controlplane)");
  overrides
      .Add(app, "--writer-service-accounts", &ServerConfig::writer_service_accounts,
           "namespace/name,... of the ServiceAccounts that may write (the agent's and the "
           "splicer's); they may always read")
      ->delimiter(',');
  overrides
      .Add(app, "--reader-namespaces", &ServerConfig::reader_namespaces,
           "namespace,...: only ServiceAccounts of these namespaces (and the writers) may "
           "read (default: any authenticated ServiceAccount)")
      ->delimiter(',');
  overrides.Add(app, "--max-concurrent-token-reviews", &ServerConfig::max_concurrent_token_reviews,
                "With --auth tokenreview: TokenReviews sent at once; a call whose token is "
                "neither cached nor under review is refused UNAVAILABLE (reason review_busy) "
                "beyond it, so a flood of forged tokens cannot tie up the API server or the "
                "authentication threads (default 8)");
  overrides.Add<std::string>(
      app, "--reader-scope", &ServerConfig::reader_scope,
      "Which Services a reader that is not a writer is served: 'all' (default) or "
      "'own-namespace' (those of its ServiceAccount's namespace and of "
      "--reader-shared-namespaces; needs --auth tokenreview)",
      [](const std::string& name) { return ParseReaderScope(name); });
  overrides
      .Add(app, "--reader-shared-namespaces", &ServerConfig::reader_shared_namespaces,
           "namespace,...: with --reader-scope own-namespace, namespaces whose Services every "
           "reader is served besides its own")
      ->delimiter(',');
}

void BindSourceFlags(CLI::App& app, FlagOverrides<ServerConfig>& overrides) {
  overrides.Add(app, "--http-listen", &ServerConfig::http_listen,
                "host:port for /metrics, /healthz, /readyz (default 0.0.0.0:9090)");
  overrides.Add<std::string>(app, "--source", &ServerConfig::source,
                             "Where Services come from: 'kubernetes' (list+watch the API) or "
                             "'file' (a YAML snapshot; default)",
                             [](const std::string& name) { return ParseSourceKind(name); });
  overrides.Add(app, "--file", &ServerConfig::file,
                "YAML snapshot for --source file, re-read when it changes; without it the "
                "embedded lab snapshot is served");
  overrides.Add(app, "--kubeconfig", &ServerConfig::kubeconfig,
                "kubeconfig for --source kubernetes and --auth tokenreview; without it the "
                "in-cluster service account (KUBERNETES_SERVICE_HOST, token, CA) is used");
  overrides.Add(app, "--kube-context", &ServerConfig::kube_context,
                "kubeconfig context (default: current-context)");
  overrides.Add(app, "--cluster-domain", &ServerConfig::cluster_domain,
                "DNS suffix of Service names in gRPC targets (default cluster.local)");
  overrides.Add(app, "--default-load-balancing", &ServerConfig::default_load_balancing,
                "Connect-time policy of Services without the skewless.io/load-balancing "
                "annotation: least-loaded (default: the cheapest pod of a tier of up to 16, "
                "counting every node's connections; P2C above), least-request (the cheaper of "
                "two random pods) or random (as kube-proxy)");
  overrides.Add(app, "--log-level", &ServerConfig::log_level,
                "debug, info (default), warn or error");
  overrides.Add(app, "--log-format", &ServerConfig::log_format,
                "logfmt (default) or json, one line per event");
  overrides.Add<double>(app, "--shutdown-grace", &ServerConfig::shutdown_grace,
                        "Seconds SIGTERM waits for ADS streams before cancelling them (default "
                        "5)",
                        SecondsToMilliseconds);
}

// What one ADS client may cost (docs/controlplane.md "Limits"). A stream over one is closed
// with RESOURCE_EXHAUSTED and a rate-limited warn line naming the limit.
void BindLimitFlags(CLI::App& app, FlagOverrides<ServerConfig>& overrides) {
  auto limit = [](std::size_t xds::StreamLimits::*field) {
    return [field](ServerConfig& config) -> std::size_t& { return config.limits.*field; };
  };
  overrides.Add(app, "--max-streams", limit(&xds::StreamLimits::max_streams),
                "ADS streams open at once, from all clients; one more is refused (default "
                "10000)");
  overrides.Add(app, "--max-streams-per-peer", limit(&xds::StreamLimits::max_streams_per_peer),
                "ADS streams one peer may hold; the peer is the node.id of the stream's first "
                "request, or the client's IP without one (default 32)");
  overrides.Add(app, "--max-names-per-stream", limit(&xds::StreamLimits::max_names_per_stream),
                "resource names one stream may subscribe, all types together, each type "
                "counting one more (default 100000)");
  overrides.Add(app, "--max-stream-memory-bytes",
                limit(&xds::StreamLimits::max_stream_memory_bytes),
                "estimated memory one stream may hold: subscriptions, what it was sent, queued "
                "requests and unwritten responses (default 67108864 = 64 MiB)");
  overrides.Add(app, "--max-request-bytes", limit(&xds::StreamLimits::max_request_bytes),
                "largest discovery request accepted, gRPC's max receive message size (default "
                "4194304 = 4 MiB, gRPC's own default)");
  overrides.Add(app, "--max-requests-per-second", limit(&xds::StreamLimits::requests_per_second),
                "discovery requests one stream may send per second, in bursts of up to two "
                "seconds' worth; a faster client (a NACK loop) is not read until it is within "
                "the rate again, and is not closed (default 100)");
}

// Load reports: agents, splicers, Envoy and gRPC clients report per-endpoint load over LRS
// on the ADS port; the sums go to agents as ClusterLoad resources (docs/controlplane.md
// "Load reports (LRS)").
void BindLoadReportFlags(CLI::App& app, FlagOverrides<ServerConfig>& overrides) {
  auto lrs = []<typename Field>(Field ServerConfig::Lrs::*field) {
    return [field](ServerConfig& config) -> Field& { return config.lrs.*field; };
  };
  overrides.Add<double>(app, "--lrs-interval", lrs(&ServerConfig::Lrs::interval),
                        "Seconds between the load reports each LRS reporter is asked to send "
                        "(load_reporting_interval; default 5). Agents also report a change in "
                        "their counts as soon as their own --load-report-change-interval allows",
                        SecondsToMilliseconds);
  overrides.Add<double>(app, "--lrs-expiry", lrs(&ServerConfig::Lrs::expiry),
                        "Seconds without a report after which a reporter's load no longer "
                        "counts (default 3 x --lrs-interval); a reporter whose stream ends "
                        "stops counting at once",
                        SecondsToMilliseconds);
  overrides.Add(app, "--lrs-max-per-endpoint", lrs(&ServerConfig::Lrs::max_per_endpoint),
                "Most connections or requests in progress one reporter may attribute to one "
                "endpoint; larger values are cut to it and counted, so no single reporter can "
                "make a pod look arbitrarily busy (default 4096)");
  overrides.Add(app, "--lrs-max-streams", lrs(&ServerConfig::Lrs::max_streams),
                "LRS streams open at once; one more is refused with RESOURCE_EXHAUSTED "
                "(default 10000)");
  overrides.Add(app, "--lrs-max-reporters", lrs(&ServerConfig::Lrs::max_reporters),
                "Reporters tracked at once; a new stream's first report beyond it is refused "
                "with RESOURCE_EXHAUSTED (default 10000)");
  overrides.Add(app, "--lrs-max-endpoints-per-report",
                lrs(&ServerConfig::Lrs::max_endpoints_per_report),
                "Endpoint entries one load report may carry; a larger report ends its stream "
                "with RESOURCE_EXHAUSTED (default 10000)");
  overrides.Add(app, "--lrs-max-report-rate", lrs(&ServerConfig::Lrs::max_reports_per_second),
                "Reports read per second from one LRS stream, in bursts of as many; a faster "
                "reporter is read late, never dropped (HTTP/2 flow control holds it back). "
                "Agents report a change at most every 0.25 s (default 4)");
  overrides.Add<double>(app, "--load-publish-interval", lrs(&ServerConfig::Lrs::publish_interval),
                        "Seconds between publications of the summed load to agents "
                        "(ClusterLoad resources over ADS): a cluster's ClusterLoad changes at "
                        "most this often (default 0.25)",
                        SecondsToMilliseconds);
  overrides.Add(app, "--lrs-grpc-clients", lrs(&ServerConfig::Lrs::grpc_clients_report),
                "Clusters served to proxyless gRPC clients name the control plane as their "
                "lrs_server, so those clients report their load here (per locality: counted, "
                "attributed to no endpoint). Default: off (YAML lrs.grpcClientsReport)");
}

}  // namespace

void BindFlags(CLI::App& app, ServerFlags& flags) {
  app.add_option("--config", flags.config_path,
                 "YAML config file (keys: xds.listen, http.listen, source.kind, source.file, "
                 "source.kubeconfig, source.context, clusterDomain, log.level, log.format, "
                 "shutdownGraceSeconds, limits.*, tls.*, auth.*, maxConcurrentTokenReviews, "
                 "readerScope, readerSharedNamespaces, lrs.*; see docs/controlplane.md)");
  flags.overrides.Add(app, "--xds-listen", &ServerConfig::xds_listen,
                      "host:port for ADS over gRPC (default 0.0.0.0:18000; port 0 = any)");
  BindTransportFlags(app, flags.overrides);
  BindAuthFlags(app, flags.overrides);
  BindSourceFlags(app, flags.overrides);
  BindLimitFlags(app, flags.overrides);
  BindLoadReportFlags(app, flags.overrides);
}

absl::StatusOr<ServerConfig> ApplyFlags(const ServerFlags& flags) {
  ServerConfig config;
  if (!flags.config_path.empty()) {
    absl::StatusOr<ServerConfig> loaded = LoadServerConfigFile(flags.config_path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (absl::Status applied = flags.overrides.ApplyTo(config); !applied.ok()) return applied;
  if (absl::Status valid = ValidateServerConfig(config); !valid.ok()) return valid;
  if (absl::Status chosen = ValidateTransportChosen(config); !chosen.ok()) return chosen;
  return config;
}

}  // namespace skewless::controlplane
