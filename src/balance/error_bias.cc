// Time-decayed failure ratio as a cost multiplier (see error_bias.h).
#include "skewless/balance/error_bias.h"

namespace skewless::balance {

void ErrorBias::Record(TimePoint now, bool failed, Nanoseconds tau) {
  const double decay = DecayFactor(stamp_, now, tau);
  failures_ = failures_ * decay + (failed ? 1.0 : 0.0);
  successes_ = successes_ * decay + (failed ? 0.0 : 1.0);
  if (now > stamp_) stamp_ = now;
}

double ErrorBias::CostMultiplier(TimePoint now, Nanoseconds tau) const {
  const double decay = DecayFactor(stamp_, now, tau);
  // The +1 is a prior success that never decays: one failure on an unknown backend costs
  // 2x, not infinity, and decayed counts fade back to 1x.
  return 1.0 + failures_ * decay / (successes_ * decay + 1.0);
}

}  // namespace skewless::balance
