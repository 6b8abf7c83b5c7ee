// Reads a pod's own counters (Echo.Stats) so a run can be checked against the server's view.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "skewless/loadgen/result.h"

namespace skewless::loadgen {

struct PodStats {
  std::string pod;
  std::string zone;
  uint64_t work_served = 0;
  uint64_t connections_seen = 0;
};

// One Stats call on a fresh channel; Unavailable naming `address` on failure.
absl::StatusOr<PodStats> QueryPodStats(const std::string& address, absl::Duration timeout);

// after - before for one pod.
ServerStatsDelta DiffPodStats(const std::string& address, const PodStats& before,
                              const PodStats& after);

}  // namespace skewless::loadgen
