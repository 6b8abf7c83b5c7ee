// One service's backends as the splicer sees them, and the per-request choice among them:
// the Service's policy (P2C by default) on peak-EWMA cost, zone tier with the spill rule, slow
// start, error bias and outlier ejection. Pure state: no I/O, no clock, no locks; one instance per
// event loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "skewless/abi.h"
#include "skewless/balance/clock.h"
#include "skewless/balance/cost.h"
#include "skewless/balance/error_bias.h"
#include "skewless/balance/outlier.h"
#include "skewless/balance/peak_ewma.h"
#include "skewless/balance/picker.h"
#include "skewless/balance/stream_outcome.h"

namespace skewless::balance {

struct BalanceOptions {
  // Zone preference, as the service's trafficDistribution asks (PreferClose/PreferSameZone).
  // Used only when local_zone is known and every backend taking streams has a zone
  // (kube-proxy's rule for hints).
  bool prefer_local_zone = false;
  std::string local_zone;
  // How a backend is chosen inside a tier (enum skw_lb_policy; picker.h).
  std::uint8_t lb_policy = SKW_LB_LEAST_REQUEST;
  std::uint32_t spill_ratio_permille = kDefaultSpillRatioPermille;
  std::uint32_t spill_min_delta = kDefaultSpillMinDelta;
  // The service's slow-start window (skw_service.slow_start_window_ms); 0 = no ramp.
  Nanoseconds slow_start_window{0};
  PeakEwmaOptions latency;
  // Latency estimates up to this factor of the measured backends' median count as equal
  // (priced at the median), so among like pods outstanding streams alone decide and
  // scheduling jitter does not skew shares; a backend slower than that is priced at its own
  // estimate, the full distance from the rest. 1 = every difference counts (Linkerd's
  // peak-EWMA). The median, not the mean or the fastest: one slow pod cannot move it, nor
  // one lucky one.
  double latency_tolerance = 1.0;
  Nanoseconds error_decay{std::chrono::seconds(10)};  // tau of ErrorBias
  OutlierOptions outlier;
};

// One backend as the control plane lists it. The address is its identity: state (latency,
// failures, outstanding streams) is kept across updates for every address that stays.
struct BackendSpec {
  std::string address;  // "10.0.0.7:8080"
  std::string zone;     // topology.kubernetes.io/zone; empty = unknown
  // Relative capacity; 0 takes no new streams (unlike abi.h, where the connect path reads 0
  // as 1: here an explicit 0 is how a caller parks a backend without removing it).
  std::uint16_t weight = SKW_DEFAULT_WEIGHT;
  bool draining = false;  // terminating: no new streams, in-flight ones finish
};

// Names a backend from Pick until its streams end. Stays valid after the backend is removed
// from the list while it still has outstanding streams; a stale handle is refused, not
// confused with the slot's next tenant.
struct BackendHandle {
  std::uint32_t index = 0;
  std::uint32_t generation = 0;
  friend bool operator==(const BackendHandle&, const BackendHandle&) = default;
};

// Why a backend was chosen; select.h's skw_reason where one applies.
enum class PickReason : std::uint8_t {
  kSingle,            // only one candidate in the tier
  kP2cPreferred,      // P2C in the local zone
  kP2cReady,          // P2C over every backend (no zone preference)
  kSpillOverload,     // local zone's winner was overloaded; a backend elsewhere took it
  kSpillNoPreferred,  // zone preference on, but no local backend can take streams
  kPanic,             // every backend taking streams is ejected: ejection is ignored
  kRandom,            // SKW_LB_RANDOM: uniformly inside the tier used
};

struct Choice {
  BackendHandle backend;
  PickReason reason = PickReason::kSingle;
};

// Read-only view for the splicer's load-map writer, metrics and explain.
struct BackendStatus {
  std::string address;
  std::string zone;
  bool takes_new_streams = false;  // listed, not draining, weight > 0
  bool removed = false;            // no longer listed; kept until its streams end
  std::uint64_t outstanding_streams = 0;
  Health health = Health::kHealthy;
  double latency_estimate_ns = 0;
  double error_multiplier = 1;
  double slow_start_factor = 1;
};

class Backends {
 public:
  explicit Backends(BalanceOptions options);

