// skewless-splicer: the node-local HTTP/2 proxy that balances every gRPC call (every
// HTTP/2 stream) of a client connection on its own.
#include <atomic>
#include <chrono>
#include <iostream>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "skewless/common/cli.h"
#include "skewless/common/http_server.h"
#include "skewless/common/log.h"
#include "skewless/common/probe_routes.h"
#include "skewless/common/stop_signals.h"
#include "skewless/loadreport/control_plane_call.h"
#include "skewless/splicer/splicer.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  namespace log = skewless::log;
  using skewless::splicer::SplicerBackend;
  using skewless::splicer::SplicerOptions;

  CLI::App app{
      "skewless-splicer: node-local HTTP/2 proxy. Accepts h2c (HTTP/2 prior knowledge, as gRPC\n"
      "clients speak it) and sends every stream of a connection to its own backend: power of\n"
      "two choices on outstanding streams, so one long-lived gRPC channel is spread over all\n"
      "pods. With --pin-dir it serves the Services the node agent's data path redirects to it\n"
      "(appProtocol kubernetes.io/h2c, grpc or h2c), each client's Service found through\n"
      "SO_ORIGINAL_DST and its backends in the agent's maps; --backend gives fixed ones.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags."};
  SplicerOptions options;
  std::vector<std::string> backends;
  app.add_option("--listen", options.listen, "host:port to accept clients on (port 0: any free)")
      ->capture_default_str();
  app.add_option("--backend", backends,
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
  // Load reporting (LRS) to the control plane: the agent's flag names and meanings.
  std::vector<std::string> xds_servers;
  std::string node_name, ca_file, server_name, token_file, client_cert_file, client_key_file;
  bool plaintext = false;
  bool load_reporting = true;
  double change_interval_s = 0.25;
  app.add_option("--xds-server", xds_servers,
                 "Control plane host:port to report load to over LRS; repeat for several, tried "
                 "in order on failure. None (the default) = no load reporting, no control-plane "
                 "connection")
      ->group("Load reporting");
  CLI::Option* load_reporting_flag =
      app.add_flag("--load-reporting,!--no-load-reporting", load_reporting,
                   "With --xds-server: report per endpoint the streams outstanding now and the "
                   "streams issued, successful and failed since the previous report (default "
                   "on when --xds-server is given; --no-load-reporting turns it off)")
          ->group("Load reporting");
  app.add_option("--load-report-change-interval", change_interval_s,
                 "Seconds between checks of the outstanding-stream counts; a change is "
                 "reported at once (0 = report only at the control plane's interval)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->group("Load reporting");
  app.add_option("--node-name", node_name,
                 "This node's Kubernetes name, the reports' Node id (required with "
                 "--xds-server; the DaemonSet sets NODE_NAME from the downward API)")
      ->envname("NODE_NAME")
      ->group("Load reporting");
  app.add_option("--backend-cluster", options.backend_cluster,
                 "Cluster name the control plane serves the --backend pods under "
                 "(\"namespace/service:port\"): their load is reported as that cluster's. "
                 "Empty = --backend load is not reported")
      ->group("Load reporting");
  app.add_option("--agent-url", options.agent_url,
                 "With --pin-dir: the node agent's HTTP address (its --http-listen), where the "
                 "cluster names of the Services it steers are read every 2 s; a Service's load "
                 "is reported once the agent has named it")
      ->capture_default_str()
      ->group("Load reporting");
  app.add_option("--controlplane-ca-file", ca_file,
                 "PEM CA bundle the control plane's serving certificate must chain to. TLS is "
                 "the default: without this file reporting needs --plaintext")
      ->group("Load reporting");
  app.add_option("--controlplane-server-name", server_name,
                 "Name the control plane's certificate is verified against and sent as SNI "
                 "(default: the host of each --xds-server)")
      ->group("Load reporting");
  app.add_option("--token-file", token_file,
                 "File whose contents are sent as `authorization: Bearer <token>` on every LRS "
                 "stream, read again at each connect (a projected ServiceAccount token with "
                 "audience skewless-controlplane). Needs TLS (default: none)")
      ->group("Load reporting");
  app.add_option("--tls-client-cert-file", client_cert_file,
                 "PEM client certificate chain for mTLS; needs --tls-client-key-file")
      ->group("Load reporting");
  app.add_option("--tls-client-key-file", client_key_file,
                 "PEM private key of --tls-client-cert-file")
      ->group("Load reporting");
  app.add_flag("--plaintext", plaintext,
               "Report to the control plane without TLS (h2c): only for a control plane run "
               "with --plaintext, e.g. on loopback; excludes every TLS flag and --token-file")
      ->group("Load reporting");
  std::string http_listen = skewless::splicer::kDefaultHttpListen;
  app.add_option("--http-listen", http_listen,
                 "host:port for /metrics (skewless_splicer_*), /healthz and /readyz (503 while "
                 "draining)")
      ->capture_default_str();
  double drain_seconds = skewless::splicer::kDefaultDrainSeconds;
  app.add_option("--drain-seconds", drain_seconds,
                 "On SIGTERM/SIGINT: GOAWAY to every client, then wait this long at most for "
                 "calls in flight to finish")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  // Bounds and timeouts (SplicerLimits; docs/splicer.md, "Limits"). Durations in seconds,
  // 0 turns one off.
  skewless::splicer::SplicerLimits& limits = options.limits;
  app.add_option("--stream-window-bytes", limits.stream_window_bytes,
                 "HTTP/2 flow-control window per stream and direction, to clients and to pods: "
                 "the most one stream buffers each way")
      ->capture_default_str()
      ->group("Limits");
  app.add_option("--connection-buffer-bytes", limits.connection_buffer_bytes,
                 "Bytes one client connection's streams may hold (bodies, decoded headers); "
                 "over it its largest stream is reset with ENHANCE_YOUR_CALM (gRPC: "
                 "RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->group("Limits");
  app.add_option("--worker-buffer-bytes", limits.worker_buffer_bytes,
                 "Bytes all of one worker's connections may hold; over it the connection holding "
                 "most is closed with GOAWAY ENHANCE_YOUR_CALM (the process holds at most this "
                 "times --workers)")
      ->capture_default_str()
      ->group("Limits");
  app.add_option("--max-request-headers-bytes", limits.max_request_headers_bytes,
                 "Largest request header list (RFC 9113 counting), advertised to clients; a "
                 "larger request is answered RESOURCE_EXHAUSTED (gRPC) or 431 and never reaches a "
                 "pod. Pods that advertise less are held to their own")
      ->capture_default_str()
      ->group("Limits");
  app.add_option("--max-streams-per-connection", limits.max_streams_per_connection,
                 "SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients")
      ->capture_default_str()
      ->group("Limits");
  app.add_option("--max-connections-per-worker", limits.max_connections_per_worker,
                 "Client connections (relayed ones included) per worker; more are closed at "
                 "accept")
      ->capture_default_str()
      ->group("Limits");
  struct Timeout {
    const char* flag;
    std::chrono::milliseconds* target;
    const char* help;
    double seconds;
  };
  std::vector<Timeout> timeouts = {
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
  for (Timeout& timeout : timeouts) {
    timeout.seconds = static_cast<double>(timeout.target->count()) / 1000;
    app.add_option(timeout.flag, timeout.seconds, timeout.help)
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber)
        ->group("Limits");
  }
  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }
  for (const Timeout& timeout : timeouts) {
    *timeout.target = std::chrono::milliseconds(static_cast<long>(timeout.seconds * 1000));
  }
  if (backends.empty() && options.pin_dir.empty()) {
    std::cerr << "skewless-splicer: nothing to send clients to: give --pin-dir (the agent's "
                 "maps), --backend, or both\n";
    return kExitBadConfig;
  }
  if (load_reporting_flag->count() > 0 && load_reporting && xds_servers.empty()) {
    std::cerr << "skewless-splicer: --load-reporting needs --xds-server (the control plane to "
                 "report to)\n";
    return kExitBadConfig;
  }
  if (!xds_servers.empty() && load_reporting) {
    if (absl::StatusOr<std::optional<skewless::h2::TlsClientOptions>> tls =
            skewless::loadreport::ControlPlaneTlsOf({.ca_file = ca_file,
                                                     .server_name = server_name,
                                                     .client_cert_file = client_cert_file,
                                                     .client_key_file = client_key_file,
                                                     .token_file = token_file,
                                                     .plaintext = plaintext});
        !tls.ok()) {
      std::cerr << "skewless-splicer: " << tls.status().message() << "\n";
      return kExitBadConfig;
    } else if (node_name.empty()) {
      std::cerr << "skewless-splicer: --xds-server needs --node-name (or NODE_NAME): the "
                   "reports' Node id\n";
      return kExitBadConfig;
    } else {
      options.load_reporting = skewless::loadreport::LrsClientOptions{
          .servers = xds_servers,
          .node_name = node_name,
          .zone = options.zone,
          .tls = *tls,
          .bearer_token_file = token_file,
          .change_interval =
              std::chrono::milliseconds(static_cast<long>(change_interval_s * 1000))};
    }
  }
  for (const std::string& text : backends) {
    SplicerBackend backend;
    const std::vector<std::string> parts = CLI::detail::split(text, ',');
    backend.address = parts[0];
    if (parts.size() > 1) backend.zone = parts[1];
    if (parts.size() > 2 && !absl::SimpleAtoi(parts[2], &backend.weight)) {
      std::cerr << "skewless-splicer: --backend " << text << ": weight is not a number\n";
      return kExitBadConfig;
    }
    options.backends.push_back(std::move(backend));
  }
  const sigset_t stop_signals = skewless::BlockStopSignals();  // before the workers start
  absl::StatusOr<std::unique_ptr<skewless::splicer::Splicer>> splicer =
      skewless::splicer::Splicer::Start(options);
  if (!splicer.ok()) {
    log::Error("cannot start", {{"error", std::string(splicer.status().message())}});
    return splicer.status().code() == absl::StatusCode::kInvalidArgument ? kExitBadConfig
                                                                         : kExitCannotRun;
  }
  std::atomic<bool> draining{false};
  absl::StatusOr<std::unique_ptr<skewless::HttpServer>> http = skewless::HttpServer::Start(
      http_listen,
      skewless::ProbeRoutes((*splicer)->registry(),
                            [&] { return draining ? std::string("draining") : std::string(); }),
      "--http-listen");
  if (!http.ok()) {
    log::Error("cannot start", {{"error", std::string(http.status().message())}});
    return kExitCannotRun;
  }
  log::Info("splicer listening", {{"port", std::to_string((*splicer)->port())},
                                  {"workers", std::to_string((*splicer)->workers())},
                                  {"backends", std::to_string(options.backends.size())},
                                  {"pin_dir", options.pin_dir}});
  skewless::AwaitStopSignal(stop_signals);
  draining = true;
  log::Info("draining", {{"grace_seconds", absl::StrCat(drain_seconds)}});
  (*splicer)->Drain(std::chrono::milliseconds(static_cast<long>(drain_seconds * 1000)));
  (*http)->Stop();
  log::Info("splicer stopped", {});
  return kExitOk;
}
