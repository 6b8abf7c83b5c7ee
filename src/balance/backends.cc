// The per-request choice over one service's backends (see backends.h).
#include "skewless/balance/backends.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"

namespace skewless::balance {

Backends::Backends(BalanceOptions options)
    : options_(std::move(options)), picker_(&PickerFor(options_.lb_policy)) {}

void Backends::SetPolicy(std::uint8_t lb_policy) {
  options_.lb_policy = lb_policy;
  picker_ = &PickerFor(lb_policy);
}

bool Backends::TakesNewStreams(const Backend& backend) {
  return backend.in_use && !backend.removed && !backend.spec.draining && backend.spec.weight > 0;
}

absl::Status Backends::Update(TimePoint now, const std::vector<BackendSpec>& backends) {
  std::unordered_set<std::string_view> seen;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    const std::string& address = backends[i].address;
    if (address.empty())
      return absl::InvalidArgumentError(absl::StrCat("backend #", i, " has no address"));
    if (!seen.insert(address).second)
      return absl::InvalidArgumentError(absl::StrCat("backend ", address, " is listed twice"));
  }

  // Slow start protects a newcomer from a share sized for established backends. When none
  // takes streams (the first list, or every old one gone) there is no one to protect it
  // from, and ramping everybody would only delay the whole service.
  const bool others_take_streams = std::any_of(slots_.begin(), slots_.end(),
                                               [](const Backend& b) { return TakesNewStreams(b); });
  const auto ramp_start = others_take_streams && options_.slow_start_window.count() > 0
                              ? std::optional<TimePoint>(now)
                              : std::nullopt;
  const Nanoseconds seed(static_cast<Nanoseconds::rep>(MeanLatencyEstimate(now)));

  std::vector<char> listed(slots_.size() + backends.size(), 0);
  for (const BackendSpec& spec : backends) {
    auto found = index_of_address_.find(spec.address);
    if (found != index_of_address_.end()) {
      Backend& backend = slots_[found->second];
      const bool took_streams = TakesNewStreams(backend);
      backend.spec = spec;
      backend.removed = false;
      if (!took_streams && TakesNewStreams(backend)) backend.ramp_start = ramp_start;
      listed[found->second] = 1;
      continue;
    }
    Backend fresh{.spec = spec,
                  .in_use = true,
                  .ramp_start = ramp_start,
                  .latency = PeakEwma(options_.latency, now, seed)};
    std::uint32_t index;
    if (free_slots_.empty()) {
      index = static_cast<std::uint32_t>(slots_.size());
      slots_.push_back(std::move(fresh));
    } else {
      index = free_slots_.back();
      free_slots_.pop_back();
      fresh.generation = slots_[index].generation;
      slots_[index] = std::move(fresh);
    }
    index_of_address_.emplace(spec.address, index);
    listed[index] = 1;
  }

  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    Backend& backend = slots_[index];
    if (!backend.in_use || listed[index]) continue;
    backend.removed = true;
    if (backend.outstanding_streams == 0) Release(index);
  }
  RebuildZoneTier();
  return absl::OkStatus();
}

void Backends::RebuildZoneTier() {
  zone_tier_active_ = options_.prefer_local_zone && !options_.local_zone.empty();
  for (const Backend& backend : slots_) {
    if (TakesNewStreams(backend) && backend.spec.zone.empty()) zone_tier_active_ = false;
  }
  for (Backend& backend : slots_)
    backend.preferred = zone_tier_active_ && backend.spec.zone == options_.local_zone;
}

void Backends::Release(std::uint32_t index) {
  Backend& backend = slots_[index];
  index_of_address_.erase(backend.spec.address);
  backend.in_use = false;
  ++backend.generation;  // every handle to the old tenant is now stale
  free_slots_.push_back(index);
}

double Backends::MeanLatencyEstimate(TimePoint now) const {
  double sum_ns = 0;
  int measured = 0;
  for (const Backend& backend : slots_) {
    if (!TakesNewStreams(backend) || !backend.latency.measured()) continue;
    sum_ns += backend.latency.EstimateNs(now);
    ++measured;
  }
  return measured > 0 ? sum_ns / measured : static_cast<double>(options_.latency.seed.count());
}

double Backends::MedianLatencyEstimate(TimePoint now) {
  estimates_scratch_.clear();
  for (const Backend& backend : slots_) {
    if (!TakesNewStreams(backend) || !backend.latency.measured()) continue;
    estimates_scratch_.push_back(backend.latency.EstimateNs(now));
  }
  if (estimates_scratch_.empty()) return 0;
  const auto middle = estimates_scratch_.begin() + estimates_scratch_.size() / 2;
  std::nth_element(estimates_scratch_.begin(), middle, estimates_scratch_.end());
  return *middle;
}

