// The lab's cluster as skewless-controlplane's file source reads it
// (docs/controlplane-file-source.md): the nodes, the Service with its
// trafficDistribution and skewless.io/load-balancing policy, and the pods.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "skewless/lab/config.h"

namespace skewless::lab {

// What the EndpointSlice says about one pod, as Kubernetes would after it changed.
enum class PodEndpoint {
  kReady,        // takes new connections
  kTerminating,  // {ready: false, serving: true, terminating: true}: only when nothing is ready
  kRemoved,      // not in the slice (scaled down, deleted)
};

// The YAML document. `pods` is indexed like plan.pods. `splice` marks the Service port
// appProtocol grpc, so agents given a --splicer-address send it to their splicer.
std::string ClusterDocument(const LabConfig& config, const LabPlan& plan,
                            const std::vector<PodEndpoint>& pods, bool splice);

// Writes `text` to a temporary name and renames it over `path`: the control plane's
// file watcher never reads half a document.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace skewless::lab
