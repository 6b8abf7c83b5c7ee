// Shared by the balance tests: a fixed clock origin, backend lists, and a closed-loop
// simulation where every stream ends after its backend's latency.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "skewless/balance/backends.h"

namespace skewless::balance::test {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline const TimePoint kT0 = TimePoint(std::chrono::hours(1000));

inline BackendSpec Spec(std::string address, std::string zone = "",
                        std::uint16_t weight = SKW_DEFAULT_WEIGHT) {
  return BackendSpec{.address = std::move(address), .zone = std::move(zone), .weight = weight};
}

// Four equal backends a..d, no zones.
inline std::vector<BackendSpec> FourBackends() {
  return {Spec("a:80"), Spec("b:80"), Spec("c:80"), Spec("d:80")};
}

inline const std::string& AddressOf(const Backends& backends, const Choice& choice) {
  const std::string* address = backends.address(choice.backend);
  EXPECT_NE(address, nullptr);
  static const std::string kNone = "<stale>";
  return address ? *address : kNone;
}

// Pick, start and end at once with `latency`: every stream finds every backend idle.
inline std::map<std::string, int> IdlePicks(Backends& backends, std::mt19937& rng, int n,
                                            TimePoint now = kT0,
                                            Nanoseconds latency = milliseconds(5)) {
  std::map<std::string, int> picks;
  for (int i = 0; i < n; ++i) {
    auto choice = backends.Pick(now, rng);
    if (!choice) {
      ADD_FAILURE() << "no backend picked";
      break;
    }
    ++picks[AddressOf(backends, *choice)];
    EXPECT_TRUE(backends.OnStreamStart(choice->backend, now));
    EXPECT_TRUE(backends.OnStreamEnd(choice->backend, now, latency, StreamOutcome::kSuccess));
  }
  return picks;
}

// `concurrency` clients, each starting a new stream as soon as its last one ends; a stream
// on backend X ends after latency_of(X). Time only moves forward across RunUntil calls.
class ClosedLoop {
 public:
  using LatencyOf = std::function<Nanoseconds(const std::string& address)>;

  ClosedLoop(Backends& backends, unsigned seed, int concurrency, LatencyOf latency_of,
             TimePoint start = kT0)
      : backends_(backends), rng_(seed), latency_of_(std::move(latency_of)), now_(start) {
    for (int i = 0; i < concurrency; ++i) Start(start);
  }

  // Runs until `end`; returns the streams each backend was picked for meanwhile.
  std::map<std::string, int> RunUntil(TimePoint end) {
    std::map<std::string, int> picks;
    picks_ = &picks;
    while (!in_flight_.empty() && in_flight_.top().ends_at <= end) {
      Stream stream = in_flight_.top();
      in_flight_.pop();
      now_ = stream.ends_at;
      EXPECT_TRUE(backends_.OnStreamEnd(stream.backend, now_, stream.ends_at - stream.started_at,
                                        StreamOutcome::kSuccess));
      Start(now_);
    }
    now_ = end;
    picks_ = nullptr;
    return picks;
  }

  TimePoint now() const { return now_; }

 private:
  struct Stream {
    TimePoint started_at;
    TimePoint ends_at;
    BackendHandle backend;
    bool operator>(const Stream& other) const { return ends_at > other.ends_at; }
  };

  void Start(TimePoint now) {
    auto choice = backends_.Pick(now, rng_);
    if (!choice) {
      ADD_FAILURE() << "no backend picked";
      return;
    }
    const std::string& address = AddressOf(backends_, *choice);
    if (picks_ != nullptr) ++(*picks_)[address];
    EXPECT_TRUE(backends_.OnStreamStart(choice->backend, now));
    in_flight_.push(Stream{now, now + latency_of_(address), choice->backend});
  }

  Backends& backends_;
  std::mt19937 rng_;
  LatencyOf latency_of_;
  TimePoint now_;
  std::map<std::string, int>* picks_ = nullptr;
  std::priority_queue<Stream, std::vector<Stream>, std::greater<>> in_flight_;
};

inline double Share(const std::map<std::string, int>& picks, const std::string& address) {
  int total = 0;
  for (const auto& [_, n] : picks) total += n;
  auto it = picks.find(address);
  return total == 0 || it == picks.end() ? 0.0 : static_cast<double>(it->second) / total;
}

// A copy, so it may be taken from a temporary Statuses() list.
inline std::optional<BackendStatus> StatusOf(const std::vector<BackendStatus>& statuses,
                                             const std::string& address) {
  for (const BackendStatus& status : statuses)
    if (status.address == address) return status;
  return std::nullopt;
}

}  // namespace skewless::balance::test
