// The pods that come and go during a run (--add-pod-at, --remove-pod-at): applied on
// time by the scenario, recorded for the report.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "skewless/lab/config.h"

namespace skewless::lab {

class Node;

struct PodChange {
  enum Kind { kAdded, kRemoved } kind;
  std::size_t pod_index = 0;  // into LabPlan::pods
  std::string pod;
  std::chrono::milliseconds at{0};  // planned, from the start of the measured period
  // When the Service's endpoints changed (Unix ms, the clock of the loadgens' timelines).
  int64_t applied_unix_ms = 0;
};

class PodChanges {
 public:
  PodChanges(const LabConfig& config, const LabPlan& plan);

  // Applies every change whose time has come, `into_measured` after the measured period
  // began. Adding: the pod's server starts, then (once it listens) it is listed, as
  // Kubernetes lists a pod once Ready. Removing: it is unlisted (every agent, or
  // kube-proxy's rules, follow), then its server is stopped and its clients reconnect.
  absl::Status ApplyDue(Node& node, std::chrono::milliseconds into_measured,
                        const std::function<void(const std::string&)>& say);

  const std::vector<PodChange>& applied() const { return applied_; }

 private:
  std::vector<PodChange> pending_;  // in time order
  std::vector<PodChange> applied_;
};

// Now, in the Unix milliseconds the load generators stamp their timelines with.
int64_t UnixMillisNow();

}  // namespace skewless::lab
