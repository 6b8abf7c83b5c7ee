// A one-shot ADS client that asks as an agent does (CDS wildcard, then EDS for every
// cluster) and returns what the control plane serves.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "skewless/agent/v1/node_info.pb.h"

namespace skewless::ctl {

inline constexpr char kDefaultXdsServer[] = "127.0.0.1:18000";
// The control plane serves agents (and Envoy) every endpoint with its health; a client
// whose user agent starts with "gRPC" would get a gRPC client's filtered view instead.
inline constexpr char kAgentUserAgent[] = "skewless-agent";

struct XdsFetchOptions {
  std::string server = kDefaultXdsServer;  // host:port
  std::string node_id;                     // also the NodeInfo name asked for
  std::chrono::milliseconds timeout{5000};
  // TLS unless `plaintext`: the CA bundle the server's certificate chains to (required
  // then), the name it is verified against (empty = the server's host), and a file whose
  // contents go out as `authorization: Bearer <token>`. Plaintext takes none of them.
  std::string ca_file;
  std::string server_name;
  std::string token_file;
  bool plaintext = false;
};

// TLS or explicit plaintext, and nothing beside plaintext that would go unused (or, for a
// token, out in clear text); errors name the flags.
absl::Status ValidateXdsFetchSecurity(const XdsFetchOptions& options);

struct XdsSnapshot {
  std::string server;
  std::string node_id;
  std::string control_plane;  // the responses' control_plane.identifier
  std::string cluster_version;
  std::vector<envoy::config::cluster::v3::Cluster> clusters;  // by name
  // By cluster_name (the EDS service name).
  std::map<std::string, envoy::config::endpoint::v3::ClusterLoadAssignment> assignments;
  std::optional<skewless::agent::v1::NodeInfo> node;  // absent: no Node of that name
  // EDS names still missing when the timeout ended the wait (shown, not an error).
  std::vector<std::string> missing_assignments;
};

// Unavailable when the server cannot be reached, DeadlineExceeded when it sent no
// clusters within the timeout; both name the server. InvalidArgument for the security
// options (above) or a CA or token file that cannot be read.
absl::StatusOr<XdsSnapshot> FetchXds(const XdsFetchOptions& options);

// The EDS service name of a cluster: eds_cluster_config.service_name, else its name.
std::string EdsNameOf(const envoy::config::cluster::v3::Cluster& cluster);

}  // namespace skewless::ctl
