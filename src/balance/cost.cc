// Cost of one more stream, slow start and the spill rule (see cost.h).
#include "skewless/balance/cost.h"

#include <algorithm>
#include <cmath>

namespace skewless::balance {

namespace {
constexpr double kSlowStartMinFactor = 0.1;  // SKW_SLOW_START_MIN_PERMILLE / 1000
}  // namespace

double SlowStartFactor(TimePoint ramp_start, TimePoint now, Nanoseconds window) {
  if (window.count() <= 0) return 1.0;
  if (now <= ramp_start) return kSlowStartMinFactor;
  const auto elapsed = now - ramp_start;
  if (elapsed >= window) return 1.0;
  return kSlowStartMinFactor + (1.0 - kSlowStartMinFactor) * static_cast<double>(elapsed.count()) /
                                   static_cast<double>(window.count());
}

double StreamCost(double latency_ns, std::uint64_t outstanding_streams, double error_multiplier,
                  std::uint16_t weight, double slow_start_factor) {
  return latency_ns * (static_cast<double>(outstanding_streams) + 1.0) * error_multiplier /
         (static_cast<double>(weight) * slow_start_factor);
}

bool ShouldSpill(const SpillCandidate& preferred, const SpillCandidate& other,
                 std::uint32_t spill_ratio_permille, std::uint32_t spill_min_delta) {
  // The rule compares a ratio, so both costs are scaled alike until the larger fills 2^40:
  // integers keep the doubles' precision there and stay under the rule's clamp.
  const double larger = std::max(preferred.cost, other.cost);
  const double scale = larger > 0 ? 0x1p40 / larger : 1.0;
  auto scaled = [scale](double cost) {
    return static_cast<std::uint64_t>(std::llround(std::max(cost, 0.0) * scale));
  };
  return skw_spill_rule(scaled(preferred.cost), preferred.outstanding_streams, scaled(other.cost),
                        other.outstanding_streams, spill_ratio_permille, spill_min_delta) != 0;
}

}  // namespace skewless::balance
