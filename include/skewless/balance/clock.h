// The clock the per-request balancer runs on: callers pass `now` in, so tests choose time.
#pragma once

#include <chrono>

namespace skewless::balance {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Nanoseconds = std::chrono::nanoseconds;

// exp(-elapsed / tau): how much of an old observation is left after `elapsed`. A clock that
// went backwards (now before then) counts as no time passed.
double DecayFactor(TimePoint then, TimePoint now, Nanoseconds tau);

}  // namespace skewless::balance
