// A Service as the agent wrote it into the maps, in the splicer's terms: the backends to
// balance over and how (zone preference, slow start), following the connect path's rules.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "skewless/balance/backends.h"
#include "skewless/datapath/splice_maps.h"
#include "upstream.h"

namespace skewless::splicer {

// The balancer's zone names for the set's tiers: the agent already decided which backends
// are preferred here (same zone or node, kube-proxy's fallback rules), so the splicer keeps
// its tiers rather than its zone names.
inline constexpr char kPreferredTier[] = "preferred";
inline constexpr char kOtherTier[] = "other";

struct ServiceBackends {
  balance::BalanceOptions options;
  std::vector<UpstreamBackend> backends;
};

// Ready members take streams; serving-but-terminating ones only when nothing is ready (and
// otherwise drain); weights as the maps hold them (0 read as 1, like the connect path).
absl::StatusOr<ServiceBackends> ServiceBackendsOf(const datapath::SpliceService& service);

}  // namespace skewless::splicer
