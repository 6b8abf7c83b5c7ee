// Error-biased cost: a backend's recent failures multiply its cost, decaying with time.
#pragma once

#include "skewless/balance/clock.h"

namespace skewless::balance {

// Keeps time-decayed counts of failures and successes (both shrink by exp(-dt/tau)). The
// multiplier is 1 + failures / (successes + 1): for a steady failure fraction p that is about
// 1 / (1 - p), the expected attempts per success, so 10% errors cost 1.1x and 90% cost 10x;
// one stray error among many successes costs nothing noticeable, and an idle backend's
// failures fade so it is tried again. Hard failure is outlier ejection's job, not this.
class ErrorBias {
 public:
  void Record(TimePoint now, bool failed, Nanoseconds tau);
  double CostMultiplier(TimePoint now, Nanoseconds tau) const;

 private:
  double failures_ = 0;
  double successes_ = 0;
  TimePoint stamp_{};
};

}  // namespace skewless::balance
