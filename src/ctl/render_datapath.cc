// Tables and JSON for services, backends and load.
#include <arpa/inet.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "format.h"
#include "skewless/common/lb_policy.h"
#include "skewless/common/net.h"
#include "skewless/ctl/render.h"
#include "skewless/ctl/table.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::ctl {
namespace {

using Align = Table::Align;

std::uint64_t ActiveConns(const ServiceView& service) {
  std::uint64_t sum = 0;
  for (const SlotView& slot : service.slots) sum += slot.load.active_conns;
  return sum;
}

std::string Policy(const ServiceView& service) {
  return service.prefer_local() ? "prefer-local" : "any";
}

std::string SlowStart(const ServiceView& service) {
  if (service.value.slow_start_window_ms == 0) return "-";
  return FormatDuration(std::uint64_t{service.value.slow_start_window_ms} * 1'000'000);
}

// How long a backend has been ready, for slow start; "-" when it has no start time.
std::string ReadyFor(const skw_backend& backend, std::uint64_t now_ns) {
  if (backend.ready_since_ns == 0) return "-";
  if (now_ns <= backend.ready_since_ns) return "0ms";
  return FormatDuration(now_ns - backend.ready_since_ns);
}

Json ReadyForJson(const skw_backend& backend, std::uint64_t now_ns) {
  if (backend.ready_since_ns == 0) return nullptr;
  return now_ns > backend.ready_since_ns ? (now_ns - backend.ready_since_ns) / 1'000'000 : 0;
}

Json ServiceKeyJson(const skw_service_key& key) {
  return Json{{"service", ServiceLabel(key)},
              {"vip", net::FormatSkwAddr(key.vip)},
              {"port", ntohs(key.port)},
              {"protocol", ProtocolName(key.proto)}};
}

Json BackendJson(std::uint32_t id, const skw_backend& backend, const skw_backend_load& load,
                 const ZoneNames& zones, std::uint64_t now_ns) {
  return Json{{"id", id},
              {"address", net::FormatSkwAddr(backend.addr)},
              {"port", ntohs(backend.port)},
              {"state", BackendStateName(backend.state)},
              {"zone_id", backend.zone_id},
              {"zone", OptionalJson(zones.Name(backend.zone_id))},
              {"weight", backend.weight},
              {"ready_for_ms", ReadyForJson(backend, now_ns)},
              {"active_conns", load.active_conns},
              {"cluster_conns", load.cluster_conns},
              {"total_conns", load.total_conns},
              {"outstanding_requests", load.outstanding_requests}};
}

std::string ZonesFootnote(const ZoneNames& zones) {
  return zones.source.empty() ? "zones are ids: the agent was not reachable for their names\n" : "";
}

}  // namespace

std::string RenderServicesText(const std::vector<ServiceView>& services) {
  if (services.empty()) return "no services in the data path's maps\n";
  Table table({{"SERVICE"},
               {"ID", Align::kRight},
               {"POLICY"},
               {"SLOW START"},
               {"PREFERRED", Align::kRight},
               {"READY", Align::kRight},
               {"TERMINATING", Align::kRight},
               {"ACTIVE", Align::kRight}});
  for (const ServiceView& service : services) {
    if (!service.has_set) {
      table.AddRow({ServiceLabel(service.key), absl::StrCat(service.value.service_id),
                    Policy(service), SlowStart(service), "-", "no set", "-", "-"});
      continue;
    }
    table.AddRow({ServiceLabel(service.key), absl::StrCat(service.value.service_id),
                  Policy(service), SlowStart(service),
                  service.prefer_local() ? absl::StrCat(service.header.n_preferred) : "-",
                  absl::StrCat(service.header.n_ready), absl::StrCat(service.header.n_serving),
                  absl::StrCat(ActiveConns(service))});
  }
  return table.Render();
}

Json ServicesJson(const std::vector<ServiceView>& services) {
  Json list = Json::array();
  for (const ServiceView& service : services) {
    Json entry = ServiceKeyJson(service.key);
    entry["service_id"] = service.value.service_id;
    entry["prefer_local"] = service.prefer_local();
    entry["slow_start_window_ms"] = service.value.slow_start_window_ms;
    entry["lb_policy"] = LbPolicyName(service.value.lb_policy);
    entry["has_set"] = service.has_set;
    entry["preferred"] = service.prefer_local() ? service.header.n_preferred : 0;
    entry["ready"] = service.header.n_ready;
    entry["terminating"] = service.header.n_serving;
    entry["active_conns"] = ActiveConns(service);
    list.push_back(std::move(entry));
  }
  return Json{{"services", std::move(list)}};
}

