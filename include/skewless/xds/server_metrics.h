// The xDS server's Prometheus metrics (names in docs/controlplane.md).
#pragma once

#include <string>
#include <string_view>

#include "skewless/common/prometheus.h"

namespace skewless::xds {

struct XdsMetrics {
  explicit XdsMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Gauge>& streams;                 // {protocol, audience}
  prometheus::Family<prometheus::Counter>& requests;              // {type}
  prometheus::Family<prometheus::Counter>& pushes;                // {type}
  prometheus::Family<prometheus::Counter>& nacks;                 // {type}
  prometheus::Family<prometheus::Histogram>& push_latency;        // {}
  prometheus::Family<prometheus::Gauge>& resources;               // {type}
  prometheus::Family<prometheus::Counter>& streams_opened;        // {protocol}
  prometheus::Family<prometheus::Counter>& rejections;            // {reason}: the limit
  prometheus::Family<prometheus::Gauge>& stream_memory;           // {}
  prometheus::Family<prometheus::Counter>& log_lines_suppressed;  // {kind}
};

// The label for a type URL: the message's short name ("Cluster", "Listener", ...).
std::string TypeLabel(std::string_view type_url);

}  // namespace skewless::xds
