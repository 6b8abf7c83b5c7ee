// Joins services, sets, backends and loads from one DatapathState; names for their enums.
#include "skewless/ctl/service_view.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "skewless/common/net.h"
#include "skewless/datapath/backend_set.h"

namespace skewless::ctl {
namespace {

std::string HostLabel(const skw_addr& addr) {
  const std::string text = net::FormatSkwAddr(addr);
  return IsV4(addr) ? text : absl::StrCat("[", text, "]");
}

// v4 before v6, then numerically by address (network order compares bytewise), port, protocol.
bool KeyLess(const skw_service_key& a, const skw_service_key& b) {
  if (IsV4(a.vip) != IsV4(b.vip)) return IsV4(a.vip);
  if (const int by_addr = std::memcmp(&a.vip, &b.vip, sizeof(a.vip)); by_addr != 0) {
    return by_addr < 0;
  }
  if (a.port != b.port) return ntohs(a.port) < ntohs(b.port);
  return a.proto < b.proto;
}

bool SameVip(const skw_addr& a, const skw_addr& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

ServiceView ViewOf(const DatapathState& state, const skw_service_key& key,
                   const skw_service& value) {
  ServiceView view{.key = key, .value = value};
  auto set = state.maps.sets.find(value.service_id);
  if (set == state.maps.sets.end() || set->second.empty()) return view;
  view.has_set = true;
  view.header = set->second.front();
  const std::uint32_t n_ready = view.header.n_ready;
  const std::uint32_t n_used = n_ready + view.header.n_serving;
  for (std::uint32_t slot = 1; slot <= n_used && slot < set->second.size(); ++slot) {
    SlotView& entry = view.slots.emplace_back();
    entry.slot = slot;
    entry.backend_id = set->second[slot].backend_id;
    entry.tier = slot > n_ready                                           ? Tier::kTerminating
                 : view.prefer_local() && slot <= view.header.n_preferred ? Tier::kPreferred
                                                                          : Tier::kReady;
    if (auto backend = state.maps.backends.find(entry.backend_id);
        backend != state.maps.backends.end()) {
      entry.backend = backend->second;
    }
    if (auto load = state.loads.find(entry.backend_id); load != state.loads.end()) {
      entry.load = load->second;
    }
  }
  return view;
}

}  // namespace

bool IsV4(const skw_addr& addr) {
  return addr.words[0] == 0 && addr.words[1] == 0 && addr.words[2] == htonl(0x0000ffff);
}

std::vector<ServiceView> BuildServiceViews(const DatapathState& state) {
  auto services = state.maps.services;
  std::sort(services.begin(), services.end(),
            [](const auto& a, const auto& b) { return KeyLess(a.first, b.first); });
  std::vector<ServiceView> views;
  views.reserve(services.size());
  for (const auto& [key, value] : services) views.push_back(ViewOf(state, key, value));
  return views;
}

std::vector<BackendView> BuildBackendViews(const DatapathState& state) {
  std::vector<BackendView> views;
  for (const auto& [id, backend] : state.maps.backends) {
    BackendView& view = views.emplace_back(BackendView{.id = id, .backend = backend});
    if (auto load = state.loads.find(id); load != state.loads.end()) view.load = load->second;
  }
  for (const ServiceView& service : BuildServiceViews(state)) {
    for (const SlotView& slot : service.slots) {
      auto view = std::lower_bound(
          views.begin(), views.end(), slot.backend_id,
          [](const BackendView& candidate, std::uint32_t id) { return candidate.id < id; });
      if (view != views.end() && view->id == slot.backend_id) {
        view->services.push_back(service.key);
      }
    }
  }
  return views;
}

absl::StatusOr<ServiceView> FindService(const DatapathState& state, const skw_service_key& key) {
  std::vector<skw_service_key> same_vip_keys;
  for (const auto& [candidate, value] : state.maps.services) {
    if (std::memcmp(&candidate, &key, sizeof(key)) == 0) return ViewOf(state, candidate, value);
    if (SameVip(candidate.vip, key.vip)) same_vip_keys.push_back(candidate);
  }
  std::sort(same_vip_keys.begin(), same_vip_keys.end(), KeyLess);
  std::vector<std::string> same_vip;
  for (const skw_service_key& other : same_vip_keys) same_vip.push_back(ServiceLabel(other));
  return absl::NotFoundError(absl::StrCat(
      "no service ", ServiceLabel(key), " in the data path's maps",
      same_vip.empty() ? absl::StrCat(" (no service has VIP ", HostLabel(key.vip), ")")
                       : absl::StrCat(" (that VIP has ", absl::StrJoin(same_vip, ", "), ")")));
}

absl::StatusOr<skw_service_key> ParseServiceKey(const std::string& vip_port,
                                                const std::string& protocol) {
  auto invalid = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", vip_port, "\": ", why, " (want VIP:port, e.g. 10.96.0.10:80 or [fd00::10]:80)"));
  };
  absl::StatusOr<net::IpPort> address = net::ParseIpPort(vip_port);
  if (!address.ok()) return invalid(std::string(address.status().message()));
  if (address->port == 0) return invalid("port 0 is not a Service port (1-65535)");
  const skw_addr vip = net::ToSkwAddr(address->ip);
  const std::uint16_t port = address->port;
  skw_service_key key{};
  key.vip = vip;
  key.port = htons(port);
  const std::string proto = absl::AsciiStrToLower(protocol);
  if (proto == "tcp") {
    key.proto = IPPROTO_TCP;
  } else if (proto == "udp") {
    key.proto = IPPROTO_UDP;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--proto ", protocol, ": the data path steers tcp and udp only"));
  }
  return key;
}

