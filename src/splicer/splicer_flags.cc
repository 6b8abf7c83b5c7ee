// skewless-splicer's flags (docs/splicer.md): names, help, defaults and how they make
// SplicerOptions.
#include "skewless/splicer/splicer_flags.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "skewless/common/control_plane_flags.h"

namespace skewless::splicer {
namespace {

void BindLoadReportFlags(CLI::App& app, SplicerFlags& flags) {
  const std::string group = "Load reporting";
  app.add_option("--xds-server", flags.xds_servers,
                 "Control plane host:port to report load to over LRS; repeat for several, tried "
                 "in order on failure. None (the default) = no load reporting, no control-plane "
                 "connection")
      ->group(group);
  flags.load_reporting_flag =
      app.add_flag("--load-reporting,!--no-load-reporting", flags.load_reporting,
                   "With --xds-server: report per endpoint the streams outstanding now and the "
                   "streams issued, successful and failed since the previous report (default "
                   "on when --xds-server is given; --no-load-reporting turns it off)")
          ->group(group);
  AddSecondsOption(app, "--load-report-change-interval", flags.load_report_change_interval,
                   "Seconds between checks of the outstanding-stream counts; a change is "
                   "reported at once (0 = report only at the control plane's interval)")
      ->check(CLI::NonNegativeNumber)
      ->group(group);
  app.add_option("--node-name", flags.node_name,
                 "This node's Kubernetes name, the reports' Node id (required with "
                 "--xds-server; the DaemonSet sets NODE_NAME from the downward API)")
      ->envname("NODE_NAME")
      ->group(group);
  app.add_option("--backend-cluster", flags.options.backend_cluster,
                 "Cluster name the control plane serves the --backend pods under "
                 "(\"namespace/service:port\"): their load is reported as that cluster's. "
                 "Empty = --backend load is not reported")
      ->group(group);
  app.add_option("--agent-url", flags.options.agent_url,
                 "With --pin-dir: the node agent's HTTP address (its --http-listen), where the "
                 "cluster names of the Services it steers are read every 2 s; a Service's load "
                 "is reported once the agent has named it")
      ->capture_default_str()
      ->group(group);
  using loadreport::ControlPlaneSecurity;
  AddControlPlaneSecurityFlags(
      app, flags.security,
      ControlPlaneSecurityFields{.ca_file = &ControlPlaneSecurity::ca_file,
                                 .server_name = &ControlPlaneSecurity::server_name,
                                 .token_file = &ControlPlaneSecurity::token_file,
                                 .client_cert_file = &ControlPlaneSecurity::client_cert_file,
                                 .client_key_file = &ControlPlaneSecurity::client_key_file,
                                 .plaintext = &ControlPlaneSecurity::plaintext},
      "LRS", group);
}

// Bounds and timeouts (SplicerLimits; docs/splicer.md, "Limits"). Durations in seconds,
// 0 turns one off.
void BindLimitFlags(CLI::App& app, SplicerLimits& limits) {
  const std::string group = "Limits";
  app.add_option("--stream-window-bytes", limits.stream_window_bytes,
                 "HTTP/2 flow-control window per stream and direction, to clients and to pods: "
                 "the most one stream buffers each way")
      ->capture_default_str()
      ->group(group);
  app.add_option("--connection-buffer-bytes", limits.connection_buffer_bytes,
                 "Bytes one client connection's streams may hold (bodies, decoded headers); "
                 "over it its largest stream is reset with ENHANCE_YOUR_CALM (gRPC: "
                 "RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--worker-buffer-bytes", limits.worker_buffer_bytes,
                 "Bytes all of one worker's connections may hold; over it the connection holding "
                 "most is closed with GOAWAY ENHANCE_YOUR_CALM (the process holds at most this "
                 "times --workers)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-request-headers-bytes", limits.max_request_headers_bytes,
                 "Largest request header list (RFC 9113 counting), advertised to clients; a "
                 "larger request is answered RESOURCE_EXHAUSTED (gRPC) or 431 and never reaches a "
                 "pod. Pods that advertise less are held to their own")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-streams-per-connection", limits.max_streams_per_connection,
                 "SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients")
      ->capture_default_str()
      ->group(group);
  app.add_option("--max-connections-per-worker", limits.max_connections_per_worker,
                 "Client connections (relayed ones included) per worker; more are closed at "
                 "accept")
      ->capture_default_str()
      ->group(group);
  const struct {
    const char* flag;
    std::chrono::milliseconds* target;
    const char* help;
  } timeouts[] = {
      {"--preface-timeout", &limits.preface_timeout,
       "Seconds from accept to the HTTP/2 client preface; then the connection is closed"},
      {"--idle-timeout", &limits.idle_timeout,
       "Seconds a connection may have no stream (then GOAWAY and close), or a relayed "
       "connection move no byte"},
      {"--stream-idle-timeout", &limits.stream_idle_timeout,
       "Seconds a stream may see no frame either way; then it is answered DEADLINE_EXCEEDED "
       "(gRPC) or 408, or reset once its response has begun"},
      {"--max-connection-age", &limits.max_connection_age,
       "Seconds after which a client connection gets GOAWAY, so its next calls open a new one"},
      {"--max-connection-age-grace", &limits.max_connection_age_grace,
       "Seconds calls in flight get after the maximum age's GOAWAY before the connection is "
       "closed"},
      {"--half-close-timeout", &limits.half_close_timeout,
       "Seconds a relayed (not HTTP/2) connection stays open once one side has finished sending"},
  };
  for (const auto& timeout : timeouts) {
    AddSecondsOption(app, timeout.flag, *timeout.target, timeout.help)
        ->check(CLI::NonNegativeNumber)
        ->group(group);
  }
}

// What the load-reporting flags ask for: nullopt without --xds-server or with
// --no-load-reporting.
absl::StatusOr<std::optional<loadreport::LrsClientOptions>> LoadReportingOf(
    const SplicerFlags& flags) {
  if (flags.load_reporting_flag->count() > 0 && flags.load_reporting && flags.xds_servers.empty()) {
    return absl::InvalidArgumentError(
        "--load-reporting needs --xds-server (the control plane to report to)");
  }
  if (flags.xds_servers.empty() || !flags.load_reporting) return std::nullopt;
  loadreport::ControlPlaneSecurity security;
  if (absl::Status applied = flags.security.ApplyTo(security); !applied.ok()) return applied;
  absl::StatusOr<std::optional<h2::TlsClientOptions>> tls = loadreport::ControlPlaneTlsOf(security);
  if (!tls.ok()) return tls.status();
  if (flags.node_name.empty()) {
    return absl::InvalidArgumentError(
        "--xds-server needs --node-name (or NODE_NAME): the reports' Node id");
  }
  return loadreport::LrsClientOptions{.servers = flags.xds_servers,
                                      .node_name = flags.node_name,
                                      .zone = flags.options.zone,
                                      .tls = *tls,
                                      .bearer_token_file = security.token_file,
                                      .change_interval = flags.load_report_change_interval};
}

}  // namespace

