// Is the data path installed, attached and fed? Pins, links, map counts and the agent's
// probes, judged into one verdict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/ctl/datapath_state.h"
#include "skewless/ctl/zones.h"
#include "skewless/datapath/pinned_steering.h"

namespace skewless::ctl {

enum class Verdict {
  kOk,            // attached everywhere, maps readable, agent healthy and ready
  kDegraded,      // steering, but the agent is unreachable, unhealthy or not ready
  kBroken,        // maps or links missing, detached or unreadable
  kNotInstalled,  // no data path pinned at all
};

std::string VerdictName(Verdict verdict);  // "ok", "degraded", "broken", "not-installed"

struct LinkStatus {
  datapath::PinnedLink link;
  std::string hook;         // the attach type's name, e.g. "cgroup_inet4_connect"
  std::string cgroup_path;  // resolved from link.cgroup_id; "" when it could not be
};

struct AgentStatus {
  std::string url;             // "" = not asked (--agent "")
  std::optional<int> healthz;  // HTTP status; nullopt = no answer
  std::optional<int> readyz;
  std::string readyz_body;  // the reason it gives when not ready
  std::string error;        // why there was no answer
};

struct MapCounts {
  std::size_t services = 0;
  std::size_t backend_sets = 0;
  std::size_t backends = 0;
  std::uint64_t active_conns = 0;
  std::uint16_t node_zone_id = 0;
};

struct StatusReport {
  PinDirProbe pin_dir;
  std::vector<std::pair<std::string, bool>> maps;  // map name → pinned
  std::vector<LinkStatus> links;
  std::string read_error;  // opening or reading the maps failed
  std::optional<MapCounts> counts;
  ZoneNames zones;
  AgentStatus agent;

  // Filled by Judge.
  Verdict verdict = Verdict::kNotInstalled;
  std::string summary;                // one line
  std::vector<std::string> problems;  // each makes the verdict worse than ok
  std::vector<std::string> notes;     // worth knowing, not a problem
};

// The verdict, summary, problems and notes from what was gathered. Pure.
void Judge(StatusReport& report);

// Reads the pins, links, maps and the agent, then judges. What could not be read is part
// of the report; only PermissionDenied (not root: the pin dir cannot even be looked into)
// is an error.
absl::StatusOr<StatusReport> GatherStatus(const std::string& pin_dir, const std::string& agent_url);

}  // namespace skewless::ctl