// An unmeasured backend is priced at the measured ones' mean rather than a fixed seed: beside
// 1 ms neighbours a 30 ms seed wins no P2C draw at moderate load, so the backend would never
// be measured and would sit idle until the seed decayed (tens of seconds). Called when a
// backend gets its first sample, so at most once per backend.
void Backends::SeedUnmeasured(TimePoint now) {
  const Nanoseconds seed(static_cast<Nanoseconds::rep>(MeanLatencyEstimate(now)));
  for (Backend& backend : slots_) {
    if (backend.in_use && !backend.latency.measured())
      backend.latency = PeakEwma(options_.latency, now, seed);
  }
}

Backends::Backend* Backends::Live(BackendHandle handle) {
  return const_cast<Backend*>(std::as_const(*this).Live(handle));
}

const Backends::Backend* Backends::Live(BackendHandle handle) const {
  if (handle.index >= slots_.size()) return nullptr;
  const Backend& backend = slots_[handle.index];
  if (!backend.in_use || backend.generation != handle.generation) return nullptr;
  return &backend;
}

double Backends::SlowStart(const Backend& backend, TimePoint now) const {
  if (!backend.ramp_start) return 1.0;
  return SlowStartFactor(*backend.ramp_start, now, options_.slow_start_window);
}

Candidate Backends::CandidateOf(std::uint32_t index, TimePoint now) const {
  const Backend& backend = slots_[index];
  // A backend never measured is priced at what the measured ones cost now, not at a seed
  // frozen when the first of them was measured: a slow first sample (a warm-up) would
  // otherwise keep it from ever winning a draw, and so from ever being measured.
  double latency_ns =
      backend.latency.measured() ? backend.latency.EstimateNs(now) : unmeasured_estimate_ns_;
  if (latency_ns <= tolerated_latency_ns_) latency_ns = median_latency_ns_;
  return Candidate{.index = index,
                   .cost = StreamCost(latency_ns, backend.outstanding_streams,
                                      backend.errors.CostMultiplier(now, options_.error_decay),
                                      backend.spec.weight, SlowStart(backend, now)),
                   .outstanding_streams = backend.outstanding_streams};
}

Picked Backends::ChooseIn(const std::vector<std::uint32_t>& tier, TimePoint now,
                          absl::BitGenRef rng) const {
  return picker_->Choose(
      tier, [&](std::uint32_t index) { return CandidateOf(index, now); }, rng);
}

std::optional<Choice> Backends::Pick(TimePoint now, absl::BitGenRef rng,
                                     std::optional<BackendHandle> avoid) {
  preferred_scratch_.clear();
  other_scratch_.clear();
  unmeasured_estimate_ns_ = MeanLatencyEstimate(now);
  median_latency_ns_ = options_.latency_tolerance > 1.0 ? MedianLatencyEstimate(now) : 0.0;
  tolerated_latency_ns_ = options_.latency_tolerance * median_latency_ns_;
  bool any_takes_streams = false;
  std::optional<std::uint32_t> avoided;
  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    const Backend& backend = slots_[index];
    if (!TakesNewStreams(backend)) continue;
    any_takes_streams = true;
    const Health health = backend.outlier.health(now);
    if (health == Health::kEjected) continue;
    if (health == Health::kProbation && backend.outlier.probing()) continue;
    if (avoid && avoid->index == index && avoid->generation == backend.generation) {
      avoided = index;
      continue;
    }
    (backend.preferred ? preferred_scratch_ : other_scratch_).push_back(index);
  }
  if (!any_takes_streams) return std::nullopt;
  if (avoided && preferred_scratch_.empty() && other_scratch_.empty()) {
    (slots_[*avoided].preferred ? preferred_scratch_ : other_scratch_).push_back(*avoided);
  }

  auto handle = [this](const Candidate& c) {
    return BackendHandle{c.index, slots_[c.index].generation};
  };
  const bool random = options_.lb_policy == SKW_LB_RANDOM;
  if (!preferred_scratch_.empty()) {
    const auto [winner, n_found] = ChooseIn(preferred_scratch_, now, rng);
    // Spilling needs winner >= other + min_delta streams: a winner below min_delta cannot.
    if (picker_->UsesLoad() && !other_scratch_.empty() &&
        winner.outstanding_streams >= options_.spill_min_delta) {
      const Candidate other = CandidateOf(
          other_scratch_[absl::Uniform<std::size_t>(rng, 0, other_scratch_.size())], now);
      if (ShouldSpill({winner.cost, winner.outstanding_streams},
                      {other.cost, other.outstanding_streams}, options_.spill_ratio_permille,
                      options_.spill_min_delta))
        return Choice{handle(other), PickReason::kSpillOverload};
    }
    const PickReason reason = random         ? PickReason::kRandom
                              : n_found == 2 ? PickReason::kP2cPreferred
                                             : PickReason::kSingle;
    return Choice{handle(winner), reason};
  }
  if (!other_scratch_.empty()) {
    const auto [winner, n_found] = ChooseIn(other_scratch_, now, rng);
    const PickReason reason = zone_tier_active_ ? PickReason::kSpillNoPreferred
                              : random          ? PickReason::kRandom
                              : n_found == 2    ? PickReason::kP2cReady
                                                : PickReason::kSingle;
    return Choice{handle(winner), reason};
  }
  // Panic: everything that takes streams is ejected (or probing). The ejection cap keeps this
  // from happening by ejection alone; it happens when the healthy backends drain away after.
  // A backend that may fail beats refusing every stream, so ejection is ignored here.
  for (std::uint32_t index = 0; index < slots_.size(); ++index) {
    if (TakesNewStreams(slots_[index])) other_scratch_.push_back(index);
  }
  return Choice{handle(ChooseIn(other_scratch_, now, rng).winner), PickReason::kPanic};
}

