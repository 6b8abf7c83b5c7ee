// How one backend is chosen inside a tier: the splicer's side of abi.h's skw_lb_policy.
// select.h's skw_choose_in_tier is the connect hook's side; a new policy is one case there
// and one Picker here. Tiers, the spill between them and ejection stay in Backends.
#pragma once

#include <cstdint>
#include <span>

#include "absl/functional/function_ref.h"
#include "absl/random/bit_gen_ref.h"
#include "skewless/abi.h"

namespace skewless::balance {

// One weighed member of a tier.
struct Candidate {
  std::uint32_t index = 0;  // the Backends slot
  double cost = 0;
  std::uint64_t outstanding_streams = 0;
};

struct Picked {
  Candidate winner;
  int weighed = 0;  // how many candidates were weighed, counted up to 2
};

class Picker {
 public:
  virtual ~Picker() = default;
  // `tier` is not empty; `weigh` prices one of its members.
  virtual Picked Choose(std::span<const std::uint32_t> tier,
                        absl::FunctionRef<Candidate(std::uint32_t)> weigh,
                        absl::BitGenRef rng) const = 0;
  // Whether the choice follows load, so a loaded preferred tier may spill (spill_rule.h).
  virtual bool UsesLoad() const = 0;
};

// The picker of a policy; an unknown value gets the default's (as in select.h).
const Picker& PickerFor(std::uint8_t policy);

}  // namespace skewless::balance
