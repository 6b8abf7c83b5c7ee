// Resources as the control plane serves them to agents, built with its own code
// (xds/resources.h), so the agent's tests read exactly what it will meet.
#pragma once

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "skewless/xds/model.h"
#include "skewless/xds/resources.h"

namespace skewless::agent::testing {

inline xds::Endpoint Pod(std::string address, std::string zone = "zone-a", bool ready = true) {
  xds::Endpoint endpoint{.addresses = {std::move(address)}, .port = 8080, .zone = std::move(zone)};
  endpoint.ready = ready;
  endpoint.serving = ready;
  return endpoint;
}

inline xds::ServicePort Port(std::string name, std::vector<std::string> cluster_ips,
                             std::vector<xds::Endpoint> endpoints) {
  return xds::ServicePort{.namespace_name = "default",
                          .name = std::move(name),
                          .port = 80,
                          .cluster_ips = std::move(cluster_ips),
                          .endpoints = std::move(endpoints)};
}

inline envoy::config::cluster::v3::Cluster ClusterOf(const xds::ServicePort& port) {
  auto cluster = xds::BuildCluster(port);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return *cluster;
}

inline envoy::config::endpoint::v3::ClusterLoadAssignment AssignmentOf(
    const xds::ServicePort& port) {
  auto assignment = xds::BuildLoadAssignment(port, {.audience = xds::EndpointAudience::kAgent});
  EXPECT_TRUE(assignment.ok()) << assignment.status();
  return *assignment;
}

}  // namespace skewless::agent::testing
