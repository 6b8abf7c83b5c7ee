// /metrics, /healthz and /readyz as every skewless daemon serves them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "skewless/common/http_server.h"
#include "skewless/common/prometheus.h"

namespace skewless {

// `not_ready` returns "" when ready, else the reason /readyz gives with its 503 (one
// line, e.g. "waiting for the control plane's complete state"). A `degraded` note (what
// runs with a part off) follows "ready" on its line: still ready, but said.
std::vector<HttpRoute> ProbeRoutes(const prometheus::Registry& registry,
                                   std::function<std::string()> not_ready,
                                   std::string degraded = "");

}  // namespace skewless
