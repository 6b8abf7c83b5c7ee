// Consecutive-failure ejection with backoff and one-stream probation (see outlier.h).
#include "skewless/balance/outlier.h"

#include <algorithm>

namespace skewless::balance {

namespace {
// 2^20 x any sane base is far past max_ejection; stops the shift from overflowing.
constexpr std::uint32_t kMaxBackoffLevel = 20;
}  // namespace

Health OutlierState::health(TimePoint now) const {
  if (!ejected_) return Health::kHealthy;
  return now < ejected_until_ ? Health::kEjected : Health::kProbation;
}

void OutlierState::OnStreamStart(TimePoint now) {
  if (health(now) == Health::kProbation) probe_in_flight_ = true;
}

OutlierState::Verdict OutlierState::OnOutcome(TimePoint now, bool failed,
                                              const OutlierOptions& options) {
  switch (health(now)) {
    case Health::kEjected:
      return Verdict::kNone;
    case Health::kProbation:
      probe_in_flight_ = false;
      if (failed) return Verdict::kWantsEjection;
      ejected_ = false;
      consecutive_failures_ = 0;
      restored_at_ = now;
      return Verdict::kRestored;
    case Health::kHealthy:
      break;
  }
  if (!failed) {
    consecutive_failures_ = 0;
    return Verdict::kNone;
  }
  ++consecutive_failures_;
  return consecutive_failures_ >= std::max<std::uint32_t>(options.consecutive_failures, 1)
             ? Verdict::kWantsEjection
             : Verdict::kNone;
}

void OutlierState::Eject(TimePoint now, const OutlierOptions& options) {
  if (!ejected_ && options.base_ejection.count() > 0 && backoff_level_ > 0) {
    const auto healthy_periods = static_cast<std::uint64_t>(
        std::max<Nanoseconds::rep>((now - restored_at_) / options.base_ejection, 0));
    backoff_level_ -=
        static_cast<std::uint32_t>(std::min<std::uint64_t>(healthy_periods, backoff_level_));
  }
  const Nanoseconds backoff =
      std::min(options.base_ejection * (std::int64_t{1} << backoff_level_), options.max_ejection);
  backoff_level_ = std::min(backoff_level_ + 1, kMaxBackoffLevel);
  ejected_ = true;
  ejected_until_ = now + backoff;
  probe_in_flight_ = false;
  consecutive_failures_ = 0;
}

void OutlierState::KeepInRotation(const OutlierOptions& options) {
  ejected_ = false;
  probe_in_flight_ = false;
  consecutive_failures_ =
      std::max(consecutive_failures_, std::max<std::uint32_t>(options.consecutive_failures, 1) - 1);
}

}  // namespace skewless::balance
