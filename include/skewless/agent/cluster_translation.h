// xDS in agent terms: a Cluster's skewless.io metadata says which VIPs and port a Service
// port has, its ClusterLoadAssignment who answers; together they are the data path's
// ServiceSpecs (one per cluster IP). Pure functions: the ADS client and the tests share them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "skewless/datapath/service_table.h"

namespace skewless::agent {

// What the agent steers for one cluster.
struct ClusterTarget {
  std::string name;               // the cluster name, "namespace/service:port"
  std::vector<std::string> vips;  // canonical cluster IPs; empty for a headless Service
  std::uint16_t port = 0;         // the Service port clients dial
  datapath::Protocol protocol = datapath::Protocol::kTcp;
  std::string app_protocol;
  datapath::TrafficDistribution traffic_distribution = datapath::TrafficDistribution::kNone;
  std::uint8_t lb_policy = SKW_LB_LEAST_REQUEST;  // enum skw_lb_policy
  // Why the data path leaves this cluster alone ("" = it steers it): headless, SCTP.
  std::string skip_reason;

  friend bool operator==(const ClusterTarget&, const ClusterTarget&) = default;
};

// One endpoint of a load assignment, every address kept so that each VIP can take the
// address of its own family (dual stack).
struct AssignedEndpoint {
  std::vector<std::string> addresses;  // primary first, then additional_addresses
  std::uint16_t port = 0;
  std::string zone;
  std::string node_name;
  std::uint16_t weight = 1;
  bool ready = true;
  bool serving = true;
  bool terminating = false;

  friend bool operator==(const AssignedEndpoint&, const AssignedEndpoint&) = default;
};

// Reads the cluster's filter_metadata["skewless.io"]. Errors name the cluster and field.
absl::StatusOr<ClusterTarget> TargetOfCluster(const envoy::config::cluster::v3::Cluster& cluster);

// Health as the control plane serves it to agents: HEALTHY/UNKNOWN = ready, DRAINING =
// serving while terminating, anything else = neither. Errors name the endpoint.
absl::StatusOr<std::vector<AssignedEndpoint>> EndpointsOfAssignment(
    const envoy::config::endpoint::v3::ClusterLoadAssignment& assignment);

// The specs for every VIP of `target` (none when it is skipped). An endpoint without an
// address in a VIP's family is left out of that VIP's set.
// appProtocol kubernetes.io/h2c, grpc or h2c: the port carries HTTP/2, so its connects
// go to the node's splicer (when there is one).
bool IsHttp2AppProtocol(std::string_view app_protocol);

std::vector<datapath::ServiceSpec> SpecsOf(const ClusterTarget& target,
                                           const std::vector<AssignedEndpoint>& endpoints,
                                           std::uint32_t slow_start_window_ms);

}  // namespace skewless::agent
