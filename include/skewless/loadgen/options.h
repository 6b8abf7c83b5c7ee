// What a load generator run should do: target, clients, pacing, and what to measure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace skewless::loadgen {

struct Options {
  // "ip:port" (or any gRPC target): a Service VIP, a node port or one pod.
  std::string target;
  // Each client is one gRPC channel = one TCP connection, like one real
  // client process: L4 balancers pick a pod per connection, so this is what
  // spreads (or fails to spread) load.
  int clients = 4;
  // Outstanding RPCs per client (HTTP/2 streams multiplexed on its connection).
  int concurrency = 4;
  // Measured period, after `warmup`.
  absl::Duration duration = absl::Seconds(10);
  // Total RPCs/s over all clients, spread evenly; 0 = closed loop (each slot
  // sends again as soon as its reply arrives).
  double rate_rps = 0;
  int payload_bytes = 0;
  // Label copied into every client's result (the client namespace's zone).
  std::string client_zone;
  absl::Duration rpc_deadline = absl::Seconds(2);
  // Pods whose Stats are read before and after the run (diffed), "ip:port".
  std::vector<std::string> stats_addresses;
  // Traffic sent before the measured period and left out of the result.
  absl::Duration warmup = absl::ZeroDuration();
  // How long every client may take to connect before the run is refused.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Asks each pod for this much service time on top of its own.
  uint32_t extra_service_time_us = 0;
  // Churn: each client closes its channel and opens a new one (a new connect() to the
  // target, through whatever balancer is in the way) every `max_connection_age`, ±10%,
  // as gRPC's server-side MaxConnectionAge makes clients do. Zero = one connection for
  // the whole run.
  absl::Duration max_connection_age = absl::ZeroDuration();
};

// InvalidArgument naming the offending field, or OK.
absl::Status ValidateOptions(const Options& options);

}  // namespace skewless::loadgen
