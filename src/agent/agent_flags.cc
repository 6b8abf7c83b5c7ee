// skewless-agent's flags over its config file (docs/agent.md): names, help and how each
// lands in AgentConfig.
#include "skewless/agent/agent_flags.h"

#include "skewless/common/control_plane_flags.h"

namespace skewless::agent {

void BindFlags(CLI::App& app, AgentFlags& flags) {
  FlagOverrides<AgentConfig>& overrides = flags.overrides;
  app.add_option(
      "--config", flags.config_path,
      "YAML config file; keys are the long flags with underscores (xds_server, "
      "xds_protocol, node_name, zone, cgroup, pin_dir, http_listen, log_level, "
      "log_format, slow_start_window_seconds, splicer_address, splicer_mark, "
      "uninstall_on_stop, controlplane_ca_file, controlplane_server_name, "
      "token_file, tls_client_cert_file, tls_client_key_file, plaintext, load_reporting, "
      "load_report_change_interval_seconds, cluster_load_max_age_seconds; see "
      "docs/agent.md)");
  overrides.Add(app, "--xds-server", &AgentConfig::xds_servers,
                "Control plane host:port; repeat for several, tried in order on failure "
                "(default skewless-controlplane.skewless-system.svc:18000)");
  AddControlPlaneSecurityFlags(
      app, overrides,
      ControlPlaneSecurityFields{.ca_file = &AgentConfig::controlplane_ca_file,
                                 .server_name = &AgentConfig::controlplane_server_name,
                                 .token_file = &AgentConfig::token_file,
                                 .client_cert_file = &AgentConfig::tls_client_cert_file,
                                 .client_key_file = &AgentConfig::tls_client_key_file,
                                 .plaintext = &AgentConfig::plaintext},
      "ADS and LRS");
  overrides.Add(app, "--load-reporting,!--no-load-reporting", &AgentConfig::load_reporting,
                "Report this node's open connections per backend to the control plane over "
                "LRS, on the ADS stream's transport and credentials (default on; "
                "--load-reporting=false or --no-load-reporting turns it off)");
  overrides.Add<double>(
      app, "--load-report-change-interval", &AgentConfig::load_report_change_interval,
      "Seconds between checks of this node's connection counts; a change is reported at "
      "once, so other nodes learn of this node's picks within about this long plus the "
      "control plane's publish interval (default 0.25; 0 = report only at the control "
      "plane's interval)",
      SecondsWithin(0, 60));
  overrides.Add<double>(
      app, "--cluster-load-max-age", &AgentConfig::cluster_load_max_age,
      "Seconds cluster-wide load (ClusterLoad over ADS) stays in use once the control plane "
      "stops confirming it; then every backend's cluster_conns is zeroed and choices use this "
      "node's counts (default 10; 0 = do not subscribe)",
      SecondsWithin(0, 3600));
  overrides.Add<std::string>(
      app, "--xds-protocol", &AgentConfig::xds_protocol,
      "ADS flavour: delta (default, incremental) or sotw (state of the world)",
      [](const std::string& name) { return ParseAdsProtocol(name); });
  overrides
      .Add(app, "--node-name", &AgentConfig::node_name,
           "This node's Kubernetes name (required; the DaemonSet sets NODE_NAME from the "
           "downward API)")
      ->envname("NODE_NAME");
  overrides.Add(app, "--zone", &AgentConfig::zone,
                "This node's zone; overrides what the control plane reports from the Node's "
                "topology.kubernetes.io/zone label");
  overrides.Add(app, "--cgroup", &AgentConfig::cgroup,
                "cgroup v2 directory whose processes are steered (default: the cgroup2 root "
                "found in /proc/mounts, i.e. the whole node)");
  overrides.Add(app, "--pin-dir", &AgentConfig::pin_dir,
                "bpffs directory for the pinned maps and links (default /sys/fs/bpf/skewless)");
  overrides.Add(app, "--http-listen", &AgentConfig::http_listen,
                "host:port for /metrics, /healthz, /readyz, /debug/zones (default "
                "0.0.0.0:9091)");
  overrides.Add<double>(app, "--slow-start-window", &AgentConfig::slow_start_window,
                        "Seconds over which a newly ready backend ramps from 10% to full weight "
                        "(default 0: full weight at once)",
                        SecondsWithin(0, 3600));
  overrides.Add(app, "--splicer-address", &AgentConfig::splicer_address,
                "IP:port of this node's skewless-splicer, reachable from every pod on the node "
                "(e.g. the node IP): TCP connects to Services whose port has appProtocol "
                "kubernetes.io/h2c, grpc or h2c go there, for per-request balancing (default: "
                "none, every Service is balanced per connection)");
  overrides.Add(app, "--splicer-mark", &AgentConfig::splicer_mark,
                "SO_MARK the splicer sets on its own sockets (its --mark); such sockets are "
                "never sent to the splicer (default 0x5c = 92; 0 = none)");
  overrides.Add(app, "--uninstall-on-stop", &AgentConfig::uninstall_on_stop,
                "On SIGTERM/SIGINT detach and unpin the data path instead of leaving it "
                "steering with the last state (default: leave it)");
  overrides.Add(app, "--log-level", &AgentConfig::log_level,
                "debug, info (default), warn or error");
  overrides.Add(app, "--log-format", &AgentConfig::log_format,
                "logfmt (default) or json, one line per event");
}

absl::StatusOr<AgentConfig> ApplyFlags(const AgentFlags& flags) {
  AgentConfig config;
  if (!flags.config_path.empty()) {
    absl::StatusOr<AgentConfig> loaded = LoadAgentConfigFile(flags.config_path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (absl::Status applied = flags.overrides.ApplyTo(config); !applied.ok()) return applied;
  if (absl::Status valid = ValidateAgentConfig(config); !valid.ok()) return valid;
  return config;
}

AgentConfig FlagsOverDefaults(const AgentFlags& flags) {
  AgentConfig config;
  // A subcommand reads one or two flags and ignores the rest, as it always has.
  flags.overrides.ApplyTo(config).IgnoreError();
  return config;
}

}  // namespace skewless::agent
