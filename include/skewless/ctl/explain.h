// Which backend a connect to a service gets now, and why: select.h itself (the header the
// BPF program compiles) run over the state read from the maps, many times, with the
// current loads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "skewless/abi.h"
#include "skewless/ctl/datapath_state.h"
#include "skewless/ctl/service_view.h"

namespace skewless::ctl {

struct ExplainOptions {
  // Also lay the set out as if this node were in this zone: the preferred tier becomes the
  // ready backends of that zone (what the agent writes for PreferClose/PreferSameZone).
  std::optional<std::uint16_t> zone_id;
  // P2C draws at random: the outcome is the distribution over this many simulated
  // connects, with loads frozen at their current values and a fixed seed.
  std::uint32_t draws = 10000;
  std::uint32_t seed = 1;
};

// Where connects to the service go first, and why.
enum class TierReason {
  kNoSet,                        // no backend set for the service: connects are refused
  kNoBackend,                    // nothing ready or serving: connects are refused
  kNothingReady,                 // nothing ready: serving-but-terminating backends
  kNoPreference,                 // no trafficDistribution: every ready backend
  kPreferred,                    // the preferred tier, spilling only when it is overloaded
  kPreferredAllSkipped,          // every preferred backend is ejected or unusable
  kPreferredNodeZoneUnknown,     // prefers local, but this node's zone is unknown
  kPreferredBackendWithoutZone,  // prefers local, but a ready backend has no zone
  kPreferredNoneInZone,          // prefers local, but no ready backend is in this zone
  kPreferredEmpty,               // prefers local, backends in this zone, none written as preferred
};

// What the preferred tier holds, inferred from zones: the maps carry only the flag
// "prefer local", not which trafficDistribution asked for it.
enum class PreferredScope {
  kNone,
  kSameZone,          // exactly the ready backends in the node's zone
  kNarrowerThanZone,  // some of them: a same-node tier (PreferSameNode)
  kUnknown,           // the node's zone is unknown or the tier spans other zones
};

struct Candidate {
  std::uint32_t slot = 0;
  std::uint32_t backend_id = 0;
  Tier tier = Tier::kReady;
  std::optional<skw_backend> backend;
  // Why select.h never draws it ("" = it can be drawn).
  std::string skipped;
  std::uint64_t active_conns = 0;
  std::uint64_t cluster_conns = 0;  // other nodes' connections, as the agent last learnt them
  std::uint16_t weight = 0;         // as select.h uses it (0 counts as 1)
  std::uint32_t ramp_permille = 0;  // slow start: 100 (just ready) .. 1000 (done)
  std::uint64_t cost = 0;
  std::uint64_t ready_for_ns = 0;  // since ready_since_ns; 0 when that is 0 ("long ago")
};

struct Simulation {
  std::uint32_t draws = 0;
  std::uint32_t seed = 0;
  std::map<std::uint32_t, std::uint64_t> picks;           // backend id → connects it got
  std::array<std::uint64_t, SKW_REASON_COUNT> reasons{};  // [SKW_REASON_NONE] = refused
};

// One layout of the set and what the choice does with it.
struct Scenario {
  std::uint16_t node_zone_id = 0;  // the zone the node is in for this layout
  TierReason reason = TierReason::kNoSet;
  PreferredScope scope = PreferredScope::kNone;
  std::uint16_t n_preferred = 0;  // as select.h uses them (0 preferred without the flag)
  std::uint16_t n_ready = 0;
  std::uint16_t n_serving = 0;
  std::vector<Candidate> candidates;  // every slot in use, in slot order
  Simulation simulation;
};

struct Explanation {
  ServiceView service;
  skw_node_config node{};
  // What the spill rule uses (select.h's defaults where skw_node holds 0).
  std::uint32_t spill_ratio_permille = 0;
  std::uint32_t spill_min_delta = 0;
  Scenario current;                   // the set as the agent wrote it
  std::optional<Scenario> with_zone;  // ExplainOptions::zone_id
};

// NotFound (naming the service and its VIP's other ports) when there is no such service.
absl::StatusOr<Explanation> Explain(const DatapathState& state, const skw_service_key& key,
                                    const ExplainOptions& options);

}  // namespace skewless::ctl
