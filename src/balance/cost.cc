// Cost of one more stream, slow start and the spill rule (see cost.h).
#include "skewless/balance/cost.h"

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
  return preferred.cost * 1000.0 > static_cast<double>(spill_ratio_permille) * other.cost &&
         preferred.outstanding_streams >= other.outstanding_streams + spill_min_delta;
}

}  // namespace skewless::balance
