// Peak-EWMA latency estimate (see peak_ewma.h).
#include "skewless/balance/peak_ewma.h"

#include <algorithm>

namespace skewless::balance {

PeakEwma::PeakEwma(const PeakEwmaOptions& options, TimePoint now, Nanoseconds seed)
    : decay_(options.decay),
      floor_ns_(static_cast<double>(options.floor.count())),
      min_sample_weight_(std::clamp(options.min_sample_weight, 0.0, 1.0)),
      max_rise_per_sample_(options.max_rise_per_sample),
      estimate_ns_(static_cast<double>(seed.count())),
      stamp_(now) {}

double PeakEwma::EstimateNs(TimePoint now) const {
  const double decay = DecayFactor(stamp_, now, decay_);
  return std::max(estimate_ns_ * decay, floor_ns_);
}

void PeakEwma::Observe(TimePoint now, Nanoseconds rtt) {
  const double rtt_ns = static_cast<double>(rtt.count());
  if (!measured_) {
    // The seed is the set's mean (Backends re-seeds it): a first sample above it rises from
    // there like any other, so a warm-up answer does not price a new backend out.
    const double bound = std::max(estimate_ns_, floor_ns_) * max_rise_per_sample_;
    estimate_ns_ =
        max_rise_per_sample_ > 0 && rtt_ns > estimate_ns_ ? std::min(rtt_ns, bound) : rtt_ns;
  } else {
    // The same factor decays the old estimate on read and weighs the old estimate here, so
    // estimate = old*d + rtt*(1-d) is "what reading would say" plus the sample's share.
    const double decay = DecayFactor(stamp_, now, decay_);
    const double current = estimate_ns_ * decay;
    const double weight = std::max(1.0 - decay, min_sample_weight_);
    if (rtt_ns > current) {
      const double bound = std::max(current, floor_ns_) * max_rise_per_sample_;
      estimate_ns_ = max_rise_per_sample_ > 0 ? std::min(rtt_ns, bound) : rtt_ns;
    } else {
      estimate_ns_ = estimate_ns_ * (1.0 - weight) + rtt_ns * weight;
    }
  }
  measured_ = true;
  stamp_ = std::max(stamp_, now);
}

}  // namespace skewless::balance
