// From a pinned Service to the splicer's backend list.
#include "service_backends.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "skewless/common/net.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::splicer {

absl::StatusOr<ServiceBackends> ServiceBackendsOf(const datapath::SpliceService& service) {
  ServiceBackends out;
  const bool any_ready =
      std::any_of(service.backends.begin(), service.backends.end(),
                  [](const datapath::SpliceBackend& b) { return !b.terminating; });
  const bool any_preferred =
      std::any_of(service.backends.begin(), service.backends.end(),
                  [](const datapath::SpliceBackend& b) { return b.preferred; });
  out.options.prefer_local_zone =
      (service.service.flags & SKW_SVC_F_PREFER_LOCAL) != 0 && any_preferred;
  out.options.local_zone = kPreferredTier;
  out.options.lb_policy = service.service.lb_policy;
  out.options.slow_start_window = std::chrono::milliseconds(service.service.slow_start_window_ms);
  out.options.latency = SplicerLatencyOptions();
  out.options.latency_tolerance = kSplicerLatencyTolerance;
  for (const datapath::SpliceBackend& member : service.backends) {
    const net::IpPort ip_port{.ip = net::FromSkwAddr(member.backend.addr),
                              .port = ntohs(member.backend.port)};
    UpstreamBackend backend{.address = net::FormatIpPort(ip_port),
                            .zone = member.preferred ? kPreferredTier : kOtherTier,
                            .weight = std::max<std::uint32_t>(member.backend.weight, 1),
                            .draining = member.backend.state == SKW_BACKEND_EJECTED ||
                                        member.backend.state == SKW_BACKEND_UNUSED ||
                                        (member.terminating && any_ready),
                            .backend_id = member.backend_id,
                            .ip_port = ip_port};
    out.backends.push_back(std::move(backend));
  }
  return out;
}

}  // namespace skewless::splicer
