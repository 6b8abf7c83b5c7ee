// Wiring of the control plane: source → Snapshot → xDS cache → ADS streams, plus
// /metrics, /healthz and /readyz.
#include "skewless/controlplane/server.h"

#include <malloc.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "ca_secret.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "kube_client.h"
#include "load_publisher.h"
#include "lrs_metrics.h"
#include "lrs_service.h"
#include "serving_cert_files.h"
#include "skewless/common/http_server.h"
#include "skewless/common/log.h"
#include "skewless/common/net.h"
#include "skewless/common/probe_routes.h"
#include "skewless/controlplane/file_source.h"
#include "skewless/controlplane/kube_source.h"
#include "skewless/controlplane/load_aggregator.h"
#include "skewless/controlplane/peer_identity.h"
#include "skewless/controlplane/reader_scope.h"
#include "skewless/controlplane/xds_input.h"
#include "skewless/xds/ads_server.h"
#include "skewless/xds/cache.h"
#include "skewless/xds/server_metrics.h"
#include "token_auth.h"
#include "token_review.h"

namespace skewless::controlplane {
namespace {

// gRPC checks the PEM only when the listener starts, and then says only that it failed:
// name the file and what is wrong with it here.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", path, ": cannot open: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN ") == std::string::npos) {
    return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": no PEM block"));
  }
  return text.str();
}

// Each ADS stream is served the Services its caller may read (reader_scope.h).
xds::AdsService::ScopeFunction StreamScopes(const ServerConfig& config) {
  if (config.reader_scope == ReaderScope::kAll) return {};
  return [policy = config.reader_scope,
          shared = std::set<std::string, std::less<>>(config.reader_shared_namespaces.begin(),
                                                      config.reader_shared_namespaces.end())](
             const grpc::CallbackServerContext& context) {
    const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    return ReaderScopeOf(auth ? PeerIdentityOf(*auth) : std::nullopt, policy, shared);
  };
}

// The clusters and endpoints LRS reports may name: what the cache is about to serve.
LoadCatalog CatalogOf(const xds::CacheInput& input) {
  LoadCatalog catalog;
  for (const std::shared_ptr<const xds::ServicePort>& port : input.ports) {
    std::set<EndpointKey>& endpoints = catalog[xds::ClusterName(*port)];
    for (const xds::Endpoint& endpoint : port->endpoints) {
      for (const std::string& address : endpoint.addresses) {
        absl::StatusOr<std::string> ip = net::CanonicalIp(address, net::V4Mapped::kReadAsIpv4);
        if (ip.ok()) endpoints.emplace(*std::move(ip), endpoint.port);
      }
    }
  }
  return catalog;
}

LoadAggregatorLimits AggregatorLimits(const ServerConfig::Lrs& lrs) {
  return {.expiry = lrs.Expiry(),
          .max_per_endpoint = lrs.max_per_endpoint,
          .max_reporters = lrs.max_reporters,
          .max_endpoints_per_report = lrs.max_endpoints_per_report};
}

class ServerImpl final : public ControlPlaneServer {
 public:
  explicit ServerImpl(const ServerConfig& config)
      : config_(config),
        input_builder_(config.cluster_domain, config.default_load_balancing),
        cache_(xds::CacheOptions{.grpc_load_reports = config.lrs.grpc_clients_report}),
        xds_metrics_(registry_),
        ads_(cache_, xds_metrics_, 0, config.limits, StreamScopes(config)),
        lrs_metrics_(registry_),
        aggregator_(AggregatorLimits(config.lrs)),
        lrs_(aggregator_, lrs_metrics_,
             {.interval = config.lrs.interval,
              .max_streams = config.lrs.max_streams,
              .max_reports_per_second = config.lrs.max_reports_per_second,
              .authenticated = config.auth.any()},
             StreamScopes(config)),
        snapshots_(registry_.AddCounter("skewless_controlplane_snapshots_total",
                                        "Snapshots received from the source and applied.")),
        source_errors_(registry_.AddCounter(
            "skewless_controlplane_source_errors_total",
            "Source errors: bad files or objects (skipped, last good state kept), "
            "failed API requests.")),
        rejected_ports_(registry_.AddCounter(
            "skewless_controlplane_rejected_service_ports_total",
            "Service ports whose xDS resources could not be built (last good version kept).")),
        ready_(registry_.AddGauge("skewless_controlplane_ready",
                                  "1 once the first snapshot is served, else 0.")),
        info_(registry_.AddGauge("skewless_controlplane_info",
                                 "Always 1; labels describe this replica.", {"source"})) {}