std::string RenderBackendsText(const std::vector<BackendView>& backends, const ZoneNames& zones,
                               std::uint64_t now_ns) {
  if (backends.empty()) return "no backends in the data path's maps\n";
  Table table({{"ID", Align::kRight},
               {"BACKEND"},
               {"STATE"},
               {"ZONE"},
               {"WEIGHT", Align::kRight},
               {"READY FOR", Align::kRight},
               {"ACTIVE", Align::kRight},
               {"CLUSTER", Align::kRight},
               {"TOTAL", Align::kRight},
               {"SERVICES"}});
  for (const BackendView& view : backends) {
    std::vector<std::string> services;
    for (const skw_service_key& key : view.services) services.push_back(ServiceLabel(key));
    table.AddRow({absl::StrCat(view.id), BackendLabel(view.backend),
                  BackendStateName(view.backend.state), zones.Label(view.backend.zone_id),
                  absl::StrCat(view.backend.weight), ReadyFor(view.backend, now_ns),
                  absl::StrCat(view.load.active_conns), absl::StrCat(view.load.cluster_conns),
                  absl::StrCat(view.load.total_conns),
                  services.empty() ? "- (unreferenced: deleted after its grace period)"
                                   : absl::StrJoin(services, " ")});
  }
  return table.Render() + ZonesFootnote(zones);
}

Json BackendsJson(const std::vector<BackendView>& backends, const ZoneNames& zones,
                  std::uint64_t now_ns) {
  Json list = Json::array();
  for (const BackendView& view : backends) {
    Json entry = BackendJson(view.id, view.backend, view.load, zones, now_ns);
    Json services = Json::array();
    for (const skw_service_key& key : view.services) services.push_back(ServiceLabel(key));
    entry["services"] = std::move(services);
    list.push_back(std::move(entry));
  }
  return Json{{"backends", std::move(list)}};
}

std::string RenderServiceBackendsText(const ServiceView& service, const ZoneNames& zones,
                                      std::uint64_t now_ns) {
  std::string out =
      absl::StrCat("service ", ServiceLabel(service.key), " (id ", service.value.service_id, "), ",
                   service.prefer_local() ? "prefers local backends" : "no zone preference");
  if (!service.has_set) {
    return absl::StrCat(out, ": no backend set (connects are refused)\n");
  }
  absl::StrAppend(&out, ": ");
  if (service.prefer_local()) absl::StrAppend(&out, service.header.n_preferred, " preferred, ");
  absl::StrAppend(&out, service.header.n_ready, " ready, ", service.header.n_serving,
                  " terminating\n");
  if (service.slots.empty()) return out;
  Table table({{"SLOT", Align::kRight},
               {"TIER"},
               {"ID", Align::kRight},
               {"BACKEND"},
               {"STATE"},
               {"ZONE"},
               {"WEIGHT", Align::kRight},
               {"READY FOR", Align::kRight},
               {"ACTIVE", Align::kRight},
               {"CLUSTER", Align::kRight},
               {"TOTAL", Align::kRight}});
  for (const SlotView& slot : service.slots) {
    if (!slot.backend) {
      table.AddRow({absl::StrCat(slot.slot), TierName(slot.tier), absl::StrCat(slot.backend_id),
                    "(not in skw_backends)"});
      continue;
    }
    table.AddRow({absl::StrCat(slot.slot), TierName(slot.tier), absl::StrCat(slot.backend_id),
                  BackendLabel(*slot.backend), BackendStateName(slot.backend->state),
                  zones.Label(slot.backend->zone_id), absl::StrCat(slot.backend->weight),
                  ReadyFor(*slot.backend, now_ns), absl::StrCat(slot.load.active_conns),
                  absl::StrCat(slot.load.cluster_conns), absl::StrCat(slot.load.total_conns)});
  }
  return out + table.Render() + ZonesFootnote(zones);
}

