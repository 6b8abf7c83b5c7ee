// What an xDS snapshot says in operator terms: per cluster its VIPs and port (from the
// skewless.io metadata) and its endpoints with zone, health and weight.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "skewless/ctl/xds_fetch.h"

namespace skewless::ctl {

struct XdsEndpointView {
  std::string address;
  std::vector<std::string> additional_addresses;  // dual stack (gRFC A61)
  std::uint32_t port = 0;
  std::string zone;
  std::string node_name;
  std::string health;                   // HEALTHY, DRAINING, UNHEALTHY, ...
  std::optional<std::uint32_t> weight;  // absent: not set (1 to Envoy)
  std::uint32_t priority = 0;
};

struct XdsClusterView {
  std::string name;
  std::string eds_name;
  // Cluster metadata filter_metadata["skewless.io"]; absent fields stay empty.
  std::vector<std::string> cluster_ips;
  std::optional<std::uint32_t> port;
  std::string protocol;
  std::string app_protocol;
  std::string traffic_distribution;
  bool endpoints_received = false;
  std::vector<XdsEndpointView> endpoints;
};

struct XdsView {
  std::string server;
  std::string node_id;
  std::string control_plane;
  std::string cluster_version;
  bool node_known = false;  // the control plane served a NodeInfo for node_id
  std::string node_zone;
  std::vector<XdsClusterView> clusters;
};

XdsView BuildXdsView(const XdsSnapshot& snapshot);

}  // namespace skewless::ctl
