// Every skewlessctl answer as a human table and as JSON, from gathered data only (no I/O),
// so the output is unit-tested. docs/skewlessctl.md shows each form.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "skewless/ctl/explain.h"
#include "skewless/ctl/service_view.h"
#include "skewless/ctl/status.h"
#include "skewless/ctl/xds_view.h"
#include "skewless/ctl/zones.h"

namespace skewless::ctl {

// JSON objects keep their keys in the order written.
using Json = nlohmann::ordered_json;

// services: one row per VIP:port/protocol.
std::string RenderServicesText(const std::vector<ServiceView>& services);
Json ServicesJson(const std::vector<ServiceView>& services);

// backends: every backend with the services that list it.
std::string RenderBackendsText(const std::vector<BackendView>& backends, const ZoneNames& zones,
                               std::uint64_t now_ns);
Json BackendsJson(const std::vector<BackendView>& backends, const ZoneNames& zones,
                  std::uint64_t now_ns);

// backends <service>: one service's set in slot order.
std::string RenderServiceBackendsText(const ServiceView& service, const ZoneNames& zones,
                                      std::uint64_t now_ns);
Json ServiceBackendsJson(const ServiceView& service, const ZoneNames& zones, std::uint64_t now_ns);

// load: active connections per backend of each service, and choices per reason.
std::string RenderLoadText(const std::vector<ServiceView>& services,
                           const std::array<std::uint64_t, SKW_REASON_COUNT>& reasons,
                           const ZoneNames& zones);
Json LoadJson(const std::vector<ServiceView>& services,
              const std::array<std::uint64_t, SKW_REASON_COUNT>& reasons, const ZoneNames& zones);

// explain <vip:port>.
std::string RenderExplainText(const Explanation& explanation, const ZoneNames& zones);
Json ExplainJson(const Explanation& explanation, const ZoneNames& zones);

// status.
std::string RenderStatusText(const StatusReport& report);
Json StatusJson(const StatusReport& report);

// xds.
std::string RenderXdsText(const XdsView& view);
Json XdsJson(const XdsView& view);

}  // namespace skewless::ctl