  ~ServerImpl() override { Shutdown(); }

  absl::Status Start() {
    info_.With({std::string(SourceKindName(config_.source))}).Set(1);
    ready_.With({}).Set(0);
    // Export zeros from the start, so rate() and alerts see the series before any event.
    snapshots_.With({});
    source_errors_.With({});
    rejected_ports_.With({});

    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = XdsCredentials();
    if (!credentials.ok()) return credentials.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.xds_listen, *credentials, &xds_port_);
    builder.RegisterService(&ads_);
    // Load reports share the port, the TLS and the authentication of ADS.
    builder.RegisterService(&lrs_);
    // A larger request fails its stream with RESOURCE_EXHAUSTED inside gRPC, before any
    // of it is handed to us.
    builder.SetMaxReceiveMessageSize(static_cast<int>(config_.limits.max_request_bytes));
    // Clients keep ADS streams for hours: notice dead peers, tolerate their pings.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
    grpc_ = builder.BuildAndStart();
    if (!grpc_ || xds_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("xds.listen: cannot listen on ", config_.xds_listen));
    }

    absl::StatusOr<std::unique_ptr<HttpServer>> http =
        HttpServer::Start(config_.http_listen, HttpRoutes(), "http.listen");
    if (!http.ok()) return http.status();
    http_ = *std::move(http);
    publisher_ = std::make_unique<LoadPublisher>(aggregator_, cache_, lrs_metrics_,
                                                 config_.lrs.publish_interval);

    auto on_snapshot = [this](std::shared_ptr<const Snapshot> snapshot) {
      Apply(std::move(snapshot));
    };
    auto on_error = [this](const absl::Status& error) {
      source_errors_.With({}).Increment();
      log::Warn("source error: the last good state stays in service",
                {{"error", std::string(error.message())}});
    };
    if (config_.source == SourceKind::kFile) {
      return StartFileSource(on_snapshot, on_error);
    }
    return StartKubeSource(on_snapshot, on_error);
  }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    publisher_.reset();
    if (file_source_) file_source_->Stop();
    if (kube_source_) kube_source_->Stop();
    if (grpc_) {
      grpc_->Shutdown(std::chrono::system_clock::now() + config_.shutdown_grace);
      grpc_->Wait();
    }
    if (http_) http_->Stop();
    log::Info("control plane stopped");
  }

  int xds_port() const override { return xds_port_; }
  int http_port() const override { return http_ ? http_->port() : 0; }
  bool Ready() const override { return cache_.has_input(); }
  prometheus::Registry& registry() override { return registry_; }

 private:
  // TLS from files that gRPC re-reads every tls_refresh_interval (cert-manager's, or the
  // ones issued here from the CA Secret), so a renewed certificate is served to new
  // connections without a restart.
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> XdsCredentials() {
    if (config_.plaintext) return grpc::InsecureServerCredentials();
    std::string cert_file = config_.tls_cert_file;
    std::string key_file = config_.tls_key_file;
    if (!config_.ca_secret.empty()) {
      absl::Status issued = StartIssuingFromCaSecret();
      if (!issued.ok()) return issued;
      cert_file = serving_cert_files_->cert_file();
      key_file = serving_cert_files_->key_file();
    }
    // The watcher reports unreadable files only in gRPC's log, and then serves nothing:
    // name the file and what is wrong with it at start instead.
    for (const auto& [path, what] : {std::pair{cert_file, "tls certificate"},
                                     {key_file, "tls key"},
                                     {config_.client_ca_file, "client CA"}}) {
      if (path.empty()) continue;
      if (absl::StatusOr<std::string> pem = ReadPemFile(path, what); !pem.ok()) {
        return pem.status();
      }
    }
    auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        key_file, cert_file, config_.client_ca_file,
        static_cast<unsigned int>(config_.tls_refresh_interval.count()));
    grpc::experimental::TlsServerCredentialsOptions options(provider);
    options.watch_identity_key_cert_pairs();
    if (!config_.client_ca_file.empty()) {
      options.watch_root_certs();
      // Requested, not required: token clients have no certificate. One that is sent
      // must verify against the client CA, or the handshake fails.
      options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    } else {
      options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    }
    std::shared_ptr<grpc::ServerCredentials> credentials =
        grpc::experimental::TlsServerCredentials(options);
    if (config_.auth.any()) {
      absl::StatusOr<std::shared_ptr<TokenAuthProcessor>> processor = NewAuthProcessor();
      if (!processor.ok()) return processor.status();
      credentials->SetAuthMetadataProcessor(*std::move(processor));
    }
    return credentials;
  }

  absl::StatusOr<KubeConfig> KubeApiConfig(const std::string& what) const {
    absl::StatusOr<KubeConfig> kube =
        config_.kubeconfig.empty() ? InClusterConfig()
                                   : LoadKubeconfig(config_.kubeconfig, config_.kube_context);
    if (!kube.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(what, ": ", kube.status().message()));
    }
    return kube;
  }

  // The CA from its Secret (made on first start), its bundle published, and a serving
  // certificate issued and kept renewed in files.
  absl::Status StartIssuingFromCaSecret() {
    absl::StatusOr<KubeConfig> kube = KubeApiConfig("tls caSecret");
    if (!kube.ok()) return kube.status();
    absl::StatusOr<std::unique_ptr<kube::KubeClient>> client =
        kube::KubeClient::Create(*std::move(kube), std::chrono::milliseconds(5000));
    if (!client.ok()) return client.status();
    absl::StatusOr<ObjectName> secret = ParseObjectName(config_.ca_secret, "tls.caSecret");
    if (!secret.ok()) return secret.status();
    absl::StatusOr<ObjectName> bundle =
        ParseObjectName(config_.ca_bundle_configmap, "tls.caBundleConfigMap");
    if (!bundle.ok()) return bundle.status();
    absl::StatusOr<CertificateAuthority> ca = LoadOrCreateCaSecret(**client, *secret);
    if (!ca.ok()) return ca.status();
    if (absl::Status published = PublishCaBundle(**client, *bundle, ca->cert_pem);
        !published.ok()) {
      return published;
    }
    std::vector<std::string> names = config_.tls_dns_names;
    if (names.empty()) names = DefaultTlsDnsNames(secret->namespace_name, config_.cluster_domain);
    absl::StatusOr<std::unique_ptr<ServingCertFiles>> files =
        ServingCertFiles::Start(*std::move(ca), std::move(names), config_.issued_cert_lifetime);
    if (!files.ok()) return files.status();
    serving_cert_files_ = *std::move(files);
    log::Info("serving a certificate issued from the CA Secret",
              {{"secret", config_.ca_secret}, {"bundle", config_.ca_bundle_configmap}});
    return absl::OkStatus();
  }

  // Every ADS call is checked by the processor before it reaches the ADS service, which
  // finds the caller's account in its AuthContext (peer_identity.h).
  absl::StatusOr<std::shared_ptr<TokenAuthProcessor>> NewAuthProcessor() {
    TokenPolicy policy{
        config_.token_audience,
        {config_.writer_service_accounts.begin(), config_.writer_service_accounts.end()},
        {config_.reader_namespaces.begin(), config_.reader_namespaces.end()},
        config_.auth.token_review,
        config_.auth.mtls};
    TokenAuthProcessor::ReviewFunction review =
        [](const std::string&) -> absl::StatusOr<kube::TokenReviewResult> {
      return absl::FailedPreconditionError("tokens are not accepted (auth is mtls)");
    };
    if (config_.auth.token_review) {
      absl::StatusOr<KubeConfig> kube = KubeApiConfig("auth tokenreview");
      if (!kube.ok()) return kube.status();
      absl::StatusOr<std::unique_ptr<kube::TokenReviewer>> reviewer =
          kube::TokenReviewer::Create(*std::move(kube));
      if (!reviewer.ok()) return reviewer.status();
      std::shared_ptr<kube::TokenReviewer> shared = *std::move(reviewer);
      review = [shared, audience = config_.token_audience](const std::string& token) {
        return shared->Review(token, audience);
      };
    }
    // Half of gRPC's auth threads (one per core) may wait for a review; the others stay
    // free for calls with cached tokens.
    TokenAuthProcessor::ReviewLimits limits{
        .max_concurrent_reviews = config_.max_concurrent_token_reviews,
        .max_waiting_calls = std::max(1u, std::thread::hardware_concurrency() / 2)};
    return std::make_shared<TokenAuthProcessor>(std::move(policy), std::move(review), registry_,
                                                config_.token_cache, limits);
  }

  absl::Status StartFileSource(FileSource::SnapshotCallback on_snapshot,
                               FileSource::ErrorCallback on_error) {
    if (config_.file.empty()) {
      absl::StatusOr<Snapshot> lab = ParseSnapshotYaml(kLabDefaultDocument, "<lab-default>");
      if (!lab.ok()) return lab.status();
      log::Info("serving the embedded lab snapshot (no source.file given)");
      Apply(std::make_shared<const Snapshot>(*std::move(lab)));
      return absl::OkStatus();
    }
    absl::StatusOr<std::unique_ptr<FileSource>> source =
        FileSource::Start(config_.file, on_snapshot, on_error);
    if (!source.ok()) return source.status();
    file_source_ = *std::move(source);
    return absl::OkStatus();
  }

  absl::Status StartKubeSource(KubeSource::SnapshotCallback on_snapshot,
                               KubeSource::ErrorCallback on_error) {
    absl::StatusOr<KubeConfig> kube =
        config_.kubeconfig.empty() ? InClusterConfig()
                                   : LoadKubeconfig(config_.kubeconfig, config_.kube_context);
    if (!kube.ok()) return kube.status();
    log::Info("watching the Kubernetes API", {{"server", kube->server}});
    absl::StatusOr<std::unique_ptr<KubeSource>> source =
        KubeSource::Start(*std::move(kube), on_snapshot, on_error);
    if (!source.ok()) return source.status();
    kube_source_ = *std::move(source);
    return absl::OkStatus();
  }

  // Sources call this one snapshot at a time.
  void Apply(std::shared_ptr<const Snapshot> snapshot) {
    const auto start = std::chrono::steady_clock::now();
    const std::size_t services = snapshot->services.size();
    xds::CacheInput input = input_builder_.Build(std::move(snapshot));
    const std::size_t ports = input.ports.size();
    aggregator_.SetCatalog(CatalogOf(input));
    std::vector<absl::Status> errors = cache_.Update(std::move(input));
    for (const absl::Status& error : errors) {
      rejected_ports_.With({}).Increment();
      log::Warn("service port rejected: its last good version stays in service",
                {{"error", std::string(error.message())}});
    }
    for (const auto& [type_url, count] : cache_.ResourceCounts()) {
      xds_metrics_.resources.With({xds::TypeLabel(type_url)}).Set(static_cast<double>(count));
    }
    snapshots_.With({}).Increment();
    ready_.With({}).Set(1);
    // Parsing a large snapshot leaves glibc's heap full of freed small blocks that it
    // keeps; hand them back so RSS shows what the control plane actually holds.
    malloc_trim(0);
    log::Info("snapshot applied",
              {{"services", absl::StrCat(services)},
               {"service_ports", absl::StrCat(ports)},
               {"rejected", absl::StrCat(errors.size())},
               {"apply_ms", absl::StrCat(std::chrono::duration<double, std::milli>(
                                             std::chrono::steady_clock::now() - start)
                                             .count())},
               {"generation", absl::StrCat(cache_.generation())}});
  }

  std::vector<HttpRoute> HttpRoutes() {
    return ProbeRoutes(registry_, [this] {
      return Ready() ? std::string() : std::string("no snapshot from the source yet");
    });
  }

  const ServerConfig config_;
  prometheus::Registry registry_;
  XdsInputBuilder input_builder_;
  xds::ResourceCache cache_;
  xds::XdsMetrics xds_metrics_;
  xds::AdsService ads_;
  LrsMetrics lrs_metrics_;
  LoadAggregator aggregator_;
  LrsService lrs_;
  std::unique_ptr<LoadPublisher> publisher_;
  prometheus::Family<prometheus::Counter>& snapshots_;
  prometheus::Family<prometheus::Counter>& source_errors_;
  prometheus::Family<prometheus::Counter>& rejected_ports_;
  prometheus::Family<prometheus::Gauge>& ready_;
  prometheus::Family<prometheus::Gauge>& info_;

  // Before grpc_: the server stops serving before the files it reads go away.
  std::unique_ptr<ServingCertFiles> serving_cert_files_;
  std::unique_ptr<grpc::Server> grpc_;
  int xds_port_ = 0;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<FileSource> file_source_;
  std::unique_ptr<KubeSource> kube_source_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlPlaneServer>> ControlPlaneServer::Start(
    const ServerConfig& config) {
  if (absl::Status valid = ValidateServerConfig(config); !valid.ok()) return valid;
  if (absl::Status chosen = ValidateTransportChosen(config); !chosen.ok()) return chosen;
  auto server = std::make_unique<ServerImpl>(config);
  if (absl::Status started = server->Start(); !started.ok()) {
    server->Shutdown();
    return started;
  }
  return server;
}

}  // namespace skewless::controlplane
