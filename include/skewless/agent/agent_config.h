// skewless-agent's configuration: a flat YAML file whose keys are the long flags with
// underscores (docs/agent.md), overridden by flags, validated before anything starts.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "skewless/agent/ads_client.h"
#include "skewless/h2/tls_transport.h"

namespace skewless::agent {

inline constexpr char kDefaultXdsServer[] = "skewless-controlplane.skewless-system.svc:18000";
// Low bits, clear of kube-proxy's 0x4000/0x8000, Calico's upper 16 and Cilium's 0x0F00.
inline constexpr std::uint32_t kDefaultSplicerMark = 0x5c;

struct AgentConfig {
  std::vector<std::string> xds_servers = {kDefaultXdsServer};
  AdsProtocol xds_protocol = AdsProtocol::kDelta;
  std::string node_name;            // required (NODE_NAME from the downward API)
  std::optional<std::string> zone;  // overrides the control plane's view of the node
  std::string cgroup;               // empty = the cgroup2 root (the whole node)
  std::string pin_dir = "/sys/fs/bpf/skewless";
  std::string http_listen = "0.0.0.0:9091";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::chrono::milliseconds slow_start_window{0};  // 0 = new pods get full weight at once
  // The node's skewless-splicer (IP:port, reachable from every pod on the node, e.g. the
  // node IP): HTTP/2 Services' connects go there. Empty = no splicer, all steered at L4.
  std::string splicer_address;
  // SO_MARK the splicer puts on its own sockets (its --mark), which are never sent to it.
  std::uint32_t splicer_mark = kDefaultSplicerMark;
  // On SIGTERM, detach and unpin the data path instead of leaving it steering (for
  // removing skewless from a node; the default keeps connections steered across restarts).
  bool uninstall_on_stop = false;

  // Who the agent talks to and how it proves who it is. TLS is the default and needs the
  // CA bundle; plaintext must be asked for and then takes none of the TLS settings.
  std::string controlplane_ca_file;      // PEM bundle the control plane's certificate chains to
  std::string controlplane_server_name;  // name verified; empty = each xds_server's host
  std::string tls_client_cert_file;      // mTLS: both or neither
  std::string tls_client_key_file;
  bool plaintext = false;
  // Sent as `authorization: Bearer` on every stream (a projected ServiceAccount token);
  // read again at each connect since kubelet rotates it. Empty = no token.
  std::string token_file;

  // Report this node's per-endpoint connections to the control plane over LRS.
  bool load_reporting = true;
  // A change in this node's counts is reported this soon after the previous report (the
  // server's interval is then a heartbeat); 0 = at the interval only.
  std::chrono::milliseconds load_report_change_interval{250};
  // How long cluster-wide load (ClusterLoad over ADS) is trusted once the control plane
  // stops confirming it; then every cluster_conns is zeroed and choices use this node's
  // counts. 0 = never subscribe (cluster_conns stay 0).
  std::chrono::milliseconds cluster_load_max_age{10000};
};

// The TLS settings of the ADS call, or none when the config says plaintext.
std::optional<h2::TlsClientOptions> ControlPlaneTls(const AgentConfig& config);

// Parses the YAML document over the defaults. Unknown keys are errors; every error names
// the file, line and key.
absl::StatusOr<AgentConfig> ParseAgentConfigYaml(std::string_view document,
                                                 std::string_view source_name);
absl::StatusOr<AgentConfig> LoadAgentConfigFile(const std::string& path);

// Checks values that parse but cannot work; the message names the field.
absl::Status ValidateAgentConfig(const AgentConfig& config);

absl::StatusOr<AdsProtocol> ParseAdsProtocol(std::string_view name);  // "delta", "sotw"

}  // namespace skewless::agent
