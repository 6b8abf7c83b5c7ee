// Exponential decay on the balancer's clock.
#include "skewless/balance/clock.h"

#include <cmath>

namespace skewless::balance {

double DecayFactor(TimePoint then, TimePoint now, Nanoseconds tau) {
  if (now <= then) return 1.0;
  if (tau.count() <= 0) return 0.0;  // no memory at all
  const double elapsed_ns = static_cast<double>((now - then).count());
  return std::exp(-elapsed_ns / static_cast<double>(tau.count()));
}

}  // namespace skewless::balance
