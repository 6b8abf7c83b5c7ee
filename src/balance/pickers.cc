// One Picker per skw_lb_policy (picker.h), as select.h's skw_choose_in_tier has one case.
#include <algorithm>

#include "absl/random/distributions.h"
#include "skewless/balance/picker.h"

namespace skewless::balance {
namespace {

// Power of Two Choices: two distinct random members, the cheaper wins; ties go to the
// first draw, itself random (as select.h).
class LeastRequestPicker final : public Picker {
 public:
  Picked Choose(std::span<const std::uint32_t> tier,
                absl::FunctionRef<Candidate(std::uint32_t)> weigh,
                absl::BitGenRef rng) const override {
    const std::size_t first = absl::Uniform<std::size_t>(rng, 0, tier.size());
    const Candidate a = weigh(tier[first]);
    if (tier.size() == 1) return {a, 1};
    // Draw from the others only, so the pair is always two distinct backends.
    std::size_t second = absl::Uniform<std::size_t>(rng, 0, tier.size() - 1);
    if (second >= first) ++second;
    const Candidate b = weigh(tier[second]);
    return {b.cost < a.cost ? b : a, 2};
  }
  bool UsesLoad() const override { return true; }
};

// Every member of a tier of up to SKW_SELECT_SCAN_MAX weighed, the cheapest wins, ties
// uniformly (reservoir sampling, as select.h's skw_scan); P2C above that.
class LeastLoadedPicker final : public Picker {
 public:
  Picked Choose(std::span<const std::uint32_t> tier,
                absl::FunctionRef<Candidate(std::uint32_t)> weigh,
                absl::BitGenRef rng) const override {
    if (tier.size() > SKW_SELECT_SCAN_MAX) return p2c_.Choose(tier, weigh, rng);
    Candidate best = weigh(tier[0]);
    std::size_t ties = 1;
    for (std::size_t i = 1; i < tier.size(); ++i) {
      const Candidate c = weigh(tier[i]);
      if (c.cost < best.cost) {
        best = c;
        ties = 1;
      } else if (c.cost == best.cost && absl::Uniform<std::size_t>(rng, 0, ++ties) == 0) {
        best = c;
      }
    }
    return {best, static_cast<int>(std::min<std::size_t>(tier.size(), 2))};
  }
  bool UsesLoad() const override { return true; }

 private:
  LeastRequestPicker p2c_;
};

// Uniformly random, load ignored: kube-proxy's choice.
class RandomPicker final : public Picker {
 public:
  Picked Choose(std::span<const std::uint32_t> tier,
                absl::FunctionRef<Candidate(std::uint32_t)> weigh,
                absl::BitGenRef rng) const override {
    return {weigh(tier[absl::Uniform<std::size_t>(rng, 0, tier.size())]), 1};
  }
  bool UsesLoad() const override { return false; }
};

}  // namespace

const Picker& PickerFor(std::uint8_t policy) {
  static const LeastRequestPicker least_request;
  static const RandomPicker random;
  static const LeastLoadedPicker least_loaded;
  switch (policy) {
    case SKW_LB_RANDOM:
      return random;
    case SKW_LB_LEAST_LOADED:
      return least_loaded;
    default:
      return least_request;
  }
}

}  // namespace skewless::balance
