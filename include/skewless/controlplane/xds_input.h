// The bridge from the control plane's Kubernetes-shaped Snapshot to the xDS cache's
// input: one xds::ServicePort per Service port, and the client spread over zones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "skewless/controlplane/model.h"
#include "skewless/xds/cache.h"

namespace skewless::controlplane {

// Turns successive snapshots into cache inputs. Every port of every Service becomes a
// port with the endpoints merged for it (a port without endpoints is still a cluster,
// with an empty assignment); client_share counts Nodes per zone, the best cluster-wide
// guess of where gRPC clients run. A Service whose spec and endpoints equal the
// previous snapshot's keeps its previous (shared) ports, so a change to one Service
// costs one translation, not one per Service.
class XdsInputBuilder {
 public:
  // `default_load_balancing`: the policy name of Services without a known annotation.
  XdsInputBuilder(std::string cluster_domain, std::string default_load_balancing);

  // `snapshot` is kept until the next call (the comparison base).
  xds::CacheInput Build(std::shared_ptr<const Snapshot> snapshot);

 private:
  struct Translated {
    const Service* service = nullptr;                    // in previous_
    std::vector<const ServicePortEndpoints*> endpoints;  // in previous_
    std::vector<std::shared_ptr<const xds::ServicePort>> ports;
  };

  const std::string cluster_domain_;
  const std::string default_load_balancing_;
  std::shared_ptr<const Snapshot> previous_;
  std::vector<Translated> translated_;  // previous_'s services, in their (sorted) order
};

}  // namespace skewless::controlplane