void BindFlags(CLI::App& app, SplicerFlags& flags) {
  SplicerOptions& options = flags.options;
  app.add_option("--listen", options.listen, "host:port to accept clients on (port 0: any free)")
      ->capture_default_str();
  app.add_option("--backend", flags.backends,
                 "Fixed backend as IP:port[,zone[,weight]], repeat for each pod: serves clients "
                 "the data path did not redirect (with --pin-dir) or every client (without)");
  app.add_option("--pin-dir", options.pin_dir,
                 "The node agent's bpffs pin dir (its --pin-dir, normally /sys/fs/bpf/skewless): "
                 "read each redirected client's Service and backends there, and count streams "
                 "and ejections in its load map so connect-time choices see them. The listener "
                 "must be the agent's --splicer-address, and this process must run in the cgroup "
                 "the agent attaches to (the node's root) for SO_ORIGINAL_DST to be answered");
  app.add_option("--mark", options.mark,
                 "SO_MARK on backend sockets, so the data path never sends them back here (the "
                 "agent's --splicer-mark; 0 = none; needs CAP_NET_ADMIN)")
      ->capture_default_str();
  app.add_option("--workers", options.workers,
                 "Event loops, each with its own SO_REUSEPORT listener (0: one per CPU)")
      ->capture_default_str();
  app.add_option("--zone", options.zone,
                 "This node's zone (its backends are preferred; the Node's locality in load "
                 "reports)");
  BindLoadReportFlags(app, flags);
  app.add_option("--http-listen", flags.http_listen,
                 "host:port for /metrics (skewless_splicer_*), /healthz and /readyz (503 while "
                 "draining)")
      ->capture_default_str();
  app.add_option("--drain-seconds", flags.drain_seconds,
                 "On SIGTERM/SIGINT: GOAWAY to every client, then wait this long at most for "
                 "calls in flight to finish")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  BindLimitFlags(app, options.limits);
}

absl::StatusOr<SplicerOptions> ApplyFlags(const SplicerFlags& flags) {
  SplicerOptions options = flags.options;
  if (flags.backends.empty() && options.pin_dir.empty()) {
    return absl::InvalidArgumentError(
        "nothing to send clients to: give --pin-dir (the agent's maps), --backend, or both");
  }
  absl::StatusOr<std::optional<loadreport::LrsClientOptions>> load_reporting =
      LoadReportingOf(flags);
  if (!load_reporting.ok()) return load_reporting.status();
  options.load_reporting = *std::move(load_reporting);
  for (const std::string& text : flags.backends) {
    SplicerBackend backend;
    const std::vector<std::string> parts = CLI::detail::split(text, ',');
    backend.address = parts[0];
    if (parts.size() > 1) backend.zone = parts[1];
    if (parts.size() > 2 && !absl::SimpleAtoi(parts[2], &backend.weight)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--backend ", text, ": weight is not a number"));
    }
    options.backends.push_back(std::move(backend));
  }
  return options;
}

}  // namespace skewless::splicer
