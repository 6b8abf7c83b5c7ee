// What one ADS client may cost the control plane: the limits the xDS server enforces
// (flags of skewless-controlplane; docs/controlplane.md "Limits").
#pragma once

#include <chrono>
#include <cstddef>

namespace skewless::xds {

// What one client may cost (docs/controlplane.md "Limits"). A stream over a limit is
// closed with RESOURCE_EXHAUSTED and a log line naming the limit; others are not touched.
struct StreamLimits {
  std::size_t max_streams = 10000;                  // ADS streams open at once, all peers
  std::size_t max_streams_per_peer = 32;            // peer: node.id, or the IP without one
  std::size_t max_names_per_stream = 100000;        // subscribed names, all types (+1 per type)
  std::size_t max_stream_memory_bytes = 64u << 20;  // the per-stream estimate
  std::size_t max_request_bytes = 4u << 20;         // gRPC's receive limit
  // Requests one stream may send per second, in bursts of up to two seconds' worth; a
  // faster client is not read until it is within the rate again (not closed).
  std::size_t requests_per_second = 100;
  // One log line per kind of event and peer per interval; the rest are counted.
  std::chrono::milliseconds log_interval{10000};
};

}  // namespace skewless::xds
