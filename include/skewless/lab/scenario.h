// One lab run end to end (node up, load through the Service, report, node
// down), and the demo that runs it through both kube-proxy modes.
#pragma once

#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "skewless/lab/config.h"
#include "skewless/lab/report.h"
#include "skewless/lab/signals.h"
#include "skewless/lab/state.h"

namespace skewless::lab {

struct ScenarioOptions {
  std::string state_dir = kDefaultStateDir;
  std::string bin_dir;  // where the lab's binaries are; empty = next to this one
  std::function<void(const std::string&)> progress;
  bool json = false;  // reports as JSON instead of tables
  // Also write the reports as JSON to this file (the demo's chart is drawn from it).
  std::string save_path;
};

// Builds the node, drives the workload through the Service VIP from every
// client namespace, stops the pods, tears everything down, and reports.
// `stop` ends the load early; teardown still runs.
absl::StatusOr<LabReport> RunOnce(const LabConfig& config, const ScenarioOptions& options,
                                  const StopSignal* stop);

// RunOnce, then the report printed (table or JSON).
absl::Status RunScenario(const LabConfig& config, const ScenarioOptions& options,
                         const StopSignal& stop, std::ostream& out);

// The demo: the same workload through kube-proxy's iptables mode, its nftables mode,
// skewless's connect hooks (L4) and skewless's splicer (L7), each report printed, then
// what they show together.
absl::Status RunDemo(const LabConfig& config, const ScenarioOptions& options,
                     const StopSignal& stop, std::ostream& out);

}  // namespace skewless::lab