Json ServiceBackendsJson(const ServiceView& service, const ZoneNames& zones, std::uint64_t now_ns) {
  Json out = ServiceKeyJson(service.key);
  out["service_id"] = service.value.service_id;
  out["prefer_local"] = service.prefer_local();
  out["has_set"] = service.has_set;
  Json list = Json::array();
  for (const SlotView& slot : service.slots) {
    Json entry = {{"slot", slot.slot}, {"tier", TierName(slot.tier)}};
    if (slot.backend) {
      entry.update(BackendJson(slot.backend_id, *slot.backend, slot.load, zones, now_ns));
    } else {
      entry["id"] = slot.backend_id;
      entry["missing"] = true;
    }
    list.push_back(std::move(entry));
  }
  out["backends"] = std::move(list);
  return out;
}

std::string RenderLoadText(const std::vector<ServiceView>& services,
                           const std::array<std::uint64_t, SKW_REASON_COUNT>& reasons,
                           const ZoneNames& zones) {
  std::string out;
  if (services.empty()) {
    out = "no services in the data path's maps\n";
  } else {
    Table table({{"SERVICE"},
                 {"BACKEND"},
                 {"ZONE"},
                 {"TIER"},
                 {"ACTIVE", Align::kRight},
                 {"SHARE", Align::kRight},
                 {"CLUSTER", Align::kRight},
                 {"TOTAL", Align::kRight},
                 {"OUTSTANDING", Align::kRight}});
    for (const ServiceView& service : services) {
      const std::uint64_t active = ActiveConns(service);
      if (service.slots.empty()) {
        table.AddRow({ServiceLabel(service.key), service.has_set ? "(no backends)" : "(no set)"});
      }
      bool first = true;
      for (const SlotView& slot : service.slots) {
        table.AddRow({first ? ServiceLabel(service.key) : "",
                      slot.backend ? BackendLabel(*slot.backend)
                                   : absl::StrCat("id ", slot.backend_id, " (missing)"),
                      slot.backend ? zones.Label(slot.backend->zone_id) : "-", TierName(slot.tier),
                      absl::StrCat(slot.load.active_conns),
                      FormatShare(slot.load.active_conns, active),
                      absl::StrCat(slot.load.cluster_conns), absl::StrCat(slot.load.total_conns),
                      absl::StrCat(slot.load.outstanding_requests)});
        first = false;
      }
    }
    out = table.Render();
  }
  if (!services.empty()) {
    absl::StrAppend(&out,
                    "ACTIVE: this node's open connections; CLUSTER: every other node's, as the "
                    "agent last learnt them (0 when unknown or stale); a connect's cost counts "
                    "both\n");
  }
  absl::StrAppend(&out, "\nchoices since the maps were created (skw_reasons, every service):\n");
  Table table({{"REASON"}, {"COUNT", Align::kRight}});
  for (std::uint32_t reason = 0; reason < SKW_REASON_COUNT; ++reason) {
    table.AddRow({ReasonName(reason), absl::StrCat(reasons[reason])});
  }
  return out + table.Render() + ZonesFootnote(zones);
}

Json LoadJson(const std::vector<ServiceView>& services,
              const std::array<std::uint64_t, SKW_REASON_COUNT>& reasons, const ZoneNames& zones) {
  Json list = Json::array();
  for (const ServiceView& service : services) {
    const std::uint64_t active = ActiveConns(service);
    Json entry = ServiceKeyJson(service.key);
    entry["active_conns"] = active;
    Json backends = Json::array();
    for (const SlotView& slot : service.slots) {
      Json backend = {{"id", slot.backend_id}};
      if (slot.backend) {
        backend["address"] = net::FormatSkwAddr(slot.backend->addr);
        backend["port"] = ntohs(slot.backend->port);
        backend["zone_id"] = slot.backend->zone_id;
        backend["zone"] = OptionalJson(zones.Name(slot.backend->zone_id));
      }
      backend["tier"] = TierName(slot.tier);
      backend["active_conns"] = slot.load.active_conns;
      backend["share"] = ShareJson(slot.load.active_conns, active);
      backend["cluster_conns"] = slot.load.cluster_conns;
      backend["total_conns"] = slot.load.total_conns;
      backend["outstanding_requests"] = slot.load.outstanding_requests;
      backends.push_back(std::move(backend));
    }
    entry["backends"] = std::move(backends);
    list.push_back(std::move(entry));
  }
  Json by_reason = Json::object();
  for (std::uint32_t reason = 0; reason < SKW_REASON_COUNT; ++reason) {
    by_reason[ReasonName(reason)] = reasons[reason];
  }
  return Json{{"services", std::move(list)}, {"reasons", std::move(by_reason)}};
}

}  // namespace skewless::ctl
