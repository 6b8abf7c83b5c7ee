// Drives all clients' RPCs from one thread over one completion queue.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "skewless/loadgen/loadgen.h"

namespace skewless::loadgen {

// Opens a fresh channel (a new connection) for client `client_id`.
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(int client_id)>;

// Sends load on already-connected channels (one per client) for
// options.warmup + options.duration, then waits for every outstanding call.
// A client replaces its channel through `reconnect` when its connection reaches
// options.max_connection_age and when a call fails UNAVAILABLE. The channels are taken,
// not shared: a replaced channel must close its connection once its calls are done, as a
// gRPC client's does, instead of staying open (and counted as load) for the run.
// Fills the measured fields of Result (not target labels or server_stats).
Result DriveLoad(const Options& options, std::vector<std::shared_ptr<grpc::Channel>> channels,
                 const ChannelFactory& reconnect, const std::atomic<bool>* stop,
                 const ProgressFn& progress);

}  // namespace skewless::loadgen
