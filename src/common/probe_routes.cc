// The probe and scrape routes shared by the daemons.
#include "skewless/common/probe_routes.h"

namespace skewless {

std::vector<HttpRoute> ProbeRoutes(const prometheus::Registry& registry,
                                   std::function<std::string()> not_ready, std::string degraded) {
  return {
      {"/metrics",
       [&registry] {
         return HttpReply{.content_type = std::string(prometheus::kTextContentType),
                          .body = registry.Render()};
       }},
      {"/healthz", [] { return HttpReply{.body = "ok\n"}; }},
      {"/readyz",
       [not_ready = std::move(not_ready), degraded = std::move(degraded)] {
         const std::string reason = not_ready();
         const std::string note = degraded.empty() ? "" : "degraded: " + degraded + "\n";
         if (reason.empty()) return HttpReply{.body = "ready\n" + note};
         return HttpReply{.status = 503, .body = "not ready: " + reason + "\n" + note};
       }},
  };
}

}  // namespace skewless