bool Backends::OnStreamStart(BackendHandle handle, TimePoint now) {
  Backend* backend = Live(handle);
  if (backend == nullptr || !TakesNewStreams(*backend)) return false;
  ++backend->outstanding_streams;
  backend->outlier.OnStreamStart(now);
  return true;
}

bool Backends::OnStreamEnd(BackendHandle handle, TimePoint now, Nanoseconds latency,
                           StreamOutcome outcome) {
  Backend* backend = Live(handle);
  if (backend == nullptr) return false;
  if (backend->outstanding_streams > 0) --backend->outstanding_streams;

  if (outcome == StreamOutcome::kCancelled) {
    backend->outlier.OnStreamCancelled();
  } else {
    const bool failed = IsFailure(outcome);
    if (!failed && latency.count() > 0) {
      const bool first_sample = !backend->latency.measured();
      backend->latency.Observe(now, latency);
      if (first_sample) SeedUnmeasured(now);
    }
    backend->errors.Record(now, failed, options_.error_decay);
    ApplyOutlierVerdict(*backend, handle.index, now, failed);
  }
  if (backend->removed && backend->outstanding_streams == 0) Release(handle.index);
  return true;
}

void Backends::ApplyOutlierVerdict(Backend& backend, std::uint32_t index, TimePoint now,
                                   bool failed) {
  if (backend.outlier.OnOutcome(now, failed, options_.outlier) !=
      OutlierState::Verdict::kWantsEjection)
    return;
  if (TakesNewStreams(backend) && EjectionAllowed(index)) {
    backend.outlier.Eject(now, options_.outlier);
    // The ejection is the penalty for these failures; carrying them into probation as well
    // would make the trial stream lose every draw against idle healthy backends.
    backend.errors = ErrorBias{};
  } else {
    backend.outlier.KeepInRotation(options_.outlier);
  }
}

// Never the last backend that takes streams, and never more than max_ejected_percent of them
// (at least one may go when two or more take streams). A refused backend stays in rotation
// with its error-biased cost and asks again on its next failure.
bool Backends::EjectionAllowed(std::uint32_t index) const {
  std::size_t taking = 0;
  std::size_t ejected_others = 0;
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (!TakesNewStreams(slots_[i])) continue;
    ++taking;
    if (i != index && slots_[i].outlier.counts_as_ejected()) ++ejected_others;
  }
  const std::size_t cap =
      std::max<std::size_t>(1, taking * options_.outlier.max_ejected_percent / 100);
  return ejected_others + 1 <= cap && ejected_others + 1 < taking;
}

std::optional<BackendHandle> Backends::Find(const std::string& address) const {
  auto found = index_of_address_.find(address);
  if (found == index_of_address_.end()) return std::nullopt;
  return BackendHandle{found->second, slots_[found->second].generation};
}

const std::string* Backends::address(BackendHandle handle) const {
  const Backend* backend = Live(handle);
  return backend == nullptr ? nullptr : &backend->spec.address;
}

std::vector<BackendStatus> Backends::Statuses(TimePoint now) const {
  std::vector<BackendStatus> statuses;
  for (const Backend& backend : slots_) {
    if (!backend.in_use) continue;
    statuses.push_back(
        BackendStatus{.address = backend.spec.address,
                      .zone = backend.spec.zone,
                      .takes_new_streams = TakesNewStreams(backend),
                      .removed = backend.removed,
                      .outstanding_streams = backend.outstanding_streams,
                      .health = backend.outlier.health(now),
                      .latency_estimate_ns = backend.latency.EstimateNs(now),
                      .error_multiplier = backend.errors.CostMultiplier(now, options_.error_decay),
                      .slow_start_factor = SlowStart(backend, now)});
  }
  return statuses;
}

}  // namespace skewless::balance
