// Runs the lab's gRPC load: M persistent connections, N outstanding calls each.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "skewless/loadgen/options.h"
#include "skewless/loadgen/result.h"

namespace skewless::loadgen {

struct Progress {
  bool warming_up = false;
  double elapsed_s = 0;  // into the measured period
  double duration_s = 0;
  uint64_t rpcs = 0;  // successful so far
  uint64_t errors = 0;
  double recent_rps = 0;  // successful RPCs/s since the previous report
};

// Called about once per second from the thread inside Run.
using ProgressFn = std::function<void(const Progress&)>;

// Connects every client (fails with Unavailable naming the target if one
// cannot connect within options.connect_timeout), reads the pods' Stats,
// sends load for warmup + duration, waits for outstanding calls, reads Stats
// again. Setting *stop ends the measured period early; the result covers what
// ran. RPC failures are counted in the result, not returned as errors.
absl::StatusOr<Result> Run(const Options& options, const std::atomic<bool>* stop = nullptr,
                           ProgressFn progress = {});

}  // namespace skewless::loadgen
