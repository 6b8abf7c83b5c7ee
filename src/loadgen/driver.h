// Drives all clients' RPCs from one thread over one completion queue.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <memory>
#include <vector>

#include "skewless/loadgen/loadgen.h"

namespace skewless::loadgen {

// Sends load on already-connected channels (one per client) for
// options.warmup + options.duration, then waits for every outstanding call.
// Fills the measured fields of Result (not target labels or server_stats).
Result DriveLoad(const Options& options,
                 const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                 const std::atomic<bool>* stop, const ProgressFn& progress);

}  // namespace skewless::loadgen
