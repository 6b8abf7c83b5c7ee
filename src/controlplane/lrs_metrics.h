// The Prometheus metrics of load reporting (LRS) and of publishing the summed load
// (names in docs/controlplane.md "Load reports (LRS)").
#pragma once

#include "skewless/common/prometheus.h"

namespace skewless::controlplane {

struct LrsMetrics {
  explicit LrsMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Gauge>& streams;               // {}
  prometheus::Family<prometheus::Counter>& rejections;          // {reason}
  prometheus::Family<prometheus::Counter>& reports;             // {}
  prometheus::Family<prometheus::Counter>& dropped_endpoints;   // {reason}
  prometheus::Family<prometheus::Counter>& clamped;             // {}
  prometheus::Family<prometheus::Counter>& locality_only;       // {}
  prometheus::Family<prometheus::Gauge>& reporters;             // {}
  prometheus::Family<prometheus::Counter>& expired;             // {}
  prometheus::Family<prometheus::Counter>& publishes;           // {}
  prometheus::Family<prometheus::Counter>& issued_requests;     // {cluster}
  prometheus::Family<prometheus::Counter>& completed_requests;  // {cluster, result}
};

}  // namespace skewless::controlplane
