// Peak-EWMA latency estimate of one backend (Linkerd/tower): jumps to any slower sample,
// drifts down towards faster ones, and decays towards the floor between samples.
#pragma once

#include "skewless/balance/clock.h"

namespace skewless::balance {

struct PeakEwmaOptions {
  Nanoseconds decay{std::chrono::seconds(10)};  // tau: Linkerd's default
  // Estimate before the first sample when the set has no measured backend to copy.
  Nanoseconds seed{std::chrono::milliseconds(30)};
  // A backend never looks faster than this, so an idle one is never "free" and sub-floor
  // differences (pods on one LAN) do not steer traffic; outstanding streams decide.
  Nanoseconds floor{std::chrono::milliseconds(1)};
  // The least share each sample gets. 0 is Linkerd's pure wall-clock decay, under which a
  // busy backend's estimate keeps one scheduling spike for about tau whatever its rate;
  // the splicer sets a few percent so a spike fades within tens of samples while a
  // backend that is slow on every sample stays slow.
  double min_sample_weight = 0;
  // A slower sample may raise the estimate (the seed, for the first) at most this many times
  // over (0 = no bound, the pure peak rule). A backend that really got slow reaches its new latency
  // within a few samples, while one scheduling hiccup on a busy node cannot price a healthy backend
  // out of the draws (it would then get no samples to bring the estimate down, only the decay).
  double max_rise_per_sample = 0;
};

class PeakEwma {
 public:
  PeakEwma(const PeakEwmaOptions& options, TimePoint now, Nanoseconds seed);

  // The estimate at `now`: the stored one times exp(-dt/tau), never below the floor. Reading
  // does not change state, so any number of picks between samples gives the same answer.
  double EstimateNs(TimePoint now) const;

  // A sample above the current estimate replaces it (peak); one below blends in with weight
  // 1 - exp(-dt/tau). The first sample replaces the seed outright: the seed is a guess, and
  // a backend that kept its 30 ms seed for tau would be mis-ranked for tens of seconds.
  void Observe(TimePoint now, Nanoseconds rtt);

  bool measured() const { return measured_; }

 private:
  Nanoseconds decay_;
  double floor_ns_;
  double min_sample_weight_;
  double max_rise_per_sample_;
  double estimate_ns_;
  TimePoint stamp_;
  bool measured_ = false;
};

}  // namespace skewless::balance