std::string ServiceLabel(const skw_service_key& key) {
  return absl::StrCat(HostLabel(key.vip), ":", ntohs(key.port), "/", ProtocolName(key.proto));
}

std::string BackendLabel(const skw_backend& backend) {
  return absl::StrCat(HostLabel(backend.addr), ":", ntohs(backend.port));
}

std::string ProtocolName(std::uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    default:
      return absl::StrCat("proto-", proto);
  }
}

std::string BackendStateName(std::uint8_t state) {
  switch (state) {
    case SKW_BACKEND_READY:
      return "ready";
    case SKW_BACKEND_SERVING:
      return "serving";
    case SKW_BACKEND_EJECTED:
      return "ejected";
    case SKW_BACKEND_UNUSED:
      return "unused";
    default:
      return absl::StrCat("state-", state);
  }
}

std::string TierName(Tier tier) {
  switch (tier) {
    case Tier::kPreferred:
      return "preferred";
    case Tier::kReady:
      return "ready";
    case Tier::kTerminating:
      return "terminating";
  }
  return "?";
}

std::string ReasonName(std::uint32_t reason) {
  switch (reason) {
    case SKW_REASON_NONE:
      return "refused";
    case SKW_REASON_SINGLE:
      return "single";
    case SKW_REASON_P2C_PREFERRED:
      return "p2c-preferred";
    case SKW_REASON_P2C_READY:
      return "p2c-ready";
    case SKW_REASON_SPILL_OVERLOAD:
      return "spill-overload";
    case SKW_REASON_SPILL_NO_PREFERRED:
      return "spill-no-preferred";
    case SKW_REASON_TERMINATING:
      return "terminating";
    case SKW_REASON_NOT_A_SERVICE:
      return "not-a-service";
    case SKW_REASON_SPLICED:
      return "spliced";
    case SKW_REASON_RANDOM:
      return "random";
    case SKW_REASON_LEAST_LOADED:
      return "least-loaded";
    default:
      return absl::StrCat("reason-", reason);
  }
}

}  // namespace skewless::ctl
