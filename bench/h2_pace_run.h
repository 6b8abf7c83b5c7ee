// skewless-h2-pace's run: unary gRPC calls (each an empty message) at a fixed total rate, evenly
// paced over a few h2c connections, latency counted from each call's intended send time.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "skewless/common/histogram.h"

namespace skewless::h2pace {

struct PaceOptions {
  std::string target;  // host:port, h2c with prior knowledge
  std::string path = "/skewless.lab.v1.Echo/Work";
  double rate_rps = 0;
  int connections = 8;
  int max_in_flight = 16;  // per connection
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(1);
  absl::Duration connect_timeout = absl::Seconds(5);
  // How long calls still in flight when the last one is due may take to end; those that
  // do not are counted as errors ("UNFINISHED").
  absl::Duration drain = absl::Seconds(5);
};

struct PaceResult {
  double offered_rps = 0;
  // Calls due in the measured period that succeeded, over its length.
  double achieved_rps = 0;
  double duration_s = 0;
  // Calls due in the measured period (after the warm-up): succeeded, failed.
  std::uint64_t rpcs = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> errors_by_code;
  // Calls due in the measured period that were still waiting for a free slot when it
  // ended: never sent (the target had fallen behind).
  std::uint64_t unsent = 0;
  std::uint64_t warmup_rpcs = 0;
  // Every call that ended (warm-up and measured, succeeded or not), and the CPU time
  // (user + system) this process used from the first call's due time to the last end.
  std::uint64_t calls_ended = 0;
  double cpu_s = 0;
  // Of the successful measured calls.
  Histogram latency;
};

// Connects every connection first (an unreachable target is an error naming it), then
// runs warm-up and measured period back to back.
absl::StatusOr<PaceResult> RunPaced(const PaceOptions& options);

}  // namespace skewless::h2pace
