// What one more stream on a backend costs, and when that cost says leave the local zone:
// select.h's rules with the splicer's inputs (latency and outstanding streams).
#pragma once

#include <cstdint>

#include "skewless/balance/clock.h"
#include "skewless/spill_rule.h"

namespace skewless::balance {

// select.h's skw_ramp_permille as a factor: 0.1 (Envoy's minimum weight) when the backend
// started taking streams, rising linearly to 1 over the window. A zero window means no ramp;
// a start in the future (should not happen on one steady clock) counts as "just started".
double SlowStartFactor(TimePoint ramp_start, TimePoint now, Nanoseconds window);

// Peak-EWMA cost: latency x (outstanding + 1) x error multiplier / (weight x ramp). Lower is
// better. Weight 0 never reaches here (such a backend takes no streams).
double StreamCost(double latency_ns, std::uint64_t outstanding_streams, double error_multiplier,
                  std::uint16_t weight, double slow_start_factor);

// spill_rule.h's defaults, the connect hook's too.
inline constexpr std::uint32_t kDefaultSpillRatioPermille = SKW_DEFAULT_SPILL_RATIO_PERMILLE;
inline constexpr std::uint32_t kDefaultSpillMinDelta = SKW_DEFAULT_SPILL_MIN_DELTA;

struct SpillCandidate {
  double cost = 0;
  std::uint64_t outstanding_streams = 0;
};

// spill_rule.h's skw_spill_rule with outstanding streams in place of active connections:
// leave the preferred tier only when its winner costs more than ratio x a sampled backend
// outside it AND carries at least min_delta more outstanding streams.
bool ShouldSpill(const SpillCandidate& preferred, const SpillCandidate& other,
                 std::uint32_t spill_ratio_permille, std::uint32_t spill_min_delta);

}  // namespace skewless::balance
