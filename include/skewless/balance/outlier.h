// Outlier ejection of one backend: consecutive failures eject it with exponential backoff,
// then one trial stream (probation) decides whether it comes back or goes out for longer.
#pragma once

#include <cstdint>

#include "skewless/balance/clock.h"

namespace skewless::balance {

struct OutlierOptions {
  std::uint32_t consecutive_failures = 5;               // Envoy's consecutive_5xx default
  Nanoseconds base_ejection{std::chrono::seconds(30)};  // Envoy's base_ejection_time
  Nanoseconds max_ejection{std::chrono::seconds(300)};  // Envoy's max_ejection_time
  // Never more than this share of the backends that take new streams is ejected at once, and
  // never the last one (Envoy caps at 10% but always allows one; on the 2-4 pod services that
  // are common here one is already 25-50%, so the cap is the panic threshold's 50%).
  std::uint32_t max_ejected_percent = 50;
};

enum class Health : std::uint8_t {
  kHealthy,
  kEjected,    // no new streams until the backoff ends
  kProbation,  // backoff over: one trial stream at a time until one ends
};

class OutlierState {
 public:
  Health health(TimePoint now) const;

  // True while in probation with its trial stream in flight: no second one is sent.
  bool probing() const { return probe_in_flight_; }
  void OnStreamStart(TimePoint now);
  // A cancelled stream says nothing about health, but if it was the trial, allow another.
  void OnStreamCancelled() { probe_in_flight_ = false; }

  enum class Verdict : std::uint8_t { kNone, kWantsEjection, kRestored };
  // Feeds one finished stream (cancelled ones are not fed). While ejected, outcomes are
  // ignored: they come from streams started before the ejection. In probation the next
  // outcome decides: a success restores, a failure asks for re-ejection. While healthy, the
  // configured number of consecutive failures asks for ejection. The caller ejects (or, when
  // the cap forbids it, calls KeepInRotation).
  Verdict OnOutcome(TimePoint now, bool failed, const OutlierOptions& options);

  // Ejects for base x 2^level, capped at max, then raises the level. The level falls by one
  // for every base_ejection spent healthy since the last restore (Envoy's decay), so a backend
  // that fails again right after probation stays out longer, one that recovered does not.
  void Eject(TimePoint now, const OutlierOptions& options);

  // The ejection was refused (it would leave too few backends): stay or become healthy,
  // keeping the failure streak so the next failure asks again.
  void KeepInRotation(const OutlierOptions& options);

  bool counts_as_ejected() const { return ejected_; }  // ejected or in probation

 private:
  std::uint32_t consecutive_failures_ = 0;
  std::uint32_t backoff_level_ = 0;
  bool ejected_ = false;
  bool probe_in_flight_ = false;
  TimePoint ejected_until_{};
  TimePoint restored_at_{};
};

}  // namespace skewless::balance
