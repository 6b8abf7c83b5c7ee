// skewless-agent: the node agent. Follows the control plane over ADS and keeps the BPF
// steering maps equal to what it serves; `uninstall` removes the data path.
#include <malloc.h>
#include <signal.h>

#include <iostream>
#include <optional>

#include "CLI/CLI.hpp"
#include "skewless/agent/agent.h"
#include "skewless/agent/kernel_check.h"
#include "skewless/common/cli.h"
#include "skewless/common/log.h"
#include "skewless/common/stop_signals.h"
#include "skewless/datapath/steering.h"

using skewless::kExitBadConfig;
using skewless::kExitCannotRun;
using skewless::kExitOk;

int main(int argc, char** argv) {
  using skewless::agent::AgentConfig;
  namespace log = skewless::log;

  CLI::App app{
      "skewless-agent: the node agent. Attaches the steering programs to the node's cgroup v2\n"
      "root (or adopts the ones a previous agent left pinned), follows the control plane over\n"
      "ADS and writes services, backends, zones and weights into the BPF maps. Killing it\n"
      "leaves the data path steering with the last state; `uninstall` removes it;\n"
      "`kernel-check` says whether this node's kernel can run it.\n"
      "Exit codes: 0 clean stop (SIGTERM/SIGINT), 1 cannot run, 2 bad flags or config."};
  app.require_subcommand(0, 1);
  std::string config_path;
  std::vector<std::string> xds_servers;
  std::optional<std::string> xds_protocol, node_name, zone, cgroup, pin_dir, http_listen, log_level,
      log_format;
  std::optional<double> slow_start_s;
  std::optional<std::string> splicer_address;
  std::optional<std::uint32_t> splicer_mark;
  bool uninstall_on_stop = false;
  std::optional<std::string> ca_file, server_name, token_file, client_cert_file, client_key_file;
  bool plaintext = false;
  bool load_reporting = true;
  std::optional<double> cluster_load_max_age_s;
  std::optional<double> load_report_change_interval_s;
  app.add_option(
      "--config", config_path,
      "YAML config file; keys are the long flags with underscores (xds_server, "
      "xds_protocol, node_name, zone, cgroup, pin_dir, http_listen, log_level, "
      "log_format, slow_start_window_seconds, splicer_address, splicer_mark, "
      "uninstall_on_stop, controlplane_ca_file, controlplane_server_name, "
      "token_file, tls_client_cert_file, tls_client_key_file, plaintext, load_reporting, "
      "load_report_change_interval_seconds, cluster_load_max_age_seconds; see "
      "docs/agent.md)");
  app.add_option("--xds-server", xds_servers,
                 "Control plane host:port; repeat for several, tried in order on failure "
                 "(default skewless-controlplane.skewless-system.svc:18000)");
  app.add_option("--controlplane-ca-file", ca_file,
                 "PEM CA bundle the control plane's serving certificate must chain to. TLS is "
                 "the default: without this file the agent needs --plaintext (in the "
                 "DaemonSet: /etc/skewless/ca/ca.crt from ConfigMap skewless-ca-bundle)");
  app.add_option("--controlplane-server-name", server_name,
                 "Name the control plane's certificate is verified against and sent as SNI "
                 "(default: the host of each --xds-server; an IP is matched against IP SANs)");
  app.add_option("--token-file", token_file,
                 "File whose contents are sent as `authorization: Bearer <token>` on every ADS "
                 "stream, read again at each connect (a projected ServiceAccount token with "
                 "audience skewless-controlplane; kubelet rotates it). Needs TLS (default: none)");
  app.add_option("--tls-client-cert-file", client_cert_file,
                 "PEM client certificate chain for mTLS (URI SAN "
                 "spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>); needs "
                 "--tls-client-key-file");
  app.add_option("--tls-client-key-file", client_key_file,
                 "PEM private key of --tls-client-cert-file");
  app.add_flag("--plaintext", plaintext,
               "Talk to the control plane without TLS (h2c): only for a control plane run with "
               "--plaintext, e.g. on loopback; excludes every TLS flag and --token-file");
  // A plain bool and its count: CLI11 fills a std::optional<bool> flag even when absent,
  // which would turn reporting off by default.
  CLI::Option* load_reporting_flag =
      app.add_flag("--load-reporting,!--no-load-reporting", load_reporting,
                   "Report this node's open connections per backend to the control plane over "
                   "LRS, on the ADS stream's transport and credentials (default on; "
                   "--load-reporting=false or --no-load-reporting turns it off)");
  app.add_option("--load-report-change-interval", load_report_change_interval_s,
                 "Seconds between checks of this node's connection counts; a change is "
                 "reported at once, so other nodes learn of this node's picks within about "
                 "this long plus the control plane's publish interval (default 0.25; 0 = "
                 "report only at the control plane's interval)");
  app.add_option("--cluster-load-max-age", cluster_load_max_age_s,
                 "Seconds cluster-wide load (ClusterLoad over ADS) stays in use once the "
                 "control plane stops confirming it; then every backend's cluster_conns is "
                 "zeroed and choices use this node's counts (default 10; 0 = do not subscribe)");
  app.add_option("--xds-protocol", xds_protocol,
                 "ADS flavour: delta (default, incremental) or sotw (state of the world)");
  app.add_option("--node-name", node_name,
                 "This node's Kubernetes name (required; the DaemonSet sets NODE_NAME from the "
                 "downward API)")
      ->envname("NODE_NAME");
  app.add_option("--zone", zone,
                 "This node's zone; overrides what the control plane reports from the Node's "
                 "topology.kubernetes.io/zone label");
  app.add_option("--cgroup", cgroup,
                 "cgroup v2 directory whose processes are steered (default: the cgroup2 root "
                 "found in /proc/mounts, i.e. the whole node)");
  app.add_option("--pin-dir", pin_dir,
                 "bpffs directory for the pinned maps and links (default /sys/fs/bpf/skewless)");
  app.add_option("--http-listen", http_listen,
                 "host:port for /metrics, /healthz, /readyz, /debug/zones (default 0.0.0.0:9091)");
  app.add_option("--slow-start-window", slow_start_s,
                 "Seconds over which a newly ready backend ramps from 10% to full weight "
                 "(default 0: full weight at once)");
  app.add_option("--splicer-address", splicer_address,
                 "IP:port of this node's skewless-splicer, reachable from every pod on the node "
                 "(e.g. the node IP): TCP connects to Services whose port has appProtocol "
                 "kubernetes.io/h2c, grpc or h2c go there, for per-request balancing (default: "
                 "none, every Service is balanced per connection)");
  app.add_option("--splicer-mark", splicer_mark,
                 "SO_MARK the splicer sets on its own sockets (its --mark); such sockets are "
                 "never sent to the splicer (default 0x5c = 92; 0 = none)");
  app.add_flag("--uninstall-on-stop", uninstall_on_stop,
               "On SIGTERM/SIGINT detach and unpin the data path instead of leaving it "
               "steering with the last state (default: leave it)");
  app.add_option("--log-level", log_level, "debug, info (default), warn or error");
  app.add_option("--log-format", log_format, "logfmt (default) or json, one line per event");

  CLI::App* uninstall = app.add_subcommand(
      "uninstall", "Detach every program and remove every pin of the data path, then exit");
  // One --pin-dir for both: CLI11 passes options it does not know on to the parent, so
  // `--pin-dir X uninstall` and `uninstall --pin-dir X` name the same directory.
  uninstall->fallthrough();
  uninstall->footer(
      "--pin-dir DIR (before or after `uninstall`): the bpffs directory of the data path "
      "(default /sys/fs/bpf/skewless)\n");

  CLI::App* kernel_check = app.add_subcommand(
      "kernel-check",
      "Probe this kernel: the BPF features the data path uses (required or optional), and "
      "whether each BPF program passes the verifier (its log when not). Loads programs, "
      "attaches one to a throwaway cgroup of its own for a moment, pins nothing. Exit 0: "
      "the agent can run here; 1: it cannot");
  bool kernel_check_json = false;
  kernel_check->add_flag("--json", kernel_check_json, "The report as JSON");
  kernel_check->fallthrough();  // --cgroup: where the throwaway cgroup is made
  kernel_check->footer(
      "--cgroup DIR (before or after `kernel-check`): the cgroup v2 directory to make the "
      "throwaway probe cgroup in (default: the cgroup2 mount)\n");

  if (std::optional<int> exit_code = skewless::ParseFlags(app, argc, argv, kExitBadConfig)) {
    return *exit_code;
  }

  if (uninstall->parsed()) {
    const std::string target = pin_dir.value_or(skewless::datapath::kDefaultPinDir);
    absl::Status removed = skewless::datapath::Steering::UninstallPinned(target);
    if (!removed.ok()) {
      std::cerr << "skewless-agent uninstall: " << removed.message() << "\n";
      return kExitCannotRun;
    }
    std::cout << "skewless data path at " << target << " detached and unpinned\n";
    return kExitOk;
  }

  if (kernel_check->parsed()) {
    return skewless::agent::RunKernelCheck(
        {.cgroup_parent = cgroup.value_or(""), .json = kernel_check_json}, std::cout);
  }

  AgentConfig config;
  if (!config_path.empty()) {
    absl::StatusOr<AgentConfig> loaded = skewless::agent::LoadAgentConfigFile(config_path);
    if (!loaded.ok()) {
      std::cerr << "skewless-agent: " << loaded.status().message() << "\n";
      return kExitBadConfig;
    }
    config = *std::move(loaded);
  }
  if (!xds_servers.empty()) config.xds_servers = xds_servers;
  if (xds_protocol) {
    absl::StatusOr<skewless::agent::AdsProtocol> protocol =
        skewless::agent::ParseAdsProtocol(*xds_protocol);
    if (!protocol.ok()) {
      std::cerr << "skewless-agent: --xds-protocol: " << protocol.status().message() << "\n";
      return kExitBadConfig;
    }
    config.xds_protocol = *protocol;
  }
  if (node_name) config.node_name = *node_name;
  if (zone) config.zone = *zone;
  if (cgroup) config.cgroup = *cgroup;
  if (pin_dir) config.pin_dir = *pin_dir;
  if (http_listen) config.http_listen = *http_listen;
  if (log_level) config.log_level = *log_level;
  if (log_format) config.log_format = *log_format;
  if (uninstall_on_stop) config.uninstall_on_stop = true;
  if (splicer_address) config.splicer_address = *splicer_address;
  if (splicer_mark) config.splicer_mark = *splicer_mark;
  if (ca_file) config.controlplane_ca_file = *ca_file;
  if (server_name) config.controlplane_server_name = *server_name;
  if (token_file) config.token_file = *token_file;
  if (client_cert_file) config.tls_client_cert_file = *client_cert_file;
  if (client_key_file) config.tls_client_key_file = *client_key_file;
  if (plaintext) config.plaintext = true;
  if (load_reporting_flag->count() > 0) config.load_reporting = load_reporting;
  if (load_report_change_interval_s) {
    if (*load_report_change_interval_s < 0 || *load_report_change_interval_s > 60) {
      std::cerr << "skewless-agent: --load-report-change-interval: expected 0-60 seconds\n";
      return kExitBadConfig;
    }
    config.load_report_change_interval =
        std::chrono::milliseconds(static_cast<long>(*load_report_change_interval_s * 1000));
  }
  if (cluster_load_max_age_s) {
    if (*cluster_load_max_age_s < 0 || *cluster_load_max_age_s > 3600) {
      std::cerr << "skewless-agent: --cluster-load-max-age: expected 0-3600 seconds\n";
      return kExitBadConfig;
    }
    config.cluster_load_max_age =
        std::chrono::milliseconds(static_cast<long>(*cluster_load_max_age_s * 1000));
  }
  if (slow_start_s) {
    if (*slow_start_s < 0 || *slow_start_s > 3600) {
      std::cerr << "skewless-agent: --slow-start-window: expected 0-3600 seconds\n";
      return kExitBadConfig;
    }
    config.slow_start_window = std::chrono::milliseconds(static_cast<long>(*slow_start_s * 1000));
  }
  if (absl::Status valid = skewless::agent::ValidateAgentConfig(config); !valid.ok()) {
    std::cerr << "skewless-agent: " << valid.message() << "\n";
    return kExitBadConfig;
  }
  log::Configure(*log::ParseLevel(config.log_level), *log::ParseFormat(config.log_format));

  // The agent runs on every node: a couple of malloc arenas instead of one per thread
  // (gRPC and HTTP workers) keeps freed memory from being stranded across many.
  mallopt(M_ARENA_MAX, 2);
  // Before any thread starts, so only sigwait below takes SIGTERM/SIGINT.
  const sigset_t stop_signals = skewless::BlockStopSignals();
  absl::StatusOr<std::unique_ptr<skewless::agent::Agent>> agent =
      skewless::agent::Agent::Start(config);
  if (!agent.ok()) {
    log::Error("cannot start", {{"error", std::string(agent.status().message())}});
    return kExitCannotRun;
  }
  log::Info("agent running",
            {{"node", config.node_name},
             {"http", config.http_listen.substr(0, config.http_listen.rfind(':') + 1) +
                          std::to_string((*agent)->http_port())}});
  skewless::AwaitStopSignal(stop_signals);
  (*agent)->Shutdown();
  return kExitOk;
}