  // Replaces the list. Backends that stay keep their state; new ones start at the set's mean
  // latency estimate (re-seeded whenever another backend gets its first sample) and (when others
  // already take streams) a slow-start ramp; removed ones take no new streams and are forgotten
  // once their outstanding streams end. An empty or duplicate address is refused and the table is
  // left unchanged.
  absl::Status Update(TimePoint now, const std::vector<BackendSpec>& backends);

  // The backend for a new stream, or nullopt when no backend takes streams. `avoid` (a
  // backend that just could not be reached for this stream) is left out while any other
  // candidate remains.
  std::optional<Choice> Pick(TimePoint now, absl::BitGenRef rng,
                             std::optional<BackendHandle> avoid = std::nullopt);

  // Counts the stream on the backend. Call it in the same event-loop turn as Pick (the
  // stream counts from then, even while its connection is still opening). False, counting
  // nothing, when the handle is stale or the backend no longer takes new streams.
  bool OnStreamStart(BackendHandle backend, TimePoint now);

  // Every started stream ends exactly once. `latency` is the time to the backend's response
  // headers (a long stream must not look slow); zero or less records no sample. Failures
  // record no latency (a fast refusal must not make a backend look fast) but raise its cost
  // and may eject it. False when the handle is stale.
  bool OnStreamEnd(BackendHandle backend, TimePoint now, Nanoseconds latency,
                   StreamOutcome outcome);

  // The backend listed (or removed but still streaming) at `address`.
  std::optional<BackendHandle> Find(const std::string& address) const;

  // The listed address of a live handle (the splicer's key for its connection pool).
  const std::string* address(BackendHandle backend) const;

  std::vector<BackendStatus> Statuses(TimePoint now) const;

  // The Service's policy changed (its annotation was edited): later picks follow it;
  // every backend keeps its state.
  void SetPolicy(std::uint8_t lb_policy);

 private:
  struct Backend {
    BackendSpec spec;
    std::uint32_t generation = 0;
    bool in_use = false;
    bool removed = false;
    bool preferred = false;  // in the local-zone tier
    std::uint64_t outstanding_streams = 0;
    std::optional<TimePoint> ramp_start;  // nullopt: no slow start
    PeakEwma latency;
    ErrorBias errors;
    OutlierState outlier;
  };

  static bool TakesNewStreams(const Backend& backend);
  Backend* Live(BackendHandle handle);
  const Backend* Live(BackendHandle handle) const;
  double SlowStart(const Backend& backend, TimePoint now) const;
  Candidate CandidateOf(std::uint32_t index, TimePoint now) const;
  // The policy's choice inside `tier` (not empty).
  Picked ChooseIn(const std::vector<std::uint32_t>& tier, TimePoint now, absl::BitGenRef rng) const;
  void ApplyOutlierVerdict(Backend& backend, std::uint32_t index, TimePoint now, bool failed);
  bool EjectionAllowed(std::uint32_t index) const;
  double MeanLatencyEstimate(TimePoint now) const;
  // The median estimate of the measured backends taking streams; 0 when none is measured.
  double MedianLatencyEstimate(TimePoint now);
  void SeedUnmeasured(TimePoint now);
  void Release(std::uint32_t index);
  void RebuildZoneTier();

  BalanceOptions options_;
  const Picker* picker_;
  std::vector<Backend> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<std::string, std::uint32_t> index_of_address_;
  bool zone_tier_active_ = false;
  // Reused by every Pick so choosing allocates nothing once warm.
  std::vector<std::uint32_t> preferred_scratch_;
  std::vector<std::uint32_t> other_scratch_;
  double unmeasured_estimate_ns_ = 0;  // this Pick's price for never-measured backends
  double median_latency_ns_ = 0;       // this Pick's median measured estimate
  double tolerated_latency_ns_ = 0;    // this Pick's: estimates up to it cost the median
  std::vector<double> estimates_scratch_;
};

}  // namespace skewless::balance
