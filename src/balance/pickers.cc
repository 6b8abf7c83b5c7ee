// One Picker per skw_lb_policy (picker.h), as select.h's skw_choose_in_tier has one case.
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
  switch (policy) {
    case SKW_LB_RANDOM:
      return random;
    default:
      return least_request;
  }
}

}  // namespace skewless::balance
